/*
 * check.h - what the kernel unit tests share (test_ops, test_qgemm, test_bgemm, test_grad, test_head,
 * test_mlp): recording and reporting checks, a deterministic xorshift64 for random data, and the largest
 * error of a gradient against central finite differences.  Each test is one translation unit that
 * includes this once; everything is static inline, so a test need not use all of it.
 *
 * A test's last line is "N passed, N failed" (check_report), its exit status 1 on failure.
 * CHECK_SEED (before the include) sets the xorshift64 seed.
 */
#ifndef TFM_UNIT_CHECK_H
#define TFM_UNIT_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CHECK_SEED
#define CHECK_SEED 88172645463325252ULL
#endif

static int	n_passed,
			n_failed;

static unsigned long long rng_state = CHECK_SEED;

/* record one check */
static inline void
check(int ok, const char *name)
{
	if (ok)
		n_passed++;
	else
		n_failed++;
	printf("%s %s\n", ok ? "ok    " : "FAILED", name);
}

/* record a check of an error against a tolerance, printing both */
static inline void
check_err(double err, double tol, const char *name)
{
	char		buf[256];

	snprintf(buf, sizeof buf, "%s (err %.2e, tol %.0e)", name, err, tol);
	check(err <= tol, buf);		/* nan fails */
}

/* print the last line, "N passed, N failed"; the exit status */
static inline int
check_report(void)
{
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}

/* deterministic uniform float in [lo,hi) (xorshift64, 24 random bits) */
static inline float
frand(float lo, float hi)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return lo + (hi - lo) * (float) ((rng_state >> 40) / 16777216.0);
}

/* n random floats in [lo,hi) (malloc'ed, at least one) */
static inline float *
rand_buf(size_t n, float lo, float hi)
{
	float	   *p = malloc(sizeof(float) * (n ? n : 1));

	for (size_t i = 0; i < n; i++)
		p[i] = frand(lo, hi);
	return p;
}

/*
 * max over i of |central difference of loss(ctx) in v[i] - g[i]|, v[i] moved by +-h in float; v is
 * an array loss reads (through ctx or globals), restored afterwards
 */
static inline double
fd_max_err(float *v, const float *g, size_t n, double h, double (*loss) (void *ctx), void *ctx)
{
	double		maxe = 0;

	for (size_t i = 0; i < n; i++)
	{
		float		keep = v[i];
		double		lp,
					lm;

		v[i] = keep + (float) h;
		lp = loss(ctx);
		v[i] = keep - (float) h;
		lm = loss(ctx);
		v[i] = keep;
		maxe = fmax(maxe, fabs((lp - lm) / (2 * h) - g[i]));
	}
	return maxe;
}

#endif							/* TFM_UNIT_CHECK_H */
