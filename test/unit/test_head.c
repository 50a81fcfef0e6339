/* test_head.c: the linear and MLP heads (GELU, tanh, ReLU) against central finite differences, and folding and
 * unfolding of a standardisation
 * build: cc -O2 -Wall -Wextra -Isrc test/unit/test_head.c src/head.c src/ops.c src/blas.c -lopenblas -lm */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "head.h"

static int passed, failed;

/* record one check */
static void
check(int ok, const char *what, double err, double tol)
{
	printf("%s %s (max err %.2e, tol %.0e)\n", ok ? "ok    " : "FAILED", what, err, tol);
	ok ? passed++ : failed++;
}

/* uniform in [-1, 1) */
static double
uni(void)
{
	return 2.0 * rand() / ((double) RAND_MAX + 1) - 1;
}

/* a fixed loss: sum of out * coef */
static double
loss_of(const float *p, const float *x, const float *coef, int B, int C, int H, int K, TfmHeadAct fn)
{
	float		out[64], pre[64], act[64];
	double		l = 0;

	head_forward(out, pre, act, p, x, B, C, H, K, fn);
	for (int i = 0; i < B * K; i++)
		l += (double) out[i] * coef[i];
	return l;
}

/* gradients of parameters and inputs vs central differences */
static void
test_grad(int H, TfmHeadAct fn)
{
	enum {B = 3, C = 4, K = 2};
	size_t		n = TfmHeadParams(C, H, K);
	float		p[64], dp[64], x[B * C], dx[B * C], coef[B * K], out[B * K], pre[64], act[64], dact[128];
	double		maxe = 0, maxx = 0;
	char		what[64];

	for (size_t i = 0; i < n; i++)
		p[i] = (float) (0.5 * uni());
	for (int i = 0; i < B * C; i++)
		x[i] = (float) uni();
	for (int i = 0; i < B * K; i++)
		coef[i] = (float) uni();
	memset(dp, 0, sizeof(dp));
	head_forward(out, pre, act, p, x, B, C, H, K, fn);
	head_backward(dx, dp, coef, p, x, pre, act, dact, B, C, H, K, fn);
	for (size_t i = 0; i < n; i++)
	{
		float		keep = p[i];
		double		lp, lm;

		p[i] = keep + 1e-2f;
		lp = loss_of(p, x, coef, B, C, H, K, fn);
		p[i] = keep - 1e-2f;
		lm = loss_of(p, x, coef, B, C, H, K, fn);
		p[i] = keep;
		maxe = fmax(maxe, fabs((lp - lm) / 2e-2 - dp[i]));
	}
	for (int i = 0; i < B * C; i++)
	{
		float		keep = x[i];
		double		lp, lm;

		x[i] = keep + 1e-2f;
		lp = loss_of(p, x, coef, B, C, H, K, fn);
		x[i] = keep - 1e-2f;
		lm = loss_of(p, x, coef, B, C, H, K, fn);
		x[i] = keep;
		maxx = fmax(maxx, fabs((lp - lm) / 2e-2 - dx[i]));
	}
	snprintf(what, sizeof(what), "H=%d %s: parameter gradients vs finite differences", H, TfmHeadActName(fn));
	check(maxe < 2e-3, what, maxe, 2e-3);
	snprintf(what, sizeof(what), "H=%d %s: input gradients vs finite differences", H, TfmHeadActName(fn));
	check(maxx < 2e-3, what, maxx, 2e-3);
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
	check(maxe < 1e-4, what, maxe, 1e-4);
	/* unfolding gives back the head on standardised inputs */
	TfmHeadUnfold(p, mean, std, C, H, K);
	head_forward(b, pre, act, p, xs, B, C, H, K, TFM_HEAD_GELU);
	maxe = 0;
	for (int i = 0; i < B * K; i++)
		maxe = fmax(maxe, fabs(a[i] - b[i]));
	snprintf(what, sizeof(what), "H=%d: unfolding undoes the folding", H);
	check(maxe < 1e-4, what, maxe, 1e-4);
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
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
