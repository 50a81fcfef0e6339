/* mlpmodel.h: the feature-vector MLP family: its part of a model handle, loading and outputs (mlpmodel.c) */
#ifndef TFM_MLPMODEL_H
#define TFM_MLPMODEL_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/jsonb.h"

#include "model/handle.h"
#include "model/mlp.h"

/* the base argument of tfm_train that trains an MLP on feature vectors */
#define TFM_MLP_BASE "mlp"

/* a trained MLP as a model handle holds it (in the handle's memory context) */
typedef struct TfmMlpModel
{
	int			L;				/* linear layers */
	int			dims[TFM_MLP_MAX_LAYERS + 1];	/* inputs, hidden units..., outputs */
	float	   *params;			/* mlp.h layout */
	float	   *mean;			/* (D) standardisation of the inputs, from the training rows */
	float	   *rstd;			/* (D) 1 / standard deviation */
} TfmMlpModel;

extern void TfmMlpLoad(TfmModel *m, Jsonb *config, Jsonb *options, bytea *params);
extern void TfmMlpOutputs(float *out, const TfmModel *m, const float *x, int n);

#endif
