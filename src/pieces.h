/*
 * pieces.h - the token strings of ids (Hugging Face's encoding.tokens), the one output every
 * tokenizer's id-to-string function fills (tokenizer.c TfmVocabPieces, bpe.c TfmBpePieces,
 * robertatok.c TfmRobertaPieces; a new tokenizer adds its own).  Pure C99: no postgres.h.
 */
#ifndef PG_TFM_PIECES_H
#define PG_TFM_PIECES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* n strings, piece i at buf[off[i] .. off[i + 1]); buf and off malloc'd */
typedef struct TfmPieces {
	char *buf;
	size_t len, cap;
	size_t *off;                    /* n + 1 offsets */
	int n;
} TfmPieces;

/* start an empty list for up to n pieces; 0 or -2 (no memory) */
static inline int
tfm_pieces_init(TfmPieces *p, int n)
{
	p->buf = NULL;
	p->len = p->cap = 0;
	p->n = 0;
	p->off = malloc(sizeof(size_t) * ((size_t) (n < 0 ? 0 : n) + 1));
	if (p->off == NULL)
		return -2;
	p->off[0] = 0;
	return 0;
}

/* free what a list holds */
static inline void
tfm_pieces_free(TfmPieces *p)
{
	free(p->buf);
	free(p->off);
	p->buf = NULL;
	p->off = NULL;
}

/* room for extra more bytes; 0 or -2 (no memory) */
static inline int
tfm_pieces_reserve(TfmPieces *p, size_t extra)
{
	size_t cap = p->cap ? p->cap : 256;
	char *b;

	if (extra > SIZE_MAX / 4 - p->len)
		return -2;
	while (cap < p->len + extra)
		cap *= 2;
	if (cap == p->cap)
		return 0;
	b = realloc(p->buf, cap);
	if (b == NULL)
		return -2;
	p->buf = b;
	p->cap = cap;
	return 0;
}

/* append one piece of len bytes (the list was started for at least p->n + 1 pieces); 0 or -2 */
static inline int
tfm_pieces_push(TfmPieces *p, const char *s, size_t len)
{
	if (tfm_pieces_reserve(p, len))
		return -2;
	memcpy(p->buf + p->len, s, len);
	p->len += len;
	p->off[++p->n] = p->len;
	return 0;
}

/* append one piece, growing the offsets of a list started with any size; 0 or -2 */
static inline int
tfm_pieces_push_grow(TfmPieces *p, const char *s, size_t len)
{
	size_t *off = realloc(p->off, sizeof(size_t) * ((size_t) p->n + 2));

	if (off == NULL)
		return -2;
	p->off = off;
	return tfm_pieces_push(p, s, len);
}

#endif /* PG_TFM_PIECES_H */
