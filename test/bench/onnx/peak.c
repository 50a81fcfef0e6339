/*
 * peak.c - the fp32 peak of this machine, for test/bench/compare.sh's "fraction of peak"
 *
 *   cc -O2 -mavx2 -mfma -pthread test/bench/onnx/peak.c -lopenblas -o peak && ./peak THREADS
 *
 * Prints two lines: "fma GFLOP/s" (independent 8-wide FMA chains, no memory traffic:
 * the arithmetic peak of THREADS cores) and "sgemm GFLOP/s" (OpenBLAS sgemm
 * 1024x1024x1024 on THREADS threads: the practical peak), best of 5 runs each, and
 * "core" (the kernel set OpenBLAS picked).
 */
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
#define ITERS 20000000L

/* seconds of a monotonic clock */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile float sink;

#define FMA(c) c = _mm256_fmadd_ps(c, a, b)

/* CHAINS (12) independent FMA chains in registers, ITERS rounds: 2*8*CHAINS*ITERS FLOP */
static void *
fma_loop(void *arg)
{
	__m256		a = _mm256_set1_ps(0.999999f),
				b = _mm256_set1_ps(1e-7f),
				c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2),
				c3 = _mm256_set1_ps(3), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5),
				c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7), c8 = _mm256_set1_ps(8),
				c9 = _mm256_set1_ps(9), c10 = _mm256_set1_ps(10), c11 = _mm256_set1_ps(11);

	(void) arg;
	for (long i = 0; i < ITERS; i++)
	{
		FMA(c0); FMA(c1); FMA(c2); FMA(c3); FMA(c4); FMA(c5);
		FMA(c6); FMA(c7); FMA(c8); FMA(c9); FMA(c10); FMA(c11);
	}
	c0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
					   _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
	c0 = _mm256_add_ps(c0, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
	sink = _mm256_cvtss_f32(c0);
	return NULL;
}

/* GFLOP/s of THREADS concurrent FMA loops */
static double
fma_rate(int threads)
{
	pthread_t	th[64];
	double		t0 = now();

	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, fma_loop, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return 2.0 * 8 * CHAINS * ITERS * threads / (now() - t0) / 1e9;
}

/* GFLOP/s of one n^3 sgemm on THREADS OpenBLAS threads */
static double
sgemm_rate(int threads, int n)
{
	float	   *a = malloc(sizeof(float) * n * n),
			   *b = malloc(sizeof(float) * n * n),
			   *c = malloc(sizeof(float) * n * n);
	double		t0,
				t;
	int			reps = 0;

	for (long i = 0; i < (long) n * n; i++)
		a[i] = b[i] = (float) (i % 7) * 0.1f;
	openblas_set_num_threads(threads);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
	t0 = now();
	do
	{
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1, a, n, b, n, 0, c, n);
		reps++;
	} while ((t = now() - t0) < 0.5);
	free(a), free(b), free(c);
	return 2.0 * n * n * n * reps / t / 1e9;
}

int
main(int argc, char **argv)
{
	int			threads = argc > 1 ? atoi(argv[1]) : 1;
	double		f = 0,
				g = 0;

	if (threads < 1)
	{
		printf("core %s\n", openblas_get_corename());
		return 0;
	}
	for (int i = 0; i < 5; i++)
	{
		double		x = fma_rate(threads),
					y = sgemm_rate(threads, 1024);

		f = x > f ? x : f;
		g = y > g ? y : g;
	}
	printf("fma %.1f\nsgemm %.1f\ncore %s\n", f, g, openblas_get_corename());
	return 0;
}
