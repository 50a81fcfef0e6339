/* mlpmodel.c: the feature-vector MLP family: a model loaded from its catalog row, its outputs on raw vectors */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "jsonutil.h"
#include "model/head.h"
#include "model/mlpmodel.h"

#define CHUNK 1024				/* rows through the network at a time */

/* a stored model that does not fit its own description */
static void
corrupt(const TfmModel *m, const char *what)
{
	ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
					errmsg("model \"%s\" has %s that does not fit its configuration", m->name, what)));
}

/* n numbers of the JSON array at key into out (in m's context); false when absent or of another length */
static bool
json_numbers(float *out, JsonbContainer *c, const char *key, int n, bool reciprocal)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	int			i = 0;

	if (!TfmJsonGet(c, key, &v) || v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		return false;
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		double		x;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvNumeric || i >= n)
			return false;
		x = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
		if (!isfinite(x) || (reciprocal && !(x > 0)))
			return false;
		out[i++] = (float) (reciprocal ? 1.0 / x : x);
	}
	return i == n;
}

/* layer widths of config's "hidden" array into dims[1..]; returns the number of linear layers, -1 if malformed */
static int
config_layers(int *dims, JsonbContainer *c)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	int			L = 1;

	if (!TfmJsonGet(c, "hidden", &v) || v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		return -1;
	it = JsonbIteratorInit(v.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (L == TFM_MLP_MAX_LAYERS)
			return -1;
		dims[L++] = (int) TfmJsonNumericToInt(&v, 1, 4096, "config", "hidden");
	}
	return L;
}

/* fill m->mlp from the catalog row's config, options (standardisation) and head (the parameters) */
void
TfmMlpLoad(TfmModel *m, Jsonb *config, Jsonb *options, bytea *params)
{
	TfmMlpModel *p = MemoryContextAllocZero(m->mcxt, sizeof(TfmMlpModel));
	int			D;
	size_t		want;

	p->L = config_layers(p->dims, &config->root);
	if (p->L < 1)
		corrupt(m, "a list of hidden layers");
	D = p->dims[0] = TfmJsonGetInt(&config->root, "inputs", -1, 1, TFM_MAX_FEATURES, "config");
	p->dims[p->L] = TfmJsonGetInt(&config->root, "outputs", -1, 1, 100000, "config");
	if (p->dims[p->L] != m->nlabels)
		corrupt(m, "a number of outputs");
	want = sizeof(float) * TfmMlpParams(p->dims, p->L);
	if (params == NULL || VARSIZE_ANY_EXHDR(params) != want)
		corrupt(m, "parameters");
	p->params = MemoryContextAlloc(m->mcxt, want);
	memcpy(p->params, VARDATA_ANY(params), want);
	p->mean = MemoryContextAlloc(m->mcxt, sizeof(float) * D);
	p->rstd = MemoryContextAlloc(m->mcxt, sizeof(float) * D);
	if (!json_numbers(p->mean, &options->root, "feature_mean", D, false) ||
		!json_numbers(p->rstd, &options->root, "feature_std", D, true))
		corrupt(m, "feature statistics");
	m->mlp = p;
}

/*
 * outputs of an MLP model for n raw feature vectors x (n,D): class probabilities (n,K) or predicted
 * values (n); standardised and run CHUNK rows at a time
 */
void
TfmMlpOutputs(float *out, const TfmModel *m, const float *x, int n)
{
	const TfmMlpModel *p = m->mlp;
	int			D = p->dims[0], K = p->dims[p->L], R = Min(Max(n, 1), CHUNK);
	float	   *xs = palloc(sizeof(float) * R * D);
	float	   *acts = palloc(sizeof(float) * Max(TfmMlpActFloats(p->dims, p->L, R), 1));

	for (int off = 0; off < n; off += R)
	{
		int			r = Min(R, n - off);

		if (off > 0)
			CHECK_FOR_INTERRUPTS();
		for (size_t i = 0; i < (size_t) r * D; i++)
			xs[i] = (x[(size_t) off * D + i] - p->mean[i % D]) * p->rstd[i % D];
		mlp_forward(out + (size_t) off * K, acts, p->params, xs, p->dims, p->L, r, 0, 0);
	}
	if (m->task == TFM_TASK_CLASSIFICATION)
		TfmSoftmaxRows(out, n, K);
	else
		for (int i = 0; i < n; i++)
			out[i] = (float) (out[i] * m->target_std + m->target_mean);
	pfree(xs);
	pfree(acts);
}
