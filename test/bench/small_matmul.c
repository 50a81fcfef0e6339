/*
 * small_matmul.c - the per-row path's matmuls at MiniLM's shapes: N rows (one short text) through
 * the 36 weight matrices of 6 layers (42 MB fp32, so weights stream from memory as in a real call).
 * Prints ms per pass, GFLOP/s and the weight bytes read per second.
 *   cc -O2 -Isrc test/bench/small_matmul.c src/ops.c src/blas.c -lopenblas -lm && ./a.out [N] [reps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops.h"

/* seconds of this thread's CPU time (robust when other work shares the cores) */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* a buffer of n floats with small values */
static float *
buf(size_t n)
{
	float	   *p = malloc(n * sizeof(float));

	for (size_t i = 0; i < n; i++)
		p[i] = (float) ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
	return p;
}

int
main(int argc, char **argv)
{
	int			N = argc > 1 ? atoi(argv[1]) : 13;
	int			reps = argc > 2 ? atoi(argv[2]) : 50;
	int			C = 384, I = 1536, L = 6;
	int			shapes[6][2] = {{C, C}, {C, C}, {C, C}, {C, C}, {C, I}, {I, C}};	/* (in, out) */
	float	   *w[6 * 6], *b[6 * 6];
	float	   *x = buf((size_t) N * I), *out = buf((size_t) N * I);
	double		flops = 0, bytes = 0, best = 1e9;

	for (int l = 0; l < L; l++)
		for (int m = 0; m < 6; m++)
		{
			w[l * 6 + m] = buf((size_t) shapes[m][0] * shapes[m][1]);
			b[l * 6 + m] = buf(shapes[m][1]);
			flops += 2.0 * N * shapes[m][0] * shapes[m][1];
			bytes += 4.0 * shapes[m][0] * shapes[m][1];
		}
	for (int r = 0; r < reps; r++)
	{
		double		t = now();

		for (int l = 0; l < L; l++)
			for (int m = 0; m < 6; m++)
				matmul_forward(out, x, w[l * 6 + m], b[l * 6 + m], N, shapes[m][0], shapes[m][1]);
		t = now() - t;
		if (t < best)
			best = t;
	}
	printf("N=%d: %.2f ms per pass (best of %d), %.1f GFLOP/s, weights %.1f GB/s\n",
		   N, best * 1e3, reps, flops / best * 1e-9, bytes / best * 1e-9);
	return 0;
}
