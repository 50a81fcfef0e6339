/*
 * rerank.c: text pairs (issue 15): BERT's pair input ([CLS] a [SEP] b [SEP], token types 0 then 1,
 * the longer text truncated first) and the SQL entry points of cross-encoders: tfm_rerank,
 * tfm_score_pair and tfm_tokenize(a, b, model)
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "cache.h"
#include "infer.h"
#include "ops.h"
#include "pg_tfm.h"

PG_FUNCTION_INFO_V1(tfm_tokenize_pair);
PG_FUNCTION_INFO_V1(tfm_score_pair);
PG_FUNCTION_INFO_V1(tfm_rerank);

/*
 * the kept lengths of a pair of na and nb tokens within budget tokens, as Hugging Face's longest_first
 * truncation gives them: the longer side alone down to the shorter one's length, then both to half
 * the budget (the longer side keeps the odd token)
 */
static void
longest_first(int *na, int *nb, int budget)
{
	int			s = Min(*na, *nb), l = Max(*na, *nb);
	bool		swap = *na > *nb;

	if (s + l <= budget)
		return;
	l = s > budget ? s : Max(s, budget - s);
	if (s + l > budget)
	{
		s = budget / 2;
		l = s + budget % 2;
	}
	*na = swap ? l : s;
	*nb = swap ? s : l;
}

/* the ids of a text with [CLS] and [SEP] (palloc'd, untruncated) */
static int32 *
text_ids(const TfmModel *m, text *t, int *n)
{
	return TfmTokenizeText(m, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), n);
}

/*
 * the pair of two tokenized texts (each [CLS] ... [SEP]): [CLS] a [SEP] b [SEP] with b's tokens and the
 * last [SEP] marked as token type 1 (TFM_TOKEN_TYPE1), truncated longest_first to max_tokens (0: not)
 */
static int32 *
pair_ids(const TfmModel *m, const int32 *ia, int na, const int32 *ib, int nb, int max_tokens, int *n)
{
	int			ka = na - 2, kb = nb - 2;
	int32	   *out;

	if (m->cfg.type_vocab < 2)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("model \"%s\" has one token type (type_vocab_size 1): it cannot read text pairs", m->name)));
	/* a Unigram file's pair template ($A </s> $B </s>, <s> $A </s> </s> $B </s>) is not [CLS] a [SEP] b [SEP] */
	if (m->tokenizer == TFM_TOKENIZER_UNIGRAM)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("model \"%s\" has a Unigram tokenizer: text pairs with it are not supported", m->name)));
	if (max_tokens > 0 && max_tokens < 3)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" reads at most %d tokens, fewer than a pair's three special tokens",
							   m->name, max_tokens)));
	if (max_tokens > 0)
		longest_first(&ka, &kb, max_tokens - 3);
	*n = ka + kb + 3;
	out = palloc_extended(sizeof(int32) * *n, MCXT_ALLOC_HUGE);
	memcpy(out, ia, sizeof(int32) * (ka + 1));
	out[ka + 1] = ia[na - 1];
	for (int i = 0; i < kb; i++)
		out[ka + 2 + i] = ib[1 + i] + TFM_TOKEN_TYPE1;
	out[ka + kb + 2] = ib[nb - 1] + TFM_TOKEN_TYPE1;
	return out;
}

/*
 * the ids of the second text b of a pair whose first text has na ids, enough for pair_ids to truncate
 * as it would the whole text (0: untruncated): with more than max(na + 1, max_tokens) ids b is the
 * longer side and longest_first keeps fewer than that, so its first ones are read (TfmTokenizeTruncated)
 */
static int32 *
second_ids(const TfmModel *m, Datum b, int na, int max_tokens, int *n)
{
	if (max_tokens <= 0)
		return text_ids(m, DatumGetTextPP(b), n);
	return TfmTokenizeTruncated(m, b, Max(na + 1, max_tokens), n);
}

/* ids of the pair (a, b) as pair_ids gives them */
static int32 *
TfmTokenizePair(const TfmModel *m, text *a, Datum b, int max_tokens, int *n)
{
	int			na, nb;
	int32	   *ia = text_ids(m, a, &na), *ib = second_ids(m, b, na, max_tokens, &nb);
	int32	   *out = pair_ids(m, ia, na, ib, nb, max_tokens, n);

	pfree(ia);
	pfree(ib);
	return out;
}

/* refuse a model that does not score pairs: a BERT checkpoint's one-output head (cross-encoder or regression) */
static void
require_pair_head(const TfmModel *m, const char *fn)
{
	TfmRequireArch(m, TFM_ARCH_BERT, fn);
	if (!m->head_tanh || m->nlabels != 1)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is a%s %s model, %s needs a cross-encoder", m->name,
							   m->task == TFM_TASK_EMBEDDING ? "n" : "", TfmTaskName(m->task), fn),
						errhint("Import a one-label BertForSequenceClassification checkpoint (a cross-encoder such as "
								"cross-encoder/ms-marco-MiniLM-L-12-v2).")));
}

/* logits (n) of n pairs' ids: the encoder in length-sorted batches, [CLS] pooled, then the head */
static float *
pair_logits(const TfmModel *m, int32 **ids, int *lens, int n)
{
	float	   *pooled = palloc_extended(sizeof(float) * Max(n, 1) * m->cfg.hidden, MCXT_ALLOC_HUGE);
	float	   *out = palloc(sizeof(float) * Max(n, 1));

	TfmEncodeMany(pooled, m, &m->w, ids, lens, n, false);
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
	ids = TfmTokenizePair(m, PG_GETARG_TEXT_PP(0), PG_GETARG_DATUM(1), 0, &n);
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
	ids = TfmTokenizePair(m, PG_GETARG_TEXT_PP(0), PG_GETARG_DATUM(1), m->opt.max_tokens, &n);
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
	qids = text_ids(m, query, &nq);		/* once for every document */
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &docs, &nulls, &n);
	ids = palloc(sizeof(int32 *) * Max(n, 1));
	lens = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
		{
			int			nd;
			int32	   *dids = second_ids(m, docs[i], nq, m->opt.max_tokens, &nd);

			ids[k] = pair_ids(m, qids, nq, dids, nd, m->opt.max_tokens, &lens[k]);
			pfree(dids);
			tokens += lens[k++];
			/* the ids so far and the pooled vectors to come */
			TfmCheckMemory(((double) tokens + (double) n * m->cfg.hidden) * sizeof(float) + (double) n * 16,
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
