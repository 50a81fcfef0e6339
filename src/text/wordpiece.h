/*
 * tokenizer.h - Hugging Face BERT tokenizer (BertNormalizer, BertPreTokenizer,
 * WordPiece, [CLS] A [SEP]) in pure C99 on utf8proc.
 *
 * The behaviour follows Hugging Face's Rust tokenizers crate (where the JavaScript
 * port differs, e.g. a final capital sigma, the Rust library is the reference).  Nothing here uses postgres.h: every
 * function reports failure through its return value and frees what it allocated.
 */
#ifndef PG_TFM_TOKENIZER_H
#define PG_TFM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "textutil.h"

typedef struct TfmTokConfig {
	int lowercase, strip_accents, clean_text, handle_chinese_chars; /* booleans, already resolved (strip_accents null -> lowercase) */
	int max_input_chars_per_word;     /* 100 */
	int32_t unk_id, cls_id, sep_id, pad_id;
	char prefix[16];                  /* "##" */
} TfmTokConfig;

/* opaque; ONE contiguous, position-independent blob (offsets only, no pointers) */
typedef struct TfmVocab TfmVocab;

#define TFM_TOK_EUTF8 (-1)      /* invalid UTF-8 in the input text */
#define TFM_TOK_ENOMEM (-2)     /* malloc failed */
#define TFM_TOK_EDUP (-3)       /* duplicate token while building a vocab */
#define TFM_TOK_EINVAL (-4)     /* bad argument: id out of range, empty or oversized token, bad config */
#define TFM_TOK_ECORRUPT (-5)   /* blob fails TfmVocabCheck */

/* bytes needed for a vocab blob of these tokens (tokens are UTF-8, not NUL-terminated, lens given) */
size_t TfmVocabBlobSize(int ntokens, const char *const *tokens, const int *lens,
						int nspecial, const char *const *special, const int *speclens);

/*
 * build the blob into dst (dst has TfmVocabBlobSize bytes, 8-byte aligned); ids[i]
 * is the id of tokens[i]; special[] are the added special tokens (content strings
 * like "[CLS]") with spec_ids[] that are split out of raw text; returns 0 or a
 * negative error (duplicate token, id out of range...)
 */
int TfmVocabBuild(void *dst, const TfmTokConfig *cfg,
				  int ntokens, const char *const *tokens, const int *lens, const int32_t *ids,
				  int nspecial, const char *const *special, const int *speclens,
				  const int32_t *spec_ids);

/* how an added (special) token is matched, as tokenizer.json's lstrip / rstrip / single_word say */
#define TFM_SPECIAL_LSTRIP 1        /* absorbs the White_Space before it */
#define TFM_SPECIAL_RSTRIP 2        /* absorbs the White_Space after it */
#define TFM_SPECIAL_SINGLE_WORD 4   /* matched only with no word character (regex \w) right before or after */

/* TfmVocabBuild with spec_flags[i] (TFM_SPECIAL_*) for special[i]; NULL: none */
int TfmVocabBuildEx(void *dst, const TfmTokConfig *cfg,
					int ntokens, const char *const *tokens, const int *lens, const int32_t *ids,
					int nspecial, const char *const *special, const int *speclens,
					const int32_t *spec_ids, const uint32_t *spec_flags);

/* verify a blob read from an untrusted file: every offset/length within size; 0 if ok */
int TfmVocabCheck(const void *blob, size_t size);

/* id of a token or -1 */
int32_t TfmVocabLookup(const TfmVocab *v, const char *tok, int len);

/* number of ids = max id + 1 */
int TfmVocabSizeOf(const TfmVocab *v);

/* the configuration embedded in the blob */
const TfmTokConfig *TfmVocabConfig(const TfmVocab *v);

/*
 * tokenize UTF-8 text of len bytes: *out_ids malloc'd (caller free()s), *out_n ids,
 * with [CLS]/[SEP]; returns 0, TFM_TOK_EUTF8 (invalid UTF-8, *err_offset = byte
 * offset), or TFM_TOK_ENOMEM
 */
int TfmTokenize(const TfmVocab *v, const char *text, size_t len,
				int32_t **out_ids, int *out_n, size_t *err_offset);

/*
 * the vocabulary strings of n ids (Hugging Face's encoding.tokens: "[CLS]", "##ing") into *out
 * (tfm_pieces_free it); returns 0, TFM_TOK_EINVAL (an id without a string) or TFM_TOK_ENOMEM
 */
int TfmVocabPieces(const TfmVocab *v, const int32_t *ids, int n, TfmPieces *out);

#endif /* PG_TFM_TOKENIZER_H */
