/* metrics.c: accuracy, per-label precision/recall/f1, averages and confusion matrix; mse, mae, r2 */
#include "postgres.h"

#include <math.h>

#include "utils/json.h"

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
	appendStringInfo(out, "{\"precision\": %.10g, \"recall\": %.10g, \"f1\": %.10g, \"support\": " INT64_FORMAT "}",
					 p, r, f, support);
}

/* classification metrics; labels[K], truth/pred in [0, K) */
void
TfmClassMetrics(StringInfo out, const int *truth, const int *pred, int n, int K, const char *const *labels)
{
	int64	   *cm = palloc0(sizeof(int64) * K * K);
	double		mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0;

	for (int i = 0; i < n; i++)
		cm[truth[i] * K + pred[i]]++;
	appendStringInfo(out, "{\"n\": %d, \"accuracy\": %.10g, \"labels\": {", n, TfmAccuracy(truth, pred, n));
	for (int k = 0; k < K; k++)
	{
		int64		tp = cm[k * K + k], support = 0, predicted = 0;
		double		p, r, f;

		for (int j = 0; j < K; j++)
			support += cm[k * K + j], predicted += cm[j * K + k];
		p = predicted ? (double) tp / predicted : 0.0;
		r = support ? (double) tp / support : 0.0;
		f = (p + r) > 0 ? 2 * p * r / (p + r) : 0.0;
		mp += p / K, mr += r / K, mf += f / K;
		if (n)
			wp += p * support / n, wr += r * support / n, wf += f * support / n;
		if (k)
			appendStringInfoString(out, ", ");
		escape_json(out, labels[k]);
		appendStringInfoString(out, ": ");
		append_prf(out, p, r, f, support);
	}
	appendStringInfoString(out, "}, \"macro_avg\": ");
	append_prf(out, mp, mr, mf, n);
	appendStringInfoString(out, ", \"weighted_avg\": ");
	append_prf(out, wp, wr, wf, n);
	appendStringInfoString(out, ", \"confusion\": {\"labels\": [");
	for (int k = 0; k < K; k++)
	{
		if (k)
			appendStringInfoString(out, ", ");
		escape_json(out, labels[k]);
	}
	appendStringInfoString(out, "], \"matrix\": [");
	for (int k = 0; k < K; k++)
	{
		appendStringInfoString(out, k ? ", [" : "[");
		for (int j = 0; j < K; j++)
			appendStringInfo(out, j ? ", " INT64_FORMAT : INT64_FORMAT, cm[k * K + j]);
		appendStringInfoChar(out, ']');
	}
	appendStringInfoString(out, "]}}");
	pfree(cm);
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
	r2 = sst > 0 ? 1.0 - sse / sst : (sse == 0 ? 1.0 : 0.0);
	appendStringInfo(out, "{\"n\": %d, \"mse\": %.10g, \"mae\": %.10g, \"r2\": %.10g}",
					 n, n ? sse / n : 0.0, n ? sae / n : 0.0, r2);
}
