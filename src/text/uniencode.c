/*
 * uniencode.c - encoding with a Unigram blob as Hugging Face's tokenizers library does it:
 * added tokens (leftmost-longest, lstrip / rstrip) split out of the raw text; each piece between
 * them normalized (normalizer steps in order), split again by the added tokens matched in normalized
 * text, pre-tokenized (WhitespaceSplit, Metaspace), and each word segmented by Viterbi over the piece
 * scores with unknown characters fused into one unk (or its bytes' <0xXX> pieces with byte_fallback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "uniblob.h"
#include "unigram.h"

/* what one encoding works with */
typedef struct Enc
{
	const UniHeader *h;
	const char *str;				/* the blob's string area */
	const UniNode *t;
	const double *score;
	TfmIds out;						/* the ids */
	double *best;					/* Viterbi scratch, per byte of a word + 1 */
	int32_t *from, *node, *path;
	size_t vcap;
	int32_t root[256];				/* the root's child per byte, -1 for none */
	char *w;						/* a word after Metaspace */
	size_t wlen, wcap;
	TfmPieces *unk;					/* if not NULL: the text each unk id of a fused stretch stands for */
	size_t *unk_pos;				/* and that id's index in ids, per string of unk */
} Enc;

/* append one id */
static int
add_id(Enc *e, int32_t id)
{
	return TfmIdsAdd(&e->out, &id, 1);
}

/* the child of node with byte b, or -1 */
static int64_t
child(const Enc *e, uint32_t node, unsigned char b)
{
	const UniNode *t = e->t;
	uint32_t lo = t[node].first, hi = lo + t[node].n;

	while (lo < hi)
	{
		uint32_t mid = lo + (hi - lo) / 2;

		if (t[mid].byte == b)
			return mid;
		if (t[mid].byte < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* the id of the piece s[0, n), or -1 */
static int32_t
piece_id(const Enc *e, const char *s, size_t n)
{
	int64_t node = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n && node >= 0; i++)
		node = child(e, (uint32_t) node, (unsigned char) s[i]);
	return node >= 0 ? e->t[node].id : -1;
}

/* bytes of the UTF-8 character starting with byte c (the text is valid) */
static size_t
char_len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* the ids of a fused unknown stretch: the piece if it is one, its bytes' pieces (byte_fallback), or unk */
static int
emit_unknown(Enc *e, const char *s, size_t n)
{
	int32_t id = piece_id(e, s, n);
	char name[8];
	int rc = 0;

	if (id >= 0)
		return add_id(e, id);
	if (e->h->byte_fallback)
	{
		int all = 1;

		for (size_t i = 0; i < n && all; i++)
		{
			snprintf(name, sizeof(name), "<0x%02X>", (unsigned char) s[i]);
			all = piece_id(e, name, 6) >= 0;
		}
		for (size_t i = 0; all && i < n && rc == 0; i++)
		{
			snprintf(name, sizeof(name), "<0x%02X>", (unsigned char) s[i]);
			rc = add_id(e, piece_id(e, name, 6));
		}
		if (all)
			return rc;
	}
	if (e->unk)
	{
		size_t *pos = realloc(e->unk_pos, sizeof(size_t) * ((size_t) e->unk->n + 1));

		if (pos == NULL)
			return TFM_UNI_ENOMEM;
		e->unk_pos = pos;
		pos[e->unk->n] = e->out.n;
		if (tfm_pieces_push_grow(e->unk, s, n))
			return TFM_UNI_ENOMEM;
	}
	return add_id(e, e->h->unk_id);
}

/* Viterbi over s[0, n): the best-scoring path of pieces, then its ids (unknown runs fused) */
static int
viterbi(Enc *e, const char *s, size_t n)
{
	size_t i, end, k;
	int32_t *path;
	int rc = 0;

	if (n == 0)
		return 0;
	if (n + 1 > e->vcap)
	{
		size_t cap = n + 1;
		double *b = realloc(e->best, cap * sizeof(double));
		int32_t *f = b ? realloc(e->from, cap * sizeof(int32_t)) : NULL;
		int32_t *d = f ? realloc(e->node, cap * sizeof(int32_t)) : NULL;
		int32_t *p = d ? realloc(e->path, cap * sizeof(int32_t)) : NULL;

		if (b)
			e->best = b;
		if (f)
			e->from = f;
		if (d)
			e->node = d;
		if (p == NULL)
			return TFM_UNI_ENOMEM;
		e->path = p;
		e->vcap = cap;
	}
	for (i = 0; i <= n; i++)
		e->from[i] = -1;
	e->best[0] = 0;
	for (i = 0; i < n; i += char_len((unsigned char) s[i]))
	{
		size_t mb = char_len((unsigned char) s[i]);
		int64_t node = 0;
		int single = 0;

		for (k = i; k < n; k++)
		{
			int32_t id;
			double cand;

			node = k == i ? e->root[(unsigned char) s[k]] : child(e, (uint32_t) node, (unsigned char) s[k]);
			if (node < 0)
				break;
			if ((id = e->t[node].id) < 0)
				continue;
			cand = e->score[id] + e->best[i];
			if (e->from[k + 1] < 0 || cand > e->best[k + 1])
			{
				e->best[k + 1] = cand;
				e->from[k + 1] = (int32_t) i;
				e->node[k + 1] = id;
			}
			if (k + 1 - i == mb)
				single = 1;
		}
		if (!single && i + mb <= n)
		{
			double cand = e->h->unk_score + e->best[i];

			if (e->from[i + mb] < 0 || cand > e->best[i + mb])
			{
				e->best[i + mb] = cand;
				e->from[i + mb] = (int32_t) i;
				e->node[i + mb] = e->h->unk_id;
			}
		}
	}
	/* the path's end positions, last to first */
	path = e->path;
	k = 0;
	for (end = n; end > 0; end = (size_t) e->from[end])
	{
		if (e->from[end] < 0)
			return TFM_UNI_ECORRUPT;
		path[k++] = (int32_t) end;
	}
	/* forward over the path: runs of unk nodes fused */
	{
		size_t start = 0, unk_start = 0;
		int in_unk = 0;

		while (k > 0 && rc == 0)
		{
			size_t stop = (size_t) path[--k];

			if (e->node[stop] == e->h->unk_id)
			{
				if (!in_unk)
					unk_start = start;
				in_unk = 1;
			}
			else
			{
				if (in_unk)
					rc = emit_unknown(e, s + unk_start, start - unk_start);
				in_unk = 0;
				if (rc == 0)
					rc = add_id(e, e->node[stop]);
			}
			start = stop;
		}
		if (rc == 0 && in_unk)
			rc = emit_unknown(e, s + unk_start, n - unk_start);
	}
	return rc;
}


/* Metaspace (or nothing) on one word s[0, n), then Viterbi on its pieces; first: it starts the input */
static int
metaspace(Enc *e, const char *s, size_t n, int first)
{
	const UniHeader *h = e->h;
	const char *r = e->str + h->repl_off;
	size_t rl = h->repl_len, b = 0;
	int rc = 0;

	if (!h->metaspace)
		return viterbi(e, s, n);
	e->wlen = 0;
	if ((h->prepend == TFM_PREPEND_ALWAYS || (h->prepend == TFM_PREPEND_FIRST && first)) &&
		!(n > 0 && s[0] == ' ') && !(n >= rl && memcmp(s, r, rl) == 0))
		rc = TfmBufPut(&e->w, &e->wlen, &e->wcap, r, rl);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = s[i] == ' ' ? TfmBufPut(&e->w, &e->wlen, &e->wcap, r, rl) : TfmBufPut(&e->w, &e->wlen, &e->wcap, s + i, 1);
	if (rc != 0)
		return rc;
	if (!h->split)
		return viterbi(e, e->w, e->wlen);
	/* split before each replacement character (MergedWithNext) */
	for (size_t i = 1; i + rl <= e->wlen && rc == 0; i++)
		if (memcmp(e->w + i, r, rl) == 0)
		{
			rc = viterbi(e, e->w + b, i - b);
			b = i;
		}
	return rc == 0 ? viterbi(e, e->w + b, e->wlen - b) : rc;
}

/* the pre-tokenizers on s[0, n): WhitespaceSplit's words, each through Metaspace */
static int
pretokenize(Enc *e, const char *s, size_t n, int first)
{
	size_t i = 0;
	int rc = 0;

	if (!e->h->whitespace_split)
		return metaspace(e, s, n, first);
	while (i < n && rc == 0)
	{
		size_t b;
		utf8proc_int32_t c;

		/* skip white space, then take the word up to the next */
		for (size_t k; i < n && (k = TfmSpaceAt(s, i, n)) > 0;)
		{
			i += k;
			first = 0;
		}
		b = i;
		while (i < n)
		{
			size_t k = (size_t) utf8proc_iterate((const utf8proc_uint8_t *) s + i, (utf8proc_ssize_t) (n - i), &c);

			if (TfmIsWhiteSpace((uint32_t) c))
				break;
			i += k;
		}
		if (i > b)
			rc = metaspace(e, s + b, i - b, first);
		first = 0;
	}
	return rc;
}

static int normalize_piece(Enc *e, const char *s, size_t n, int first);

/*
 * split s[0, n) by the added tokens of one kind (leftmost-longest, lstrip / rstrip absorbing white
 * space) and hand each piece between them on: raw text to normalize_piece, normalized text to
 * pretokenize; first: s starts the input
 */
static int
split_added(Enc *e, const char *s, size_t n, int normalized, int first)
{
	TfmAddedScan sc;
	const TfmAddedEntry *a;
	size_t end = 0;
	int rc = 0;

	TfmAddedScanInit(&sc, (const TfmAddedEntry *) ((const char *) e->h + e->h->added_off), (uint32_t) e->h->nadded,
					 e->str, normalized);
	while (rc == 0 && (a = TfmAddedScanNext(&sc, s, n, &end)) != NULL)
	{
		if (end > sc.start)
			rc = normalized ? pretokenize(e, s + sc.start, end - sc.start, first && sc.start == 0) :
				normalize_piece(e, s + sc.start, end - sc.start, first && sc.start == 0);
		if (rc == 0)
			rc = add_id(e, a->id);
		sc.start = sc.i;
	}
	if (rc == 0 && n > sc.start)
		rc = normalized ? pretokenize(e, s + sc.start, n - sc.start, first && sc.start == 0) :
			normalize_piece(e, s + sc.start, n - sc.start, first && sc.start == 0);
	return rc;
}

/* apply one non-charsmap normalizer step to in[0, n) into *out; *lead0 cleared when the first byte goes */
static int
norm_step(const Enc *e, const UniNorm *nm, const char *in, size_t n, char **out, size_t *ol, size_t *oc, int *lead0)
{
	const char *pat = e->str + nm->pat_off, *con = e->str + nm->con_off;
	size_t i = 0, b = 0;
	int rc = 0;

	switch (nm->kind)
	{
		case TFM_NORM_REPLACE:
			while (i + nm->pat_len <= n && rc == 0)
			{
				if (memcmp(in + i, pat, nm->pat_len) != 0)
				{
					i++;
					continue;
				}
				if (i == 0 && nm->con_len == 0)
					*lead0 = 0;
				rc = TfmBufPut(out, ol, oc, in + b, i - b);
				if (rc == 0)
					rc = TfmBufPut(out, ol, oc, con, nm->con_len);
				i += nm->pat_len;
				b = i;
			}
			return rc == 0 ? TfmBufPut(out, ol, oc, in + b, n - b) : rc;
		case TFM_NORM_REPLACE_SPACES:
			while (i < n && rc == 0)
			{
				size_t j = i;

				while (j < n && in[j] == ' ')
					j++;
				if (j - i >= 2)
				{
					rc = TfmBufPut(out, ol, oc, con, nm->con_len);
					if (i == 0 && nm->con_len == 0)
						*lead0 = 0;
					i = j;
				}
				else
				{
					rc = TfmBufPut(out, ol, oc, in + i, 1);
					i++;
				}
			}
			return rc;
		case TFM_NORM_STRIP:
			{
				size_t k, end = n;

				while (nm->left && (k = TfmSpaceAt(in, i, n)) > 0)
					i += k;
				while (nm->right && end > i && (k = TfmSpaceBefore(in, i, end)) > 0)
					end -= k;
				if (i > 0)
					*lead0 = 0;
				return TfmBufPut(out, ol, oc, in + i, end - i);
			}
		default:
			{
				utf8proc_uint8_t *m = NULL;
				int opt = UTF8PROC_STABLE |
					(nm->kind == TFM_NORM_NFC || nm->kind == TFM_NORM_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE) |
					(nm->kind == TFM_NORM_NFKC || nm->kind == TFM_NORM_NFKD ? UTF8PROC_COMPAT : 0);
				utf8proc_ssize_t r = n == 0 ? 0 : utf8proc_map((const utf8proc_uint8_t *) in, (utf8proc_ssize_t) n, &m,
															   (utf8proc_option_t) opt);

				if (r < 0)
					return r == UTF8PROC_ERROR_NOMEM ? TFM_UNI_ENOMEM : TFM_UNI_EUTF8;
				rc = TfmBufPut(out, ol, oc, (const char *) m, (size_t) r);
				free(m);
				return rc;
			}
	}
}

/* normalize a raw piece s[0, n) through every step, then split it by the normalized added tokens */
static int
normalize_piece(Enc *e, const char *s, size_t n, int first)
{
	const UniHeader *h = e->h;
	const UniNorm *nm = (const UniNorm *) ((const char *) h + h->norm_off);
	char *cur = NULL, *nxt = NULL;
	size_t cl = 0, cc = 0, nl = 0, ncap = 0;
	int lead0 = 1, rc;

	rc = TfmBufPut(&cur, &cl, &cc, s, n);
	for (int k = 0; k < h->n_norm && rc == 0; k++)
	{
		char *tmp;
		size_t t;
		int l0 = 1;

		nl = 0;
		if (nm[k].kind == TFM_NORM_PRECOMPILED)
		{
			rc = TfmCharsmapNormalize((const uint32_t *) ((const char *) h + h->unit_off), h->n_units,
									  (const char *) h + h->pool_off, h->pool_len, cur, cl, &nxt, &nl, &ncap, &l0);
			lead0 &= l0;
		}
		else
			rc = norm_step(e, &nm[k], cur, cl, &nxt, &nl, &ncap, &lead0);
		tmp = cur, cur = nxt, nxt = tmp;
		t = cl, cl = nl, nl = t;
		t = cc, cc = ncap, ncap = t;
		if (cl == 0)
			break;				/* all removed (cur may be NULL) */
	}
	if (rc == 0)
		rc = split_added(e, cur, cl, 1, first && lead0);
	free(cur);
	free(nxt);
	return rc;
}

/* encode, and with unk != NULL the strings of unk ids (see unigram.h) */
static int
encode(const void *blob, const char *text, size_t len, int32_t **ids, int *n, size_t *err_offset,
	   TfmPieces *unk, size_t **unk_pos)
{
	const UniHeader *h = blob;
	Enc e;
	int rc = 0;

	*ids = NULL;
	*n = 0;
	*err_offset = 0;
	memset(&e, 0, sizeof(e));
	e.unk = unk;
	e.h = h;
	e.str = (const char *) blob + h->str_off;
	e.t = (const UniNode *) ((const char *) blob + h->node_off);
	e.score = (const double *) ((const char *) blob + h->score_off);
	for (int b = 0; b < 256; b++)
		e.root[b] = (int32_t) child(&e, 0, (unsigned char) b);
	if (len > 0 && text == NULL)
		return TFM_UNI_EUTF8;
	for (size_t i = 0; i < len;)
	{
		utf8proc_int32_t c;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *) text + i, (utf8proc_ssize_t) (len - i), &c);

		if (k <= 0)
		{
			*err_offset = i;
			return TFM_UNI_EUTF8;
		}
		i += (size_t) k;
	}
	for (int k = 0; k < h->n_prefix && rc == 0; k++)
		rc = add_id(&e, h->prefix[k]);
	if (rc == 0 && len > 0)
		rc = split_added(&e, text, len, 0, 1);
	for (int k = 0; k < h->n_suffix && rc == 0; k++)
		rc = add_id(&e, h->suffix[k]);
	free(e.best);
	free(e.from);
	free(e.node);
	free(e.path);
	free(e.w);
	if (unk_pos)
		*unk_pos = e.unk_pos;
	else
		free(e.unk_pos);
	if (rc != 0)
	{
		free(e.out.v);
		return rc;
	}
	*ids = e.out.v;
	*n = (int) e.out.n;
	return 0;
}

/* encode (see unigram.h) */
int
TfmUniEncode(const void *blob, const char *text, size_t len, int32_t **ids, int *n, size_t *err_offset)
{
	return encode(blob, text, len, ids, n, err_offset, NULL, NULL);
}

/* encode, with the text each unk id of a fused unknown stretch stands for (see unigram.h) */
int
TfmUniEncodeUnk(const void *blob, const char *text, size_t len, int32_t **ids, int *n, size_t *err_offset,
				TfmPieces *unk, size_t **unk_pos)
{
	*unk_pos = NULL;
	if (tfm_pieces_init(unk, 0))
		return TFM_UNI_ENOMEM;
	return encode(blob, text, len, ids, n, err_offset, unk, unk_pos);
}

/* the id of the piece s[0, n) in a blob, or -1 */
int32_t
TfmUniPieceId(const void *blob, const char *s, size_t n)
{
	Enc			e;

	memset(&e, 0, sizeof(e));
	e.h = blob;
	e.t = (const UniNode *) ((const char *) blob + e.h->node_off);
	return piece_id(&e, s, n);
}
