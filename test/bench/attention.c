/*
 * attention.c - one encoder layer's attention at MiniLM's shape (12 heads of 32 channels) for one
 * sequence of T tokens, through the path training uses (BLAS above 64 tokens, dot products and
 * axpys below) and through the panel kernel inference uses; softmax included. Prints ms and
 * GFLOP/s (4 T^2 C) of both, thread CPU time, best of 20.
 *   cc -O2 -Isrc -Itest/bench test/bench/attention.c src/kernels/[a-z]*.c -ldl -lpthread -lm && ./a.out [T]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "kernels/ops.h"

int
main(int argc, char **argv)
{
	int			T = argc > 1 ? atoi(argv[1]) : 216,
				C = 384,
				NH = 12,
				reps = 20;
	int			lens[1] = {T};
	float	   *q = bench_buf((size_t) T * C),
			   *k = bench_buf((size_t) T * C),
			   *v = bench_buf((size_t) T * C),
			   *o = bench_buf((size_t) T * C),
			   *att = bench_buf((size_t) NH * T * T),
			   *scratch = bench_buf(attention_scratch_floats(T, C / NH));
	double		best[2] = {1e9, 1e9},
				flops = 4.0 * T * T * C;

	for (int r = 0; r < reps; r++)
		for (int m = 0; m < 2; m++)
		{
			double		t = bench_seconds(CLOCK_THREAD_CPUTIME_ID);

			/* keeping the probabilities without scratch takes training's path */
			if (m == 0)
				attention_forward(o, att, q, k, v, lens, 1, T, C, NH, NULL);
			else
				attention_forward(o, NULL, q, k, v, lens, 1, T, C, NH, scratch);
			t = bench_seconds(CLOCK_THREAD_CPUTIME_ID) - t;
			if (t < best[m])
				best[m] = t;
		}
	printf("T=%d: training's path %.3f ms (%.1f GFLOP/s), panels %.3f ms (%.1f GFLOP/s), %.2fx\n",
		   T, best[0] * 1e3, flops / best[0] * 1e-9, best[1] * 1e3, flops / best[1] * 1e-9,
		   best[0] / best[1]);
	return 0;
}
