/* cpuinfo.c: tfm_cpu_info(), which kernels this backend runs and why */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "pg_tfm.h"

PG_FUNCTION_INFO_V1(tfm_cpu_info);

/*
 * jsonb {"level", "best", "requested", "cpu", "blas_core", "blas_core_source", "blas_core_env"}: the
 * kernel level in force and the CPU's; OpenBLAS's kernel set, who chose it (pg_tfm, the environment
 * or OpenBLAS itself) and OPENBLAS_CORETYPE as OpenBLAS read it (null when unset)
 */
Datum
tfm_cpu_info(PG_FUNCTION_ARGS)
{
	char		flags[200];
	int			requested = tfm_cpu_features;
	int			level = TfmCpuEffectiveLevel();
	int			best = TfmCpuLevelOf(TfmCpuDetected());
	const char *env;
	const char *source = TfmBlasCoreSource(&env);
	StringInfoData json;

	TfmCpuFlags(flags, sizeof(flags));
	initStringInfo(&json);
	appendStringInfo(&json, "{\"level\": \"%s\", \"best\": \"%s\", \"requested\": \"%s\", \"cpu\": \"%s\", \"blas_core\": \"%s\", "
					 "\"blas_core_source\": \"%s\", \"blas_core_env\": ",
					 TfmCpuLevelName(level), TfmCpuLevelName(best), TfmCpuLevelName(requested),
					 flags, TfmBlasCoreName(), source);
	if (env)
		escape_json(&json, env);
	else
		appendStringInfoString(&json, "null");
	appendStringInfoChar(&json, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
}
