/*
 * packed_avx2.c - AVX2+FMA tile of the packed-panel matmul (see packed.h)
 */
#include <string.h>

#include "kernels/packed.h"
#include "kernels/tiles.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "kernels/avx2tile.h"

/*
 * One panel (16 columns, two ymm) against MR <= 6 input rows: 12
 * accumulators, and per input position 2 weight loads and MR broadcasts for
 * 2*MR FMAs.  The accumulators start from the bias and are stored once;
 * a partial last panel (cols < 16) goes through a buffer.
 */
__attribute__((target("avx2,fma"), always_inline))
static inline void
packed_tile_avx2(float *out, int ldo, const float *x, int ldx, const float *panel,
				 const float *bias, int C, int MR, int cols)
{
	__m256		acc[6][2];
	float		b[16] = {0};

	tfm_avx2_acc_bias(acc, b, bias ? bias : NULL, MR, cols);
	for (int i = 0; i < C; i++)
	{
		__m256		w0 = _mm256_loadu_ps(panel + (size_t) i * 16),
					w1 = _mm256_loadu_ps(panel + (size_t) i * 16 + 8);

#pragma GCC unroll 6
		for (int r = 0; r < MR; r++)
		{
			__m256		xv = _mm256_broadcast_ss(x + (size_t) r * ldx + i);

			acc[r][0] = _mm256_fmadd_ps(xv, w0, acc[r][0]);
			acc[r][1] = _mm256_fmadd_ps(xv, w1, acc[r][1]);
		}
	}
	tfm_avx2_acc_store(out, ldo, acc, b, MR, cols);
}

/* one panel against MR rows, MR a constant at each call so the tile unrolls into registers */
__attribute__((target("avx2,fma")))
void
tfm_packed_rows_avx2(float *out, int ldo, const float *x, int ldx, const float *panel,
					 const float *bias, int C, int MR, int cols)
{
#define TILE(mr) packed_tile_avx2(out, ldo, x, ldx, panel, bias, C, mr, cols)
	TFM_TILE_ROWS6(MR, TILE);
#undef TILE
}
#else
/* not reached: callers check TfmCpuHas */
void
tfm_packed_rows_avx2(float *out, int ldo, const float *x, int ldx, const float *panel,
					 const float *bias, int C, int MR, int cols)
{
}
#endif
