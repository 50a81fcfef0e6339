/* trainfuncs.c: the SQL entry point of training, CALL tfm_train(): argument checks, then the encoder
 * trainer (train.c) or the MLP trainer (mlptrain.c), progress (progress.c) and storing (trainsave.c) */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "eval/metrics.h"
#include "model/encoder.h"
#include "model/mlpmodel.h"
#include "pg_tfm.h"
#include "store/acl.h"
#include "store/import.h"
#include "train/progress.h"
#include "train/train.h"
#include "train/trainsave.h"

PG_FUNCTION_INFO_V1(tfm_train);

/* CALL tfm_train(name, base, query, task, options) */
Datum
tfm_train(PG_FUNCTION_ARGS)
{
	TfmTrainer *t;
	char	   *name, *query, *task;
	Jsonb	   *options;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("tfm_train arguments must not be NULL")));
	PreventCommandIfReadOnly("tfm_train()");	/* not after hours of training */
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TfmCheckModelName(name);	/* the catalog's rule, before any work */
	query = text_to_cstring(PG_GETARG_TEXT_PP(2));
	task = text_to_cstring(PG_GETARG_TEXT_PP(3));
	options = PG_GETARG_JSONB_P(4);
	if (strcmp(task, "classification") != 0 && strcmp(task, "regression") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown task \"%s\"", task),
						errhint("Use 'classification' or 'regression'.")));
	(void) TfmCheckCreate(name);	/* before training for hours; TfmTrainStore checks again */
	if (strcmp(text_to_cstring(PG_GETARG_TEXT_PP(1)), TFM_MLP_BASE) == 0)
	{
		/* base 'mlp': a network on feature vectors, no encoder */
		TfmMlpTrain(name, query, TfmTaskFromName(task), options);
		PG_RETURN_VOID();
	}
	t = palloc0(sizeof(TfmTrainer));
	t->task = TfmTaskFromName(task);
	t->base = TfmModelGet(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	TfmTrainOptionsFromJson(&t->o, options, t->base, t->task);
	TfmRowsRead(&t->rows, query, t->task, t->base, t->o.max_tokens, TFM_MAX_LABELS);
	if (t->rows.n < 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the training query gave %d usable rows, at least 2 are needed", t->rows.n)));
	TfmProgressSweep();
	PG_TRY();
	{
		TfmTrainRun(t, name);
		TfmTrainStore(t, name, options);
	}
	PG_FINALLY();
	{
		TfmProgressClear();
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
