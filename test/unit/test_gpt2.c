/*
 * test_gpt2.c - unit tests of the GPT-2 decoder and sampler (src/model/gpt2.c).
 *
 *   make test/unit/test_gpt2 && test/unit/test_gpt2
 *
 * The model is small and has RANDOM weights: these tests check shapes, the KV
 * cache, causal masking and the Conv1D layout against a naive double-precision
 * reference written here from the Hugging Face definition, not what a trained
 * model says (the golden logits of a real checkpoint are checked by the dev
 * harness and the SQL tests).  Everything runs with and without SIMD.
 * The last line is "N passed, N failed"; the exit status is 1 on failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "model/gpt2.h"

#define V 37
#define NCTX 16
#define C 24
#define NH 3
#define NL 2
#define F 40                    /* n_inner on purpose not 4 C */

static int npass, nfail;

/* Conv1D-layout weights as Hugging Face stores them, per layer */
typedef struct RefLayer {
	float ln1w[C], ln1b[C], attnw[C * 3 * C], attnb[3 * C], projw[C * C], projb[C];
	float ln2w[C], ln2b[C], fcw[C * F], fcb[F], mprojw[F * C], mprojb[C];
} RefLayer;

static float wte[V * C], wpe[NCTX * C], lnfw[C], lnfb[C];
static RefLayer ref[NL];
static float tattn[NL][3 * C * C], tproj[NL][C * C], tfc[NL][F * C], tmproj[NL][C * F];
static TfmGpt2Layer layers[NL];
static TfmGpt2Weights weights;
static const TfmGpt2Config cfg = {V, NCTX, C, NL, NH, F, 1e-5f};
static uint64_t lcg = 12345;

/* record one check */
static void
check(int ok, const char *what)
{
	if (ok)
		npass++;
	else
	{
		nfail++;
		printf("FAIL: %s\n", what);
	}
}

/* uniform in [-a, a) */
static float
rnd(float a)
{
	lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
	return a * (2.0f * (float) ((lcg >> 40) / 16777216.0) - 1.0f);
}

/* fill n floats with uniform noise of amplitude a around centre */
static void
fill(float *x, int n, float centre, float a)
{
	for (int i = 0; i < n; i++)
		x[i] = centre + rnd(a);
}

/* random weights in Hugging Face layout, and the transposed copies gpt2.c uses */
static void
make_model(void)
{
	fill(wte, V * C, 0, 0.5f);
	fill(wpe, NCTX * C, 0, 0.3f);
	fill(lnfw, C, 1, 0.2f);
	fill(lnfb, C, 0, 0.1f);
	for (int l = 0; l < NL; l++)
	{
		RefLayer *r = &ref[l];
		TfmGpt2Layer *g = &layers[l];

		fill(r->ln1w, C, 1, 0.2f);
		fill(r->ln1b, C, 0, 0.1f);
		fill(r->attnw, C * 3 * C, 0, 0.4f);
		fill(r->attnb, 3 * C, 0, 0.1f);
		fill(r->projw, C * C, 0, 0.3f);
		fill(r->projb, C, 0, 0.1f);
		fill(r->ln2w, C, 1, 0.2f);
		fill(r->ln2b, C, 0, 0.1f);
		fill(r->fcw, C * F, 0, 0.3f);
		fill(r->fcb, F, 0, 0.1f);
		fill(r->mprojw, F * C, 0, 0.3f);
		fill(r->mprojb, C, 0, 0.1f);
		TfmGpt2TransposeConv1D(tattn[l], r->attnw, C, 3 * C);
		TfmGpt2TransposeConv1D(tproj[l], r->projw, C, C);
		TfmGpt2TransposeConv1D(tfc[l], r->fcw, C, F);
		TfmGpt2TransposeConv1D(tmproj[l], r->mprojw, F, C);
		*g = (TfmGpt2Layer) {r->ln1w, r->ln1b, tattn[l], r->attnb, tproj[l], r->projb,
			r->ln2w, r->ln2b, tfc[l], r->fcb, tmproj[l], r->mprojb};
	}
	weights = (TfmGpt2Weights) {wte, wpe, layers, lnfw, lnfb};
}

/* naive layernorm of one row in double */
static void
ref_layernorm(double *out, const double *x, const float *w, const float *b, int n)
{
	double m = 0, v = 0;

	for (int i = 0; i < n; i++)
		m += x[i];
	m /= n;
	for (int i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m);
	v /= n;
	for (int i = 0; i < n; i++)
		out[i] = (x[i] - m) / sqrt(v + 1e-5) * w[i] + b[i];
}

/* out (out) = x (in) . W (in,out) + b: a Conv1D in double */
static void
ref_conv1d(double *out, const double *x, const float *w, const float *b, int in, int nout)
{
	for (int o = 0; o < nout; o++)
	{
		double acc = b[o];

		for (int i = 0; i < in; i++)
			acc += x[i] * w[i * nout + o];
		out[o] = acc;
	}
}

/* logits (T,V) of every position of ids (T), naive double-precision GPT-2 */
static void
ref_forward(double *logits, const int32_t *ids, int T)
{
	static double x[NCTX][C], ln[NCTX][C], qkv[NCTX][3 * C], att[NCTX][C], h[NCTX][F], t[C];

	for (int p = 0; p < T; p++)
		for (int c = 0; c < C; c++)
			x[p][c] = (double) wte[ids[p] * C + c] + wpe[p * C + c];
	for (int l = 0; l < NL; l++)
	{
		const RefLayer *r = &ref[l];
		int hs = C / NH;

		for (int p = 0; p < T; p++)
		{
			ref_layernorm(ln[p], x[p], r->ln1w, r->ln1b, C);
			ref_conv1d(qkv[p], ln[p], r->attnw, r->attnb, C, 3 * C);
		}
		for (int p = 0; p < T; p++)
			for (int hd = 0; hd < NH; hd++)
			{
				double s[NCTX], mx = -1e300, sum = 0;

				for (int j = 0; j <= p; j++)
				{
					s[j] = 0;
					for (int d = 0; d < hs; d++)
						s[j] += qkv[p][hd * hs + d] * qkv[j][C + hd * hs + d];
					s[j] /= sqrt((double) hs);
					mx = s[j] > mx ? s[j] : mx;
				}
				for (int j = 0; j <= p; j++)
					sum += (s[j] = exp(s[j] - mx));
				for (int d = 0; d < hs; d++)
				{
					double acc = 0;

					for (int j = 0; j <= p; j++)
						acc += s[j] / sum * qkv[j][2 * C + hd * hs + d];
					att[p][hd * hs + d] = acc;
				}
			}
		for (int p = 0; p < T; p++)
		{
			ref_conv1d(t, att[p], r->projw, r->projb, C, C);
			for (int c = 0; c < C; c++)
				x[p][c] += t[c];
			ref_layernorm(ln[p], x[p], r->ln2w, r->ln2b, C);
			ref_conv1d(h[p], ln[p], r->fcw, r->fcb, C, F);
			for (int k = 0; k < F; k++)
				h[p][k] = 0.5 * h[p][k] * (1 + tanh(sqrt(2 / M_PI) * (h[p][k] + 0.044715 * pow(h[p][k], 3))));
			ref_conv1d(t, h[p], r->mprojw, r->mprojb, F, C);
			for (int c = 0; c < C; c++)
				x[p][c] += t[c];
		}
	}
	for (int p = 0; p < T; p++)
	{
		ref_layernorm(ln[p], x[p], lnfw, lnfb, C);
		for (int v = 0; v < V; v++)
		{
			double acc = 0;

			for (int c = 0; c < C; c++)
				acc += ln[p][c] * wte[v * C + c];
			logits[p * V + v] = acc;
		}
	}
}

/* largest |a - b| over V logits */
static double
diff_logits(const float *a, const double *b)
{
	double m = 0;

	for (int v = 0; v < V; v++)
		m = fmax(m, fabs(a[v] - b[v]));
	return m;
}

/* prefix, token by token and chunked runs against the reference */
static void
test_forward(const int32_t *ids, int T)
{
	static double want[NCTX * V];
	static float kv[NCTX * NL * 2 * C], scratch[NCTX * (7 * C + F) + NCTX];
	float logits[V];
	double err = 0;
	int rc, pos = 0;
	static const int chunks[] = {3, 4, 1, 5, 3};

	check(TfmGpt2CacheBytes(&cfg, NCTX) == sizeof(kv), "cache size");
	check(TfmGpt2ScratchBytes(&cfg, NCTX) == sizeof(scratch), "scratch size");
	ref_forward(want, ids, T);
	/* no cache: the whole prefix each time */
	for (int t = 1; t <= T; t++)
	{
		rc = gpt2_forward(logits, &cfg, &weights, ids, t, 0, kv, scratch, NULL);
		err = fmax(err, rc == 0 ? diff_logits(logits, want + (t - 1) * V) : 1e9);
	}
	check(err < 1e-4, "no-cache logits = reference at every length");
	/* KV cache: one token at a time */
	err = 0;
	for (int t = 0; t < T; t++)
	{
		rc = gpt2_forward(logits, &cfg, &weights, ids + t, 1, t, kv, scratch, NULL);
		err = fmax(err, rc == 0 ? diff_logits(logits, want + t * V) : 1e9);
	}
	check(err < 1e-4, "KV-cache token by token = reference");
	/* KV cache: chunks of several tokens */
	err = 0;
	for (int k = 0; pos < T; k++)
	{
		int n = chunks[k % 5] < T - pos ? chunks[k % 5] : T - pos;

		rc = gpt2_forward(logits, &cfg, &weights, ids + pos, n, pos, kv, scratch, NULL);
		pos += n;
		err = fmax(err, rc == 0 ? diff_logits(logits, want + (pos - 1) * V) : 1e9);
	}
	check(err < 1e-4, "KV-cache chunks = reference");
}

/* a later token changes neither the cached keys/values nor the logits before it */
static void
test_causal(void)
{
	static float kva[NCTX * NL * 2 * C], kvb[NCTX * NL * 2 * C], scratch[NCTX * (7 * C + F) + NCTX];
	int32_t a[NCTX], b[NCTX];
	float la[V], lb[V], lc[V];
	size_t early = (size_t) 8 * NL * 2 * C;
	double d = 0;

	for (int i = 0; i < NCTX; i++)
		a[i] = b[i] = (int32_t) ((i * 7 + 3) % V);
	b[8] = (a[8] + 1) % V;
	gpt2_forward(la, &cfg, &weights, a, 12, 0, kva, scratch, NULL);
	gpt2_forward(lb, &cfg, &weights, b, 12, 0, kvb, scratch, NULL);
	for (size_t i = 0; i < early; i++)
		d = fmax(d, fabs(kva[i] - kvb[i]));
	check(d < 1e-6, "keys and values before the changed token are unchanged");
	check(memcmp(la, lb, sizeof(la)) != 0, "the changed token changes the last logits");
	/* positions 0..7 of a's cache with b's tokens 8..11 give b's logits */
	gpt2_forward(lc, &cfg, &weights, b + 8, 4, 8, kva, scratch, NULL);
	d = 0;
	for (int v = 0; v < V; v++)
		d = fmax(d, fabs(lc[v] - lb[v]));
	check(d < 1e-5, "a shared prefix cache serves a different continuation");
	gpt2_forward(la, &cfg, &weights, a, 8, 0, kva, scratch, NULL);
	gpt2_forward(lb, &cfg, &weights, b, 8, 0, kvb, scratch, NULL);
	check(memcmp(la, lb, sizeof(la)) == 0, "logits before the changed token are unchanged");
}

/* argument checks: nothing is computed for bad calls */
static void
test_args(void)
{
	static float kv[NCTX * NL * 2 * C], scratch[NCTX * (7 * C + F) + NCTX];
	float logits[V];
	int32_t ids[NCTX] = {0}, bad = V;
	TfmGpt2Config c2 = cfg;

	check(gpt2_forward(logits, &cfg, &weights, ids, 0, 0, kv, scratch, NULL) == TFM_GPT2_EINVAL, "n_new 0");
	check(gpt2_forward(logits, &cfg, &weights, ids, 4, NCTX - 3, kv, scratch, NULL) == TFM_GPT2_EINVAL, "past n_ctx");
	check(gpt2_forward(logits, &cfg, &weights, ids, 1, -1, kv, scratch, NULL) == TFM_GPT2_EINVAL, "negative position");
	check(gpt2_forward(logits, &cfg, &weights, &bad, 1, 0, kv, scratch, NULL) == TFM_GPT2_EINVAL, "id out of range");
	check(gpt2_forward(logits, &cfg, &weights, ids, 4, NCTX - 4, kv, scratch, NULL) == 0, "last positions");
	c2.n_head = 5;
	check(TfmGpt2ConfigCheck(&c2) == TFM_GPT2_EINVAL && TfmGpt2CacheBytes(&c2, 4) == 0, "heads must divide n_embd");
	check(TfmGpt2CacheBytes(&cfg, NCTX + 1) == 0 && TfmGpt2ScratchBytes(&cfg, 0) == 0, "size functions reject bad lengths");
}

/* the Conv1D transpose and gelu_new against their definitions */
static void
test_pieces(void)
{
	float src[37 * 45], dst[45 * 37], x[101], y[101];
	int ok = 1;
	double err = 0;

	fill(src, 37 * 45, 0, 1);
	TfmGpt2TransposeConv1D(dst, src, 37, 45);
	for (int i = 0; i < 37; i++)
		for (int o = 0; o < 45; o++)
			ok &= dst[o * 37 + i] == src[i * 45 + o];
	check(ok, "Conv1D transpose");
	for (int i = 0; i < 101; i++)
		x[i] = -8.0f + 0.16f * (float) i;
	gelu_new_forward(y, x, 101);
	for (int i = 0; i < 101; i++)
	{
		double v = x[i];

		err = fmax(err, fabs(y[i] - 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))));
	}
	check(err < 1e-6, "gelu_new");
}

/* greedy, determinism, top-k and top-p */
static void
test_sample(void)
{
	float logits[V], scratch[2 * V], four[4] = {logf(0.4f), logf(0.3f), logf(0.2f), logf(0.1f)};
	uint64_t s1 = 7, s2 = 7;
	int counts[4] = {0}, ok = 1, seen[V] = {0};
	float tl[3] = {1.0f, 5.0f, 5.0f}, nanl[3] = {NAN, 1.0f, NAN};

	check(TfmSampleScratchFloats(V) == 2 * V, "sample scratch size");
	fill(logits, V, 0, 3);
	logits[11] = 9.0f;
	check(TfmSample(logits, V, 0.0f, 0, 1.0f, &s1, scratch) == 11 && s1 == 7, "greedy = argmax, rng untouched");
	check(TfmSample(tl, 3, 0.0f, 0, 1.0f, &s1, scratch) == 1, "greedy ties take the first index");
	check(TfmSample(nanl, 3, 0.0f, 0, 1.0f, &s1, scratch) == 1 &&
		  TfmSample(nanl, 3, 1.0f, 0, 1.0f, &s1, scratch) == 1, "NaN never wins");
	s1 = s2 = 99;
	for (int i = 0; i < 200; i++)
		ok &= TfmSample(logits, V, 1.3f, 10, 0.9f, &s1, scratch) ==
			TfmSample(logits, V, 1.3f, 10, 0.9f, &s2, scratch);
	check(ok && s1 == s2 && s1 != 99, "same rng state, same draws");
	ok = 1;
	for (int i = 0; i < 300; i++)
		ok &= TfmSample(logits, V, 5.0f, 1, 1.0f, &s1, scratch) == 11;
	check(ok, "top_k 1 is greedy at any temperature");
	ok = 1;
	for (int i = 0; i < 3000; i++)
		seen[TfmSample(logits, V, 100.0f, 3, 1.0f, &s1, scratch)]++;
	{
		int nseen = 0, order[V], top3 = 1;

		for (int v = 0; v < V; v++)
			order[v] = v;
		/* the three largest logits */
		for (int k = 0; k < 3; k++)
			for (int v = k + 1; v < V; v++)
				if (logits[order[v]] > logits[order[k]])
				{
					int t = order[k];

					order[k] = order[v];
					order[v] = t;
				}
		for (int v = 0; v < V; v++)
			nseen += seen[v] > 0;
		for (int k = 0; k < 3; k++)
			top3 &= seen[order[k]] > 0;
		check(nseen == 3 && top3, "top_k 3 draws exactly the three best");
	}
	for (int i = 0; i < 4000; i++)
		counts[TfmSample(four, 4, 1.0f, 0, 0.65f, &s1, scratch)]++;
	check(counts[0] > 0 && counts[1] > 0 && counts[2] == 0 && counts[3] == 0 &&
		  fabs(counts[0] / 4000.0 - 4.0 / 7) < 0.03, "top_p 0.65 keeps {0.4, 0.3}, renormalised");
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < 20000; i++)
		counts[TfmSample(four, 4, 1.0f, 0, 1.0f, &s1, scratch)]++;
	for (int k = 0; k < 4; k++)
		ok &= fabs(counts[k] / 20000.0 - (0.4 - 0.1 * k)) < 0.015;
	check(ok, "plain sampling follows softmax");
	check(TfmSample(four, 4, 1.0f, 0, 0.01f, &s1, scratch) == 0, "tiny top_p keeps the best");
	check(TfmSample(four, 0, 1.0f, 0, 1.0f, &s1, scratch) == -1 &&
		  TfmSample(four, 4, -1.0f, 0, 1.0f, &s1, scratch) == -1 &&
		  TfmSample(four, 4, NAN, 0, 1.0f, &s1, scratch) == -1, "bad arguments");
}

/* run everything with and without SIMD */
int
main(void)
{
	int32_t ids[NCTX];

	make_model();
	for (int i = 0; i < NCTX; i++)
		ids[i] = (int32_t) ((i * 13 + 5) % V);
	for (int simd = 1; simd >= 0; simd--)
	{
		TfmOpsSetSimd(simd);
		test_forward(ids, NCTX);
		test_forward(ids, 9);
		test_causal();
		test_args();
	}
	test_pieces();
	test_sample();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
