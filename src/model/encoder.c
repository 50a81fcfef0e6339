/*
 * encoder.c: the encoder family (BERT, DistilBERT, RoBERTa, XLM-R): configs, tensor slots and tokenizer
 * settings read from Hugging Face files, all checked; the fp32 and reduced cache layouts; the encoder part
 * of a model handle
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "kernels/bgemm.h"
#include "kernels/ops.h"
#include "kernels/qgemm.h"
#include "model/encoder.h"
#include "pg_tfm.h"
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

/* prefixes and default_prefix: prefix.c; precision: the cache file's layout (TfmBertFileSlotBytes) */
static const char *const import_options[] = {"max_tokens", "pooling", "normalize", "prefixes", "default_prefix", "precision", NULL};

/* read inference options: max_tokens, pooling, normalize (from_user: refuse unknown keys) */
void
TfmOptionsFromJson(TfmModelOptions *opt, Jsonb *options, const TfmBertConfig *cfg, bool from_user)
{
	JsonbContainer *c = &options->root;
	char	   *pool;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options must be a JSON object")));
	if (from_user)
		TfmJsonCheckKeys(options, import_options, "import option");
	opt->max_tokens = TfmJsonGetInt(c, "max_tokens", TfmBertMaxTokens(cfg), 2, TfmBertMaxTokens(cfg), "options");
	opt->normalize = TfmJsonGetBool(c, "normalize", 1, "options");
	opt->precision = TfmPrecisionFromName(TfmJsonGetString(c, "precision", "fp32", "options"), cfg);
	pool = TfmJsonGetString(c, "pooling", "mean", "options");
	for (opt->pooling = TFM_POOL_MEAN; opt->pooling <= TFM_POOL_LAST; opt->pooling++)
		if (strcmp(pool, TfmPoolingName(opt->pooling)) == 0)
			return;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("unknown pooling \"%s\"", pool),
					errhint("Use \"mean\", \"cls\", \"max\", \"mean_sqrt_len_tokens\" or \"lasttoken\".")));
}

/* TFM_PRECISION_* of an option value ("fp32", "bf16", "int8"), checked against the layers' widths */
int
TfmPrecisionFromName(const char *prec, const TfmBertConfig *cfg)
{
	int			p;

	for (p = TFM_PRECISION_FP32; p <= TFM_PRECISION_BF16; p++)
		if (strcmp(prec, TfmPrecisionName(p)) == 0)
			break;
	if (p > TFM_PRECISION_BF16)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown precision \"%s\"", prec),
						errhint("Use \"fp32\", \"bf16\" or \"int8\".")));
	if (!TfmPrecisionFits(p, cfg))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("precision \"%s\" takes layers of at most %d channels", prec,
							   p == TFM_PRECISION_INT8 ? TFM_Q8_MAX_C : TFM_B16_MAX_C)));
	return p;
}

/* whether the kernels of a precision (one of TFM_PRECISION_*) take a config's layer widths */
bool
TfmPrecisionFits(int precision, const TfmBertConfig *cfg)
{
	int			widest = Max(cfg->hidden, cfg->intermediate);

	return precision == TFM_PRECISION_FP32 ||
		(precision == TFM_PRECISION_INT8 && widest <= TFM_Q8_MAX_C) ||
		(precision == TFM_PRECISION_BF16 && widest <= TFM_B16_MAX_C);
}

/* the option value naming a precision */
const char *
TfmPrecisionName(int precision)
{
	static const char *const names[] = {"fp32", "int8", "bf16"};

	return precision >= TFM_PRECISION_FP32 && precision <= TFM_PRECISION_BF16 ? names[precision] : "fp32";
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
							 opt->precision == TFM_PRECISION_FP32 ? "" :
							 psprintf(", \"precision\": \"%s\"", TfmPrecisionName(opt->precision)));

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

/* floats of all slots together */
uint64
TfmBertWeightsFloats(const TfmBertConfig *cfg)
{
	uint64		n = 0;

	for (int s = 0; s < TfmBertSlotCount(cfg); s++)
		n += TfmBertSlotFloats(cfg, s);
	return n;
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

/* bytes of the reduced word embeddings (vocab,C) in a cache file: bf16 rows, or per-row scales and int8 rows */
static uint64
word_bytes(const TfmBertConfig *cfg, int precision)
{
	uint64		n = (uint64) cfg->vocab * cfg->hidden;

	return precision == TFM_PRECISION_INT8 ? TYPEALIGN(64, (uint64) cfg->vocab * 4) + TYPEALIGN(64, n) :
		TYPEALIGN(64, n * 2);
}

/*
 * bytes a slot occupies in a cache file of a precision: fp32 as TfmBertCacheSlotFloats; bf16 and int8
 * store the linear weights as the kernels read them (tfm_b16_bytes, tfm_q8_bytes: every variant reads
 * the one layout) and the word embeddings reduced, the rest fp32; every slot 64-byte aligned
 */
uint64
TfmBertFileSlotBytes(const TfmBertConfig *cfg, int slot, int precision)
{
	int			in, out;

	if (precision == TFM_PRECISION_FP32)
		return TfmBertCacheSlotFloats(cfg, slot) * sizeof(float);
	if (slot == 0)
		return word_bytes(cfg, precision);
	if (TfmBertSlotPacked(cfg, slot, &in, &out))
		return TYPEALIGN(64, precision == TFM_PRECISION_INT8 ? tfm_q8_bytes(in, out) : tfm_b16_bytes(in, out));
	return TfmBertSlotFloats(cfg, slot) * sizeof(float);
}

/* bytes of a cache file's weights section at a precision */
uint64
TfmBertFileBytes(const TfmBertConfig *cfg, int precision)
{
	uint64		n = 0;

	for (int s = 0; s < TfmBertSlotCount(cfg); s++)
		n += TfmBertFileSlotBytes(cfg, s, precision);
	return n;
}

/*
 * a slot's cache-file form at dst (TfmBertFileSlotBytes) from its fp32 (rows,cols) values src;
 * panels is scratch of matmul_packed_floats for a linear weight
 */
void
TfmBertFileSlotFill(char *dst, const TfmBertConfig *cfg, int slot, int precision, const float *src, float *panels)
{
	int			in, out;
	bool		linear = TfmBertSlotPacked(cfg, slot, &in, &out);
	size_t		V = cfg->vocab, C = cfg->hidden;

	if (linear && precision == TFM_PRECISION_FP32)
		matmul_pack((float *) dst, src, in, out);
	else if (linear)
	{
		matmul_pack(panels, src, in, out);
		if (precision == TFM_PRECISION_INT8)
			tfm_q8_from_panels(dst, panels, in, out);
		else
			tfm_b16_from_panels(dst, panels, in, out);
		/* the struct's pointers mean nothing in a file: zeros keep files of one model identical */
		memset(dst, 0, precision == TFM_PRECISION_INT8 ? sizeof(TfmQ8Weight) : sizeof(TfmB16Weight));
	}
	else if (slot == 0 && precision == TFM_PRECISION_BF16)
		for (size_t i = 0; i < V * C; i++)
			((uint16 *) dst)[i] = tfm_f32_to_bf16(src[i]);
	else if (slot == 0 && precision == TFM_PRECISION_INT8)
	{
		float	   *scale = (float *) dst;
		int8	   *q = (int8 *) (dst + TYPEALIGN(64, V * 4));

		for (size_t v = 0; v < V; v++)
		{
			float		amax = 0.0f;

			for (size_t i = 0; i < C; i++)
				amax = Max(amax, fabsf(src[v * C + i]));
			scale[v] = amax / 127.0f;
			for (size_t i = 0; i < C; i++)
				q[v * C + i] = amax > 0.0f ? (int8) lrintf(src[v * C + i] / scale[v]) : 0;
		}
	}
	else
	{
		char		name[128];
		int64		rows, cols;

		TfmBertSlotDesc(cfg, slot, name, &rows, &cols);
		memcpy(dst, src, sizeof(float) * (rows ? rows : 1) * cols);
	}
}

/* point a layer's k-th linear weight (q k v ao i o) at its int8 or bf16 form at p (a struct in cxt) */
static void
bind_reduced(TfmBertLayer *L, int k, const char *p, int in, int out, int precision, MemoryContext cxt)
{
	const TfmQ8Weight **q8[6] = {&L->q_8, &L->k_8, &L->v_8, &L->ao_8, &L->i_8, &L->o_8};
	const TfmB16Weight **b16[6] = {&L->q_h, &L->k_h, &L->v_h, &L->ao_h, &L->i_h, &L->o_h};

	if (precision == TFM_PRECISION_INT8)
		*q8[k] = tfm_q8_bind(MemoryContextAlloc(cxt, sizeof(TfmQ8Weight)), p, in, out);
	else
		*b16[k] = tfm_b16_bind(MemoryContextAlloc(cxt, sizeof(TfmB16Weight)), p, in, out);
}

/* point w's reduced word embeddings at p, and word_zero at C zeros in cxt */
static void
bind_words(TfmBertWeights *w, const TfmBertConfig *cfg, const char *p, int precision, MemoryContext cxt)
{
	w->word_zero = MemoryContextAllocZero(cxt, sizeof(float) * cfg->hidden);
	if (precision == TFM_PRECISION_BF16)
		w->word_bf16 = (const uint16 *) p;
	else
	{
		w->word_scale = (const float *) p;
		w->word_i8 = (const int8 *) (p + TYPEALIGN(64, (uint64) cfg->vocab * 4));
	}
}

/*
 * point w at slots laid out from base: training's layout (precision -1: nothing packed), or a cache
 * file's at a precision (linear weights packed, their (out,in) pointers NULL; at bf16 and int8 the
 * kernels' forms, bound by small structs in cxt, and the word embeddings reduced)
 */
static void
bind_slots(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const char *base,
		   int precision, MemoryContext cxt)
{
	const char *p = base;
	const float **emb[EMB_SLOTS] = {&w->word_emb, &w->pos_emb, &w->type_emb, &w->emb_ln_w, &w->emb_ln_b};
	bool		plain = precision < 0,
				reduced = precision > TFM_PRECISION_FP32;
	int			s = 0;

	memset(w, 0, sizeof(*w));
	for (int i = 0; i < EMB_SLOTS; i++, s++)
	{
		*emb[i] = TfmBertSlotFloats(cfg, s) ? (const float *) p : NULL;	/* NULL: a tensor the family lacks */
		if (s == 0 && reduced)
		{
			*emb[i] = NULL;
			bind_words(w, cfg, p, precision, cxt);
		}
		p += plain ? TfmBertSlotFloats(cfg, s) * sizeof(float) : TfmBertFileSlotBytes(cfg, s, precision);
	}
	for (int l = 0; l < cfg->layers; l++)
	{
		/* TfmBertLayer is 16 pointers in slot order, then one per packed slot in the same order */
		const float **f = (const float **) &layers[l];
		const float **pk = &layers[l].q_p;
		int			k = 0;

		memset(&layers[l], 0, sizeof(TfmBertLayer));
		for (int i = 0; i < SLOTS_PER_LAYER; i++, s++)
		{
			int			in, out;
			bool		linear = TfmBertSlotPacked(cfg, s, &in, &out);

			f[i] = linear && !plain ? NULL : (const float *) p;
			if (linear)
				*pk++ = plain || reduced ? NULL : (const float *) p;
			if (linear && reduced)
				bind_reduced(&layers[l], k, p, in, out, precision, cxt);
			k += linear;
			p += plain ? TfmBertSlotFloats(cfg, s) * sizeof(float) : TfmBertFileSlotBytes(cfg, s, precision);
		}
	}
	w->layer = layers;
}

/* point the weight struct at the slots laid out from base (training's (out,in) layout, nothing packed) */
void
TfmBertBind(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const float *base)
{
	bind_slots(w, layers, cfg, (const char *) base, -1, NULL);
}

/*
 * point the weight struct at a cache file's weights section of a precision (TfmBertFileSlotBytes),
 * in place: the mapped file is the one copy; only the structs naming int8/bf16 weights go in cxt
 */
void
TfmBertBindFile(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const char *base,
				int precision, MemoryContext cxt)
{
	bind_slots(w, layers, cfg, base, precision, cxt);
}

/*
 * give a bf16 model's six linear weights per layer fp32 panels widened (exactly) from its bf16 ones, in
 * cxt, where a panel is missing: the panels linear_forward (bert.c) takes for many rows when the CPU
 * level lacks AVX512-BF16 (tfm_b16_prefers_fp32); bytes allocated (0 when every layer has them)
 */
uint64
TfmBertWidenBf16(TfmBertLayer *layers, const TfmBertConfig *cfg, MemoryContext cxt)
{
	uint64		bytes = 0;

	for (int l = 0; l < cfg->layers; l++)
	{
		TfmBertLayer *L = &layers[l];
		const TfmB16Weight *h[6] = {L->q_h, L->k_h, L->v_h, L->ao_h, L->i_h, L->o_h};
		const float **pk[6] = {&L->q_p, &L->k_p, &L->v_p, &L->ao_p, &L->i_p, &L->o_p};

		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < 6; k++)
		{
			size_t		n;
			float	   *panels;

			if (!h[k] || *pk[k])
				continue;
			n = matmul_packed_floats(h[k]->C, h[k]->OC) * sizeof(float);
			/* on a cache line, as the mapped file's panels are (MemoryContextAlloc gives 16 bytes) */
			panels = (float *) TYPEALIGN(64, MemoryContextAlloc(cxt, n + 63));
			tfm_b16_to_panels(panels, h[k]);
			*pk[k] = panels;	/* set once complete: an error above leaves the weight as it was */
			bytes += n + 63;
		}
	}
	return bytes;
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

/* a new encoder part of a handle in cxt: config and inference options from the catalog row */
TfmEncoderPart *
TfmEncoderPartLoad(MemoryContext cxt, Jsonb *config, Jsonb *options)
{
	TfmEncoderPart *e = MemoryContextAllocZero(cxt, sizeof(TfmEncoderPart));

	TfmBertConfigFromJson(&e->cfg, config, "config.json");
	TfmOptionsFromJson(&e->opt, options, &e->cfg, false);
	return e;
}

/*
 * point an encoder part at its mapped cache file: the tokenizer blob of kind tokenizer (checked with
 * the file, TfmTextCheck) and the weights stored at precision, which a head-only model runs at too
 */
void
TfmEncoderPartBind(TfmEncoderPart *e, const void *vocab, int tokenizer, const char *weights, int precision,
				   MemoryContext cxt)
{
	e->vocab = (const TfmVocab *) vocab;
	e->tokenizer = (TfmTokenizerKind) tokenizer;
	e->layers = MemoryContextAlloc(cxt, sizeof(TfmBertLayer) * e->cfg.layers);
	e->opt.precision = precision;
	TfmBertBindFile(&e->w, e->layers, &e->cfg, weights, precision, cxt);
}
