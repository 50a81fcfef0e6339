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

#include "kernels/bgemm.h"
#include "kernels/ops.h"
#include "kernels/qgemm.h"
#include "model/bert.h"

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
	size_t		tt = round16(attention_scratch_floats(T, cfg->hidden / cfg->heads));
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

/*
 * out (N,OC) = x (N,C) . w^T + b, through its int8, bf16 or packed form, the first there is
 * (bf16 without AVX512-BF16 for many rows: the fp32 panels, which are faster there)
 */
static void
linear_forward(float *out, const float *x, const float *w, const float *packed,
			   const TfmQ8Weight *q8, const TfmB16Weight *b16, const float *b, int N, int C, int OC)
{
	if (q8)
		tfm_q8_linear(out, x, q8, b, N);
	else if (b16 && !(packed && tfm_b16_prefers_fp32(N)))
		tfm_b16_linear(out, x, b16, b, N);
	else if (packed)
		matmul_forward_packed(out, x, packed, b, N, C, OC);
	else
		matmul_forward(out, x, w, b, N, C, OC);
}

/*
 * positions of sequence b into pos[T] (see bert.h): t, or for RoBERTa pad_id + the count of
 * non-padding ids so far (pad_id for a padding id and past lens[b]); clamped into [0, max_pos)
 */
static void
position_ids(int *pos, const TfmBertConfig *cfg, const int32_t *ids, const int *lens, int b, int T)
{
	int			seen = 0;

	for (int t = 0; t < T; t++)
	{
		int			p = t;

		if (cfg->family == TFM_FAMILY_ROBERTA)
		{
			int			real = t < lens[b] && ids[(size_t) b * T + t] != cfg->pad_id;

			seen += real;
			p = real ? cfg->pad_id + seen : cfg->pad_id;
		}
		pos[t] = p < 0 ? 0 : (p >= cfg->max_pos ? cfg->max_pos - 1 : p);
	}
}

/* out (B,T,C) += the reduced word rows (bf16, or int8 times its row's scale) embedding_id picks */
static void
word_rows_add(float *out, const TfmBertWeights *w, const int32_t *ids, const int *lens, int B, int T, int C, int V)
{
	for (int b = 0; b < B; b++)
		for (int t = 0; t < T; t++)
		{
			int			type;
			size_t		id = (size_t) embedding_id(ids, lens, b, t, T, V, &type);
			float	   *o = out + ((size_t) b * T + t) * C;

			if (w->word_bf16)
				for (int i = 0; i < C; i++)
				{
					uint32_t	u = (uint32_t) w->word_bf16[id * C + i] << 16;
					float		f;

					memcpy(&f, &u, 4);
					o[i] += f;
				}
			else
				for (int i = 0; i < C; i++)
					o[i] += w->word_scale[id] * (float) w->word_i8[id * C + i];
		}
}

/* positions of every sequence into pos (B,T), then out (B,T,C) = the embeddings (ops.h); pos is scratch */
static void
encoder_embed(float *out, int *pos, const TfmBertConfig *cfg, const TfmBertWeights *w,
			  const int32_t *ids, const int *lens, int B, int T)
{
	for (int b = 0; b < B; b++)
		position_ids(pos + (size_t) b * T, cfg, ids, lens, b, T);
	if (w->word_emb)
	{
		embedding_forward(out, ids, lens, w->word_emb, w->pos_emb, w->type_emb, pos, B, T, cfg->hidden, cfg->vocab);
		return;
	}
	/* reduced word rows: positions and types over a zero word row (a one-row table), the word rows added */
	embedding_forward(out, ids, lens, w->word_zero, w->pos_emb, w->type_emb, pos, B, T, cfg->hidden, 1);
	word_rows_add(out, w, ids, lens, B, T, cfg->hidden, cfg->vocab);
}

/* scatter-add dout (B,T,C) into the rows encoder_embed read (pos is scratch, as there); NULL gradients are skipped */
static void
encoder_embed_backward(TfmBertWeights *g, int *pos, const float *dout, const TfmBertConfig *cfg,
					   const int32_t *ids, const int *lens, int B, int T)
{
	for (int b = 0; b < B; b++)
		position_ids(pos + (size_t) b * T, cfg, ids, lens, b, T);
	embedding_backward((float *) g->word_emb, (float *) g->pos_emb, (float *) g->type_emb, dout, ids, lens, pos,
					   B, T, cfg->hidden, cfg->vocab);
}

/* one post-LN encoder layer on the residual stream x (B,T,C), in place */
static void
bert_layer_forward(float *x, const TfmBertLayer *l, const BertScratch *s,
				   const TfmBertConfig *cfg, const int *lens, int B, int T,
				   void (*check) (void))
{
	int			N = B * T,
				C = cfg->hidden,
				I = cfg->intermediate;
	size_t		nc = (size_t) N * C;

	linear_forward(s->q, x, l->q_w, l->q_p, l->q_8, l->q_h, l->q_b, N, C, C);	// (B,T,C)
	linear_forward(s->k, x, l->k_w, l->k_p, l->k_8, l->k_h, l->k_b, N, C, C);
	linear_forward(s->v, x, l->v_w, l->v_p, l->v_8, l->v_h, l->v_b, N, C, C);
	/* a layer of a full batch takes ~0.2 s: stop between its large steps too */
	if (check)
		check();
	attention_forward(s->ctx, NULL, s->q, s->k, s->v, lens, B, T, C,
					  cfg->heads, s->att);	// (B,T,C)
	if (check)
		check();
	linear_forward(s->q, s->ctx, l->ao_w, l->ao_p, l->ao_8, l->ao_h, l->ao_b, N, C, C);
	residual_forward(s->q, s->q, x, nc);
	layernorm_forward(x, NULL, NULL, s->q, l->ln1_w, l->ln1_b, N, C,
					  cfg->ln_eps);
	if (check)
		check();
	linear_forward(s->ffn, x, l->i_w, l->i_p, l->i_8, l->i_h, l->i_b, N, C, I);	// (B,T,I)
	gelu_forward(s->ffn, s->ffn, (size_t) N * I);
	if (check)
		check();
	linear_forward(s->q, s->ffn, l->o_w, l->o_p, l->o_8, l->o_h, l->o_b, N, I, C);	// (B,T,C)
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
	/* the FFN buffer is free until the first layer: it holds the positions */
	encoder_embed(s.q, (int *) s.ffn, cfg, w, ids, lens, B, T);
	layernorm_forward(hidden, NULL, NULL, s.q, w->emb_ln_w, w->emb_ln_b,
					  B * T, C, cfg->ln_eps);	// (B,T,C)
	for (int l = 0; l < cfg->layers; l++)
	{
		if (check)
			check();
		bert_layer_forward(hidden, &w->layer[l], &s, cfg, lens, B, T, check);
	}
}

/* ---------------------------------------------------------------------- */
/* training: a forward pass that keeps activations, and the backward pass  */
/* ---------------------------------------------------------------------- */

/* activations of the embeddings kept for the backward pass */
typedef struct EmbActs
{
	float	   *sum,			/* (B,T,C) word + pos + type: LN input */
			   *mean,			/* (B,T) */
			   *rstd;			/* (B,T) */
} EmbActs;

/*
 * activations of one layer kept for the backward pass; the attention
 * probabilities are not among them: attention_backward recomputes them
 * (one more Q K^T per head saves B NH T T floats per layer)
 */
typedef struct LayerActs
{
	float	   *x,				/* (B,T,C) layer input */
			   *q,				/* (B,T,C) */
			   *k,				/* (B,T,C) */
			   *v,				/* (B,T,C) */
			   *ctx,			/* (B,T,C) attention output */
			   *res1,			/* (B,T,C) x + dropout(ctx Wao): LN1 input */
			   *ln1_mean,		/* (B,T) */
			   *ln1_rstd,		/* (B,T) */
			   *x1,				/* (B,T,C) LN1 output */
			   *fch,			/* (B,T,I) before GELU */
			   *res2,			/* (B,T,C) x1 + dropout(gelu(fch) Wo): LN2 input */
			   *ln2_mean,		/* (B,T) */
			   *ln2_rstd;		/* (B,T) */
} LayerActs;

/* work buffers of training; the forward uses only g and att */
typedef struct TrainScratch
{
	float	   *dcur,			/* (B,T,C) gradient of the residual stream */
			   *dres,			/* (B,T,C) */
			   *dtmp,			/* (B,T,C) */
			   *dk,				/* (B,T,C) */
			   *dv,				/* (B,T,C) */
			   *g,				/* (B,T,I) GELU output, later its gradient */
			   *dg,				/* (B,T,I) */
			   *att;			/* attention_backward_scratch_floats(T) */
	size_t		total;			/* floats */
} TrainScratch;

/* next buffer of n floats at *off (64-byte steps); NULL when sizing */
static float *
carve(float *base, size_t *off, size_t n)
{
	float	   *p = base ? base + *off : NULL;

	*off += round16(n);
	return p;
}

/* place one layer's activations at *off */
static void
layer_acts_layout(LayerActs *a, float *base, size_t *off,
				  const TfmBertConfig *cfg, int B, int T)
{
	size_t		n = (size_t) B * T,
				nc = n * cfg->hidden,
				ni = n * cfg->intermediate;

	a->x = carve(base, off, nc);
	a->q = carve(base, off, nc);
	a->k = carve(base, off, nc);
	a->v = carve(base, off, nc);
	a->ctx = carve(base, off, nc);
	a->res1 = carve(base, off, nc);
	a->ln1_mean = carve(base, off, n);
	a->ln1_rstd = carve(base, off, n);
	a->x1 = carve(base, off, nc);
	a->fch = carve(base, off, ni);
	a->res2 = carve(base, off, nc);
	a->ln2_mean = carve(base, off, n);
	a->ln2_rstd = carve(base, off, n);
}

/*
 * place the embedding activations in e and those of layer `layer` in la
 * (la may be NULL); returns the floats of the whole area
 */
static size_t
bert_acts_layout(EmbActs *e, LayerActs *la, int layer, float *base,
				 const TfmBertConfig *cfg, int B, int T)
{
	size_t		n = (size_t) B * T,
				off = 0,
				start,
				per;
	LayerActs	dummy;

	e->sum = carve(base, &off, n * cfg->hidden);
	e->mean = carve(base, &off, n);
	e->rstd = carve(base, &off, n);
	start = off;
	layer_acts_layout(&dummy, NULL, &off, cfg, B, T);
	per = off - start;
	if (la)
	{
		off = start + per * layer;
		layer_acts_layout(la, base, &off, cfg, B, T);
	}
	return start + per * cfg->layers;
}

/* place the training work buffers */
static void
train_scratch_layout(TrainScratch *s, float *base, const TfmBertConfig *cfg,
					 int B, int T)
{
	size_t		nc = (size_t) B * T * cfg->hidden,
				ni = (size_t) B * T * cfg->intermediate,
				off = 0;

	s->dcur = carve(base, &off, nc);
	s->dres = carve(base, &off, nc);
	s->dtmp = carve(base, &off, nc);
	s->dk = carve(base, &off, nc);
	s->dv = carve(base, &off, nc);
	s->g = carve(base, &off, ni);
	s->dg = carve(base, &off, ni);
	s->att = carve(base, &off, attention_backward_scratch_floats(T));
	s->total = off;
}

/* bytes of activations bert_forward_train keeps for bert_backward */
size_t
TfmBertActBytes(const TfmBertConfig *cfg, int B, int T)
{
	EmbActs		e;

	return bert_acts_layout(&e, NULL, 0, NULL, cfg, B, T) * sizeof(float);
}

/* bytes of scratch bert_forward_train and bert_backward need */
size_t
TfmBertTrainScratchBytes(const TfmBertConfig *cfg, int B, int T)
{
	TrainScratch s;

	train_scratch_layout(&s, NULL, cfg, B, T);
	return s.total * sizeof(float);
}

/*
 * dropout stream of each site, so no two sites share a mask: 0 the
 * embeddings, then per layer the attention probabilities, the attention
 * output and the FFN output
 */
static uint64_t
dropout_site(int site)
{
	return (uint64_t) site << 40;
}

#define SITE_EMB			0
#define SITE_ATT(l)			(1 + 3 * (l))
#define SITE_ATT_OUT(l)		(2 + 3 * (l))
#define SITE_FFN_OUT(l)		(3 + 3 * (l))

/* one encoder layer keeping its activations; writes its output to out */
static void
bert_layer_forward_train(float *out, const LayerActs *a, const TfmBertLayer *l,
						 const TrainScratch *s, const TfmBertConfig *cfg,
						 const int *lens, int B, int T, int li,
						 float hidden_p, float attn_p, uint64_t seed,
						 void (*check) (void))
{
	int			N = B * T,
				C = cfg->hidden,
				I = cfg->intermediate;
	size_t		nc = (size_t) N * C;

	matmul_forward(a->q, a->x, l->q_w, l->q_b, N, C, C);	// (B,T,C)
	matmul_forward(a->k, a->x, l->k_w, l->k_b, N, C, C);
	matmul_forward(a->v, a->x, l->v_w, l->v_b, N, C, C);
	attention_forward_dropout(a->ctx, NULL, a->q, a->k, a->v, lens,
							  B, T, C, cfg->heads, attn_p, seed,
							  dropout_site(SITE_ATT(li)), s->att);
	if (check)
		check();
	matmul_forward(a->res1, a->ctx, l->ao_w, l->ao_b, N, C, C);
	dropout_forward(a->res1, a->res1, nc, hidden_p, seed,
					dropout_site(SITE_ATT_OUT(li)));
	residual_forward(a->res1, a->res1, a->x, nc);
	layernorm_forward(a->x1, a->ln1_mean, a->ln1_rstd, a->res1,
					  l->ln1_w, l->ln1_b, N, C, cfg->ln_eps);
	matmul_forward(a->fch, a->x1, l->i_w, l->i_b, N, C, I);	// (B,T,I)
	gelu_forward(s->g, a->fch, (size_t) N * I);
	matmul_forward(a->res2, s->g, l->o_w, l->o_b, N, I, C);	// (B,T,C)
	dropout_forward(a->res2, a->res2, nc, hidden_p, seed,
					dropout_site(SITE_FFN_OUT(li)));
	residual_forward(a->res2, a->res2, a->x1, nc);
	layernorm_forward(out, a->ln2_mean, a->ln2_rstd, a->res2,
					  l->ln2_w, l->ln2_b, N, C, cfg->ln_eps);
}

/* BERT encoder forward keeping activations (see bert.h) */
void
bert_forward_train(float *hidden, float *acts, const TfmBertConfig *cfg,
				   const TfmBertWeights *w, const int32_t *ids,
				   const int *lens, int B, int T, float hidden_p,
				   float attn_p, uint64_t seed, float *scratch,
				   void (*check) (void))
{
	TrainScratch s;
	EmbActs		e;
	LayerActs	a;
	int			C = cfg->hidden;
	size_t		nc = (size_t) B * T * C;
	float	   *x0;

	train_scratch_layout(&s, scratch, cfg, B, T);
	bert_acts_layout(&e, &a, 0, acts, cfg, B, T);
	x0 = cfg->layers > 0 ? a.x : hidden;
	/* the GELU buffer is free until the first layer: it holds the positions */
	encoder_embed(e.sum, (int *) s.g, cfg, w, ids, lens, B, T);
	layernorm_forward(x0, e.mean, e.rstd, e.sum, w->emb_ln_w, w->emb_ln_b,
					  B * T, C, cfg->ln_eps);	// (B,T,C)
	dropout_forward(x0, x0, nc, hidden_p, seed, dropout_site(SITE_EMB));
	for (int l = 0; l < cfg->layers; l++)
	{
		LayerActs	next;
		float	   *out = hidden;

		if (check)
			check();
		if (l + 1 < cfg->layers)
		{
			bert_acts_layout(&e, &next, l + 1, acts, cfg, B, T);
			out = next.x;
		}
		bert_acts_layout(&e, &a, l, acts, cfg, B, T);
		bert_layer_forward_train(out, &a, &w->layer[l], &s, cfg, lens, B, T,
								 l, hidden_p, attn_p, seed, check);
	}
}

/* zero n floats */
static void
zero(float *p, size_t n)
{
	memset(p, 0, sizeof(float) * n);
}

/*
 * gradient through dropout site `site` of the gradient in src: src itself
 * when there is no dropout, else the masked copy in dst
 */
static float *
dropout_grad(float *dst, float *src, size_t n, float p, uint64_t seed,
			 int site)
{
	if (p <= 0.0f)
		return src;
	zero(dst, n);
	dropout_backward(dst, src, n, p, seed, dropout_site(site));
	return dst;
}

/*
 * one layer backward: s->dcur holds the gradient of the layer output on
 * entry and that of its input on return; parameter gradients accumulate
 * into gl (NULL members are skipped)
 */
static void
bert_layer_backward(const TfmBertLayer *gl, const LayerActs *a,
					const TfmBertLayer *l, const TrainScratch *s,
					const TfmBertConfig *cfg, const int *lens, int B, int T,
					int li, float hidden_p, float attn_p, uint64_t seed,
					void (*check) (void))
{
	int			N = B * T,
				C = cfg->hidden,
				I = cfg->intermediate;
	size_t		nc = (size_t) N * C,
				ni = (size_t) N * I;
	float	   *d,
			   *dctx;

	/* x2 = LN2(x1 + dropout(gelu(x1 Wi) Wo)) */
	zero(s->dres, nc);
	layernorm_backward(s->dres, (float *) gl->ln2_w, (float *) gl->ln2_b,
					   s->dcur, a->res2, l->ln2_w, a->ln2_mean, a->ln2_rstd,
					   N, C);
	memcpy(s->dcur, s->dres, sizeof(float) * nc);	/* residual to x1 */
	d = dropout_grad(s->dtmp, s->dres, nc, hidden_p, seed, SITE_FFN_OUT(li));
	gelu_forward(s->g, a->fch, ni);
	zero(s->dg, ni);
	matmul_backward(s->dg, (float *) gl->o_w, (float *) gl->o_b, d, s->g,
					l->o_w, N, I, C);	// (B,T,I)
	zero(s->g, ni);
	gelu_backward(s->g, a->fch, s->dg, ni);
	matmul_backward(s->dcur, (float *) gl->i_w, (float *) gl->i_b, s->g,
					a->x1, l->i_w, N, C, I);	// (B,T,C)

	if (check)					/* between the halves of a layer's backward pass */
		check();
	/* x1 = LN1(x + dropout(attn(x Wq, x Wk, x Wv) Wao)) */
	zero(s->dres, nc);
	layernorm_backward(s->dres, (float *) gl->ln1_w, (float *) gl->ln1_b,
					   s->dcur, a->res1, l->ln1_w, a->ln1_mean, a->ln1_rstd,
					   N, C);
	memcpy(s->dcur, s->dres, sizeof(float) * nc);	/* residual to x */
	d = dropout_grad(s->dtmp, s->dres, nc, hidden_p, seed, SITE_ATT_OUT(li));
	dctx = d == s->dres ? s->dtmp : s->dres;
	zero(dctx, nc);
	matmul_backward(dctx, (float *) gl->ao_w, (float *) gl->ao_b, d, a->ctx,
					l->ao_w, N, C, C);
	/* d is free again: it becomes dq */
	zero(d, nc);
	zero(s->dk, nc);
	zero(s->dv, nc);
	attention_backward_dropout(d, s->dk, s->dv, dctx, NULL, a->q, a->k,
							   a->v, lens, B, T, C, cfg->heads, attn_p, seed,
							   dropout_site(SITE_ATT(li)), s->att);
	matmul_backward(s->dcur, (float *) gl->q_w, (float *) gl->q_b, d, a->x,
					l->q_w, N, C, C);
	matmul_backward(s->dcur, (float *) gl->k_w, (float *) gl->k_b, s->dk,
					a->x, l->k_w, N, C, C);
	matmul_backward(s->dcur, (float *) gl->v_w, (float *) gl->v_b, s->dv,
					a->x, l->v_w, N, C, C);
}

/* BERT encoder backward (see bert.h) */
void
bert_backward(TfmBertWeights *grads, const float *dhidden, const float *acts,
			  const TfmBertConfig *cfg, const TfmBertWeights *w,
			  const int32_t *ids, const int *lens, int B, int T,
			  float hidden_p, float attn_p, uint64_t seed, float *scratch,
			  void (*check) (void))
{
	TrainScratch s;
	EmbActs		e;
	LayerActs	a;
	int			C = cfg->hidden;
	size_t		nc = (size_t) B * T * C;
	float	   *d;

	train_scratch_layout(&s, scratch, cfg, B, T);
	memcpy(s.dcur, dhidden, sizeof(float) * nc);
	for (int l = cfg->layers - 1; l >= 0; l--)
	{
		if (check)
			check();
		bert_acts_layout(&e, &a, l, (float *) acts, cfg, B, T);
		bert_layer_backward(&grads->layer[l], &a, &w->layer[l], &s, cfg,
							lens, B, T, l, hidden_p, attn_p, seed, check);
	}
	bert_acts_layout(&e, NULL, 0, (float *) acts, cfg, B, T);
	d = dropout_grad(s.dtmp, s.dcur, nc, hidden_p, seed, SITE_EMB);
	zero(s.dres, nc);
	layernorm_backward(s.dres, (float *) grads->emb_ln_w,
					   (float *) grads->emb_ln_b, d, e.sum, w->emb_ln_w,
					   e.mean, e.rstd, B * T, C);
	encoder_embed_backward(grads, (int *) s.g, s.dres, cfg, ids, lens, B, T);
}

/* dhidden (B,T,C) from dpooled (B,C) through TfmPool without normalising; hidden (max only) may be dhidden */
void
TfmPoolBackward(float *dhidden, const float *dpooled, const float *hidden, const int *lens,
				int B, int T, int C, int pooling)
{
	for (int b = 0; b < B; b++)
	{
		const float *dp = dpooled + (size_t) b * C;
		float	   *dh = dhidden + (size_t) b * T * C;
		int			L = lens[b] < 0 ? 0 : (lens[b] > T ? T : lens[b]);

		if (pooling == TFM_POOL_MAX && L > 0)
		{
			const float *h = hidden + (size_t) b * T * C;

			/* one channel at a time: its column is read whole before it is overwritten */
			for (int i = 0; i < C; i++)
			{
				int			arg = 0;

				for (int t = 1; t < L; t++)
					if (h[(size_t) t * C + i] > h[(size_t) arg * C + i])
						arg = t;
				for (int t = 0; t < T; t++)
					dh[(size_t) t * C + i] = t == arg ? dp[i] : 0.0f;
			}
			continue;
		}
		memset(dh, 0, sizeof(float) * (size_t) T * C);
		if (L == 0)
			continue;
		if (pooling == TFM_POOL_CLS || pooling == TFM_POOL_LAST)
		{
			memcpy(dh + (pooling == TFM_POOL_LAST ? (size_t) (L - 1) * C : 0), dp, sizeof(float) * C);
			continue;
		}
		for (int t = 0; t < L; t++)
			for (int i = 0; i < C; i++)
				dh[(size_t) t * C + i] = pooling == TFM_POOL_MEAN_SQRT_LEN ? (float) (dp[i] / sqrt((double) L)) :
					dp[i] / L;
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
		if (L == 0)
			;
		else if (pooling == TFM_POOL_CLS || pooling == TFM_POOL_LAST)
			memcpy(o, h + (pooling == TFM_POOL_LAST ? (size_t) (L - 1) * C : 0), sizeof(float) * C);
		else if (pooling == TFM_POOL_MAX)
		{
			for (int i = 0; i < C; i++)
			{
				float		m = h[i];

				for (int t = 1; t < L; t++)
					m = fmaxf(m, h[(size_t) t * C + i]);
				o[i] = m;
			}
		}
		else
		{
			/* sum in double: long sequences, tolerance 1e-4 downstream */
			double		div = pooling == TFM_POOL_MEAN_SQRT_LEN ? sqrt((double) L) : (double) L;

			for (int i = 0; i < C; i++)
			{
				double		acc = 0.0;

				for (int t = 0; t < L; t++)
					acc += h[(size_t) t * C + i];
				o[i] = (float) (acc / div);
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
