/* head.c: linear or one-hidden-layer (GELU, tanh or ReLU) head on pooled vectors, forward and backward */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "model/head.h"

/* number of parameters of a head */
size_t
TfmHeadParams(int C, int H, int K)
{
	return H == 0 ? (size_t) K * C + K : (size_t) H * C + H + (size_t) K * H + K;
}

/* the activation named in a model's options ("tanh", "relu"; anything else: a trained head's GELU) */
TfmHeadAct
TfmHeadActFromName(const char *name)
{
	return strcmp(name, "tanh") == 0 ? TFM_HEAD_TANH : strcmp(name, "relu") == 0 ? TFM_HEAD_RELU : TFM_HEAD_GELU;
}

/* the options' name of an activation */
const char *
TfmHeadActName(TfmHeadAct fn)
{
	return fn == TFM_HEAD_TANH ? "tanh" : fn == TFM_HEAD_RELU ? "relu" : "gelu";
}

/* act (n) = fn(pre) */
static void
act_forward(float *act, const float *pre, size_t n, TfmHeadAct fn)
{
	if (fn == TFM_HEAD_GELU)
	{
		gelu_forward(act, pre, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		act[i] = fn == TFM_HEAD_TANH ? tanhf(pre[i]) : (pre[i] > 0 ? pre[i] : 0);
}

/* dpre (n, zeroed) += dact * fn'(pre); act = fn(pre) */
static void
act_backward(float *dpre, const float *pre, const float *act, const float *dact, size_t n, TfmHeadAct fn)
{
	if (fn == TFM_HEAD_GELU)
	{
		gelu_backward(dpre, pre, dact, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		dpre[i] += fn == TFM_HEAD_TANH ? dact[i] * (1 - act[i] * act[i]) : (pre[i] > 0 ? dact[i] : 0);
}

/* out (B,K) from x (B,C); pre/act (B,H) filled for the MLP (may be scratch the caller keeps) */
void
head_forward(float *out, float *pre, float *act, const float *p, const float *x, int B, int C, int H, int K,
			 TfmHeadAct fn)
{
	const float *w2;

	if (H == 0)
	{
		matmul_forward(out, x, p, p + (size_t) K * C, B, C, K);
		return;
	}
	w2 = p + (size_t) H * C + H;
	matmul_forward(pre, x, p, p + (size_t) H * C, B, C, H);
	act_forward(act, pre, (size_t) B * H, fn);
	matmul_forward(out, act, w2, w2 + (size_t) K * H, B, H, K);
}

/* accumulate dp (+=) and write dx (B,C, may be NULL) from dout (B,K); dact (B,H) is scratch */
void
head_backward(float *dx, float *dp, const float *dout, const float *p, const float *x,
			  const float *pre, const float *act, float *dact, int B, int C, int H, int K, TfmHeadAct fn)
{
	const float *w2;
	float	   *dw2;

	if (dx)
		memset(dx, 0, sizeof(float) * B * C);
	if (H == 0)
	{
		matmul_backward(dx, dp, dp + (size_t) K * C, dout, x, p, B, C, K);
		return;
	}
	w2 = p + (size_t) H * C + H;
	dw2 = dp + (size_t) H * C + H;
	memset(dact, 0, sizeof(float) * B * H);
	matmul_backward(dact, dw2, dw2 + (size_t) K * H, dout, act, w2, B, H, K);
	/* dpre follows dact in the scratch: act_backward accumulates into its output, so it is zeroed first */
	{
		size_t		n = (size_t) B * H;
		float	   *dpre = dact + n;

		memset(dpre, 0, sizeof(float) * n);
		act_backward(dpre, pre, act, dact, n, fn);
		matmul_backward(dx, dp, dp + (size_t) H * C, dpre, x, p, B, C, H);
	}
}

/* small random weights (std 0.02; He-like for the hidden layer), zero biases */
void
TfmHeadInit(float *p, int C, int H, int K, double (*normal) (void *), void *rng)
{
	size_t		n = TfmHeadParams(C, H, K);
	float		s1 = H ? (float) sqrt(2.0 / C) : 0.02f;

	memset(p, 0, sizeof(float) * n);
	for (size_t i = 0; i < (size_t) (H ? H : K) * C; i++)
		p[i] = s1 * (float) normal(rng);
	if (H)
	{
		float	   *w2 = p + (size_t) H * C + H;

		for (size_t i = 0; i < (size_t) K * H; i++)
			w2[i] = 0.02f * (float) normal(rng);
	}
}

/* fold x' = (x - mean) / std into the first layer so the head reads raw pooled vectors */
void
TfmHeadFold(float *p, const double *mean, const double *std, int C, int H, int K)
{
	int			R = H ? H : K;
	float	   *b = p + (size_t) R * C;

	for (int r = 0; r < R; r++)
	{
		float	   *w = p + (size_t) r * C;
		double		shift = 0;

		for (int c = 0; c < C; c++)
		{
			w[c] = (float) (w[c] / std[c]);
			shift += w[c] * mean[c];
		}
		b[r] = (float) (b[r] - shift);
	}
}

/* the inverse of TfmHeadFold: a head that reads raw vectors x reads x' = (x - mean) / std instead */
void
TfmHeadUnfold(float *p, const double *mean, const double *std, int C, int H, int K)
{
	int			R = H ? H : K;
	float	   *b = p + (size_t) R * C;

	for (int r = 0; r < R; r++)
	{
		float	   *w = p + (size_t) r * C;
		double		shift = 0;

		for (int c = 0; c < C; c++)
		{
			shift += (double) w[c] * mean[c];
			w[c] = (float) (w[c] * std[c]);
		}
		b[r] = (float) (b[r] + shift);
	}
}

/* softmax over each row of x (n,K), in place */
void
TfmSoftmaxRows(float *x, int n, int K)
{
	for (int i = 0; i < n; i++)
	{
		float	   *r = x + (size_t) i * K;
		float		mx = r[0], sum = 0;

		for (int k = 1; k < K; k++)
			mx = mx > r[k] ? mx : r[k];	/* Max() */
		for (int k = 0; k < K; k++)
			sum += (r[k] = expf(r[k] - mx));
		for (int k = 0; k < K; k++)
			r[k] /= sum;
	}
}
