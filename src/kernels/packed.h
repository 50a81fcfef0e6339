/*
 * packed.h - SIMD tiles of the packed-panel matmul (kernels/matmul.c's tfm_packed_gemm)
 *
 * Each computes out (MR rows ldo apart, cols columns) = x (MR rows ldx
 * apart, C) . panel + bias, panel being TFM_PANEL (16) columns of a packed
 * weight, (C,16) row-major, and the next panel following it in memory.
 * Callers check TfmCpuHas() first.
 */
#ifndef TFM_KERNELS_PACKED_H
#define TFM_KERNELS_PACKED_H

/* rows and columns one call of each variant takes at most */
#define TFM_AVX2_MR 6
#define TFM_AVX2_COLS 16
#define TFM_AVX512_MR 12
#define TFM_AVX512_COLS 32

/* AVX2+FMA: MR <= 6 rows, one panel (cols <= 16) */
void		tfm_packed_rows_avx2(float *out, int ldo, const float *x, int ldx, const float *panel,
								 const float *bias, int C, int MR, int cols);
/* AVX-512F: MR <= 12 rows, one or two panels (cols <= 32) */
void		tfm_packed_rows_avx512(float *out, int ldo, const float *x, int ldx, const float *panel,
								   const float *bias, int C, int MR, int cols);

#endif
