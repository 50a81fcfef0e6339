/* model.c: BERT configs, tensor slots and tokenizer settings read from Hugging Face files, all checked */
#include "postgres.h"

#include "utils/jsonb.h"

#include "jsonutil.h"
#include "model.h"
#include "ops.h"

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

/* 0 when a config is within config.json's limits (hidden a multiple of heads), -1 otherwise */
int
TfmBertConfigCheck(const TfmBertConfig *cfg)
{
	return (cfg->vocab >= 1 && cfg->vocab <= MAX_VOCAB && cfg->hidden >= 1 && cfg->hidden <= MAX_HIDDEN &&
			cfg->layers >= 1 && cfg->layers <= MAX_LAYERS && cfg->heads >= 1 && cfg->heads <= MAX_HEADS &&
			cfg->hidden % cfg->heads == 0 && cfg->intermediate >= 1 && cfg->intermediate <= MAX_INTERMEDIATE &&
			cfg->max_pos >= 1 && cfg->max_pos <= MAX_POSITIONS && cfg->type_vocab >= 1 &&
			cfg->type_vocab <= MAX_TYPES && cfg->ln_eps > 0 && cfg->ln_eps < 1) ? 0 : -1;
}

void
TfmBertConfigFromJson(TfmBertConfig *cfg, Jsonb *config, const char *what)
{
	JsonbContainer *c = &config->root;
	char	   *type = TfmJsonGetString(c, "model_type", NULL, what);
	char	   *act = TfmJsonGetString(c, "hidden_act", "gelu", what);
	char	   *pos = TfmJsonGetString(c, "position_embedding_type", "absolute", what);

	if (!JB_ROOT_IS_OBJECT(config))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s is not a JSON object", what)));
	if (type == NULL || strcmp(type, "bert") != 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: model_type \"%s\" is not supported", what, type ? type : "(missing)"),
						errhint("pg_tfm imports BERT-family encoders (model_type \"bert\").")));
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
	cfg->type_vocab = TfmJsonGetInt(c, "type_vocab_size", 2, 1, MAX_TYPES, what);
	cfg->ln_eps = (float) TfmJsonGetFloat(c, "layer_norm_eps", 1e-12, what);
	if (cfg->hidden % cfg->heads != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: hidden_size %d is not a multiple of num_attention_heads %d",
							   what, cfg->hidden, cfg->heads)));
	if (!(cfg->ln_eps > 0 && cfg->ln_eps < 1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: layer_norm_eps must be between 0 and 1", what)));
}

static const char *const import_options[] = {"max_tokens", "pooling", "normalize", NULL};

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
	opt->max_tokens = TfmJsonGetInt(c, "max_tokens", cfg->max_pos, 2, cfg->max_pos, "options");
	opt->normalize = TfmJsonGetBool(c, "normalize", 1, "options");
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
	char	   *s = psprintf("{\"max_tokens\": %d, \"pooling\": \"%s\", \"normalize\": %s}",
							 opt->max_tokens, TfmPoolingName(opt->pooling),
							 opt->normalize ? "true" : "false");

	return TfmJsonParse(s, strlen(s), "options");
}

/* number of fp32 tensors a BERT model is made of */
int
TfmBertSlotCount(const TfmBertConfig *cfg)
{
	return EMB_SLOTS + SLOTS_PER_LAYER * cfg->layers;
}

/* name and shape of a slot; rows 0 for 1-d tensors */
void
TfmBertSlotDesc(const TfmBertConfig *cfg, int slot, char *name, int64 *rows, int64 *cols)
{
	static const char *const emb[EMB_SLOTS] = {
		"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
		"embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
		"embeddings.LayerNorm.bias"};
	static const char *const lay[SLOTS_PER_LAYER] = {
		"attention.self.query.weight", "attention.self.query.bias",
		"attention.self.key.weight", "attention.self.key.bias",
		"attention.self.value.weight", "attention.self.value.bias",
		"attention.output.dense.weight", "attention.output.dense.bias",
		"attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
		"intermediate.dense.weight", "intermediate.dense.bias",
		"output.dense.weight", "output.dense.bias",
		"output.LayerNorm.weight", "output.LayerNorm.bias"};
	int64		C = cfg->hidden, I = cfg->intermediate;

	if (slot < EMB_SLOTS)
	{
		int64		r[EMB_SLOTS] = {cfg->vocab, cfg->max_pos, cfg->type_vocab, 0, 0};

		strcpy(name, emb[slot]);
		*rows = r[slot];
		*cols = C;
		return;
	}
	slot -= EMB_SLOTS;
	snprintf(name, 128, "encoder.layer.%d.%s", slot / SLOTS_PER_LAYER, lay[slot % SLOTS_PER_LAYER]);
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

/* find each slot's tensor (with or without a "bert." prefix) and check its dtype and shape */
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
		t = TfmSafetensorsFind(st, name);
		if (t == NULL)
			t = TfmSafetensorsFind(st, psprintf("bert.%s", name));
		if (t == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: tensor \"%s\" is missing", st->what, name),
							errhint("The weights must be a BERT model as Hugging Face names its tensors.")));
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
		*emb[i] = p;
		p += TfmBertSlotFloats(cfg, s);
	}
	for (int l = 0; l < cfg->layers; l++)
	{
		/* TfmBertLayer is 16 pointers in slot order, then one per packed slot in the same order */
		const float **f = (const float **) &layers[l];
		const float **pk = &layers[l].q_p;

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
