/*
 * lowp_matmul.c - the encoder's 36 linear layers at MiniLM's shapes (6 layers) for N rows, in each
 * precision: fp32 panels (matmul_forward_packed), bf16 and int8 (src/kernels/bgemm.c, qgemm.c),
 * at a CPU level (scalar, avx2, avx512, avx512vnni, avx512bf16; default: the CPU's best).  Prints
 * ms per pass and GFLOP/s (GOP/s for int8), thread CPU time, best of reps (robust under other load).
 *   cc -O2 -Isrc test/bench/lowp_matmul.c src/kernels/[a-z]*.c -ldl -lpthread -lm &&
 *   ./a.out [N] [reps] [level]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "kernels/bgemm.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"
#include "kernels/qgemm.h"

int
main(int argc, char **argv)
{
	int			N = argc > 1 ? atoi(argv[1]) : 13;
	int			reps = argc > 2 ? atoi(argv[2]) : 30;
	int			C = 384, I = 1536, L = 6;
	int			shapes[6][2] = {{C, C}, {C, C}, {C, C}, {C, C}, {C, I}, {I, C}};	/* (in, out) */
	float	   *p[6 * 6], *b[6 * 6];
	TfmQ8Weight *q8[6 * 6];
	TfmB16Weight *h[6 * 6];
	float	   *x = bench_buf((size_t) N * I), *out = bench_buf((size_t) N * I);
	double		flops = 0, best[3] = {1e9, 1e9, 1e9};
	const char *names[3] = {"fp32", "bf16", "int8"};

	for (int l = TFM_LEVEL_SCALAR; argc > 3 && l < TFM_LEVEL_COUNT; l++)
		if (strcmp(argv[3], TfmCpuLevelName(l)) == 0)
			TfmCpuSetLevel(l);
	for (int k = 0; k < L * 6; k++)
	{
		int			c = shapes[k % 6][0], oc = shapes[k % 6][1];
		float	   *w = bench_buf((size_t) c * oc);

		p[k] = aligned_alloc(64, sizeof(float) * matmul_packed_floats(c, oc));
		matmul_pack(p[k], w, c, oc);
		q8[k] = tfm_q8_from_panels(aligned_alloc(64, (tfm_q8_bytes(c, oc) + 63) / 64 * 64), p[k], c, oc);
		h[k] = tfm_b16_from_panels(aligned_alloc(64, (tfm_b16_bytes(c, oc) + 63) / 64 * 64), p[k], c, oc);
		b[k] = bench_buf(oc);
		flops += 2.0 * N * c * oc;
		free(w);
	}
	for (int r = 0; r < reps; r++)
		for (int v = 0; v < 3; v++)
		{
			double		t = bench_seconds(CLOCK_THREAD_CPUTIME_ID);

			for (int k = 0; k < L * 6; k++)
			{
				int			c = shapes[k % 6][0], oc = shapes[k % 6][1];

				if (v == 0)
					matmul_forward_packed(out, x, p[k], b[k], N, c, oc);
				else if (v == 1)
					tfm_b16_linear(out, x, h[k], b[k], N);
				else
					tfm_q8_linear(out, x, q8[k], b[k], N);
			}
			t = bench_seconds(CLOCK_THREAD_CPUTIME_ID) - t;
			if (t < best[v])
				best[v] = t;
		}
	printf("level %s (bf16 %s, int8 %s) N=%d:", TfmCpuLevelName(TfmCpuEffectiveLevel()),
		   tfm_b16_variant_name(tfm_b16_best_variant()), tfm_q8_variant_name(tfm_q8_best_variant()), N);
	for (int v = 0; v < 3; v++)
		printf("  %s %.2f ms %.0f G/s", names[v], best[v] * 1e3, flops / best[v] * 1e-9);
	printf("\n");
	return 0;
}
