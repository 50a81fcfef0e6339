/* mlp.c: forward and backward passes of the feature-vector MLP (ReLU, inverted dropout), its init and loss */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/optim.h"
#include "model/mlp.h"

/* number of parameters of the network */
size_t
TfmMlpParams(const int *dims, int L)
{
	size_t		n = 0;

	for (int l = 0; l < L; l++)
		n += (size_t) dims[l + 1] * dims[l] + dims[l + 1];
	return n;
}

/* floats of the hidden activations of a batch of B rows */
size_t
TfmMlpActFloats(const int *dims, int L, int B)
{
	size_t		n = 0;

	for (int l = 1; l < L; l++)
		n += (size_t) B * dims[l];
	return n;
}

/* floats of mlp_backward's scratch: two (B, widest hidden layer) buffers */
size_t
TfmMlpScratchFloats(const int *dims, int L, int B)
{
	int			h = 1;

	for (int l = 1; l < L; l++)
		h = dims[l] > h ? dims[l] : h;
	return 2 * (size_t) B * h;
}

/* out (B,K) from x (B,D); acts filled for the backward pass; dropout p on hidden outputs (0 at inference) */
void
mlp_forward(float *out, float *acts, const float *p, const float *x, const int *dims, int L, int B,
			float dropout, uint64_t seed)
{
	const float *in = x;

	for (int l = 0; l < L; l++)
	{
		int			I = dims[l], O = dims[l + 1];
		float	   *o = l == L - 1 ? out : acts;
		size_t		n = (size_t) B * O;

		matmul_forward(o, in, p, p + (size_t) O * I, B, I, O);
		p += (size_t) O * I + O;
		if (l == L - 1)
			break;
		for (size_t i = 0; i < n; i++)
			o[i] = o[i] > 0 ? o[i] : 0;
		if (dropout > 0)
			dropout_forward(o, o, n, dropout, seed, (uint64_t) l << 40);
		in = o;
		acts += n;
	}
}

/* accumulate dp (+=) and write dx (B,D; may be NULL) from dout (B,K) */
void
mlp_backward(float *dx, float *dp, const float *dout, const float *p, const float *x,
			 const float *acts, float *scratch, const int *dims, int L, int B, float dropout)
{
	const float *wl[TFM_MLP_MAX_LAYERS], *al[TFM_MLP_MAX_LAYERS];
	float	   *dwl[TFM_MLP_MAX_LAYERS];
	float		keep = dropout > 0 ? 1.0f / (1.0f - dropout) : 1.0f;
	size_t		half = TfmMlpScratchFloats(dims, L, B) / 2;
	const float *d = dout;

	/* where each layer's weights, gradients and input are */
	for (int l = 0; l < L; l++)
	{
		wl[l] = p, dwl[l] = dp;
		al[l] = l == 0 ? x : acts;
		if (l > 0)
			acts += (size_t) B * dims[l];
		p += (size_t) dims[l + 1] * dims[l] + dims[l + 1];
		dp += (size_t) dims[l + 1] * dims[l] + dims[l + 1];
	}
	for (int l = L - 1; l >= 0; l--)
	{
		int			I = dims[l], O = dims[l + 1];
		float	   *din = l == 0 ? dx : scratch + (l % 2) * half;
		size_t		n = (size_t) B * I;

		if (din)
			memset(din, 0, sizeof(float) * n);
		matmul_backward(din, dwl[l], dwl[l] + (size_t) O * I, d, al[l], wl[l], B, I, O);
		if (l == 0)
			break;
		/* through dropout and ReLU of the layer below: its output is > 0 exactly where both passed */
		for (size_t i = 0; i < n; i++)
			din[i] = al[l][i] > 0 ? din[i] * keep : 0;
		d = din;
	}
}

/* weights uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot, as scikit-learn's MLP), zero biases */
void
TfmMlpInit(float *p, const int *dims, int L, double (*uniform) (void *), void *rng)
{
	for (int l = 0; l < L; l++)
	{
		int			I = dims[l], O = dims[l + 1];
		double		bound = sqrt(6.0 / (I + O));

		for (size_t i = 0; i < (size_t) O * I; i++)
			p[i] = (float) ((2 * uniform(rng) - 1) * bound);
		memset(p + (size_t) O * I, 0, sizeof(float) * O);
		p += (size_t) O * I + O;
	}
}

/*
 * softmax cross-entropy of logits (B,K) with a weight per row, normalised by the weights' sum (PyTorch's
 * CrossEntropyLoss(weight=...) mean); dlogits (B,K) written (may be NULL). weights NULL: all 1
 */
float
weighted_crossentropy_forward_backward(float *dlogits, const float *logits, const int *labels,
									   const float *weights, int B, int K)
{
	double		loss = 0, wsum = 0;

	for (int b = 0; b < B; b++)
		wsum += weights ? weights[b] : 1.0;
	for (int b = 0; b < B; b++)
	{
		double		w = (weights ? weights[b] : 1.0) / (wsum > 0 ? wsum : 1.0);
		float	   *d = dlogits ? dlogits + (size_t) b * K : NULL;

		/* one row at a time: B = 1 gives softmax - onehot unscaled */
		loss += w * crossentropy_forward_backward(d, logits + (size_t) b * K, labels + b, 1, K);
		for (int k = 0; d && k < K; k++)
			d[k] = (float) (d[k] * w);
	}
	return (float) loss;
}
