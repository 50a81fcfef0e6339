/*
 * wordpiece.c - BERT WordPiece tokenizer (tokenizer.json pipeline) on utf8proc: the driver,
 * BertPreTokenizer and WordPiece (the vocabulary blob is wpvocab.c's, the normalizer bertnorm.c's).
 *
 * Pipeline, as Hugging Face's tokenizers (Rust) run it:
 *   1. split the raw text on special tokens ("[CLS]"...), longest match first;
 *   2. BertNormalizer on each remaining section: clean_text, CJK spacing,
 *      lowercase (Rust's char::to_lowercase: full mapping, no context), then NFD + drop Mn;
 *   3. BertPreTokenizer: split on whitespace, each punctuation char alone;
 *   4. WordPiece greedy longest-match-first with "##" continuations;
 *   5. [CLS] ... [SEP].
 *
 * To keep memory proportional to a word instead of the whole text, the raw text is
 * cut into chunks at characters that are token boundaries in every stage (white
 * space, CJK ideographs, punctuation that is not case-ignorable) and each chunk is
 * normalised on its own.  This gives the same result as normalising the whole
 * section: none of those characters changes class under normalisation, has a
 * non-zero combining class.
 */
#include "added.h"
#include "wpblob.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* append an id */
static int
id_push(TokCtx *c, int32_t id)
{
	return TfmCpPush(&c->ids, (uint32_t) id);
}

/* ------------------------------------------------------------- WordPiece */

/* UTF-8 encode w[0..m) into c->word, recording char offsets */
static void
word_encode(TokCtx *c, const uint32_t *w, size_t m)
{
	size_t off = 0;

	for (size_t i = 0; i < m; i++)
	{
		c->ofs[i] = off;
		if (w[i] < 0x80)
			c->word[off++] = (char) w[i];
		else
			off += (size_t) utf8proc_encode_char((utf8proc_int32_t) w[i], (uint8_t *) c->word + off);
	}
	c->ofs[m] = off;
}

/*
 * longest vocab piece of the word starting at char start (with the prefix unless
 * start is 0); sets *end and returns its id, or -1.  Hashes of all candidates are
 * built incrementally, then probed longest first, as WordPiece tries them.
 */
static int32_t
longest_piece(TokCtx *c, size_t start, size_t m, size_t *end)
{
	size_t pre = start > 0 ? c->plen : 0, base = c->ofs[start], e = start;
	uint64_t h;

	memcpy(c->piece, c->cfg->prefix, pre);
	h = TfmFnvHash(c->piece, pre);
	while (e < m && pre + c->ofs[e + 1] - base <= (size_t) c->voc->max_token_bytes)
	{
		h = TfmFnvStep(h, c->word + c->ofs[e], c->ofs[e + 1] - c->ofs[e]);
		c->hash[e++ - start] = h;
	}
	memcpy(c->piece + pre, c->word + base, c->ofs[e] - base);
	for (; e > start; e--)
	{
		int32_t id = TfmVocabFind(c->voc, c->hash[e - start - 1], c->piece, pre + c->ofs[e] - base);

		if (id >= 0)
		{
			*end = e;
			return id;
		}
	}
	return -1;
}

/* WordPiece one pre-token w[0..m) into ids: pieces, or one [UNK] for the word */
static int
wordpiece(TokCtx *c, const uint32_t *w, size_t m)
{
	size_t mark = c->ids.n, start = 0;

	if (m == 0)
		return 0;
	if (m > (size_t) c->cfg->max_input_chars_per_word)
		return id_push(c, c->cfg->unk_id);
	word_encode(c, w, m);
	while (start < m)
	{
		int32_t id = longest_piece(c, start, m, &start);

		if (id < 0)
		{
			c->ids.n = mark;
			return id_push(c, c->cfg->unk_id);
		}
		if (id_push(c, id))
			return TFM_TOK_ENOMEM;
	}
	return 0;
}

/* BertPreTokenizer over the normalised chunk in a, feeding WordPiece */
static int
pretokenize(TokCtx *c)
{
	const uint32_t *v = c->a.v;
	size_t n = c->a.n, w = 0;

	if (n == 0)					/* everything was cleaned away; v may be NULL */
		return 0;
	for (size_t i = 0; i < n; i++)
	{
		int sp = TfmBertIsSpace(v[i]), pu = !sp && TfmBertIsPunct(v[i]);

		if (!sp && !pu)
			continue;
		if (wordpiece(c, v + w, i - w) || (pu && wordpiece(c, v + i, 1)))
			return TFM_TOK_ENOMEM;
		w = i + 1;
	}
	return wordpiece(c, v + w, n - w);
}

/* normalise, pre-tokenize and WordPiece one chunk of raw UTF-8 */
static int
do_chunk(TokCtx *c, const uint8_t *s, size_t n)
{
	if (n == 0)
		return 0;
	if (TfmBertNormalize(c, s, n))
		return TFM_TOK_ENOMEM;
	return pretokenize(c);
}

/* ------------------------------------------------------------------ driver */

/* byte length of the longest special token at s, 0 if none; *id its id, *flags its TFM_SPECIAL_* */
static size_t
match_special(const TokCtx *c, const uint8_t *s, size_t n, int32_t *id, uint32_t *flags)
{
	const VocabEntry *sp = BLOB(c->voc, c->voc->specials_off, const VocabEntry *);
	const uint32_t *fl = BLOB(c->voc, c->voc->spflags_off, const uint32_t *);
	const char *str = BLOB(c->voc, c->voc->strings_off, const char *);
	size_t best = 0;

	for (int i = 0; i < c->voc->nspecial; i++)
		if (sp[i].len > best && sp[i].len <= n && memcmp(str + sp[i].off, s, sp[i].len) == 0)
		{
			best = sp[i].len;
			*id = sp[i].id;
			*flags = fl[i];
		}
	return best;
}

/*
 * a word character of the Rust regex \w (Unicode): Alphabetic (letters, Nl, and the Other_Alphabetic
 * marks and circled letters), marks, decimal digits, connector punctuation, ZWNJ / ZWJ
 */
static int
is_word_char(uint32_t cp)
{
	utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t) cp);

	if (cp < 0x80)
		return (cp | 32) - 'a' < 26 || cp - '0' < 10 || cp == '_';
	if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ME)	/* L*, M* */
		return 1;
	return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_PC ||
		cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
		(cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189);
}

/* single_word: no word character right before s[b] or right at s[e] of valid UTF-8 s[0, len) */
static int
single_word_ok(const uint8_t *s, size_t len, size_t b, size_t e)
{
	uint32_t cp;

	if (b > 0)
	{
		size_t p = b - 1;

		while (p > 0 && (s[p] & 0xC0) == 0x80)
			p--;
		TfmUtf8Decode((const char *) s + p, b - p, &cp);
		if (is_word_char(cp))
			return 0;
	}
	if (e < len)
	{
		TfmUtf8Decode((const char *) s + e, len - e, &cp);
		if (is_word_char(cp))
			return 0;
	}
	return 1;
}

/*
 * the special token at s[i], or 0: its length *k and id; with lstrip the text before it ends at *end
 * (not before chunk), with rstrip the text after it starts at *next.  A token failing single_word is
 * skipped whole, as Hugging Face's non-overlapping matches are (*skip: no token starts before it).
 */
static int
special_at(const TokCtx *c, const uint8_t *s, size_t len, size_t i, size_t chunk, size_t *skip,
		   int32_t *id, size_t *end, size_t *next)
{
	uint32_t flags = 0;
	size_t k, w;

	if (!c->first[s[i]] || i < *skip || (k = match_special(c, s + i, len - i, id, &flags)) == 0)
		return 0;
	if ((flags & TFM_SPECIAL_SINGLE_WORD) && !single_word_ok(s, len, i, i + k))
	{
		*skip = i + k;
		return 0;
	}
	*end = i;
	if (flags & TFM_SPECIAL_LSTRIP)
		while ((w = TfmSpaceBefore((const char *) s, chunk, *end)) > 0)
			*end -= w;
	*next = i + k;
	if (flags & TFM_SPECIAL_RSTRIP)
		while ((w = TfmSpaceAt((const char *) s, *next, len)) > 0)
			*next += w;
	return 1;
}

/* walk the raw text: split out special tokens, cut chunks, emit ids */
static int
tok_run(TokCtx *c, const uint8_t *s, size_t len)
{
	size_t i = 0, chunk = 0, skip = 0;

	while (i < len)
	{
		uint32_t cp;
		size_t k, end, next;
		int32_t id = -1;
		int cls;

		if (special_at(c, s, len, i, chunk, &skip, &id, &end, &next))
		{
			if (do_chunk(c, s + chunk, end - chunk) || id_push(c, id))
				return TFM_TOK_ENOMEM;
			chunk = i = next;
			continue;
		}
		k = TfmUtf8Decode((const char *) s + i, len - i, &cp);
		cls = cp < 0x80 ? c->ascii[cp] : TfmBertCharClass(c->cfg, cp);
		if (cls != CH_WORD &&
			(do_chunk(c, s + chunk, i - chunk) || (cls == CH_SOLO && do_chunk(c, s + i, k))))
			return TFM_TOK_ENOMEM;
		i += k;
		if (cls != CH_WORD)
			chunk = i;
	}
	return do_chunk(c, s + chunk, len - chunk);
}

/* allocate the per-call scratch space and the byte class tables */
static int
ctx_init(TokCtx *c, const TfmVocab *v)
{
	size_t maxc = (size_t) v->cfg.max_input_chars_per_word;
	const VocabEntry *sp = BLOB(v, v->specials_off, const VocabEntry *);

	memset(c, 0, sizeof(*c));
	c->voc = v;
	c->cfg = &v->cfg;
	c->plen = strlen(v->cfg.prefix);
	c->word = malloc(4 * maxc + 4);
	c->piece = malloc(c->plen + 4 * maxc + 4);
	c->ofs = malloc((maxc + 1) * sizeof(size_t));
	c->hash = malloc((maxc + 1) * sizeof(uint64_t));
	if (c->word == NULL || c->piece == NULL || c->ofs == NULL || c->hash == NULL)
		return TFM_TOK_ENOMEM;
	for (int i = 0; i < v->nspecial; i++)
		c->first[(unsigned char) BLOB(v, v->strings_off, const char *)[sp[i].off]] = 1;
	for (uint32_t ch = 0; ch < 128; ch++)
		c->ascii[ch] = (unsigned char) TfmBertCharClass(c->cfg, ch);
	return 0;
}

/* release the per-call scratch space (the ids go to the caller or are freed there) */
static void
ctx_free(TokCtx *c)
{
	free(c->a.v);
	free(c->b.v);
	free(c->word);
	free(c->piece);
	free(c->ofs);
	free(c->hash);
}

/* tokenize UTF-8 text of len bytes into ids with [CLS]/[SEP] */
int
TfmTokenize(const TfmVocab *v, const char *text, size_t len,
			int32_t **out_ids, int *out_n, size_t *err_offset)
{
	const uint8_t *s = (const uint8_t *) text;
	size_t bad = TfmUtf8BadOffset(text, len);
	TokCtx c;
	int rc;

	*out_ids = NULL;
	*out_n = 0;
	if (bad < len)
	{
		if (err_offset)
			*err_offset = bad;
		return TFM_TOK_EUTF8;
	}
	rc = ctx_init(&c, v);
	if (rc == 0)
		rc = id_push(&c, v->cfg.cls_id);
	if (rc == 0)
		rc = tok_run(&c, s, len);
	if (rc == 0)
		rc = id_push(&c, v->cfg.sep_id);
	if (rc == 0 && c.ids.n > INT_MAX)
		rc = TFM_TOK_ENOMEM;
	ctx_free(&c);
	if (rc != 0)
	{
		free(c.ids.v);
		return rc;
	}
	*out_ids = (int32_t *) c.ids.v;
	*out_n = (int) c.ids.n;
	return 0;
}

