/*
 * tokens.c: tfm_tokens(input, model), the token strings of a text as Hugging Face's encoding.tokens
 * gives them ("[CLS]", "##ing", "Ġworld", "<s>"), for seeing what a tokenizer did.
 *
 * The ids and their strings come from one encoding of the text (TfmTextTokens of text/tokenizer.h).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "infer/infer.h"
#include "sql/funcs.h"
#include "store/cache.h"
#include "text/tokenizer.h"

PG_FUNCTION_INFO_V1(tfm_tokens);

/* tfm_tokens(input, model): text[] of the token strings, special tokens included, untruncated */
Datum
tfm_tokens(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	text	   *t;
	int			n;
	const char *s;
	size_t		len;
	TfmPieces	p;
	Datum	   *d;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = TfmCallModel(fcinfo, 1);
	t = PG_GETARG_TEXT_PP(0);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	/* one encoding of the text, converted to UTF-8 once, gives the ids and their strings */
	pfree(TfmTextTokens(m, s, len, &n, &p));
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
