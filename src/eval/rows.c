/* rows.c: reads (text, label) rows of a user query in batches through an SPI cursor */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/hsearch.h"

#include "eval/rows.h"
#include "infer/infer.h"
#include "pg_tfm.h"

#define FETCH_ROWS 256

/* grow the row arrays to hold one more row */
static void
grow(TfmRows *r)
{
	if (r->n < r->cap)
		return;
	r->cap = r->cap ? r->cap * 2 : 1024;
	if (r->ids == NULL)
	{
		r->ids = palloc(sizeof(int32 *) * r->cap);
		r->lens = palloc(sizeof(int) * r->cap);
		r->label = palloc(sizeof(char *) * r->cap);
		r->target = palloc(sizeof(double) * r->cap);
		r->group = palloc(sizeof(char *) * r->cap);
		r->query = palloc(sizeof(int) * r->cap);
		return;
	}
	r->ids = repalloc_huge(r->ids, sizeof(int32 *) * r->cap);
	r->lens = repalloc_huge(r->lens, sizeof(int) * r->cap);
	r->label = repalloc_huge(r->label, sizeof(char *) * r->cap);
	r->target = repalloc_huge(r->target, sizeof(double) * r->cap);
	r->group = repalloc_huge(r->group, sizeof(char *) * r->cap);
	r->query = repalloc_huge(r->query, sizeof(int) * r->cap);
}

/* grow the feature matrix with the row arrays */
static void
grow_features(TfmRows *r)
{
	int			had = r->cap;

	grow(r);
	if (r->feats == NULL || had != r->cap)
	{
		TfmCheckMemory((double) r->cap * r->dim * sizeof(float) + (double) r->cap * 32, "the rows of the query");
		r->feats = r->feats ? repalloc_huge(r->feats, sizeof(float) * r->cap * r->dim)
			: palloc_extended(sizeof(float) * r->cap * r->dim, MCXT_ALLOC_HUGE);
	}
}

/*
 * column col of a row as text, as col::text gives it: booleans as true/false, everything else by its
 * output function; NULL for SQL NULL
 */
char *
TfmColumnText(HeapTuple tup, TupleDesc td, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, td, col, &isnull);

	if (isnull)
		return NULL;
	if (SPI_gettypeid(td, col) == BOOLOID)
		return pstrdup(DatumGetBool(d) ? "true" : "false");
	return SPI_getvalue(tup, td, col);
}

/* the column of the label: the second, or the third of a cross-encoder's (a, b, label) rows */
#define LABEL_COL(r) ((r)->pair ? 3 : 2)

/* the target of a row (column col) as a finite number within [-TFM_MAX_TARGET, TFM_MAX_TARGET] */
static double
target_value(HeapTuple tup, TupleDesc td, int col)
{
	char	   *s = SPI_getvalue(tup, td, col), *end;
	double		v = strtod(s, &end);

	if (end == s || *end != '\0' || !isfinite(v))
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("regression target \"%s\" is not a finite number", s),
						errhint("The label column of the query must be numeric for task 'regression'.")));
	if (fabs(v) > TFM_MAX_TARGET)
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("regression target %g is outside the supported range [-1e30, 1e30]", v),
						errhint("Scale the targets in the query (for example divide by a constant, or take a logarithm) and scale the predictions back.")));
	return v;
}

/* hash of a C string behind the key pointer */
static uint32
cstring_ptr_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

/* compare two C strings behind key pointers, 0 when equal */
static int
cstring_ptr_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* a string of a table of distinct strings and its number, in order of first sight */
typedef struct InternedString
{
	char	   *s;				/* the key: the string */
	int			number;
} InternedString;

/*
 * the number of s among the distinct strings of *h (made on first use in the current memory context),
 * counted in *count; *is_new when s was not there (then the table keeps s, else the caller may free it)
 */
static int
intern_string(HTAB **h, char *s, int *count, bool *is_new)
{
	InternedString *e;
	bool		found;

	if (*h == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(InternedString);
		ctl.hash = cstring_ptr_hash;
		ctl.match = cstring_ptr_match;
		ctl.hcxt = CurrentMemoryContext;
		*h = hash_create("pg_tfm strings", 256, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	e = hash_search(*h, &s, HASH_ENTER, &found);
	if (!found)
		e->number = (*count)++;
	*is_new = !found;
	return e->number;
}

/* count a row's label among the distinct ones; error 54000 past r->max_labels */
static void
count_label(TfmRows *r, char *label)
{
	bool		is_new;

	if (r->max_labels <= 0)
		return;
	(void) intern_string(&r->distinct, label, &r->nlabels, &is_new);
	if (is_new && r->nlabels > r->max_labels)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("the training query gave more than %d distinct labels", r->max_labels),
						errhint("pg_tfm trains classifiers with at most %d labels: group rare labels (for example into 'other'), "
								"or use tfm_embed with a nearest-neighbour search for many classes.", r->max_labels)));
}

/* the number of a pair row's a text among the distinct ones (the queries of a cross-encoder's rows) */
static int
query_number(TfmRows *r, text *a)
{
	char	   *s = text_to_cstring(a);
	bool		is_new;
	int			q = intern_string(&r->queries, s, &r->nqueries, &is_new);

	if (is_new)
		r->query_bytes += strlen(s) + 1 + sizeof(InternedString) * 2;
	else
		pfree(s);
	return q;
}

/* the label or target (the caller checked it is not NULL) and the group of a row being added */
static void
add_label(TfmRows *r, HeapTuple tup, TupleDesc td, TfmTask task)
{
	if (task == TFM_TASK_CLASSIFICATION)
	{
		r->label[r->n] = TfmColumnText(tup, td, LABEL_COL(r));
		count_label(r, r->label[r->n]);
	}
	else
		r->target[r->n] = target_value(tup, td, LABEL_COL(r));
	r->group[r->n] = r->has_group ? TfmColumnText(tup, td, LABEL_COL(r) + 1) : NULL;
}

/* add one fetched text row (a pair's ids, truncated longest first as tfm_rerank does, for pair rows) */
static void
add_row(TfmRows *r, HeapTuple tup, TupleDesc td, TfmTask task, const TfmModel *m, int max_tokens, MemoryContext keep)
{
	bool		null1, null2, null3 = false;
	Datum		d = SPI_getbinval(tup, td, 1, &null1);
	Datum		b = SPI_getbinval(tup, td, 2, &null2);
	MemoryContext old;

	if (r->pair)
		(void) SPI_getbinval(tup, td, 3, &null3);
	if (null1 || null2 || null3)
	{
		r->skipped++;
		return;
	}
	old = MemoryContextSwitchTo(keep);
	grow(r);
	if (r->pair)
		r->ids[r->n] = TfmTextEncodePair(m, DatumGetTextPP(d), b, max_tokens, &r->lens[r->n]);
	else
		r->ids[r->n] = TfmTextEncodeTruncated(m, d, max_tokens, &r->lens[r->n]);
	r->ids[r->n] = repalloc(r->ids[r->n], sizeof(int32) * r->lens[r->n]);
	r->tokens += r->lens[r->n];
	r->query[r->n] = r->pair ? query_number(r, DatumGetTextPP(d)) : 0;
	TfmCheckMemory((double) r->tokens * sizeof(int32) + (double) r->query_bytes +
				   (double) r->cap * (sizeof(int32 *) + 2 * sizeof(int) + 2 * sizeof(char *) + sizeof(double)),
				   "the rows of the query");
	add_label(r, tup, td, task);
	r->n++;
	MemoryContextSwitchTo(old);
}

/* the elements of a real[] or float8[] array as floats into out; NULL (22004), NaN or Infinity (22003) are errors */
static void
feature_values(float *out, ArrayType *a, int dim, const char *what)
{
	Oid			et = ARR_ELEMTYPE(a);
	Datum	   *d;
	bool	   *nulls;
	int			n;

	if (et == FLOAT4OID)
		deconstruct_array(a, FLOAT4OID, 4, true, TYPALIGN_INT, &d, &nulls, &n);
	else
		deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		double		v = nulls[i] ? 0 : et == FLOAT4OID ? DatumGetFloat4(d[i]) : DatumGetFloat8(d[i]);
		char	   *where = dim > 0 && n > dim ? psprintf("%s %d", what, i / dim + 1) : pstrdup(what);

		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("feature %d of %s is NULL", i % Max(dim, 1) + 1, where),
							errhint("Impute missing values in the query, for example coalesce(x, 0) with an indicator feature.")));
		if (!isfinite(v) || fabs(v) > 1e30)
			ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							errmsg("feature %d of %s is not a finite number within [-1e30, 1e30]: %g", i % Max(dim, 1) + 1, where, v),
							errhint("Replace NaN and Infinity in the query before training or scoring.")));
		pfree(where);
		out[i] = (float) v;
	}
	pfree(d);
	pfree(nulls);
}

/* refuse an array that is not real[] or float8[] (42804) */
static void
check_feature_type(ArrayType *a, const char *what)
{
	Oid			et = ARR_ELEMTYPE(a);

	if (et != FLOAT4OID && et != FLOAT8OID)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("%s must be real[] or float8[], not %s", what, format_type_be(get_array_type(et)))));
}

/*
 * a feature vector (real[] or float8[], one dimension) into out; dim > 0: it must have dim elements,
 * else out must hold TFM_MAX_FEATURES; returns the number of features. NULL elements (22004), NaN and
 * Infinity (22003), empty, multi-dimensional or wrong-length arrays (2202E) are errors.
 */
int
TfmFeatureArray(float *out, ArrayType *a, int dim, const char *what)
{
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

	check_feature_type(a, what);
	if (n == 0 || ARR_NDIM(a) != 1)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("%s must be a one-dimensional array with at least one element", what)));
	if (dim > 0 && n != dim)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("%s has %d features, %d expected", what, n, dim),
						errhint("Every feature vector must have as many elements as the first (the model's inputs).")));
	if (n > TFM_MAX_FEATURES)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("%s has %d features, at most %d are supported", what, n, TFM_MAX_FEATURES)));
	feature_values(out, a, dim, what);
	return n;
}

/*
 * a matrix of feature vectors, a two-dimensional real[] or float8[] array (rows, dim), into out (palloc'd);
 * returns the rows (0 for an empty array). Checked as TfmFeatureArray checks a vector.
 */
float *
TfmFeatureMatrix(ArrayType *a, int dim, int *rows)
{
	float	   *out;

	check_feature_type(a, "the features");
	*rows = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	if (ARR_NDIM(a) != 0 && (ARR_NDIM(a) != 2 || ARR_DIMS(a)[1] != dim))
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						errmsg("the features must be a two-dimensional array of %d columns, one row per vector", dim),
						errhint("array_agg(features ORDER BY id) of real[] or float8[] vectors builds one.")));
	TfmCheckMemory((double) *rows * dim * (sizeof(float) + sizeof(Datum) + 1), "the feature vectors");
	out = palloc_extended(sizeof(float) * Max((size_t) *rows * dim, 1), MCXT_ALLOC_HUGE);
	if (*rows > 0)
		feature_values(out, a, dim, "row");
	return out;
}

/* add one fetched feature row: a NULL label or target skips it, a NULL feature vector is an error */
static void
add_feature_row(TfmRows *r, HeapTuple tup, TupleDesc td, TfmTask task, MemoryContext keep)
{
	bool		null1, null2;
	Datum		d = SPI_getbinval(tup, td, 1, &null1);
	MemoryContext old;
	char		what[64];

	snprintf(what, sizeof(what), "row " INT64_FORMAT, r->n + r->skipped + 1);
	if (null1)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("the feature vector of %s is NULL", what),
						errhint("Filter such rows in the query (WHERE features IS NOT NULL) or impute them.")));
	(void) SPI_getbinval(tup, td, 2, &null2);
	if (null2)
	{
		r->skipped++;
		return;
	}
	old = MemoryContextSwitchTo(keep);
	if (r->dim == 0)
	{
		float	   *first = palloc(sizeof(float) * TFM_MAX_FEATURES);

		r->dim = TfmFeatureArray(first, DatumGetArrayTypeP(d), 0, what);
		grow_features(r);
		memcpy(r->feats, first, sizeof(float) * r->dim);
		pfree(first);
	}
	else
	{
		grow_features(r);
		(void) TfmFeatureArray(r->feats + (size_t) r->n * r->dim, DatumGetArrayTypeP(d), r->dim, what);
	}
	add_label(r, tup, td, task);
	r->n++;
	MemoryContextSwitchTo(old);
}

/* whether a column type is a feature vector */
static bool
is_feature_type(Oid t)
{
	return t == FLOAT4ARRAYOID || t == FLOAT8ARRAYOID;
}

/* whether a column type is a number (its category's, so domains over numbers too) */
static bool
type_is_numeric(Oid t)
{
	char		category;
	bool		preferred;

	get_type_category_preferred(t, &category, &preferred);
	return category == TYPCATEGORY_NUMERIC;
}

/* whether a column type is text */
static bool
is_text_type(Oid t)
{
	return t == TEXTOID || t == VARCHAROID;
}

/* refuse a query whose columns are not (input text, label), or (a text, b text, label) for a cross-encoder */
static void
check_text_columns(const TfmRows *r, TupleDesc td, const TfmModel *m)
{
	if (r->pair && (td->natts < 3 || !is_text_type(SPI_gettypeid(td, 1)) || !is_text_type(SPI_gettypeid(td, 2))))
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("model \"%s\" is a cross-encoder: the query must return (a text, b text, label) as its first three columns",
							   m->name),
						errhint("A cross-encoder reads text pairs, for example SELECT query, passage, relevant FROM judgements.")));
	if (!r->pair && (td->natts < 2 || !is_text_type(SPI_gettypeid(td, 1))))
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("the query must return (input text, label) as its first two columns")));
}

/* run query through a cursor and add its rows: text rows (m given) or feature rows (m NULL) */
static void
read_rows(TfmRows *r, const char *query, TfmTask task, const TfmModel *m, int max_tokens)
{
	MemoryContext keep = CurrentMemoryContext;
	Portal		portal;
	SPIPlanPtr	plan;

	r->pair = m != NULL && m->task == TFM_TASK_CROSS_ENCODER;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare_cursor(query, 0, NULL, CURSOR_OPT_NO_SCROLL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the training query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	if (m)
		check_text_columns(r, portal->tupDesc, m);	/* before any row is fetched */
	for (;;)
	{
		TupleDesc	td;

		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		td = SPI_tuptable->tupdesc;
		if (!m && (td->natts < 2 || !is_feature_type(SPI_gettypeid(td, 1))))
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
							errmsg("the query must return (features real[] or float8[], label) as its first two columns"),
							errhint("Build the vector in the query, for example ARRAY[amount, age]::real[].")));
		r->label_bool = SPI_gettypeid(td, LABEL_COL(r)) == BOOLOID;
		r->label_numeric = type_is_numeric(SPI_gettypeid(td, LABEL_COL(r)));
		r->has_group = r->want_group && td->natts >= LABEL_COL(r) + 1;
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			if (m)
				add_row(r, SPI_tuptable->vals[i], td, task, m, max_tokens, keep);
			else
				add_feature_row(r, SPI_tuptable->vals[i], td, task, keep);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	SPI_finish();
}

/*
 * run query and keep its rows' truncated ids and labels in the current memory context; more than
 * max_labels distinct labels (when > 0) stop the reading with an error
 */
void
TfmRowsRead(TfmRows *r, const char *query, TfmTask task, const TfmModel *m, int max_tokens, int max_labels)
{
	memset(r, 0, sizeof(*r));
	r->max_labels = max_labels;
	read_rows(r, query, task, m, max_tokens);
}

/*
 * run query and keep its rows' feature vectors (first column real[] or float8[], all of dim elements;
 * dim 0: as many as the first row's) and labels or targets
 */
void
TfmRowsReadFeatures(TfmRows *r, const char *query, TfmTask task, int dim, int max_labels)
{
	memset(r, 0, sizeof(*r));
	r->max_labels = max_labels;
	r->dim = dim;
	read_rows(r, query, task, NULL, 0);
}

/*
 * TfmRowsRead (m given) or TfmRowsReadFeatures (m NULL) for tfm_evaluate: also the third column (a group
 * attribute) when the query has one
 */
void
TfmRowsReadGrouped(TfmRows *r, const char *query, TfmTask task, const TfmModel *m, int max_tokens, int dim)
{
	memset(r, 0, sizeof(*r));
	r->want_group = true;
	r->dim = m ? 0 : dim;
	read_rows(r, query, task, m, max_tokens);
}

/* a numeric label column's text as a number, NaN when it is not one */
double
TfmLabelNumber(const char *label)
{
	char	   *end;
	double		v = strtod(label, &end);

	return end == label || *end != '\0' ? NAN : v;
}

/* index of a label in a sorted label set, or -1 */
int
TfmLabelIndex(char *const *labels, int K, const char *label)
{
	char	   *const *p = bsearch(&label, labels, K, sizeof(char *), pg_qsort_strcmp);

	return p ? (int) (p - labels) : -1;
}

/* sort n strings in place and keep the distinct ones first (the order TfmLabelIndex searches); returns how many */
int
TfmSortUnique(char **s, int n)
{
	int			k = 0;

	qsort(s, n, sizeof(char *), pg_qsort_strcmp);
	for (int i = 0; i < n; i++)
		if (k == 0 || strcmp(s[k - 1], s[i]) != 0)
			s[k++] = s[i];
	return k;
}

/* the sorted distinct ones of n texts into *distinct and each text's index among them into *num; returns how many */
int
TfmTextNumbers(char ***distinct, int **num, char *const *texts, int n)
{
	char	  **all = palloc_extended(sizeof(char *) * Max(n, 1), MCXT_ALLOC_HUGE);
	int			K;

	memcpy(all, texts, sizeof(char *) * n);
	K = TfmSortUnique(all, n);
	*distinct = all;
	*num = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		(*num)[i] = TfmLabelIndex(all, K, texts[i]);
	return K;
}

/* sorted distinct labels of the rows and each row's label index; returns K */
int
TfmLabelSet(char ***labels, int **y, const TfmRows *r)
{
	return TfmTextNumbers(labels, y, r->label, r->n);
}
