/*
 * bpejson.c: GPT-2 byte-level BPE tokenizers from JSON (tokenizer.json, or vocab.json + merges.txt as stored),
 * and the BPE model reading RoBERTa's reader (robjson.c) shares; unsupported components refused (0A000)
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "bpe.h"
#include "jsonutil.h"
#include "model/gpt2model.h"
#include "text/tokjson.h"

#define CATALOG_TYPE "gpt2-bpe"

#define BPE_HINT "pg_tfm reads GPT-2 tokenizers: vocab.json + merges.txt, or a tokenizer.json with a BPE model, " \
	"a ByteLevel pre-tokenizer and no normalizer (docs/reference.md, Tokenizers)."

/* true if key of obj is the string s */
static bool
key_is(JsonbContainer *obj, const char *key, const char *s)
{
	JsonbValue	v;

	return TfmJsonGet(obj, key, &v) && v.type == jbvString &&
		v.val.string.len == (int) strlen(s) && memcmp(v.val.string.val, s, v.val.string.len) == 0;
}

/* the type of component key ("(none)" when absent or null) */
static char *
component_type(JsonbContainer *root, const char *key, const char *what)
{
	JsonbContainer *o;
	char	   *t;

	if (!TfmJsonGetObject(root, key, &o))
		return "(none)";
	t = TfmTokTypeOf(o, what);
	return t[0] ? t : "(no type)";
}

/*
 * refuse the BPE model options pg_tfm's byte-level BPE does not compute (0A000); for GPT-2 (hint NULL: this
 * file's) and RoBERTa (robjson.c, its hint)
 */
void
TfmBpeModelCheck(JsonbContainer *model, const char *what, const char *hint, const char *family)
{
	JsonbValue	v;
	const char *type = TfmTokModelType(model);

	hint = hint ? hint : BPE_HINT;
	if (strcmp(type, "BPE") != 0)
		TfmTokUnsupported(what, psprintf("model type \"%s\" for %s", type, family), hint);
	if (TfmJsonGet(model, "continuing_subword_prefix", &v) && v.type == jbvString && v.val.string.len > 0)
		TfmTokUnsupported(what, "a BPE continuing_subword_prefix", hint);
	if (TfmJsonGet(model, "end_of_word_suffix", &v) && v.type == jbvString && v.val.string.len > 0)
		TfmTokUnsupported(what, "a BPE end_of_word_suffix", hint);
	if (TfmJsonGetBool(model, "byte_fallback", 0, what) || TfmJsonGetBool(model, "ignore_merges", 0, what))
		TfmTokUnsupported(what, "BPE byte_fallback or ignore_merges", hint);
	if (TfmJsonGet(model, "dropout", &v) && v.type != jbvNull)
		TfmTokUnsupported(what, "BPE dropout", hint);
}

/* one merge from "a b" or ["a", "b"] */
static void
read_merge(TfmBpeMerge *m, JsonbValue *v, const char *what)
{
	if (v->type == jbvString)
	{
		const char *sp = memchr(v->val.string.val, ' ', v->val.string.len);

		if (sp == NULL)
			TfmTokMalformed(what, "a merge is not two tokens separated by a space", BPE_HINT);
		m->a = v->val.string.val;
		m->alen = sp - v->val.string.val;
		m->b = sp + 1;
		m->blen = v->val.string.len - m->alen - 1;
		return;
	}
	if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
		JsonContainerSize(v->val.binary.data) == 2)
	{
		JsonbValue *a = getIthJsonbValueFromContainer(v->val.binary.data, 0);
		JsonbValue *b = getIthJsonbValueFromContainer(v->val.binary.data, 1);

		if (a->type == jbvString && b->type == jbvString)
		{
			*m = (TfmBpeMerge) {a->val.string.val, a->val.string.len, b->val.string.val, b->val.string.len};
			return;
		}
	}
	TfmTokMalformed(what, "merges must be strings \"a b\" or pairs [\"a\", \"b\"]", BPE_HINT);
}

/* collect the merges array in rank order */
static TfmBpeMerge *
read_merges(JsonbContainer *arr, int *n, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	TfmBpeMerge *m;

	if (!JsonContainerIsArray(arr))
		TfmTokMalformed(what, "merges must be a JSON array", BPE_HINT);
	m = palloc(sizeof(TfmBpeMerge) * (JsonContainerSize(arr) + 1));
	*n = 0;
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			read_merge(&m[(*n)++], &v, what);
	return m;
}

/* the object holding vocab and merges: our catalog form, or tokenizer.json's BPE model (GPT-2's components only) */
static JsonbContainer *
bpe_model(Jsonb *tokenizer, const char *what)
{
	JsonbContainer *root = &tokenizer->root, *model, *pre;
	char	   *t;

	if (!JB_ROOT_IS_OBJECT(tokenizer))
		TfmTokMalformed(what, "the tokenizer is not a JSON object", BPE_HINT);
	if (key_is(root, "type", CATALOG_TYPE))
		return root;
	if (!TfmJsonGetObject(root, "model", &model))
		TfmTokMalformed(what, "model is missing", BPE_HINT);
	TfmBpeModelCheck(model, what, NULL, "GPT-2");
	if (strcmp(t = component_type(root, "normalizer", what), "(none)") != 0)
		TfmTokUnsupported(what, psprintf("normalizer \"%s\" with GPT-2's byte-level BPE", t), BPE_HINT);
	if (strcmp(t = component_type(root, "pre_tokenizer", what), "ByteLevel") != 0)
		TfmTokUnsupported(what, psprintf("pre_tokenizer \"%s\" with GPT-2's byte-level BPE", t), BPE_HINT);
	TfmJsonGetObject(root, "pre_tokenizer", &pre);
	if (TfmJsonGetBool(pre, "add_prefix_space", 0, what))
		TfmTokUnsupported(what, "ByteLevel add_prefix_space true with GPT-2", BPE_HINT);
	if (!TfmJsonGetBool(pre, "use_regex", 1, what))
		TfmTokUnsupported(what, "ByteLevel use_regex false", BPE_HINT);
	/* ByteLevel post-processing changes offsets only, which pg_tfm does not return */
	t = component_type(root, "post_processor", what);
	if (strcmp(t, "(none)") != 0 && strcmp(t, "ByteLevel") != 0)
		TfmTokUnsupported(what, psprintf("post_processor \"%s\" with GPT-2's byte-level BPE", t), BPE_HINT);
	return model;
}

/*
 * build the BPE blob from an object holding "vocab" (ids below n_vocab) and "merges"; missing_ok: byte
 * characters may be missing from the vocabulary (TfmBpeBuildEx); palloc'd, *size bytes
 */
void *
TfmBpeBlobFromModel(JsonbContainer *model, int n_vocab, bool missing_ok, size_t *size, const char *what)
{
	JsonbContainer *vocab, *marr;
	TfmTokVocab va;
	TfmBpeMerge *merges;
	int			nmerges, rc;
	void	   *blob;

	if (!TfmJsonGetObject(model, "vocab", &vocab))
		TfmTokMalformed(what, "the vocabulary is missing", BPE_HINT);
	if (!TfmJsonGetObject(model, "merges", &marr))
		TfmTokMalformed(what, "the merges are missing", BPE_HINT);
	TfmTokReadVocab(&va, vocab, n_vocab, what, BPE_HINT);
	merges = read_merges(marr, &nmerges, what);
	*size = TfmBpeBlobSize(va.n, va.tok, va.len, va.id, nmerges, merges);
	if (*size == 0)
		TfmTokMalformed(what, "the vocabulary is too large", BPE_HINT);
	blob = palloc_extended(*size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rc = TfmBpeBuildEx(blob, *size, va.n, va.tok, va.len, va.id, nmerges, merges, missing_ok);
	if (rc == TFM_BPE_ENOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory building the BPE tokenizer")));
	if (rc == TFM_BPE_EDUP)
		TfmTokMalformed(what, "two tokens of the vocabulary have the same id", BPE_HINT);
	if (rc != 0)
		TfmTokMalformed(what, "a byte token is missing or a merge makes a token that is not in the vocabulary", BPE_HINT);
	pfree(va.tok);
	pfree(va.len);
	pfree(va.id);
	pfree(merges);
	return blob;
}

/* build the BPE blob from a stored or tokenizer.json tokenizer; palloc'd, *size bytes */
void *
TfmBpeFromJson(Jsonb *tokenizer, const TfmGpt2Config *cfg, size_t *size, const char *what)
{
	return TfmBpeBlobFromModel(bpe_model(tokenizer, what), cfg->n_vocab, false, size, what);
}

/* the catalog's tokenizer JSON {"type": "gpt2-bpe", "vocab": {...}, "merges": ["a b", ...]} from the two files */
Jsonb *
TfmBpeCatalogJson(const char *vocab, uint64 vsize, const char *merges, uint64 msize,
				  const char *vwhat, const char *mwhat)
{
	StringInfoData s;
	TfmBpeMerge *m;
	int			n, line, rc;

	pfree(TfmJsonParse(vocab, vsize, vwhat));	/* errors name vocab.json */
	if (memchr(merges, '\0', msize) != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("%s contains a NUL byte", mwhat)));
	rc = TfmBpeParseMerges(merges, msize, &m, &n, &line);
	if (rc == TFM_BPE_ENOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory reading %s", mwhat)));
	if (rc != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: line %d is not a merge rule \"a b\"", mwhat, line)));
	initStringInfo(&s);
	appendStringInfoString(&s, "{\"type\": \"" CATALOG_TYPE "\", \"vocab\": ");
	appendBinaryStringInfo(&s, vocab, vsize);
	appendStringInfoString(&s, ", \"merges\": [");
	for (int i = 0; i < n; i++)
	{
		char	   *pair = psprintf("%.*s %.*s", m[i].alen, m[i].a, m[i].blen, m[i].b);

		if (i > 0)
			appendStringInfoChar(&s, ',');
		escape_json(&s, pair);
		pfree(pair);
	}
	free(m);
	appendStringInfoString(&s, "]}");
	return TfmJsonParse(s.data, s.len, mwhat);
}
