/* test_head.c: the linear and MLP heads (GELU, tanh, ReLU) against central finite differences, and folding and
 * unfolding of a standardisation
 * build: make test/unit/test_head */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/head.h"

/* uniform in [-1, 1) */
static double
uni(void)
{
	return 2.0 * rand() / ((double) RAND_MAX + 1) - 1;
}

/* what the loss reads: parameters, inputs, coefficients, shape, activation */
typedef struct
{
	const float *p,
			   *x,
			   *coef;
	int			B,
				C,
				H,
				K;
	TfmHeadAct	fn;
} HeadCase;

/* a fixed loss: sum of out * coef */
static double
loss_of(void *ctx)
{
	HeadCase   *c = ctx;
	float		out[64], pre[64], act[64];
	double		l = 0;

	head_forward(out, pre, act, c->p, c->x, c->B, c->C, c->H, c->K, c->fn);
	for (int i = 0; i < c->B * c->K; i++)
		l += (double) out[i] * c->coef[i];
	return l;
}

/* gradients of parameters and inputs vs central differences */
static void
test_grad(int H, TfmHeadAct fn)
{
	enum {B = 3, C = 4, K = 2};
	size_t		n = TfmHeadParams(C, H, K);
	float		p[64], dp[64], x[B * C], dx[B * C], coef[B * K], out[B * K], pre[64], act[64], dact[128];
	double		maxe, maxx;
	char		what[64];
	HeadCase	c = {p, x, coef, B, C, H, K, fn};

	for (size_t i = 0; i < n; i++)
		p[i] = (float) (0.5 * uni());
	for (int i = 0; i < B * C; i++)
		x[i] = (float) uni();
	for (int i = 0; i < B * K; i++)
		coef[i] = (float) uni();
	memset(dp, 0, sizeof(dp));
	head_forward(out, pre, act, p, x, B, C, H, K, fn);
	head_backward(dx, dp, coef, p, x, pre, act, dact, B, C, H, K, fn);
	maxe = fd_max_err(p, dp, n, 1e-2, loss_of, &c);
	maxx = fd_max_err(x, dx, B * C, 1e-2, loss_of, &c);
	snprintf(what, sizeof(what), "H=%d %s: parameter gradients vs finite differences", H, TfmHeadActName(fn));
	check_err(maxe, 2e-3, what);
	snprintf(what, sizeof(what), "H=%d %s: input gradients vs finite differences", H, TfmHeadActName(fn));
	check_err(maxx, 2e-3, what);
}

/* a folded head on raw inputs equals the head on standardised inputs */
static void
test_fold(int H)
{
	enum {B = 2, C = 5, K = 3};
	float		p[128], x[B * C], xs[B * C], a[B * K], b[B * K], pre[64], act[64];
	double		mean[C], std[C], maxe = 0;
	size_t		n = TfmHeadParams(C, H, K);
	char		what[64];

	for (size_t i = 0; i < n; i++)
		p[i] = (float) uni();
	for (int c = 0; c < C; c++)
		mean[c] = uni(), std[c] = 0.5 + fabs(uni());
	for (int i = 0; i < B * C; i++)
	{
		x[i] = (float) (3 * uni());
		xs[i] = (float) ((x[i] - mean[i % C]) / std[i % C]);
	}
	head_forward(a, pre, act, p, xs, B, C, H, K, TFM_HEAD_GELU);
	TfmHeadFold(p, mean, std, C, H, K);
	head_forward(b, pre, act, p, x, B, C, H, K, TFM_HEAD_GELU);
	for (int i = 0; i < B * K; i++)
		maxe = fmax(maxe, fabs(a[i] - b[i]));
	snprintf(what, sizeof(what), "H=%d: folded standardisation gives the same outputs", H);
	check_err(maxe, 1e-4, what);
	/* unfolding gives back the head on standardised inputs */
	TfmHeadUnfold(p, mean, std, C, H, K);
	head_forward(b, pre, act, p, xs, B, C, H, K, TFM_HEAD_GELU);
	maxe = 0;
	for (int i = 0; i < B * K; i++)
		maxe = fmax(maxe, fabs(a[i] - b[i]));
	snprintf(what, sizeof(what), "H=%d: unfolding undoes the folding", H);
	check_err(maxe, 1e-4, what);
}

int
main(void)
{
	srand(7);
	test_grad(0, TFM_HEAD_GELU);
	test_grad(5, TFM_HEAD_GELU);
	test_grad(5, TFM_HEAD_TANH);
	test_grad(5, TFM_HEAD_RELU);
	test_fold(0);
	test_fold(4);
	return check_report();
}
