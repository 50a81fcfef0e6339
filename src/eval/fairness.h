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

/* the groups of the rows: the third column of tfm_evaluate's query */
typedef struct TfmGroups
{
	int			G;				/* how many */
	char	  **names;			/* their text in byte order, NULL (SQL NULL) last */
	int		   *index;			/* each row's group */
} TfmGroups;

typedef struct TfmEvalOptions
{
	char	   *positive;		/* option "positive" as label text, NULL when not given */
} TfmEvalOptions;

extern void TfmEvalOptionsRead(TfmEvalOptions *o, Jsonb *options, bool classification,
							   const char *model, char *const *labels, int nlabels);
extern const char *TfmEvalPositive(const TfmEvalOptions *o, bool boolean_labels);
extern TfmGroups *TfmGroupSet(const char *const *group, int n);
extern void TfmEvalClassJson(StringInfo out, const int *truth, const int *pred, int n, int K,
							 const char *const *labels, const TfmGroups *groups, const char *positive);
extern void TfmEvalRegJson(StringInfo out, const double *truth, const double *pred, int n,
						   const TfmGroups *groups);

#endif
