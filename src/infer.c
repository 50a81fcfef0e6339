/* infer.c: tokenization with encoding checks, length-sorted batched encoding, heads */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "bert.h"
#include "bpe.h"
#include "head.h"
#include "infer.h"
#include "ops.h"
#include "pg_tfm.h"

static float *scratch = NULL;	/* encoder work area, kept between calls */
static size_t scratch_bytes = 0;

/* stop between layers and batches when the query is cancelled */
void
TfmCheckInterrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* the kept scratch area, grown to at least bytes */
float *
TfmScratch(size_t bytes)
{
	if (bytes > scratch_bytes)
	{
		if (scratch)
			pfree(scratch);
		scratch = NULL;
		scratch_bytes = 0;
		TfmCheckMemory((double) bytes, "the encoder's work area");
		scratch = MemoryContextAllocExtended(TopMemoryContext, bytes, MCXT_ALLOC_HUGE);
		scratch_bytes = bytes;
	}
	return scratch;
}

/* give the scratch area back at the end of a transaction: an idle backend keeps no private work memory */
void
TfmScratchRelease(void)
{
	if (scratch)
		pfree(scratch);
	scratch = NULL;
	scratch_bytes = 0;
}

/*
 * tokenize server-encoded text with a model's tokenizer (WordPiece: with [CLS]/[SEP]; GPT-2's BPE:
 * no special tokens): palloc'd ids, untruncated
 */
int32 *
TfmTokenizeText(const TfmModel *m, const char *s, size_t len, int *n)
{
	int32	   *ids, *out;
	size_t		bad = 0;
	int			rc;

	/* ids (up to one per byte, in a doubling vector, then copied) and the normalizer's buffers */
	TfmCheckMemory((double) len * 16, "tokenizing the text");
	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		s = pg_server_to_any(s, len, PG_UTF8);
		len = strlen(s);
	}
	/* both tokenizers report invalid UTF-8 and allocation failure with the same codes */
	StaticAssertStmt(TFM_BPE_EUTF8 == TFM_TOK_EUTF8, "tokenizer error codes differ");
	if (m->arch == TFM_ARCH_GPT2)
		rc = TfmBpeEncode(m->bpe, s, len, &ids, n, &bad);
	else
		rc = TfmTokenize(m->vocab, s, len, &ids, n, &bad);
	if (rc == TFM_TOK_EUTF8)
		ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						errmsg("input is not valid UTF-8 at byte %zu", bad),
						errhint("pg_tfm models read UTF-8 text; in a SQL_ASCII database store UTF-8 or convert it first.")));
	if (rc != 0)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory while tokenizing %zu bytes", len)));
	out = palloc_extended(sizeof(int32) * Max(*n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (out && *n > 0)
		memcpy(out, ids, sizeof(int32) * *n);
	free(ids);
	if (out == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory for %d token ids", *n)));
	return out;
}

/* length of the longest prefix of s[0, len) that ends right before an ASCII blank (0: none) */
static size_t
blank_cut(const char *s, size_t len)
{
	for (size_t p = len; p-- > 1;)
		if (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')
			return p;
	return 0;
}

/*
 * ids of a text datum truncated to max_tokens (WordPiece: [CLS] first max_tokens-2 tokens [SEP]) without
 * reading or tokenizing more of a long text than needed: tokenize a prefix cut at a blank (a blank
 * ends every word and splits nothing the normalizer joins, so the prefix's tokens begin the text's)
 * and widen it until it gives more than max_tokens ids; toasted texts are fetched by slices
 */
int32 *
TfmTokenizeTruncated(const TfmModel *m, Datum d, int max_tokens, int *n)
{
	int			enc = GetDatabaseEncoding();
	Size		total = toast_raw_datum_size(d) - VARHDRSZ;
	Size		window = Max((Size) TFM_TOKEN_WINDOW, (Size) max_tokens * 16);
	bool		windowed = m->arch == TFM_ARCH_BERT && (enc == PG_UTF8 || enc == PG_SQL_ASCII);
	text	   *t;
	int32	   *ids;

	/* in other encodings an ASCII byte may end a multibyte character: no cutting */
	while (windowed && window < total)
	{
		size_t		len;

		t = DatumGetTextPSlice(d, 0, (int32) window);
		len = blank_cut(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (len > 0)
		{
			ids = TfmTokenizeText(m, VARDATA_ANY(t), len, n);
			if (*n > max_tokens)
			{
				pfree(t);
				*n = TfmTruncate(ids, *n, max_tokens);
				return ids;
			}
			pfree(ids);
		}
		pfree(t);
		CHECK_FOR_INTERRUPTS();
		window = window > total / 4 ? total : window * 4;
	}
	t = DatumGetTextPP(d);
	ids = TfmTokenizeText(m, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), n);
	*n = TfmTruncate(ids, *n, max_tokens);
	return ids;
}

/* keep the first max_tokens-1 ids and the closing [SEP]; returns the new length */
int
TfmTruncate(int32 *ids, int n, int max_tokens)
{
	if (n <= max_tokens)
		return n;
	ids[max_tokens - 1] = ids[n - 1];
	return max_tokens;
}

/* encode B sequences padded to T and pool them into out (B,C) */
static void
encode_batch(float *out, const TfmModel *m, const TfmBertWeights *w, int32 *const *ids, const int *lens,
			 int B, bool normalize)
{
	int			T = 1, C = m->cfg.hidden;
	size_t		hid, need;
	float	   *buf, *hidden, *work;
	int32	   *flat;

	for (int b = 0; b < B; b++)
		T = Max(T, lens[b]);
	hid = MAXALIGN(sizeof(float) * (size_t) B * T * C);
	need = add_size(add_size(hid, MAXALIGN(sizeof(int32) * (size_t) B * T)),
					TfmBertScratchBytes(&m->cfg, B, T));
	buf = TfmScratch(need);
	hidden = buf;
	flat = (int32 *) ((char *) buf + hid);
	work = (float *) ((char *) flat + MAXALIGN(sizeof(int32) * (size_t) B * T));
	for (int b = 0; b < B; b++)
	{
		memcpy(flat + (size_t) b * T, ids[b], sizeof(int32) * lens[b]);
		memset(flat + (size_t) b * T + lens[b], 0, sizeof(int32) * (T - lens[b]));
	}
	bert_forward(hidden, &m->cfg, w, flat, lens, B, T, work, TfmCheckInterrupts);
	TfmPool(out, hidden, lens, B, T, C, m->opt.pooling, normalize);
}

/* sort helper: index by length */
static const int *sort_lens;

/* compare two indices by their sequence length */
static int
cmp_len(const void *a, const void *b)
{
	int			x = sort_lens[*(const int *) a], y = sort_lens[*(const int *) b];

	return (x > y) - (x < y);
}

/* encode n truncated sequences into out (n,C), batching similar lengths to waste no padding */
void
TfmEncodeMany(float *out, const TfmModel *m, const TfmBertWeights *w, int32 *const *ids, const int *lens,
			  int n, bool normalize)
{
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	int32	  **bids = palloc(sizeof(int32 *) * TFM_BATCH_MAX);
	int		   *blens = palloc(sizeof(int) * TFM_BATCH_MAX);
	float	   *bout = palloc(sizeof(float) * TFM_BATCH_MAX * m->cfg.hidden);
	int			C = m->cfg.hidden;

	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_lens = lens;
	qsort(order, n, sizeof(int), cmp_len);
	for (int i = 0; i < n;)
	{
		int			B = 0;

		/* sorted ascending: the last sequence taken is the longest of the batch */
		while (i + B < n && B < TFM_BATCH_MAX && (B + 1) * lens[order[i + B]] <= TFM_BATCH_TOKENS)
			B++;
		B = Max(B, 1);
		for (int b = 0; b < B; b++)
			bids[b] = ids[order[i + b]], blens[b] = lens[order[i + b]];
		encode_batch(bout, m, w, bids, blens, B, normalize);
		for (int b = 0; b < B; b++)
			memcpy(out + (size_t) order[i + b] * C, bout + (size_t) b * C, sizeof(float) * C);
		i += B;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(order);
	pfree(bids);
	pfree(blens);
	pfree(bout);
}

/* out (n,K): the model's head on pooled vectors (n,C) */
void
TfmHeadForward(float *out, const TfmModel *m, const float *head, const float *pooled, int n)
{
	int			H = m->head_hidden;
	float	   *pre = palloc_extended(sizeof(float) * Max((size_t) n * H, 1), MCXT_ALLOC_HUGE);
	float	   *act = palloc_extended(sizeof(float) * Max((size_t) n * H, 1), MCXT_ALLOC_HUGE);

	head_forward(out, pre, act, head, pooled, n, m->cfg.hidden, H, m->nlabels);
	pfree(pre);
	pfree(act);
}

/* softmax over each row of x (n,K), in place */
void
TfmSoftmaxRows(float *x, int n, int K)
{
	for (int i = 0; i < n; i++)
	{
		float	   *r = x + (size_t) i * K;
		float		mx = r[0], sum = 0;

		for (int k = 1; k < K; k++)
			mx = Max(mx, r[k]);
		for (int k = 0; k < K; k++)
			sum += (r[k] = expf(r[k] - mx));
		for (int k = 0; k < K; k++)
			r[k] /= sum;
	}
}
