/* metrics.h: evaluation metrics of classifiers and regressors, as JSON */
#ifndef TFM_METRICS_H
#define TFM_METRICS_H

#include "postgres.h"
#include "lib/stringinfo.h"

/* most labels a classifier may be trained with (checked while reading the rows, 54000) */
#define TFM_MAX_LABELS 1000
/* most labels for which metrics show the confusion matrix dense; beyond, its non-zero cells */
#define TFM_DENSE_CONFUSION 100
/* most values tfm._classification_metrics and tfm._regression_metrics take */
#define TFM_MAX_METRIC_ROWS 10000000

extern void TfmClassMetrics(StringInfo out, const int *truth, const int *pred, int n, int K,
							const char *const *labels);
extern void TfmRegMetrics(StringInfo out, const double *truth, const double *pred, int n);
extern double TfmAccuracy(const int *truth, const int *pred, int n);

#endif
