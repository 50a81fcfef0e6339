/*
 * trainpair.c: tfm_train on a cross-encoder. Its rows are pairs (rows.c encodes them as tfm_rerank does) and
 * it always continues the checkpoint's own one-logit head z: for two labels as a softmax head (0, z) over the
 * sorted labels (its probability of the second label is sigmoid(z), the binary cross-entropy
 * sentence-transformers trains cross-encoders with), for regression as a regressor; the trained head is
 * made one logit again so that the new version stays a cross-encoder for tfm_rerank and tfm_score_pair.
 */
#include "postgres.h"

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
