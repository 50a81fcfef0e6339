/* metrics.c: accuracy, per-label precision/recall/f1, averages and confusion matrix; mse, mae, r2; MRR@10, nDCG@10 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/json.h"

#include "jsonutil.h"

#include "eval/metrics.h"

/* fraction of predictions equal to the truth */
double
TfmAccuracy(const int *truth, const int *pred, int n)
{
	int			ok = 0;

	for (int i = 0; i < n; i++)
		ok += truth[i] == pred[i];
	return n ? (double) ok / n : 0.0;
}

/* append {"precision", "recall", "f1", "support"} */
static void
append_prf(StringInfo out, double p, double r, double f, int64 support)
{
	appendStringInfo(out, "{\"precision\": %s, \"recall\": %s, \"f1\": %s, \"support\": " INT64_FORMAT "}",
					 TfmJsonFloat(p, 10), TfmJsonFloat(r, 10), TfmJsonFloat(f, 10), support);
}

/* compare int64 for qsort */
static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a, y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/*
 * the confusion matrix from the sorted cell codes (truth * K + pred): dense rows when K is at most
 * TFM_DENSE_CONFUSION, else only the non-zero cells as [truth, pred, count] (at most n of them), so
 * that memory and output grow with the rows, never with K squared
 */
static void
append_confusion(StringInfo out, const int64 *codes, int n, int K, const char *const *labels)
{
	int			i = 0;
	bool		first = true;

	appendStringInfoString(out, "\"confusion\": {\"labels\": [");
	for (int k = 0; k < K; k++)
	{
		if (k)
			appendStringInfoString(out, ", ");
		escape_json(out, labels[k]);
	}
	if (K <= TFM_DENSE_CONFUSION)
	{
		appendStringInfoString(out, "], \"matrix\": [");
		for (int k = 0; k < K; k++)
		{
			appendStringInfoString(out, k ? ", [" : "[");
			for (int j = 0; j < K; j++)
			{
				int64		c = 0;

				for (; i < n && codes[i] == (int64) k * K + j; i++)
					c++;
				appendStringInfo(out, j ? ", " INT64_FORMAT : INT64_FORMAT, c);
			}
			appendStringInfoChar(out, ']');
		}
	}
	else
	{
		appendStringInfoString(out, "], \"cells\": [");
		while (i < n)
		{
			int64		code = codes[i], c = 0;

			for (; i < n && codes[i] == code; i++)
				c++;
			appendStringInfo(out, "%s[" INT64_FORMAT ", " INT64_FORMAT ", " INT64_FORMAT "]",
							 first ? "" : ", ", code / K, code % K, c);
			first = false;
			CHECK_FOR_INTERRUPTS();
		}
	}
	appendStringInfoString(out, "]}");
}

/* classification metrics; labels[K], truth/pred in [0, K); memory O(n + K) whatever K is */
void
TfmClassMetrics(StringInfo out, const int *truth, const int *pred, int n, int K, const char *const *labels)
{
	int64	   *tp = palloc_extended(sizeof(int64) * Max(K, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int64	   *support = palloc_extended(sizeof(int64) * Max(K, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int64	   *predicted = palloc_extended(sizeof(int64) * Max(K, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int64	   *codes = palloc_extended(sizeof(int64) * Max(n, 1), MCXT_ALLOC_HUGE);
	double		mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0;

	for (int i = 0; i < n; i++)
	{
		if (truth[i] < 0 || truth[i] >= K || pred[i] < 0 || pred[i] >= K)
			elog(ERROR, "label index out of range in the metrics");	/* a bug, never the input */
		support[truth[i]]++;
		predicted[pred[i]]++;
		tp[truth[i]] += truth[i] == pred[i];
		codes[i] = (int64) truth[i] * K + pred[i];
	}
	qsort(codes, n, sizeof(int64), cmp_int64);
	appendStringInfo(out, "{\"n\": %d, \"accuracy\": %s, \"labels\": {", n, TfmJsonFloat(TfmAccuracy(truth, pred, n), 10));
	for (int k = 0; k < K; k++)
	{
		double		p, r, f;

		p = predicted[k] ? (double) tp[k] / predicted[k] : 0.0;
		r = support[k] ? (double) tp[k] / support[k] : 0.0;
		f = (p + r) > 0 ? 2 * p * r / (p + r) : 0.0;
		mp += p / K, mr += r / K, mf += f / K;
		if (n)
			wp += p * support[k] / n, wr += r * support[k] / n, wf += f * support[k] / n;
		if (k)
			appendStringInfoString(out, ", ");
		escape_json(out, labels[k]);
		appendStringInfoString(out, ": ");
		append_prf(out, p, r, f, support[k]);
		if (k % 1024 == 0)
			CHECK_FOR_INTERRUPTS();
	}
	appendStringInfoString(out, "}, \"macro_avg\": ");
	append_prf(out, mp, mr, mf, n);
	appendStringInfoString(out, ", \"weighted_avg\": ");
	append_prf(out, wp, wr, wf, n);
	appendStringInfoString(out, ", ");
	append_confusion(out, codes, n, K, labels);
	appendStringInfoChar(out, '}');
	pfree(tp);
	pfree(support);
	pfree(predicted);
	pfree(codes);
}

/* regression metrics: mse, mae, r2 */
void
TfmRegMetrics(StringInfo out, const double *truth, const double *pred, int n)
{
	double		mean = 0, sse = 0, sae = 0, sst = 0, r2;

	for (int i = 0; i < n; i++)
		mean += truth[i] / n;
	for (int i = 0; i < n; i++)
	{
		double		e = pred[i] - truth[i];

		sse += e * e;
		sae += fabs(e);
		sst += (truth[i] - mean) * (truth[i] - mean);
	}
	if (!isfinite(sse) || !isfinite(sst))
		r2 = NAN;				/* not representable: null in the JSON */
	else
		r2 = sst > 0 ? 1.0 - sse / sst : (sse == 0 ? 1.0 : 0.0);
	appendStringInfo(out, "{\"n\": %d, \"mse\": %s, \"mae\": %s, \"r2\": %s}",
					 n, TfmJsonFloat(n ? sse / n : 0.0, 10), TfmJsonFloat(n ? sae / n : 0.0, 10), TfmJsonFloat(r2, 10));
}

/* the rows being ranked: the sort order of TfmRankMetrics */
typedef struct RankRows
{
	const int  *query;
	const double *score;
	const double *rel;
} RankRows;

/* order rows by query, then score descending, then relevance ascending (ties ranked least relevant first) */
static int
cmp_ranked(const void *a, const void *b, void *arg)
{
	const RankRows *r = arg;
	int			i = *(const int *) a, j = *(const int *) b;

	if (r->query[i] != r->query[j])
		return r->query[i] < r->query[j] ? -1 : 1;
	if (r->score[i] != r->score[j])
		return r->score[i] > r->score[j] ? -1 : 1;
	if (r->rel[i] != r->rel[j])
		return r->rel[i] < r->rel[j] ? -1 : 1;
	return 0;
}

/* the gain of a relevance grade in nDCG: 2^rel - 1 (1 and 0 for binary relevance) */
static double
rank_gain(double rel)
{
	return expm1(rel * M_LN2);	/* not exp2(rel) - 1, which is 0 for grades below ~1e-16 */
}

/* the grades of the first TFM_RANK_CUTOFF ranked documents order[0..m) into top; returns how many */
static int
ranked_grades(double *top, const double *rel, const int *order, int m)
{
	int			k = Min(m, TFM_RANK_CUTOFF);

	for (int p = 0; p < k; p++)
		top[p] = rel[order[p]];
	return k;
}

/* the TFM_RANK_CUTOFF largest grades of documents order[0..m), descending, into top; returns how many */
static int
ideal_grades(double *top, const double *rel, const int *order, int m)
{
	int			k = 0;

	for (int p = 0; p < m; p++)
	{
		double		g = rel[order[p]];
		int			at;

		if (k == TFM_RANK_CUTOFF && g <= top[k - 1])
			continue;
		at = k < TFM_RANK_CUTOFF ? k++ : TFM_RANK_CUTOFF - 1;	/* a new place, or the smallest's */
		for (; at > 0 && top[at - 1] < g; at--)
			top[at] = top[at - 1];
		top[at] = g;
	}
	return k;
}

/* reciprocal rank of the first relevant (grade above 0) of k ranked grades, 0 if none */
static double
reciprocal_rank(const double *top, int k)
{
	for (int p = 0; p < k; p++)
		if (top[p] > 0)
			return 1.0 / (p + 1);
	return 0.0;
}

/* discounted cumulative gain of k ranked grades: the sum of gain / log2(rank + 1) */
static double
dcg(const double *top, int k)
{
	double		sum = 0;

	for (int p = 0; p < k; p++)
		sum += rank_gain(top[p]) / log2(p + 2.0);
	return sum;
}

/*
 * ranking metrics of n scored documents (query[i] the number of document i's query, score[i] not NaN,
 * relevance rel[i] in [0, TFM_MAX_GRADE], relevant when above 0): each query's documents ranked by score, ties
 * least relevant first; MRR@10 and nDCG@10 averaged over the queries with a relevant document, the others
 * counted as skipped
 */
void
TfmRankMetrics(StringInfo out, const int *query, const double *score, const double *rel, int n)
{
	RankRows	r = {query, score, rel};
	int		   *order = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	double		mrr = 0, ndcg = 0;
	int			queries = 0, ranked = 0;

	for (int i = 0; i < n; i++)
		order[i] = i;
	qsort_arg(order, n, sizeof(int), cmp_ranked, &r);
	for (int s = 0, e; s < n; s = e)
	{
		double		top[TFM_RANK_CUTOFF], ideal;
		int			k;

		for (e = s + 1; e < n && query[order[e]] == query[order[s]]; e++)
			;
		queries++;
		ideal = dcg(top, ideal_grades(top, rel, order + s, e - s));
		if (ideal > 0)			/* a query with a relevant document */
		{
			k = ranked_grades(top, rel, order + s, e - s);
			ranked++;
			mrr += reciprocal_rank(top, k);
			ndcg += dcg(top, k) / ideal;
		}
		CHECK_FOR_INTERRUPTS();
	}
	appendStringInfo(out, "{\"queries\": %d, \"queries_skipped\": %d, \"mrr@10\": %s, \"ndcg@10\": %s}",
					 queries, queries - ranked, TfmJsonFloat(ranked ? mrr / ranked : NAN, 10), TfmJsonFloat(ranked ? ndcg / ranked : NAN, 10));
	pfree(order);
}

/* add "ranking" (TfmRankMetrics of the n documents) to the metrics object in out */
void
TfmRankMetricsAdd(StringInfo out, const int *query, const double *score, const double *rel, int n)
{
	TfmJsonReopen(out);
	appendStringInfoString(out, ", \"ranking\": ");
	TfmRankMetrics(out, query, score, rel, n);
	appendStringInfoChar(out, '}');
}
