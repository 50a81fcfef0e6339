/* added.c - added tokens matched in a text (see added.h), shared by RoBERTa's and Unigram's tokenizers */
#include "added.h"

#include <string.h>

#include "textutil.h"

/* 0 when the entries are inside the string area with sound lengths and ids */
int
TfmAddedCheck(const TfmAddedEntry *a, uint32_t n, uint64_t str_len, int n_vocab)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i].len < 1 || a[i].len > TFM_ADDED_MAX || !TfmRegionOk(a[i].off, a[i].len, str_len) ||
			a[i].id < 0 || a[i].id >= n_vocab)
			return -1;
	return 0;
}

/* a scan from the start of a text */
void
TfmAddedScanInit(TfmAddedScan *s, const TfmAddedEntry *a, uint32_t n, const char *str, int normalized)
{
	memset(s->first, 0, sizeof(s->first));
	s->a = a;
	s->n = n;
	s->str = str;
	s->normalized = normalized;
	s->any = 0;
	for (uint32_t k = 0; k < n; k++)
		if (a[k].normalized == normalized)
		{
			s->first[(unsigned char) str[a[k].off]] = 1;
			s->any = 1;
		}
	s->i = s->start = 0;
}

/* the longest added token of the scan's kind starting at text[i], or NULL */
static const TfmAddedEntry *
match_at(const TfmAddedScan *s, const char *text, size_t len, size_t i)
{
	const TfmAddedEntry *best = NULL;

	for (uint32_t k = 0; k < s->n; k++)
		if (s->a[k].normalized == s->normalized && s->a[k].len <= len - i &&
			(best == NULL || s->a[k].len > best->len) && memcmp(text + i, s->str + s->a[k].off, s->a[k].len) == 0)
			best = &s->a[k];
	return best;
}

/* the next added token, with the white space it absorbs */
const TfmAddedEntry *
TfmAddedScanNext(TfmAddedScan *s, const char *text, size_t len, size_t *end)
{
	while (s->any && s->i < len)
	{
		const TfmAddedEntry *a = s->first[(unsigned char) text[s->i]] ? match_at(s, text, len, s->i) : NULL;

		if (a == NULL)
		{
			s->i++;
			continue;
		}
		*end = s->i;
		if (a->lstrip)
			for (size_t k; (k = TfmSpaceBefore(text, s->start, *end)) > 0;)
				*end -= k;
		s->i += a->len;
		if (a->rstrip)
			for (size_t k; (k = TfmSpaceAt(text, s->i, len)) > 0;)
				s->i += k;
		return a;
	}
	return NULL;
}

/* bytes of the White_Space character ending at s[end) (not before start), 0 if none */
size_t
TfmSpaceBefore(const char *s, size_t start, size_t end)
{
	for (size_t n = 1; n <= 3 && n <= end - start; n++)
	{
		utf8proc_int32_t c;

		if (utf8proc_iterate((const utf8proc_uint8_t *) s + end - n, (utf8proc_ssize_t) n, &c) == (utf8proc_ssize_t) n &&
			TfmIsWhiteSpace((uint32_t) c))
			return n;
	}
	return 0;
}

/* bytes of the White_Space character at s[i] (before len), 0 if none */
size_t
TfmSpaceAt(const char *s, size_t i, size_t len)
{
	utf8proc_int32_t c;
	utf8proc_ssize_t k;

	if (i >= len)
		return 0;
	k = utf8proc_iterate((const utf8proc_uint8_t *) s + i, (utf8proc_ssize_t) (len - i), &c);
	return k > 0 && TfmIsWhiteSpace((uint32_t) c) ? (size_t) k : 0;
}
