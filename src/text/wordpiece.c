/*
 * tokenizer.c - BERT WordPiece tokenizer (tokenizer.json pipeline) on utf8proc.
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
#include "wordpiece.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define VOCAB_MAGIC 0x4B4F544Du     /* "MTOK" */
#define VOCAB_VERSION 1
#define MAX_WORD_CHARS (1 << 20)    /* sanity bound for max_input_chars_per_word */
#define BLOB(v, off, T) ((T) ((const char *) (v) + (off)))

/* one token string: offset into the string area, byte length, id */
typedef struct VocabEntry {
	uint64_t off;
	uint32_t len;
	int32_t id;
} VocabEntry;

/* blob header; every region is addressed by an offset from the blob start */
struct TfmVocab {
	uint32_t magic, version;
	uint64_t total_size;
	TfmTokConfig cfg;
	int32_t nids, ntokens, nspecial, max_token_bytes;
	uint64_t nslots;            /* power of two, > ntokens: probing always ends */
	uint64_t slots_off;         /* uint32_t[nslots]: entry index + 1, 0 = empty */
	uint64_t entries_off;       /* VocabEntry[ntokens] */
	uint64_t specials_off;      /* VocabEntry[nspecial] */
	uint64_t strings_off, strings_len;
};

/* growable buffer of code points, or of ids (all >= 0, so they fit as well) */
typedef struct CpBuf {
	uint32_t *v;
	size_t n, cap;
} CpBuf;

/* character classes used while cutting the raw text into chunks */
enum { CH_WORD = 0, CH_BOUNDARY = 1, CH_SOLO = 2 };

/* per-call state of TfmTokenize */
typedef struct TokCtx {
	const TfmVocab *voc;
	const TfmTokConfig *cfg;
	CpBuf a, b;                 /* normalisation ping-pong buffers */
	CpBuf ids;
	char *word;                 /* UTF-8 bytes of the current word */
	char *piece;                /* prefix + candidate piece */
	size_t *ofs;                /* byte offset of each char of the word */
	uint64_t *hash;             /* hash of each candidate piece */
	size_t plen;                /* strlen(cfg->prefix) */
	unsigned char first[256];   /* first bytes of special tokens */
	unsigned char ascii[128];   /* CH_* class of each ASCII character */
} TokCtx;

/* ---------------------------------------------------------------- blob layout */

/* round up to a multiple of 8 (callers keep n far from SIZE_MAX) */
static size_t
align8(size_t n)
{
	return (n + 7) & ~(size_t) 7;
}

/* FNV-1a over bytes, continuing from h */
static uint64_t
fnv_step(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char) s[i]) * 0x100000001b3ULL;
	return h;
}

/* FNV-1a of a whole string */
static uint64_t
fnv_hash(const char *s, size_t n)
{
	return fnv_step(0xcbf29ce484222325ULL, s, n);
}

/* number of hash slots for ntokens: a power of two at least twice as large */
static uint64_t
slot_count(int ntokens)
{
	uint64_t n = 16;

	while (n < 2 * (uint64_t) ntokens)
		n *= 2;
	return n;
}

/* acc plus the byte lengths of n strings, or SIZE_MAX if a length is bad */
static size_t
strings_bytes(int n, const int *lens, size_t acc, int min_len)
{
	for (int i = 0; i < n && acc != SIZE_MAX; i++)
	{
		if (lens[i] < min_len || (size_t) lens[i] > SIZE_MAX / 4 - acc)
			return SIZE_MAX;
		acc += (size_t) lens[i];
	}
	return acc;
}

/* bytes needed for a vocab blob of these tokens (0 if the arguments are bad) */
size_t
TfmVocabBlobSize(int ntokens, const char *const *tokens, const int *lens,
				 int nspecial, const char *const *special, const int *speclens)
{
	size_t str, fixed;

	(void) tokens;
	(void) special;
	if (ntokens < 0 || nspecial < 0 || ntokens >= INT32_MAX / 4 || nspecial >= INT32_MAX / 4)
		return 0;
	str = strings_bytes(nspecial, speclens, strings_bytes(ntokens, lens, 0, 0), 1);
	fixed = align8(sizeof(TfmVocab)) + align8((size_t) slot_count(ntokens) * sizeof(uint32_t)) +
		((size_t) ntokens + (size_t) nspecial) * sizeof(VocabEntry);
	if (str == SIZE_MAX || align8(str) > SIZE_MAX - fixed)
		return 0;
	return fixed + align8(str);
}

/* id of the len bytes at s whose FNV-1a hash is h, or -1 */
static int32_t
vocab_find(const TfmVocab *v, uint64_t h, const char *s, size_t len)
{
	const uint32_t *slots = BLOB(v, v->slots_off, const uint32_t *);
	const VocabEntry *ent = BLOB(v, v->entries_off, const VocabEntry *);
	const char *str = BLOB(v, v->strings_off, const char *);
	uint64_t mask = v->nslots - 1;

	for (uint64_t i = h & mask; slots[i] != 0; i = (i + 1) & mask)
	{
		const VocabEntry *e = &ent[slots[i] - 1];

		if (e->len == len && memcmp(str + e->off, s, len) == 0)
			return e->id;
	}
	return -1;
}

/* id of a token or -1 */
int32_t
TfmVocabLookup(const TfmVocab *v, const char *tok, int len)
{
	if (len < 0)
		return -1;
	return vocab_find(v, fnv_hash(tok, (size_t) len), tok, (size_t) len);
}

/* number of ids = max id + 1 */
int
TfmVocabSizeOf(const TfmVocab *v)
{
	return v->nids;
}

/* the configuration embedded in the blob */
const TfmTokConfig *
TfmVocabConfig(const TfmVocab *v)
{
	return &v->cfg;
}

/* 0 if the configuration is usable with nids ids (0 = not known yet) */
static int
config_check(const TfmTokConfig *cfg, int32_t nids)
{
	if (memchr(cfg->prefix, '\0', sizeof(cfg->prefix)) == NULL ||
		cfg->max_input_chars_per_word < 1 || cfg->max_input_chars_per_word > MAX_WORD_CHARS)
		return TFM_TOK_EINVAL;
	if (cfg->unk_id < 0 || cfg->cls_id < 0 || cfg->sep_id < 0 || cfg->pad_id < -1)
		return TFM_TOK_EINVAL;
	if (nids > 0 && (cfg->unk_id >= nids || cfg->cls_id >= nids ||
					 cfg->sep_id >= nids || cfg->pad_id >= nids))
		return TFM_TOK_EINVAL;
	return 0;
}

/* largest id among the token, special and configured ids, or -1 if one is bad */
static int32_t
max_id(const TfmTokConfig *cfg, int n, const int32_t *ids, int m, const int32_t *spec_ids)
{
	int32_t mx = cfg->unk_id;

	mx = cfg->cls_id > mx ? cfg->cls_id : mx;
	mx = cfg->sep_id > mx ? cfg->sep_id : mx;
	mx = cfg->pad_id > mx ? cfg->pad_id : mx;
	for (int i = 0; i < n + m; i++)
	{
		int32_t id = i < n ? ids[i] : spec_ids[i - n];

		if (id < 0 || id == INT32_MAX)
			return -1;
		mx = id > mx ? id : mx;
	}
	return mx;
}

/* fill the header of a blob laid out for these counts */
static void
header_init(TfmVocab *v, const TfmTokConfig *cfg, int ntokens, int nspecial,
			size_t str_total, size_t total)
{
	v->magic = VOCAB_MAGIC;
	v->version = VOCAB_VERSION;
	v->total_size = total;
	v->cfg = *cfg;
	v->ntokens = ntokens;
	v->nspecial = nspecial;
	v->nslots = slot_count(ntokens);
	v->slots_off = align8(sizeof(TfmVocab));
	v->entries_off = v->slots_off + align8((size_t) v->nslots * sizeof(uint32_t));
	v->specials_off = v->entries_off + (uint64_t) ntokens * sizeof(VocabEntry);
	v->strings_off = v->specials_off + (uint64_t) nspecial * sizeof(VocabEntry);
	v->strings_len = str_total;
}

/* insert token k of the blob into the hash table; TFM_TOK_EDUP if already there */
static int
vocab_insert(TfmVocab *v, uint32_t k)
{
	uint32_t *slots = (uint32_t *) ((char *) v + v->slots_off);
	const VocabEntry *e = &BLOB(v, v->entries_off, const VocabEntry *)[k];
	const char *s = BLOB(v, v->strings_off, const char *) + e->off;
	uint64_t h = fnv_hash(s, e->len), mask = v->nslots - 1, i;

	if (vocab_find(v, h, s, e->len) >= 0)
		return TFM_TOK_EDUP;
	for (i = h & mask; slots[i] != 0; i = (i + 1) & mask)
		;
	slots[i] = k + 1;
	return 0;
}

/* copy n strings into the string area at off, recording them in ent[]; returns new offset */
static uint64_t
copy_strings(TfmVocab *v, uint64_t ent_off, uint64_t off, int n,
			 const char *const *s, const int *lens, const int32_t *ids)
{
	char *str = (char *) v + v->strings_off;
	VocabEntry *ent = (VocabEntry *) ((char *) v + ent_off);

	for (int i = 0; i < n; i++)
	{
		memcpy(str + off, s[i], (size_t) lens[i]);
		ent[i].off = off;
		ent[i].len = (uint32_t) lens[i];
		ent[i].id = ids[i];
		off += (uint64_t) lens[i];
		if (lens[i] > v->max_token_bytes)
			v->max_token_bytes = lens[i];
	}
	return off;
}

/* build the blob into dst */
int
TfmVocabBuild(void *dst, const TfmTokConfig *cfg,
			  int ntokens, const char *const *tokens, const int *lens, const int32_t *ids,
			  int nspecial, const char *const *special, const int *speclens,
			  const int32_t *spec_ids)
{
	TfmVocab *v = dst;
	size_t total = TfmVocabBlobSize(ntokens, tokens, lens, nspecial, special, speclens);
	int32_t mx;
	uint64_t off;
	int rc;

	if (total == 0 || ((uintptr_t) dst & 7) != 0 || config_check(cfg, 0) != 0)
		return TFM_TOK_EINVAL;
	if ((mx = max_id(cfg, ntokens, ids, nspecial, spec_ids)) < 0)
		return TFM_TOK_EINVAL;
	memset(dst, 0, total);
	header_init(v, cfg, ntokens, nspecial,
				strings_bytes(nspecial, speclens, strings_bytes(ntokens, lens, 0, 0), 1), total);
	v->nids = mx + 1;
	off = copy_strings(v, v->entries_off, 0, ntokens, tokens, lens, ids);
	copy_strings(v, v->specials_off, off, nspecial, special, speclens, spec_ids);
	for (int i = 0; i < ntokens; i++)
		if ((rc = vocab_insert(v, (uint32_t) i)) != 0)
			return rc;
	return 0;
}

/* 1 if the region [off, off + n * size) lies inside total and is 8-byte aligned */
static int
region_ok(uint64_t off, uint64_t n, uint64_t size, uint64_t total)
{
	return off <= total && (off & 7) == 0 && n <= (total - off) / size;
}

/* 1 if every entry lies in the string area, has an id below nids and a fitting length */
static int
entries_ok(const TfmVocab *v, uint64_t ent_off, int n, uint32_t min_len)
{
	const VocabEntry *e = BLOB(v, ent_off, const VocabEntry *);

	for (int i = 0; i < n; i++)
		if (e[i].off > v->strings_len || e[i].len > v->strings_len - e[i].off ||
			e[i].id < 0 || e[i].id >= v->nids || e[i].len < min_len ||
			e[i].len > (uint32_t) v->max_token_bytes)
			return 0;
	return 1;
}

/* 1 if the hash slots reference valid entries and leave at least one slot empty */
static int
slots_ok(const TfmVocab *v)
{
	const uint32_t *slots = BLOB(v, v->slots_off, const uint32_t *);
	uint64_t used = 0;

	for (uint64_t i = 0; i < v->nslots; i++)
	{
		if (slots[i] > (uint32_t) v->ntokens)
			return 0;
		used += slots[i] != 0;
	}
	return used <= (uint64_t) v->ntokens;
}

/* 1 if all header fields are in range for a blob of size bytes */
static int
header_ok(const TfmVocab *v, size_t size)
{
	uint64_t t = v->total_size;

	if (v->magic != VOCAB_MAGIC || v->version != VOCAB_VERSION || t > size ||
		t < sizeof(TfmVocab) || v->ntokens < 0 || v->nspecial < 0 || v->nids <= 0)
		return 0;
	if (v->nslots < 16 || (v->nslots & (v->nslots - 1)) != 0 ||
		v->nslots <= (uint64_t) v->ntokens || v->max_token_bytes < 0 ||
		(uint64_t) v->max_token_bytes > v->strings_len)
		return 0;
	return region_ok(v->slots_off, v->nslots, sizeof(uint32_t), t) &&
		region_ok(v->entries_off, (uint64_t) v->ntokens, sizeof(VocabEntry), t) &&
		region_ok(v->specials_off, (uint64_t) v->nspecial, sizeof(VocabEntry), t) &&
		region_ok(v->strings_off, v->strings_len, 1, t);
}

/* verify a blob read from an untrusted file; 0 if ok */
int
TfmVocabCheck(const void *blob, size_t size)
{
	const TfmVocab *v = blob;

	if (blob == NULL || ((uintptr_t) blob & 7) != 0 || size < sizeof(TfmVocab) ||
		!header_ok(v, size) || config_check(&v->cfg, v->nids) != 0 || !slots_ok(v) ||
		!entries_ok(v, v->entries_off, v->ntokens, 0) ||
		!entries_ok(v, v->specials_off, v->nspecial, 1))
		return TFM_TOK_ECORRUPT;
	return 0;
}

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

/* white space as JavaScript's \s and String.prototype.trim see it */
static int
is_js_space(uint32_t c)
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
static int
is_punct(uint32_t c)
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
static int
char_class(const TfmTokConfig *cfg, uint32_t c)
{
	if (is_js_space(c) && !(cfg->clean_text && is_control(c)))
		return CH_BOUNDARY;
	if (cfg->handle_chinese_chars && is_cjk(c))
		return CH_SOLO;
	if (is_punct(c) && !is_case_ignorable(c) && ccc(c) == 0)
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

/* append a code point */
static int
cp_push(CpBuf *b, uint32_t c)
{
	if (b->n == b->cap && cp_reserve(b, b->n, 1))
		return TFM_TOK_ENOMEM;
	b->v[b->n++] = c;
	return 0;
}

/* append an id */
static int
id_push(TokCtx *c, int32_t id)
{
	return cp_push(&c->ids, (uint32_t) id);
}

/* swap the two normalisation buffers so that a holds the latest stage */
static void
swap_bufs(TokCtx *c)
{
	CpBuf t = c->a;

	c->a = c->b;
	c->b = t;
}

/* decode one character of valid UTF-8 at s (n bytes left); returns its length */
static size_t
decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	utf8proc_int32_t x;
	utf8proc_ssize_t k;

	if (s[0] < 0x80)
	{
		*cp = s[0];
		return 1;
	}
	k = utf8proc_iterate(s, (utf8proc_ssize_t) (n < 4 ? n : 4), &x);
	*cp = k > 0 ? (uint32_t) x : 0xFFFD;
	return k > 0 ? (size_t) k : 1;
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

		i += decode(s + i, n - i, &cp);
		if (c->cfg->clean_text && (cp == 0 || cp == 0xFFFD || is_control(cp)))
			continue;
		c->a.v[c->a.n++] = c->cfg->clean_text && is_js_space(cp) ? 0x20 : cp;
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
			rc = cp_push(&c->b, x >= 'A' && x <= 'Z' ? x + 32 : x);
		else if (x == 0x130)        /* the one unconditional SpecialCasing lower entry */
			rc = cp_push(&c->b, 0x69) || cp_push(&c->b, 0x307);
		else
			rc = cp_push(&c->b, (uint32_t) utf8proc_tolower((utf8proc_int32_t) x));
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
		return cp_push(b, x);
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
	h = fnv_hash(c->piece, pre);
	while (e < m && pre + c->ofs[e + 1] - base <= (size_t) c->voc->max_token_bytes)
	{
		h = fnv_step(h, c->word + c->ofs[e], c->ofs[e + 1] - c->ofs[e]);
		c->hash[e++ - start] = h;
	}
	memcpy(c->piece + pre, c->word + base, c->ofs[e] - base);
	for (; e > start; e--)
	{
		int32_t id = vocab_find(c->voc, c->hash[e - start - 1], c->piece, pre + c->ofs[e] - base);

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
		int sp = is_js_space(v[i]), pu = !sp && is_punct(v[i]);

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
	if (norm_decode(c, s, n) ||
		(c->cfg->lowercase && norm_lower(c)) ||
		(c->cfg->strip_accents && norm_strip_accents(c)))
		return TFM_TOK_ENOMEM;
	return pretokenize(c);
}

/* ------------------------------------------------------------------ driver */

/* byte length of the longest special token at s, 0 if none; *id its id */
static size_t
match_special(const TokCtx *c, const uint8_t *s, size_t n, int32_t *id)
{
	const VocabEntry *sp = BLOB(c->voc, c->voc->specials_off, const VocabEntry *);
	const char *str = BLOB(c->voc, c->voc->strings_off, const char *);
	size_t best = 0;

	for (int i = 0; i < c->voc->nspecial; i++)
		if (sp[i].len > best && sp[i].len <= n && memcmp(str + sp[i].off, s, sp[i].len) == 0)
		{
			best = sp[i].len;
			*id = sp[i].id;
		}
	return best;
}

/* offset of the first invalid UTF-8 sequence, or len if the text is valid */
static size_t
utf8_invalid_at(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len)
	{
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = 1;

		if (s[i] >= 0x80 &&
			(k = utf8proc_iterate(s + i, (utf8proc_ssize_t) (len - i < 4 ? len - i : 4), &cp)) <= 0)
			return i;
		i += (size_t) k;
	}
	return i;
}

/* walk the raw text: split out special tokens, cut chunks, emit ids */
static int
tok_run(TokCtx *c, const uint8_t *s, size_t len)
{
	size_t i = 0, chunk = 0;

	while (i < len)
	{
		uint32_t cp;
		size_t k;
		int32_t id = -1;
		int cls;

		if (c->first[s[i]] && (k = match_special(c, s + i, len - i, &id)) > 0)
		{
			if (do_chunk(c, s + chunk, i - chunk) || id_push(c, id))
				return TFM_TOK_ENOMEM;
			chunk = i += k;
			continue;
		}
		k = decode(s + i, len - i, &cp);
		cls = cp < 0x80 ? c->ascii[cp] : char_class(c->cfg, cp);
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
		c->ascii[ch] = (unsigned char) char_class(c->cfg, ch);
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
	size_t bad = utf8_invalid_at(s, len);
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

/* the vocabulary strings of n ids ("[CLS]", "##ing") into *out; 0, TFM_TOK_EINVAL (an id without one) or ENOMEM */
int
TfmVocabPieces(const TfmVocab *v, const int32_t *ids, int n, TfmPieces *out)
{
	const VocabEntry *ent = BLOB(v, v->entries_off, const VocabEntry *);
	const VocabEntry *spec = BLOB(v, v->specials_off, const VocabEntry *);
	const char *str = BLOB(v, v->strings_off, const char *);
	const VocabEntry **by_id;
	int rc = 0;

	/* one pass over the vocabulary: the entry of each id (a special token's own entry wins) */
	by_id = calloc((size_t) v->nids + 1, sizeof(VocabEntry *));
	if (by_id == NULL || tfm_pieces_init(out, n))
	{
		free(by_id);
		return TFM_TOK_ENOMEM;
	}
	for (int32_t i = 0; i < v->ntokens; i++)
		by_id[ent[i].id] = &ent[i];
	for (int32_t i = 0; i < v->nspecial; i++)
		by_id[spec[i].id] = &spec[i];
	for (int i = 0; i < n && rc == 0; i++)
		if (ids[i] < 0 || ids[i] >= v->nids || by_id[ids[i]] == NULL)
			rc = TFM_TOK_EINVAL;
		else if (tfm_pieces_push(out, str + by_id[ids[i]]->off, by_id[ids[i]]->len))
			rc = TFM_TOK_ENOMEM;
	free(by_id);
	if (rc)
		tfm_pieces_free(out);
	return rc;
}
