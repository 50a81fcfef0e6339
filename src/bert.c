/*
 * bert.c - BERT encoder forward pass and pooling (see bert.h)
 *
 * Layer (post-LN):  x = LN1(x + Wo attn(Wq x, Wk x, Wv x))
 *                   x = LN2(x + W2 gelu(W1 x))
 * The residual stream lives in the caller's `hidden` buffer; everything
 * else is carved out of scratch, so the function can be abandoned at any
 * check() without leaking.
 */
#include <math.h>
#include <string.h>

#include "bert.h"
#include "ops.h"

/* scratch layout, in floats; every buffer starts 64-byte aligned
 * relative to scratch */
typedef struct BertScratch
{
	float	   *q,				/* (B,T,C) */
			   *k,				/* (B,T,C) */
			   *v,				/* (B,T,C) */
			   *ctx,			/* (B,T,C) */
			   *ffn,			/* (B,T,I) */
			   *att;			/* (T,T) */
	size_t		total;			/* floats */
} BertScratch;

/* round a float count up to a multiple of 16 (64 bytes) */
static size_t
round16(size_t n)
{
	return (n + 15) & ~(size_t) 15;
}

/* place the scratch buffers; with base NULL only compute the size */
static void
bert_scratch_layout(BertScratch *s, float *base, const TfmBertConfig *cfg,
					int B, int T)
{
	size_t		btc = round16((size_t) B * T * cfg->hidden);
	size_t		bti = round16((size_t) B * T * cfg->intermediate);
	size_t		tt = round16(attention_scratch_floats(T));
	size_t		off = 0;

	s->q = base ? base + off : NULL;
	off += btc;
	s->k = base ? base + off : NULL;
	off += btc;
	s->v = base ? base + off : NULL;
	off += btc;
	s->ctx = base ? base + off : NULL;
	off += btc;
	s->ffn = base ? base + off : NULL;
	off += bti;
	s->att = base ? base + off : NULL;
	off += tt;
	s->total = off;
}

/* bytes of scratch bert_forward needs */
size_t
TfmBertScratchBytes(const TfmBertConfig *cfg, int B, int T)
{
	BertScratch s;

	bert_scratch_layout(&s, NULL, cfg, B, T);
	return s.total * sizeof(float);
}

/* out (B,T,C) = word_emb[ids] + pos_emb[t] + type_emb[0]; padding rows
 * use id 0 so garbage ids are never dereferenced */
static void
embeddings_forward(float *out, const int32_t *ids, const int *lens,
				   const float *wte, const float *wpe, const float *wtt,
				   int B, int T, int C, int V)
{
	for (int b = 0; b < B; b++)
	{
		for (int t = 0; t < T; t++)
		{
			int32_t		id = t < lens[b] ? ids[(size_t) b * T + t] : 0;
			const float *we,
					   *pe = wpe + (size_t) t * C;
			float	   *o = out + ((size_t) b * T + t) * C;

			if (id < 0 || id >= V)
				id = 0;
			we = wte + (size_t) id * C;
			for (int i = 0; i < C; i++)
				o[i] = we[i] + pe[i] + wtt[i];
		}
	}
}

/* one post-LN encoder layer on the residual stream x (B,T,C), in place */
static void
bert_layer_forward(float *x, const TfmBertLayer *l, const BertScratch *s,
				   const TfmBertConfig *cfg, const int *lens, int B, int T)
{
	int			N = B * T,
				C = cfg->hidden,
				I = cfg->intermediate;
	size_t		nc = (size_t) N * C;

	matmul_forward(s->q, x, l->q_w, l->q_b, N, C, C);	// (B,T,C)
	matmul_forward(s->k, x, l->k_w, l->k_b, N, C, C);
	matmul_forward(s->v, x, l->v_w, l->v_b, N, C, C);
	attention_forward(s->ctx, NULL, s->q, s->k, s->v, lens, B, T, C,
					  cfg->heads, s->att);	// (B,T,C)
	matmul_forward(s->q, s->ctx, l->ao_w, l->ao_b, N, C, C);
	residual_forward(s->q, s->q, x, nc);
	layernorm_forward(x, NULL, NULL, s->q, l->ln1_w, l->ln1_b, N, C,
					  cfg->ln_eps);
	matmul_forward(s->ffn, x, l->i_w, l->i_b, N, C, I);	// (B,T,I)
	gelu_forward(s->ffn, s->ffn, (size_t) N * I);
	matmul_forward(s->q, s->ffn, l->o_w, l->o_b, N, I, C);	// (B,T,C)
	residual_forward(s->q, s->q, x, nc);
	layernorm_forward(x, NULL, NULL, s->q, l->ln2_w, l->ln2_b, N, C,
					  cfg->ln_eps);
}

/* BERT encoder: embeddings, LayerNorm, then cfg->layers layers */
void
bert_forward(float *hidden, const TfmBertConfig *cfg,
			 const TfmBertWeights *w, const int32_t *ids,
			 const int *lens, int B, int T, float *scratch,
			 void (*check) (void))
{
	BertScratch s;
	int			C = cfg->hidden;

	bert_scratch_layout(&s, scratch, cfg, B, T);
	embeddings_forward(s.q, ids, lens, w->word_emb, w->pos_emb, w->type_emb,
					   B, T, C, cfg->vocab);
	layernorm_forward(hidden, NULL, NULL, s.q, w->emb_ln_w, w->emb_ln_b,
					  B * T, C, cfg->ln_eps);	// (B,T,C)
	for (int l = 0; l < cfg->layers; l++)
	{
		if (check)
			check();
		bert_layer_forward(hidden, &w->layer[l], &s, cfg, lens, B, T);
	}
}

/* pool the hidden states of each sequence into one vector */
void
TfmPool(float *out, const float *hidden, const int *lens,
		int B, int T, int C, int pooling, int normalize)
{
	for (int b = 0; b < B; b++)
	{
		const float *h = hidden + (size_t) b * T * C;
		float	   *o = out + (size_t) b * C;
		int			L = lens[b] < 0 ? 0 : (lens[b] > T ? T : lens[b]);

		memset(o, 0, sizeof(float) * C);
		if (pooling == TFM_POOL_CLS)
		{
			if (L > 0)
				memcpy(o, h, sizeof(float) * C);
		}
		else if (L > 0)
		{
			/* sum in double: long sequences, tolerance 1e-4 downstream */
			for (int i = 0; i < C; i++)
			{
				double		acc = 0.0;

				for (int t = 0; t < L; t++)
					acc += h[(size_t) t * C + i];
				o[i] = (float) (acc / L);
			}
		}
		if (normalize)
		{
			double		ss = 0.0;
			float		inv;

			for (int i = 0; i < C; i++)
				ss += (double) o[i] * o[i];
			/* like F.normalize: divide by max(norm, 1e-12) */
			inv = (float) (1.0 / fmax(sqrt(ss), 1e-12));
			for (int i = 0; i < C; i++)
				o[i] *= inv;
		}
	}
}
