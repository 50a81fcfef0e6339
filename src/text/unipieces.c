/*
 * unipieces.c - the token strings of Unigram ids (Hugging Face's encoding.tokens): a piece's string is
 * its path in the blob's byte trie, an added token's its content.  Pure C99: no postgres.h.
 */
#include <stdlib.h>
#include <string.h>

#include "textutil.h"
#include "unigram.h"
#include "uniblob.h"

/* one trie node on the walk's stack: its index and the next child to visit */
typedef struct Frame
{
	uint32_t node, child;
} Frame;

/* fill by_off/by_len for each id wanted[id] != 0 by a depth-first walk of the trie; 0 or an error */
static int
walk_trie(const UniHeader *h, const uint8_t *wanted, char **path, uint32_t *by_off, uint32_t *by_len,
		  char **store, size_t *slen, size_t *scap)
{
	const UniNode *t = (const UniNode *) ((const char *) h + h->node_off);
	Frame	   *st = malloc(sizeof(Frame) * (TFM_UNI_MAX_PIECE + 2));
	int			depth = 0, rc = 0;

	*path = malloc(TFM_UNI_MAX_PIECE + 2);
	if (st == NULL || *path == NULL)
	{
		free(st);
		return TFM_UNI_ENOMEM;
	}
	st[0].node = 0;
	st[0].child = 0;
	while (depth >= 0 && rc == 0)
	{
		Frame	   *f = &st[depth];
		const UniNode *nd = &t[f->node];

		if (f->child == 0 && nd->id >= 0 && nd->id < h->n_pieces && wanted[nd->id] && by_len[nd->id] == UINT32_MAX)
		{
			by_off[nd->id] = (uint32_t) *slen;
			by_len[nd->id] = (uint32_t) depth;
			rc = TfmBufPut(store, slen, scap, *path, (size_t) depth);
		}
		if (f->child >= nd->n || depth > TFM_UNI_MAX_PIECE)
		{
			depth--;
			continue;
		}
		(*path)[depth] = (char) t[nd->first + f->child].byte;
		st[depth + 1].node = nd->first + f->child;
		st[depth + 1].child = 0;
		f->child++;
		depth++;
	}
	free(st);
	return rc;
}

/*
 * the strings of n ids of a checked Unigram blob into out (added tokens' content wins over a piece of
 * the same id); 0, TFM_UNI_EINVAL for an id the blob does not have, or TFM_UNI_ENOMEM
 */
int
TfmUniPieces(const void *blob, const int32_t *ids, int n, TfmPieces *out)
{
	const UniHeader *h = blob;
	const TfmAddedEntry *ad = (const TfmAddedEntry *) ((const char *) blob + h->added_off);
	const char *str = (const char *) blob + h->str_off;
	int32_t		nids = h->n_pieces;
	uint8_t    *wanted;
	uint32_t   *by_off, *by_len;
	char	   *store = NULL, *path = NULL;
	size_t		slen = 0, scap = 0;
	int			rc = 0;

	if (tfm_pieces_init(out, n))
		return TFM_UNI_ENOMEM;
	for (int32_t k = 0; k < h->nadded; k++)
		if (ad[k].id >= nids)
			nids = ad[k].id + 1;
	wanted = calloc((size_t) nids + 1, 1);
	by_off = malloc(sizeof(uint32_t) * ((size_t) nids + 1));
	by_len = malloc(sizeof(uint32_t) * ((size_t) nids + 1));
	if (wanted == NULL || by_off == NULL || by_len == NULL)
		rc = TFM_UNI_ENOMEM;
	for (int i = 0; i < n && rc == 0; i++)
		if (ids[i] < 0 || ids[i] >= nids)
			rc = TFM_UNI_EINVAL;
		else
			wanted[ids[i]] = 1;
	if (rc == 0)
	{
		memset(by_len, 0xff, sizeof(uint32_t) * (size_t) nids);
		for (int32_t k = 0; k < h->nadded && rc == 0; k++)
			if (wanted[ad[k].id] && by_len[ad[k].id] == UINT32_MAX)
			{
				by_off[ad[k].id] = (uint32_t) slen;
				by_len[ad[k].id] = ad[k].len;
				rc = TfmBufPut(&store, &slen, &scap, str + ad[k].off, ad[k].len);
			}
	}
	if (rc == 0)
		rc = walk_trie(h, wanted, &path, by_off, by_len, &store, &slen, &scap);
	for (int i = 0; i < n && rc == 0; i++)
		if (by_len[ids[i]] == UINT32_MAX)
			rc = TFM_UNI_EINVAL;
		else if (tfm_pieces_push(out, store ? store + by_off[ids[i]] : "", by_len[ids[i]]))
			rc = TFM_UNI_ENOMEM;
	if (rc)
		tfm_pieces_free(out);
	free(wanted);
	free(by_off);
	free(by_len);
	free(store);
	free(path);
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
