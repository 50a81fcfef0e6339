/*
 * matmul.c - linear layers: the small-N AVX2 kernel, BLAS, the packed-panel
 * GEMM and the backward pass (see ops.h)
 *
 * Nothing here allocates, reports errors or stops the process; SIMD paths
 * are compiled for a target with attributes and chosen at run time, so the
 * object runs on any x86-64.
 */
#include <math.h>
#include <string.h>

#include "kernels/blas.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/opsint.h"
#include "kernels/packed.h"

/* allow (all the CPU has) or forbid the SIMD paths: a level cap (kernels/cpu.h) */
void
TfmOpsSetSimd(int enabled)
{
	TfmCpuSetLevel(enabled ? TFM_LEVEL_AUTO : TFM_LEVEL_SCALAR);
}

/* ---------------------------------------------------------------------- */
/* matmul                                                                  */
/* ---------------------------------------------------------------------- */

#ifdef TFM_X86
/*
 * One tile of the small-N matmul: OT output columns (weight rows) by NR
 * input rows, dot products over C (a multiple of 8). Every weight load
 * feeds NR FMAs and every input load OT FMAs, so with OT 3 and NR 4 the
 * core issues 7 loads per 12 FMAs and runs at the FMA port's rate instead
 * of the load ports'. OT and NR are constants at every call site, so the
 * loops unroll into registers (12 accumulators + 4 operands = 16 ymm).
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
matmul_tile_avx2(float *out, const float *x, const float *w, const float *bias,
				 int C, int OC, int OT, int NR)
{
	__m256		acc[3][4];

#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++)
			acc[t][r] = _mm256_setzero_ps();
	for (int i = 0; i < C; i += 8)
	{
		__m256		wv[3];

	#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
			wv[t] = _mm256_loadu_ps(w + (size_t) t * C + i);
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++)
		{
			__m256		xv = _mm256_loadu_ps(x + (size_t) r * C + i);

		#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
				acc[t][r] = _mm256_fmadd_ps(xv, wv[t], acc[t][r]);
		}
	}
#pragma GCC unroll 3
	for (int t = 0; t < OT; t++)
#pragma GCC unroll 4
		for (int r = 0; r < NR; r++)
			out[(size_t) r * OC + t] = (bias ? bias[t] : 0.0f) + hsum256(acc[t][r]);
}

/* OT weight rows (in L1) against all N input rows, four rows per tile */
__attribute__((target("avx2,fma"), always_inline))
static inline void
matmul_cols_avx2(float *out, const float *inp, const float *w, const float *bias,
				 int N, int C, int OC, int OT)
{
	int			n = 0;

	for (; n + 4 <= N; n += 4)
		matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 4);
	switch (N - n)
	{
		case 3:
			matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 3);
			break;
		case 2:
			matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 2);
			break;
		case 1:
			matmul_tile_avx2(out + (size_t) n * OC, inp + (size_t) n * C, w, bias, C, OC, OT, 1);
			break;
	}
}

/*
 * matmul for few rows (short sequences): three weight rows at a time are
 * read from memory once and dotted with every input row while they sit in
 * L1 (the N input rows stay in L1/L2 throughout). BLAS would first pack
 * the whole weight matrix, which costs as much as the product itself when
 * N is small.
 */
__attribute__((target("avx2,fma")))
static void
matmul_small_avx2(float *out, const float *inp, const float *weight,
				  const float *bias, int N, int C, int OC)
{
	int			o = 0;

	if (C % 8 != 0)
	{
		for (int n = 0; n < N; n++)
			for (o = 0; o < OC; o++)
				out[(size_t) n * OC + o] = (bias ? bias[o] : 0.0f) +
					dot_avx2(inp + (size_t) n * C, weight + (size_t) o * C, C);
		return;
	}
	for (; o + 3 <= OC; o += 3)
		matmul_cols_avx2(out + o, inp, weight + (size_t) o * C, bias ? bias + o : NULL, N, C, OC, 3);
	for (; o < OC; o++)
		matmul_cols_avx2(out + o, inp, weight + (size_t) o * C, bias ? bias + o : NULL, N, C, OC, 1);
}
#endif

/* rows up to which matmul_small_avx2 beats BLAS (measured: ~100 on Zen) */
#define MATMUL_SMALL_N 64

/* out (N,OC) = inp (N,C) . weight (OC,C)^T + bias (OC) through BLAS */
void
matmul_forward(float *out, const float *inp, const float *weight,
			   const float *bias, int N, int C, int OC)
{
	float		beta = 0.0f;

#ifdef TFM_X86
	if (N <= MATMUL_SMALL_N && have_avx2())
	{
		matmul_small_avx2(out, inp, weight, bias, N, C, OC);
		return;
	}
#endif
	/* the bias is folded into the GEMM: C starts as bias, beta = 1 */
	if (bias != NULL)
	{
		for (int n = 0; n < N; n++)
			memcpy(out + (size_t) n * OC, bias, sizeof(float) * OC);
		beta = 1.0f;
	}
	TfmSgemm(0, 1, N, OC, C, 1.0f, inp, C, weight, C, beta, out, OC);
}

/* packed_gemm without AVX2: each panel is a (C,16) matrix for BLAS */
static void
packed_gemm_blas(float *out, int ldo, const float *inp, int ldi, const float *packed,
				 const float *bias, int N, int C, int OC)
{
	for (int o = 0; o < OC; o += TFM_PANEL)
	{
		int			cols = OC - o < TFM_PANEL ? OC - o : TFM_PANEL;

		for (int n = 0; n < N; n++)
			for (int j = 0; j < cols; j++)
				out[(size_t) n * ldo + o + j] = bias ? bias[o + j] : 0.0f;
		TfmSgemm(0, 0, N, cols, C, 1.0f, inp, ldi, packed + (size_t) o * C, TFM_PANEL,
				 1.0f, out + o, ldo);
	}
}

/* packed weights go through BLAS (no AVX2 here), so threads must not meet them before it loads */
int
matmul_packed_needs_blas(void)
{
#ifdef TFM_X86
	return !have_avx2();
#else
	return 1;
#endif
}

/* rows per block of the packed matmul: the block's inputs stay in L2 while every panel passes */
#define PACKED_BLOCK_BYTES (192 * 1024)

/*
 * out (N,OC) (rows ldo apart) = inp (N,C) (rows ldi apart) . weight^T + bias
 * with weight in panels.  Rows go in blocks that fit L2; within a block
 * each group of panels (one for AVX2, two for AVX-512) meets the rows in
 * tiles of at most mr (6 or 12), split evenly (13 rows at 6 are tiles of
 * 4, 4 and 5, not 6, 6, 1).
 */
void
tfm_packed_gemm(float *out, int ldo, const float *inp, int ldi, const float *packed,
			const float *bias, int N, int C, int OC)
{
	int			wide = TfmCpuHas(TFM_FEAT_AVX512);
	int			maxmr = wide ? TFM_AVX512_MR : TFM_AVX2_MR;
	int			step = wide ? TFM_AVX512_COLS : TFM_AVX2_COLS;
	int			block = (int) (PACKED_BLOCK_BYTES / (sizeof(float) * (C > 0 ? C : 1))) /
		maxmr * maxmr;

	if (matmul_packed_needs_blas())
	{
		packed_gemm_blas(out, ldo, inp, ldi, packed, bias, N, C, OC);
		return;
	}
	if (block < maxmr)
		block = maxmr;
	for (int n0 = 0; n0 < N; n0 += block)
	{
		int			nb = N - n0 < block ? N - n0 : block;
		int			tiles = (nb + maxmr - 1) / maxmr;

		for (int o = 0; o < OC; o += step)
		{
			const float *panel = packed + (size_t) o * C;
			const float *b = bias ? bias + o : NULL;
			int			cols = OC - o < step ? OC - o : step;
			int			n = n0;

			for (int t = 0; t < tiles; t++)
			{
				int			mr = (n0 + nb - n) / (tiles - t);

				if (wide)
					tfm_packed_rows_avx512(out + (size_t) n * ldo + o, ldo, inp + (size_t) n * ldi,
										   ldi, panel, b, C, mr, cols);
				else
					tfm_packed_rows_avx2(out + (size_t) n * ldo + o, ldo, inp + (size_t) n * ldi,
										 ldi, panel, b, C, mr, cols);
				n += mr;
			}
		}
	}
}

/* out (N,OC) = inp (N,C) . weight^T + bias (or no bias if NULL), weight in panels */
void
matmul_forward_packed(float *out, const float *inp, const float *packed,
					  const float *bias, int N, int C, int OC)
{
	tfm_packed_gemm(out, OC, inp, C, packed, bias, N, C, OC);
}

/*
 * dinp (N,C) += dout (N,OC) . weight (OC,C); dweight (OC,C) += dout^T . inp;
 * dbias (OC) += column sums of dout.  Any output may be NULL to skip it.
 */
void
matmul_backward(float *dinp, float *dweight, float *dbias,
				const float *dout, const float *inp, const float *weight,
				int N, int C, int OC)
{
	if (dinp)
		TfmSgemm(0, 0, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
	if (dweight)
		TfmSgemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
	if (dbias)
	{
		/* row by row so the inner loop runs along memory and vectorises */
		for (int n = 0; n < N; n++)
		{
			const float *d = dout + (size_t) n * OC;

			for (int o = 0; o < OC; o++)
				dbias[o] += d[o];
		}
	}
}
