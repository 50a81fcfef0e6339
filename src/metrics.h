/* metrics.h: evaluation metrics of classifiers and regressors, as JSON */
#ifndef TFM_METRICS_H
#define TFM_METRICS_H

#include "postgres.h"
#include "lib/stringinfo.h"

extern void TfmClassMetrics(StringInfo out, const int *truth, const int *pred, int n, int K,
							const char *const *labels);
extern void TfmRegMetrics(StringInfo out, const double *truth, const double *pred, int n);
extern double TfmAccuracy(const int *truth, const int *pred, int n);

#endif
