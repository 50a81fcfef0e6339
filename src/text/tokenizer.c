/*
 * text/tokenizer.c: the tokenizer interface (text/tokenizer.h): which tokenizer a model's files need, the
 * blob checks, and text to ids or token strings through the model's tokenizer, with long texts read in
 * slices when they will be truncated
 */
#include "postgres.h"

#include "access/detoast.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "model/handle.h"
#include "pg_tfm.h"
#include "text/bpe.h"
#include "text/roberta.h"
#include "text/tokenizer.h"
#include "text/unigram.h"
#include "text/wordpiece.h"

/* which tokenizer an encoder uses: Unigram when tokenizer.json's model is one, otherwise its family's */
TfmTokenizerKind
TfmTextKind(Jsonb *tokenizer, const TfmBertConfig *cfg)
{
	if (TfmTokenizerIsUnigram(tokenizer))
		return TFM_TOKENIZER_UNIGRAM;
	return cfg->family == TFM_FAMILY_ROBERTA ? TFM_TOKENIZER_ROBERTA : TFM_TOKENIZER_WORDPIECE;
}

/* the tokenizer blob of an encoder (TfmTextKind says which); palloc'd, *size bytes */
void *
TfmTextFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what)
{
	switch (TfmTextKind(tokenizer, cfg))
	{
		case TFM_TOKENIZER_UNIGRAM:
			return TfmUnigramFromJson(tokenizer, cfg, size, what);
		case TFM_TOKENIZER_ROBERTA:
			return TfmRobertaFromJson(tokenizer, cfg, size, what);
		default:
			return TfmVocabFromJson(tokenizer, cfg, size, what);
	}
}

/* 0 when a stored blob (a cache file's section) is a sound tokenizer of that kind with ids below n_vocab */
int
TfmTextCheck(TfmTokenizerKind kind, int n_vocab, const void *blob, size_t size)
{
	switch (kind)
	{
		case TFM_TOKENIZER_UNIGRAM:
			return TfmUniCheck(blob, size, n_vocab);
		case TFM_TOKENIZER_ROBERTA:
			return TfmRobertaCheck(blob, size, n_vocab);
		case TFM_TOKENIZER_WORDPIECE:
			return TfmVocabCheck(blob, size) == 0 && TfmVocabSizeOf(blob) <= n_vocab ? 0 : -1;
		case TFM_TOKENIZER_GPT2:
			return TfmBpeCheck(blob, size) == 0 && TfmBpeSizeOf(blob) <= n_vocab ? 0 : -1;
	}
	return -1;
}

/* the model's tokenizer blob and its kind (GPT-2's BPE lives in m->gpt2->bpe, an encoder's in m->enc->vocab) */
static const void *
blob_of(const TfmModel *m, TfmTokenizerKind *kind)
{
	if (m->arch == TFM_ARCH_MLP)	/* no tokenizer: a text passed to a feature-vector model */
		TfmRequireArch(m, TFM_ARCH_BERT, "a text input");
	*kind = m->arch == TFM_ARCH_GPT2 ? TFM_TOKENIZER_GPT2 : m->enc->tokenizer;
	return m->arch == TFM_ARCH_GPT2 ? m->gpt2->bpe : (const void *) m->enc->vocab;
}

/* server-encoded text as the UTF-8 the tokenizers read (converted once; *len updated) */
static const char *
to_utf8(const char *s, size_t *len)
{
	/* ids (up to one per byte, in a doubling vector, then copied) and the normalizer's buffers */
	TfmCheckMemory((double) *len * 16, "tokenizing the text");
	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		s = pg_server_to_any(s, *len, PG_UTF8);
		*len = strlen(s);
	}
	return s;
}

/* raise the error of a tokenizer's return code rc (0: none) */
static void
encode_error(const TfmModel *m, int rc, size_t bad, size_t len)
{
	/* every tokenizer reports invalid UTF-8, allocation failure and a corrupt blob with the same codes */
	StaticAssertStmt(TFM_BPE_EUTF8 == TFM_TOK_EUTF8 && TFM_UNI_EUTF8 == TFM_TOK_EUTF8 &&
					 TFM_UNI_ENOMEM == TFM_TOK_ENOMEM && TFM_UNI_ECORRUPT == TFM_TOK_ECORRUPT,
					 "tokenizer error codes differ");
	if (rc == TFM_TOK_EUTF8)
		ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						errmsg("input is not valid UTF-8 at byte %zu", bad),
						errhint("pg_tfm models read UTF-8 text; in a SQL_ASCII database store UTF-8 or convert it first.")));
	if (rc == TFM_UNI_ECORRUPT)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("the tokenizer of model \"%s\" is corrupt", m->name)));
	if (rc == TFM_TOK_EINVAL)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("model \"%s\" gave a token id its vocabulary has no string for", m->name)));
	if (rc != 0)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory while tokenizing %zu bytes", len)));
}

/* n malloc'd ids (freed here) as a palloc'd array */
static int32 *
ids_palloc(int32_t *ids, int n)
{
	int32	   *out = palloc_extended(sizeof(int32) * Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);

	if (out && n > 0)
		memcpy(out, ids, sizeof(int32) * n);
	free(ids);
	if (out == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory for %d token ids", n)));
	return out;
}

/*
 * GPT-2's special token as an added token: the string of the config's eos id when it reads "<|...|>"
 * (<|endoftext|>, which Hugging Face's GPT-2 tokenizers split out of the text as added token 50256); 0 if none
 */
static int
gpt2_special(const TfmModel *m, TfmAddedEntry *a, char **str)
{
	size_t		len;

	*str = NULL;
	if (m->gpt2->info.eos < 0 || TfmBpeDecode(m->gpt2->bpe, &m->gpt2->info.eos, 1, str, &len) != 0)
		return 0;
	if (len < 5 || len > TFM_ADDED_MAX || memcmp(*str, "<|", 2) != 0 || memcmp(*str + len - 2, "|>", 2) != 0)
		return 0;
	*a = (TfmAddedEntry) {0, (uint32) len, m->gpt2->info.eos, 0, 0, 0};
	return 1;
}

/* GPT-2's ids of UTF-8 text: byte-level BPE between the literal special tokens, which give their id */
static int
gpt2_encode(const TfmModel *m, const char *s, size_t len, int32_t **ids, int *n, size_t *bad)
{
	TfmAddedEntry a;
	char	   *str;
	TfmAddedScan sc;
	TfmIds		o = {NULL, 0, 0};
	size_t		end = 0;
	int			rc = 0;
	int			nspecial = gpt2_special(m, &a, &str);

	TfmAddedScanInit(&sc, &a, (uint32) nspecial, str, 0);
	for (int last = 0; rc == 0 && !last;)
	{
		const TfmAddedEntry *e = TfmAddedScanNext(&sc, s, len, &end);
		int32_t    *p = NULL;
		int			k = 0;

		last = e == NULL;
		end = last ? len : end;
		rc = TfmBpeEncode(m->gpt2->bpe, s + sc.start, end - sc.start, &p, &k, bad);
		if (rc == TFM_BPE_EUTF8)
			*bad += sc.start;
		if (rc == 0)
			rc = TfmIdsAdd(&o, p, (size_t) k);
		if (rc == 0 && !last)
			rc = TfmIdsAdd(&o, &e->id, 1);
		free(p);
		sc.start = sc.i;
	}
	free(str);
	if (rc != 0)
	{
		free(o.v);
		return rc;
	}
	*ids = o.v;
	*n = (int) o.n;
	return 0;
}

/* ids of UTF-8 text by the model's tokenizer (malloc'd); the tokenizer's return code */
static int
encode_utf8(const TfmModel *m, TfmTokenizerKind kind, const void *blob, const char *s, size_t len, int32_t **ids,
			int *n, size_t *bad)
{
	switch (kind)
	{
		case TFM_TOKENIZER_GPT2:
			return gpt2_encode(m, s, len, ids, n, bad);
		case TFM_TOKENIZER_UNIGRAM:
			return TfmUniEncode(blob, s, len, ids, n, bad);
		case TFM_TOKENIZER_ROBERTA:
			return TfmRobertaEncode(blob, s, len, ids, n, bad);
		case TFM_TOKENIZER_WORDPIECE:
			break;
	}
	return TfmTokenize(blob, s, len, ids, n, bad);
}

/* the strings of a tokenizer's n ids of UTF-8 text s into out; the tokenizer's return code */
static int
pieces_of(TfmTokenizerKind kind, const void *blob, const char *s, size_t len, const int32_t *ids, int n,
		  TfmPieces *out)
{
	if (kind == TFM_TOKENIZER_GPT2)
		return TfmBpePieces(blob, ids, n, out);
	if (kind == TFM_TOKENIZER_ROBERTA)
		return TfmRobertaPieces(blob, s, len, ids, n, out);
	return TfmVocabPieces(blob, ids, n, out);
}

/* ids of server-encoded text (palloc'd, *n), converted to UTF-8 once; with out, their strings too */
static int32 *
encode_text(const TfmModel *m, const char *s, size_t len, int *n, TfmPieces *out)
{
	TfmTokenizerKind kind;
	const void *blob = blob_of(m, &kind);
	int32_t    *ids = NULL;
	size_t		bad = 0;
	int			rc;

	s = to_utf8(s, &len);
	/* Unigram's strings come with its encoding: an unk stands for the text it replaced */
	if (out != NULL && kind == TFM_TOKENIZER_UNIGRAM)
		rc = TfmUniTokens(blob, s, len, &ids, n, &bad, out);
	else
		rc = encode_utf8(m, kind, blob, s, len, &ids, n, &bad);
	encode_error(m, rc, bad, len);	/* bad is set by the call: not an argument beside it */
	if (out != NULL && kind != TFM_TOKENIZER_UNIGRAM &&
		(rc = pieces_of(kind, blob, s, len, ids, *n, out)) != 0)
	{
		free(ids);
		encode_error(m, rc, 0, len);
	}
	return ids_palloc(ids, *n);
}

/*
 * tokenize server-encoded text with a model's tokenizer (WordPiece: with [CLS]/[SEP]; RoBERTa: <s>/</s>;
 * Unigram: its template's; GPT-2's BPE: no special tokens): palloc'd ids, untruncated
 */
int32 *
TfmTextEncode(const TfmModel *m, const char *s, size_t len, int *n)
{
	return encode_text(m, s, len, n, NULL);
}

/*
 * the token strings of server-encoded text (Hugging Face's encoding.tokens) into *out (tfm_pieces_free
 * it), from one encoding of the text converted once; palloc'd ids, *n of them
 */
int32 *
TfmTextTokens(const TfmModel *m, const char *s, size_t len, int *n, TfmPieces *out)
{
	return encode_text(m, s, len, n, out);
}

/* true for the ASCII blanks blank_cut cuts at */
static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * length of the longest prefix of s[0, len) that ends right before an ASCII blank and after a
 * non-blank (0: none): byte-level BPE keeps a run of blanks together, so a cut inside a run would
 * change the prefix's last token
 */
static size_t
blank_cut(const char *s, size_t len)
{
	for (size_t p = len; p-- > 1;)
		if (is_blank(s[p]) && !is_blank(s[p - 1]))
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
TfmTextEncodeTruncated(const TfmModel *m, Datum d, int max_tokens, int *n)
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
			ids = TfmTextEncode(m, VARDATA_ANY(t), len, n);
			if (*n > max_tokens)
			{
				pfree(t);
				*n = TfmTextTruncate(ids, *n, max_tokens);
				return ids;
			}
			pfree(ids);
		}
		pfree(t);
		CHECK_FOR_INTERRUPTS();
		window = window > total / 4 ? total : window * 4;
	}
	t = DatumGetTextPP(d);
	ids = TfmTextEncode(m, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), n);
	*n = TfmTextTruncate(ids, *n, max_tokens);
	return ids;
}

/* keep the first max_tokens-1 ids and the closing [SEP]; returns the new length */
int
TfmTextTruncate(int32 *ids, int n, int max_tokens)
{
	if (n <= max_tokens)
		return n;
	ids[max_tokens - 1] = ids[n - 1];
	return max_tokens;
}

