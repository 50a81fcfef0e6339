/*
 * bert.h - BERT-family encoder forward pass (post-LayerNorm, absolute
 * positions, token types 0 and 1), e.g. all-MiniLM-L6-v2
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

/*
 * encoder families: the same post-LN encoder, with their own tensor names (encoder.c) and
 * these variations: DistilBERT has no token-type embeddings; RoBERTa (and XLM-R) numbers
 * positions from pad_id + 1, skipping padding tokens, and tokenizes with byte-level BPE
 */
enum
{
	TFM_FAMILY_BERT = 0,
	TFM_FAMILY_DISTILBERT = 1,
	TFM_FAMILY_ROBERTA = 2
};

typedef struct TfmBertConfig
{
	int			vocab,
				hidden,
				layers,
				heads,
				intermediate,
				max_pos,
				type_vocab;		/* 0: no token-type embeddings (DistilBERT) */
	float		ln_eps;
	int			family;			/* TFM_FAMILY_* */
	int			pad_id;			/* RoBERTa: the padding id, positions start at pad_id + 1 */
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
	/*
	 * the six linear weights packed (matmul_pack), as a cache file stores
	 * them (its (out,in) pointers above are NULL then); bert_forward uses
	 * them when set, training needs the (out,in) ones
	 */
	const float *q_p, *k_p, *v_p, *ao_p, *i_p, *o_p;
	/* int8 copies of the six (precision int8; NULL otherwise): used before q_p.. when set */
	const struct TfmQ8Weight *q_8, *k_8, *v_8, *ao_8, *i_8, *o_8;
	/* bf16 copies of the six (precision bf16; NULL otherwise) */
	const struct TfmB16Weight *q_h, *k_h, *v_h, *ao_h, *i_h, *o_h;
} TfmBertLayer;

typedef struct TfmBertWeights
{
	const float *word_emb,		/* (vocab,C) */
			   *pos_emb,		/* (max_pos,C) */
			   *type_emb,		/* (type_vocab,C); NULL when type_vocab is 0 */
			   *emb_ln_w, *emb_ln_b;	/* (C) */
	const TfmBertLayer *layer;	/* [layers] */
	/*
	 * the word embeddings reduced, as cache files of bf16 and int8 models keep them (word_emb is
	 * NULL then, and bert_forward reads these): bf16 rows, or int8 rows with one scale per row
	 * (row v ~ word_scale[v] * word_i8[v]); word_zero is C zeros
	 */
	const uint16_t *word_bf16;	/* (vocab,C) */
	const int8_t *word_i8;		/* (vocab,C) */
	const float *word_scale;	/* (vocab) */
	const float *word_zero;		/* (C) */
} TfmBertWeights;

/* bytes of scratch bert_forward needs for a (B,T) batch */
size_t		TfmBertScratchBytes(const TfmBertConfig *cfg, int B, int T);

/*
 * hidden (B,T,C) = last hidden state; ids (B,T) padded with anything past
 * lens[b]; token type 0, or 1 for ids marked with TFM_TOKEN_TYPE1 (ops.h;
 * then cfg->type_vocab >= 2; none for DistilBERT); positions 0..T-1, or for RoBERTa
 * pad_id + the number of non-padding ids up to t (pad_id itself for a padding id).  Rows of padding tokens hold
 * finite values of no meaning.  check() is called five times per layer (it may
 * longjmp out; nothing needs cleaning up) and may be NULL.  scratch must be
 * float-aligned.
 */
void		bert_forward(float *hidden, const TfmBertConfig *cfg,
						 const TfmBertWeights *w, const int32_t *ids,
						 const int *lens, int B, int T, float *scratch,
						 void (*check) (void));

/* --- training ---------------------------------------------------------- */

/*
 * Training runs bert_forward_train, which keeps the activations the
 * backward pass needs in `acts` (TfmBertActBytes), then bert_backward with
 * the same inputs, dropout settings and seed.  Dropout sits where Hugging
 * Face's BertModel has it: after the embedding LayerNorm, on the attention
 * probabilities, and after the attention-output and FFN-output dense
 * layers (before their residual + LayerNorm).  Its masks are regenerated
 * from (seed), never stored: the same seed gives the same masks.
 * `scratch` (TfmBertTrainScratchBytes) serves both passes; acts and
 * scratch must be float-aligned.
 */

/* bytes of activations bert_forward_train keeps for bert_backward */
size_t		TfmBertActBytes(const TfmBertConfig *cfg, int B, int T);

/* bytes of scratch bert_forward_train and bert_backward need */
size_t		TfmBertTrainScratchBytes(const TfmBertConfig *cfg, int B, int T);

/*
 * like bert_forward but keeps activations in acts; dropout probabilities
 * hidden_p / attn_p applied when > 0 (training) with masks from (seed);
 * with both 0 the result equals bert_forward's
 */
void		bert_forward_train(float *hidden, float *acts,
							   const TfmBertConfig *cfg,
							   const TfmBertWeights *w, const int32_t *ids,
							   const int *lens, int B, int T, float hidden_p,
							   float attn_p, uint64_t seed, float *scratch,
							   void (*check) (void));

/*
 * accumulate parameter gradients (+=) into grads (a TfmBertWeights whose
 * pointers are writable buffers of the same shapes; NULL pointers skip
 * that parameter, e.g. a frozen word embedding) from dhidden (B,T,C),
 * given the acts of bert_forward_train with the same arguments.  dhidden
 * is read once at entry, so it may be the forward's hidden buffer.
 */
void		bert_backward(TfmBertWeights *grads, const float *dhidden,
						  const float *acts, const TfmBertConfig *cfg,
						  const TfmBertWeights *w, const int32_t *ids,
						  const int *lens, int B, int T, float hidden_p,
						  float attn_p, uint64_t seed, float *scratch,
						  void (*check) (void));

/* out (B,C) over the first lens[b] tokens: their mean (TFM_POOL_MEAN), token 0
 * (TFM_POOL_CLS), the per-channel max (TFM_POOL_MAX), their sum / sqrt(lens[b])
 * (TFM_POOL_MEAN_SQRT_LEN), the last token (TFM_POOL_LAST), as sentence-transformers'
 * Pooling modes; L2-normalise if normalize.  lens[b] == 0 gives zeros. */
enum
{
	TFM_POOL_MEAN = 0,
	TFM_POOL_CLS = 1,
	TFM_POOL_MAX = 2,
	TFM_POOL_MEAN_SQRT_LEN = 3,
	TFM_POOL_LAST = 4
};
void		TfmPool(float *out, const float *hidden, const int *lens,
					int B, int T, int C, int pooling, int normalize);

/*
 * dhidden (B,T,C) from dpooled (B,C) for every pooling mode WITHOUT
 * normalisation (max: to the first token holding each channel's max); written, not accumulated (zeros on padding rows)
 */
void		TfmPoolBackward(float *dhidden, const float *dpooled,
							const float *hidden, const int *lens, int B, int T, int C,
							int pooling);

#endif							/* TFM_BERT_H */
