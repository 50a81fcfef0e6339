/*
 * rerank.c: the SQL entry points of cross-encoders: tfm_rerank, tfm_score_pair and tfm_tokenize(a, b, model)
 * (the pair input is text/pair.c's)
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "infer/infer.h"
#include "kernels/ops.h"
#include "pg_tfm.h"
#include "sql/funcs.h"
#include "store/cache.h"
#include "text/tokenizer.h"

PG_FUNCTION_INFO_V1(tfm_tokenize_pair);
PG_FUNCTION_INFO_V1(tfm_score_pair);
PG_FUNCTION_INFO_V1(tfm_rerank);

/* refuse a model that does not score pairs: a checkpoint's one-output head (cross-encoder or regression) */
static void
require_pair_head(const TfmModel *m, const char *fn)
{
	TfmRequireArch(m, TFM_ARCH_BERT, fn);
	if (m->head_act == TFM_HEAD_GELU || m->nlabels != 1)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is a%s %s model, %s needs a cross-encoder", m->name,
							   m->task == TFM_TASK_EMBEDDING ? "n" : "", TfmTaskName(m->task), fn),
						errhint("Import a one-label *ForSequenceClassification checkpoint (a cross-encoder such as "
								"cross-encoder/ms-marco-MiniLM-L-12-v2).")));
}

/* logits (n) of n pairs' ids: the encoder in length-sorted batches, [CLS] pooled, then the head */
static float *
pair_logits(const TfmModel *m, int32 **ids, int *lens, int n)
{
	float	   *pooled = palloc_extended(sizeof(float) * Max(n, 1) * m->enc->cfg.hidden, MCXT_ALLOC_HUGE);
	float	   *out = palloc(sizeof(float) * Max(n, 1));

	TfmEncodeMany(pooled, m, &m->enc->w, ids, lens, n, false);
	TfmHeadForward(out, m, m->head, pooled, n);
	pfree(pooled);
	return out;
}

/* tfm_tokenize(a, b, model): the pair's ids with special tokens, untruncated */
Datum
tfm_tokenize_pair(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	int32	   *ids;
	int			n;
	Datum	   *d;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = TfmCallModel(fcinfo, 2);
	TfmRequireArch(m, TFM_ARCH_BERT, "tfm_tokenize(a, b, model)");
	ids = TfmTextEncodePair(m, PG_GETARG_TEXT_PP(0), PG_GETARG_DATUM(1), 0, &n);
	d = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i] >= TFM_TOKEN_TYPE1 ? ids[i] - TFM_TOKEN_TYPE1 : ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

/* tfm_score_pair(a, b, model): the cross-encoder's raw logit for the pair */
Datum
tfm_score_pair(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	int32	   *ids;
	int			n;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = TfmCallModel(fcinfo, 2);
	require_pair_head(m, "tfm_score_pair");
	ids = TfmTextEncodePair(m, PG_GETARG_TEXT_PP(0), PG_GETARG_DATUM(1), m->enc->opt.max_tokens, &n);
	PG_RETURN_FLOAT4(pair_logits(m, &ids, &n, 1)[0]);
}

/*
 * tfm_rerank(query, documents, model): (ordinality, score) per document, the raw logit of (query,
 * document), encoded in length-sorted batches; NULL documents score NULL, a NULL query gives no rows
 */
Datum
tfm_rerank(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TfmModel   *m;
	Datum	   *docs;
	bool	   *nulls;
	int			n, k = 0, nq;
	double		tokens = 0;
	int32	  **ids, *qids;
	int		   *lens;
	float	   *out;
	text	   *query;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	m = TfmCallModel(fcinfo, 2);
	require_pair_head(m, "tfm_rerank");
	query = PG_GETARG_TEXT_PP(0);
	qids = TfmTextEncode(m, VARDATA_ANY(query), VARSIZE_ANY_EXHDR(query), &nq);		/* once for every document */
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &docs, &nulls, &n);
	ids = palloc(sizeof(int32 *) * Max(n, 1));
	lens = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
		{
			int			nd;
			int32	   *dids = TfmTextSecondIds(m, docs[i], nq, m->enc->opt.max_tokens, &nd);

			ids[k] = TfmTextPairIds(m, qids, nq, dids, nd, m->enc->opt.max_tokens, &lens[k]);
			pfree(dids);
			tokens += lens[k++];
			/* the ids so far and the pooled vectors to come */
			TfmCheckMemory(((double) tokens + (double) n * m->enc->cfg.hidden) * sizeof(float) + (double) n * 16,
						   "the tfm_rerank call");
			CHECK_FOR_INTERRUPTS();
		}
	out = pair_logits(m, ids, lens, k);
	for (int i = 0, j = 0; i < n; i++)
	{
		Datum		v[2] = {Int64GetDatum(i + 1), (Datum) 0};
		bool		vn[2] = {false, nulls[i]};

		if (!nulls[i])
			v[1] = Float4GetDatum(out[j++]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, vn);
	}
	return (Datum) 0;
}
