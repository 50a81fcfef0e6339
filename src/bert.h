/*
 * bert.h - BERT-family encoder forward pass (post-LayerNorm, absolute
 * positions, token type 0), e.g. all-MiniLM-L6-v2
 *
 * The caller owns every buffer: weights (fp32, e.g. from the mmap'd
 * weights file), the output and a scratch area of TfmBertScratchBytes().
 * Preconditions the caller checks (nothing here reports errors):
 * 1 <= T <= max_pos, hidden % heads == 0, 0 <= lens[b] <= T,
 * ids within the first lens[b] tokens in [0, vocab).  Out-of-range ids are
 * read as id 0 rather than out of bounds, and padding ids are never read.
 */
#ifndef TFM_BERT_H
#define TFM_BERT_H

#include <stddef.h>
#include <stdint.h>

typedef struct TfmBertConfig
{
	int			vocab,
				hidden,
				layers,
				heads,
				intermediate,
				max_pos,
				type_vocab;
	float		ln_eps;
} TfmBertConfig;

/*
 * One encoder layer; Hugging Face names: attention.self.{query,key,value},
 * attention.output.dense, attention.output.LayerNorm, intermediate.dense,
 * output.dense, output.LayerNorm.  Linear weights are (out,in).
 */
typedef struct TfmBertLayer
{
	const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b,
			   *ao_w, *ao_b, *ln1_w, *ln1_b,
			   *i_w, *i_b, *o_w, *o_b, *ln2_w, *ln2_b;
} TfmBertLayer;

typedef struct TfmBertWeights
{
	const float *word_emb,		/* (vocab,C) */
			   *pos_emb,		/* (max_pos,C) */
			   *type_emb,		/* (type_vocab,C) */
			   *emb_ln_w, *emb_ln_b;	/* (C) */
	const TfmBertLayer *layer;	/* [layers] */
} TfmBertWeights;

/* bytes of scratch bert_forward needs for a (B,T) batch */
size_t		TfmBertScratchBytes(const TfmBertConfig *cfg, int B, int T);

/*
 * hidden (B,T,C) = last hidden state; ids (B,T) padded with anything past
 * lens[b]; token type 0; positions 0..T-1.  Rows of padding tokens hold
 * finite values of no meaning.  check() is called once per layer (it may
 * longjmp out; nothing needs cleaning up) and may be NULL.  scratch must be
 * float-aligned.
 */
void		bert_forward(float *hidden, const TfmBertConfig *cfg,
						 const TfmBertWeights *w, const int32_t *ids,
						 const int *lens, int B, int T, float *scratch,
						 void (*check) (void));

/* out (B,C): mean over the first lens[b] tokens (TFM_POOL_MEAN) or token 0
 * (TFM_POOL_CLS); L2-normalise if normalize.  lens[b] == 0 gives zeros. */
enum
{
	TFM_POOL_MEAN = 0,
	TFM_POOL_CLS = 1
};
void		TfmPool(float *out, const float *hidden, const int *lens,
					int B, int T, int C, int pooling, int normalize);

#endif							/* TFM_BERT_H */
