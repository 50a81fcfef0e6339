/* fairness.h: tfm_evaluate's document for any prediction source: metrics, per-group metrics, Fairlearn's gaps */
#ifndef TFM_FAIRNESS_H
#define TFM_FAIRNESS_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* most groups the third column of tfm_evaluate's query may have (54000 beyond) */
#define TFM_MAX_GROUPS 10000
/* most (group, label) cells of the per-label block given without "positive" (54000 beyond) */
#define TFM_MAX_GROUP_CELLS 1000000

typedef struct TfmEvalOptions
{
	char	   *positive;		/* option "positive" as label text, NULL when not given */
} TfmEvalOptions;

extern void TfmEvalOptionsRead(TfmEvalOptions *o, Jsonb *options, bool classification,
							   const char *model, char *const *labels, int nlabels);
extern const char *TfmEvalPositive(const TfmEvalOptions *o, bool boolean_labels);
extern void TfmEvalClassJson(StringInfo out, const int *truth, const int *pred, int n, int K,
							 const char *const *labels, const char *const *group, const char *positive);
extern void TfmEvalRegJson(StringInfo out, const double *truth, const double *pred, int n,
						   const char *const *group);

#endif
