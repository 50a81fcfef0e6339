/*
 * optim.c - linear head, losses, gradient clipping, AdamW, RNG (see optim.h)
 */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/optim.h"

/* logits = x W^T + b: a matmul with few rows */
void
linear_head_forward(float *logits, const float *x, const float *W,
					const float *b, int B, int C, int K)
{
	matmul_forward(logits, x, W, b, B, C, K);
}

/* gradients of linear_head_forward, accumulated */
void
linear_head_backward(float *dx, float *dW, float *db, const float *dlogits,
					 const float *x, const float *W, int B, int C, int K)
{
	matmul_backward(dx, dW, db, dlogits, x, W, B, C, K);
}

/* mean softmax cross-entropy and its gradient, log-sum-exp in double */
float
crossentropy_forward_backward(float *dlogits, const float *logits,
							  const int *labels, int B, int K)
{
	double		loss = 0.0;

	for (int b = 0; b < B; b++)
	{
		const float *z = logits + (size_t) b * K;
		double		maxv = -INFINITY, sum = 0.0, lse;
		int			y = labels[b];

		for (int k = 0; k < K; k++)
			maxv = fmax(maxv, z[k]);
		for (int k = 0; k < K; k++)
			sum += exp(z[k] - maxv);
		lse = maxv + log(sum);
		loss += lse - (y >= 0 && y < K ? z[y] : 0.0);
		if (dlogits)
		{
			for (int k = 0; k < K; k++)
				dlogits[(size_t) b * K + k] =
					(float) ((exp(z[k] - lse) - (k == y ? 1.0 : 0.0)) / B);
		}
	}
	return B > 0 ? (float) (loss / B) : 0.0f;
}

/* mean squared error and its gradient */
float
mse_forward_backward(float *dpred, const float *pred, const float *target,
					 int B)
{
	double		loss = 0.0;

	for (int b = 0; b < B; b++)
	{
		double		d = (double) pred[b] - target[b];

		loss += d * d;
		if (dpred)
			dpred[b] = (float) (2.0 * d / B);
	}
	return B > 0 ? (float) (loss / B) : 0.0f;
}

/* one AdamW step, torch.optim.AdamW's arithmetic */
void
adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
			 float lr, float beta1, float beta2, float eps,
			 float weight_decay, int t)
{
	float		bc1 = 1.0f - (float) pow(beta1, t),
				bc2 = 1.0f - (float) pow(beta2, t);
	float		step = lr / bc1,
				rbc2 = 1.0f / sqrtf(bc2),
				decay = 1.0f - lr * weight_decay;

	for (size_t i = 0; i < n; i++)
	{
		float		g = grad[i];

		m[i] = beta1 * m[i] + (1.0f - beta1) * g;
		v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
		param[i] = param[i] * decay - step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
	}
}

/* global L2 norm clipping over several tensors */
float
TfmGradClipNorm(float *const *grads, const size_t *sizes, int n,
				float max_norm)
{
	double		ss = 0.0,
				norm,
				coef;

	for (int j = 0; j < n; j++)
		for (size_t i = 0; i < sizes[j]; i++)
			ss += (double) grads[j][i] * grads[j][i];
	norm = sqrt(ss);
	if (!isfinite(norm))
		return (float) norm;
	coef = max_norm / (norm + 1e-6);
	if (coef < 1.0)
	{
		for (int j = 0; j < n; j++)
			for (size_t i = 0; i < sizes[j]; i++)
				grads[j][i] = (float) (grads[j][i] * coef);
	}
	return (float) norm;
}

/* splitmix64 step: seeds the xoshiro state */
static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* rotate left */
static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* seed the four state words from splitmix64 (never all zero) */
void
TfmRngSeed(TfmRng *rng, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&seed);
}

/* xoshiro256** */
uint64_t
TfmRngNext(TfmRng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* top 53 bits as a double in [0,1) */
double
TfmRngUniform(TfmRng *rng)
{
	return (double) (TfmRngNext(rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* rejection sampling: drop the top partial copy of [0,n) */
uint64_t
TfmRngBelow(TfmRng *rng, uint64_t n)
{
	uint64_t	limit,
				x;

	if (n == 0)
		return 0;
	limit = UINT64_MAX - UINT64_MAX % n;
	do
		x = TfmRngNext(rng);
	while (x >= limit);
	return x % n;
}

/* Box-Muller, one of the pair */
double
TfmRngNormal(TfmRng *rng)
{
	double		u1 = 1.0 - TfmRngUniform(rng);	/* (0,1]: log is finite */
	double		u2 = TfmRngUniform(rng);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586477 * u2);
}

/* Fisher-Yates from the end */
void
TfmRngShuffle(TfmRng *rng, int *a, size_t n)
{
	for (size_t i = n; i > 1; i--)
	{
		size_t		j = (size_t) TfmRngBelow(rng, i);
		int			tmp = a[i - 1];

		a[i - 1] = a[j];
		a[j] = tmp;
	}
}
