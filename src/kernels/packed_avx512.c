/*
 * packed_avx512.c - AVX-512F tile of the packed-panel matmul (see packed.h)
 */
#include "kernels/packed.h"
#include "kernels/tiles.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/*
 * NP (1 or 2) panels, one zmm each, against MR <= 12 input rows: up to 24
 * accumulators; per input position NP weight loads and MR broadcasts feed
 * NP*MR FMAs.  Bias loads and the stores of a partial panel are masked.
 */
__attribute__((target("avx512f"), always_inline))
static inline void
packed_tile_avx512(float *out, int ldo, const float *x, int ldx, const float *panel,
				   const float *bias, int C, int MR, int NP, int cols)
{
	__m512		acc[12][2];
	__mmask16	m[2];
	__m512		b[2];
	const float *p1 = panel + (size_t) C * 16;

	m[0] = (__mmask16) (cols >= 16 ? 0xffff : (1u << cols) - 1);
	m[1] = (__mmask16) (cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
#pragma GCC unroll 2
	for (int p = 0; p < NP; p++)
		b[p] = bias ? _mm512_maskz_loadu_ps(m[p], bias + 16 * p) : _mm512_setzero_ps();
#pragma GCC unroll 12
	for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
		for (int p = 0; p < NP; p++)
			acc[r][p] = b[p];
	for (int i = 0; i < C; i++)
	{
		__m512		w[2];

		w[0] = _mm512_loadu_ps(panel + (size_t) i * 16);
		if (NP > 1)
			w[1] = _mm512_loadu_ps(p1 + (size_t) i * 16);
#pragma GCC unroll 12
		for (int r = 0; r < MR; r++)
		{
			__m512		xv = _mm512_set1_ps(x[(size_t) r * ldx + i]);

#pragma GCC unroll 2
			for (int p = 0; p < NP; p++)
				acc[r][p] = _mm512_fmadd_ps(xv, w[p], acc[r][p]);
		}
	}
#pragma GCC unroll 12
	for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
		for (int p = 0; p < NP; p++)
			_mm512_mask_storeu_ps(out + (size_t) r * ldo + 16 * p, m[p], acc[r][p]);
}

#define TILE(mr, np) packed_tile_avx512(out, ldo, x, ldx, panel, bias, C, mr, np, cols)

/* MR rows against one or two panels, both constants at each call so the tile unrolls */
__attribute__((target("avx512f")))
void
tfm_packed_rows_avx512(float *out, int ldo, const float *x, int ldx, const float *panel,
					   const float *bias, int C, int MR, int cols)
{
	TFM_TILE_ROWS12_PANELS(MR, cols, TILE);
}
#else
/* not reached: callers check TfmCpuHas */
void
tfm_packed_rows_avx512(float *out, int ldo, const float *x, int ldx, const float *panel,
					   const float *bias, int C, int MR, int cols)
{
}
#endif
