/*
 * blas.c - thin wrappers over CBLAS, with OpenBLAS loaded on first use
 *
 * This is the only file that knows the BLAS, so swapping it (OpenBLAS,
 * BLIS, MKL, a built-in kernel) touches one file. OpenBLAS is opened with
 * dlopen() when the first GEMM needs it, not linked: a backend that only
 * embeds short texts (our own small-N kernel) never pays its relocation
 * and thread start-up (~15 ms of the first call in a new connection), and
 * the core type and thread count can be chosen before OpenBLAS
 * initialises, which reads them from the environment once.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "blas.h"
#include "kernels/cpu.h"

/* CBLAS enum values (cblas.h) */
#define TFM_CBLAS_ROW_MAJOR 101
#define TFM_CBLAS_NO_TRANS 111
#define TFM_CBLAS_TRANS 112

typedef void (*sgemm_fn) (int, int, int, int, int, int, float, const float *, int,
						  const float *, int, float, float *, int);
typedef void (*set_threads_fn) (int);
typedef int (*get_threads_fn) (void);
typedef char *(*corename_fn) (void);

static int	blas_state;			/* 0 not tried, 1 loaded, -1 failed */
static char blas_error[256];
static int	blas_threads = 1;
static sgemm_fn p_sgemm;
static set_threads_fn p_set_threads;
static get_threads_fn p_get_threads;
static corename_fn p_corename;

/* default error hook for programs outside the server: print and exit */
static void
blas_default_error(const char *msg)
{
	fprintf(stderr, "%s\n", msg);
	exit(1);
}

static void (*blas_error_hook) (const char *) = blas_default_error;

/* install the function that reports a BLAS that cannot be loaded (must not return) */
void
TfmBlasSetErrorHook(void (*hook) (const char *msg))
{
	blas_error_hook = hook ? hook : blas_default_error;
}

/*
 * The core type OpenBLAS should use on this CPU, or NULL to let it choose.
 * Debian's OpenBLAS 0.3.21 picks Haswell kernels on AVX-512 CPUs of newer
 * models than it knows; SkylakeX kernels run sgemm ~1.8x faster there.
 * It follows the level (pg_tfm.cpu_features) in force when it first loads.
 */
static const char *
blas_core_type(void)
{
	int			f = TfmCpuActive();

	if (f & TFM_FEAT_AVX512)
		return "SkylakeX";
	if (f & TFM_FEAT_AVX2)
		return "Haswell";
	return NULL;
}

static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;

/* load OpenBLAS once (under blas_lock); returns false (and sets blas_error) when it cannot */
static int
blas_load_locked(void)
{
	void	   *h;
	const char *core;

	if (blas_state != 0)
		return blas_state > 0;
	core = blas_core_type();
	if (core != NULL)
		setenv("OPENBLAS_CORETYPE", core, 0);	/* a user's own setting wins */
	/* start with no extra threads: spinning idle threads would steal other backends' CPU */
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
	{
		snprintf(blas_error, sizeof(blas_error), "could not load OpenBLAS: %s", dlerror());
		return 0;
	}
	p_sgemm = (sgemm_fn) dlsym(h, "cblas_sgemm");
	p_set_threads = (set_threads_fn) dlsym(h, "openblas_set_num_threads");
	p_get_threads = (get_threads_fn) dlsym(h, "openblas_get_num_threads");
	p_corename = (corename_fn) dlsym(h, "openblas_get_corename");
	if (!p_sgemm || !p_set_threads || !p_get_threads || !p_corename)
	{
		snprintf(blas_error, sizeof(blas_error),
				 "libopenblas.so.0 lacks cblas_sgemm or openblas_set_num_threads");
		return 0;
	}
	p_set_threads(blas_threads);
	__atomic_store_n(&blas_state, 1, __ATOMIC_RELEASE);
	return 1;
}

/* load OpenBLAS once, from any thread; returns false when it cannot */
static int
blas_load(void)
{
	int			ok;

	if (__atomic_load_n(&blas_state, __ATOMIC_ACQUIRE) > 0)
		return 1;
	pthread_mutex_lock(&blas_lock);
	ok = blas_load_locked();
	if (!ok)
		blas_state = -1;
	pthread_mutex_unlock(&blas_lock);
	return ok;
}

/* load OpenBLAS now (before starting threads that will call it), reporting failure through the hook */
void
TfmBlasLoad(void)
{
	if (!blas_load())
		blas_error_hook(blas_error);
}


/* row-major single-precision GEMM, transA/transB nonzero = transposed */
void
TfmSgemm(int transA, int transB, int M, int N, int K,
		 float alpha, const float *A, int lda,
		 const float *B, int ldb,
		 float beta, float *C, int ldc)
{
	if (M <= 0 || N <= 0)
		return;
	TfmBlasLoad();
	p_sgemm(TFM_CBLAS_ROW_MAJOR,
			transA ? TFM_CBLAS_TRANS : TFM_CBLAS_NO_TRANS,
			transB ? TFM_CBLAS_TRANS : TFM_CBLAS_NO_TRANS,
			M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* set the BLAS thread count, never below one (applied now or when OpenBLAS loads) */
void
TfmBlasSetThreads(int n)
{
	blas_threads = n < 1 ? 1 : n;
	if (blas_state > 0)
		p_set_threads(blas_threads);
}

/* current BLAS thread count */
int
TfmBlasGetThreads(void)
{
	return blas_state > 0 ? p_get_threads() : blas_threads;
}

/* kernel set OpenBLAS chose for this CPU (loads OpenBLAS) */
const char *
TfmBlasCoreName(void)
{
	const char *name;

	TfmBlasLoad();
	name = p_corename();
	return name ? name : "unknown";
}
