/*
 * precompiled.c - sentencepiece's precompiled_charsmap, read as Hugging Face's Precompiled
 * normalizer (crate spm_precompiled) reads it: a little-endian u32 with the trie's size in bytes,
 * the trie (a darts double array of u32 units), then the replacement strings, each ended by NUL.
 * Every read of the trie is bounds-checked; TfmCharsmapCheck walks the whole trie once at import.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "unigram.h"

/* darts' unit fields */
static uint32_t
has_leaf(uint32_t u)
{
	return (u >> 8) & 1;
}

static uint32_t
value_of(uint32_t u)
{
	return u & 0x7fffffffu;
}

static uint32_t
label_of(uint32_t u)
{
	return u & (0x80000000u | 0xffu);
}

static size_t
offset_of(uint32_t u)
{
	return (size_t) (u >> 10) << ((u & (1u << 9)) >> 6);
}

/* true when pool[v] may start a replacement: inside the pool (or its end) at a character boundary */
static int
value_ok(uint32_t v, const char *pool, size_t pool_len)
{
	return v <= pool_len && (v == pool_len || ((unsigned char) pool[v] & 0xc0) != 0x80);
}

/* the value of the first (shortest) key that is a prefix of key[0, n), or -1 (also when a read would leave the trie) */
static int64_t
first_prefix(const uint32_t *a, size_t na, const unsigned char *key, size_t n)
{
	size_t pos = 0;
	uint32_t unit;

	if (na == 0)
		return -1;
	unit = a[0];
	pos ^= offset_of(unit);
	for (size_t i = 0; i < n; i++)
	{
		if (key[i] == 0)
			return -1;
		pos ^= key[i];
		if (pos >= na)
			return -1;
		unit = a[pos];
		if (label_of(unit) != key[i])
			return -1;
		pos ^= offset_of(unit);
		if (has_leaf(unit))
			return pos < na ? (int64_t) value_of(a[pos]) : -1;
	}
	return -1;
}

/* depth-first walk of the trie below pos: every read in bounds, every value in the pool; *budget nodes left */
static int
walk(const uint32_t *a, size_t na, size_t pos, const char *pool, size_t pool_len, size_t *budget, int depth)
{
	if (depth > 64)
		return -1;
	for (int c = 1; c < 256; c++)
	{
		size_t p = pos ^ (size_t) c, next;

		if (p >= na || label_of(a[p]) != (uint32_t) c)
			continue;
		if ((*budget)-- == 0)
			return -1;
		next = p ^ offset_of(a[p]);
		if (next >= na)
			return -1;
		if (has_leaf(a[p]) && !value_ok(value_of(a[next]), pool, pool_len))
			return -1;
		if (walk(a, na, next, pool, pool_len, budget, depth + 1) != 0)
			return -1;
	}
	return 0;
}

/* 0 when the charsmap parses and its trie stays inside its arrays with values in the string pool */
int
TfmCharsmapCheck(const unsigned char *map, size_t len, const char **why)
{
	uint32_t tsize;
	uint32_t *units;
	size_t na, budget;
	const char *pool;
	int rc;

	if (len < 4)
		return (*why = "precompiled_charsmap is shorter than its header", TFM_UNI_EINVAL);
	tsize = (uint32_t) map[0] | (uint32_t) map[1] << 8 | (uint32_t) map[2] << 16 | (uint32_t) map[3] << 24;
	if (tsize % 4 != 0 || tsize == 0 || tsize > len - 4)
		return (*why = "precompiled_charsmap's trie size does not fit its data", TFM_UNI_EINVAL);
	pool = (const char *) map + 4 + tsize;
	if (TfmUtf8BadOffset(pool, len - 4 - tsize) != len - 4 - tsize)
		return (*why = "precompiled_charsmap's replacement strings are not UTF-8", TFM_UNI_EINVAL);
	na = tsize / 4;
	if ((units = malloc(tsize)) == NULL)
		return TFM_UNI_ENOMEM;
	memcpy(units, map + 4, tsize);	/* little-endian hosts only: pg_tfm's cache files are too */
	/*
	 * darts lets a node's base land where another node's children are, so walks also meet those
	 * (lookups would too): t5's charsmap has 6 times as many reachable nodes as units; a broken
	 * one (cycles) exhausts the budget, which also bounds the work (255 probes per node) on hostile input
	 */
	budget = 16 * na + 65536 < 2000000 ? 16 * na + 65536 : 2000000;
	rc = offset_of(units[0]) < na &&
		walk(units, na, offset_of(units[0]), pool, len - 4 - tsize, &budget, 0) == 0 ? 0 : TFM_UNI_EINVAL;
	free(units);
	if (rc != 0)
		*why = "precompiled_charsmap's trie is broken";
	return rc;
}

/* the replacement of chunk, or NULL; *rlen its bytes */
static const char *
transform(const uint32_t *units, size_t nunits, const char *pool, size_t pool_len,
		  const char *chunk, size_t n, size_t *rlen)
{
	int64_t v = first_prefix(units, nunits, (const unsigned char *) chunk, n);
	const char *end;

	if (v < 0 || !value_ok((uint32_t) v, pool, pool_len))
		return NULL;
	end = memchr(pool + v, 0, pool_len - (size_t) v);
	*rlen = end ? (size_t) (end - (pool + v)) : pool_len - (size_t) v;
	return pool + v;
}

/* normalize text as Hugging Face's Precompiled does (see unigram.h) */
int
TfmCharsmapNormalize(const uint32_t *units, size_t nunits, const char *pool, size_t pool_len,
					 const char *text, size_t len, char **out, size_t *out_len, size_t *out_cap, int *lead0)
{
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *) text;
	size_t g = 0;
	utf8proc_int32_t state = 0;

	*lead0 = 0;
	while (g < len)
	{
		/* the grapheme text[g, e) */
		size_t e = g, rlen;
		utf8proc_int32_t prev = -1, c;
		const char *r;
		int rc;

		/* an ASCII character before another is a grapheme of its own, but for CR LF (UAX #29) */
		if (s[g] < 0x80 && (g + 1 == len || (s[g + 1] < 0x80 && !(s[g] == '\r' && s[g + 1] == '\n'))))
		{
			if ((r = transform(units, nunits, pool, pool_len, text + g, 1, &rlen)) == NULL)
				r = text + g, rlen = 1;
			if (g == 0 && rlen > 0)
				*lead0 = 1;
			if ((rc = TfmBufPut(out, out_len, out_cap, r, rlen)) != 0)
				return rc;
			g++;
			continue;
		}
		while (e < len)
		{
			utf8proc_ssize_t k = utf8proc_iterate(s + e, (utf8proc_ssize_t) (len - e), &c);

			if (k <= 0)
				return TFM_UNI_EUTF8;
			if (prev >= 0 && utf8proc_grapheme_break_stateful(prev, c, &state))
				break;
			prev = c;
			e += (size_t) k;
		}
		state = 0;
		if (e - g < 6 && (r = transform(units, nunits, pool, pool_len, text + g, e - g, &rlen)) != NULL)
		{
			if (g == 0 && rlen > 0)
				*lead0 = 1;
			if ((rc = TfmBufPut(out, out_len, out_cap, r, rlen)) != 0)
				return rc;
			g = e;
			continue;
		}
		while (g < e)
		{
			size_t k = (size_t) utf8proc_iterate(s + g, (utf8proc_ssize_t) (e - g), &c);

			r = transform(units, nunits, pool, pool_len, text + g, k, &rlen);
			if (r == NULL)
			{
				r = text + g;
				rlen = k;
			}
			if (g == 0 && rlen > 0)
				*lead0 = 1;
			if ((rc = TfmBufPut(out, out_len, out_cap, r, rlen)) != 0)
				return rc;
			g += k;
		}
	}
	return 0;
}
