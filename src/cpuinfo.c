/* cpuinfo.c: tfm_cpu_info(), which kernels this backend runs and why */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "blas.h"
#include "kernels/cpu.h"
#include "pg_tfm.h"

PG_FUNCTION_INFO_V1(tfm_cpu_info);

/* jsonb {"level", "best", "requested", "cpu", "blas_core"}: the kernel level in force and the CPU's */
Datum
tfm_cpu_info(PG_FUNCTION_ARGS)
{
	char		flags[200];
	int			requested = tfm_cpu_features;
	int			level = TfmCpuEffectiveLevel();
	int			best = TfmCpuLevelOf(TfmCpuDetected());
	char	   *json;

	TfmCpuFlags(flags, sizeof(flags));
	json = psprintf("{\"level\": \"%s\", \"best\": \"%s\", \"requested\": \"%s\", \"cpu\": \"%s\", \"blas_core\": \"%s\"}",
					TfmCpuLevelName(level), TfmCpuLevelName(best), TfmCpuLevelName(requested),
					flags, TfmBlasCoreName());
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
