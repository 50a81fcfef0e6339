/* metrics.h: evaluation metrics of classifiers, regressors and rankers, as JSON */
#ifndef TFM_METRICS_H
#define TFM_METRICS_H

#include "postgres.h"
#include "lib/stringinfo.h"

#include "model/head.h"

/* most labels for which metrics show the confusion matrix dense; beyond, its non-zero cells */
#define TFM_DENSE_CONFUSION 100
/* the rank cutoff of the ranking metrics (MRR@10, nDCG@10) */
#define TFM_RANK_CUTOFF 10
/* largest relevance grade of the ranking metrics (its gain 2^grade - 1 stays finite) */
#define TFM_MAX_GRADE 100
/* most values tfm._classification_metrics, tfm._regression_metrics and tfm._ranking_metrics take */
#define TFM_MAX_METRIC_ROWS 10000000

extern void TfmClassMetrics(StringInfo out, const int *truth, const int *pred, int n, int K,
							const char *const *labels);
extern void TfmRegMetrics(StringInfo out, const double *truth, const double *pred, int n);
extern void TfmRankMetrics(StringInfo out, const int *query, const double *score, const double *rel, int n);
extern void TfmRankMetricsAdd(StringInfo out, const int *query, const double *score, const double *rel, int n);
extern double TfmAccuracy(const int *truth, const int *pred, int n);

#endif
