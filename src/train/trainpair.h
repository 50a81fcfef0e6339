/* trainpair.h: tfm_train on a cross-encoder: (a, b, label) rows train its one-logit head, stored as a cross-encoder */
#ifndef TFM_TRAINPAIR_H
#define TFM_TRAINPAIR_H

#include "train/train.h"

extern bool TfmTrainPairCheck(const TfmTrainer *t);
extern void TfmTrainPairFinish(TfmTrainer *t);
extern void TfmSplitQueries(TfmRng *rng, const int *query, const int *y, int n, int groups, double frac, int *train,
							int *ntrain, int *val, int *nval);
extern void TfmTrainPairRanking(StringInfo s, const TfmTrainer *t, const int *idx, int n, const double *score);

#endif
