/*
 * added.h - tokenizer.json's added tokens as every tokenizer of src/text stores and matches them:
 * leftmost-longest in the text, each absorbing the white space at its left (lstrip) or right (rstrip),
 * matched in the raw text or, with normalized, in the normalizer's output.  Pure C99: no postgres.h.
 */
#ifndef PG_TFM_ADDED_H
#define PG_TFM_ADDED_H

#include <stddef.h>
#include <stdint.h>

#define TFM_ADDED_MAX 256           /* bytes of one added token */

/* one added token as a builder takes it ("<mask>": id 50264, lstrip) */
typedef struct TfmAddedToken {
	const char *s;
	int len;                        /* 1..TFM_ADDED_MAX bytes */
	int32_t id;
	int lstrip, rstrip;             /* absorb the white space left / right of it */
	int normalized;                 /* matched in the normalized text rather than the raw one */
} TfmAddedToken;

/* one added token inside a blob: its bytes at off in the blob's string area */
typedef struct TfmAddedEntry {
	uint32_t off, len;
	int32_t id, lstrip, rstrip, normalized;
} TfmAddedEntry;

/* where a scan for the added tokens of one kind (raw or normalized) is in a text */
typedef struct TfmAddedScan {
	const TfmAddedEntry *a;
	uint32_t n;
	const char *str;                /* the blob's string area */
	int normalized;                 /* which kind this scan matches */
	int any;                        /* some added token is of that kind */
	unsigned char first[256];       /* their first bytes: most positions need no comparison */
	size_t i, start;                /* the next byte to look at; the text not yet taken starts at start */
} TfmAddedScan;

/* 0 when n entries lie in a string area of str_len bytes, each 1..TFM_ADDED_MAX bytes with an id below n_vocab */
int TfmAddedCheck(const TfmAddedEntry *a, uint32_t n, uint64_t str_len, int n_vocab);

/* a scan from the start of a text over the n entries a (strings in str) of kind normalized */
void TfmAddedScanInit(TfmAddedScan *s, const TfmAddedEntry *a, uint32_t n, const char *str, int normalized);

/*
 * the next added token from s->i on, or NULL: the text before it is [s->start, *end), the token with the
 * white space it absorbs (lstrip, rstrip) is [*end, s->i) when it returns; the caller moves s->start
 */
const TfmAddedEntry *TfmAddedScanNext(TfmAddedScan *s, const char *text, size_t len, size_t *end);

/* bytes of the White_Space character ending at s[end) (not before start), 0 if none */
size_t TfmSpaceBefore(const char *s, size_t start, size_t end);

/* bytes of the White_Space character at s[i] (before len), 0 if none */
size_t TfmSpaceAt(const char *s, size_t i, size_t len);

#endif /* PG_TFM_ADDED_H */
