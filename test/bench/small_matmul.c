/*
 * small_matmul.c - the encoder's matmuls at MiniLM's shapes: N rows (one short text, or a bulk batch)
 * through the 36 weight matrices of 6 layers (42 MB fp32, so weights stream from memory as in a real
 * call), with the weights as stored (OC,C) (matmul_forward: register tiles up to 64 rows, OpenBLAS
 * above) and packed in panels (matmul_forward_packed, what inference runs).  Prints ms per pass and
 * GFLOP/s of both (thread CPU time, best of reps) and their largest difference.
 * The third argument caps the kernels at a level (scalar, avx2, avx512, ...; default: the CPU's best).
 *   cc -O2 -Isrc test/bench/small_matmul.c src/kernels/[a-z]*.c -ldl -lpthread -lm &&
 *   ./a.out [N] [reps] [level]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include <string.h>

int
main(int argc, char **argv)
{
	int			N = argc > 1 ? atoi(argv[1]) : 13;
	int			reps = argc > 2 ? atoi(argv[2]) : 50;
	int			C = 384, I = 1536, L = 6;
	int			shapes[6][2] = {{C, C}, {C, C}, {C, C}, {C, C}, {C, I}, {I, C}};	/* (in, out) */
	float	   *w[6 * 6], *p[6 * 6], *b[6 * 6];
	float	   *x = bench_buf((size_t) N * I), *out = bench_buf((size_t) N * I),
			   *outp = bench_buf((size_t) N * I);
	double		flops = 0, best[2] = {1e9, 1e9}, diff = 0;

	for (int l = TFM_LEVEL_SCALAR; argc > 3 && l < TFM_LEVEL_COUNT; l++)
		if (strcmp(argv[3], TfmCpuLevelName(l)) == 0)
			TfmCpuSetLevel(l);
	printf("kernels at %s; ", TfmCpuLevelName(TfmCpuEffectiveLevel()));

	for (int k = 0; k < L * 6; k++)
	{
		int			c = shapes[k % 6][0], oc = shapes[k % 6][1];

		w[k] = bench_buf((size_t) c * oc);
		p[k] = aligned_alloc(64, sizeof(float) * matmul_packed_floats(c, oc));	/* as in the cache file */
		matmul_pack(p[k], w[k], c, oc);
		b[k] = bench_buf(oc);
		flops += 2.0 * N * c * oc;
	}
	for (int r = 0; r < reps; r++)
		for (int v = 0; v < 2; v++)
		{
			double		t = bench_seconds(CLOCK_THREAD_CPUTIME_ID);

			for (int k = 0; k < L * 6; k++)
			{
				int			c = shapes[k % 6][0], oc = shapes[k % 6][1];

				if (v == 0)
					matmul_forward(out, x, w[k], b[k], N, c, oc);
				else
					matmul_forward_packed(outp, x, p[k], b[k], N, c, oc);
			}
			t = bench_seconds(CLOCK_THREAD_CPUTIME_ID) - t;
			if (t < best[v])
				best[v] = t;
		}
	for (size_t i = 0; i < (size_t) N * shapes[5][1]; i++)
		diff = fmax(diff, fabs(out[i] - outp[i]));
	printf("N=%d: as stored %.2f ms %.1f GFLOP/s; packed %.2f ms %.1f GFLOP/s (%.2fx); max diff %.1e\n",
		   N, best[0] * 1e3, flops / best[0] * 1e-9, best[1] * 1e3, flops / best[1] * 1e-9,
		   best[0] / best[1], diff);
	return 0;
}
