/* test_mlp.c: the feature-vector MLP's gradients (with and without dropout) and weighted cross-entropy
 * against central finite differences, and its forward pass against a naive double-precision reference
 * build: make unit (cc -O2 -Isrc test/unit/test_mlp.c src/model/mlp.c src/kernels/[a-z]*.c -lm) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/mlp.h"

/* uniform in [0, 1) for TfmMlpInit */
static double
uni01(void *unused)
{
	(void) unused;
	return rand() / ((double) RAND_MAX + 1);
}

enum {B = 5, D = 6, MAXP = 512};
static const int dims[] = {D, 7, 4, 3};
static const int L = 3;
static const int labels[B] = {0, 2, 1, 2, 0};
static const float weights[B] = {1.0f, 3.0f, 0.5f, 3.0f, 1.0f};

/* what the loss reads: parameters, inputs, dropout */
typedef struct
{
	const float *p,
			   *x;
	float		dropout;
} MlpCase;

/* the loss the test differentiates: weighted cross-entropy of the network's logits */
static double
loss_of(void *ctx)
{
	MlpCase    *c = ctx;
	float		out[B * 3], acts[B * 11];

	mlp_forward(out, acts, c->p, c->x, dims, L, B, c->dropout, 99);
	return weighted_crossentropy_forward_backward(NULL, out, labels, weights, B, 3);
}

/* parameter and input gradients vs central differences (in double through the loss) */
static void
test_grad(float dropout)
{
	size_t		n = TfmMlpParams(dims, L);
	float		p[MAXP], dp[MAXP], x[B * D], dx[B * D], out[B * 3], dout[B * 3], acts[B * 11], scratch[2 * B * 7];
	double		maxe, maxx, h = 1e-3;
	char		what[96];
	MlpCase		c = {p, x, dropout};

	TfmMlpInit(p, dims, L, uni01, NULL);
	for (size_t i = 0; i < n; i++)
		p[i] += (float) (0.1 * (uni01(NULL) - 0.5));	/* non-zero biases too */
	for (int i = 0; i < B * D; i++)
		x[i] = (float) (2 * uni01(NULL) - 1);
	memset(dp, 0, sizeof(dp));
	mlp_forward(out, acts, p, x, dims, L, B, dropout, 99);
	weighted_crossentropy_forward_backward(dout, out, labels, weights, B, 3);
	mlp_backward(dx, dp, dout, p, x, acts, scratch, dims, L, B, dropout);
	maxe = fd_max_err(p, dp, n, h, loss_of, &c);
	maxx = fd_max_err(x, dx, B * D, h, loss_of, &c);
	snprintf(what, sizeof(what), "dropout %.1f: parameter gradients vs finite differences", dropout);
	check_err(maxe, 2e-3, what);
	snprintf(what, sizeof(what), "dropout %.1f: input gradients vs finite differences", dropout);
	check_err(maxx, 2e-3, what);
}

/* forward pass without dropout vs a naive double-precision network */
static void
test_forward_ref(void)
{
	size_t		n = TfmMlpParams(dims, L);
	float		p[MAXP], x[B * D], out[B * 3], acts[B * 11];
	double		maxe = 0;

	TfmMlpInit(p, dims, L, uni01, NULL);
	for (size_t i = 0; i < n; i++)
		p[i] += (float) (0.1 * (uni01(NULL) - 0.5));
	for (int i = 0; i < B * D; i++)
		x[i] = (float) (2 * uni01(NULL) - 1);
	mlp_forward(out, acts, p, x, dims, L, B, 0, 0);
	for (int b = 0; b < B; b++)
	{
		double		a[16], z[16];
		const float *q = p;

		for (int i = 0; i < D; i++)
			a[i] = x[b * D + i];
		for (int l = 0; l < L; l++)
		{
			for (int o = 0; o < dims[l + 1]; o++)
			{
				z[o] = q[(size_t) dims[l + 1] * dims[l] + o];
				for (int i = 0; i < dims[l]; i++)
					z[o] += (double) q[o * dims[l] + i] * a[i];
				if (l < L - 1 && z[o] < 0)
					z[o] = 0;
			}
			q += (size_t) dims[l + 1] * dims[l] + dims[l + 1];
			memcpy(a, z, sizeof(double) * dims[l + 1]);
		}
		for (int k = 0; k < 3; k++)
			maxe = fmax(maxe, fabs(a[k] - out[b * 3 + k]));
	}
	check_err(maxe, 1e-5, "forward pass vs naive double reference");
}

/* weighted cross-entropy: equal weights give the unweighted mean; a known value */
static void
test_weighted_ce(void)
{
	float		logits[2 * 2] = {0, 0, 2, 0};
	int			y[2] = {0, 1};
	float		w[2] = {1, 3};
	double		want = (1 * log(2.0) + 3 * (log(exp(2.0) + 1) - 0)) / 4;
	double		got = weighted_crossentropy_forward_backward(NULL, logits, y, w, 2, 2);

	check_err(fabs(got - want), 1e-6, "weighted cross-entropy, known value");
}

int
main(void)
{
	srand(11);
	test_grad(0.0f);
	test_grad(0.3f);
	test_forward_ref();
	test_weighted_ce();
	return check_report();
}
