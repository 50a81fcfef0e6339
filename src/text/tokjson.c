/* text/tokjson.c: the pieces every tokenizer.json reader shares (see text/tokjson.h) */
#include "postgres.h"

#include "utils/jsonb.h"

#include "jsonutil.h"
#include "text/tokjson.h"

/* refuse an unsupported component, named in component (0A000); hint says what is supported */
void
TfmTokUnsupported(const char *what, const char *component, const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					errmsg("%s: %s is not supported", what, component),
					hint ? errhint("%s", hint) : 0));
}

/* refuse a malformed tokenizer (22023) */
void
TfmTokMalformed(const char *what, const char *problem, const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("%s: %s", what, problem),
					hint ? errhint("%s", hint) : 0));
}

/* the array container of v, or NULL */
JsonbContainer *
TfmTokArray(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) ? v->val.binary.data : NULL;
}

/* the object container of v, or NULL */
JsonbContainer *
TfmTokObject(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data) ? v->val.binary.data : NULL;
}

/* the "type" of a component object (palloc'd), "" when absent */
char *
TfmTokTypeOf(JsonbContainer *o, const char *what)
{
	return TfmJsonGetString(o, "type", "", what);
}

/*
 * the type of tokenizer.json's model: its "type", or when it has none (roberta-base's and t5-small's files)
 * the one its keys make it, as the Rust library infers it: merges make BPE, a vocabulary array Unigram,
 * WordPiece's own settings WordPiece, an unk_token alone WordLevel
 */
const char *
TfmTokModelType(JsonbContainer *model)
{
	JsonbValue	v;

	if (TfmJsonGet(model, "type", &v) && v.type == jbvString)
		return pnstrdup(v.val.string.val, v.val.string.len);
	if (TfmJsonGet(model, "merges", &v))
		return "BPE";
	if (TfmJsonGet(model, "vocab", &v) && TfmTokArray(&v) != NULL)
		return "Unigram";
	if (TfmJsonGet(model, "continuing_subword_prefix", &v) || TfmJsonGet(model, "max_input_chars_per_word", &v))
		return "WordPiece";
	if (TfmJsonGet(model, "unk_token", &v))
		return "WordLevel";
	return "(none)";
}

/* collect the vocabulary object {"token": id, ...}, ids below n_vocab */
void
TfmTokReadVocab(TfmTokVocab *va, JsonbContainer *vocab, int n_vocab, const char *what, const char *hint)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap;

	if (!JsonContainerIsObject(vocab))
		TfmTokMalformed(what, "the vocabulary must be a JSON object", hint);
	cap = JsonContainerSize(vocab) + 1;
	va->tok = palloc(sizeof(char *) * cap);
	va->len = palloc(sizeof(int) * cap);
	va->id = palloc(sizeof(int32) * cap);
	va->n = 0;
	it = JsonbIteratorInit(vocab);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			va->tok[va->n] = v.val.string.val;
			va->len[va->n] = v.val.string.len;
		}
		else if (tok == WJB_VALUE)
			va->id[va->n++] = TfmJsonNumericToInt(&v, 0, n_vocab - 1, what, "vocab");
	}
	if (va->n == 0)
		TfmTokMalformed(what, "the vocabulary is empty", hint);
}
