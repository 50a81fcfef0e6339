/* pg_tfm.c: module entry point; every pg_tfm.* GUC is defined here */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "pg_tfm.h"
#include "store/cache.h"
#include "store/cachefile.h"

PG_MODULE_MAGIC;

char	   *tfm_default_model = NULL;
int			tfm_blas_threads = 1;
int			tfm_verify_cache = TFM_VERIFY_SAMPLED;
int			tfm_max_memory = TFM_MAX_MEMORY_DEFAULT;
int			tfm_cpu_features = TFM_LEVEL_AUTO;

/* levels pg_tfm.cpu_features may cap the kernels at (kernels/cpu.h) */
static const struct config_enum_entry cpu_options[] = {
	{"auto", TFM_LEVEL_AUTO, false},
	{"scalar", TFM_LEVEL_SCALAR, false},
	{"avx2", TFM_LEVEL_AVX2, false},
	{"avx512", TFM_LEVEL_AVX512, false},
	{"avx512vnni", TFM_LEVEL_AVX512VNNI, false},
	{"avx512bf16", TFM_LEVEL_AVX512BF16, false},
	{NULL, 0, false}
};

static const struct config_enum_entry verify_options[] = {
	{"sampled", TFM_VERIFY_SAMPLED, false},
	{"full", TFM_VERIFY_FULL, false},
	{NULL, 0, false}
};

void		_PG_init(void);

/* apply pg_tfm.blas_threads to OpenBLAS */
static void
assign_blas_threads(int newval, void *extra)
{
	TfmBlasSetThreads(newval);
}

/* apply pg_tfm.cpu_features to the kernels */
static void
assign_cpu_features(int newval, void *extra)
{
	TfmCpuSetLevel(newval);
}

/* report an OpenBLAS that cannot be loaded (called from blas.c; does not return) */
static void
blas_error(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_FILE),
			 errmsg("%s", msg),
			 errhint("Install OpenBLAS (Debian: libopenblas0).")));
}

/* LOG (once per backend, from blas.c) that the environment's OPENBLAS_CORETYPE won over pg_tfm's choice */
static void
blas_override(const char *env, const char *ours)
{
	ereport(LOG,
			(errmsg("pg_tfm: OpenBLAS uses core type \"%s\" from the environment variable OPENBLAS_CORETYPE, not \"%s\" that pg_tfm chose for this CPU",
					env, ours),
			 errhint("Unset OPENBLAS_CORETYPE in the server's environment to let pg_tfm choose; tfm_cpu_info() shows the source.")));
}

/* error 53200 when an operation's work memory (bytes, for what) would exceed pg_tfm.max_memory */
void
TfmCheckMemory(double bytes, const char *what)
{
	if (tfm_max_memory < 0 || bytes <= (double) tfm_max_memory * 1024.0 * 1024.0)
		return;
	ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
					errmsg("%s would need %.0f MB, more than pg_tfm.max_memory (%d MB)",
						   what, ceil(bytes / (1024.0 * 1024.0)), tfm_max_memory),
					errhint("A superuser can raise pg_tfm.max_memory; or use fewer or shorter inputs (rows, array elements, max_tokens, batch_size).")));
}

/* define the GUCs and configure BLAS for this backend */
void
_PG_init(void)
{
	DefineCustomStringVariable("pg_tfm.default_model",
							   "Model used when a function's model argument is NULL or omitted.",
							   NULL, &tfm_default_model, "", PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_tfm.blas_threads",
							"Threads OpenBLAS may use per backend (concurrency comes from backends and parallel workers).",
							NULL, &tfm_blas_threads, 1, 1, 64, PGC_USERSET, 0, NULL,
							assign_blas_threads, NULL);
	DefineCustomEnumVariable("pg_tfm.verify_cache",
							 "How much of a model cache file is checked when a backend maps it.",
							 "sampled: header, vocabulary and 64 blocks of the weights; full: every byte (slower first call).",
							 &tfm_verify_cache, TFM_VERIFY_SAMPLED, verify_options, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("pg_tfm.max_memory",
							"Largest work memory one pg_tfm operation may allocate (-1: no limit).",
							"Checked before training buffers, bulk batches, import buffers, cache builds and the KV cache; "
							"exceeding it is an error (53200), not an out-of-memory kill.",
							&tfm_max_memory, TFM_MAX_MEMORY_DEFAULT, -1, INT_MAX / 2, PGC_SUSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
	/*
	 * USERSET: a level only lowers the kernels below what CPUID and XGETBV
	 * found (never enables an instruction the CPU or OS lacks), so a session
	 * can only slow itself down or move float results by rounding; tests and
	 * users comparing variants need it without superuser.
	 */
	DefineCustomEnumVariable("pg_tfm.cpu_features",
							 "Highest SIMD level pg_tfm's kernels may use (auto: all the CPU has).",
							 "scalar, avx2 (AVX2+FMA), avx512 (F/BW/VL/DQ), avx512vnni, avx512bf16; "
							 "a level above the CPU's runs at the CPU's best. See tfm_cpu_info().",
							 &tfm_cpu_features, TFM_LEVEL_AUTO, cpu_options, PGC_USERSET, 0,
							 NULL, assign_cpu_features, NULL);
	MarkGUCPrefixReserved("pg_tfm");
	RegisterXactCallback(TfmCacheXactCallback, NULL);
	TfmBlasSetErrorHook(blas_error);
	TfmBlasSetOverrideHook(blas_override);
	TfmBlasSetThreads(tfm_blas_threads);
}
