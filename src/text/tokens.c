/*
 * tokens.c: tfm_tokens(input, model), the token strings of a text as Hugging Face's encoding.tokens
 * gives them ("[CLS]", "##ing", "Ġworld", "<s>"), for seeing what a tokenizer did.
 *
 * The ids come from the model's tokenizer as tfm_tokenize gives them; each tokenizer turns its ids
 * into strings with its own function of pieces.h's form (a new tokenizer adds one case to pieces_of).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "bpe.h"
#include "cache.h"
#include "infer.h"
#include "textutil.h"
#include "roberta.h"
#include "unigram.h"
#include "wordpiece.h"

PG_FUNCTION_INFO_V1(tfm_tokens);

/* a tokenizer's id-to-string function over its blob (the text is the one the ids came from) */
typedef int (*PiecesFn) (const void *blob, const char *text, size_t len, const int32_t *ids, int n, TfmPieces *out);

/* WordPiece's, in PiecesFn's form */
static int
wordpiece_pieces(const void *blob, const char *text, size_t len, const int32_t *ids, int n, TfmPieces *out)
{
	return TfmVocabPieces(blob, ids, n, out);
}

/* GPT-2's, in PiecesFn's form */
static int
bpe_pieces(const void *blob, const char *text, size_t len, const int32_t *ids, int n, TfmPieces *out)
{
	return TfmBpePieces(blob, ids, n, out);
}

/* SentencePiece Unigram's, in PiecesFn's form (it encodes the text again: an unk stands for the text it replaced) */
static int
unigram_pieces(const void *blob, const char *text, size_t len, const int32_t *ids, int n, TfmPieces *out)
{
	return TfmUniTokens(blob, text, len, out);
}

/* the id-to-string function of a model's tokenizer, and the blob it reads */
static PiecesFn
pieces_of(const TfmModel *m, const void **blob)
{
	if (m->arch == TFM_ARCH_GPT2)
	{
		*blob = m->bpe;
		return bpe_pieces;
	}
	*blob = m->vocab;
	if (m->tokenizer == TFM_TOKENIZER_UNIGRAM)
		return unigram_pieces;
	return m->tokenizer == TFM_TOKENIZER_ROBERTA ? TfmRobertaPieces : wordpiece_pieces;
}

/* tfm_tokens(input, model): text[] of the token strings, special tokens included, untruncated */
Datum
tfm_tokens(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	text	   *t;
	int32	   *ids;
	int			n, rc;
	const char *s;
	size_t		len;
	const void *blob;
	PiecesFn	fn;
	TfmPieces	p;
	Datum	   *d;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = TfmCallModel(fcinfo, 1);
	t = PG_GETARG_TEXT_PP(0);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		/* the text the tokenizer reads (TfmTokenizeText converts it the same way) */
		s = pg_server_to_any(s, len, PG_UTF8);
		len = strlen(s);
	}
	ids = TfmTokenizeText(m, s, len, &n);
	fn = pieces_of(m, &blob);
	rc = fn(blob, s, len, ids, n, &p);
	if (rc == TFM_TOK_ENOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory for the strings of %d tokens", n)));
	if (rc != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("model \"%s\" gave a token id its vocabulary has no string for", m->name)));
	PG_TRY();
	{
		d = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);
		for (int i = 0; i < n; i++)
		{
			/* vocabulary strings are UTF-8: checked (a NUL too) and converted to the database's encoding */
			const char *piece = p.buf + p.off[i];
			int			plen = (int) (p.off[i + 1] - p.off[i]);
			char	   *r = pg_any_to_server(piece, plen, PG_UTF8);

			d[i] = PointerGetDatum(r == piece ? cstring_to_text_with_len(piece, plen) : cstring_to_text(r));
			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		tfm_pieces_free(&p);
	}
	PG_END_TRY();
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}
