/*
 * gpt2.c - GPT-2 decoder forward pass with a KV cache, and token sampling.
 *
 * One call runs n_new tokens through every block at once (prefill with the
 * whole prompt, then n_new = 1 per generated token).  The new tokens' keys and
 * values are written into the cache before attention, so a token attends to
 * the cached positions and to the new ones up to itself (causal mask).  Only
 * the last position goes through ln_f and the lm_head, the one generation needs.
 */
#include "model/gpt2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

#define GPT2_MAX_DIM (1 << 24)   /* sanity bound on every size in a config */

/* 0 if the configuration is usable */
int
TfmGpt2ConfigCheck(const TfmGpt2Config *cfg)
{
	if (cfg == NULL || cfg->n_vocab < 1 || cfg->n_ctx < 1 || cfg->n_embd < 1 ||
		cfg->n_layer < 1 || cfg->n_head < 1 || cfg->n_inner < 1 ||
		cfg->n_vocab > GPT2_MAX_DIM || cfg->n_ctx > GPT2_MAX_DIM || cfg->n_embd > GPT2_MAX_DIM ||
		cfg->n_layer > 4096 || cfg->n_inner > GPT2_MAX_DIM || cfg->n_embd % cfg->n_head != 0 ||
		!(cfg->eps >= 0.0f && cfg->eps < 1.0f))
		return TFM_GPT2_EINVAL;
	return 0;
}

/* dst (out,in) = src (in,out) transposed */
void
TfmGpt2TransposeConv1D(float *dst, const float *src, int in, int out)
{
	/* blocks of 32 x 32 keep both sides in cache */
	for (int i0 = 0; i0 < in; i0 += 32)
		for (int o0 = 0; o0 < out; o0 += 32)
			for (int i = i0; i < in && i < i0 + 32; i++)
				for (int o = o0; o < out && o < o0 + 32; o++)
					dst[(size_t) o * in + i] = src[(size_t) i * out + o];
}

/* bytes of a KV cache (max_T, n_layer, 2, C) */
size_t
TfmGpt2CacheBytes(const TfmGpt2Config *cfg, int max_T)
{
	if (TfmGpt2ConfigCheck(cfg) != 0 || max_T < 1 || max_T > cfg->n_ctx)
		return 0;
	/* each factor is < 2^24 and n_layer < 2^12: no overflow in 64 bits */
	return (size_t) max_T * (size_t) cfg->n_layer * 2 * (size_t) cfg->n_embd * sizeof(float);
}

/* floats of scratch for n_new tokens: x, ln, qkv, att, tmp, fc rows + one score row */
static size_t
scratch_floats(const TfmGpt2Config *cfg, int n_new)
{
	size_t C = (size_t) cfg->n_embd;

	return (size_t) n_new * (7 * C + (size_t) cfg->n_inner) + (size_t) cfg->n_ctx;
}

/* bytes of scratch gpt2_forward needs for n_new tokens */
size_t
TfmGpt2ScratchBytes(const TfmGpt2Config *cfg, int n_new)
{
	if (TfmGpt2ConfigCheck(cfg) != 0 || n_new < 1 || n_new > cfg->n_ctx)
		return 0;
	return scratch_floats(cfg, n_new) * sizeof(float);
}

/* out (n) = gelu_new(inp) */
void
gelu_new_forward(float *out, const float *inp, size_t n)
{
	const float s = 0.7978845608028654f;	/* sqrt(2/pi) */

	for (size_t i = 0; i < n; i++)
	{
		float x = inp[i];

		out[i] = 0.5f * x * (1.0f + tanhf(s * (x + 0.044715f * x * x * x)));
	}
}

/* dot product of a (n) and b (n) with independent partial sums */
static float
dot(const float *a, const float *b, int n)
{
	float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
	int i = 0;

	for (; i + 4 <= n; i += 4)
	{
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

/*
 * out (n,C) = causal attention of the queries in qkv (n,3C) (new tokens at
 * positions pos0..) over keys and values kv (pos0 + n positions, row stride
 * `stride` floats, keys at +0 and values at +C); scores holds pos0 + n floats
 */
static void
attention_causal_forward(float *out, const float *qkv, const float *kv, float *scores,
						 int n, int pos0, int C, int NH, size_t stride)
{
	int hs = C / NH;
	float scale = 1.0f / sqrtf((float) hs);

	for (int i = 0; i < n; i++)
	{
		int T = pos0 + i + 1;	/* positions this token may see */

		for (int h = 0; h < NH; h++)
		{
			const float *q = qkv + (size_t) i * 3 * C + (size_t) h * hs;
			float *o = out + (size_t) i * C + (size_t) h * hs;
			float mx = -INFINITY, sum = 0.0f, inv;

			for (int t = 0; t < T; t++)
			{
				scores[t] = scale * dot(q, kv + (size_t) t * stride + (size_t) h * hs, hs);
				if (scores[t] > mx)
					mx = scores[t];
			}
			for (int t = 0; t < T; t++)
			{
				scores[t] = expf(scores[t] - mx);
				sum += scores[t];
			}
			inv = 1.0f / sum;
			memset(o, 0, sizeof(float) * (size_t) hs);
			for (int t = 0; t < T; t++)
			{
				const float *v = kv + (size_t) t * stride + (size_t) C + (size_t) h * hs;
				float p = scores[t] * inv;

				for (int d = 0; d < hs; d++)
					o[d] += p * v[d];
			}
		}
	}
}

/* 0 if the call's sizes, positions and ids are valid */
static int
forward_args_ok(const TfmGpt2Config *cfg, const int32_t *ids, int n_new, int pos0)
{
	if (TfmGpt2ConfigCheck(cfg) != 0 || n_new < 1 || pos0 < 0 || pos0 > cfg->n_ctx - n_new)
		return TFM_GPT2_EINVAL;
	for (int i = 0; i < n_new; i++)
		if (ids[i] < 0 || ids[i] >= cfg->n_vocab)
			return TFM_GPT2_EINVAL;
	return 0;
}

/* x (n,C) = wte[ids] + wpe[pos0 ..] */
static void
embed_forward(float *x, const float *wte, const float *wpe, const int32_t *ids,
			  int n, int pos0, int C)
{
	for (int i = 0; i < n; i++)
	{
		const float *te = wte + (size_t) ids[i] * C;
		const float *pe = wpe + (size_t) (pos0 + i) * C;

		for (int c = 0; c < C; c++)
			x[(size_t) i * C + c] = te[c] + pe[c];
	}
}

/* x (n,C) += one block (attention and MLP) of layer l; keys and values go to kv */
static void
block_forward(float *x, float *s, const TfmGpt2Config *cfg, const TfmGpt2Layer *L,
			  int l, int n, int pos0, float *kv_cache)
{
	int C = cfg->n_embd, F = cfg->n_inner;
	size_t nC = (size_t) n * C, stride = (size_t) cfg->n_layer * 2 * C;
	float *ln = s, *qkv = ln + nC, *att = qkv + 3 * nC, *tmp = att + nC;
	float *fc = tmp + nC, *scores = fc + (size_t) n * F;
	float *kv = kv_cache + (size_t) l * 2 * C;

	layernorm_forward(ln, NULL, NULL, x, L->ln_1_weight, L->ln_1_bias, n, C, cfg->eps);
	matmul_forward(qkv, ln, L->attn_c_attn_weight, L->attn_c_attn_bias, n, C, 3 * C);
	for (int i = 0; i < n; i++)
	{
		float *dst = kv + (size_t) (pos0 + i) * stride;

		memcpy(dst, qkv + (size_t) i * 3 * C + C, sizeof(float) * 2 * (size_t) C);
	}
	attention_causal_forward(att, qkv, kv, scores, n, pos0, C, cfg->n_head, stride);
	matmul_forward(tmp, att, L->attn_c_proj_weight, L->attn_c_proj_bias, n, C, C);
	residual_forward(x, x, tmp, nC);
	layernorm_forward(ln, NULL, NULL, x, L->ln_2_weight, L->ln_2_bias, n, C, cfg->eps);
	matmul_forward(fc, ln, L->mlp_c_fc_weight, L->mlp_c_fc_bias, n, C, F);
	gelu_new_forward(fc, fc, (size_t) n * F);
	matmul_forward(tmp, fc, L->mlp_c_proj_weight, L->mlp_c_proj_bias, n, F, C);
	residual_forward(x, x, tmp, nC);
}

/* logits (V) of the last of n_new tokens at positions pos0.., extending kv_cache */
int
gpt2_forward(float *logits, const TfmGpt2Config *cfg, const TfmGpt2Weights *w,
			 const int32_t *ids, int n_new, int pos0,
			 float *kv_cache, float *scratch, void (*check)(void))
{
	int C;
	float *x, *s;

	if (forward_args_ok(cfg, ids, n_new, pos0) != 0)
		return TFM_GPT2_EINVAL;
	C = cfg->n_embd;
	x = scratch;
	s = x + (size_t) n_new * C;
	embed_forward(x, w->wte, w->wpe, ids, n_new, pos0, C);
	for (int l = 0; l < cfg->n_layer; l++)
	{
		if (check != NULL)
			check();
		block_forward(x, s, cfg, &w->h[l], l, n_new, pos0, kv_cache);
	}
	layernorm_forward(s, NULL, NULL, x + (size_t) (n_new - 1) * C,
					  w->ln_f_weight, w->ln_f_bias, 1, C, cfg->eps);
	matmul_forward(logits, s, w->wte, NULL, 1, C, cfg->n_vocab);
	return 0;
}

/* ---------------------------------------------------------------- sampling */

/* floats of scratch TfmSample needs: (probability, id) records */
size_t
TfmSampleScratchFloats(int V)
{
	return V > 0 ? 2 * (size_t) V : 0;
}

/* next value of a splitmix64 generator, uniform in [0, 1) */
static double
rng_uniform(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return (double) (z >> 11) * (1.0 / 9007199254740992.0);
}

/* true if record a (p, id) ranks before b: more likely, then lower id */
static int
rec_before(const float *a, const float *b)
{
	return a[0] > b[0] || (a[0] == b[0] && a[1] < b[1]);
}

/* qsort order of records: most likely first, ties by id */
static int
rec_cmp(const void *pa, const void *pb)
{
	const float *a = pa, *b = pb;

	return rec_before(a, b) ? -1 : rec_before(b, a) ? 1 : 0;
}

/* restore the heap order (worst record at the root) below slot i of k records */
static void
sift_down(float *rec, int k, int i)
{
	for (;;)
	{
		int c = 2 * i + 1;
		float t0, t1;

		if (c >= k)
			return;
		if (c + 1 < k && rec_before(&rec[2 * c], &rec[2 * (c + 1)]))
			c++;				/* the worse child */
		if (!rec_before(&rec[2 * i], &rec[2 * c]))
			return;
		t0 = rec[2 * i];
		t1 = rec[2 * i + 1];
		rec[2 * i] = rec[2 * c];
		rec[2 * i + 1] = rec[2 * c + 1];
		rec[2 * c] = t0;
		rec[2 * c + 1] = t1;
		i = c;
	}
}

/* keep the k best of the n records in rec[0..k), sorted best first; returns k */
static int
top_k_records(float *rec, int n, int k)
{
	if (k < n)
	{
		/* a heap of the k best so far, worst on top */
		for (int i = k / 2 - 1; i >= 0; i--)
			sift_down(rec, k, i);
		for (int i = k; i < n; i++)
			if (rec_before(&rec[2 * i], &rec[0]))
			{
				rec[0] = rec[2 * i];
				rec[1] = rec[2 * i + 1];
				sift_down(rec, k, 0);
			}
		n = k;
	}
	qsort(rec, (size_t) n, 2 * sizeof(float), rec_cmp);
	return n;
}

/* index of the largest non-NaN logit (first on ties), -1 if all are NaN */
static int
argmax(const float *logits, int V)
{
	int best = -1;

	for (int i = 0; i < V; i++)
		if (!isnan(logits[i]) && (best < 0 || logits[i] > logits[best]))
			best = i;
	return best;
}

/* pick the next token from logits (V) */
int
TfmSample(const float *logits, int V, float temperature, int top_k, float top_p,
		  uint64_t *rng_state, float *scratch)
{
	int best, n = 0;
	double total = 0.0, u, acc = 0.0;

	if (V < 1 || V > (1 << 24) || !(temperature >= 0.0f))
		return -1;
	best = argmax(logits, V);
	if (best < 0 || temperature == 0.0f || logits[best] == INFINITY)
		return best;
	if (logits[best] == -INFINITY)
		return -1;
	/* records (p, id) of the tokens that can be drawn, unnormalised */
	for (int i = 0; i < V; i++)
	{
		float p = isnan(logits[i]) ? 0.0f : expf((logits[i] - logits[best]) / temperature);

		if (p > 0.0f || i == best)
		{
			scratch[2 * n] = i == best ? 1.0f : p;
			scratch[2 * n + 1] = (float) i;
			n++;
		}
	}
	if ((top_k > 0 && top_k < n) || (top_p > 0.0f && top_p < 1.0f))
		n = top_k_records(scratch, n, top_k > 0 && top_k < n ? top_k : n);
	for (int i = 0; i < n; i++)
		total += scratch[2 * i];
	if (top_p > 0.0f && top_p < 1.0f)
	{
		/* the smallest most-likely prefix reaching top_p of the mass */
		double need = top_p * total, cum = 0.0;
		int keep = 0;

		while (keep < n && (keep == 0 || cum < need))
			cum += scratch[2 * keep++];
		n = keep;
		total = cum;
	}
	u = rng_uniform(rng_state) * total;
	for (int i = 0; i < n; i++)
	{
		acc += scratch[2 * i];
		if (u < acc)
			return (int) scratch[2 * i + 1];
	}
	return (int) scratch[2 * (n - 1) + 1];
}
