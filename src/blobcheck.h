/*
 * blobcheck.h - checks the tokenizers share on untrusted bytes (their cached blobs, text to encode).
 * Pure C99: no postgres.h.
 */
#ifndef PG_TFM_BLOBCHECK_H
#define PG_TFM_BLOBCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <utf8proc.h>

/* true if [off, off + n) lies within size */
static inline int
TfmRegionOk(uint64_t off, uint64_t n, uint64_t size)
{
	return off <= size && n <= size - off;
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

#endif
