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
#include <string.h>
#include <strings.h>

#include "kernels/blas.h"
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

/* where OpenBLAS's core type came from (TfmBlasCoreSource), fixed when it loads */
static const char *core_source = "openblas";
static char core_env[64];		/* OPENBLAS_CORETYPE as OpenBLAS read it, "" when unset */
static char core_ours[16];		/* the core type pg_tfm chose, "" for none */
static int	override_pending;	/* a user's OPENBLAS_CORETYPE overrode ours, not reported yet */
static void (*override_hook) (const char *env, const char *ours);
static pthread_t override_thread;	/* the thread that may call override_hook */

/* install the function that reports a BLAS that cannot be loaded (must not return) */
void
TfmBlasSetErrorHook(void (*hook) (const char *msg))
{
	blas_error_hook = hook ? hook : blas_default_error;
}

/* install the function told (once, on the installing thread) that OPENBLAS_CORETYPE overrode our choice */
void
TfmBlasSetOverrideHook(void (*hook) (const char *env, const char *ours))
{
	override_thread = pthread_self();
	override_hook = hook;
}

/* "pg_tfm", "environment" or "openblas": who chose OpenBLAS's core type; *env its OPENBLAS_CORETYPE or NULL */
const char *
TfmBlasCoreSource(const char **env)
{
	TfmBlasLoad();
	*env = core_env[0] ? core_env : NULL;
	return core_source;
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

/* set OPENBLAS_CORETYPE to core unless the environment has one (a user's own setting wins); note which */
static void
set_core_type(const char *core)
{
	const char *env = getenv("OPENBLAS_CORETYPE");

	snprintf(core_ours, sizeof(core_ours), "%s", core ? core : "");
	if (env != NULL && env[0] != '\0')
	{
		core_source = "environment";
		snprintf(core_env, sizeof(core_env), "%s", env);
		if (core != NULL && strcasecmp(env, core) != 0)
			__atomic_store_n(&override_pending, 1, __ATOMIC_RELEASE);
	}
	else if (core != NULL)
	{
		core_source = "pg_tfm";
		snprintf(core_env, sizeof(core_env), "%s", core);
		setenv("OPENBLAS_CORETYPE", core, 1);
	}
}

/* load OpenBLAS once (under blas_lock); returns false (and sets blas_error) when it cannot */
static int
blas_load_locked(void)
{
	void	   *h;
	const char *core;

	if (blas_state != 0)
		return blas_state > 0;
	core = blas_core_type();
	set_core_type(core);
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
	if (__atomic_load_n(&override_pending, __ATOMIC_ACQUIRE) && override_hook &&
		pthread_equal(pthread_self(), override_thread))
	{
		override_pending = 0;
		override_hook(core_env, core_ours);
	}
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
