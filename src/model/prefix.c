/*
 * prefix.c: named texts an embedding model wants before its input (e5's "query: " / "passage: ", bge's
 * query instruction, sentence-transformers' "prompts").
 *
 * The import options "prefixes" (an object of names to strings) and "default_prefix" (one of the names)
 * are checked here at import and stored in the model's options; tfm_embed(input, model, kind) prepends the
 * prefix named kind, tfm_embed(input, model) the default one if the model has one.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "jsonutil.h"
#include "model/handle.h"
#include "model/prefix.h"

#define MAX_PREFIXES 32
#define MAX_PREFIX_NAME 63
#define MAX_PREFIX_BYTES 4096

/* true if a prefix name is 1..63 characters of letters, digits, '_' and '-' */
static bool
good_name(const char *s, int len)
{
	if (len < 1 || len > MAX_PREFIX_NAME)
		return false;
	for (int i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
			  (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* check a "prefixes" object: at most 32 names, each a string of at most 4096 bytes */
static void
check_prefixes(JsonbValue *v, const char *what)
{
	JsonbIterator *it;
	JsonbValue	k, e;
	JsonbIteratorToken tok;
	int			n = 0;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: prefixes must be a JSON object of names to strings", what),
						errhint("For example {\"prefixes\": {\"query\": \"query: \", \"passage\": \"passage: \"}}.")));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		if (!good_name(k.val.string.val, k.val.string.len))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: prefix name \"%.*s\" is not 1 to %d letters, digits, '_' or '-'", what,
								   Min(k.val.string.len, 100), k.val.string.val, MAX_PREFIX_NAME)));
		if (++n > MAX_PREFIXES)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("%s: more than %d prefixes", what, MAX_PREFIXES)));
		tok = JsonbIteratorNext(&it, &e, true);
		if (e.type != jbvString)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: prefix \"%.*s\" must be a string, not %s", what,
								   k.val.string.len, k.val.string.val, TfmJsonTypeName(&e))));
		if (e.val.string.len > MAX_PREFIX_BYTES)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("%s: prefix \"%.*s\" is longer than %d bytes", what,
								   k.val.string.len, k.val.string.val, MAX_PREFIX_BYTES)));
	}
	if (n == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: prefixes is empty", what),
						errhint("Leave the option out for a model without prefixes.")));
}

/*
 * the checked prefix options of an import's options as {"prefixes": ..., "default_prefix": ...}
 * (NULL when there are none)
 */
Jsonb *
TfmPrefixOptions(Jsonb *options, const char *what)
{
	JsonbValue	p, d;
	bool		has_p, has_d;
	StringInfoData s;

	if (!JB_ROOT_IS_OBJECT(options))
		return NULL;			/* TfmOptionsFromJson refuses it */
	has_p = TfmJsonGet(&options->root, "prefixes", &p) && p.type != jbvNull;
	has_d = TfmJsonGet(&options->root, "default_prefix", &d) && d.type != jbvNull;
	if (!has_p && !has_d)
		return NULL;
	if (!has_p)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: default_prefix needs the option prefixes", what)));
	check_prefixes(&p, what);
	initStringInfo(&s);
	appendStringInfo(&s, "{\"prefixes\": %s", JsonbToCString(NULL, p.val.binary.data, -1));
	if (has_d)
	{
		JsonbValue	v;
		char	   *name;

		if (d.type != jbvString)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: default_prefix must be a string naming one of the prefixes", what)));
		name = pnstrdup(d.val.string.val, d.val.string.len);
		if (!TfmJsonGet(p.val.binary.data, name, &v))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: default_prefix \"%s\" is not one of the prefixes", what, name)));
		appendStringInfo(&s, ", \"default_prefix\": ");
		escape_json(&s, name);
	}
	appendStringInfoChar(&s, '}');
	return TfmJsonParse(s.data, s.len, "options");
}

/* options with the checked prefix options of user added (the catalog's options of a model) */
Jsonb *
TfmPrefixAdd(Jsonb *options, Jsonb *user, const char *what)
{
	Jsonb	   *p = TfmPrefixOptions(user, what);

	if (p == NULL)
		return options;
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(options), JsonbPGetDatum(p)));
}

/* a catalog row's prefix options copied into cxt for the model handle (NULL when it has none) */
Jsonb *
TfmPrefixLoad(MemoryContext cxt, Jsonb *options)
{
	JsonbValue	v;
	Jsonb	   *copy;

	if (!JB_ROOT_IS_OBJECT(options) || !TfmJsonGet(&options->root, "prefixes", &v))
		return NULL;
	copy = MemoryContextAlloc(cxt, VARSIZE(options));
	memcpy(copy, options, VARSIZE(options));
	return copy;
}

/* the names of a model's prefixes, for messages */
static char *
prefix_names(JsonbContainer *p)
{
	JsonbIterator *it = JsonbIteratorInit(p);
	JsonbValue	k;
	JsonbIteratorToken tok;
	StringInfoData s;

	initStringInfo(&s);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		if (tok == WJB_KEY)
			appendStringInfo(&s, "%s\"%.*s\"", s.len ? ", " : "", k.val.string.len, k.val.string.val);
	return s.data;
}

/*
 * the prefix a call of tfm_embed prepends: the one named kind, or the model's default_prefix when kind is NULL
 * (NULL when there is none)
 */
const char *
TfmPrefixOf(const TfmModel *m, const char *kind, int *len)
{
	JsonbContainer *p;
	JsonbValue	v;

	if (kind == NULL)
	{
		if (m->prefixes == NULL || !TfmJsonGet(&m->prefixes->root, "default_prefix", &v) || v.type != jbvString)
			return NULL;
		kind = pnstrdup(v.val.string.val, v.val.string.len);
	}
	if (m->prefixes == NULL || !TfmJsonGetObject(&m->prefixes->root, "prefixes", &p))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" has no prefixes, so it has none of kind \"%s\"", m->name, kind),
						errhint("Import the model with the option prefixes, e.g. {\"prefixes\": {\"query\": \"query: \"}}, "
								"or call tfm_embed(input, model) without a kind.")));
	if (!TfmJsonGet(p, kind, &v) || v.type != jbvString)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" has no prefix of kind \"%s\"", m->name, kind),
						errhint("Its prefixes are %s.", prefix_names(p))));
	*len = v.val.string.len;
	return v.val.string.val;
}

/* the text argument t with the prefix pre of plen bytes (TfmPrefixOf's; NULL: none) in front, as a text Datum */
Datum
TfmPrefixed(const char *pre, int plen, Datum t)
{
	text	   *in, *out;
	Size		n;

	if (pre == NULL || plen == 0)
		return t;
	in = DatumGetTextPP(t);
	n = add_size(add_size(VARHDRSZ, plen), VARSIZE_ANY_EXHDR(in));
	if (n > MaxAllocSize)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("the input text with its prefix is too long")));
	out = palloc(n);
	SET_VARSIZE(out, n);
	memcpy(VARDATA(out), pre, plen);
	memcpy(VARDATA(out) + plen, VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in));
	return PointerGetDatum(out);
}
