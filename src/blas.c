/*
 * blas.c - thin wrappers over CBLAS
 *
 * This is the only file that includes <cblas.h>, so swapping the BLAS
 * (OpenBLAS, BLIS, MKL, a built-in kernel) touches one file.
 */
#include <cblas.h>

#include "blas.h"

/* row-major single-precision GEMM, transA/transB nonzero = transposed */
void
TfmSgemm(int transA, int transB, int M, int N, int K,
		 float alpha, const float *A, int lda,
		 const float *B, int ldb,
		 float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	cblas_sgemm(CblasRowMajor,
				transA ? CblasTrans : CblasNoTrans,
				transB ? CblasTrans : CblasNoTrans,
				M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* set the BLAS thread count, never below one */
void
TfmBlasSetThreads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

/* current BLAS thread count */
int
TfmBlasGetThreads(void)
{
	return openblas_get_num_threads();
}

/* kernel set OpenBLAS chose for this CPU */
const char *
TfmBlasCoreName(void)
{
	const char *name = openblas_get_corename();

	return name ? name : "unknown";
}
