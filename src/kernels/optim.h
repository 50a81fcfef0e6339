/*
 * optim.h - training pieces around the encoder: a linear head, losses,
 * gradient clipping, AdamW, and a small deterministic RNG
 *
 * Same conventions as ops.h: outputs first, then inputs, then sizes; no
 * allocation, no error reporting (preconditions are the caller's).
 * Pure C99; no postgres.h.
 */
#ifndef TFM_OPTIM_H
#define TFM_OPTIM_H

#include <stddef.h>
#include <stdint.h>

/* --- linear head --------------------------------------------------------- */

/* logits (B,K) = x (B,C) . W (K,C)^T + b (K) (b may be NULL) */
void		linear_head_forward(float *logits, const float *x, const float *W,
								const float *b, int B, int C, int K);

/* dx (B,C) += dlogits . W, dW (K,C) += dlogits^T . x, db (K) += column
 * sums of dlogits; each output may be NULL */
void		linear_head_backward(float *dx, float *dW, float *db,
								 const float *dlogits, const float *x,
								 const float *W, int B, int C, int K);

/* --- losses ------------------------------------------------------------ */

/*
 * mean over the batch of softmax cross-entropy of logits (B,K) against
 * labels (B) in [0,K); dlogits (B,K) = (softmax - onehot) / B is written
 * (not accumulated), or skipped if NULL.  A label outside [0,K) adds no
 * target term (the caller checks labels).
 */
float		crossentropy_forward_backward(float *dlogits, const float *logits,
										  const int *labels, int B, int K);

/* mean squared error of pred (B) against target (B); dpred (B) =
 * 2 (pred - target) / B is written, or skipped if NULL */
float		mse_forward_backward(float *dpred, const float *pred,
								 const float *target, int B);

/* --- optimiser --------------------------------------------------------- */

/*
 * one AdamW step on n parameters, PyTorch semantics: p -= lr wd p
 * (decoupled weight decay), then the bias-corrected Adam update with
 * moments m, v (zero before step 1); t is the 1-based step number
 */
void		adamw_update(float *param, const float *grad, float *m, float *v,
						 size_t n, float lr, float beta1, float beta2,
						 float eps, float weight_decay, int t);

/*
 * scale the n gradient tensors grads[i] (sizes[i] floats) so their global
 * L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_: factor
 * max_norm / (norm + 1e-6) when below 1); returns the norm before
 * clipping.  A non-finite norm is returned and nothing is scaled.
 */
float		TfmGradClipNorm(float *const *grads, const size_t *sizes, int n,
							float max_norm);

/* --- random numbers ------------------------------------------------------ */

/* xoshiro256** seeded through splitmix64: the same seed, the same stream
 * on every platform */
typedef struct TfmRng
{
	uint64_t	s[4];
} TfmRng;

/* start the stream of seed */
void		TfmRngSeed(TfmRng *rng, uint64_t seed);

/* next 64 random bits */
uint64_t	TfmRngNext(TfmRng *rng);

/* uniform double in [0,1) (53 bits) */
double		TfmRngUniform(TfmRng *rng);

/* uniform integer in [0,n), without modulo bias; 0 when n is 0 */
uint64_t	TfmRngBelow(TfmRng *rng, uint64_t n);

/* standard normal (Box-Muller) */
double		TfmRngNormal(TfmRng *rng);

/* shuffle a[0..n) uniformly (Fisher-Yates) */
void		TfmRngShuffle(TfmRng *rng, int *a, size_t n);

#endif							/* TFM_OPTIM_H */
