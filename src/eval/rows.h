/* rows.h: (text, label) rows streamed from a user query through an SPI cursor, tokenized on the fly */
#ifndef TFM_ROWS_H
#define TFM_ROWS_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/array.h"

#include "model/mlp.h"
#include "store/cache.h"

typedef struct TfmRows
{
	int			n;
	int			cap;
	int32	  **ids;			/* text rows: truncated token ids per row */
	int		   *lens;
	char	  **label;			/* classification: label text per row */
	double	   *target;			/* regression: target per row */
	char	  **group;			/* TfmRowsReadGrouped: the third column's text per row, NULL for SQL NULL */
	bool		want_group;		/* read the third column (TfmRowsReadGrouped) */
	bool		has_group;		/* the query has a third column, read into group */
	bool		label_bool;		/* the label column is boolean */
	bool		pair;			/* a cross-encoder's rows: (a text, b text, label [, group]), ids of the pair */
	bool		label_numeric;	/* the label column is of a numeric type */
	int		   *query;			/* pair rows: the number of the row's a text (its query), equal texts equal */
	int			nqueries;		/* pair rows: distinct a texts, numbered 0 .. nqueries - 1 in order of first appearance */
	struct HTAB *queries;		/* the distinct a texts so far */
	int64		query_bytes;	/* their size */
	int64		skipped;		/* rows with a NULL text or label */
	int64		tokens;			/* sum of lens */
	int			max_labels;		/* classification: most distinct labels allowed (0: no limit) */
	int			nlabels;		/* distinct labels so far (counted when max_labels > 0) */
	struct HTAB *distinct;		/* the distinct labels so far */
	int			dim;			/* feature rows (TfmRowsReadFeatures): features per row, 0 for text rows */
	float	   *feats;			/* feature rows: (n, dim) */
} TfmRows;

/* largest absolute regression target: statistics, metrics and real predictions stay finite */
#define TFM_MAX_TARGET 1e30

extern void TfmRowsRead(TfmRows *r, const char *query, TfmTask task, const TfmModel *m, int max_tokens,
						int max_labels);
extern void TfmRowsReadGrouped(TfmRows *r, const char *query, TfmTask task, const TfmModel *m, int max_tokens, int dim);
extern char *TfmColumnText(HeapTuple tup, TupleDesc td, int col);
extern void TfmRowsReadFeatures(TfmRows *r, const char *query, TfmTask task, int dim, int max_labels);
extern int	TfmFeatureArray(float *out, ArrayType *a, int dim, const char *what);
extern float *TfmFeatureMatrix(ArrayType *a, int dim, int *rows);
extern int	TfmTextNumbers(char ***distinct, int **num, char *const *texts, int n);
extern int	TfmLabelSet(char ***labels, int **y, const TfmRows *r);
extern double TfmLabelNumber(const char *label);
extern int	TfmLabelIndex(char *const *labels, int K, const char *label);
extern int	TfmSortUnique(char **s, int n);

#endif
