/*
 * roberta.c - RoBERTa's tokenizer (see roberta.h): added tokens matched leftmost-longest in
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
	uint64_t added_off;             /* TfmAddedEntry[nadded] */
	uint64_t str_off, str_len;      /* the added tokens' bytes */
	uint64_t bpe_off, bpe_size;
} RobHeader;

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
	return (size_t) (TfmAlign8(sizeof(RobHeader)) + TfmAlign8(sizeof(TfmAddedEntry) * (uint64_t) nadded) +
					 TfmAlign8(str) + TfmAlign8(bpe_size));
}

/* build the blob */
int
TfmRobertaBuild(void *dst, size_t size, int32_t cls_id, int32_t sep_id, int add_prefix_space,
				int nadded, const TfmAddedToken *added, const void *bpe, size_t bpe_size)
{
	RobHeader *h = dst;
	TfmAddedEntry *a;
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
	h->added_off = TfmAlign8(sizeof(RobHeader));
	h->str_off = h->added_off + TfmAlign8(sizeof(TfmAddedEntry) * (uint64_t) nadded);
	for (int i = 0; i < nadded; i++)
		h->str_len += (uint64_t) added[i].len;
	h->bpe_off = h->str_off + TfmAlign8(h->str_len);
	h->bpe_size = bpe_size;
	a = (TfmAddedEntry *) ((char *) dst + h->added_off);
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
	const TfmAddedEntry *a;

	if (blob == NULL || (uintptr_t) blob % 8 != 0 || size < sizeof(RobHeader) ||
		h->magic != ROB_MAGIC || h->total_size != size || h->nadded > TFM_ADDED_COUNT ||
		h->cls_id < 0 || h->cls_id >= n_vocab || h->sep_id < 0 || h->sep_id >= n_vocab ||
		h->added_off % 8 != 0 || h->bpe_off % 8 != 0 ||
		!TfmRegionOk(h->added_off, sizeof(TfmAddedEntry) * (uint64_t) h->nadded, size) ||
		!TfmRegionOk(h->str_off, h->str_len, size) || !TfmRegionOk(h->bpe_off, h->bpe_size, size))
		return TFM_BPE_ECORRUPT;
	a = (const TfmAddedEntry *) ((const char *) blob + h->added_off);
	if (TfmAddedCheck(a, h->nadded, h->str_len, n_vocab) != 0 ||
		TfmBpeCheck((const char *) blob + h->bpe_off, h->bpe_size) != 0 ||
		TfmBpeSizeOf((const char *) blob + h->bpe_off) > n_vocab)
		return TFM_BPE_ECORRUPT;
	return 0;
}

/* BPE ids of the piece text[b, e) appended to o; err_offset relative to text */
static int
encode_piece(const RobHeader *h, TfmIds *o, const char *text, size_t b, size_t e, size_t *err_offset)
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
		rc = TfmIdsAdd(o, ids, (size_t) n);
	free(ids);
	return rc;
}

/* a scan for the added tokens of a blob from the start of a text */
static void
scan_init(const RobHeader *h, TfmAddedScan *s)
{
	TfmAddedScanInit(s, (const TfmAddedEntry *) ((const char *) h + h->added_off), h->nadded,
					 (const char *) h + h->str_off, 0);
}

/* encode: <s>, pieces and added tokens, </s> */
int
TfmRobertaEncode(const void *blob, const char *text, size_t len,
				 int32_t **ids, int *n, size_t *err_offset)
{
	const RobHeader *h = blob;
	TfmIds o = {NULL, 0, 0};
	TfmAddedScan s;
	const TfmAddedEntry *a;
	size_t end = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	*err_offset = 0;
	if (len > 0 && text == NULL)
		return TFM_BPE_EUTF8;
	scan_init(h, &s);
	rc = TfmIdsAdd(&o, &h->cls_id, 1);
	while (rc == 0 && (a = TfmAddedScanNext(&s, text, len, &end)) != NULL)
	{
		rc = encode_piece(h, &o, text, s.start, end, err_offset);
		if (rc == 0)
			rc = TfmIdsAdd(&o, &a->id, 1);
		s.start = s.i;
	}
	if (rc == 0)
		rc = encode_piece(h, &o, text, s.start, len, err_offset);
	if (rc == 0)
		rc = TfmIdsAdd(&o, &h->sep_id, 1);
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
	const TfmAddedEntry *a = (const TfmAddedEntry *) ((const char *) h + h->added_off), *m;
	const char *str = (const char *) h + h->str_off;
	TfmAddedScan s;
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
		else if (i > 0 && i < n - 1 && (m = TfmAddedScanNext(&s, text, len, &end)) != NULL && m->id == ids[i])
			rc = tfm_pieces_push(out, text + end, s.i - end) ? TFM_BPE_ENOMEM : 0;
		else
			rc = tfm_pieces_push(out, str + a[k].off, a[k].len) ? TFM_BPE_ENOMEM : 0;
	}
	if (rc && out->off)
		tfm_pieces_free(out);
	return rc;
}
