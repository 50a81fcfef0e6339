/* mlpfuncs.c: the SQL functions of feature-vector MLP models (mlpmodel.c): scoring one vector or many */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "eval/rows.h"
#include "infer/infer.h"
#include "jsonutil.h"
#include "model/mlpmodel.h"
#include "pg_tfm.h"
#include "sql/funcs.h"

PG_FUNCTION_INFO_V1(tfm_classify_features);
PG_FUNCTION_INFO_V1(tfm_score_features);
PG_FUNCTION_INFO_V1(tfm_predict_features);
PG_FUNCTION_INFO_V1(tfm_classify_features_many);
PG_FUNCTION_INFO_V1(tfm_score_features_many);
PG_FUNCTION_INFO_V1(tfm_predict_features_many);

/* the MLP model of a call and its task checked (42809 for other models) */
static TfmModel *
mlp_model(FunctionCallInfo fcinfo, TfmTask task, const char *fn)
{
	TfmModel   *m = TfmCallModel(fcinfo, 1);

	TfmRequireArch(m, TFM_ARCH_MLP, fn);
	if (m->task != task)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is a %s model, %s needs a %s model", m->name, TfmTaskName(m->task), fn,
							   TfmTaskName(task)),
						errhint("Train one with tfm_train(name, 'mlp', query, '%s').", TfmTaskName(task))));
	return m;
}

/* outputs of one feature vector argument */
static float *
one_vector(const TfmModel *m, ArrayType *a)
{
	int			D = m->mlp->dims[0];
	float	   *x = palloc(sizeof(float) * D);
	float	   *out = palloc(sizeof(float) * m->nlabels);

	(void) TfmFeatureArray(x, a, D, "the feature vector");
	TfmMlpOutputs(out, m, x, 1);
	return out;
}

/* index of a label of the model, error 22023 when it has none such */
static int
label_index(const TfmModel *m, text *label)
{
	char	   *s = text_to_cstring(label);

	for (int k = 0; k < m->nlabels; k++)
		if (strcmp(m->labels[k], s) == 0)
			return k;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("model \"%s\" has no label \"%s\"", m->name, s),
					errhint("tfm.models lists its labels.")));
	return -1;
}

/* index of the largest of K values */
static int
argmax(const float *p, int K)
{
	int			best = 0;

	for (int k = 1; k < K; k++)
		if (p[k] > p[best])
			best = k;
	return best;
}

/* tfm_classify(features, model): the most likely label */
Datum
tfm_classify_features(PG_FUNCTION_ARGS)
{
	TfmModel   *m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = mlp_model(fcinfo, TFM_TASK_CLASSIFICATION, "tfm_classify");
	PG_RETURN_TEXT_P(cstring_to_text(m->labels[argmax(one_vector(m, PG_GETARG_ARRAYTYPE_P(0)), m->nlabels)]));
}

/* tfm_score(features, model, label): probability of label */
Datum
tfm_score_features(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	int			k;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	m = mlp_model(fcinfo, TFM_TASK_CLASSIFICATION, "tfm_score");
	k = label_index(m, PG_GETARG_TEXT_PP(2));
	PG_RETURN_FLOAT4(one_vector(m, PG_GETARG_ARRAYTYPE_P(0))[k]);
}

/* tfm_predict(features, model): output of a regression model */
Datum
tfm_predict_features(PG_FUNCTION_ARGS)
{
	TfmModel   *m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = mlp_model(fcinfo, TFM_TASK_REGRESSION, "tfm_predict");
	PG_RETURN_FLOAT4(one_vector(m, PG_GETARG_ARRAYTYPE_P(0))[0]);
}

/* outputs (n,K) of the rows of a two-dimensional features argument; n 0 for an empty array */
static float *
many_vectors(const TfmModel *m, ArrayType *a, int *n)
{
	float	   *x = TfmFeatureMatrix(a, m->mlp->dims[0], n);
	float	   *out = palloc_extended(sizeof(float) * Max((size_t) *n * m->nlabels, 1), MCXT_ALLOC_HUGE);

	TfmMlpOutputs(out, m, x, *n);
	pfree(x);
	return out;
}

/* tfm_classify_many(features[][], model): the most likely label of each row */
Datum
tfm_classify_features_many(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	float	   *p;
	int			n;
	Datum	   *d;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = mlp_model(fcinfo, TFM_TASK_CLASSIFICATION, "tfm_classify_many");
	p = many_vectors(m, PG_GETARG_ARRAYTYPE_P(0), &n);
	d = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(m->labels[argmax(p + (size_t) i * m->nlabels, m->nlabels)]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* a real[] of n floats, every stride-th from first */
static ArrayType *
strided(const float *first, int n, int stride)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(first[(size_t) i * stride]);
	return construct_array(d, n, FLOAT4OID, 4, true, TYPALIGN_INT);
}

/* tfm_score_many(features[][], model, label): the probability of label for each row */
Datum
tfm_score_features_many(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	float	   *p;
	int			n, k;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	m = mlp_model(fcinfo, TFM_TASK_CLASSIFICATION, "tfm_score_many");
	k = label_index(m, PG_GETARG_TEXT_PP(2));
	p = many_vectors(m, PG_GETARG_ARRAYTYPE_P(0), &n);
	PG_RETURN_ARRAYTYPE_P(strided(p + k, n, m->nlabels));
}

/* tfm_predict_many(features[][], model): the regression output of each row */
Datum
tfm_predict_features_many(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	float	   *p;
	int			n;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = mlp_model(fcinfo, TFM_TASK_REGRESSION, "tfm_predict_many");
	p = many_vectors(m, PG_GETARG_ARRAYTYPE_P(0), &n);
	PG_RETURN_ARRAYTYPE_P(strided(p, n, 1));
}
