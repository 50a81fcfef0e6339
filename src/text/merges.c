/* merges.c - merges.txt / vocab.bpe read into BPE merge rules (TfmBpeParseMerges of bpe.h) */
#include "bpe.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* true for the white space that separates the two parts of a merge line */
static int
is_merge_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* parse one line [s, e) into *m; 0 = rule, 1 = blank, -1 = malformed */
static int
parse_merge_line(const char *s, const char *e, TfmBpeMerge *m)
{
	const char *p[2], *q[2];
	int k = 0;

	while (s < e)
	{
		while (s < e && is_merge_space(*s))
			s++;
		if (s == e)
			break;
		if (k == 2)
			return -1;
		p[k] = s;
		while (s < e && !is_merge_space(*s))
			s++;
		q[k++] = s;
	}
	if (k == 0)
		return 1;
	if (k != 2 || q[0] - p[0] > INT_MAX || q[1] - p[1] > INT_MAX)
		return -1;
	m->a = p[0];
	m->alen = (int) (q[0] - p[0]);
	m->b = p[1];
	m->blen = (int) (q[1] - p[1]);
	return 0;
}

/* split merges.txt / vocab.bpe text into rules (pointers into text) */
int
TfmBpeParseMerges(const char *text, size_t len, TfmBpeMerge **out, int *n,
				  int *err_line)
{
	size_t lines = 1, pos = 0;
	int line = 0, k = 0;
	TfmBpeMerge *m;

	*out = NULL;
	*n = 0;
	*err_line = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (lines > (size_t) TFM_BPE_MAX_IDS)
		return TFM_BPE_EINVAL;
	m = malloc(lines * sizeof(TfmBpeMerge));
	if (m == NULL)
		return TFM_BPE_ENOMEM;
	while (pos < len)
	{
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		const char *e = nl ? nl : text + len;
		int r;

		line++;
		pos = (size_t) (e - text) + 1;
		if (line == 1 && e - s >= 8 && memcmp(s, "#version", 8) == 0)
			continue;
		r = parse_merge_line(s, e, &m[k]);
		if (r < 0)
		{
			free(m);
			*err_line = line;
			return TFM_BPE_EINVAL;
		}
		k += r == 0;
	}
	*out = m;
	*n = k;
	return 0;
}
