/*
 * unipieces.c - the token strings of Unigram ids (Hugging Face's encoding.tokens): a piece's string from
 * the blob's id -> string index, an added token's its content.  Pure C99: no postgres.h.
 */
#include <stdlib.h>
#include <string.h>

#include "textutil.h"
#include "uniblob.h"
#include "unigram.h"

/* an added token's id and its index in the blob's table */
typedef struct IdIndex
{
	int32_t		id, k;
} IdIndex;

/* order by id, then by table index */
static int
cmp_id_index(const void *a, const void *b)
{
	const IdIndex *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

/* the first added token (in table order) with id, or NULL; by: the table sorted by cmp_id_index */
static const TfmAddedEntry *
added_of(const TfmAddedEntry *ad, const IdIndex *by, int n, int32_t id)
{
	int			lo = 0, hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (by[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && by[lo].id == id ? &ad[by[lo].k] : NULL;
}

/*
 * the strings of n ids of a checked Unigram blob into out (an added token's content wins over the piece of
 * its id), from the blob's id -> string index; 0, TFM_UNI_EINVAL for an id the blob does not have, or ENOMEM
 */
int
TfmUniPieces(const void *blob, const int32_t *ids, int n, TfmPieces *out)
{
	const UniHeader *h = blob;
	const TfmAddedEntry *ad = (const TfmAddedEntry *) ((const char *) blob + h->added_off);
	const UniSpan *sp = (const UniSpan *) ((const char *) blob + h->span_off);
	const char *str = (const char *) blob + h->str_off, *pstr = (const char *) blob + h->pstr_off;
	IdIndex    *by = malloc(sizeof(IdIndex) * ((size_t) h->nadded + 1));
	int			rc = 0;

	if (by == NULL || tfm_pieces_init(out, n))
	{
		free(by);
		return TFM_UNI_ENOMEM;
	}
	for (int32_t k = 0; k < h->nadded; k++)
		by[k] = (IdIndex) {ad[k].id, k};
	qsort(by, (size_t) h->nadded, sizeof(IdIndex), cmp_id_index);
	for (int i = 0; i < n && rc == 0; i++)
	{
		const TfmAddedEntry *a = added_of(ad, by, h->nadded, ids[i]);

		if (a != NULL)
			rc = tfm_pieces_push(out, str + a->off, a->len) ? TFM_UNI_ENOMEM : 0;
		else if (ids[i] >= 0 && ids[i] < h->n_pieces)
			rc = tfm_pieces_push(out, pstr + sp[ids[i]].off, sp[ids[i]].len) ? TFM_UNI_ENOMEM : 0;
		else
			rc = TFM_UNI_EINVAL;
	}
	if (rc)
		tfm_pieces_free(out);
	free(by);
	return rc;
}

/*
 * encode text as TfmUniEncode does (*ids malloc'd, *n of them, *err_offset for TFM_UNI_EUTF8) and put their
 * strings, Hugging Face's encoding.tokens, into out: pieces, and for an unk of a fused unknown stretch the
 * normalized text it stands for; 0, TFM_UNI_EUTF8, TFM_UNI_EINVAL or TFM_UNI_ENOMEM
 */
int
TfmUniTokens(const void *blob, const char *text, size_t len, int32_t **ids, int *n, size_t *err_offset,
			 TfmPieces *out)
{
	TfmPieces	unk, all;
	size_t	   *pos = NULL;
	int			rc, u = 0;

	rc = TfmUniEncodeUnk(blob, text, len, ids, n, err_offset, &unk, &pos);
	if (rc != 0)
		return rc;
	rc = TfmUniPieces(blob, *ids, *n, &all);
	if (rc == 0)
	{
		if (tfm_pieces_init(out, *n))
			rc = TFM_UNI_ENOMEM;
		for (int i = 0; i < *n && rc == 0; i++)
		{
			int			from_unk = u < unk.n && pos[u] == (size_t) i;
			const char *s = from_unk ? unk.buf + unk.off[u] : all.buf + all.off[i];
			size_t		l = from_unk ? unk.off[u + 1] - unk.off[u] : all.off[i + 1] - all.off[i];

			if (tfm_pieces_push(out, s ? s : "", l))
				rc = TFM_UNI_ENOMEM;
			u += from_unk;
		}
		if (rc)
			tfm_pieces_free(out);
		tfm_pieces_free(&all);
	}
	tfm_pieces_free(&unk);
	free(pos);
	if (rc)
	{
		free(*ids);
		*ids = NULL;
	}
	return rc;
}
