/* model.c: BERT configs, tensor slots and tokenizer settings read from Hugging Face files, all checked */
#include "postgres.h"

#include "utils/jsonb.h"

#include "jsonutil.h"
#include "model.h"
#include "pg_tfm.h"
#include "kernels/bgemm.h"
#include "kernels/qgemm.h"
#include "ops.h"
#include "utils/memutils.h"

#define SLOTS_PER_LAYER 16
#define EMB_SLOTS 5
#define SLOT_ALIGN 16			/* floats: every slot starts on a 64-byte boundary */

/* read config.json of a BERT-family model */
/* config.json's limits, also checked on a cache file's header (TfmBertConfigCheck) */
#define MAX_VOCAB 1000000
#define MAX_HIDDEN 8192
#define MAX_LAYERS 96
#define MAX_HEADS 256
#define MAX_INTERMEDIATE 65536
#define MAX_POSITIONS 65536
#define MAX_TYPES 16

/* one encoder family: its tensor names in slot order (NULL: the family has no such tensor) */
typedef struct EncoderArch
{
	const char *model_type;
	int			family;			/* TFM_FAMILY_*: entries past the families are other model_types of one */
	const char *title;			/* for messages */
	const char *prefix;			/* task checkpoints' prefix ("bert."): names are found with or without it */
	const char *layer;			/* prefix of layer l's names, a format with one %d */
	const char *const *emb;		/* EMB_SLOTS names */
	const char *const *lay;		/* SLOTS_PER_LAYER names */
} EncoderArch;

/* BERT's names (RoBERTa's too, under another prefix), in TfmBertLayer's slot order */
static const char *const bert_emb[EMB_SLOTS] = {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
	"embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"};
static const char *const bert_lay[SLOTS_PER_LAYER] = {"attention.self.query.weight", "attention.self.query.bias",
	"attention.self.key.weight", "attention.self.key.bias",
	"attention.self.value.weight", "attention.self.value.bias",
	"attention.output.dense.weight", "attention.output.dense.bias",
	"attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
	"intermediate.dense.weight", "intermediate.dense.bias",
	"output.dense.weight", "output.dense.bias",
	"output.LayerNorm.weight", "output.LayerNorm.bias"};
/* DistilBERT's (no token types) */
static const char *const distilbert_emb[EMB_SLOTS] = {"embeddings.word_embeddings.weight",
	"embeddings.position_embeddings.weight", NULL, "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"};
static const char *const distilbert_lay[SLOTS_PER_LAYER] = {"attention.q_lin.weight", "attention.q_lin.bias",
	"attention.k_lin.weight", "attention.k_lin.bias",
	"attention.v_lin.weight", "attention.v_lin.bias",
	"attention.out_lin.weight", "attention.out_lin.bias",
	"sa_layer_norm.weight", "sa_layer_norm.bias",
	"ffn.lin1.weight", "ffn.lin1.bias",
	"ffn.lin2.weight", "ffn.lin2.bias",
	"output_layer_norm.weight", "output_layer_norm.bias"};

/* indexed by TFM_FAMILY_*, then model_types computed as one of them */
static const EncoderArch arches[] = {
	{"bert", TFM_FAMILY_BERT, "BERT", "bert.", "encoder.layer.%d.", bert_emb, bert_lay},
	{"distilbert", TFM_FAMILY_DISTILBERT, "DistilBERT", "distilbert.", "transformer.layer.%d.", distilbert_emb, distilbert_lay},
	{"roberta", TFM_FAMILY_ROBERTA, "RoBERTa", "roberta.", "encoder.layer.%d.", bert_emb, bert_lay},
	/* XLM-RoBERTa: RoBERTa's encoder, names ("roberta." prefix included) and positions */
	{"xlm-roberta", TFM_FAMILY_ROBERTA, "XLM-RoBERTa", "roberta.", "encoder.layer.%d.", bert_emb, bert_lay},
};

#define NFAMILIES 3				/* arches[0 .. NFAMILIES - 1] are the families */

/* the description of a config's family (BERT's for an out-of-range value: TfmBertConfigCheck refuses those) */
static const EncoderArch *
arch_of(const TfmBertConfig *cfg)
{
	return &arches[cfg->family >= 0 && cfg->family < NFAMILIES ? cfg->family : 0];
}

/* TFM_FAMILY_* of a model_type pg_tfm computes, -1 for others */
int
TfmBertFamily(const char *model_type)
{
	/* XLM-RoBERTa: RoBERTa's encoder and names ("roberta."), with a Unigram tokenizer */
	if (strcmp(model_type, "xlm-roberta") == 0)
		return TFM_FAMILY_ROBERTA;
	for (int f = 0; f < (int) lengthof(arches); f++)
		if (strcmp(model_type, arches[f].model_type) == 0)
			return arches[f].family;
	return -1;
}

/* the longest input (special tokens included) the position table allows */
int
TfmBertMaxTokens(const TfmBertConfig *cfg)
{
	return cfg->family == TFM_FAMILY_ROBERTA ? cfg->max_pos - cfg->pad_id - 1 : cfg->max_pos;
}

/* 0 when a config is within config.json's limits (hidden a multiple of heads), -1 otherwise */
int
TfmBertConfigCheck(const TfmBertConfig *cfg)
{
	return (cfg->family >= 0 && cfg->family < NFAMILIES &&
			cfg->vocab >= 1 && cfg->vocab <= MAX_VOCAB && cfg->hidden >= 1 && cfg->hidden <= MAX_HIDDEN &&
			cfg->layers >= 1 && cfg->layers <= MAX_LAYERS && cfg->heads >= 1 && cfg->heads <= MAX_HEADS &&
			cfg->hidden % cfg->heads == 0 && cfg->intermediate >= 1 && cfg->intermediate <= MAX_INTERMEDIATE &&
			cfg->max_pos >= 1 && cfg->max_pos <= MAX_POSITIONS &&
			(cfg->family == TFM_FAMILY_DISTILBERT ? cfg->type_vocab == 0 : cfg->type_vocab >= 1) &&
			cfg->type_vocab <= MAX_TYPES && cfg->ln_eps > 0 && cfg->ln_eps < 1 &&
			cfg->pad_id >= 0 && cfg->pad_id < cfg->vocab && TfmBertMaxTokens(cfg) >= 2) ? 0 : -1;
}

/* DistilBERT's config.json keys (dim, n_layers, n_heads, hidden_dim, activation) */
static void
distilbert_config(TfmBertConfig *cfg, JsonbContainer *c, const char *what)
{
	char	   *act = TfmJsonGetString(c, "activation", "gelu", what);

	if (strcmp(act, "gelu") != 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: activation \"%s\" is not supported", what, act),
						errhint("pg_tfm's DistilBERT computes activation \"gelu\" (the exact erf form) only.")));
	/* sinusoidal_pos_embds: checkpoints store the sinusoid table, which Hugging Face loads and uses as is */
	(void) TfmJsonGetBool(c, "sinusoidal_pos_embds", 0, what);
	cfg->vocab = TfmJsonGetInt(c, "vocab_size", -1, 1, MAX_VOCAB, what);
	cfg->hidden = TfmJsonGetInt(c, "dim", -1, 1, MAX_HIDDEN, what);
	cfg->layers = TfmJsonGetInt(c, "n_layers", -1, 1, MAX_LAYERS, what);
	cfg->heads = TfmJsonGetInt(c, "n_heads", -1, 1, MAX_HEADS, what);
	cfg->intermediate = TfmJsonGetInt(c, "hidden_dim", -1, 1, MAX_INTERMEDIATE, what);
	cfg->max_pos = TfmJsonGetInt(c, "max_position_embeddings", -1, 2, MAX_POSITIONS, what);
	cfg->type_vocab = 0;
	cfg->ln_eps = 1e-12f;		/* DistilBERT's LayerNorms have this eps built in */
	cfg->pad_id = 0;
	if (cfg->hidden % cfg->heads != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: dim %d is not a multiple of n_heads %d", what, cfg->hidden, cfg->heads)));
}

/* read config.json of an encoder (model_type bert, distilbert, roberta or xlm-roberta), all fields checked */
void
TfmBertConfigFromJson(TfmBertConfig *cfg, Jsonb *config, const char *what)
{
	JsonbContainer *c = &config->root;
	char	   *type, *act, *pos;

	memset(cfg, 0, sizeof(*cfg));	/* the cache file's header compares whole configs */
	if (!JB_ROOT_IS_OBJECT(config))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s is not a JSON object", what)));
	type = TfmJsonGetString(c, "model_type", NULL, what);
	cfg->family = type ? TfmBertFamily(type) : -1;
	if (cfg->family < 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: model_type \"%s\" is not supported", what, type ? type : "(missing)"),
						errhint("pg_tfm imports encoders of model_type \"bert\", \"distilbert\", \"roberta\" and \"xlm-roberta\".")));
	if (cfg->family == TFM_FAMILY_DISTILBERT)
	{
		distilbert_config(cfg, c, what);
		return;
	}
	act = TfmJsonGetString(c, "hidden_act", "gelu", what);
	pos = TfmJsonGetString(c, "position_embedding_type", "absolute", what);
	if (strcmp(act, "gelu") != 0 || strcmp(pos, "absolute") != 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: hidden_act \"%s\" with position_embedding_type \"%s\" is not supported",
							   what, act, pos),
						errhint("Supported: hidden_act \"gelu\", position_embedding_type \"absolute\".")));
	cfg->vocab = TfmJsonGetInt(c, "vocab_size", -1, 1, MAX_VOCAB, what);
	cfg->hidden = TfmJsonGetInt(c, "hidden_size", -1, 1, MAX_HIDDEN, what);
	cfg->layers = TfmJsonGetInt(c, "num_hidden_layers", -1, 1, MAX_LAYERS, what);
	cfg->heads = TfmJsonGetInt(c, "num_attention_heads", -1, 1, MAX_HEADS, what);
	cfg->intermediate = TfmJsonGetInt(c, "intermediate_size", -1, 1, MAX_INTERMEDIATE, what);
	/* at least 2: every input holds [CLS] and [SEP] */
	cfg->max_pos = TfmJsonGetInt(c, "max_position_embeddings", -1, 2, MAX_POSITIONS, what);
	cfg->type_vocab = TfmJsonGetInt(c, "type_vocab_size", cfg->family == TFM_FAMILY_ROBERTA ? 1 : 2, 1, MAX_TYPES, what);
	cfg->ln_eps = (float) TfmJsonGetFloat(c, "layer_norm_eps", cfg->family == TFM_FAMILY_ROBERTA ? 1e-5 : 1e-12, what);
	if (cfg->family == TFM_FAMILY_ROBERTA)
	{
		/* positions pad_id + 1 .. pad_id + n: room for <s> and </s> at least */
		cfg->pad_id = TfmJsonGetInt(c, "pad_token_id", 1, 0, cfg->vocab - 1, what);
		if (TfmBertMaxTokens(cfg) < 2)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: max_position_embeddings %d leaves no room for positions after pad_token_id %d",
								   what, cfg->max_pos, cfg->pad_id)));
	}
	if (cfg->hidden % cfg->heads != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: hidden_size %d is not a multiple of num_attention_heads %d",
							   what, cfg->hidden, cfg->heads)));
	if (!(cfg->ln_eps > 0 && cfg->ln_eps < 1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: layer_norm_eps must be between 0 and 1", what)));
}

/* prefixes and default_prefix: prefix.c; precision: bert.c's reduced-precision copies */
static const char *const import_options[] = {"max_tokens", "pooling", "normalize", "prefixes", "default_prefix", "precision", NULL};

/* read inference options: max_tokens, pooling, normalize (from_user: refuse unknown keys) */
void
TfmOptionsFromJson(TfmModelOptions *opt, Jsonb *options, const TfmBertConfig *cfg, bool from_user)
{
	JsonbContainer *c = &options->root;
	char	   *pool,
			   *prec;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options must be a JSON object")));
	if (from_user)
		TfmJsonCheckKeys(options, import_options, "import option");
	opt->max_tokens = TfmJsonGetInt(c, "max_tokens", TfmBertMaxTokens(cfg), 2, TfmBertMaxTokens(cfg), "options");
	opt->normalize = TfmJsonGetBool(c, "normalize", 1, "options");
	prec = TfmJsonGetString(c, "precision", "fp32", "options");
	if (strcmp(prec, "fp32") == 0)
		opt->precision = TFM_PRECISION_FP32;
	else if (strcmp(prec, "int8") == 0)
		opt->precision = TFM_PRECISION_INT8;
	else if (strcmp(prec, "bf16") == 0)
		opt->precision = TFM_PRECISION_BF16;
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown precision \"%s\"", prec),
						errhint("Use \"fp32\", \"bf16\" or \"int8\".")));
	if (opt->precision == TFM_PRECISION_INT8 && (cfg->hidden > TFM_Q8_MAX_C || cfg->intermediate > TFM_Q8_MAX_C))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("precision \"int8\" takes layers of at most %d channels", TFM_Q8_MAX_C)));
	if (opt->precision == TFM_PRECISION_BF16 && (cfg->hidden > TFM_B16_MAX_C || cfg->intermediate > TFM_B16_MAX_C))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("precision \"bf16\" takes layers of at most %d channels", TFM_B16_MAX_C)));
	pool = TfmJsonGetString(c, "pooling", "mean", "options");
	for (opt->pooling = TFM_POOL_MEAN; opt->pooling <= TFM_POOL_LAST; opt->pooling++)
		if (strcmp(pool, TfmPoolingName(opt->pooling)) == 0)
			return;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("unknown pooling \"%s\"", pool),
					errhint("Use \"mean\", \"cls\", \"max\", \"mean_sqrt_len_tokens\" or \"lasttoken\".")));
}

/* the option value naming a pooling mode (sentence-transformers' names) */
const char *
TfmPoolingName(int pooling)
{
	static const char *const names[] = {"mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken"};

	return pooling >= TFM_POOL_MEAN && pooling <= TFM_POOL_LAST ? names[pooling] : "mean";
}

/* write the resolved options back as JSON for the catalog */
Jsonb *
TfmOptionsToJson(const TfmModelOptions *opt)
{
	/* precision only when not fp32: the options of fp32 models read as before */
	char	   *s = psprintf("{\"max_tokens\": %d, \"pooling\": \"%s\", \"normalize\": %s%s}",
							 opt->max_tokens, TfmPoolingName(opt->pooling),
							 opt->normalize ? "true" : "false",
							 opt->precision == TFM_PRECISION_INT8 ? ", \"precision\": \"int8\"" :
							 opt->precision == TFM_PRECISION_BF16 ? ", \"precision\": \"bf16\"" : "");

	return TfmJsonParse(s, strlen(s), "options");
}

/* number of fp32 tensors a BERT model is made of */
int
TfmBertSlotCount(const TfmBertConfig *cfg)
{
	return EMB_SLOTS + SLOTS_PER_LAYER * cfg->layers;
}

/* name (without the task prefix) and shape of a slot; rows 0 for 1-d tensors, cols 0 for a tensor the family lacks */
void
TfmBertSlotDesc(const TfmBertConfig *cfg, int slot, char *name, int64 *rows, int64 *cols)
{
	const EncoderArch *a = arch_of(cfg);
	int64		C = cfg->hidden, I = cfg->intermediate;

	if (slot < EMB_SLOTS)
	{
		int64		r[EMB_SLOTS] = {cfg->vocab, cfg->max_pos, cfg->type_vocab, 0, 0};

		strcpy(name, a->emb[slot] ? a->emb[slot] : "");
		*rows = a->emb[slot] ? r[slot] : 0;
		*cols = a->emb[slot] ? C : 0;
		return;
	}
	slot -= EMB_SLOTS;
	snprintf(name, 128, a->layer, slot / SLOTS_PER_LAYER);
	strlcat(name, a->lay[slot % SLOTS_PER_LAYER], 128);
	switch (slot % SLOTS_PER_LAYER)
	{
		case 10:
			*rows = I, *cols = C;
			break;
		case 11:
			*rows = 0, *cols = I;
			break;
		case 12:
			*rows = C, *cols = I;
			break;
		default:
			*rows = (slot % 2 == 0 && slot % SLOTS_PER_LAYER < 8) ? C : 0;
			*cols = C;
	}
}

/* floats a slot occupies in the cache file, padded to the slot alignment */
uint64
TfmBertSlotFloats(const TfmBertConfig *cfg, int slot)
{
	char		name[128];
	int64		rows, cols;
	uint64		n;

	TfmBertSlotDesc(cfg, slot, name, &rows, &cols);
	n = (uint64) (rows ? rows : 1) * (uint64) cols;
	return (n + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
}

/* floats of all slots, as in memory or as in a cache file */
static uint64
sum_slots(const TfmBertConfig *cfg, bool cache)
{
	uint64		n = 0;

	for (int s = 0; s < TfmBertSlotCount(cfg); s++)
		n += cache ? TfmBertCacheSlotFloats(cfg, s) : TfmBertSlotFloats(cfg, s);
	return n;
}

/* floats of all slots together */
uint64
TfmBertWeightsFloats(const TfmBertConfig *cfg)
{
	return sum_slots(cfg, false);
}

/* number of parameters (unpadded) */
uint64
TfmBertParams(const TfmBertConfig *cfg)
{
	uint64		n = 0;
	char		name[128];
	int64		rows, cols;

	for (int s = 0; s < TfmBertSlotCount(cfg); s++)
	{
		TfmBertSlotDesc(cfg, s, name, &rows, &cols);
		n += (uint64) (rows ? rows : 1) * (uint64) cols;
	}
	return n;
}

/* find each slot's tensor (with or without the family's task prefix) and check its dtype and shape; NULL for absent slots */
TfmTensorInfo **
TfmBertResolve(TfmSafetensors *st, const TfmBertConfig *cfg)
{
	int			n = TfmBertSlotCount(cfg);
	TfmTensorInfo **out = palloc0(sizeof(TfmTensorInfo *) * n);

	for (int s = 0; s < n; s++)
	{
		char		name[128];
		int64		rows, cols;
		TfmTensorInfo *t;

		TfmBertSlotDesc(cfg, s, name, &rows, &cols);
		if (cols == 0)
			continue;
		t = TfmSafetensorsFind(st, name);
		if (t == NULL)
			t = TfmSafetensorsFind(st, psprintf("%s%s", arch_of(cfg)->prefix, name));
		if (t == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: tensor \"%s\" is missing", st->what, name),
							errhint("The weights must be a %s model as Hugging Face names its tensors.",
									arch_of(cfg)->title)));
		if (t->dtype != TFM_DT_F32 && t->dtype != TFM_DT_F16 && t->dtype != TFM_DT_BF16)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: tensor \"%s\" has dtype %s", st->what, t->name, t->dtype_name),
							errhint("Weights must be F32, F16 or BF16.")));
		if (rows ? (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
			: (t->ndim != 1 || t->shape[0] != cols))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: tensor \"%s\" has a shape that disagrees with config.json", st->what, t->name),
							errdetail("Expected [" INT64_FORMAT "%s%s].", rows ? rows : cols,
									  rows ? ", " : "", rows ? psprintf(INT64_FORMAT, cols) : "")));
		out[s] = t;
	}
	return out;
}

/* in (C) and out (rows) of a linear weight slot, which cache files store packed; false for other slots */
bool
TfmBertSlotPacked(const TfmBertConfig *cfg, int slot, int *in, int *out)
{
	char		name[128];
	int64		rows, cols;

	if (slot < EMB_SLOTS)
		return false;
	switch ((slot - EMB_SLOTS) % SLOTS_PER_LAYER)
	{
		case 0: case 2: case 4: case 6: case 10: case 12:
			TfmBertSlotDesc(cfg, slot, name, &rows, &cols);
			*in = (int) cols;
			*out = (int) rows;
			return true;
		default:
			return false;
	}
}

/* floats a slot occupies in a cache file: linear weights in panels (matmul_pack), the rest as in memory */
uint64
TfmBertCacheSlotFloats(const TfmBertConfig *cfg, int slot)
{
	int			in, out;

	return TfmBertSlotPacked(cfg, slot, &in, &out) ? matmul_packed_floats(in, out) :
		TfmBertSlotFloats(cfg, slot);
}

/* floats of a cache file's weights section */
uint64
TfmBertCacheFloats(const TfmBertConfig *cfg)
{
	return sum_slots(cfg, true);
}

/* point w at slots laid out from base, in a cache file's layout (linear weights packed) or not */
static void
bind_slots(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const float *base,
		   bool cache)
{
	const float *p = base;
	const float **emb[EMB_SLOTS] = {&w->word_emb, &w->pos_emb, &w->type_emb, &w->emb_ln_w, &w->emb_ln_b};
	int			s = 0;

	for (int i = 0; i < EMB_SLOTS; i++, s++)
	{
		*emb[i] = TfmBertSlotFloats(cfg, s) ? p : NULL;	/* NULL: a tensor the family lacks */
		p += TfmBertSlotFloats(cfg, s);
	}
	for (int l = 0; l < cfg->layers; l++)
	{
		/* TfmBertLayer is 16 pointers in slot order, then one per packed slot in the same order */
		const float **f = (const float **) &layers[l];
		const float **pk = &layers[l].q_p;

		layers[l].q_8 = layers[l].k_8 = layers[l].v_8 = NULL;
		layers[l].ao_8 = layers[l].i_8 = layers[l].o_8 = NULL;
		layers[l].q_h = layers[l].k_h = layers[l].v_h = NULL;
		layers[l].ao_h = layers[l].i_h = layers[l].o_h = NULL;

		for (int i = 0; i < SLOTS_PER_LAYER; i++, s++)
		{
			int			in, out;
			bool		linear = TfmBertSlotPacked(cfg, s, &in, &out);

			f[i] = linear && cache ? NULL : p;
			if (linear)
				*pk++ = cache ? p : NULL;
			p += cache ? TfmBertCacheSlotFloats(cfg, s) : TfmBertSlotFloats(cfg, s);
		}
	}
	w->layer = layers;
}

/* point the weight struct at the slots laid out from base (training's (out,in) layout, nothing packed) */
void
TfmBertBind(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const float *base)
{
	bind_slots(w, layers, cfg, base, false);
}

/* point the weight struct at a cache file's weights: linear weights packed only (their (out,in) pointers NULL) */
void
TfmBertBindCache(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const float *base)
{
	bind_slots(w, layers, cfg, base, true);
}

/* plain (TfmBertWeightsFloats, training's layout) = a cache file's weights with the linear ones unpacked */
void
TfmBertUnpackCache(float *plain, const TfmBertConfig *cfg, const float *cache)
{
	for (int s = 0; s < TfmBertSlotCount(cfg); s++)
	{
		int			in, out;

		if (TfmBertSlotPacked(cfg, s, &in, &out))
		{
			/* the slot's padding too: optimisers run over whole slots */
			matmul_unpack(plain, cache, in, out);
			memset(plain + (size_t) in * out, 0,
				   sizeof(float) * (TfmBertSlotFloats(cfg, s) - (size_t) in * out));
		}
		else
			memcpy(plain, cache, sizeof(float) * TfmBertSlotFloats(cfg, s));
		plain += TfmBertSlotFloats(cfg, s);
		cache += TfmBertCacheSlotFloats(cfg, s);
	}
}

/*
 * int8 (kernels/qgemm.h) or bf16 (kernels/bgemm.h) copies of the packed linear weights of a bound
 * cache file, in cxt (backend memory: 1/4 or 1/2 of the fp32 weights), so the cache file keeps one
 * fp32 layout that every CPU and precision reads.  mask picks the weights by bit, in layer order
 * q k v ao i o (TFM_LOWP_ALL: all).
 */
void
TfmBertLowPrecision(TfmBertLayer *layers, const TfmBertConfig *cfg, int precision, MemoryContext cxt,
					int mask)
{
	int			C = cfg->hidden, I = cfg->intermediate;
	bool		int8 = precision == TFM_PRECISION_INT8;

	if (precision == TFM_PRECISION_FP32)
		return;
	/* four q k v ao weights (C,C), i (I,C) and o (C,I) per layer */
	TfmCheckMemory((double) cfg->layers *
				   (int8 ? 4.0 * tfm_q8_bytes(C, C) + tfm_q8_bytes(C, I) + tfm_q8_bytes(I, C) :
					4.0 * tfm_b16_bytes(C, C) + tfm_b16_bytes(C, I) + tfm_b16_bytes(I, C)),
				   int8 ? "the int8 copy of the model's linear weights" : "the bf16 copy of the model's linear weights");
	for (int l = 0; l < cfg->layers; l++)
	{
		TfmBertLayer *L = &layers[l];
		const float *src[6] = {L->q_p, L->k_p, L->v_p, L->ao_p, L->i_p, L->o_p};
		const TfmQ8Weight **q8[6] = {&L->q_8, &L->k_8, &L->v_8, &L->ao_8, &L->i_8, &L->o_8};
		const TfmB16Weight **b16[6] = {&L->q_h, &L->k_h, &L->v_h, &L->ao_h, &L->i_h, &L->o_h};
		int			in[6] = {C, C, C, C, C, I}, out[6] = {C, C, C, C, I, C};

		for (int k = 0; k < 6; k++)
		{
			char	   *mem;

			if (!(mask & (1 << k)) || src[k] == NULL)
				continue;
			mem = MemoryContextAllocHuge(cxt, (int8 ? tfm_q8_bytes(in[k], out[k]) :
											   tfm_b16_bytes(in[k], out[k])) + 63);
			mem = (char *) TYPEALIGN(64, mem);
			if (int8)
				*q8[k] = tfm_q8_from_panels(mem, src[k], in[k], out[k]);
			else
				*b16[k] = tfm_b16_from_panels(mem, src[k], in[k], out[k]);
		}
	}
}
