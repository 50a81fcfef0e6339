/*
 * avx2tile.h - the start and end of the AVX2 fp32 tiles (packed_avx2.c, bgemm_avx2.c): MR rows of
 * two ymm accumulators (16 columns) that start from the bias and are stored once, a partial panel
 * (cols < 16) through a buffer.  Include inside the files' x86-64 GCC section, after immintrin.h.
 */
#ifndef TFM_KERNELS_AVX2TILE_H
#define TFM_KERNELS_AVX2TILE_H

#include <string.h>

/* acc[r] = bias[0..cols) (zeros past cols, or everywhere without a bias); b: the tile's 16-float buffer */
__attribute__((target("avx2,fma"), always_inline))
static inline void
tfm_avx2_acc_bias(__m256 acc[][2], float *b, const float *bias, int MR, int cols)
{
	if (bias)
		memcpy(b, bias, sizeof(float) * cols);
#pragma GCC unroll 6
	for (int r = 0; r < MR; r++)
	{
		acc[r][0] = _mm256_loadu_ps(b);
		acc[r][1] = _mm256_loadu_ps(b + 8);
	}
}

/* store MR rows (ldo apart) of cols columns from the accumulators, a partial panel through b */
__attribute__((target("avx2,fma"), always_inline))
static inline void
tfm_avx2_acc_store(float *out, int ldo, __m256 acc[][2], float *b, int MR, int cols)
{
#pragma GCC unroll 6
	for (int r = 0; r < MR; r++)
	{
		if (cols == 16)
		{
			_mm256_storeu_ps(out + (size_t) r * ldo, acc[r][0]);
			_mm256_storeu_ps(out + (size_t) r * ldo + 8, acc[r][1]);
		}
		else
		{
			_mm256_storeu_ps(b, acc[r][0]);
			_mm256_storeu_ps(b + 8, acc[r][1]);
			memcpy(out + (size_t) r * ldo, b, sizeof(float) * cols);
		}
	}
}

#endif
