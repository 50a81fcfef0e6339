/*
 * bgemm_avx2.c - AVX2 tile of the bf16 linear layer (see bgemm.h)
 *
 * One panel (16 columns, two ymm) against MR <= 6 rows.  A 64-byte group
 * holds channels k and k+1 of 16 columns; as 32-bit lanes, the low half is
 * channel k and the high half k+1, so a shift and a mask widen them to
 * fp32; the rows come rounded to bf16 and widened back to floats, so each row's pair is two
 * broadcasts from memory: 4 FMAs per row and pair.
 */
#include <string.h>

#include "kernels/bgemm.h"
#include "kernels/tiles.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2tile.h"

/* one tile, MR a constant at each call */
__attribute__((target("avx2,fma"), always_inline))
static inline void
b16_tile_avx2(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
			  int o0, const float *bias, int MR, int cols)
{
	const uint16_t *panel = w->w + (size_t) (o0 / 16) * (w->Cp / 2) * 32;
	const float *xf = xa;
	__m256		acc[6][2];
	__m256i		hi = _mm256_set1_epi32((int) 0xffff0000u);
	float		b[16] = {0};

	tfm_avx2_acc_bias(acc, b, bias ? bias + o0 : NULL, MR, cols);
	for (int k2 = 0; k2 < w->Cp / 2; k2++)
	{
		__m256i		g0 = _mm256_load_si256((const __m256i *) (panel + (size_t) k2 * 32)),
					g1 = _mm256_load_si256((const __m256i *) (panel + (size_t) k2 * 32 + 16));
		__m256		e0 = _mm256_castsi256_ps(_mm256_slli_epi32(g0, 16)),
					d0 = _mm256_castsi256_ps(_mm256_and_si256(g0, hi)),
					e1 = _mm256_castsi256_ps(_mm256_slli_epi32(g1, 16)),
					d1 = _mm256_castsi256_ps(_mm256_and_si256(g1, hi));

#pragma GCC unroll 6
		for (int r = 0; r < MR; r++)
		{
			__m256		ve = _mm256_broadcast_ss(xf + (size_t) r * ldb + 2 * k2),
						vd = _mm256_broadcast_ss(xf + (size_t) r * ldb + 2 * k2 + 1);

			acc[r][0] = _mm256_fmadd_ps(vd, d0, _mm256_fmadd_ps(ve, e0, acc[r][0]));
			acc[r][1] = _mm256_fmadd_ps(vd, d1, _mm256_fmadd_ps(ve, e1, acc[r][1]));
		}
	}
	tfm_avx2_acc_store(out, ldo, acc, b, MR, cols);
}

/* AVX2 rows */
__attribute__((target("avx2,fma")))
void
tfm_b16_rows_avx2(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
				  int o0, const float *bias, int MR, int cols)
{
#define TILE(mr) b16_tile_avx2(out, ldo, xa, ldb, w, o0, bias, mr, cols)
	TFM_TILE_ROWS6(MR, TILE);
#undef TILE
}
#else
/* not reached: callers check TfmCpuHas */
void
tfm_b16_rows_avx2(float *out, int ldo, const void *xa, int ldb, const TfmB16Weight *w,
				  int o0, const float *bias, int MR, int cols)
{
}
#endif
