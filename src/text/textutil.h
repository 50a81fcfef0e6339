/*
 * textutil.h - the helpers every tokenizer of src/text shares, one copy each: the token strings of ids
 * (Hugging Face's encoding.tokens, TfmPieces), blob layout (8-byte alignment, region checks on
 * untrusted blobs, hash-table sizing), FNV-1a hashing, UTF-8 validation and decoding (utf8proc), and
 * Unicode White_Space.  Pure C99: no postgres.h (the unit tests and fuzz targets link these files
 * without the server, so PostgreSQL's hash_bytes and pg_utf8_islegal are out of reach here).
 */
#ifndef PG_TFM_TEXTUTIL_H
#define PG_TFM_TEXTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

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

/* append n bytes to a growing malloc'd buffer (*buf, *len, *cap); 0 or -2 (no memory) */
static inline int
TfmBufPut(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (n > SIZE_MAX / 4 - *len)
		return -2;
	if (*len + n > *cap)
	{
		size_t c = *cap ? *cap : 64;
		char *p;

		while (c < *len + n)
			c *= 2;
		if ((p = realloc(*buf, c)) == NULL)
			return -2;
		*buf = p;
		*cap = c;
	}
	if (n > 0)
		memcpy(*buf + *len, s, n);
	*len += n;
	return 0;
}

/* append one piece of len bytes (the list was started for at least p->n + 1 pieces); 0 or -2 */
static inline int
tfm_pieces_push(TfmPieces *p, const char *s, size_t len)
{
	if (TfmBufPut(&p->buf, &p->len, &p->cap, s, len))
		return -2;
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


/* a growing vector of token ids (malloc'd) */
typedef struct TfmIds {
	int32_t *v;
	size_t n, cap;
} TfmIds;

/* append k ids (ids may be NULL when k is 0); 0 or -2 (no memory, or more than INT32_MAX ids) */
static inline int
TfmIdsAdd(TfmIds *o, const int32_t *ids, size_t k)
{
	if (k == 0)
		return 0;
	if (o->n + k > o->cap)
	{
		size_t cap = o->cap ? o->cap : 64;
		int32_t *p;

		while (cap < o->n + k)
			cap *= 2;
		if (cap > (size_t) 0x7fffffff || (p = realloc(o->v, cap * sizeof(int32_t))) == NULL)
			return -2;
		o->v = p;
		o->cap = cap;
	}
	memcpy(o->v + o->n, ids, k * sizeof(int32_t));
	o->n += k;
	return 0;
}

/* true if [off, off + n) lies within size */
static inline int
TfmRegionOk(uint64_t off, uint64_t n, uint64_t size)
{
	return off <= size && n <= size - off;
}

/* true if the array [off, off + n * elem) lies within size and off is 8-byte aligned */
static inline int
TfmArrayOk(uint64_t off, uint64_t n, uint64_t elem, uint64_t size)
{
	return off % 8 == 0 && off <= size && n <= (size - off) / elem;
}

/* n rounded up to a multiple of 8 (callers keep n far from the type's maximum) */
static inline uint64_t
TfmAlign8(uint64_t n)
{
	return (n + 7) & ~(uint64_t) 7;
}

/* slots of an open-addressing table for n keys: a power of two at least twice n (and at least 16) */
static inline uint64_t
TfmSlotCount(int n)
{
	uint64_t s = 16;

	while (s < 2 * (uint64_t) (n < 0 ? 0 : n))
		s *= 2;
	return s;
}

/* FNV-1a over n bytes, continuing from h */
static inline uint64_t
TfmFnvStep(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char) s[i]) * 0x100000001b3ULL;
	return h;
}

/* FNV-1a of a whole byte string */
static inline uint64_t
TfmFnvHash(const char *s, size_t n)
{
	return TfmFnvStep(0xcbf29ce484222325ULL, s, n);
}

/* offset of the first invalid UTF-8 sequence in s[0, len), or len if there is none (NUL bytes are valid) */
static inline size_t
TfmUtf8BadOffset(const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		utf8proc_int32_t cp;
		utf8proc_ssize_t r;

		if ((unsigned char) s[i] < 128)
		{
			i++;
			continue;
		}
		r = utf8proc_iterate((const utf8proc_uint8_t *) s + i, (utf8proc_ssize_t) (len - i), &cp);
		if (r <= 0)
			return i;
		i += (size_t) r;
	}
	return len;
}

/* decode the character at s (n > 0 bytes left, valid UTF-8 expected): its length; *cp U+FFFD if invalid */
static inline size_t
TfmUtf8Decode(const char *s, size_t n, uint32_t *cp)
{
	utf8proc_int32_t x;
	utf8proc_ssize_t k;

	if ((unsigned char) s[0] < 0x80)
	{
		*cp = (unsigned char) s[0];
		return 1;
	}
	k = utf8proc_iterate((const utf8proc_uint8_t *) s, (utf8proc_ssize_t) (n < 4 ? n : 4), &x);
	*cp = k > 0 ? (uint32_t) x : 0xFFFD;
	return k > 0 ? (size_t) k : 1;
}

/* true for Unicode White_Space (Rust's char::is_whitespace) */
static inline int
TfmIsWhiteSpace(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
		(c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

#endif /* PG_TFM_TEXTUTIL_H */
