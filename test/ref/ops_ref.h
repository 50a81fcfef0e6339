/*
 * ops_ref.h - naive reference kernels (test/ref/ops_ref.c) of the fast ones
 * declared in src/kernels/ops.h: the same arguments, plain loops in double.  For
 * the unit tests only; the module does not ship them.
 */
#ifndef TFM_OPS_REF_H
#define TFM_OPS_REF_H

#include <stddef.h>
#include <stdint.h>

/* the naive counterparts of ops.h's kernels, same arguments */
void matmul_forward_ref(float *out, const float *inp, const float *weight,
						const float *bias, int N, int C, int OC);
void matmul_backward_ref(float *dinp, float *dweight, float *dbias,
						 const float *dout, const float *inp,
						 const float *weight, int N, int C, int OC);
void layernorm_forward_ref(float *out, float *mean, float *rstd,
						   const float *inp, const float *weight,
						   const float *bias, int N, int C, float eps);
/* reference: recomputes mean and rstd from inp in double */
void layernorm_backward_ref(float *dinp, float *dweight, float *dbias,
							const float *dout, const float *inp,
							const float *weight, int N, int C, float eps);
void gelu_forward_ref(float *out, const float *inp, size_t n);
void gelu_backward_ref(float *dinp, const float *inp, const float *dout,
					   size_t n);
void residual_forward_ref(float *out, const float *inp1, const float *inp2,
						  size_t n);
void softmax_forward_ref(float *probs, const float *inp, float scale,
						 int N, int T, int valid);
void softmax_backward_ref(float *dinp, const float *dprobs,
						  const float *probs, float scale,
						  int N, int T, int valid);
/* naive version; scratch holds T floats */
void attention_forward_ref(float *out, const float *q, const float *k,
						   const float *v, const int *lens,
						   int B, int T, int C, int NH, float *scratch);
/* naive version recomputing the probabilities; scratch holds 3 T doubles */
void attention_backward_ref(float *dq, float *dk, float *dv,
							const float *dout, const float *q,
							const float *k, const float *v, const int *lens,
							int B, int T, int C, int NH,
							float p, uint64_t seed, uint64_t offset,
							double *scratch);

#endif							/* TFM_OPS_REF_H */
