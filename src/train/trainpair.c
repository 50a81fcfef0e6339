/*
 * trainpair.c: tfm_train on a cross-encoder. Its rows are pairs (rows.c encodes them as tfm_rerank does) and
 * it always continues the checkpoint's own one-logit head z: for two labels as a softmax head (0, z) over the
 * sorted labels (its probability of the second label is sigmoid(z), the binary cross-entropy
 * sentence-transformers trains cross-encoders with), for regression as a regressor; the trained head is
 * made one logit again so that the new version stays a cross-encoder for tfm_rerank and tfm_score_pair.
 * Its validation split keeps each query's (a text's) rows together, so that its stored metrics can rank
 * them as tfm_evaluate does.
 */
#include "postgres.h"

#include "eval/metrics.h"
#include "model/encoder.h"
#include "model/head.h"
#include "pg_tfm.h"
#include "train/trainpair.h"

/* refuse what a cross-encoder cannot be trained on (22023); true: training continues its head */
bool
TfmTrainPairCheck(const TfmTrainer *t)
{
	if (t->o.hidden_units != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" is a cross-encoder: hidden_units cannot be set, its own head is trained",
							   t->base->name)));
	if (t->task == TFM_TASK_CLASSIFICATION && t->K != 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" is a cross-encoder: classification needs two labels, the query gave %d",
							   t->base->name, t->K),
						errhint("Give relevance as a boolean or 0/1 (the second label in sort order is the relevant one), "
								"or graded relevance with task 'regression'.")));
	return true;
}

/*
 * after training (metrics taken): a cross-encoder's head made one raw logit, z1 - z0 of a two-label head or
 * the target's scale folded into a regressor's output, and the trainer's task a cross-encoder's
 */
void
TfmTrainPairFinish(TfmTrainer *t)
{
	int			C = t->base->enc->cfg.hidden, H = t->o.hidden_units;
	float	   *w2 = t->head + (size_t) H * C + H, *b2 = w2 + (size_t) t->K * H;

	if (t->base->task != TFM_TASK_CROSS_ENCODER)
		return;
	for (int h = 0; h < H; h++)
		w2[h] = t->K == 2 ? w2[H + h] - w2[h] : (float) (w2[h] * t->tstd);
	w2[H] = t->K == 2 ? b2[1] - b2[0] : (float) (b2[0] * t->tstd + t->tmean);
	t->K = 1;
	t->head_n = TfmHeadParams(C, H, 1);
	t->labels = NULL;
	t->tmean = 0;
	t->tstd = 1;
	t->task = TFM_TASK_CROSS_ENCODER;
}

/*
 * split n pair rows into training and validation index arrays (each of n ints) by query (query[i] >= 0 the
 * number of row i's a text): TfmSplitRows draws a fraction frac of the distinct queries, in order of first
 * appearance, at most all but one, and each drawn query's rows validate; with fewer than two queries the rows
 * are split as TfmSplitRows splits them (stratified by y when groups > 1)
 */
void
TfmSplitQueries(TfmRng *rng, const int *query, const int *y, int n, int groups, double frac, int *train,
				int *ntrain, int *val, int *nval)
{
	int			maxq = 0, Q = 0, nqtrain, nqval;
	int		   *first = palloc(sizeof(int) * Max(n, 1)), *qtrain, *qval;
	bool	   *seen, *validates;

	for (int i = 0; i < n; i++)
		maxq = Max(maxq, query[i] + 1);
	seen = palloc0(sizeof(bool) * Max(maxq, 1));
	validates = palloc0(sizeof(bool) * Max(maxq, 1));
	for (int i = 0; i < n; i++)
		if (!seen[query[i]])
			seen[query[i]] = true, first[Q++] = query[i];
	if (Q < 2)
	{
		TfmSplitRows(rng, y, n, groups, frac, train, ntrain, val, nval);
		return;
	}
	qtrain = palloc(sizeof(int) * Q);
	qval = palloc(sizeof(int) * Q);
	TfmSplitRows(rng, NULL, Q, 1, Min(frac, (Q - 1.0) / Q), qtrain, &nqtrain, qval, &nqval);
	for (int k = 0; k < nqval; k++)
		validates[first[qval[k]]] = true;
	*ntrain = *nval = 0;
	for (int i = 0; i < n; i++)
	{
		if (validates[query[i]])
			val[(*nval)++] = i;
		else
			train[(*ntrain)++] = i;
	}
	pfree(first);
	pfree(seen);
	pfree(validates);
	pfree(qtrain);
	pfree(qval);
}

/* a pair row's relevance grade as tfm_evaluate reads it: a number label's value or the target, else 1 for the
 * relevant (second) label, 0 for the other */
static double
row_grade(const TfmTrainer *t, int i)
{
	if (t->task == TFM_TASK_REGRESSION)
		return t->rows.target[i];
	return t->rows.label_numeric ? TfmLabelNumber(t->rows.label[i]) : t->y[i];
}

/*
 * add "ranking" (TfmRankMetrics, as tfm_evaluate's) to a cross-encoder's metrics object in s: its n rows idx,
 * scored by their logits, ranked per query; left out when a row's grade is not one tfm_evaluate reads (a
 * regression target outside [0, TFM_MAX_GRADE])
 */
void
TfmTrainPairRanking(StringInfo s, const TfmTrainer *t, const int *idx, int n, const double *score)
{
	int		   *query = palloc(sizeof(int) * Max(n, 1));
	double	   *rel = palloc(sizeof(double) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		query[i] = t->rows.query[idx[i]];
		rel[i] = row_grade(t, idx[i]);
		if (!(rel[i] >= 0 && rel[i] <= TFM_MAX_GRADE))
			return;
	}
	TfmRankMetricsAdd(s, query, score, rel, n);
	pfree(query);
	pfree(rel);
}
