/* evaluate.c: tfm_evaluate() (metrics of a trained model on the rows of a query) and the metrics functions
 * for checking by hand, tfm._classification_metrics(), tfm._regression_metrics() and tfm._ranking_metrics(), and
 * tfm._pair_split() (the validation rows of a cross-encoder's training) */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "eval/fairness.h"
#include "eval/metrics.h"
#include "eval/rows.h"
#include "infer/infer.h"
#include "jsonutil.h"
#include "model/encoder.h"
#include "model/mlpmodel.h"
#include "pg_tfm.h"
#include "train/trainpair.h"

PG_FUNCTION_INFO_V1(tfm_evaluate);

/* a label and its index in the model's labels */
typedef struct IndexedLabel
{
	char	   *label;
	int			index;
} IndexedLabel;

/* compare two indexed labels by label */
static int
cmp_indexed(const void *a, const void *b)
{
	return strcmp(((const IndexedLabel *) a)->label, ((const IndexedLabel *) b)->label);
}

/* index of label in the model's labels through their sorted copy s, or -1 */
static int
model_label_index(const IndexedLabel *s, int K, const char *label)
{
	IndexedLabel key = {(char *) label, 0};
	const IndexedLabel *p = bsearch(&key, s, K, sizeof(IndexedLabel), cmp_indexed);

	return p ? p->index : -1;
}

/*
 * each row's truth label as an index into labels: the model's K labels (sorted for trained models, in
 * id2label order for imported checkpoints), then the labels the model never saw, sorted; returns the
 * number of labels (O(n log n), whatever the labels)
 */
static int
truth_indexes(int *truth, char ***labels, const TfmModel *m, const TfmRows *rows)
{
	int			K = m->nlabels, nn = 0;
	char	  **novel = palloc(sizeof(char *) * Max(rows->n, 1));
	IndexedLabel *sorted = palloc(sizeof(IndexedLabel) * Max(K, 1));

	for (int k = 0; k < K; k++)
		sorted[k].label = m->labels[k], sorted[k].index = k;
	qsort(sorted, K, sizeof(IndexedLabel), cmp_indexed);
	for (int i = 0; i < rows->n; i++)
		if (model_label_index(sorted, K, rows->label[i]) < 0)
			novel[nn++] = rows->label[i];
	nn = TfmSortUnique(novel, nn);
	*labels = palloc(sizeof(char *) * Max(K + nn, 1));
	memcpy(*labels, m->labels, sizeof(char *) * K);
	memcpy(*labels + K, novel, sizeof(char *) * nn);
	for (int i = 0; i < rows->n; i++)
	{
		int			k = model_label_index(sorted, K, rows->label[i]);

		truth[i] = k >= 0 ? k : K + TfmLabelIndex(novel, nn, rows->label[i]);
	}
	return K + nn;
}

/*
 * the metrics JSON of a model's outputs on rows, the same for every architecture: classification reads
 * out (n,K; logits or probabilities: the largest wins), regression the predicted values pv (n); with groups
 * (the query's third column) also the metrics by group and, for a positive label, the fairness gaps
 */
static void
evaluation_metrics(StringInfo s, const TfmModel *m, const TfmRows *rows, const float *out, const double *pv,
				   const TfmGroups *groups, const char *positive)
{
	int			K = m->nlabels;

	if (m->task == TFM_TASK_CLASSIFICATION)
	{
		int		   *truth = palloc(sizeof(int) * Max(rows->n, 1)), *pred = palloc(sizeof(int) * Max(rows->n, 1));
		char	  **labels;
		int			all = truth_indexes(truth, &labels, m, rows);

		for (int i = 0; i < rows->n; i++)
		{
			pred[i] = 0;
			for (int k = 1; k < K; k++)
				if (out[(size_t) i * K + k] > out[(size_t) i * K + pred[i]])
					pred[i] = k;
		}
		TfmEvalClassJson(s, truth, pred, rows->n, all, (const char *const *) labels, groups, positive);
	}
	else
		TfmEvalRegJson(s, rows->target, pv, rows->n, groups);
}

/* a relevance grade, checked: a number in [0, TFM_MAX_GRADE] (22003; NaN too) */
static double
checked_grade(double v)
{
	if (!(v >= 0 && v <= TFM_MAX_GRADE))
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("relevance %g is not a grade in [0, %d]", v, TFM_MAX_GRADE),
						errhint("Give binary relevance as a boolean or 0/1, graded relevance as numbers from 0 (not relevant) up.")));
	return v;
}

/*
 * a cross-encoder's rows' grades into rel when the label column is numeric; true when one is neither 0 nor 1
 * (graded relevance), false for binary relevance (any other column, or numbers all 0 or 1)
 */
static bool
pair_grades(double *rel, const TfmRows *rows)
{
	bool		graded = false;

	for (int i = 0; rows->label_numeric && i < rows->n; i++)
	{
		rel[i] = checked_grade(TfmLabelNumber(rows->label[i]));
		graded |= rel[i] != 0 && rel[i] != 1;
	}
	return graded;
}

/*
 * binary relevance of a cross-encoder's rows: each row's truth index into two labels, the second the relevant
 * one (in sort order; 1 of numbers, whose labels are "0" and "1"), also as its grade into rel; 22023 unless two
 */
static int *
binary_truth(char ***labels, double *rel, const TfmModel *m, const TfmRows *rows)
{
	int		   *truth, K;

	if (rows->label_numeric)	/* rel holds 0 and 1 */
	{
		bool		seen[2] = {false, false};

		truth = palloc(sizeof(int) * Max(rows->n, 1));
		for (int i = 0; i < rows->n; i++)
		{
			truth[i] = rel[i] > 0;
			seen[truth[i]] = true;
		}
		*labels = palloc(sizeof(char *) * 2);
		(*labels)[0] = "0", (*labels)[1] = "1";
		K = seen[0] + seen[1];
	}
	else
		K = TfmLabelSet(labels, &truth, rows);
	if (K != 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" is a cross-encoder: tfm_evaluate needs rows of two labels, the query gave %d",
							   m->name, K),
						errhint("Give binary relevance as a boolean or 0/1 (the second label in sort order is the relevant one), "
								"or graded relevance as numbers.")));
	for (int i = 0; i < rows->n; i++)
		rel[i] = truth[i];
	return truth;
}

/*
 * the metrics JSON of a cross-encoder's logits on (a, b, label) rows: for binary relevance a classifier's
 * (relevant predicted where the logit is positive, its sigmoid above 0.5), for graded relevance (numbers not
 * all 0 or 1) a regressor's of the logit as the predicted grade; both with "ranking", each query's (a's)
 * documents ranked by their logits (metrics.c TfmRankMetrics)
 */
static void
pair_metrics(StringInfo s, const TfmModel *m, const TfmRows *rows, const float *out, const TfmGroups *groups,
			 const TfmEvalOptions *opt)
{
	double	   *rel = palloc_extended(sizeof(double) * Max(rows->n, 1), MCXT_ALLOC_HUGE);
	double	   *score = palloc_extended(sizeof(double) * Max(rows->n, 1), MCXT_ALLOC_HUGE);

	for (int i = 0; i < rows->n; i++)
		score[i] = out[i];
	if (pair_grades(rel, rows))
	{
		if (opt->positive)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("tfm_evaluate option \"positive\" applies to binary relevance, and the query gave graded relevance"),
							errhint("Graded relevance has regression and ranking metrics, without a positive label.")));
		TfmEvalRegJson(s, rel, score, rows->n, groups);
	}
	else
	{
		char	  **labels;
		int		   *truth = binary_truth(&labels, rel, m, rows), *pred = palloc(sizeof(int) * Max(rows->n, 1));

		for (int i = 0; i < rows->n; i++)
			pred[i] = out[i] > 0;
		TfmEvalClassJson(s, truth, pred, rows->n, 2, (const char *const *) labels, groups,
						 TfmEvalPositive(opt, rows->label_bool));
	}
	TfmRankMetricsAdd(s, rows->query, score, rel, rows->n);
}

/* outputs of an encoder model on text rows (head outputs; regression values into pv) */
static float *
text_outputs(const TfmModel *m, const TfmRows *rows, double *pv)
{
	int			C = m->enc->cfg.hidden, K = m->nlabels;
	float	   *x, *out;

	TfmCheckMemory((double) rows->n * (C + K) * sizeof(float) + (double) rows->n * 3 * sizeof(int), "evaluating the rows");
	x = palloc_extended(sizeof(float) * Max(rows->n, 1) * C, MCXT_ALLOC_HUGE);
	out = palloc_extended(sizeof(float) * Max(rows->n, 1) * K, MCXT_ALLOC_HUGE);
	TfmEncodeMany(x, m, &m->enc->w, rows->ids, rows->lens, rows->n, false);
	TfmHeadForward(out, m, m->head, x, rows->n);
	for (int i = 0; m->task == TFM_TASK_REGRESSION && i < rows->n; i++)
		pv[i] = out[i] * m->target_std + m->target_mean;
	pfree(x);
	return out;
}

/* outputs of an MLP model on feature rows (class probabilities; regression values also into pv) */
static float *
mlp_outputs(const TfmModel *m, const TfmRows *rows, double *pv)
{
	float	   *out;

	TfmCheckMemory((double) rows->n * (m->nlabels + 3.0) * sizeof(float), "evaluating the rows");
	out = palloc_extended(sizeof(float) * Max(rows->n, 1) * m->nlabels, MCXT_ALLOC_HUGE);
	TfmMlpOutputs(out, m, rows->feats, rows->n);
	for (int i = 0; m->task == TFM_TASK_REGRESSION && i < rows->n; i++)
		pv[i] = out[i];
	return out;
}

/*
 * tfm_evaluate(model, query [, options]): metrics of a trained model on the rows of query: (text, label)
 * rows for encoder models, (features real[]/float8[], label) rows for MLPs, one metrics code for both; a
 * third column of the query groups the rows (fairness.c)
 */
Datum
tfm_evaluate(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	TfmRows		rows;
	float	   *out;
	double	   *pv;
	StringInfoData s;
	char	   *query;
	TfmEvalOptions opt;
	TfmGroups  *groups = NULL;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = TfmModelGetAny(TfmModelName(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0)));
	if (m->task == TFM_TASK_EMBEDDING || m->task == TFM_TASK_GENERATION)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is %s model, tfm_evaluate needs a trained model", m->name,
							   m->task == TFM_TASK_EMBEDDING ? "an embedding" : "a text generation"),
						errhint("Train one with tfm_train().")));
	TfmEvalOptionsRead(&opt, PG_NARGS() > 2 && !PG_ARGISNULL(2) ? PG_GETARG_JSONB_P(2) : TfmJsonParse("{}", 2, "options"),
					   m->task != TFM_TASK_REGRESSION, m->name, m->task == TFM_TASK_CROSS_ENCODER ? NULL : m->labels, m->nlabels);
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (m->arch == TFM_ARCH_MLP)
		TfmRowsReadGrouped(&rows, query, m->task, NULL, 0, m->mlp->dims[0]);
	else						/* a cross-encoder's rows: (a, b, label [, group]), labels read as text */
		TfmRowsReadGrouped(&rows, query, m->task == TFM_TASK_CROSS_ENCODER ? TFM_TASK_CLASSIFICATION : m->task, m,
						   m->enc->opt.max_tokens, 0);
	if (rows.has_group)
		groups = TfmGroupSet((const char *const *) rows.group, rows.n);
	pv = palloc_extended(sizeof(double) * Max(rows.n, 1), MCXT_ALLOC_HUGE);
	out = m->arch == TFM_ARCH_MLP ? mlp_outputs(m, &rows, pv) : text_outputs(m, &rows, pv);
	initStringInfo(&s);
	if (m->task == TFM_TASK_CROSS_ENCODER)
		pair_metrics(&s, m, &rows, out, groups, &opt);
	else
		evaluation_metrics(&s, m, &rows, out, pv, groups, TfmEvalPositive(&opt, rows.label_bool));
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}

/* refuse metric arrays beyond TFM_MAX_METRIC_ROWS elements or the memory budget, before unpacking them */
static void
check_metric_array(ArrayType *a, double bytes_per_element)
{
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

	if (n > TFM_MAX_METRIC_ROWS)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("metrics of %d values requested, at most %d are supported", n, TFM_MAX_METRIC_ROWS),
						errhint("Compute the metrics on a sample, or aggregate them in SQL.")));
	TfmCheckMemory((double) n * bytes_per_element, "the metrics");
}

/* text[] argument (what: its name in errors) as C strings */
static char **
text_array(ArrayType *a, int *n, const char *what)
{
	Datum	   *d;
	bool	   *nulls;
	char	  **out;

	check_metric_array(a, 96.0);	/* datums, strings' headers, indexes, sort keys, per-label counts */
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, n);
	out = palloc_extended(sizeof(char *) * Max(*n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be NULL", what)));
		out[i] = TextDatumGetCString(d[i]);
	}
	return out;
}

/* tfm._classification_metrics(truth text[], pred text[]): the metrics tfm_evaluate reports, for checking by hand */
PG_FUNCTION_INFO_V1(tfm_classification_metrics);
Datum
tfm_classification_metrics(PG_FUNCTION_ARGS)
{
	int			n, np, K = 0;
	char	  **truth = text_array(PG_GETARG_ARRAYTYPE_P(0), &n, "labels");
	char	  **pred = text_array(PG_GETARG_ARRAYTYPE_P(1), &np, "labels");
	char	  **labels = palloc_extended(sizeof(char *) * Max(2 * (size_t) n, 1), MCXT_ALLOC_HUGE);
	int		   *ti = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	int		   *pi = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	StringInfoData s;

	if (n != np)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("truth and pred differ in length")));
	memcpy(labels, truth, sizeof(char *) * n);
	memcpy(labels + n, pred, sizeof(char *) * n);
	K = TfmSortUnique(labels, 2 * n);
	for (int i = 0; i < n; i++)
		ti[i] = TfmLabelIndex(labels, K, truth[i]), pi[i] = TfmLabelIndex(labels, K, pred[i]);
	initStringInfo(&s);
	TfmClassMetrics(&s, ti, pi, n, K, (const char *const *) labels);
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}

/* float8[] argument as doubles (NULL elements: 22004) */
static double *
float8_array(ArrayType *a, int *n)
{
	Datum	   *d;
	double	   *out;

	check_metric_array(a, 32.0);
	deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, NULL, n);
	out = palloc_extended(sizeof(double) * Max(*n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < *n; i++)
		out[i] = DatumGetFloat8(d[i]);
	return out;
}

/* tfm._regression_metrics(truth float8[], pred float8[]) */
PG_FUNCTION_INFO_V1(tfm_regression_metrics);
Datum
tfm_regression_metrics(PG_FUNCTION_ARGS)
{
	int			n, nb;
	double	   *ta = float8_array(PG_GETARG_ARRAYTYPE_P(0), &n), *tb = float8_array(PG_GETARG_ARRAYTYPE_P(1), &nb);
	StringInfoData s;

	if (n != nb)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("truth and pred differ in length")));
	initStringInfo(&s);
	TfmRegMetrics(&s, ta, tb, n);
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}

/*
 * tfm._ranking_metrics(queries text[], scores float8[], relevance float8[]): the "ranking" of a cross-encoder's
 * tfm_evaluate, for checking by hand: documents of the same query text ranked by score
 */
PG_FUNCTION_INFO_V1(tfm_ranking_metrics);
Datum
tfm_ranking_metrics(PG_FUNCTION_ARGS)
{
	int			n, ns, nr;
	char	  **queries = text_array(PG_GETARG_ARRAYTYPE_P(0), &n, "queries");
	double	   *score = float8_array(PG_GETARG_ARRAYTYPE_P(1), &ns), *rel = float8_array(PG_GETARG_ARRAYTYPE_P(2), &nr);
	char	  **distinct;
	int		   *query;
	StringInfoData s;

	if (n != ns || n != nr)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("queries, scores and relevance differ in length")));
	(void) TfmTextNumbers(&distinct, &query, queries, n);
	for (int i = 0; i < n; i++)
	{
		if (isnan(score[i]))
			ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE), errmsg("score %d is NaN", i + 1)));
		(void) checked_grade(rel[i]);
	}
	initStringInfo(&s);
	TfmRankMetrics(&s, query, score, rel, n);
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}

/*
 * tfm._pair_split(queries text[], labels text[], task text, validation_fraction float8, seed int8): true where
 * tfm_train on a cross-encoder validates the row, given its rows' a texts and labels in the query's order
 * (train.c split: the generator seeded, then TfmSplitQueries), for checking by hand
 */
PG_FUNCTION_INFO_V1(tfm_pair_split);
Datum
tfm_pair_split(PG_FUNCTION_ARGS)
{
	int			n, nl, K, ntrain, nval, *query, *y, *train, *val;
	char	  **distinct;
	char	  **queries = text_array(PG_GETARG_ARRAYTYPE_P(0), &n, "queries");
	char	  **labels = text_array(PG_GETARG_ARRAYTYPE_P(1), &nl, "labels");
	TfmTask		task = TfmTaskFromName(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	double		frac = PG_GETARG_FLOAT8(3);
	int64		seed = PG_GETARG_INT64(4);
	Datum	   *out;
	TfmRng		rng;

	if (n != nl)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("queries and labels differ in length")));
	if (!(frac >= 0 && frac <= 0.9) || seed < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("validation_fraction must be between 0 and 0.9 and seed not negative")));
	(void) TfmTextNumbers(&distinct, &query, queries, n);
	K = TfmTextNumbers(&distinct, &y, labels, n);
	train = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	val = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	TfmRngSeed(&rng, (uint64) seed);
	TfmSplitQueries(&rng, query, y, n, task == TFM_TASK_CLASSIFICATION ? K : 1, frac, train, &ntrain, val, &nval);
	out = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		out[i] = BoolGetDatum(false);
	for (int i = 0; i < nval; i++)
		out[val[i]] = BoolGetDatum(true);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, n, BOOLOID, 1, true, TYPALIGN_CHAR));
}
