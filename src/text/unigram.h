/*
 * unigram.h - SentencePiece Unigram tokenizers as Hugging Face's tokenizer.json describes them:
 * added tokens split out of the raw text, the normalizers (Precompiled charsmap, Replace, Strip,
 * NFC/NFKC/NFD/NFKD), the WhitespaceSplit / Metaspace pre-tokenizers, Viterbi segmentation over
 * the piece scores (unknown characters fused into one unk, byte_fallback) and the single template
 * of TemplateProcessing.
 *
 * ONE contiguous, position-independent blob (offsets only).  Nothing here uses postgres.h:
 * functions report failure through their return value (TFM_UNI_* codes, equal to bpe.h's) and
 * free everything they allocated.
 */
#ifndef PG_TFM_UNIGRAM_H
#define PG_TFM_UNIGRAM_H

#include "added.h"
#include "textutil.h"

#include <stddef.h>
#include <stdint.h>

#define TFM_UNI_EUTF8 (-1)          /* invalid UTF-8 in the input text */
#define TFM_UNI_ENOMEM (-2)         /* malloc failed */
#define TFM_UNI_EINVAL (-4)         /* a spec the builder refuses (TfmUniBuild's *why says which) */
#define TFM_UNI_ECORRUPT (-5)       /* blob fails TfmUniCheck, or a charsmap walk leaves its arrays */

#define TFM_UNI_MAX_PIECES 2000000  /* pieces of a vocabulary */
#define TFM_UNI_MAX_PIECE 512       /* bytes of one piece: bounds Viterbi's work per input byte */
#define TFM_UNI_MAX_SCORE 1e9       /* |score| of a piece: sums over any text stay finite */
#define TFM_UNI_MAX_NORM 8          /* normalizer steps */
#define TFM_UNI_MAX_SPECIAL 8       /* ids before / after the text in the template */
#define TFM_UNI_MAX_ADDED 4096      /* added tokens */
#define TFM_UNI_MAX_PATTERN 256     /* bytes of a Replace pattern or content, of the Metaspace replacement */

/* normalizer steps */
enum
{
	TFM_NORM_PRECOMPILED = 1,       /* the sentencepiece charsmap (precompiled.c) */
	TFM_NORM_REPLACE,               /* every occurrence of a string */
	TFM_NORM_REPLACE_SPACES,        /* the regex " {2,}": runs of two or more spaces */
	TFM_NORM_STRIP,                 /* White_Space at the left and/or right */
	TFM_NORM_NFC, TFM_NORM_NFD, TFM_NORM_NFKC, TFM_NORM_NFKD
};

/* Metaspace's prepend_scheme */
enum
{
	TFM_PREPEND_NEVER = 0, TFM_PREPEND_ALWAYS = 1, TFM_PREPEND_FIRST = 2
};

typedef struct TfmUniNorm
{
	int kind;                       /* TFM_NORM_* */
	int left, right;                /* STRIP */
	const char *pattern, *content;  /* REPLACE (pattern 1+ bytes), REPLACE_SPACES (content) */
	int pattern_len, content_len;
} TfmUniNorm;

typedef struct TfmUniSpec
{
	int n_pieces;                   /* ids 0..n_pieces-1 */
	const char *const *piece;
	const int *piece_len;
	const double *score;
	int32_t unk_id;                 /* required: Hugging Face errors on unknown text without one */
	int byte_fallback;
	int n_norm;
	TfmUniNorm norm[TFM_UNI_MAX_NORM];
	const unsigned char *charsmap;  /* the decoded precompiled_charsmap (for TFM_NORM_PRECOMPILED) */
	size_t charsmap_len;
	int whitespace_split;           /* WhitespaceSplit before Metaspace */
	int metaspace;                  /* Metaspace present */
	const char *replacement;        /* Metaspace's replacement character (UTF-8) */
	int replacement_len;
	int prepend;                    /* TFM_PREPEND_* */
	int split;                      /* Metaspace split */
	int n_prefix, n_suffix;         /* the template's ids before and after the text */
	int32_t prefix[TFM_UNI_MAX_SPECIAL], suffix[TFM_UNI_MAX_SPECIAL];
	int pair_roberta;               /* the pair template is <s> $A </s> </s> $B </s> (XLM-R's), all type 0 */
	int nadded;
	const TfmAddedToken *added;
} TfmUniSpec;

/*
 * build the blob: *blob malloc'd (8-byte aligned; caller free()s), *size bytes.  Returns 0,
 * TFM_UNI_ENOMEM, or TFM_UNI_EINVAL with *why saying what is wrong (a static string).
 */
int TfmUniBuild(const TfmUniSpec *spec, void **blob, size_t *size, const char **why);

/* 1 if a checked blob's pair template is <s> $A </s> </s> $B </s> (XLM-R's), else 0 */
int TfmUniPairRoberta(const void *blob);

/* the id of the piece s[0, n) in a checked blob, or -1 */
int32_t TfmUniPieceId(const void *blob, const char *s, size_t n);

/* verify a blob read from an untrusted file, every id below n_vocab; 0 if ok */
int TfmUniCheck(const void *blob, size_t size, int n_vocab);

/*
 * encode UTF-8 text: *ids malloc'd (caller free()s), *n ids, the template's special ids included.
 * Returns 0, TFM_UNI_EUTF8 (*err_offset = byte offset), TFM_UNI_ENOMEM or TFM_UNI_ECORRUPT.
 */
int TfmUniEncode(const void *blob, const char *text, size_t len, int32_t **ids, int *n, size_t *err_offset);

/*
 * encode as TfmUniEncode, and put into unk (initialised here; caller tfm_pieces_free()s it, and free()s
 * *unk_pos) the normalized text each unk id of a fused unknown stretch stands for, at ids index (*unk_pos)[i]
 */
int TfmUniEncodeUnk(const void *blob, const char *text, size_t len, int32_t **ids, int *n, size_t *err_offset,
					TfmPieces *unk, size_t **unk_pos);

/* unipieces.c: the strings of n ids (encoding.tokens) into out; 0, TFM_UNI_EINVAL (an id not in the blob) or TFM_UNI_ENOMEM */
int TfmUniPieces(const void *blob, const int32_t *ids, int n, TfmPieces *out);

/* encode as TfmUniEncode and put the strings of the ids (encoding.tokens: an unk stands for the text it replaced) into out */
int TfmUniTokens(const void *blob, const char *text, size_t len, int32_t **ids, int *n, size_t *err_offset,
				 TfmPieces *out);

/* precompiled.c: a sentencepiece precompiled_charsmap */
/* 0 when the charsmap parses and its trie stays inside its arrays with values in the string pool */
int TfmCharsmapCheck(const unsigned char *map, size_t len, const char **why);
/*
 * normalize text[0, len) (valid UTF-8) as Hugging Face's Precompiled does: graphemes shorter than 6
 * bytes looked up whole, otherwise each character; the first (shortest) rule matching a prefix
 * replaces the chunk.  units / nunits: the trie; pool / pool_len: the replacement strings.  Appends
 * to *out (malloc'd, *out_len, *out_cap); *lead0 = 1 when the output's first byte comes from text[0].
 */
int TfmCharsmapNormalize(const uint32_t *units, size_t nunits, const char *pool, size_t pool_len,
						 const char *text, size_t len, char **out, size_t *out_len, size_t *out_cap, int *lead0);

#endif /* PG_TFM_UNIGRAM_H */
