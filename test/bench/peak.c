/*
 * peak.c - the arithmetic peak of this machine per precision and instruction set, for
 * test/bench/compare.sh's "fraction of peak"
 *
 *   cc -O2 -pthread -Isrc test/bench/peak.c src/kernels/cpu.c -lopenblas -o peak && ./peak THREADS
 *
 * Each kernel runs 12 independent chains in registers (no memory traffic) on THREADS threads at
 * once, best of 5 runs, and is chosen at run time by pg_tfm's own detection (src/kernels/cpu.c: CPUID,
 * XGETBV for the OS's register state):
 * a kernel the CPU lacks prints "NAME skipped: ..." instead of a figure. Lines "NAME RATE UNIT WHAT":
 *   fp32-avx2       vfmadd231ps ymm                       2 x 8 FLOP per instruction
 *   fp32-avx512     vfmadd231ps zmm                       2 x 16
 *   bf16-avx2       bf16 -> fp32 widening (shift, and) + 2 vfmadd231ps ymm per 16 bf16
 *   bf16-avx512     the same on zmm (pg_tfm's bf16 path on AVX-512 CPUs without AVX512-BF16)
 *   bf16-avx512bf16 vdpbf16ps zmm                         2 x 32 FLOP
 *   int8-avx2       vpmaddwd + vpaddd ymm                 2 x 16 OP per pair (pg_tfm's AVX2 tile multiplies
 *                   int8 values widened to int16: on Zen 4 vpmaddubsw's sign fix-ups share its two pipes)
 *   int8-avxvnni    vpdpbusd ymm (VEX)                    2 x 32 OP
 *   int8-avx512vnni vpdpbusd zmm                          2 x 64 OP
 * then "sgemm RATE" (OpenBLAS sgemm 1024^3 on THREADS threads: fp32's practical peak) and "core NAME"
 * (OpenBLAS's kernel set). THREADS 0 prints only the core. Kernels use function target attributes, so
 * the file builds and runs on any x86-64.
 */
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu.h"

#define ITERS 20000000L
#define RUNS 5

/* seconds of a monotonic clock */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile float sinkf;
static volatile int sinki;

/* tell the compiler a register changed (no instruction): keeps loop-invariant work in the loop */
#define TOUCH(x) __asm__ volatile("" : "+v"(x))

/* accumulators with distinct starting values (equal ones would be merged into one chain), the rounds
 * applying OP to each, and their sum */
#define DECL12(T, SET) T c0 = SET(0), c1 = SET(1), c2 = SET(2), c3 = SET(3), c4 = SET(4), c5 = SET(5), \
	c6 = SET(6), c7 = SET(7), c8 = SET(8), c9 = SET(9), c10 = SET(10), c11 = SET(11)
#define CHAINS12(OP) OP(c0); OP(c1); OP(c2); OP(c3); OP(c4); OP(c5); OP(c6); OP(c7); OP(c8); OP(c9); OP(c10); OP(c11)
#define SUM12(ADD) ADD(ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(c4, c5)), ADD(ADD(ADD(c6, c7), ADD(c8, c9)), ADD(c10, c11)))

/* a kernel function fn for target tgt: SETUP, accumulators of type T (DECL started by SET), ITERS rounds
 * of CHAINS(OP), their SUM by ADD, one lane (LANE) kept in SINK so the work is not optimised away */
#define PEAK_KERNEL(fn, tgt, SETUP, T, SET, DECL, CHAINS, SUM, OP, ADD, LANE, SINK) \
	__attribute__((target(tgt))) static void * \
	fn(void *arg) \
	{ \
		SETUP; \
		DECL(T, SET); \
		(void) arg; \
		for (long i = 0; i < ITERS; i++) \
		{ \
			CHAINS(OP); \
		} \
		SINK = LANE(SUM(ADD)); \
		return NULL; \
	}

/* fp32 FMA: c = c * a + b, 8 or 16 lanes */
#define OP_F256(c) c = _mm256_fmadd_ps(c, a, b)
#define OP_F512(c) c = _mm512_fmadd_ps(c, a, b)
PEAK_KERNEL(k_fp32_avx2, "avx2,fma", __m256 a = _mm256_set1_ps(0.999999f); __m256 b = _mm256_set1_ps(1e-7f),
			__m256, _mm256_set1_ps, DECL12, CHAINS12, SUM12, OP_F256, _mm256_add_ps, _mm256_cvtss_f32, sinkf)
PEAK_KERNEL(k_fp32_avx512, "avx512f", __m512 a = _mm512_set1_ps(0.999999f); __m512 b = _mm512_set1_ps(1e-7f),
			__m512, _mm512_set1_ps, DECL12, CHAINS12, SUM12, OP_F512, _mm512_add_ps, _mm512_reduce_add_ps, sinkf)

/* bf16 by widening: a register of bf16 weights -> its even (shifted) and odd (masked) halves as fp32 -> two FMAs */
#define OP_W256(c) TOUCH(w); \
	c = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(w, hi)), x, \
						_mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(w, 16)), x, c))
#define OP_W512(c) TOUCH(w); \
	c = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(w, hi)), x, \
						_mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w, 16)), x, c))
PEAK_KERNEL(k_bf16_avx2, "avx2,fma",
			__m256i w = _mm256_set1_epi32(0x3f803f80); __m256i hi = _mm256_set1_epi32((int) 0xffff0000);
			__m256 x = _mm256_set1_ps(1e-7f),
			__m256, _mm256_set1_ps, DECL12, CHAINS12, SUM12, OP_W256, _mm256_add_ps, _mm256_cvtss_f32, sinkf)
PEAK_KERNEL(k_bf16_avx512, "avx512f,avx512bw",
			__m512i w = _mm512_set1_epi32(0x3f803f80); __m512i hi = _mm512_set1_epi32((int) 0xffff0000);
			__m512 x = _mm512_set1_ps(1e-7f),
			__m512, _mm512_set1_ps, DECL12, CHAINS12, SUM12, OP_W512, _mm512_add_ps, _mm512_reduce_add_ps, sinkf)

/* bf16 dot products: vdpbf16ps, 32 pairs per instruction */
#define OP_DPBF16(c) c = _mm512_dpbf16_ps(c, a, b)
PEAK_KERNEL(k_bf16_avx512bf16, "avx512f,avx512bf16",
			__m512bh a = (__m512bh) _mm512_set1_epi32(0x3f803f80); __m512bh b = (__m512bh) _mm512_set1_epi32(0x33d633d6),
			__m512, _mm512_set1_ps, DECL12, CHAINS12, SUM12, OP_DPBF16, _mm512_add_ps, _mm512_reduce_add_ps, sinkf)

/* int8 on AVX2 as pg_tfm's tile computes it: int16 x int16 pairs summed to int32 (vpmaddwd), accumulated
 * (vpaddd); inline asm, as GCC 12 computes the loop-invariant product once and spills the accumulators */
#define OP_I8AVX2(c) do { __m256i t_; \
	__asm__("vpmaddwd %3, %2, %1\n\tvpaddd %1, %0, %0" : "+x"(c), "=&x"(t_) : "x"(a), "x"(b)); } while (0)
PEAK_KERNEL(k_int8_avx2, "avx2", __m256i a = _mm256_set1_epi16(3); __m256i b = _mm256_set1_epi16(-2),
			__m256i, _mm256_set1_epi32, DECL12, CHAINS12, SUM12, OP_I8AVX2, _mm256_add_epi32, _mm256_cvtsi256_si32, sinki)

/* int8 by vpdpbusd, ymm (AVX-VNNI, VEX) or zmm: inline asm, as GCC 12 copies the accumulator in and out
 * around the intrinsic (src/kernels does the same) */
#define OP_VNNI256(c) __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(c) : "x"(a), "x"(b))
#define OP_VNNI512(c) __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))
PEAK_KERNEL(k_int8_avxvnni, "avx2,avxvnni", __m256i a = _mm256_set1_epi8(3); __m256i b = _mm256_set1_epi8(-2),
			__m256i, _mm256_set1_epi32, DECL12, CHAINS12, SUM12, OP_VNNI256, _mm256_add_epi32, _mm256_cvtsi256_si32, sinki)
PEAK_KERNEL(k_int8_avx512vnni, "avx512f,avx512vnni", __m512i a = _mm512_set1_epi8(3); __m512i b = _mm512_set1_epi8(-2),
			__m512i, _mm512_set1_epi32, DECL12, CHAINS12, SUM12, OP_VNNI512, _mm512_add_epi32, _mm512_reduce_add_epi32, sinki)

/* one kernel: its name, features, operations per loop iteration (12 chains), unit, instruction */
typedef struct
{
	const char *name;
	int			needs;
	double		ops;
	const char *unit;
	const char *what;
	void	   *(*fn) (void *);
} Kernel;

static const Kernel kernels[] = {
	{"fp32-avx2", TFM_FEAT_AVX2, 12 * 16, "GFLOP/s", "vfmadd231ps ymm", k_fp32_avx2},
	{"fp32-avx512", TFM_FEAT_AVX512, 12 * 32, "GFLOP/s", "vfmadd231ps zmm", k_fp32_avx512},
	{"bf16-avx2", TFM_FEAT_AVX2, 12 * 32, "GFLOP/s", "widening + vfmadd231ps ymm", k_bf16_avx2},
	{"bf16-avx512", TFM_FEAT_AVX512, 12 * 64, "GFLOP/s", "widening + vfmadd231ps zmm", k_bf16_avx512},
	{"bf16-avx512bf16", TFM_FEAT_AVX512 | TFM_FEAT_BF16_512, 12 * 64, "GFLOP/s", "vdpbf16ps zmm", k_bf16_avx512bf16},
	{"int8-avx2", TFM_FEAT_AVX2, 12 * 32, "GOP/s", "vpmaddwd + vpaddd ymm (int8 widened to int16)", k_int8_avx2},
	{"int8-avxvnni", TFM_FEAT_AVX2 | TFM_FEAT_AVXVNNI, 12 * 64, "GOP/s", "vpdpbusd ymm", k_int8_avxvnni},
	{"int8-avx512vnni", TFM_FEAT_AVX512 | TFM_FEAT_VNNI512, 12 * 128, "GOP/s", "vpdpbusd zmm", k_int8_avx512vnni},
};

/* the rate of THREADS concurrent copies of a kernel, in G per second */
static double
kernel_rate(const Kernel *k, int threads)
{
	pthread_t	th[64];
	double		t0 = now();

	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, k->fn, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return k->ops * ITERS * threads / (now() - t0) / 1e9;
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
	int			have = TfmCpuDetected();
	double		g = 0;

	if (threads < 1)
	{
		printf("core %s\n", openblas_get_corename());
		return 0;
	}
	if (threads > 64)
		threads = 64;
	for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
	{
		const Kernel *k = &kernels[i];
		double		best = 0;

		if ((have & k->needs) != k->needs)
		{
			printf("%s skipped: the CPU (or the OS) lacks %s\n", k->name, k->what);
			continue;
		}
		for (int r = 0; r < RUNS; r++)
		{
			double		x = kernel_rate(k, threads);

			best = x > best ? x : best;
		}
		printf("%s %.1f %s %s\n", k->name, best, k->unit, k->what);
	}
	for (int r = 0; r < RUNS; r++)
	{
		double		y = sgemm_rate(threads, 1024);

		g = y > g ? y : g;
	}
	printf("sgemm %.1f GFLOP/s OpenBLAS 1024^3\ncore %s\n", g, openblas_get_corename());
	return 0;
}
