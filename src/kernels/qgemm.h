/*
 * qgemm.h - int8 linear layers (dynamic quantisation) for inference
 *
 * Weights (OC,C) are quantised once per output channel, symmetric:
 * w[o][k] ~ scale[o] * q[o][k], q in [-127,127].  Activations are
 * quantised per row on the fly, x[n][k] ~ sx[n] * xq[n][k].  Products
 * accumulate in int32, exactly, in every variant (scalar, AVX2
 * vpmaddwd on int16, AVX-VNNI, AVX512-VNNI vpdpbusd), and
 *   out[n][o] = ((float) acc * sx[n]) * scale[o] + bias[o]
 * is computed with the same float operations everywhere, so all variants
 * give bit-identical outputs.  One packed layout serves every variant:
 * panels of 16 output columns, each (Cp/4, 16, 4) bytes (four consecutive
 * input channels of one column together, as vpdpbusd reads them).
 */
#ifndef TFM_KERNELS_QGEMM_H
#define TFM_KERNELS_QGEMM_H

#include <stddef.h>
#include <stdint.h>

/* largest C (input channels) the int8 path takes: callers refuse larger ones */
#define TFM_Q8_MAX_C 65536

typedef struct TfmQ8Weight
{
	int			C,
				OC,
				Cp,				/* C rounded up to 4 */
				OCp;			/* OC rounded up to 16 */
	const float *scale;			/* (OCp) per output channel */
	const int32_t *wsum;		/* (OCp) 128 * sum_k q[o][k]: the VNNI paths' offset */
	const int8_t *q;			/* OCp/16 panels of (Cp/4, 16, 4) */
} TfmQ8Weight;

/* bytes of a quantised weight (the struct and its arrays, 64-byte aligned inside) */
size_t		tfm_q8_bytes(int C, int OC);
/* quantise a weight given in kernels/formats.c's fp32 panels (matmul_pack) into mem (tfm_q8_bytes, 64-aligned) */
TfmQ8Weight *tfm_q8_from_panels(void *mem, const float *packed, int C, int OC);
/* point w at a quantised weight's arrays in mem (as tfm_q8_from_panels lays them out, e.g. in a mapped file) */
TfmQ8Weight *tfm_q8_bind(TfmQ8Weight *w, const void *mem, int C, int OC);
/* out (N,OC) = x (N,C) . w^T + bias (NULL: none), activations quantised per row; SIMD as the CPU level allows */
void		tfm_q8_linear(float *out, const float *x, const TfmQ8Weight *w, const float *bias, int N);
/* variants (all give bit-identical results) */
#define TFM_Q8_SCALAR 0
#define TFM_Q8_AVX2 1
#define TFM_Q8_AVXVNNI 2
#define TFM_Q8_AVX512VNNI 3
#define TFM_Q8_VARIANTS 4
/* the same through one variant; returns 0 (nothing done) when the CPU level lacks it */
int			tfm_q8_linear_variant(float *out, const float *x, const TfmQ8Weight *w, const float *bias,
								  int N, int variant);
/* the variant tfm_q8_linear runs now, and a variant's name */
int			tfm_q8_best_variant(void);
const char *tfm_q8_variant_name(int variant);
/* quantise rows: xq (N, Cp) in [-127,127] (zeros past C), sx (N) their scales */
void		tfm_q8_quantize_rows(int8_t *xq, float *sx, const float *x, int N, int C, int Cp);

/* forms of the quantised rows the tiles read: int8; unsigned x + 128 (the VNNI tiles); int16 in
 * the order x0 x2 x1 x3 of each four channels (the AVX2 tile) */
#define TFM_Q8_ROWS_S8 0
#define TFM_Q8_ROWS_U8 1
#define TFM_Q8_ROWS_S16 2
/* tiles: out (MR rows) for columns o0.. o0+cols of w, from quantised rows xq (ldq values apart,
 * in the tile's form) */
#define TFM_Q8_AVX2_MR 5
#define TFM_Q8_AVXVNNI_MR 6
#define TFM_Q8_AVX512_MR 8
void		tfm_q8_rows_avx2(float *out, int ldo, const void *xq, int ldq, const float *sx,
							 const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols);
void		tfm_q8_rows_avxvnni(float *out, int ldo, const void *xq, int ldq, const float *sx,
								const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols);
void		tfm_q8_rows_avx512vnni(float *out, int ldo, const void *xq, int ldq, const float *sx,
								   const TfmQ8Weight *w, int o0, const float *bias, int MR, int cols);

/* AVX-512 form of the offset (+128) quantisation q8_quantize does for the VNNI tiles */
void		tfm_q8_quantize_avx512(int8_t *xq, float *sx, const float *x, int N, int C, int Cp);
/* AVX2 form of tfm_q8_quantize_rows (the same values and scales), rows stored in a form (TFM_Q8_ROWS_*) */
void		tfm_q8_quantize_avx2(void *xq, float *sx, const float *x, int N, int C, int Cp, int form);

#endif
