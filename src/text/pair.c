/*
 * text/pair.c: text pairs (issue 15) as the family's post-processor builds them: BERT's [CLS] a [SEP] b [SEP]
 * with token types 0 then 1, DistilBERT's the same without token types, RoBERTa's and XLM-R's
 * <s> a </s></s> b </s> all of type 0; the longer text truncated first (longest_first)
 */
#include "postgres.h"

#include "kernels/ops.h"
#include "model/handle.h"
#include "text/tokenizer.h"
#include "text/unigram.h"

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
	return TfmTextEncode(m, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), n);
}

/*
 * the pair of two tokenized texts (each [CLS] ... [SEP], or <s> ... </s>), truncated longest_first to
 * max_tokens (0: not): BERT's [CLS] a [SEP] b [SEP] with b's tokens and the last [SEP] marked as token
 * type 1 (TFM_TOKEN_TYPE1); DistilBERT's the same unmarked (it has no token types); RoBERTa's (and
 * XLM-R's) <s> a </s> </s> b </s>, unmarked (its tokenizers give the model no token types)
 */
int32 *
TfmTextPairIds(const TfmModel *m, const int32 *ia, int na, const int32 *ib, int nb, int max_tokens, int *n)
{
	bool		roberta = m->enc->cfg.family == TFM_FAMILY_ROBERTA;
	int			ka = na - 2, kb = nb - 2, specials = roberta ? 4 : 3, p;
	int32		mark = m->enc->cfg.family == TFM_FAMILY_BERT ? TFM_TOKEN_TYPE1 : 0;
	int32	   *out;

	if (m->enc->cfg.family == TFM_FAMILY_BERT && m->enc->cfg.type_vocab < 2)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("model \"%s\" has one token type (type_vocab_size 1): it cannot read text pairs", m->name)));
	/* a Unigram file's pair template: only XLM-R's <s> A </s> </s> B </s> on a RoBERTa-family encoder */
	if (m->enc->tokenizer == TFM_TOKENIZER_UNIGRAM && !(roberta && TfmUniPairRoberta(m->enc->vocab)))
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
 * the ids of the second text b of a pair whose first text has na ids, enough for TfmTextPairIds to truncate
 * as it would the whole text (0: untruncated): with more than k = max(na + 1, max_tokens + 2) ids (two of
 * them special) b is the longer side, the shorter side's length decides whether it reaches max_tokens,
 * and longest_first keeps fewer than k - 2 of b's, so its first ones are read (TfmTextEncodeTruncated)
 */
int32 *
TfmTextSecondIds(const TfmModel *m, Datum b, int na, int max_tokens, int *n)
{
	if (max_tokens <= 0)
		return text_ids(m, DatumGetTextPP(b), n);
	return TfmTextEncodeTruncated(m, b, Max(na + 1, max_tokens + 2), n);
}

/* ids of the pair (a, b) as TfmTextPairIds gives them */
int32 *
TfmTextEncodePair(const TfmModel *m, text *a, Datum b, int max_tokens, int *n)
{
	int			na, nb;
	int32	   *ia = text_ids(m, a, &na), *ib = TfmTextSecondIds(m, b, na, max_tokens, &nb);
	int32	   *out = TfmTextPairIds(m, ia, na, ib, nb, max_tokens, n);

	pfree(ia);
	pfree(ib);
	return out;
}
