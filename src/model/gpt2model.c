/* gpt2model.c: GPT-2 configs and tensor slots read from Hugging Face files, all checked; the fp32 image layout */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "model/gpt2model.h"

#define EMB_SLOTS 4
#define SLOTS_PER_LAYER 12
#define SLOT_ALIGN 16			/* floats: every slot starts on a 64-byte boundary */

/* true when config.json says model_type "gpt2" */
bool
TfmConfigIsGpt2(Jsonb *config)
{
	JsonbValue	v;

	return JB_ROOT_IS_OBJECT(config) && TfmJsonGet(&config->root, "model_type", &v) &&
		v.type == jbvString && v.val.string.len == 4 && memcmp(v.val.string.val, "gpt2", 4) == 0;
}

/* refuse a config.json setting pg_tfm's GPT-2 does not implement */
static void
unsupported(const char *what, const char *setting)
{
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					errmsg("%s: %s is not supported", what, setting),
					errhint("pg_tfm runs GPT-2 as GPT2LMHeadModel defines it: gelu_new, tied lm_head, scaled attention.")));
}

/* read the activation and attention flags, which must be GPT-2's defaults */
static void
check_flags(JsonbContainer *c, const char *what)
{
	char	   *act = TfmJsonGetString(c, "activation_function", "gelu_new", what);

	if (strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0)
		unsupported(what, psprintf("activation_function \"%s\"", act));
	if (!TfmJsonGetBool(c, "tie_word_embeddings", 1, what))
		unsupported(what, "an untied lm_head (tie_word_embeddings false)");
	if (!TfmJsonGetBool(c, "scale_attn_weights", 1, what))
		unsupported(what, "scale_attn_weights false");
	if (TfmJsonGetBool(c, "scale_attn_by_inverse_layer_idx", 0, what))
		unsupported(what, "scale_attn_by_inverse_layer_idx");
	if (TfmJsonGetBool(c, "add_cross_attention", 0, what))
		unsupported(what, "add_cross_attention");
}

/* read config.json of a GPT-2 model (n_positions, else n_ctx, is the context length) */
void
TfmGpt2InfoFromJson(TfmGpt2Info *info, Jsonb *config, const char *what)
{
	JsonbContainer *c = &config->root;
	TfmGpt2Config *g = &info->cfg;
	JsonbValue	v;

	if (!TfmConfigIsGpt2(config))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: model_type must be \"gpt2\"", what)));
	check_flags(c, what);
	g->n_vocab = TfmJsonGetInt(c, "vocab_size", -1, 1, 1 << 24, what);
	if (TfmJsonGet(c, "n_positions", &v) && v.type != jbvNull)
		g->n_ctx = TfmJsonNumericToInt(&v, 2, 65536, what, "n_positions");	/* max_tokens is at least 2 */
	else
		g->n_ctx = TfmJsonGetInt(c, "n_ctx", -1, 2, 65536, what);
	g->n_embd = TfmJsonGetInt(c, "n_embd", -1, 1, 16384, what);
	g->n_layer = TfmJsonGetInt(c, "n_layer", -1, 1, 128, what);
	g->n_head = TfmJsonGetInt(c, "n_head", -1, 1, 256, what);
	g->n_inner = TfmJsonGetInt(c, "n_inner", 4 * (int64) g->n_embd, 1, 65536, what);
	g->eps = (float) TfmJsonGetFloat(c, "layer_norm_epsilon", 1e-5, what);
	if (g->n_embd % g->n_head != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: n_embd %d is not a multiple of n_head %d", what, g->n_embd, g->n_head)));
	if (!(g->eps > 0 && g->eps < 1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: layer_norm_epsilon must be between 0 and 1", what)));
	if (TfmGpt2ConfigCheck(g) != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: the model sizes are too large", what)));
	info->eos = TfmJsonGetInt(c, "eos_token_id", -1, -1, g->n_vocab - 1, what);
	info->bos = TfmJsonGetInt(c, "bos_token_id", info->eos, -1, g->n_vocab - 1, what);
}

/* read import options of a GPT-2 model: max_tokens (context length used, default n_ctx); returns it */
int
TfmGpt2OptionsFromJson(Jsonb *options, const TfmGpt2Config *cfg, bool from_user)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while (from_user && (tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY && !(v.val.string.len == 10 && memcmp(v.val.string.val, "max_tokens", 10) == 0))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("unknown import option \"%.*s\" for a GPT-2 model", v.val.string.len, v.val.string.val),
							errhint("The import option of GPT-2 models is max_tokens (the context length tfm_generate uses).")));
	return TfmJsonGetInt(&options->root, "max_tokens", cfg->n_ctx, 2, cfg->n_ctx, "options");
}

/* number of tensors a GPT-2 model is made of */
int
TfmGpt2SlotCount(const TfmGpt2Config *cfg)
{
	return EMB_SLOTS + SLOTS_PER_LAYER * cfg->n_layer;
}

/*
 * name and file shape of a slot (rows 0 for 1-d tensors); *conv1d: stored
 * [in, out] in the file, (out, in) in the image
 */
static void
slot_desc(const TfmGpt2Config *cfg, int slot, char *name, int64 *rows, int64 *cols, bool *conv1d)
{
	static const char *const emb[EMB_SLOTS] = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"};
	static const char *const lay[SLOTS_PER_LAYER] = {
		"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
		"attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
		"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"};
	/* file shapes per layer slot: rows (0 = 1-d), cols, as multiples: 1 = C, 3 = 3C, -1 = F */
	static const int lr[SLOTS_PER_LAYER] = {0, 0, 1, 0, 1, 0, 0, 0, 1, 0, -1, 0};
	static const int lc[SLOTS_PER_LAYER] = {1, 1, 3, 3, 1, 1, 1, 1, -1, -1, 1, 1};
	int64		C = cfg->n_embd, F = cfg->n_inner;
	int			k;

	*conv1d = false;
	if (slot < EMB_SLOTS)
	{
		strcpy(name, emb[slot]);
		*rows = slot == 0 ? cfg->n_vocab : slot == 1 ? cfg->n_ctx : 0;
		*cols = C;
		return;
	}
	slot -= EMB_SLOTS;
	k = slot % SLOTS_PER_LAYER;
	snprintf(name, 128, "h.%d.%s", slot / SLOTS_PER_LAYER, lay[k]);
	*rows = lr[k] == 0 ? 0 : lr[k] < 0 ? F : lr[k] * C;
	*cols = lc[k] < 0 ? F : lc[k] * C;
	*conv1d = lr[k] != 0;
}

/* floats a slot occupies in the cache file, padded to the slot alignment */
uint64
TfmGpt2SlotFloats(const TfmGpt2Config *cfg, int slot)
{
	char		name[128];
	int64		rows, cols;
	bool		conv1d;
	uint64		n;

	slot_desc(cfg, slot, name, &rows, &cols, &conv1d);
	n = (uint64) (rows ? rows : 1) * (uint64) cols;
	return (n + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
}

/* floats of all slots together */
uint64
TfmGpt2WeightsFloats(const TfmGpt2Config *cfg)
{
	uint64		n = 0;

	for (int s = 0; s < TfmGpt2SlotCount(cfg); s++)
		n += TfmGpt2SlotFloats(cfg, s);
	return n;
}

/* number of parameters (unpadded, the tied lm_head counted once) */
uint64
TfmGpt2Params(const TfmGpt2Config *cfg)
{
	uint64		n = 0;
	char		name[128];
	int64		rows, cols;
	bool		conv1d;

	for (int s = 0; s < TfmGpt2SlotCount(cfg); s++)
	{
		slot_desc(cfg, s, name, &rows, &cols, &conv1d);
		n += (uint64) (rows ? rows : 1) * (uint64) cols;
	}
	return n;
}

/* a tensor by its GPT2Model name, with or without the "transformer." prefix */
static TfmTensorInfo *
find_tensor(TfmSafetensors *st, const char *name)
{
	TfmTensorInfo *t = TfmSafetensorsFind(st, name);

	return t ? t : TfmSafetensorsFind(st, psprintf("transformer.%s", name));
}

/* check a tensor's dtype and its shape [rows, cols] (rows 0: [cols]) */
static void
check_tensor(TfmSafetensors *st, TfmTensorInfo *t, int64 rows, int64 cols)
{
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
}

/* find each slot's tensor and check it; a present lm_head.weight must have wte's shape */
TfmTensorInfo **
TfmGpt2Resolve(TfmSafetensors *st, const TfmGpt2Config *cfg)
{
	int			n = TfmGpt2SlotCount(cfg);
	TfmTensorInfo **out = palloc0(sizeof(TfmTensorInfo *) * n);
	TfmTensorInfo *head = TfmSafetensorsFind(st, "lm_head.weight");

	for (int s = 0; s < n; s++)
	{
		char		name[128];
		int64		rows, cols;
		bool		conv1d;

		slot_desc(cfg, s, name, &rows, &cols, &conv1d);
		out[s] = find_tensor(st, name);
		if (out[s] == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: tensor \"%s\" is missing", st->what, name),
							errhint("The weights must be a GPT-2 model as Hugging Face names its tensors (GPT2LMHeadModel or GPT2Model).")));
		check_tensor(st, out[s], rows, cols);
	}
	if (head)
		check_tensor(st, head, cfg->n_vocab, cfg->n_embd);
	return out;
}

/* convert every slot to fp32 at dst, Conv1D weights transposed to (out, in) */
void
TfmGpt2Materialise(float *dst, const TfmGpt2Config *cfg, const TfmSafetensors *st,
				   TfmTensorInfo **slots, const char *buf)
{
	size_t		widest = 0;
	float	   *tmp;

	for (int s = 0; s < TfmGpt2SlotCount(cfg); s++)
		widest = Max(widest, (size_t) slots[s]->nelem);
	tmp = palloc_extended(sizeof(float) * widest, MCXT_ALLOC_HUGE);
	for (int s = 0; s < TfmGpt2SlotCount(cfg); s++)
	{
		char		name[128];
		int64		rows, cols;
		bool		conv1d;

		CHECK_FOR_INTERRUPTS();
		slot_desc(cfg, s, name, &rows, &cols, &conv1d);
		if (conv1d)
		{
			TfmSafetensorsToFloat(tmp, st, slots[s], buf);
			TfmGpt2TransposeConv1D(dst, tmp, (int) rows, (int) cols);
		}
		else
			TfmSafetensorsToFloat(dst, st, slots[s], buf);
		dst += TfmGpt2SlotFloats(cfg, s);
	}
	pfree(tmp);
}

/* point the weight structs at the slots laid out from base */
void
TfmGpt2Bind(TfmGpt2Weights *w, TfmGpt2Layer *layers, const TfmGpt2Config *cfg, const float *base)
{
	const float *p = base;
	const float **emb[EMB_SLOTS] = {&w->wte, &w->wpe, &w->ln_f_weight, &w->ln_f_bias};
	int			s = 0;

	for (int i = 0; i < EMB_SLOTS; i++, s++)
	{
		*emb[i] = p;
		p += TfmGpt2SlotFloats(cfg, s);
	}
	for (int l = 0; l < cfg->n_layer; l++)
	{
		const float **f = (const float **) &layers[l];

		/* TfmGpt2Layer is 12 pointers in slot order */
		StaticAssertStmt(sizeof(TfmGpt2Layer) == SLOTS_PER_LAYER * sizeof(float *), "layer layout");
		for (int i = 0; i < SLOTS_PER_LAYER; i++, s++)
		{
			f[i] = p;
			p += TfmGpt2SlotFloats(cfg, s);
		}
	}
	w->h = layers;
}

/* a new GPT-2 part of a handle in cxt: config, special ids and context length from the catalog row */
TfmGpt2Part *
TfmGpt2PartLoad(MemoryContext cxt, Jsonb *config, Jsonb *options)
{
	TfmGpt2Part *g = MemoryContextAllocZero(cxt, sizeof(TfmGpt2Part));

	TfmGpt2InfoFromJson(&g->info, config, "config.json");
	g->ctx = TfmGpt2OptionsFromJson(options, &g->info.cfg, false);
	return g;
}

/* point a GPT-2 part at its mapped cache file: the BPE blob and the fp32 weights in Linear layout */
void
TfmGpt2PartBind(TfmGpt2Part *g, const void *bpe, const float *weights, MemoryContext cxt)
{
	g->bpe = bpe;
	g->layers = MemoryContextAlloc(cxt, sizeof(TfmGpt2Layer) * g->info.cfg.n_layer);
	TfmGpt2Bind(&g->w, g->layers, &g->info.cfg, weights);
}
