/*
 * rerank.c: text pairs (issue 15): the family's pair input (BERT's [CLS] a [SEP] b [SEP] with token
 * types 0 then 1, DistilBERT's the same without token types, RoBERTa's and XLM-R's
 * <s> a </s></s> b </s> all of type 0; the longer text truncated first) and the SQL entry points of
 * cross-encoders: tfm_rerank, tfm_score_pair and tfm_tokenize(a, b, model)
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
#include "text/unigram.h"

PG_FUNCTION_INFO_V1(tfm_tokenize_pair);
PG_FUNCTION_INFO_V1(tfm_score_pair);
PG_FUNCTION_INFO_V1(tfm_rerank);

/*
 * the kept lengths of a pair of na and nb tokens within budget tokens (max_tokens less the special
 * tokens), as Hugging Face's longest_first truncation gives them: the longer side alone down to the
 * shorter one's length, then both to half the budget. The odd token of an odd budget goes to the
 * longer side, except when the shorter one alone has max_tokens tokens or more: then to the second
 * text (measured on the Rust tokenizers 0.23.2 that Python users run; sql/heads.sql checks both cases)
 */
static void
longest_first(int *na, int *nb, int budget, int max_tokens)
{
	int			s = Min(*na, *nb), l = Max(*na, *nb);
	bool		swap = *na > *nb;

	if (s + l <= budget)
		return;
	if (s >= max_tokens)
		swap = false;
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
 * the pair of two tokenized texts (each [CLS] ... [SEP], or <s> ... </s>), truncated longest_first to
 * max_tokens (0: not): BERT's [CLS] a [SEP] b [SEP] with b's tokens and the last [SEP] marked as token
 * type 1 (TFM_TOKEN_TYPE1); DistilBERT's the same unmarked (it has no token types); RoBERTa's (and
 * XLM-R's) <s> a </s> </s> b </s>, unmarked (its tokenizers give the model no token types)
 */
static int32 *
pair_ids(const TfmModel *m, const int32 *ia, int na, const int32 *ib, int nb, int max_tokens, int *n)
{
	bool		roberta = m->cfg.family == TFM_FAMILY_ROBERTA;
	int			ka = na - 2, kb = nb - 2, specials = roberta ? 4 : 3, p;
	int32		mark = m->cfg.family == TFM_FAMILY_BERT ? TFM_TOKEN_TYPE1 : 0;
	int32	   *out;

	if (m->cfg.family == TFM_FAMILY_BERT && m->cfg.type_vocab < 2)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("model \"%s\" has one token type (type_vocab_size 1): it cannot read text pairs", m->name)));
	/* a Unigram file's pair template: only XLM-R's <s> A </s> </s> B </s> on a RoBERTa-family encoder */
	if (m->tokenizer == TFM_TOKENIZER_UNIGRAM && !(roberta && TfmUniPairRoberta(m->vocab)))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("model \"%s\" has a Unigram tokenizer whose pair template pg_tfm does not compute", m->name),
						errhint("Text pairs with a Unigram tokenizer are computed for XLM-RoBERTa models whose "
								"tokenizer.json pairs texts as <s> A </s> </s> B </s>.")));
	if (max_tokens > 0 && max_tokens < specials)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" reads at most %d tokens, fewer than a pair's %d special tokens",
							   m->name, max_tokens, specials)));
	if (max_tokens > 0)
		longest_first(&ka, &kb, max_tokens - specials, max_tokens);
	*n = ka + kb + specials;
	out = palloc_extended(sizeof(int32) * *n, MCXT_ALLOC_HUGE);
	memcpy(out, ia, sizeof(int32) * (ka + 1));
	p = ka + 1;
	out[p++] = ia[na - 1];
	if (roberta)
		out[p++] = ib[nb - 1];	/* the second </s> of </s></s> */
	for (int i = 0; i < kb; i++)
		out[p++] = ib[1 + i] + mark;
	out[p] = ib[nb - 1] + mark;
	return out;
}

/*
 * the ids of the second text b of a pair whose first text has na ids, enough for pair_ids to truncate
 * as it would the whole text (0: untruncated): with more than k = max(na + 1, max_tokens + 2) ids (two of
 * them special) b is the longer side, the shorter side's length decides whether it reaches max_tokens,
 * and longest_first keeps fewer than k - 2 of b's, so its first ones are read (TfmTokenizeTruncated)
 */
static int32 *
second_ids(const TfmModel *m, Datum b, int na, int max_tokens, int *n)
{
	if (max_tokens <= 0)
		return text_ids(m, DatumGetTextPP(b), n);
	return TfmTokenizeTruncated(m, b, Max(na + 1, max_tokens + 2), n);
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
