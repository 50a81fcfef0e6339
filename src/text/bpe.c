/*
 * bpe.c - the one byte-level BPE core (GPT-2, and RoBERTa through roberta.c) on utf8proc: the blob,
 * its checks and the merge loop; the alphabet and the GPT-2 regex are bytelevel.c's, merges.txt merges.c's.
 *
 * Encoding, as the reference JavaScript encoder (npm gpt-3-encoder) runs it:
 *   1. split the text with the GPT-2 regex (hand-written here on Unicode
 *      general categories: \p{L} = L*, \p{N} = N*, \s = JavaScript's white
 *      space and line terminators);
 *   2. map every UTF-8 byte of a piece to its bytes_to_unicode character;
 *   3. merge the adjacent pair of lowest rank, all its occurrences left to
 *      right, until no pair has a rank.
 * Symbols are token ids from the start (every byte character and every merge
 * result is a token), so step 3 never touches strings.  It runs on a linked
 * list with a heap of (rank, position) in O(n log n): merges of one rank are
 * taken as one batch in position order, which gives exactly the reference's
 * "all occurrences of the best pair, then look again" even for merge tables
 * where a new pair can outrank the one just merged.
 */
#include "bpe.h"
#include "bytelevel.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define BPE_MAGIC 0x31455042u       /* "BPE1" */
#define BPE_VERSION 1
#define DEC_MISSING UINT32_MAX
#define BLOB(b, off, T) ((T) ((const char *) (b) + (off)))

/* one merge in the blob's hash table; a < 0 marks an empty slot */
typedef struct BpePair {
	int32_t a, b, rank, merged;
} BpePair;

/* decoded bytes of one id: offset into the byte area and length */
typedef struct BpeDec {
	uint32_t off, len;              /* len == DEC_MISSING: id not in the vocabulary */
} BpeDec;

/* blob header; every region is addressed by an offset from the blob start */
typedef struct BpeHeader {
	uint32_t magic, version;
	uint64_t total_size;
	int32_t nids, npairs;
	uint64_t nslots;                /* power of two, > npairs: probing always ends */
	uint64_t pairs_off;             /* BpePair[nslots] */
	uint64_t dec_off;               /* BpeDec[nids] */
	uint64_t bytes_off, bytes_len;  /* decoded bytes of all tokens */
	int32_t byte_ids[256];          /* id of the character of each byte */
} BpeHeader;

/* per-call work arrays of the merge loop, grown to the longest piece */
typedef struct BpeWork {
	int32_t *sym, *next, *prev;
	uint64_t *heap, *batch;
	size_t cap;                     /* symbols the arrays hold */
	int32_t *out;
	size_t nout, outcap;
} BpeWork;

/* ---------------------------------------------------------------- hashing */

/* hash of an id pair (splitmix64 finaliser) */
static uint64_t
pair_hash(int32_t a, int32_t b)
{
	uint64_t z = ((uint64_t) (uint32_t) a << 32) | (uint32_t) b;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* the merge of (a, b) in the blob, or NULL */
static const BpePair *
pair_find(const BpeHeader *h, int32_t a, int32_t b)
{
	const BpePair *t = BLOB(h, h->pairs_off, const BpePair *);
	uint64_t mask = h->nslots - 1;

	for (uint64_t i = pair_hash(a, b) & mask; t[i].a >= 0; i = (i + 1) & mask)
		if (t[i].a == a && t[i].b == b)
			return &t[i];
	return NULL;
}

/* ---------------------------------------------------------------- merges text */

/* ---------------------------------------------------------------- building */

/* layout of a blob: fills the offsets of h; returns the total size or 0 */
static size_t
blob_layout(BpeHeader *h, int32_t nids, int nmerges, size_t str_bytes)
{
	size_t off = TfmAlign8(sizeof(BpeHeader));

	h->nslots = TfmSlotCount(nmerges);
	h->pairs_off = off;
	off += (size_t) h->nslots * sizeof(BpePair);
	h->dec_off = off;
	off += TfmAlign8((size_t) nids * sizeof(BpeDec));
	h->bytes_off = off;
	if (str_bytes >= UINT32_MAX || str_bytes > SIZE_MAX / 2 - off)
		return 0;
	return off + TfmAlign8(str_bytes);
}

/* number of ids (max id + 1), total token bytes; 0 if an argument is bad */
static int32_t
vocab_extent(int ntokens, const int *lens, const int32_t *ids, size_t *str_bytes)
{
	int32_t nids = 0;
	size_t acc = 0;

	if (ntokens <= 0 || ntokens > TFM_BPE_MAX_IDS)
		return 0;
	for (int i = 0; i < ntokens; i++)
	{
		if (ids[i] < 0 || ids[i] >= TFM_BPE_MAX_IDS || lens[i] < 0 || (size_t) lens[i] > UINT32_MAX - acc)
			return 0;
		acc += (size_t) lens[i];
		if (ids[i] >= nids)
			nids = ids[i] + 1;
	}
	*str_bytes = acc;
	return nids;
}

/* bytes needed for the blob (0 if the arguments are bad) */
size_t
TfmBpeBlobSize(int ntokens, const char *const *tokens, const int *lens,
			   const int32_t *ids, int nmerges, const TfmBpeMerge *merges)
{
	BpeHeader h;
	size_t str_bytes = 0;
	int32_t nids = vocab_extent(ntokens, lens, ids, &str_bytes);

	(void) tokens;
	(void) merges;
	if (nids == 0 || nmerges < 0 || nmerges > TFM_BPE_MAX_IDS)
		return 0;
	return blob_layout(&h, nids, nmerges, str_bytes);
}

/* temporary string -> token index table used while building */
typedef struct BuildMap {
	int32_t *slot;                  /* token index + 1, 0 = empty */
	uint64_t mask;
	const char *const *tokens;
	const int *lens;
	const int32_t *ids;
} BuildMap;

/* id of the string s of n bytes in the build map, or -1 */
static int32_t
map_find(const BuildMap *m, const char *s, size_t n)
{
	for (uint64_t i = TfmFnvHash(s, n) & m->mask; m->slot[i] != 0; i = (i + 1) & m->mask)
	{
		int32_t t = m->slot[i] - 1;

		if ((size_t) m->lens[t] == n && memcmp(m->tokens[t], s, n) == 0)
			return m->ids[t];
	}
	return -1;
}

/* fill the build map; TFM_BPE_EDUP on a repeated string or id */
static int
map_fill(BuildMap *m, int ntokens, int32_t nids)
{
	unsigned char *seen = calloc((size_t) nids, 1);

	if (seen == NULL)
		return TFM_BPE_ENOMEM;
	for (int t = 0; t < ntokens; t++)
	{
		uint64_t i;

		if (seen[m->ids[t]]++ || map_find(m, m->tokens[t], (size_t) m->lens[t]) >= 0)
		{
			free(seen);
			return TFM_BPE_EDUP;
		}
		for (i = TfmFnvHash(m->tokens[t], (size_t) m->lens[t]) & m->mask; m->slot[i] != 0;)
			i = (i + 1) & m->mask;
		m->slot[i] = t + 1;
	}
	free(seen);
	return 0;
}

/* append the bytes a token string stands for at dst; returns their count */
static size_t
token_bytes(char *dst, const char *s, size_t n, const int16_t inv[324])
{
	size_t i = 0, k = 0;

	while (i < n)
	{
		utf8proc_int32_t cp;
		utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *) s + i,
											  (utf8proc_ssize_t) (n - i), &cp);

		if (r <= 0)
		{
			/* not UTF-8: keep the rest as it is */
			memcpy(dst + k, s + i, n - i);
			return k + (n - i);
		}
		if (cp >= 0 && cp < 324 && inv[cp] >= 0)
			dst[k++] = (char) inv[cp];
		else
		{
			/* outside the byte alphabet (e.g. added tokens): pass through */
			memcpy(dst + k, s + i, (size_t) r);
			k += (size_t) r;
		}
		i += (size_t) r;
	}
	return k;
}

/* write the decode table and bytes of every token */
static void
fill_decode(BpeHeader *h, int ntokens, const char *const *tokens, const int *lens,
			const int32_t *ids)
{
	BpeDec *dec = (BpeDec *) ((char *) h + h->dec_off);
	char *bytes = (char *) h + h->bytes_off;
	int16_t inv[324];
	size_t k = 0;

	TfmByteInverse(inv);
	for (int32_t i = 0; i < h->nids; i++)
	{
		dec[i].off = 0;
		dec[i].len = DEC_MISSING;
	}
	for (int t = 0; t < ntokens; t++)
	{
		size_t n = token_bytes(bytes + k, tokens[t], (size_t) lens[t], inv);

		dec[ids[t]].off = (uint32_t) k;
		dec[ids[t]].len = (uint32_t) n;
		k += n;
	}
	h->bytes_len = k;
}

/* the ids of the 256 byte characters; TFM_BPE_EINVAL if one is missing, unless missing_ok (then -1: dropped) */
static int
fill_byte_ids(BpeHeader *h, const BuildMap *m, int missing_ok)
{
	for (int b = 0; b < 256; b++)
	{
		utf8proc_uint8_t buf[4];
		utf8proc_ssize_t n = utf8proc_encode_char(TfmByteChar(b), buf);

		h->byte_ids[b] = map_find(m, (const char *) buf, (size_t) n);
		if (h->byte_ids[b] < 0 && !missing_ok)
			return TFM_BPE_EINVAL;
	}
	return 0;
}

/* insert or overwrite (a, b) -> (rank, merged) in the pair table */
static void
pair_put(BpeHeader *h, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
	BpePair *t = (BpePair *) ((char *) h + h->pairs_off);
	uint64_t mask = h->nslots - 1;
	uint64_t i = pair_hash(a, b) & mask;

	while (t[i].a >= 0 && !(t[i].a == a && t[i].b == b))
		i = (i + 1) & mask;
	if (t[i].a < 0)
		h->npairs++;
	t[i].a = a;
	t[i].b = b;
	t[i].rank = rank;
	t[i].merged = merged;
}

/* resolve every merge to ids and fill the pair table */
static int
fill_pairs(BpeHeader *h, const BuildMap *m, int nmerges, const TfmBpeMerge *merges)
{
	BpePair *t = (BpePair *) ((char *) h + h->pairs_off);
	char *cat = NULL;
	size_t catcap = 0;

	for (uint64_t i = 0; i < h->nslots; i++)
		t[i].a = t[i].b = t[i].rank = t[i].merged = -1;
	for (int r = 0; r < nmerges; r++)
	{
		const TfmBpeMerge *g = &merges[r];
		int32_t a, b, ab;
		size_t n;

		if (g->alen < 0 || g->blen < 0)
		{
			free(cat);
			return TFM_BPE_EINVAL;
		}
		a = map_find(m, g->a, (size_t) g->alen);
		b = map_find(m, g->b, (size_t) g->blen);
		if (a < 0 || b < 0)
			continue;			/* can never fire: every symbol is a token */
		n = (size_t) g->alen + (size_t) g->blen;
		if (n > catcap)
		{
			char *c = realloc(cat, n);

			if (c == NULL)
			{
				free(cat);
				return TFM_BPE_ENOMEM;
			}
			cat = c;
			catcap = n;
		}
		memcpy(cat, g->a, (size_t) g->alen);
		memcpy(cat + g->alen, g->b, (size_t) g->blen);
		ab = map_find(m, cat, n);
		if (ab < 0)
		{
			free(cat);
			return TFM_BPE_EINVAL;
		}
		pair_put(h, a, b, r, ab);
	}
	free(cat);
	return 0;
}

/* build the blob into dst */
int
TfmBpeBuildEx(void *dst, size_t size,
			int ntokens, const char *const *tokens, const int *lens,
			const int32_t *ids, int nmerges, const TfmBpeMerge *merges, int missing_ok)
{
	BpeHeader *h = dst;
	BuildMap m;
	size_t str_bytes = 0;
	int32_t nids = vocab_extent(ntokens, lens, ids, &str_bytes);
	int rc;

	if (nids == 0 || nmerges < 0 || nmerges > TFM_BPE_MAX_IDS ||
		size == 0 || size != TfmBpeBlobSize(ntokens, tokens, lens, ids, nmerges, merges))
		return TFM_BPE_EINVAL;
	memset(h, 0, sizeof(BpeHeader));
	blob_layout(h, nids, nmerges, str_bytes);
	h->magic = BPE_MAGIC;
	h->version = BPE_VERSION;
	h->total_size = size;
	h->nids = nids;
	m.tokens = tokens;
	m.lens = lens;
	m.ids = ids;
	m.mask = TfmSlotCount(ntokens) - 1;
	m.slot = calloc((size_t) m.mask + 1, sizeof(int32_t));
	if (m.slot == NULL)
		return TFM_BPE_ENOMEM;
	rc = map_fill(&m, ntokens, nids);
	if (rc == 0)
		rc = fill_byte_ids(h, &m, missing_ok);
	if (rc == 0)
		rc = fill_pairs(h, &m, nmerges, merges);
	free(m.slot);
	if (rc == 0)
		fill_decode(h, ntokens, tokens, lens, ids);
	return rc;
}

/* build a blob whose vocabulary holds all 256 byte characters (GPT-2) */
int
TfmBpeBuild(void *dst, size_t size,
			int ntokens, const char *const *tokens, const int *lens,
			const int32_t *ids, int nmerges, const TfmBpeMerge *merges)
{
	return TfmBpeBuildEx(dst, size, ntokens, tokens, lens, ids, nmerges, merges, 0);
}

/* ---------------------------------------------------------------- checking */

/* verify a blob read from an untrusted file */
int
TfmBpeCheck(const void *blob, size_t size)
{
	const BpeHeader *h = blob;
	const BpePair *t;
	const BpeDec *dec;
	uint64_t empty = 0;

	if (blob == NULL || (uintptr_t) blob % 8 != 0 || size < sizeof(BpeHeader) ||
		h->magic != BPE_MAGIC || h->version != BPE_VERSION || h->total_size != size ||
		h->nids <= 0 || h->nids > TFM_BPE_MAX_IDS || h->npairs < 0 ||
		h->nslots < 16 || (h->nslots & (h->nslots - 1)) != 0 ||
		!TfmArrayOk(h->pairs_off, h->nslots, sizeof(BpePair), size) ||
		!TfmArrayOk(h->dec_off, (uint64_t) h->nids, sizeof(BpeDec), size) ||
		!TfmArrayOk(h->bytes_off, h->bytes_len, 1, size))
		return TFM_BPE_ECORRUPT;
	/* -1: a byte character the vocabulary lacks (TfmBpeBuildEx with missing_ok), dropped when encoding */
	for (int b = 0; b < 256; b++)
		if (h->byte_ids[b] < -1 || h->byte_ids[b] >= h->nids)
			return TFM_BPE_ECORRUPT;
	t = BLOB(h, h->pairs_off, const BpePair *);
	for (uint64_t i = 0; i < h->nslots; i++)
	{
		if (t[i].a < 0)
			empty++;
		else if (t[i].a >= h->nids || t[i].b < 0 || t[i].b >= h->nids ||
				 t[i].merged < 0 || t[i].merged >= h->nids || t[i].rank < 0)
			return TFM_BPE_ECORRUPT;
	}
	if (empty == 0)
		return TFM_BPE_ECORRUPT;
	dec = BLOB(h, h->dec_off, const BpeDec *);
	for (int32_t i = 0; i < h->nids; i++)
		if (dec[i].len != DEC_MISSING &&
			(dec[i].off > h->bytes_len || dec[i].len > h->bytes_len - dec[i].off))
			return TFM_BPE_ECORRUPT;
	return 0;
}

/* number of ids = max id + 1 */
int
TfmBpeSizeOf(const void *blob)
{
	return ((const BpeHeader *) blob)->nids;
}

/* ---------------------------------------------------------------- merging */

/* grow the per-piece arrays to hold n symbols */
static int
work_reserve(BpeWork *w, size_t n)
{
	size_t cap = w->cap ? w->cap : 64;

	if (n <= w->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if (cap > (size_t) TFM_BPE_MAX_IDS)
		return TFM_BPE_ENOMEM;
	free(w->sym);
	free(w->next);
	free(w->prev);
	free(w->heap);
	free(w->batch);
	w->sym = malloc(cap * sizeof(int32_t));
	w->next = malloc(cap * sizeof(int32_t));
	w->prev = malloc(cap * sizeof(int32_t));
	w->heap = malloc(3 * cap * sizeof(uint64_t));
	w->batch = malloc(3 * cap * sizeof(uint64_t));
	w->cap = cap;
	if (!w->sym || !w->next || !w->prev || !w->heap || !w->batch)
	{
		w->cap = 0;
		return TFM_BPE_ENOMEM;
	}
	return 0;
}

/* append one id to the output */
static int
out_push(BpeWork *w, int32_t id)
{
	if (w->nout == w->outcap)
	{
		size_t cap = w->outcap ? 2 * w->outcap : 256;
		int32_t *o;

		if (cap > (size_t) INT_MAX)
			cap = (size_t) INT_MAX;
		if (cap <= w->nout)
			return TFM_BPE_ENOMEM;
		o = realloc(w->out, cap * sizeof(int32_t));
		if (o == NULL)
			return TFM_BPE_ENOMEM;
		w->out = o;
		w->outcap = cap;
	}
	w->out[w->nout++] = id;
	return 0;
}

/* push key onto the min-heap of n entries */
static void
heap_push(uint64_t *heap, size_t *n, uint64_t key)
{
	size_t i = (*n)++;

	while (i > 0 && heap[(i - 1) / 2] > key)
	{
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = key;
}

/* pop the smallest key of the min-heap of n > 0 entries */
static uint64_t
heap_pop(uint64_t *heap, size_t *n)
{
	uint64_t top = heap[0], last = heap[--(*n)];
	size_t i = 0;

	for (;;)
	{
		size_t c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && heap[c + 1] < heap[c])
			c++;
		if (heap[c] >= last)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (*n > 0)
		heap[i] = last;
	return top;
}

/* push the pair starting at symbol p if it has a rank */
static void
push_pair(const BpeHeader *h, BpeWork *w, size_t *nh, int32_t p)
{
	const BpePair *m;

	if (p < 0 || w->next[p] < 0)
		return;
	m = pair_find(h, w->sym[p], w->sym[w->next[p]]);
	if (m != NULL)
		heap_push(w->heap, nh, ((uint64_t) (uint32_t) m->rank << 32) | (uint32_t) p);
}

/* merge the symbols of one piece of n bytes (in w->sym) and append the result */
static int
merge_piece(const BpeHeader *h, BpeWork *w, int32_t n)
{
	size_t nh = 0;

	for (int32_t i = 0; i < n; i++)
	{
		w->next[i] = i + 1 < n ? i + 1 : -1;
		w->prev[i] = i - 1;
	}
	for (int32_t i = 0; i + 1 < n; i++)
		push_pair(h, w, &nh, i);
	while (nh > 0)
	{
		uint32_t rank = (uint32_t) (w->heap[0] >> 32);
		size_t nb = 0;

		/* every pair of this rank exists now: merging makes only other pairs */
		while (nh > 0 && (uint32_t) (w->heap[0] >> 32) == rank)
			w->batch[nb++] = heap_pop(w->heap, &nh);
		for (size_t k = 0; k < nb; k++)
		{
			int32_t p = (int32_t) (uint32_t) w->batch[k], q = w->next[p];
			const BpePair *m;

			/* dead (prev link cut) or changed pairs are stale entries */
			if (w->sym[p] < 0 || q < 0 ||
				(m = pair_find(h, w->sym[p], w->sym[q])) == NULL || (uint32_t) m->rank != rank)
				continue;
			w->sym[p] = m->merged;
			w->sym[q] = -1;
			w->next[p] = w->next[q];
			if (w->next[q] >= 0)
				w->prev[w->next[q]] = p;
			push_pair(h, w, &nh, w->prev[p]);
			push_pair(h, w, &nh, p);
		}
	}
	for (int32_t i = 0; i >= 0; i = w->next[i])
		if (out_push(w, w->sym[i]) != 0)
			return TFM_BPE_ENOMEM;
	return 0;
}

/* free the work arrays */
static void
work_free(BpeWork *w)
{
	free(w->sym);
	free(w->next);
	free(w->prev);
	free(w->heap);
	free(w->batch);
	free(w->out);
}

/* encode UTF-8 text of len bytes */
int
TfmBpeEncode(const void *blob, const char *text, size_t len,
			 int32_t **ids, int *n, size_t *err_offset)
{
	const BpeHeader *h = blob;
	BpeWork w;
	size_t i = 0, bad;
	int rc = 0;

	*ids = NULL;
	*n = 0;
	*err_offset = 0;
	if (len > 0 && text == NULL)
		return TFM_BPE_EUTF8;
	bad = TfmUtf8BadOffset(text, len);
	if (bad < len)
	{
		*err_offset = bad;
		return TFM_BPE_EUTF8;
	}
	memset(&w, 0, sizeof(w));
	while (i < len && rc == 0)
	{
		size_t e = TfmByteLevelSplit(text, len, i);

		if (e - i == 1)
		{
			if (h->byte_ids[(unsigned char) text[i]] >= 0)
				rc = out_push(&w, h->byte_ids[(unsigned char) text[i]]);
		}
		else if ((rc = work_reserve(&w, e - i)) == 0)
		{
			int32_t ns = 0;

			/* byte characters the vocabulary lacks are dropped, as Hugging Face's BPE without unk_token */
			for (size_t k = i; k < e; k++)
				if (h->byte_ids[(unsigned char) text[k]] >= 0)
					w.sym[ns++] = h->byte_ids[(unsigned char) text[k]];
			if (ns > 0)
				rc = merge_piece(h, &w, ns);
		}
		i = e;
	}
	if (rc == 0)
	{
		*ids = w.out;
		*n = (int) w.nout;
		w.out = NULL;
	}
	work_free(&w);
	return rc;
}

/* ---------------------------------------------------------------- decoding */

/* decode n ids back to bytes */
int
TfmBpeDecode(const void *blob, const int32_t *ids, int n,
			 char **text, size_t *len)
{
	const BpeHeader *h = blob;
	const BpeDec *dec = BLOB(h, h->dec_off, const BpeDec *);
	const char *bytes = BLOB(h, h->bytes_off, const char *);
	size_t total = 0, k = 0;
	char *out;

	*text = NULL;
	*len = 0;
	if (n < 0)
		return TFM_BPE_EINVAL;
	for (int i = 0; i < n; i++)
	{
		if (ids[i] < 0 || ids[i] >= h->nids || dec[ids[i]].len == DEC_MISSING)
			return TFM_BPE_EINVAL;
		if (dec[ids[i]].len > SIZE_MAX / 2 - total)
			return TFM_BPE_ENOMEM;
		total += dec[ids[i]].len;
	}
	out = malloc(total + 1);
	if (out == NULL)
		return TFM_BPE_ENOMEM;
	for (int i = 0; i < n; i++)
	{
		memcpy(out + k, bytes + dec[ids[i]].off, dec[ids[i]].len);
		k += dec[ids[i]].len;
	}
	out[k] = '\0';
	*text = out;
	*len = k;
	return 0;
}

/* ---------------------------------------------------------------- token strings */

/* append the vocabulary string of one id in the byte alphabet ("Ġworld") to *out */
int
TfmBpePieceAppend(const void *blob, int32_t id, TfmPieces *out)
{
	const BpeHeader *h = blob;
	const BpeDec *dec = BLOB(h, h->dec_off, const BpeDec *);
	const unsigned char *bytes = BLOB(h, h->bytes_off, const unsigned char *);

	if (id < 0 || id >= h->nids || dec[id].len == DEC_MISSING)
		return TFM_BPE_EINVAL;
	for (uint32_t k = 0; k < dec[id].len; k++)
	{
		/* every character of the alphabet is below U+0800: one or two UTF-8 bytes */
		int32_t c = TfmByteChar(bytes[dec[id].off + k]);
		char u[2] = {(char) (0xC0 | (c >> 6)), (char) (0x80 | (c & 0x3F))};

		if (c < 0x80 ? TfmBufPut(&out->buf, &out->len, &out->cap, (const char *) &bytes[dec[id].off + k], 1) :
			TfmBufPut(&out->buf, &out->len, &out->cap, u, 2))
			return TFM_BPE_ENOMEM;
	}
	out->off[++out->n] = out->len;
	return 0;
}

/* the vocabulary strings of n ids in the byte alphabet into *out */
int
TfmBpePieces(const void *blob, const int32_t *ids, int n, TfmPieces *out)
{
	int rc = tfm_pieces_init(out, n) ? TFM_BPE_ENOMEM : 0;

	for (int i = 0; i < n && rc == 0; i++)
		rc = TfmBpePieceAppend(blob, ids[i], out);
	if (rc && out->off)
		tfm_pieces_free(out);
	return rc;
}
