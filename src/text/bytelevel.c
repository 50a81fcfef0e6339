/*
 * bytelevel.c - the ByteLevel pre-tokenizer of GPT-2 and RoBERTa: bytes_to_unicode, the alphabet the
 * vocabulary spells bytes in, and the GPT-2 regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * hand-written on Unicode general categories (\s = JavaScript's white space and line terminators).
 */
#include "bytelevel.h"

#include <string.h>
#include <utf8proc.h>

/* the bytes_to_unicode character of byte b */
int32_t
TfmByteChar(int b)
{
	if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
		return b;
	/* the unprintable bytes get 256, 257, ... in byte order: 0..32, then 127..160, then 173 */
	return b <= 32 ? 256 + b : b <= 160 ? 256 + 33 + (b - 127) : 256 + 67;
}

/* fill inv[cp] = byte for the 324 code points of the alphabet, -1 elsewhere */
void
TfmByteInverse(int16_t inv[324])
{
	for (int i = 0; i < 324; i++)
		inv[i] = -1;
	for (int b = 0; b < 256; b++)
		inv[TfmByteChar(b)] = (int16_t) b;
}

/* character classes of the GPT-2 regex */
enum { CL_SPACE, CL_LETTER, CL_NUMBER, CL_OTHER };

/* the regex class of a code point; \s is JavaScript's (WhiteSpace + LineTerminator) */
static int
char_class(int32_t c)
{
	if (c < 128)
	{
		if (c == ' ' || (c >= 9 && c <= 13))
			return CL_SPACE;
		if ((c | 32) >= 'a' && (c | 32) <= 'z')
			return CL_LETTER;
		if (c >= '0' && c <= '9')
			return CL_NUMBER;
		return CL_OTHER;
	}
	if (c == 0xFEFF || c == 0x2028 || c == 0x2029)
		return CL_SPACE;
	switch (utf8proc_category(c))
	{
		case UTF8PROC_CATEGORY_ZS:
			return CL_SPACE;
		case UTF8PROC_CATEGORY_LU:
		case UTF8PROC_CATEGORY_LL:
		case UTF8PROC_CATEGORY_LT:
		case UTF8PROC_CATEGORY_LM:
		case UTF8PROC_CATEGORY_LO:
			return CL_LETTER;
		case UTF8PROC_CATEGORY_ND:
		case UTF8PROC_CATEGORY_NL:
		case UTF8PROC_CATEGORY_NO:
			return CL_NUMBER;
		default:
			return CL_OTHER;
	}
}

/* decode the (already validated) character at s[i]: its class and byte length */
static size_t
char_at(const char *s, size_t len, size_t i, int *cls)
{
	utf8proc_int32_t cp;
	utf8proc_ssize_t r;

	if ((unsigned char) s[i] < 128)
	{
		*cls = char_class((unsigned char) s[i]);
		return 1;
	}
	r = utf8proc_iterate((const utf8proc_uint8_t *) s + i, (utf8proc_ssize_t) (len - i), &cp);
	*cls = char_class(r > 0 ? cp : 0xFFFD);
	return r > 0 ? (size_t) r : 1;
}

/* end of the run of class cls starting at i */
static size_t
run_end(const char *s, size_t len, size_t i, int cls)
{
	while (i < len)
	{
		int c;
		size_t n = char_at(s, len, i, &c);

		if (c != cls)
			break;
		i += n;
	}
	return i;
}

/* length of a contraction ('s 't 're 've 'm 'll 'd) at s[i], or 0 */
static size_t
contraction(const char *s, size_t len, size_t i)
{
	static const char *const suf[] = {"s", "t", "re", "ve", "m", "ll", "d"};

	if (s[i] != '\'')
		return 0;
	for (int k = 0; k < 7; k++)
	{
		size_t n = strlen(suf[k]);

		if (len - i - 1 >= n && memcmp(s + i + 1, suf[k], n) == 0)
			return n + 1;
	}
	return 0;
}

/* end of the GPT-2 regex match starting at s[i] (i < len) */
size_t
TfmByteLevelSplit(const char *s, size_t len, size_t i)
{
	int c0, c1;
	size_t n0 = char_at(s, len, i, &c0), j, last;

	if ((j = contraction(s, len, i)) > 0)
		return i + j;
	/* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" */
	if (s[i] == ' ' && i + 1 < len)
	{
		char_at(s, len, i + 1, &c1);
		if (c1 != CL_SPACE)
			return run_end(s, len, i + 1, c1);
	}
	if (c0 != CL_SPACE)
		return run_end(s, len, i + n0, c0);
	/* "\s+(?!\S)": all the white space but the last character before a non-space */
	j = i;
	last = i;
	while (j < len)
	{
		int c;
		size_t n = char_at(s, len, j, &c);

		if (c != CL_SPACE)
			break;
		last = j;
		j += n;
	}
	if (j == len || last == i)
		return j;				/* to the end, or "\s+" of one character */
	return last;
}
