/*
 * unigram.c - the Unigram tokenizer blob (see unigram.h): its layout, builder and checker.  The
 * encoder (added tokens, normalizers, pre-tokenizers, Viterbi) is in uniencode.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uniblob.h"
#include "unigram.h"

/* one piece while the trie is built */
typedef struct SortPiece
{
	const char *s;
	int len;
	int32_t id;
} SortPiece;

/* byte order, then id: equal strings keep their last id last */
static int
cmp_piece(const void *a, const void *b)
{
	const SortPiece *x = a, *y = b;
	int n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, (size_t) n);

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* a range of sorted pieces sharing their first depth bytes, to become the children of node */
typedef struct TrieWork
{
	uint32_t node, lo, hi, depth;
} TrieWork;

/*
 * the byte trie of the distinct pieces (a string given twice keeps its last id, as Hugging Face's
 * token-to-id map does): children after their parent (breadth first), siblings by byte; *nodes
 * malloc'd, *n_nodes of them
 */
static int
build_trie(const TfmUniSpec *spec, UniNode **nodes, uint64_t *n_nodes)
{
	SortPiece *p = malloc(sizeof(SortPiece) * (size_t) (spec->n_pieces > 0 ? spec->n_pieces : 1));
	uint64_t cap = 1, n = 0, qn = 0;
	TrieWork *q;
	UniNode *t;
	int m = 0;

	if (p == NULL)
		return TFM_UNI_ENOMEM;
	for (int i = 0; i < spec->n_pieces; i++)
	{
		cap += (uint64_t) spec->piece_len[i];
		p[i] = (SortPiece) {spec->piece[i], spec->piece_len[i], i};
	}
	qsort(p, (size_t) spec->n_pieces, sizeof(SortPiece), cmp_piece);
	/* keep the last of equal strings */
	for (int i = 0; i < spec->n_pieces; i++)
	{
		if (i + 1 < spec->n_pieces && p[i + 1].len == p[i].len && memcmp(p[i + 1].s, p[i].s, (size_t) p[i].len) == 0)
			continue;
		p[m++] = p[i];
	}
	t = calloc((size_t) cap, sizeof(UniNode));
	q = malloc(sizeof(TrieWork) * (size_t) cap);
	if (t == NULL || q == NULL)
	{
		free(p), free(t), free(q);
		return TFM_UNI_ENOMEM;
	}
	t[0].id = -1;
	n = 1;
	q[qn++] = (TrieWork) {0, 0, (uint32_t) m, 0};
	for (uint64_t k = 0; k < qn; k++)
	{
		TrieWork w = q[k];
		uint32_t lo = w.lo;

		if (lo < w.hi && (uint32_t) p[lo].len == w.depth)
		{
			t[w.node].id = p[lo].id;
			lo++;
		}
		t[w.node].first = (uint32_t) n;
		while (lo < w.hi)
		{
			unsigned char b = (unsigned char) p[lo].s[w.depth];
			uint32_t hi = lo;

			while (hi < w.hi && (unsigned char) p[hi].s[w.depth] == b)
				hi++;
			t[n].byte = b;
			t[n].id = -1;
			t[w.node].n++;
			q[qn++] = (TrieWork) {(uint32_t) n, lo, hi, w.depth + 1};
			n++;
			lo = hi;
		}
	}
	free(p);
	free(q);
	*nodes = t;
	*n_nodes = n;
	return 0;
}

/* the spec's refusals, as a static string (NULL: acceptable) */
static const char *
spec_problem(const TfmUniSpec *s)
{
	if (s->n_pieces < 1 || s->n_pieces > TFM_UNI_MAX_PIECES)
		return "the vocabulary must hold 1 to 2,000,000 pieces";
	if (s->unk_id < 0 || s->unk_id >= s->n_pieces)
		return "unk_id is outside the vocabulary";
	for (int i = 0; i < s->n_pieces; i++)
	{
		if (s->piece_len[i] < 0 || s->piece_len[i] > TFM_UNI_MAX_PIECE)
			return "a piece is longer than 512 bytes";
		if (!isfinite(s->score[i]) || fabs(s->score[i]) > TFM_UNI_MAX_SCORE)
			return "a piece's score is not a finite number of magnitude at most 1e9";
	}
	if (s->n_norm < 0 || s->n_norm > TFM_UNI_MAX_NORM || s->n_prefix < 0 || s->n_prefix > TFM_UNI_MAX_SPECIAL ||
		s->n_suffix < 0 || s->n_suffix > TFM_UNI_MAX_SPECIAL || s->nadded < 0 || s->nadded > TFM_UNI_MAX_ADDED)
		return "too many normalizers, template tokens or added tokens";
	for (int i = 0; i < s->n_norm; i++)
	{
		const TfmUniNorm *nm = &s->norm[i];

		if (nm->kind < TFM_NORM_PRECOMPILED || nm->kind > TFM_NORM_NFKD ||
			nm->pattern_len < 0 || nm->pattern_len > TFM_UNI_MAX_PATTERN ||
			nm->content_len < 0 || nm->content_len > TFM_UNI_MAX_PATTERN ||
			(nm->kind == TFM_NORM_REPLACE && nm->pattern_len < 1))
			return "a normalizer's settings are out of range";
		if (nm->kind == TFM_NORM_PRECOMPILED && s->charsmap == NULL)
			return "the Precompiled normalizer has no charsmap";
	}
	if (s->metaspace && (s->replacement_len < 1 || s->replacement_len > 4 || s->prepend < TFM_PREPEND_NEVER ||
						 s->prepend > TFM_PREPEND_FIRST))
		return "Metaspace's replacement must be one character";
	for (int i = 0; i < s->nadded; i++)
		if (s->added[i].len < 1 || s->added[i].len > TFM_ADDED_MAX)
			return "an added token must be 1 to 256 bytes";
	return NULL;
}

/* the id -> string index: every piece's bytes in the piece area, in id order */
static void
fill_spans(UniHeader *h, const TfmUniSpec *spec)
{
	UniSpan    *sp = (UniSpan *) ((char *) h + h->span_off);
	char	   *p = (char *) h + h->pstr_off;
	uint64_t	k = 0;

	for (int i = 0; i < spec->n_pieces; i++)
	{
		sp[i] = (UniSpan) {(uint32_t) k, (uint32_t) spec->piece_len[i]};
		if (spec->piece_len[i] > 0)
			memcpy(p + k, spec->piece[i], (size_t) spec->piece_len[i]);
		k += (uint64_t) spec->piece_len[i];
	}
}

/* build the blob (see unigram.h) */
int
TfmUniBuild(const TfmUniSpec *spec, void **blob, size_t *size, const char **why)
{
	UniHeader *h;
	UniNode *nodes = NULL;
	UniNorm *nm;
	TfmAddedEntry *ad;
	char *base, *str;
	uint64_t n_nodes = 0, str_len = 0, k = 0, tsize = 0;
	double min_score = INFINITY;
	int rc;

	*blob = NULL;
	*size = 0;
	if ((*why = spec_problem(spec)) != NULL)
		return TFM_UNI_EINVAL;
	if (spec->charsmap != NULL)
	{
		if ((rc = TfmCharsmapCheck(spec->charsmap, spec->charsmap_len, why)) != 0)
			return rc;
		tsize = (uint64_t) spec->charsmap[0] | (uint64_t) spec->charsmap[1] << 8 |
			(uint64_t) spec->charsmap[2] << 16 | (uint64_t) spec->charsmap[3] << 24;
	}
	if ((rc = build_trie(spec, &nodes, &n_nodes)) != 0)
		return rc;
	for (int i = 0; i < spec->nadded; i++)
		str_len += (uint64_t) spec->added[i].len;
	for (int i = 0; i < spec->n_norm; i++)
		str_len += (uint64_t) spec->norm[i].pattern_len + (uint64_t) spec->norm[i].content_len;
	str_len += spec->metaspace ? (uint64_t) spec->replacement_len : 0;
	{
		UniHeader hh;

		memset(&hh, 0, sizeof(hh));
		hh.norm_off = TfmAlign8(sizeof(UniHeader));
		hh.added_off = hh.norm_off + TfmAlign8(sizeof(UniNorm) * (uint64_t) spec->n_norm);
		hh.str_off = hh.added_off + TfmAlign8(sizeof(TfmAddedEntry) * (uint64_t) spec->nadded);
		hh.str_len = str_len;
		hh.score_off = hh.str_off + TfmAlign8(str_len);
		hh.node_off = hh.score_off + TfmAlign8(sizeof(double) * (uint64_t) spec->n_pieces);
		hh.n_nodes = n_nodes;
		hh.unit_off = hh.node_off + TfmAlign8(sizeof(UniNode) * n_nodes);
		hh.n_units = tsize / 4;
		hh.pool_off = hh.unit_off + TfmAlign8(tsize);
		hh.pool_len = spec->charsmap ? spec->charsmap_len - 4 - tsize : 0;
		hh.span_off = hh.pool_off + TfmAlign8(hh.pool_len);
		hh.pstr_off = hh.span_off + TfmAlign8(sizeof(UniSpan) * (uint64_t) spec->n_pieces);
		for (int i = 0; i < spec->n_pieces; i++)
			hh.pstr_len += (uint64_t) spec->piece_len[i];
		hh.total_size = hh.pstr_off + TfmAlign8(hh.pstr_len);
		if ((base = aligned_alloc(8, (size_t) hh.total_size)) == NULL)
		{
			free(nodes);
			return TFM_UNI_ENOMEM;
		}
		memset(base, 0, (size_t) hh.total_size);
		h = (UniHeader *) base;
		*h = hh;
	}
	h->magic = UNI_MAGIC;
	h->n_pieces = spec->n_pieces;
	h->unk_id = spec->unk_id;
	h->byte_fallback = spec->byte_fallback ? 1 : 0;
	h->n_norm = spec->n_norm;
	h->whitespace_split = spec->whitespace_split ? 1 : 0;
	h->metaspace = spec->metaspace ? 1 : 0;
	h->prepend = spec->prepend;
	h->split = spec->split ? 1 : 0;
	h->n_prefix = spec->n_prefix;
	h->n_suffix = spec->n_suffix;
	h->nadded = spec->nadded;
	h->pair_roberta = spec->pair_roberta ? 1 : 0;
	memcpy(h->prefix, spec->prefix, sizeof(int32_t) * (size_t) spec->n_prefix);
	memcpy(h->suffix, spec->suffix, sizeof(int32_t) * (size_t) spec->n_suffix);
	for (int i = 0; i < spec->n_pieces; i++)
		if (spec->score[i] < min_score)
			min_score = spec->score[i];
	h->unk_score = min_score - 10.0;	/* Hugging Face's K_UNK_PENALTY */
	str = base + h->str_off;
	nm = (UniNorm *) (base + h->norm_off);
	for (int i = 0; i < spec->n_norm; i++)
	{
		const TfmUniNorm *s = &spec->norm[i];

		nm[i].kind = s->kind;
		nm[i].left = s->left ? 1 : 0;
		nm[i].right = s->right ? 1 : 0;
		nm[i].pat_off = (uint32_t) k;
		nm[i].pat_len = (uint32_t) s->pattern_len;
		if (s->pattern_len > 0)
			memcpy(str + k, s->pattern, (size_t) s->pattern_len);
		k += (uint64_t) s->pattern_len;
		nm[i].con_off = (uint32_t) k;
		nm[i].con_len = (uint32_t) s->content_len;
		if (s->content_len > 0)
			memcpy(str + k, s->content, (size_t) s->content_len);
		k += (uint64_t) s->content_len;
	}
	memcpy(base + h->node_off, nodes, sizeof(UniNode) * (size_t) n_nodes);
	free(nodes);
	/* an added token's id: an earlier one's with its content, the piece's, or the next after the vocabulary */
	ad = (TfmAddedEntry *) (base + h->added_off);
	for (int i = 0, next = spec->n_pieces; i < spec->nadded; i++)
	{
		const TfmAddedToken *a = &spec->added[i];
		int32_t id = -1;

		for (int j = 0; j < i && id < 0; j++)
			if (ad[j].len == (uint32_t) a->len && memcmp(str + ad[j].off, a->s, (size_t) a->len) == 0)
				id = ad[j].id;
		if (id < 0)
			id = TfmUniPieceId(base, a->s, (size_t) a->len);
		if (id < 0)
			id = next++;
		ad[i] = (TfmAddedEntry) {(uint32_t) k, (uint32_t) a->len, id, a->lstrip ? 1 : 0, a->rstrip ? 1 : 0,
			a->normalized ? 1 : 0};
		memcpy(str + k, a->s, (size_t) a->len);
		k += (uint64_t) a->len;
	}
	if (spec->metaspace)
	{
		h->repl_off = (uint32_t) k;
		h->repl_len = (uint32_t) spec->replacement_len;
		memcpy(str + k, spec->replacement, (size_t) spec->replacement_len);
		k += (uint64_t) spec->replacement_len;
	}
	memcpy(base + h->score_off, spec->score, sizeof(double) * (size_t) spec->n_pieces);
	fill_spans(h, spec);
	if (spec->charsmap)
	{
		memcpy(base + h->unit_off, spec->charsmap + 4, (size_t) tsize);
		memcpy(base + h->pool_off, spec->charsmap + 4 + tsize, (size_t) h->pool_len);
	}
	*blob = base;
	*size = (size_t) h->total_size;
	return 0;
}

/* verify an untrusted blob */
int
TfmUniCheck(const void *blob, size_t size, int n_vocab)
{
	const UniHeader *h = blob;
	const char *base = blob;
	const UniNode *t;
	const UniNorm *nm;
	const TfmAddedEntry *ad;
	const UniSpan *sp;
	const double *sc;

	if (blob == NULL || (uintptr_t) blob % 8 != 0 || size < sizeof(UniHeader) || h->magic != UNI_MAGIC ||
		h->total_size != size || h->n_pieces < 1 || h->n_pieces > n_vocab || h->unk_id < 0 ||
		h->unk_id >= h->n_pieces || h->n_norm < 0 || h->n_norm > TFM_UNI_MAX_NORM ||
		h->n_prefix < 0 || h->n_prefix > TFM_UNI_MAX_SPECIAL || h->n_suffix < 0 || h->n_suffix > TFM_UNI_MAX_SPECIAL ||
		h->nadded < 0 || h->nadded > TFM_UNI_MAX_ADDED || h->prepend < TFM_PREPEND_NEVER || h->prepend > TFM_PREPEND_FIRST ||
		!isfinite(h->unk_score) || h->pair_roberta < 0 || h->pair_roberta > 1 ||
		(h->pair_roberta && (h->n_prefix != 1 || h->n_suffix != 1)) ||
		h->norm_off % 8 || h->added_off % 8 || h->score_off % 8 || h->node_off % 8 || h->unit_off % 8 ||
		!TfmRegionOk(h->norm_off, sizeof(UniNorm) * (uint64_t) h->n_norm, size) ||
		!TfmRegionOk(h->added_off, sizeof(TfmAddedEntry) * (uint64_t) h->nadded, size) ||
		!TfmRegionOk(h->str_off, h->str_len, size) ||
		!TfmRegionOk(h->score_off, sizeof(double) * (uint64_t) h->n_pieces, size) ||
		h->n_nodes < 1 || h->n_nodes > (uint64_t) UINT32_MAX ||
		!TfmRegionOk(h->node_off, sizeof(UniNode) * h->n_nodes, size) ||
		h->n_units > size || !TfmRegionOk(h->unit_off, 4 * h->n_units, size) ||
		!TfmRegionOk(h->pool_off, h->pool_len, size) ||
		!TfmArrayOk(h->span_off, (uint64_t) h->n_pieces, sizeof(UniSpan), size) || !TfmRegionOk(h->pstr_off, h->pstr_len, size) ||
		(h->metaspace && (h->repl_len < 1 || h->repl_len > 4 || !TfmRegionOk(h->repl_off, h->repl_len, h->str_len))))
		return TFM_UNI_ECORRUPT;
	for (int i = 0; i < h->n_prefix; i++)
		if (h->prefix[i] < 0 || h->prefix[i] >= n_vocab)
			return TFM_UNI_ECORRUPT;
	for (int i = 0; i < h->n_suffix; i++)
		if (h->suffix[i] < 0 || h->suffix[i] >= n_vocab)
			return TFM_UNI_ECORRUPT;
	nm = (const UniNorm *) (base + h->norm_off);
	for (int i = 0; i < h->n_norm; i++)
		if (nm[i].kind < TFM_NORM_PRECOMPILED || nm[i].kind > TFM_NORM_NFKD ||
			nm[i].pat_len > TFM_UNI_MAX_PATTERN || nm[i].con_len > TFM_UNI_MAX_PATTERN ||
			(nm[i].kind == TFM_NORM_REPLACE && nm[i].pat_len < 1) ||
			!TfmRegionOk(nm[i].pat_off, nm[i].pat_len, h->str_len) || !TfmRegionOk(nm[i].con_off, nm[i].con_len, h->str_len))
			return TFM_UNI_ECORRUPT;
	ad = (const TfmAddedEntry *) (base + h->added_off);
	if (TfmAddedCheck(ad, (uint32_t) h->nadded, h->str_len, n_vocab) != 0)
		return TFM_UNI_ECORRUPT;
	sp = (const UniSpan *) (base + h->span_off);
	for (int i = 0; i < h->n_pieces; i++)
		if (sp[i].len > TFM_UNI_MAX_PIECE || !TfmRegionOk(sp[i].off, sp[i].len, h->pstr_len))
			return TFM_UNI_ECORRUPT;
	sc = (const double *) (base + h->score_off);
	for (int i = 0; i < h->n_pieces; i++)
		if (!isfinite(sc[i]) || fabs(sc[i]) > TFM_UNI_MAX_SCORE)
			return TFM_UNI_ECORRUPT;
	/* children after their parent, inside the array, siblings in increasing byte order: walks end */
	t = (const UniNode *) (base + h->node_off);
	for (uint64_t i = 0; i < h->n_nodes; i++)
	{
		if (t[i].id < -1 || t[i].id >= h->n_pieces || t[i].n > 256)
			return TFM_UNI_ECORRUPT;
		if (t[i].n == 0)
			continue;
		if (t[i].first <= i || !TfmRegionOk(t[i].first, t[i].n, h->n_nodes))
			return TFM_UNI_ECORRUPT;
		for (uint32_t c = 1; c < t[i].n; c++)
			if (t[t[i].first + c].byte <= t[t[i].first + c - 1].byte)
				return TFM_UNI_ECORRUPT;
	}
	return 0;
}

/* 1 if a checked blob's pair template is XLM-R's <s> $A </s> </s> $B </s>, else 0 */
int
TfmUniPairRoberta(const void *blob)
{
	return ((const UniHeader *) blob)->pair_roberta;
}
