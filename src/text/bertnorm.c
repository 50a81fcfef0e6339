/*
 * bertnorm.c - Hugging Face's BertNormalizer on code points (clean_text, lowercase as Rust's
 * char::to_lowercase, strip_accents as NFD without Mn) and the character classes that WordPiece's
 * chunking and BertPreTokenizer split at, on utf8proc.
 */
#include "wpblob.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------- character classes */

/* general category; nothing below U+0300 is a mark */
static utf8proc_category_t
category(uint32_t c)
{
	return utf8proc_category((utf8proc_int32_t) c);
}

/* canonical combining class; zero below U+0300 */
static int
ccc(uint32_t c)
{
	return c < 0x300 ? 0 : utf8proc_get_property((utf8proc_int32_t) c)->combining_class;
}

/* white space as JavaScript's \s and String.prototype.trim see it (BertPreTokenizer's) */
int
TfmBertIsSpace(uint32_t c)
{
	if (c < 0x80)
		return c == 0x20 || (c >= 0x09 && c <= 0x0D);
	return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
		c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
		c == 0x3000 || c == 0xFEFF;
}

/* BertNormalizer._is_control: category Cc/Cf/Co/Cs except \t \n \r */
static int
is_control(uint32_t c)
{
	utf8proc_category_t cat = category(c);

	if (c == '\t' || c == '\n' || c == '\r')
		return 0;
	return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
		cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

/* BertPreTokenizer punctuation: ASCII symbols or category P* */
int
TfmBertIsPunct(uint32_t c)
{
	if (c < 0x80)
		return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) ||
			(c >= 91 && c <= 96) || (c >= 123 && c <= 126);
	return category(c) >= UTF8PROC_CATEGORY_PC && category(c) <= UTF8PROC_CATEGORY_PO;
}

/*
 * CJK ideograph as transformers.js detects it: it tests UTF-16 code units, so the
 * supplementary-plane ranges of BERT's list never match
 */
static int
is_cjk(uint32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
		(c >= 0xF900 && c <= 0xFAFF);
}

/* Unicode Case_Ignorable (Mn Me Cf Lm Sk, or word-break MidLetter/MidNumLet/quote) */
static int
is_case_ignorable(uint32_t c)
{
	static const uint32_t mid[] = {0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4,
		0x2018, 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
	utf8proc_category_t cat = category(c);

	if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME ||
		cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_LM ||
		cat == UTF8PROC_CATEGORY_SK)
		return 1;
	for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
		if (c == mid[i])
			return 1;
	return 0;
}

/* CH_BOUNDARY for white space surviving clean_text, CH_SOLO for a stand-alone token */
int
TfmBertCharClass(const TfmTokConfig *cfg, uint32_t c)
{
	if (TfmBertIsSpace(c) && !(cfg->clean_text && is_control(c)))
		return CH_BOUNDARY;
	if (cfg->handle_chinese_chars && is_cjk(c))
		return CH_SOLO;
	if (TfmBertIsPunct(c) && !is_case_ignorable(c) && ccc(c) == 0)
		return CH_SOLO;
	return CH_WORD;
}

/* ----------------------------------------------------------------- buffers */

/* make room for extra more code points after the first n; 0 or TFM_TOK_ENOMEM */
static int
cp_reserve(CpBuf *b, size_t n, size_t extra)
{
	size_t ncap = b->cap < 64 ? 64 : b->cap;
	uint32_t *nv;

	if (extra <= b->cap - n)
		return 0;
	if (extra > SIZE_MAX / sizeof(uint32_t) / 2 - n)
		return TFM_TOK_ENOMEM;
	while (ncap < n + extra)
		ncap *= 2;
	if ((nv = realloc(b->v, ncap * sizeof(uint32_t))) == NULL)
		return TFM_TOK_ENOMEM;
	b->v = nv;
	b->cap = ncap;
	return 0;
}

/* append a code point (or an id) */
int
TfmCpPush(CpBuf *b, uint32_t c)
{
	if (b->n == b->cap && cp_reserve(b, b->n, 1))
		return TFM_TOK_ENOMEM;
	b->v[b->n++] = c;
	return 0;
}

/* swap the two normalisation buffers so that a holds the latest stage */
static void
swap_bufs(TokCtx *c)
{
	CpBuf t = c->a;

	c->a = c->b;
	c->b = t;
}

/* ------------------------------------------------------------ normaliser */

/* decode a valid UTF-8 chunk into a, applying clean_text */
static int
norm_decode(TokCtx *c, const uint8_t *s, size_t n)
{
	c->a.n = 0;
	if (cp_reserve(&c->a, 0, n))
		return TFM_TOK_ENOMEM;
	for (size_t i = 0; i < n;)
	{
		uint32_t cp;

		i += TfmUtf8Decode((const char *) s + i, n - i, &cp);
		if (c->cfg->clean_text && (cp == 0 || cp == 0xFFFD || is_control(cp)))
			continue;
		c->a.v[c->a.n++] = c->cfg->clean_text && TfmBertIsSpace(cp) ? 0x20 : cp;
	}
	return 0;
}

/*
 * Rust's char::to_lowercase of every character of a into b (full mapping, no context: a final capital
 * sigma gives σ, as in Hugging Face's tokenizers; String.prototype.toLowerCase would give ς); a <- b
 */
static int
norm_lower(TokCtx *c)
{
	const uint32_t *v = c->a.v;

	c->b.n = 0;
	for (size_t i = 0; i < c->a.n; i++)
	{
		uint32_t x = v[i];
		int rc;

		if (x < 0x80)
			rc = TfmCpPush(&c->b, x >= 'A' && x <= 'Z' ? x + 32 : x);
		else if (x == 0x130)        /* the one unconditional SpecialCasing lower entry */
			rc = TfmCpPush(&c->b, 0x69) || TfmCpPush(&c->b, 0x307);
		else
			rc = TfmCpPush(&c->b, (uint32_t) utf8proc_tolower((utf8proc_int32_t) x));
		if (rc)
			return TFM_TOK_ENOMEM;
	}
	swap_bufs(c);
	return 0;
}

/* stable counting sort of a run of marks v[0..n) by combining class; tmp holds n */
static void
sort_marks(uint32_t *v, size_t n, uint32_t *tmp)
{
	size_t count[257] = {0};

	for (size_t i = 0; i < n; i++)
		count[ccc(v[i]) + 1]++;
	for (int k = 1; k < 257; k++)
		count[k] += count[k - 1];
	for (size_t i = 0; i < n; i++)
		tmp[count[ccc(v[i])]++] = v[i];
	memcpy(v, tmp, n * sizeof(uint32_t));
}

/* canonical ordering of every run of non-starters in b; tmp is as large as b */
static void
reorder_marks(CpBuf *b, uint32_t *tmp)
{
	for (size_t i = 0, j; i < b->n; i = j + 1)
	{
		for (j = i; j < b->n && ccc(b->v[j]) != 0; j++)
			;
		if (j - i > 1)
			sort_marks(b->v + i, j - i, tmp);
	}
}

/* append the canonical decomposition of x to b */
static int
decompose(CpBuf *b, uint32_t x)
{
	utf8proc_int32_t d[16];
	int bound = 0;
	utf8proc_ssize_t k = 1;

	if (x >= 0xC0)              /* nothing below U+00C0 decomposes */
		k = utf8proc_decompose_char((utf8proc_int32_t) x, d, 16, UTF8PROC_DECOMPOSE, &bound);
	if (x < 0xC0 || k < 1 || k > 16)
		return TfmCpPush(b, x);
	if (cp_reserve(b, b->n, (size_t) k))
		return TFM_TOK_ENOMEM;
	for (utf8proc_ssize_t j = 0; j < k; j++)
		b->v[b->n++] = (uint32_t) d[j];
	return 0;
}

/* NFD of a, then drop category Mn (String.normalize('NFD').replace(/\p{Mn}/gu, '')) */
static int
norm_strip_accents(TokCtx *c)
{
	size_t out = 0;

	c->b.n = 0;
	for (size_t i = 0; i < c->a.n; i++)
		if (decompose(&c->b, c->a.v[i]))
			return TFM_TOK_ENOMEM;
	if (cp_reserve(&c->a, 0, c->b.n))   /* a is free now: the sort buffer */
		return TFM_TOK_ENOMEM;
	reorder_marks(&c->b, c->a.v);
	for (size_t i = 0; i < c->b.n; i++)
		if (c->b.v[i] < 0x300 || category(c->b.v[i]) != UTF8PROC_CATEGORY_MN)
			c->b.v[out++] = c->b.v[i];
	c->b.n = out;
	swap_bufs(c);
	return 0;
}

/* BertNormalizer on a valid UTF-8 chunk into c->a: clean_text, then lowercase, then NFD without Mn */
int
TfmBertNormalize(TokCtx *c, const uint8_t *s, size_t n)
{
	if (norm_decode(c, s, n) ||
		(c->cfg->lowercase && norm_lower(c)) ||
		(c->cfg->strip_accents && norm_strip_accents(c)))
		return TFM_TOK_ENOMEM;
	return 0;
}
