/*
 * small_matmul.c - the per-row path's matmuls at MiniLM's shapes: N rows (one short text) through
 * the 36 weight matrices of 6 layers (42 MB fp32, so weights stream from memory as in a real call).
 * Prints ms per pass, GFLOP/s and the weight bytes read per second.
 *   cc -O2 -Isrc test/bench/small_matmul.c src/ops.c src/blas.c -lopenblas -lm && ./a.out [N] [reps]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "ops.h"

int
main(int argc, char **argv)
{
	int			N = argc > 1 ? atoi(argv[1]) : 13;
	int			reps = argc > 2 ? atoi(argv[2]) : 50;
	int			C = 384, I = 1536, L = 6;
	int			shapes[6][2] = {{C, C}, {C, C}, {C, C}, {C, C}, {C, I}, {I, C}};	/* (in, out) */
	float	   *w[6 * 6], *b[6 * 6];
	float	   *x = bench_buf((size_t) N * I), *out = bench_buf((size_t) N * I);
	double		flops = 0, bytes = 0, best = 1e9;

	for (int l = 0; l < L; l++)
		for (int m = 0; m < 6; m++)
		{
			w[l * 6 + m] = bench_buf((size_t) shapes[m][0] * shapes[m][1]);
			b[l * 6 + m] = bench_buf(shapes[m][1]);
			flops += 2.0 * N * shapes[m][0] * shapes[m][1];
			bytes += 4.0 * shapes[m][0] * shapes[m][1];
		}
	for (int r = 0; r < reps; r++)
	{
		double		t = bench_seconds(CLOCK_THREAD_CPUTIME_ID);

		for (int l = 0; l < L; l++)
			for (int m = 0; m < 6; m++)
				matmul_forward(out, x, w[l * 6 + m], b[l * 6 + m], N, shapes[m][0], shapes[m][1]);
		t = bench_seconds(CLOCK_THREAD_CPUTIME_ID) - t;
		if (t < best)
			best = t;
	}
	printf("N=%d: %.2f ms per pass (best of %d), %.1f GFLOP/s, weights %.1f GB/s\n",
		   N, best * 1e3, reps, flops / best * 1e-9, bytes / best * 1e-9);
	return 0;
}
