/* bpejson.c: GPT-2 byte-level BPE tokenizers from JSON (tokenizer.json, or vocab.json + merges.txt as stored) */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "bpe.h"
#include "gpt2model.h"
#include "jsonutil.h"

#define CATALOG_TYPE "gpt2-bpe"

typedef struct BpeVocab
{
	int			n;
	const char **tok;
	int		   *len;
	int32	   *id;
} BpeVocab;

/* report an unsupported or malformed BPE tokenizer */
static void
bpe_error(const char *what, const char *problem)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("%s: %s", what, problem),
					errhint("pg_tfm reads GPT-2 tokenizers: vocab.json + merges.txt, or a tokenizer.json with a BPE model and a ByteLevel pre-tokenizer.")));
}

/* true if key of obj is the string s */
static bool
key_is(JsonbContainer *obj, const char *key, const char *s)
{
	JsonbValue	v;

	return TfmJsonGet(obj, key, &v) && v.type == jbvString &&
		v.val.string.len == (int) strlen(s) && memcmp(v.val.string.val, s, v.val.string.len) == 0;
}

/* collect the vocabulary object {"token": id, ...} */
static void
read_vocab(BpeVocab *va, JsonbContainer *vocab, int n_vocab, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap;

	if (!JsonContainerIsObject(vocab))
		bpe_error(what, "the vocabulary must be a JSON object");
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
		bpe_error(what, "the vocabulary is empty");
}

/* one merge from "a b" or ["a", "b"] */
static void
read_merge(TfmBpeMerge *m, JsonbValue *v, const char *what)
{
	if (v->type == jbvString)
	{
		const char *sp = memchr(v->val.string.val, ' ', v->val.string.len);

		if (sp == NULL)
			bpe_error(what, "a merge is not two tokens separated by a space");
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
	bpe_error(what, "merges must be strings \"a b\" or pairs [\"a\", \"b\"]");
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
		bpe_error(what, "merges must be a JSON array");
	m = palloc(sizeof(TfmBpeMerge) * (JsonContainerSize(arr) + 1));
	*n = 0;
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			read_merge(&m[(*n)++], &v, what);
	return m;
}

/* the object holding vocab and merges: our catalog form, or tokenizer.json's BPE model */
static JsonbContainer *
bpe_model(Jsonb *tokenizer, const char *what)
{
	JsonbContainer *root = &tokenizer->root, *model, *pre;

	if (!JB_ROOT_IS_OBJECT(tokenizer))
		bpe_error(what, "the tokenizer is not a JSON object");
	if (key_is(root, "type", CATALOG_TYPE))
		return root;
	if (!TfmJsonGetObject(root, "model", &model) || !key_is(model, "type", "BPE"))
		bpe_error(what, "model.type must be BPE");
	if (!TfmJsonGetObject(root, "pre_tokenizer", &pre) || !key_is(pre, "type", "ByteLevel"))
		bpe_error(what, "pre_tokenizer.type must be ByteLevel");
	if (TfmJsonGetBool(pre, "add_prefix_space", 0, what) || !TfmJsonGetBool(pre, "use_regex", 1, what))
		bpe_error(what, "only the ByteLevel pre-tokenizer of GPT-2 (add_prefix_space false, use_regex true) is supported");
	if (TfmJsonGetObject(root, "normalizer", &pre))
		bpe_error(what, "a normalizer is not supported with a BPE model");
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
	BpeVocab	va;
	TfmBpeMerge *merges;
	int			nmerges, rc;
	void	   *blob;

	if (!TfmJsonGetObject(model, "vocab", &vocab))
		bpe_error(what, "the vocabulary is missing");
	if (!TfmJsonGetObject(model, "merges", &marr))
		bpe_error(what, "the merges are missing");
	read_vocab(&va, vocab, n_vocab, what);
	merges = read_merges(marr, &nmerges, what);
	*size = TfmBpeBlobSize(va.n, va.tok, va.len, va.id, nmerges, merges);
	if (*size == 0)
		bpe_error(what, "the vocabulary is too large");
	blob = palloc_extended(*size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rc = TfmBpeBuildEx(blob, *size, va.n, va.tok, va.len, va.id, nmerges, merges, missing_ok);
	if (rc == TFM_BPE_ENOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory building the BPE tokenizer")));
	if (rc == TFM_BPE_EDUP)
		bpe_error(what, "two tokens of the vocabulary have the same id");
	if (rc != 0)
		bpe_error(what, "a byte token is missing or a merge makes a token that is not in the vocabulary");
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
