/*
 * gemm_rate.c - fp32 GEMM rates on this CPU through pg_tfm's own kernels, and what they mean for GPT-2 small
 * (124M): prefill runs at the sgemm rate (N = 128 tokens), decoding with the KV cache is matrix-vector
 * (N = 1, matmul_forward's small-N path), bound by reading every weight once per token.
 *   cc -O2 -Isrc test/bench/gemm_rate.c src/kernels/[a-z]*.c -lopenblas -lm && ./a.out
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "kernels/blas.h"
#include "kernels/ops.h"

/* GFLOP/s of matmul_forward out (N,OC) = inp (N,C) W^T, repeated for at least 0.3 s */
static double
rate(int N, int C, int OC)
{
	float *x = bench_buf((size_t) N * C), *w = bench_buf((size_t) OC * C), *b = bench_buf(OC), *y = bench_buf((size_t) N * OC);
	double t0, t, flops = 2.0 * N * C * OC;
	long reps = 0;

	matmul_forward(y, x, w, b, N, C, OC);
	t0 = bench_seconds(CLOCK_MONOTONIC);
	do
	{
		matmul_forward(y, x, w, b, N, C, OC);
		reps++;
	} while ((t = bench_seconds(CLOCK_MONOTONIC) - t0) < 0.3);
	free(x), free(w), free(b), free(y);
	return flops * reps / t / 1e9;
}

int
main(void)
{
	const double C = 768, F = 3072, V = 50257, L = 12, ctx = 100;
	/* FLOPs of one token through GPT-2 small: 12 blocks of q/k/v, proj, fc, fc proj, plus the tied lm_head */
	double blocks = 2 * L * (3 * C * C + C * C + 2 * C * F), head = 2 * V * C;
	double attn = L * 2 * 2 * ctx * C;	/* scores and weighted values against ~100 cached positions */
	double per_token = blocks + head + attn;
	double g_prefill, g_qkv, g_fc, g_proj, g_head, t_decode;

	TfmBlasSetThreads(1);
	printf("BLAS core: %s, 1 thread\n", TfmBlasCoreName());
	g_prefill = rate(128, 768, 3072);
	printf("sgemm (128 x 768 -> 3072, prefill shape): %.1f GFLOP/s\n", g_prefill);
	g_qkv = rate(1, 768, 2304);
	g_fc = rate(1, 768, 3072);
	g_proj = rate(1, 3072, 768);
	g_head = rate(1, 768, 50257);
	printf("matrix-vector (N = 1, decode shapes): c_attn %.1f, c_fc %.1f, c_proj %.1f, lm_head %.1f GFLOP/s\n",
		   g_qkv, g_fc, g_proj, g_head);
	t_decode = 2 * L * (3 * C * C) / (g_qkv * 1e9) + 2 * L * (C * C + C * F) / (g_proj * 1e9) +
		2 * L * (C * F) / (g_fc * 1e9) + head / (g_head * 1e9);
	printf("GPT-2 small: %.0f MFLOP per token (blocks %.0f, lm_head %.0f, attention at 100 positions %.1f)\n",
		   per_token / 1e6, blocks / 1e6, head / 1e6, attn / 1e6);
	printf("GPT-2 small estimate, decoding with the KV cache (matrix-vector rates): %.0f tokens/s (%.1f ms/token)\n",
		   1 / t_decode, t_decode * 1e3);
	printf("GPT-2 small estimate, prefill (sgemm rate): %.0f prompt tokens/s\n", g_prefill * 1e9 / per_token);
	printf("GPT-2 small estimate, no KV cache, 100 new tokens after a 20-token prompt: %.1f tokens/s\n",
		   100 / ((20 + 119) / 2.0 * 100 * per_token / (g_prefill * 1e9)));
	return 0;
}
