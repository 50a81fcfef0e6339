/* pg_tfm.c: module entry point; every pg_tfm.* GUC is defined here */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "blas.h"
#include "pg_tfm.h"

PG_MODULE_MAGIC;

char	   *tfm_default_model = NULL;
int			tfm_blas_threads = 1;

void		_PG_init(void);

/* apply pg_tfm.blas_threads to OpenBLAS */
static void
assign_blas_threads(int newval, void *extra)
{
	TfmBlasSetThreads(newval);
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
	MarkGUCPrefixReserved("pg_tfm");
	TfmBlasSetThreads(tfm_blas_threads);
}
