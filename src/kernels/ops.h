/*
 * ops.h - compute kernels of pg_tfm (llm.c style)
 *
 * Every kernel is named <op>_forward / <op>_backward, takes its outputs
 * first, then its inputs, then sizes, and never allocates: work memory
 * comes from the caller.  The kernels live in src/kernels/ (formats.c,
 * matmul.c, pointwise.c, attention.c); each fast kernel has a plain
 * <op>_*_ref in test/ref/ops_ref.c that the unit tests compare it with.
 *
 * Backward kernels ACCUMULATE (+=) into every gradient they write, as in
 * llm.c: the caller zeroes gradient buffers once, and residual branches
 * simply add up.  A NULL gradient pointer skips that gradient where noted.
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
/*
 * Packed weights for inference: weight (OC,C) stored as panels of
 * TFM_PANEL output columns, each panel (C,TFM_PANEL) row-major and the last
 * one padded with zeros, so the kernel reads every weight once per tile of
 * input rows in order, with no horizontal sums.  Results equal
 * matmul_forward's within float rounding (the same products, summed in
 * input order per output).
 */
#define TFM_PANEL 16
/* floats of the packed form of a (OC,C) weight */
size_t matmul_packed_floats(int C, int OC);
/* dst (matmul_packed_floats) = weight (OC,C) in panels */
void matmul_pack(float *dst, const float *weight, int C, int OC);
/* nonzero when packed products go through BLAS (no AVX2): load it before threads use them */
int matmul_packed_needs_blas(void);
/* weight (OC,C) = the inverse of matmul_pack */
void matmul_unpack(float *weight, const float *packed, int C, int OC);
/* out (N,OC) = inp (N,C) . weight^T + bias (or no bias if NULL), weight packed */
void matmul_forward_packed(float *out, const float *inp, const float *packed,
						   const float *bias, int N, int C, int OC);
/*
 * dinp (N,C) += dout (N,OC) . weight (OC,C); dweight (OC,C) += dout^T . inp;
 * dbias (OC) += sum over rows of dout; each output may be NULL (skipped)
 */
void matmul_backward(float *dinp, float *dweight, float *dbias,
					 const float *dout, const float *inp, const float *weight,
					 int N, int C, int OC);

/* --- normalisation ----------------------------------------------------- */

/*
 * out (N,C) = (inp - mean) * rstd * weight (C) + bias (C), per row.
 * mean (N) and rstd (N) are kept for the backward pass; either may be NULL.
 */
void layernorm_forward(float *out, float *mean, float *rstd,
					   const float *inp, const float *weight, const float *bias,
					   int N, int C, float eps);
/*
 * dinp (N,C) += d out / d inp . dout; dweight (C), dbias (C) += their
 * gradients (either may be NULL); mean (N), rstd (N) from the forward
 */
void layernorm_backward(float *dinp, float *dweight, float *dbias,
						const float *dout, const float *inp,
						const float *weight, const float *mean,
						const float *rstd, int N, int C);

/* --- pointwise --------------------------------------------------------- */

/* out (n) = 0.5 x (1 + erf(x / sqrt 2)), exact GELU; out may equal inp */
void gelu_forward(float *out, const float *inp, size_t n);
/* dinp (n) += dout * GELU'(inp) with the exact (erf) derivative */
void gelu_backward(float *dinp, const float *inp, const float *dout,
				   size_t n);

/* out (n) = inp1 + inp2; out may equal either input */
void residual_forward(float *out, const float *inp1, const float *inp2,
					  size_t n);
/* dinp1 (n) += dout, dinp2 (n) += dout; either may be NULL */
void residual_backward(float *dinp1, float *dinp2, const float *dout,
					   size_t n);

/*
 * probs (N,T) = softmax(scale * inp) over the first `valid` columns of each
 * row; columns from `valid` on are masked (probability 0).  valid <= 0
 * gives an all-zero row.  probs may equal inp.
 */
void softmax_forward(float *probs, const float *inp, float scale,
					 int N, int T, int valid);
/* dinp (N,T) += gradient through softmax_forward(probs, inp, scale, ...)
 * from dprobs (N,T); masked columns get nothing */
void softmax_backward(float *dinp, const float *dprobs, const float *probs,
					  float scale, int N, int T, int valid);

/* --- dropout ----------------------------------------------------------- */

/*
 * Inverted dropout with a counter-based mask: element i is kept iff a hash
 * of (seed, offset + i) clears p, so the backward pass (or a replay)
 * regenerates the mask instead of storing it, and the same seed always
 * gives the same masks.  Kept elements are scaled by 1/(1-p); p <= 0 is
 * the identity, p >= 1 drops everything.
 */
/* out (n) = dropout(inp); out may equal inp */
void dropout_forward(float *out, const float *inp, size_t n, float p,
					 uint64_t seed, uint64_t offset);
/* dinp (n) += dout * mask / (1-p) */
void dropout_backward(float *dinp, const float *dout, size_t n, float p,
					  uint64_t seed, uint64_t offset);
/* the factor (0 or 1/(1-p)) dropout applies to element idx of (seed) */
float dropout_factor(float p, uint64_t seed, uint64_t idx);

/* --- embeddings -------------------------------------------------------- */

/*
 * An id plus TFM_TOKEN_TYPE1 is that token with token type 1 (the second
 * text of a pair); every other id has type 0.  Vocabularies hold fewer
 * than 2^20 ids, so the marked ids never collide with real ones.  A
 * marked id needs a token-type table of at least two rows.
 */
#define TFM_TOKEN_TYPE1 (1 << 24)

/* the vocabulary row token t of sequence b reads: id 0 for padding and
 * out-of-range ids, so garbage ids are never dereferenced; *type is the
 * token type row (TFM_TOKEN_TYPE1 marks type 1, anything else is type 0) */
static inline int32_t
embedding_id(const int32_t *ids, const int *lens, int b, int t, int T, int V, int *type)
{
	int32_t		id = t < lens[b] ? ids[(size_t) b * T + t] : 0;

	*type = 0;
	if (id >= TFM_TOKEN_TYPE1 && id < 2 * TFM_TOKEN_TYPE1)
	{
		*type = 1;
		id -= TFM_TOKEN_TYPE1;
	}
	return id < 0 || id >= V ? 0 : id;
}

/*
 * out (B,T,C) = wte (V,C)[ids] + wpe (max_pos,C)[pos] + wtt[type] (type 1
 * for ids marked with TFM_TOKEN_TYPE1, else 0).  pos (B,T) gives each
 * token's position row (NULL: t; each must be below max_pos); wtt NULL
 * means no token types.  Padding tokens (t >= lens[b]) and ids outside
 * [0,V) read row 0.
 */
void embedding_forward(float *out, const int32_t *ids, const int *lens,
					   const float *wte, const float *wpe, const float *wtt,
					   const int *pos, int B, int T, int C, int V);
/* scatter-add dout (B,T,C) into the rows embedding_forward read: dwte
 * (V,C), dwpe (positions' rows), dwtt (the token type's row); any may be NULL */
void embedding_backward(float *dwte, float *dwpe, float *dwtt,
						const float *dout, const int32_t *ids,
						const int *lens, const int *pos, int B, int T, int C, int V);

/* --- attention --------------------------------------------------------- */

/* floats of scratch attention_forward needs (hs = C / NH channels per head) */
size_t attention_scratch_floats(int T, int hs);

/*
 * Multi-head scaled dot-product self-attention, bidirectional (encoder).
 * q, k, v (B,T,C) hold NH heads of C/NH channels side by side.  Sequence b
 * has lens[b] real tokens; the rest is padding: masked out as keys, and
 * its query rows of out are set to zero.
 * out (B,T,C): context vectors, heads side by side.
 * att (B,NH,T,T): attention probabilities kept for the backward pass, or
 * NULL to use scratch instead.  scratch (attention_scratch_floats(T, hs)
 * floats) may be NULL only when att is given; with it both products run
 * through the panel kernel of matmul_forward_packed.
 */
void attention_forward(float *out, float *att,
					   const float *q, const float *k, const float *v,
					   const int *lens, int B, int T, int C, int NH,
					   float *scratch);
/*
 * attention_forward with dropout p on the probabilities (training); att,
 * if not NULL, keeps the probabilities BEFORE dropout; element (b,h,t,j)
 * uses dropout index offset + ((b NH + h) T + t) T + j; scratch holds
 * T * T floats, twice that if att is NULL
 */
void attention_forward_dropout(float *out, float *att,
							   const float *q, const float *k, const float *v,
							   const int *lens, int B, int T, int C, int NH,
							   float p, uint64_t seed, uint64_t offset,
							   float *scratch);

/* floats of scratch attention_backward needs */
size_t attention_backward_scratch_floats(int T);

/*
 * dq, dk, dv (B,T,C) += gradients of attention_forward's out from dout
 * (B,T,C), given the probabilities att (B,NH,T,T) it kept, or NULL to
 * recompute them from q and k (one more QK^T per head instead of B NH T T
 * floats kept); padding rows get nothing.  scratch:
 * attention_backward_scratch_floats(T) floats.
 */
void attention_backward(float *dq, float *dk, float *dv, const float *dout,
						const float *att, const float *q, const float *k,
						const float *v, const int *lens,
						int B, int T, int C, int NH, float *scratch);
/* the same through attention_forward_dropout's dropout (p, seed, offset) */
void attention_backward_dropout(float *dq, float *dk, float *dv,
								const float *dout, const float *att,
								const float *q, const float *k,
								const float *v, const int *lens,
								int B, int T, int C, int NH,
								float p, uint64_t seed, uint64_t offset,
								float *scratch);

#endif							/* TFM_OPS_H */
