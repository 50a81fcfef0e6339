/*
 * robertatok.c - RoBERTa's tokenizer (see robertatok.h): added tokens matched leftmost-longest in
 * the raw text (with their lstrip / rstrip), byte-level BPE on the pieces between them, <s> A </s>.
 */
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "roberta.h"

#define ROB_MAGIC 0x31424f52u	/* "ROB1" */

typedef struct RobHeader {
	uint32_t magic, nadded;
	int32_t cls_id, sep_id;
	int32_t add_prefix_space, pad0;
	uint64_t total_size;
	uint64_t added_off;             /* RobAdded[nadded] */
	uint64_t str_off, str_len;      /* the added tokens' bytes */
	uint64_t bpe_off, bpe_size;
} RobHeader;

typedef struct RobAdded {
	uint32_t off, len;              /* into the string area */
	int32_t id, lstrip, rstrip, pad;
} RobAdded;

/* n rounded up to 8 */
static uint64_t
align8(uint64_t n)
{
	return (n + 7) & ~(uint64_t) 7;
}

/* bytes of the blob; 0 if unusable */
size_t
TfmRobertaBlobSize(int nadded, const TfmAddedToken *added, size_t bpe_size)
{
	uint64_t str = 0;

	if (nadded < 0 || nadded > TFM_ADDED_COUNT || bpe_size == 0)
		return 0;
	for (int i = 0; i < nadded; i++)
	{
		if (added[i].len < 1 || added[i].len > TFM_ADDED_MAX)
			return 0;
		str += (uint64_t) added[i].len;
	}
	return (size_t) (align8(sizeof(RobHeader)) + align8(sizeof(RobAdded) * (uint64_t) nadded) +
					 align8(str) + align8(bpe_size));
}

/* build the blob */
int
TfmRobertaBuild(void *dst, size_t size, int32_t cls_id, int32_t sep_id, int add_prefix_space,
				int nadded, const TfmAddedToken *added, const void *bpe, size_t bpe_size)
{
	RobHeader *h = dst;
	RobAdded *a;
	char *str;
	uint64_t k = 0;

	if (size == 0 || size != TfmRobertaBlobSize(nadded, added, bpe_size))
		return TFM_BPE_EINVAL;
	memset(dst, 0, size);
	h->magic = ROB_MAGIC;
	h->nadded = (uint32_t) nadded;
	h->cls_id = cls_id;
	h->sep_id = sep_id;
	h->add_prefix_space = add_prefix_space ? 1 : 0;
	h->total_size = size;
	h->added_off = align8(sizeof(RobHeader));
	h->str_off = h->added_off + align8(sizeof(RobAdded) * (uint64_t) nadded);
	for (int i = 0; i < nadded; i++)
		h->str_len += (uint64_t) added[i].len;
	h->bpe_off = h->str_off + align8(h->str_len);
	h->bpe_size = bpe_size;
	a = (RobAdded *) ((char *) dst + h->added_off);
	str = (char *) dst + h->str_off;
	for (int i = 0; i < nadded; i++)
	{
		a[i].off = (uint32_t) k;
		a[i].len = (uint32_t) added[i].len;
		a[i].id = added[i].id;
		a[i].lstrip = added[i].lstrip ? 1 : 0;
		a[i].rstrip = added[i].rstrip ? 1 : 0;
		memcpy(str + k, added[i].s, (size_t) added[i].len);
		k += (uint64_t) added[i].len;
	}
	memcpy((char *) dst + h->bpe_off, bpe, bpe_size);
	return 0;
}

/* verify an untrusted blob */
int
TfmRobertaCheck(const void *blob, size_t size, int n_vocab)
{
	const RobHeader *h = blob;
	const RobAdded *a;

	if (blob == NULL || (uintptr_t) blob % 8 != 0 || size < sizeof(RobHeader) ||
		h->magic != ROB_MAGIC || h->total_size != size || h->nadded > TFM_ADDED_COUNT ||
		h->cls_id < 0 || h->cls_id >= n_vocab || h->sep_id < 0 || h->sep_id >= n_vocab ||
		h->added_off % 8 != 0 || h->bpe_off % 8 != 0 ||
		!TfmRegionOk(h->added_off, sizeof(RobAdded) * (uint64_t) h->nadded, size) ||
		!TfmRegionOk(h->str_off, h->str_len, size) || !TfmRegionOk(h->bpe_off, h->bpe_size, size))
		return TFM_BPE_ECORRUPT;
	a = (const RobAdded *) ((const char *) blob + h->added_off);
	for (uint32_t i = 0; i < h->nadded; i++)
		if (a[i].len < 1 || a[i].len > TFM_ADDED_MAX || !TfmRegionOk(a[i].off, a[i].len, h->str_len) ||
			a[i].id < 0 || a[i].id >= n_vocab)
			return TFM_BPE_ECORRUPT;
	if (TfmBpeCheck((const char *) blob + h->bpe_off, h->bpe_size) != 0 ||
		TfmBpeSizeOf((const char *) blob + h->bpe_off) > n_vocab)
		return TFM_BPE_ECORRUPT;
	return 0;
}

/* a growing id vector */
typedef struct IdVec {
	int32_t *v;
	size_t n, cap;
} IdVec;

/* append k ids; TFM_BPE_ENOMEM on failure */
static int
vec_add(IdVec *o, const int32_t *ids, size_t k)
{
	if (k == 0)
		return 0;				/* ids may be NULL then */
	if (o->n + k > o->cap)
	{
		size_t cap = o->cap ? o->cap : 64;
		int32_t *p;

		while (cap < o->n + k)
			cap *= 2;
		if (cap > (size_t) 0x7fffffff || (p = realloc(o->v, cap * sizeof(int32_t))) == NULL)
			return TFM_BPE_ENOMEM;
		o->v = p;
		o->cap = cap;
	}
	memcpy(o->v + o->n, ids, k * sizeof(int32_t));
	o->n += k;
	return 0;
}

/* true for a code point of Unicode's White_Space (Rust's char::is_whitespace), which lstrip / rstrip absorb */
static int
is_space_cp(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
		(c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* the code point of the well-formed 1-3 byte UTF-8 sequence at s[0, n) (White_Space needs no more), or 0 */
static uint32_t
decode_cp(const unsigned char *s, size_t n)
{
	if (n == 1 && s[0] < 0x80)
		return s[0];
	if (n == 2 && (s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80)
		return (uint32_t) (s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	if (n == 3 && (s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80)
		return (uint32_t) (s[0] & 0x0f) << 12 | (uint32_t) (s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	return 0;
}

/* bytes of the white-space character ending at text[end) (not before start), 0 if there is none */
static size_t
space_before(const char *text, size_t start, size_t end)
{
	for (size_t n = 1; n <= 3 && n <= end - start; n++)
		if (is_space_cp(decode_cp((const unsigned char *) text + end - n, n)))
			return n;
	return 0;
}

/* bytes of the white-space character starting at text[i] (before len), 0 if there is none */
static size_t
space_at(const char *text, size_t i, size_t len)
{
	for (size_t n = 1; n <= 3 && n <= len - i; n++)
		if (is_space_cp(decode_cp((const unsigned char *) text + i, n)))
			return n;
	return 0;
}

/* BPE ids of the piece text[b, e) appended to o; err_offset relative to text */
static int
encode_piece(const RobHeader *h, IdVec *o, const char *text, size_t b, size_t e, size_t *err_offset)
{
	const void *bpe = (const char *) h + h->bpe_off;
	int32_t *ids = NULL;
	int n = 0, rc;
	size_t bad = 0;
	char *tmp = NULL;

	if (e <= b)
		return 0;
	if (h->add_prefix_space && text[b] != ' ')
	{
		if ((tmp = malloc(e - b + 1)) == NULL)
			return TFM_BPE_ENOMEM;
		tmp[0] = ' ';
		memcpy(tmp + 1, text + b, e - b);
		rc = TfmBpeEncode(bpe, tmp, e - b + 1, &ids, &n, &bad);
		bad = bad > 0 ? bad - 1 : 0;
		free(tmp);
	}
	else
		rc = TfmBpeEncode(bpe, text + b, e - b, &ids, &n, &bad);
	if (rc == TFM_BPE_EUTF8)
		*err_offset = b + bad;
	if (rc == 0)
		rc = vec_add(o, ids, (size_t) n);
	free(ids);
	return rc;
}

/* the longest added token starting at text[i], or NULL */
static const RobAdded *
match_added(const RobHeader *h, const char *text, size_t len, size_t i)
{
	const RobAdded *a = (const RobAdded *) ((const char *) h + h->added_off), *best = NULL;
	const char *str = (const char *) h + h->str_off;

	for (uint32_t k = 0; k < h->nadded; k++)
		if (a[k].len <= len - i && (best == NULL || a[k].len > best->len) &&
			memcmp(text + i, str + a[k].off, a[k].len) == 0)
			best = &a[k];
	return best;
}

/* where TfmRobertaEncode and TfmRobertaPieces are in a text: the next byte to look at and the text not yet taken */
typedef struct AddedScan {
	unsigned char first[256];       /* the first bytes of the added tokens: most positions need no comparison */
	size_t i, start;
} AddedScan;

/* a scan from the start of a text */
static void
scan_init(const RobHeader *h, AddedScan *s)
{
	const RobAdded *a = (const RobAdded *) ((const char *) h + h->added_off);
	const unsigned char *str = (const unsigned char *) h + h->str_off;

	memset(s->first, 0, sizeof(s->first));
	for (uint32_t k = 0; k < h->nadded; k++)
		if (a[k].len > 0)
			s->first[str[a[k].off]] = 1;
	s->i = s->start = 0;
}

/*
 * the next added token from s->i on, or NULL: the text before it is [s->start, *end), the token with the white
 * space it absorbs (lstrip, rstrip) is [*end, s->i) when it returns; the caller moves s->start
 */
static const RobAdded *
scan_next(const RobHeader *h, AddedScan *s, const char *text, size_t len, size_t *end)
{
	while (s->i < len)
	{
		const RobAdded *a = s->first[(unsigned char) text[s->i]] ? match_added(h, text, len, s->i) : NULL;

		if (a == NULL)
		{
			s->i++;
			continue;
		}
		*end = s->i;
		if (a->lstrip)
			for (size_t k; (k = space_before(text, s->start, *end)) > 0;)
				*end -= k;
		s->i += a->len;
		if (a->rstrip)
			for (size_t k; (k = space_at(text, s->i, len)) > 0;)
				s->i += k;
		return a;
	}
	return NULL;
}

/* encode: <s>, pieces and added tokens, </s> */
int
TfmRobertaEncode(const void *blob, const char *text, size_t len,
				 int32_t **ids, int *n, size_t *err_offset)
{
	const RobHeader *h = blob;
	IdVec o = {NULL, 0, 0};
	AddedScan s;
	const RobAdded *a;
	size_t end = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	*err_offset = 0;
	if (len > 0 && text == NULL)
		return TFM_BPE_EUTF8;
	scan_init(h, &s);
	rc = vec_add(&o, &h->cls_id, 1);
	while (rc == 0 && (a = scan_next(h, &s, text, len, &end)) != NULL)
	{
		rc = encode_piece(h, &o, text, s.start, end, err_offset);
		if (rc == 0)
			rc = vec_add(&o, &a->id, 1);
		s.start = s.i;
	}
	if (rc == 0)
		rc = encode_piece(h, &o, text, s.start, len, err_offset);
	if (rc == 0)
		rc = vec_add(&o, &h->sep_id, 1);
	if (rc != 0)
	{
		free(o.v);
		return rc;
	}
	*ids = o.v;
	*n = (int) o.n;
	return 0;
}

/*
 * the token strings of the n ids TfmRobertaEncode gave for text: an added token found in the text as the text
 * it covers (with the white space lstrip / rstrip absorbed, as Hugging Face shows it: " <mask>"), <s> and </s>
 * of the template as they are, the others as the BPE vocabulary spells them
 */
int
TfmRobertaPieces(const void *blob, const char *text, size_t len, const int32_t *ids, int n, TfmPieces *out)
{
	const RobHeader *h = blob;
	const RobAdded *a = (const RobAdded *) ((const char *) h + h->added_off), *m;
	const char *str = (const char *) h + h->str_off;
	AddedScan s;
	size_t end = 0;
	int rc = tfm_pieces_init(out, n) ? TFM_BPE_ENOMEM : 0;

	scan_init(h, &s);
	for (int i = 0; i < n && rc == 0; i++)
	{
		uint32_t k = 0;

		while (k < h->nadded && a[k].id != ids[i])
			k++;
		if (k == h->nadded)
			rc = TfmBpePieceAppend((const char *) h + h->bpe_off, ids[i], out);
		else if (i > 0 && i < n - 1 && (m = scan_next(h, &s, text, len, &end)) != NULL && m->id == ids[i])
			rc = tfm_pieces_push(out, text + end, s.i - end) ? TFM_BPE_ENOMEM : 0;
		else
			rc = tfm_pieces_push(out, str + a[k].off, a[k].len) ? TFM_BPE_ENOMEM : 0;
	}
	if (rc && out->off)
		tfm_pieces_free(out);
	return rc;
}
