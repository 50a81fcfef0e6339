/* gradcheck.c: tfm._train_step, one training step of an encoder + linear head reported as gradient statistics (tests) */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "infer/infer.h"
#include "jsonutil.h"
#include "kernels/ops.h"
#include "kernels/optim.h"
#include "model/bert.h"
#include "model/encoder.h"
#include "pg_tfm.h"
#include "store/cache.h"

PG_FUNCTION_INFO_V1(tfm_train_step);

/* number of elements of an array argument */
static double
array_elements(ArrayType *a)
{
	return (double) ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
}

/* int[] argument as a palloc'd C array */
static int32 *
int_array(ArrayType *a, int *n)
{
	Datum	   *d;
	int32	   *out;

	deconstruct_array(a, INT4OID, 4, true, TYPALIGN_INT, &d, NULL, n);
	out = palloc(sizeof(int32) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = DatumGetInt32(d[i]);
	return out;
}

/* append "name": {"sum", "abs_sum", "l2", "first8"} of n floats */
static void
append_stats(StringInfo s, const char *name, const float *g, size_t n, bool first)
{
	double		sum = 0, abs_sum = 0, l2 = 0;

	for (size_t i = 0; i < n; i++)
		sum += g[i], abs_sum += fabs(g[i]), l2 += (double) g[i] * g[i];
	appendStringInfo(s, "%s\"%s\": {\"sum\": %s, \"abs_sum\": %s, \"l2\": %s, \"first8\": [",
					 first ? "" : ", ", name, TfmJsonFloat(sum, 10), TfmJsonFloat(abs_sum, 10), TfmJsonFloat(sqrt(l2), 10));
	for (size_t i = 0; i < Min(n, 8); i++)
		appendStringInfo(s, "%s%s", i ? ", " : "", TfmJsonFloat(g[i], 10));
	appendStringInfoString(s, "]}");
}

/* append a JSON array of floats */
static void
append_floats(StringInfo s, const float *x, int n)
{
	appendStringInfoChar(s, '[');
	for (int i = 0; i < n; i++)
		appendStringInfo(s, "%s%s", i ? ", " : "", TfmJsonFloat(x[i], 10));
	appendStringInfoChar(s, ']');
}

/*
 * tfm._train_step(model, ids, lens, labels): forward + backward of the encoder and a linear head
 * initialised as W[c][h] = 0.02 sin(1 + c C + h), b[c] = 0.01 c, the model's pooling, mean cross-entropy,
 * no dropout; ids holds the B sequences back to back
 */
Datum
tfm_train_step(PG_FUNCTION_ARGS)
{
	TfmModel   *m = TfmModelGet(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	const TfmBertConfig *cfg = &m->enc->cfg;
	int			nid, B, nl, T = 1, C = cfg->hidden, K = 2, off = 0;
	int32	   *flat, *lens, *labels;
	size_t		nw = TfmBertWeightsFloats(cfg);
	float	   *grad, *plain;
	const float *p;
	float	   *W, *dW, *x, *dx, *logits, *dlogits, *hidden, *acts, *scratch, *rows;
	int32	   *ids;
	TfmBertWeights w, dw;
	StringInfoData s;
	float		loss;
	ArrayType  *aid = PG_GETARG_ARRAYTYPE_P(1),
			   *alen = PG_GETARG_ARRAYTYPE_P(2),
			   *alab = PG_GETARG_ARRAYTYPE_P(3);

	/* the arrays' unpacked copies, then (below) the batch's buffers: all within pg_tfm.max_memory */
	TfmCheckMemory((array_elements(aid) + array_elements(alen) + array_elements(alab)) * (sizeof(Datum) + sizeof(int32)),
				   "the training step's arguments");
	flat = int_array(aid, &nid);
	lens = int_array(alen, &B);
	labels = int_array(alab, &nl);
	if (nl != B)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("one label per sequence")));
	for (int b = 0; b < B; b++)
	{
		if (lens[b] < 1 || lens[b] > cfg->max_pos || labels[b] < 0 || labels[b] >= K)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("bad length or label")));
		T = Max(T, lens[b]);
		off += lens[b];
	}
	if (off != nid)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("lens do not add up to the ids")));
	/* the kernels index a batch with int: keep every (B,T,·) buffer below 2^31 elements */
	if ((double) B * T * (Max(C, cfg->intermediate) + (double) cfg->heads * T) > (double) PG_INT32_MAX)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("a batch of %d sequences of up to %d tokens is too large for one training step", B, T)));
	TfmCheckMemory(2.0 * nw * sizeof(float) + (double) B * T * (C * sizeof(float) + sizeof(int32)) +
				   (double) TfmBertActBytes(cfg, B, T) + (double) TfmBertTrainScratchBytes(cfg, B, T) +
				   (double) nid * 3 * sizeof(int32), "the training step");
	grad = palloc_extended(sizeof(float) * nw, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	plain = palloc_extended(sizeof(float) * nw, MCXT_ALLOC_HUGE);
	p = grad;
	for (int i = 0; i < nid; i++)
		if (flat[i] < 0 || flat[i] >= cfg->vocab)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("token id out of range")));
	ids = palloc_extended(sizeof(int32) * B * T, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int b = 0, o = 0; b < B; o += lens[b], b++)
		memcpy(ids + (size_t) b * T, flat + o, sizeof(int32) * lens[b]);
	W = palloc(sizeof(float) * (K * C + K));
	dW = palloc0(sizeof(float) * (K * C + K));
	for (int c = 0; c < K; c++)
	{
		for (int h = 0; h < C; h++)
			W[c * C + h] = (float) (0.02 * sin(1.0 + c * C + h));
		W[K * C + c] = 0.01f * c;
	}
	hidden = palloc_extended(sizeof(float) * B * T * C, MCXT_ALLOC_HUGE);
	acts = palloc_extended(TfmBertActBytes(cfg, B, T), MCXT_ALLOC_HUGE);
	scratch = palloc_extended(TfmBertTrainScratchBytes(cfg, B, T), MCXT_ALLOC_HUGE);
	x = palloc_extended(sizeof(float) * B * C, MCXT_ALLOC_HUGE);
	dx = palloc_extended(sizeof(float) * B * C, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	logits = palloc_extended(sizeof(float) * B * K, MCXT_ALLOC_HUGE);
	dlogits = palloc_extended(sizeof(float) * B * K, MCXT_ALLOC_HUGE);
	/* training runs on the (out,in) weights the cache file keeps packed */
	TfmCacheFilePlain(plain, &m->map, m->encoder_id);
	TfmBertBind(&w, palloc(sizeof(TfmBertLayer) * cfg->layers), cfg, plain);
	bert_forward_train(hidden, acts, cfg, &w, ids, lens, B, T, 0, 0, 0, scratch, TfmCheckInterrupts);
	TfmPool(x, hidden, lens, B, T, C, m->enc->opt.pooling, 0);
	matmul_forward(logits, x, W, W + K * C, B, C, K);
	loss = crossentropy_forward_backward(dlogits, logits, labels, B, K);
	matmul_backward(dx, dW, dW + K * C, dlogits, x, W, B, C, K);
	TfmPoolBackward(hidden, dx, hidden, lens, B, T, C, m->enc->opt.pooling);
	TfmBertBind(&dw, palloc(sizeof(TfmBertLayer) * cfg->layers), cfg, grad);
	bert_backward(&dw, hidden, acts, cfg, &w, ids, lens, B, T, 0, 0, 0, scratch, TfmCheckInterrupts);

	initStringInfo(&s);
	appendStringInfo(&s, "{\"loss\": %s, \"logits\": [", TfmJsonFloat(loss, 10));
	for (int b = 0; b < B; b++)
	{
		appendStringInfoString(&s, b ? ", " : "");
		append_floats(&s, logits + b * K, K);
	}
	appendStringInfoString(&s, "], \"pooled_first4\": [");
	for (int b = 0; b < B; b++)
	{
		appendStringInfoString(&s, b ? ", " : "");
		append_floats(&s, x + b * C, 4);
	}
	appendStringInfoString(&s, "], \"grad\": {");
	append_stats(&s, "head.weight", dW, K * C, true);
	append_stats(&s, "head.bias", dW + K * C, K, false);
	for (int slot = 0; slot < TfmBertSlotCount(cfg); slot++)
	{
		char		name[128];
		int64		r, c;

		TfmBertSlotDesc(cfg, slot, name, &r, &c);
		append_stats(&s, name, p, (size_t) (r ? r : 1) * c, false);
		p += TfmBertSlotFloats(cfg, slot);
	}
	rows = palloc(sizeof(float) * lens[0] * C);
	for (int i = 0; i < lens[0]; i++)
		memcpy(rows + (size_t) i * C, dw.word_emb + (size_t) ids[i] * C, sizeof(float) * C);
	append_stats(&s, "embeddings.word_embeddings.weight[rows of ids[0]]", rows, (size_t) lens[0] * C, false);
	appendStringInfoString(&s, "}}");
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "train step"));
}
