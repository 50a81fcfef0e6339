/*
 * blas.h - the only door to BLAS (OpenBLAS via CBLAS, loaded on first use)
 *
 * All matrices are row-major.  Nothing here allocates memory or reports
 * errors: sizes are the caller's responsibility.
 */
#ifndef TFM_BLAS_H
#define TFM_BLAS_H

/* row-major C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C */
void TfmSgemm(int transA, int transB, int M, int N, int K,
			  float alpha, const float *A, int lda,
			  const float *B, int ldb,
			  float beta, float *C, int ldc);

/* set the number of threads BLAS may use (1 = run on the calling thread) */
void TfmBlasSetThreads(int n);

/* number of threads BLAS currently uses */
int TfmBlasGetThreads(void);

/* load BLAS now, from the thread that may report errors (later calls from other threads then cannot fail) */
void TfmBlasLoad(void);

/* install the function that reports a BLAS that cannot be loaded (must not return) */
void TfmBlasSetErrorHook(void (*hook) (const char *msg));

/* install the function told, once and on the installing thread, that OPENBLAS_CORETYPE overrode our core type */
void TfmBlasSetOverrideHook(void (*hook) (const char *env, const char *ours));

/* who chose OpenBLAS's core type ("pg_tfm", "environment", "openblas"); *env: OPENBLAS_CORETYPE or NULL */
const char *TfmBlasCoreSource(const char **env);

/* name of the CPU kernel set BLAS picked (for diagnostics) */
const char *TfmBlasCoreName(void);

#endif							/* TFM_BLAS_H */
