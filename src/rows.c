/* rows.c: reads (text, label) rows of a user query in batches through an SPI cursor */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"

#include "infer.h"
#include "pg_tfm.h"
#include "rows.h"

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
		return;
	}
	r->ids = repalloc_huge(r->ids, sizeof(int32 *) * r->cap);
	r->lens = repalloc_huge(r->lens, sizeof(int) * r->cap);
	r->label = repalloc_huge(r->label, sizeof(char *) * r->cap);
	r->target = repalloc_huge(r->target, sizeof(double) * r->cap);
	r->group = repalloc_huge(r->group, sizeof(char *) * r->cap);
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

/* the target of a row as a finite number within [-TFM_MAX_TARGET, TFM_MAX_TARGET] */
static double
target_value(HeapTuple tup, TupleDesc td)
{
	char	   *s = SPI_getvalue(tup, td, 2), *end;
	double		v = strtod(s, &end);

	if (end == s || *end != '\0' || !isfinite(v))
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("regression target \"%s\" is not a finite number", s),
						errhint("The second column of the query must be numeric for task 'regression'.")));
	if (fabs(v) > TFM_MAX_TARGET)
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("regression target %g is outside the supported range [-1e30, 1e30]", v),
						errhint("Scale the targets in the query (for example divide by a constant, or take a logarithm) and scale the predictions back.")));
	return v;
}

/* hash of a label (a C string behind the key pointer) */
static uint32
label_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

/* compare two labels behind key pointers, 0 when equal */
static int
label_match(const void *a, const void *b, Size keysize)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* count a row's label among the distinct ones; error 54000 past r->max_labels */
static void
count_label(TfmRows *r, char *label)
{
	bool		found;

	if (r->max_labels <= 0)
		return;
	if (r->distinct == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(char *);
		ctl.hash = label_hash;
		ctl.match = label_match;
		ctl.hcxt = CurrentMemoryContext;
		r->distinct = hash_create("pg_tfm labels", 256, &ctl, HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	(void) hash_search(r->distinct, &label, HASH_ENTER, &found);
	if (!found && ++r->nlabels > r->max_labels)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("the training query gave more than %d distinct labels", r->max_labels),
						errhint("pg_tfm trains classifiers with at most %d labels: group rare labels (for example into 'other'), "
								"or use tfm_embed with a nearest-neighbour search for many classes.", r->max_labels)));
}

/* add one fetched row */
static void
add_row(TfmRows *r, HeapTuple tup, TupleDesc td, TfmTask task, const TfmModel *m, int max_tokens, MemoryContext keep)
{
	bool		null1, null2;
	Datum		d = SPI_getbinval(tup, td, 1, &null1);
	MemoryContext old;

	(void) SPI_getbinval(tup, td, 2, &null2);
	if (null1 || null2)
	{
		r->skipped++;
		return;
	}
	old = MemoryContextSwitchTo(keep);
	grow(r);
	r->ids[r->n] = TfmTokenizeTruncated(m, d, max_tokens, &r->lens[r->n]);
	r->ids[r->n] = repalloc(r->ids[r->n], sizeof(int32) * r->lens[r->n]);
	r->tokens += r->lens[r->n];
	TfmCheckMemory((double) r->tokens * sizeof(int32) + (double) r->cap * (sizeof(int32 *) + sizeof(int) + 2 * sizeof(char *) + sizeof(double)),
				   "the rows of the query");
	if (task == TFM_TASK_CLASSIFICATION)
	{
		r->label[r->n] = TfmColumnText(tup, td, 2);
		count_label(r, r->label[r->n]);
	}
	else
		r->target[r->n] = target_value(tup, td);
	r->group[r->n] = r->has_group ? TfmColumnText(tup, td, 3) : NULL;
	r->n++;
	MemoryContextSwitchTo(old);
}

/* run query and keep its rows in the current memory context (r set up by the caller) */
static void
read_rows(TfmRows *r, const char *query, TfmTask task, const TfmModel *m, int max_tokens)
{
	MemoryContext keep = CurrentMemoryContext;
	Portal		portal;
	SPIPlanPtr	plan;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare_cursor(query, 0, NULL, CURSOR_OPT_NO_SCROLL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the training query: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_tuptable->tupdesc->natts < 2 || (SPI_gettypeid(SPI_tuptable->tupdesc, 1) != TEXTOID &&
												 SPI_gettypeid(SPI_tuptable->tupdesc, 1) != VARCHAROID))
			ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
							errmsg("the query must return (input text, label) as its first two columns")));
		r->label_bool = SPI_gettypeid(SPI_tuptable->tupdesc, 2) == BOOLOID;
		r->has_group = r->want_group && SPI_tuptable->tupdesc->natts >= 3;
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
			add_row(r, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, task, m, max_tokens, keep);
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

/* TfmRowsRead for tfm_evaluate: also the third column (a group attribute) when the query has one */
void
TfmRowsReadGrouped(TfmRows *r, const char *query, TfmTask task, const TfmModel *m, int max_tokens)
{
	memset(r, 0, sizeof(*r));
	r->want_group = true;
	read_rows(r, query, task, m, max_tokens);
}

/* compare two C strings for qsort */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* index of a label in a sorted label set, or -1 */
int
TfmLabelIndex(char *const *labels, int K, const char *label)
{
	char	   *const *p = bsearch(&label, labels, K, sizeof(char *), cmp_str);

	return p ? (int) (p - labels) : -1;
}

/* sort n strings in place and keep the distinct ones first (the order TfmLabelIndex searches); returns how many */
int
TfmSortUnique(char **s, int n)
{
	int			k = 0;

	qsort(s, n, sizeof(char *), cmp_str);
	for (int i = 0; i < n; i++)
		if (k == 0 || strcmp(s[k - 1], s[i]) != 0)
			s[k++] = s[i];
	return k;
}

/* sorted distinct labels of the rows and each row's label index; returns K */
int
TfmLabelSet(char ***labels, int **y, const TfmRows *r)
{
	char	  **all = palloc(sizeof(char *) * Max(r->n, 1));
	int			K;

	memcpy(all, r->label, sizeof(char *) * r->n);
	K = TfmSortUnique(all, r->n);
	*labels = all;
	*y = palloc(sizeof(int) * Max(r->n, 1));
	for (int i = 0; i < r->n; i++)
		(*y)[i] = TfmLabelIndex(all, K, r->label[i]);
	return K;
}
