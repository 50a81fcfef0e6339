/*
 * ops.h - compute kernels of pg_tfm (llm.c style)
 *
 * Every kernel is named <op>_forward (a <op>_backward will sit next to it),
 * takes its outputs first, then its inputs, then sizes, and never allocates:
 * work memory comes from the caller.  Each fast kernel has a plain
 * <op>_forward_ref next to it that the unit tests compare it with.
 *
 * Shapes: B batch, T sequence length (padded), C channels, NH heads,
 * N = rows (usually B*T), OC output channels.  Matrices are row-major;
 * Linear weights are (OC,C) as PyTorch stores them.
 *
 * Pure C99 + SIMD intrinsics behind runtime checks; no postgres.h.
 */
#ifndef TFM_OPS_H
#define TFM_OPS_H

#include <stddef.h>
#include <stdint.h>

/* allow (1, the default) or forbid (0) the SIMD paths, e.g. to test the
 * portable code; the choice is process-wide */
void TfmOpsSetSimd(int enabled);

/* --- number formats ---------------------------------------------------- */

/* IEEE 754 binary16 -> float (subnormals, inf and nan preserved) */
void TfmHalfToFloat(float *dst, const uint16_t *src, size_t n);
/* bfloat16 -> float */
void TfmBf16ToFloat(float *dst, const uint16_t *src, size_t n);

/* --- linear ------------------------------------------------------------ */

/* out (N,OC) = inp (N,C) . weight (OC,C)^T + bias (OC) or no bias if NULL */
void matmul_forward(float *out, const float *inp, const float *weight,
					const float *bias, int N, int C, int OC);
void matmul_forward_ref(float *out, const float *inp, const float *weight,
						const float *bias, int N, int C, int OC);

/* --- normalisation ----------------------------------------------------- */

/*
 * out (N,C) = (inp - mean) * rstd * weight (C) + bias (C), per row.
 * mean (N) and rstd (N) are kept for the backward pass; either may be NULL.
 */
void layernorm_forward(float *out, float *mean, float *rstd,
					   const float *inp, const float *weight, const float *bias,
					   int N, int C, float eps);
void layernorm_forward_ref(float *out, float *mean, float *rstd,
						   const float *inp, const float *weight,
						   const float *bias, int N, int C, float eps);

/* --- pointwise --------------------------------------------------------- */

/* out (n) = 0.5 x (1 + erf(x / sqrt 2)), exact GELU; out may equal inp */
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_forward_ref(float *out, const float *inp, size_t n);

/* out (n) = inp1 + inp2; out may equal either input */
void residual_forward(float *out, const float *inp1, const float *inp2,
					  size_t n);
void residual_forward_ref(float *out, const float *inp1, const float *inp2,
						  size_t n);

/*
 * probs (N,T) = softmax(scale * inp) over the first `valid` columns of each
 * row; columns from `valid` on are masked (probability 0).  valid <= 0
 * gives an all-zero row.  probs may equal inp.
 */
void softmax_forward(float *probs, const float *inp, float scale,
					 int N, int T, int valid);
void softmax_forward_ref(float *probs, const float *inp, float scale,
						 int N, int T, int valid);

/* --- attention --------------------------------------------------------- */

/* floats of scratch attention_forward needs when att is NULL */
size_t attention_scratch_floats(int T);

/*
 * Multi-head scaled dot-product self-attention, bidirectional (encoder).
 * q, k, v (B,T,C) hold NH heads of C/NH channels side by side.  Sequence b
 * has lens[b] real tokens; the rest is padding: masked out as keys, and
 * its query rows of out are set to zero.
 * out (B,T,C): context vectors, heads side by side.
 * att (B,NH,T,T): attention probabilities kept for the backward pass, or
 * NULL to use scratch (attention_scratch_floats(T) floats) instead.
 */
void attention_forward(float *out, float *att,
					   const float *q, const float *k, const float *v,
					   const int *lens, int B, int T, int C, int NH,
					   float *scratch);
/* naive version; scratch holds T floats */
void attention_forward_ref(float *out, const float *q, const float *k,
						   const float *v, const int *lens,
						   int B, int T, int C, int NH, float *scratch);

#endif							/* TFM_OPS_H */
