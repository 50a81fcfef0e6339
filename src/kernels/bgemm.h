/*
 * bgemm.h - bf16 linear layers for inference
 *
 * Weights (OC,C) are rounded to bfloat16 (nearest even) once; activations
 * are rounded to bf16 per row on the fly, and products accumulate in fp32:
 * vdpbf16ps on AVX512-BF16, elsewhere the bf16 values widened to fp32 (a
 * shift) and FMAs.  The variants sum in different orders (and vdpbf16ps
 * rounds pairs itself), so they agree with the scalar kernel (double sums)
 * within float rounding, not bit for bit.  One packed layout serves every
 * variant: panels of 16 output columns, each (Cp/2, 16, 2) bf16 (two
 * consecutive input channels of one column together, as vdpbf16ps reads).
 */
#ifndef TFM_KERNELS_BGEMM_H
#define TFM_KERNELS_BGEMM_H

#include <stddef.h>
#include <stdint.h>

/* largest C the bf16 path takes (its row buffer): callers refuse larger ones */
#define TFM_B16_MAX_C 32768

typedef struct TfmB16Weight
{
	int			C,
				OC,
				Cp,				/* C rounded up to 2 */
				OCp;			/* OC rounded up to 16 */
	const uint16_t *w;			/* OCp/16 panels of (Cp/2, 16, 2) bf16 */
} TfmB16Weight;

/* bytes of a bf16 weight (the struct and its panels, 64-byte aligned inside) */
size_t		tfm_b16_bytes(int C, int OC);
/* round a weight given in kernels/formats.c's fp32 panels (matmul_pack) to bf16 into mem (tfm_b16_bytes, 64-aligned) */
TfmB16Weight *tfm_b16_from_panels(void *mem, const float *packed, int C, int OC);
/* point w at a bf16 weight's panels in mem (as tfm_b16_from_panels lays them out, e.g. in a mapped file) */
TfmB16Weight *tfm_b16_bind(TfmB16Weight *w, const void *mem, int C, int OC);
/* a bf16 weight widened exactly to fp32 panels (matmul_pack's layout, matmul_packed_floats(C, OC) floats) */
void		tfm_b16_to_panels(float *dst, const TfmB16Weight *w);
/* float -> bf16, round to nearest even (nan stays nan) */
uint16_t	tfm_f32_to_bf16(float f);

/* variants */
#define TFM_B16_SCALAR 0
#define TFM_B16_AVX2 1
#define TFM_B16_AVX512 2
#define TFM_B16_AVX512BF16 3
#define TFM_B16_VARIANTS 4
/* out (N,OC) = bf16(x) (N,C) . w^T + bias (NULL: none) through one variant; 0 if the CPU level lacks it */
int			tfm_b16_linear_variant(float *out, const float *x, const TfmB16Weight *w, const float *bias,
								   int N, int variant);
/* the same through the best variant the CPU level allows */
void		tfm_b16_linear(float *out, const float *x, const TfmB16Weight *w, const float *bias, int N);
int			tfm_b16_best_variant(void);
/*
 * nonzero when N rows should rather go through the fp32 weights: without AVX512-BF16 the widening
 * tiles lose to the fp32 ones once products, not weight reads, bound the time (measured on Zen 5:
 * at 200 rows 90 vs 100 GFLOP/s on AVX2, 167 vs 187 on AVX-512F; up to 12 rows they win, 1.5x at
 * 1-4 rows; embedding per row through SQL, AVX2's widening lost at subjects' 10-30 tokens)
 */
#define TFM_B16_WIDEN_MAX_ROWS 12
int			tfm_b16_prefers_fp32(int N);
const char *tfm_b16_variant_name(int variant);

/* tiles: out (MR rows) for columns o0.. o0+cols of w, from rows (ldb values apart) rounded to
 * bf16: as bf16 pairs for the vdpbf16ps tile, widened back to floats for the others */
#define TFM_B16_AVX2_MR 5
#define TFM_B16_AVX512_MR 12
void		tfm_b16_rows_avx2(float *out, int ldo, const void *xa, int ldb,
							  const TfmB16Weight *w, int o0, const float *bias, int MR, int cols);
void		tfm_b16_rows_avx512(float *out, int ldo, const void *xa, int ldb,
								const TfmB16Weight *w, int o0, const float *bias, int MR, int cols);
void		tfm_b16_rows_avx512bf16(float *out, int ldo, const void *xa, int ldb,
									const TfmB16Weight *w, int o0, const float *bias, int MR, int cols);

/* AVX-512 form of the rows' rounding to bf16 (the same bits) */
void		tfm_b16_round_avx512(uint16_t *xb, const float *x, int N, int C, int Cp);

#endif
