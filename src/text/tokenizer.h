/*
 * text/tokenizer.h - the one tokenizer interface the rest of pg_tfm uses, for every model: read and
 * validate a tokenizer at import (TfmTextKind, TfmTextFromJson), check a stored blob (TfmTextCheck),
 * and turn server-encoded text, or a text pair, into ids with the post-processor's special tokens,
 * truncated to a budget (TfmTextEncode*), or into token strings (TfmTextTokens).
 *
 * Behind it (src/text): WordPiece (wordpiece.h: wpvocab.c, bertnorm.c, wordpiece.c; wpjson.c reads
 * tokenizer.json, vocabtxt.c vocab.txt), one byte-level BPE core (bpe.h: bpe.c, bytelevel.c,
 * merges.c; bpejson.c) for GPT-2 and for RoBERTa's post-processing (roberta.h, robjson.c), and
 * SentencePiece Unigram (unigram.h: unigram.c, uniencode.c, precompiled.c, unipieces.c; unijson.c).
 * Shared: added.h (added tokens), textutil.h (strings of ids, hashing, UTF-8), tokjson.c (the JSON
 * pieces every reader uses and the 0A000 refusal of an unsupported component).
 *
 * Ids and masks: an encoding is an int32 array of n ids; the attention mask is its length, and a token
 * of type 1 is marked by adding TFM_TOKEN_TYPE1 (ops.h) to its id.
 */
#ifndef TFM_TEXT_TOKENIZER_H
#define TFM_TEXT_TOKENIZER_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "model/bert.h"
#include "text/textutil.h"

struct TfmModel;

#define TFM_TOKEN_WINDOW 8192	/* bytes of a long text tokenized first when it will be truncated */

/* which tokenizer a blob is (the cache file header's tokenizer field for encoders) */
typedef enum TfmTokenizerKind
{
	TFM_TOKENIZER_WORDPIECE = 0,	/* wordpiece.h: [CLS] A [SEP] */
	TFM_TOKENIZER_ROBERTA = 1,		/* roberta.h: byte-level BPE with <s> A </s> */
	TFM_TOKENIZER_UNIGRAM = 2,		/* unigram.h: SentencePiece Unigram */
	TFM_TOKENIZER_GPT2 = 3			/* bpe.h: GPT-2's byte-level BPE, no special tokens */
} TfmTokenizerKind;

/* tokenizer.c: the interface */
extern TfmTokenizerKind TfmTextKind(Jsonb *tokenizer, const TfmBertConfig *cfg);
extern void *TfmTextFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what);
extern int	TfmTextCheck(TfmTokenizerKind kind, int n_vocab, const void *blob, size_t size);
extern int32 *TfmTextEncode(const struct TfmModel *m, const char *s, size_t len, int *n);
extern int32 *TfmTextEncodeTruncated(const struct TfmModel *m, Datum d, int max_tokens, int *n);
extern int	TfmTextTruncate(int32 *ids, int n, int max_tokens);
extern int32 *TfmTextTokens(const struct TfmModel *m, const char *s, size_t len, int *n, TfmPieces *out);
/* pair.c: a text pair with the post-processor's pair template, longest_first truncation (0: none) */
extern int32 *TfmTextEncodePair(const struct TfmModel *m, text *a, Datum b, int max_tokens, int *n);
extern int32 *TfmTextPairIds(const struct TfmModel *m, const int32 *ia, int na, const int32 *ib, int nb,
							 int max_tokens, int *n);
extern int32 *TfmTextSecondIds(const struct TfmModel *m, Datum b, int na, int max_tokens, int *n);

/* the readers behind TfmTextFromJson: wpjson.c (WordPiece), robjson.c (RoBERTa), unijson.c (Unigram) */
extern void *TfmVocabFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what);
extern void *TfmRobertaFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what);
extern bool TfmTokenizerIsUnigram(Jsonb *tokenizer);
extern void *TfmUnigramFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what);

#endif
