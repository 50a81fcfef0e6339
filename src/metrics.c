/* metrics.c: accuracy, per-label precision/recall/f1, averages and confusion matrix; mse, mae, r2 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/json.h"

#include "jsonutil.h"

#include "metrics.h"

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
