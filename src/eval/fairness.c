/*
 * fairness.c: the document tfm_evaluate returns, for predictions of any source (text or tabular models):
 * the metrics of metrics.c, and with a group column each group's metrics ("groups") and Fairlearn's
 * demographic-parity, equal-opportunity and equalized-odds gaps between the groups ("fairness")
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/numeric.h"

#include "eval/fairness.h"
#include "eval/metrics.h"
#include "eval/rows.h"
#include "jsonutil.h"
#include "pg_tfm.h"

/* significant digits of the per-group figures (the test compares them at 1e-9) */
#define DIGITS 15

static const char *const eval_options[] = {"positive", NULL};

/* the rates of one label against all others in some rows */
typedef struct Rates
{
	double		precision, recall, f1, selection_rate, tpr, fpr;
} Rates;

/* read and check tfm_evaluate's options (22023), before any row is read */
void
TfmEvalOptionsRead(TfmEvalOptions *o, Jsonb *options, bool classification, const char *model,
				   char *const *labels, int nlabels)
{
	JsonbValue	v;

	memset(o, 0, sizeof(*o));
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("options must be a JSON object")));
	TfmJsonCheckKeys(options, eval_options, "tfm_evaluate option");
	if (!TfmJsonGet(&options->root, "positive", &v) || v.type == jbvNull)
		return;
	if (v.type == jbvString)
		o->positive = pnstrdup(v.val.string.val, v.val.string.len);
	else if (v.type == jbvBool)
		o->positive = pstrdup(v.val.boolean ? "true" : "false");
	else if (v.type == jbvNumeric)
		o->positive = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tfm_evaluate option \"positive\" must be a string, a boolean or a number, not %s",
							   TfmJsonTypeName(&v))));
	if (!classification)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tfm_evaluate option \"positive\" applies to classifiers, and model \"%s\" is a regression model", model)));
	if (labels == NULL)
		return;					/* a cross-encoder: its labels are the rows' */
	for (int k = 0; k < nlabels; k++)
		if (strcmp(labels[k], o->positive) == 0)
			return;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("positive label \"%s\" is not a label of model \"%s\"", o->positive, model),
					errhint("The model's labels are in tfm.models.labels.")));
}

/* the positive label: the option, else "true" when the query's label column is boolean, else NULL */
const char *
TfmEvalPositive(const TfmEvalOptions *o, bool boolean_labels)
{
	return o->positive ? o->positive : boolean_labels ? "true" : NULL;
}

/*
 * the distinct groups of n rows (group[i] NULL for SQL NULL) in byte order of their text, the NULL
 * group last, and each row's group index; 54000 beyond TFM_MAX_GROUPS (call it before the work)
 */
TfmGroups *
TfmGroupSet(const char *const *group, int n)
{
	TfmGroups  *gs = palloc(sizeof(TfmGroups));
	char	  **all = palloc_extended(sizeof(char *) * Max(n, 1), MCXT_ALLOC_HUGE);
	int		   *index = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	int			m = 0, G;
	bool		has_null = false;

	for (int i = 0; i < n; i++)
	{
		if (group[i])
			all[m++] = (char *) group[i];
		else
			has_null = true;
	}
	G = TfmSortUnique(all, m);
	for (int i = 0; i < n; i++)
		index[i] = group[i] ? TfmLabelIndex(all, G, group[i]) : G;
	if (has_null)
		all[G++] = NULL;
	if (G > TFM_MAX_GROUPS)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("the query's third column gave %d groups, at most %d are supported", G, TFM_MAX_GROUPS),
						errhint("The third column is a group attribute such as a region or an age band: bucket finer values "
								"in the query (for example with width_bucket).")));
	gs->G = G;
	gs->names = all;
	gs->index = index;
	return gs;
}

/* append "group": value (null for the NULL group) and "support" as the first members of a group's object */
static void
append_group_head(StringInfo out, int g, const char *name, int64 support)
{
	appendStringInfoString(out, g ? ", {\"group\": " : "{\"group\": ");
	if (name)
		escape_json(out, name);
	else
		appendStringInfoString(out, "null");
	appendStringInfo(out, ", \"support\": " INT64_FORMAT, support);
}

/*
 * the rates of a label in n rows with tp true positives, fp false positives and fn false negatives,
 * as scikit-learn and Fairlearn compute them: a rate with a zero denominator is 0 (scikit-learn's
 * zero_division for precision and recall; Fairlearn's true/false positive rates normalize the
 * confusion matrix with normalize="true", which turns 0/0 into 0)
 */
static Rates
rates_of(int64 n, int64 tp, int64 fp, int64 fn)
{
	int64		tn = n - tp - fp - fn;
	Rates		r;

	r.precision = tp + fp ? (double) tp / (tp + fp) : 0.0;
	r.recall = tp + fn ? (double) tp / (tp + fn) : 0.0;
	r.f1 = 2 * tp + fp + fn ? 2.0 * tp / (2 * tp + fp + fn) : 0.0;
	r.selection_rate = n ? (double) (tp + fp) / n : 0.0;
	r.tpr = r.recall;
	r.fpr = fp + tn ? (double) fp / (fp + tn) : 0.0;
	return r;
}

/* append the members of rates */
static void
append_rates(StringInfo out, const Rates *r)
{
	appendStringInfo(out, "\"precision\": %s, \"recall\": %s, \"f1\": %s, \"selection_rate\": %s, "
					 "\"true_positive_rate\": %s, \"false_positive_rate\": %s",
					 TfmJsonFloat(r->precision, DIGITS), TfmJsonFloat(r->recall, DIGITS), TfmJsonFloat(r->f1, DIGITS),
					 TfmJsonFloat(r->selection_rate, DIGITS), TfmJsonFloat(r->tpr, DIGITS), TfmJsonFloat(r->fpr, DIGITS));
}

/* largest minus smallest of v[0..G), and the smallest and largest */
static double
spread(const double *v, int G, double *lo, double *hi)
{
	*lo = *hi = v[0];
	for (int g = 1; g < G; g++)
		*lo = Min(*lo, v[g]), *hi = Max(*hi, v[g]);
	return *hi - *lo;
}

/*
 * append "fairness" from the groups' selection, true-positive and false-positive rates (G >= 1), as
 * Fairlearn's between_groups defines them: differences are max - min over the groups, the ratio
 * min / max (null when every selection rate is 0), equalized odds the larger of the two differences
 */
static void
append_fairness(StringInfo out, const char *positive, const double *sel, const double *tpr, const double *fpr, int G)
{
	double		lo, hi, dpd = spread(sel, G, &lo, &hi), dpr = hi > 0 ? lo / hi : NAN;
	double		eop = spread(tpr, G, &lo, &hi), fpd = spread(fpr, G, &lo, &hi);

	appendStringInfoString(out, ", \"fairness\": {\"positive\": ");
	escape_json(out, positive);
	appendStringInfo(out, ", \"demographic_parity_difference\": %s, \"demographic_parity_ratio\": %s, "
					 "\"equal_opportunity_difference\": %s, \"equalized_odds_difference\": %s}",
					 TfmJsonFloat(dpd, DIGITS), TfmJsonFloat(dpr, DIGITS), TfmJsonFloat(eop, DIGITS),
					 TfmJsonFloat(Max(eop, fpd), DIGITS));
}

/*
 * the evaluation document of a classifier: TfmClassMetrics' metrics of truth/pred (indexes into
 * labels[K]) and, when groups (TfmGroupSet of the rows) is given, "groups" with each
 * group's support, accuracy and the rates of the positive label (when positive names one of labels,
 * followed by "fairness") or of every label against the others (a "labels" block, without "fairness")
 */
void
TfmEvalClassJson(StringInfo out, const int *truth, const int *pred, int n, int K, const char *const *labels,
				 const TfmGroups *groups, const char *positive)
{
	int			P = -1, G, ncol, *gi;
	char	  **names;
	int64	   *rows, *correct, *sup, *prd, *tp;
	double	   *sel, *tpr, *fpr;

	TfmClassMetrics(out, truth, pred, n, K, labels);
	if (groups == NULL)
		return;
	G = groups->G, names = groups->names, gi = groups->index;
	for (int k = 0; positive && k < K; k++)
		if (strcmp(labels[k], positive) == 0)
			P = k;
	ncol = P >= 0 ? 1 : K;
	if ((double) G * ncol > TFM_MAX_GROUP_CELLS)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("metrics of %d groups by %d labels requested, at most %d (group, label) pairs are supported",
							   G, K, TFM_MAX_GROUP_CELLS),
						errhint("Give the option \"positive\" to get one label's metrics per group, or fewer groups.")));
	TfmCheckMemory((double) G * (2 + 3 * (double) ncol) * sizeof(int64) + (double) G * 3 * sizeof(double), "the metrics by group");
	rows = palloc0(sizeof(int64) * Max(G, 1));
	correct = palloc0(sizeof(int64) * Max(G, 1));
	sup = palloc_extended(sizeof(int64) * Max((size_t) G * ncol, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	prd = palloc_extended(sizeof(int64) * Max((size_t) G * ncol, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	tp = palloc_extended(sizeof(int64) * Max((size_t) G * ncol, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	sel = palloc(sizeof(double) * Max(G, 1));
	tpr = palloc(sizeof(double) * Max(G, 1));
	fpr = palloc(sizeof(double) * Max(G, 1));
	for (int i = 0; i < n; i++)
	{
		int			g = gi[i];

		rows[g]++;
		correct[g] += truth[i] == pred[i];
		if (P >= 0)
		{
			sup[g] += truth[i] == P;
			prd[g] += pred[i] == P;
			tp[g] += truth[i] == P && pred[i] == P;
		}
		else
		{
			sup[(size_t) g * K + truth[i]]++;
			prd[(size_t) g * K + pred[i]]++;
			tp[(size_t) g * K + truth[i]] += truth[i] == pred[i];
		}
	}
	TfmJsonReopen(out);
	appendStringInfoString(out, ", \"groups\": [");
	for (int g = 0; g < G; g++)
	{
		append_group_head(out, g, names[g], rows[g]);
		appendStringInfo(out, ", \"accuracy\": %s", TfmJsonFloat((double) correct[g] / rows[g], DIGITS));
		if (P >= 0)
		{
			Rates		r = rates_of(rows[g], tp[g], prd[g] - tp[g], sup[g] - tp[g]);

			appendStringInfoString(out, ", ");
			append_rates(out, &r);
			sel[g] = r.selection_rate, tpr[g] = r.tpr, fpr[g] = r.fpr;
		}
		else
		{
			appendStringInfoString(out, ", \"labels\": {");
			for (int k = 0; k < K; k++)
			{
				size_t		c = (size_t) g * K + k;
				Rates		r = rates_of(rows[g], tp[c], prd[c] - tp[c], sup[c] - tp[c]);

				if (k)
					appendStringInfoString(out, ", ");
				escape_json(out, labels[k]);
				appendStringInfo(out, ": {\"support\": " INT64_FORMAT ", ", sup[c]);
				append_rates(out, &r);
				appendStringInfoChar(out, '}');
			}
			appendStringInfoChar(out, '}');
		}
		appendStringInfoChar(out, '}');
		CHECK_FOR_INTERRUPTS();
	}
	appendStringInfoChar(out, ']');
	if (P >= 0 && G > 0)
		append_fairness(out, positive, sel, tpr, fpr, G);
	appendStringInfoChar(out, '}');
}

/*
 * the evaluation document of a regressor: TfmRegMetrics' metrics and, when groups is given, "groups"
 * with each group's support, mse and mae (no "fairness": Fairlearn's gaps are for classifiers)
 */
void
TfmEvalRegJson(StringInfo out, const double *truth, const double *pred, int n, const TfmGroups *groups)
{
	int			G, *gi;
	char	  **names;
	int64	   *rows;
	double	   *sse, *sae;

	TfmRegMetrics(out, truth, pred, n);
	if (groups == NULL)
		return;
	G = groups->G, names = groups->names, gi = groups->index;
	rows = palloc0(sizeof(int64) * Max(G, 1));
	sse = palloc0(sizeof(double) * Max(G, 1));
	sae = palloc0(sizeof(double) * Max(G, 1));
	for (int i = 0; i < n; i++)
	{
		double		e = pred[i] - truth[i];

		rows[gi[i]]++;
		sse[gi[i]] += e * e;
		sae[gi[i]] += fabs(e);
	}
	TfmJsonReopen(out);
	appendStringInfoString(out, ", \"groups\": [");
	for (int g = 0; g < G; g++)
	{
		append_group_head(out, g, names[g], rows[g]);
		appendStringInfo(out, ", \"mse\": %s, \"mae\": %s}",
						 TfmJsonFloat(sse[g] / rows[g], DIGITS), TfmJsonFloat(sae[g] / rows[g], DIGITS));
		CHECK_FOR_INTERRUPTS();
	}
	appendStringInfoString(out, "]}");
}
