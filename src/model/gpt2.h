/*
 * gpt2.h - GPT-2 decoder (Hugging Face GPT2LMHeadModel) with a KV cache, and
 * token sampling.
 *
 * Pre-LayerNorm blocks, causal multi-head self-attention, gelu_new (tanh) MLP,
 * final LayerNorm, lm_head tied to wte.  Pure C99 on the kernels (ops.h) / blas.c; nothing
 * here allocates: the caller provides the KV cache and scratch, sized by the
 * functions below.
 *
 * Weight layout: Hugging Face stores GPT-2's projections as Conv1D, weight
 * (in, out).  This code takes every projection in Linear layout (out, in), like
 * the rest of pg_tfm (matmul_forward), so the N = 1 decoding steps run on
 * matmul_forward's small-N path that streams weight rows.  Transpose the four
 * Conv1D weights per layer once, when materialising fp32 weights, with
 * TfmGpt2TransposeConv1D.  wte (V,C) is used as is for the tied lm_head.
 */
#ifndef PG_TFM_GPT2_H
#define PG_TFM_GPT2_H

#include <stddef.h>
#include <stdint.h>

#define TFM_GPT2_EINVAL (-4)     /* bad sizes, positions or token ids */

/* hyperparameters from config.json */
typedef struct TfmGpt2Config {
	int n_vocab;                 /* vocab_size */
	int n_ctx;                   /* n_positions: rows of wpe, longest sequence */
	int n_embd;                  /* C */
	int n_layer;
	int n_head;                  /* NH; n_embd % n_head == 0 */
	int n_inner;                 /* MLP width; 4 n_embd when config.json has null */
	float eps;                   /* layer_norm_epsilon */
} TfmGpt2Config;

/* one block; HF name h.{i}.<field with '_' for '.'>; projections in Linear (out,in) layout */
typedef struct TfmGpt2Layer {
	const float *ln_1_weight, *ln_1_bias;                 /* (C) */
	const float *attn_c_attn_weight, *attn_c_attn_bias;   /* (3C,C), (3C): q, k, v */
	const float *attn_c_proj_weight, *attn_c_proj_bias;   /* (C,C), (C) */
	const float *ln_2_weight, *ln_2_bias;                 /* (C) */
	const float *mlp_c_fc_weight, *mlp_c_fc_bias;         /* (F,C), (F), F = n_inner */
	const float *mlp_c_proj_weight, *mlp_c_proj_bias;     /* (C,F), (C) */
} TfmGpt2Layer;

/* all weights (HF names with or without the "transformer." prefix) */
typedef struct TfmGpt2Weights {
	const float *wte;            /* (V,C), also the lm_head */
	const float *wpe;            /* (n_ctx,C) */
	const TfmGpt2Layer *h;       /* n_layer blocks */
	const float *ln_f_weight, *ln_f_bias;   /* (C) */
} TfmGpt2Weights;

/* 0 if the configuration is usable (positive sizes, heads divide n_embd, no overflow) */
int TfmGpt2ConfigCheck(const TfmGpt2Config *cfg);

/*
 * dst (out,in) = src (in,out) transposed: a Conv1D weight in Linear layout.
 * dst and src must not overlap.
 */
void TfmGpt2TransposeConv1D(float *dst, const float *src, int in, int out);

/*
 * bytes of a KV cache for sequences up to max_T <= n_ctx positions, laid out
 * (max_T, n_layer, 2, C): a position's keys and values of every layer, so the
 * layout does not depend on max_T.  0 if the sizes are bad.
 */
size_t TfmGpt2CacheBytes(const TfmGpt2Config *cfg, int max_T);

/* bytes of scratch gpt2_forward needs for n_new tokens at once; 0 if bad */
size_t TfmGpt2ScratchBytes(const TfmGpt2Config *cfg, int n_new);

/*
 * Run n_new tokens ids (n_new) at positions pos0 .. pos0 + n_new - 1: their
 * keys and values go into kv_cache, whose positions 0 .. pos0 - 1 must hold
 * those of the earlier tokens (from earlier calls).  logits (V) = next-token
 * logits of the last of the new tokens.  Without a cache worth keeping, call
 * with pos0 = 0 and the whole prefix.  kv_cache holds at least
 * TfmGpt2CacheBytes(cfg, pos0 + n_new), scratch TfmGpt2ScratchBytes(cfg,
 * n_new) (both float-aligned).  check (may be NULL) is called once per layer,
 * e.g. CHECK_FOR_INTERRUPTS.  Returns 0, or TFM_GPT2_EINVAL (nothing done) for
 * a bad config, n_new < 1, pos0 < 0, pos0 + n_new > n_ctx or an id outside [0,V).
 */
int gpt2_forward(float *logits, const TfmGpt2Config *cfg, const TfmGpt2Weights *w,
				 const int32_t *ids, int n_new, int pos0,
				 float *kv_cache, float *scratch, void (*check)(void));

/* out (n) = gelu_new(inp) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); out may equal inp */
void gelu_new_forward(float *out, const float *inp, size_t n);

/* floats of scratch TfmSample needs for V logits */
size_t TfmSampleScratchFloats(int V);

/*
 * Pick the next token from logits (V).  temperature == 0: greedy (argmax,
 * first index on ties).  Otherwise softmax(logits / temperature) restricted to
 * the top_k most likely tokens (top_k <= 0 or >= V: all) and then to the
 * smallest most-likely set whose probability reaches top_p (top_p <= 0 or >= 1:
 * all; the most likely token is always kept), renormalised and sampled with one
 * draw from *rng_state (splitmix64, advanced).  Ties rank the lower id first,
 * so the result is a function of (logits, parameters, *rng_state).  NaN logits
 * never win.  scratch: TfmSampleScratchFloats(V) floats.  Returns the id, or -1
 * for V < 1, V > 2^24, temperature < 0 or NaN, or no finite logit.
 */
int TfmSample(const float *logits, int V, float temperature, int top_k, float top_p,
			  uint64_t *rng_state, float *scratch);

#endif /* PG_TFM_GPT2_H */
