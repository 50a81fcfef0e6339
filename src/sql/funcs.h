/*
 * funcs.h: what the SQL entry points (src/sql, text/tokens.c) share: a model argument resolved once per
 * query, and the functions one calls of another
 */
#ifndef TFM_FUNCS_H
#define TFM_FUNCS_H

#include "postgres.h"

#include "fmgr.h"

#include "store/cache.h"

extern TfmModel *TfmCallModel(FunctionCallInfo fcinfo, int argno);	/* funcs.c */
extern PGDLLEXPORT Datum tfm_score(PG_FUNCTION_ARGS);	/* funcs.c: tfm_score(text, model, label) */
extern PGDLLEXPORT Datum tfm_score_features(PG_FUNCTION_ARGS);	/* mlpfuncs.c: tfm_score(float8[], ...) */

#endif
