/* trainsave.h: storing a trained encoder model as a new version in tfm.model */
#ifndef TFM_TRAINSAVE_H
#define TFM_TRAINSAVE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "train/train.h"

/* insert the trained model version (and its encoder weights when full); returns its id */
extern int64 TfmTrainStore(TfmTrainer *t, const char *name, Jsonb *options);

#endif
