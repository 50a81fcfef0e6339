/*
 * bpe.h - GPT-2 byte-level BPE tokenizer in pure C99 on utf8proc.
 *
 * Mirrors the reference JavaScript encoder (npm gpt-3-encoder, itself a port of
 * OpenAI's encoder.py): the pre-tokenizer regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with JavaScript's \s, bytes_to_unicode, and merges applied lowest rank first,
 * every occurrence of that pair left to right.  Special tokens such as
 * <|endoftext|> are NOT recognised here (the reference encodes them as plain
 * characters); text/tokenizer.c splits GPT-2's out of the text first, as
 * Hugging Face's GPT-2 tokenizers do.
 *
 * The tokenizer is ONE contiguous, position-independent blob (offsets only):
 * build it once, store or mmap it, check it with TfmBpeCheck when it comes from
 * an untrusted file.  Nothing here uses postgres.h: functions report failure
 * through their return value and free everything they allocated.
 */
#ifndef PG_TFM_BPE_H
#define PG_TFM_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "textutil.h"

/* error codes: the same values as tokenizer.h's TFM_TOK_* */
#define TFM_BPE_EUTF8 (-1)      /* invalid UTF-8 in the input text */
#define TFM_BPE_ENOMEM (-2)     /* malloc failed */
#define TFM_BPE_EDUP (-3)       /* duplicate token string or id in the vocabulary */
#define TFM_BPE_EINVAL (-4)     /* bad argument: id out of range, bad merge, missing byte token */
#define TFM_BPE_ECORRUPT (-5)   /* blob fails TfmBpeCheck */

#define TFM_BPE_MAX_IDS (INT32_MAX / 4)  /* ids of a vocabulary, merge lines of a file */

/* one merge rule "a b"; rank = index in the array (lower merges first) */
typedef struct TfmBpeMerge {
	const char *a;
	int alen;
	const char *b;
	int blen;
} TfmBpeMerge;

/*
 * split merges.txt / vocab.bpe text into rules: a first line starting with
 * "#version" is skipped, so are blank lines; every other line must be two
 * parts separated by white space.  *out is malloc'd (caller free()s) and points
 * into text.  Returns 0, TFM_BPE_EINVAL (with *err_line, 1-based) or ENOMEM.
 */
int TfmBpeParseMerges(const char *text, size_t len, TfmBpeMerge **out, int *n,
					  int *err_line);

/*
 * bytes needed for the blob of this vocabulary (token i is tokens[i] of lens[i]
 * bytes, UTF-8 in the byte-to-unicode alphabet, with id ids[i]) and nmerges
 * rules; 0 if the sizes or ids are unusable
 */
size_t TfmBpeBlobSize(int ntokens, const char *const *tokens, const int *lens,
					  const int32_t *ids, int nmerges, const TfmBpeMerge *merges);

/*
 * build the blob into dst (size bytes from TfmBpeBlobSize, 8-byte aligned).
 * ids[i] is the id of tokens[i].  All 256 byte characters must be tokens; a
 * merge whose two parts are tokens must produce a token; a merge with a part
 * that is not a token can never fire and is dropped; when a pair repeats, the
 * later rank wins (as in the reference).  Returns 0 or a negative error.
 */
int TfmBpeBuild(void *dst, size_t size,
				int ntokens, const char *const *tokens, const int *lens,
				const int32_t *ids, int nmerges, const TfmBpeMerge *merges);

/*
 * the same, but byte characters missing from the vocabulary are allowed (small RoBERTa
 * vocabularies lack some): TfmBpeEncode drops those bytes, as Hugging Face's BPE does
 * without an unk_token
 */
int TfmBpeBuildEx(void *dst, size_t size,
				  int ntokens, const char *const *tokens, const int *lens,
				  const int32_t *ids, int nmerges, const TfmBpeMerge *merges, int missing_ok);

/* verify a blob read from an untrusted file: every offset/length within size; 0 if ok */
int TfmBpeCheck(const void *blob, size_t size);

/* number of ids = max id + 1 */
int TfmBpeSizeOf(const void *blob);

/*
 * encode UTF-8 text of len bytes: *ids malloc'd (caller free()s, NULL when
 * *n == 0), *n ids.  Returns 0, TFM_BPE_EUTF8 (*err_offset = byte offset of the
 * bad sequence) or TFM_BPE_ENOMEM.
 */
int TfmBpeEncode(const void *blob, const char *text, size_t len,
				 int32_t **ids, int *n, size_t *err_offset);

/*
 * decode n ids back to bytes: *text malloc'd and NUL-terminated (caller
 * free()s), *len bytes.  Lossless for the output of TfmBpeEncode; arbitrary id
 * sequences can give invalid UTF-8, which the caller must check.  Returns 0,
 * TFM_BPE_EINVAL (an id out of range or not in the vocabulary) or ENOMEM.
 */
int TfmBpeDecode(const void *blob, const int32_t *ids, int n,
				 char **text, size_t *len);

/*
 * the vocabulary strings of n ids in the byte alphabet (Hugging Face's encoding.tokens:
 * "Ġworld") into *out (tfm_pieces_free it); returns 0, TFM_BPE_EINVAL (an id not in the
 * vocabulary) or TFM_BPE_ENOMEM.  A token whose string left the byte alphabet (an added
 * token in the vocabulary) is given in the alphabet form of its bytes.
 */
int TfmBpePieces(const void *blob, const int32_t *ids, int n, TfmPieces *out);

/* the same for one id, appended to a list started for one more piece */
int TfmBpePieceAppend(const void *blob, int32_t id, TfmPieces *out);

#endif /* PG_TFM_BPE_H */
