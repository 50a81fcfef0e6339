/* jsonutil.c: reading JSON documents with PostgreSQL's jsonb, with errors that name the document */
#include "postgres.h"

#include <math.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "lib/stringinfo.h"

#include "jsonutil.h"

/* the value of 4 hex digits at s (which has at least 4 bytes), or -1 */
static int
hex4(const char *s)
{
	int			v = 0;

	for (int i = 0; i < 4; i++)
	{
		char		c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * for a SQL_ASCII database: replace the \uXXXX escapes of non-ASCII characters (and valid surrogate
 * pairs) by their UTF-8 bytes, in place; returns the new length. jsonb_in would have to convert them
 * to the server encoding, and PostgreSQL has no UTF8 -> SQL_ASCII conversion (0A000), while a UTF8
 * database stores exactly these bytes. ASCII escapes (\", \\, \u0000 ...) and lone surrogates stay
 * as they are, for jsonb_in to take or reject as usual. Never lengthens the text (6 bytes -> 2..3,
 * 12 -> 4).
 */
static size_t
unescape_non_ascii(char *s, size_t len)
{
	size_t		i = 0, o = 0;

	while (i < len)
	{
		int			cp, lo;

		if (s[i] != '\\' || i + 1 >= len)
		{
			s[o++] = s[i++];
			continue;
		}
		if (s[i + 1] != 'u' || i + 6 > len || (cp = hex4(s + i + 2)) < 0x80 ||
			(cp >= 0xDC00 && cp <= 0xDFFF))
		{
			s[o++] = s[i++];	/* an escape we leave alone: copy its two bytes */
			s[o++] = s[i++];
			continue;
		}
		if (cp >= 0xD800 && cp <= 0xDBFF)
		{
			if (i + 12 > len || s[i + 6] != '\\' || s[i + 7] != 'u' ||
				(lo = hex4(s + i + 8)) < 0xDC00 || lo > 0xDFFF)
			{
				s[o++] = s[i++];
				s[o++] = s[i++];
				continue;
			}
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			i += 12;
		}
		else
			i += 6;
		unicode_to_utf8((pg_wchar) cp, (unsigned char *) s + o);
		o += pg_utf_mblen((unsigned char *) s + o);
	}
	return o;
}

/* parse JSON text into jsonb, reporting malformed input against `what` (e.g. a file name) */
Jsonb *
TfmJsonParse(const char *data, size_t len, const char *what)
{
	char	   *copy;
	JsonLexContext *lex;
	JsonParseErrorType rc;

	if (memchr(data, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s is not valid JSON: it contains a NUL byte", what)));
	if (GetDatabaseEncoding() == PG_SQL_ASCII)
	{
		char	   *u = palloc(len + 1);

		memcpy(u, data, len);
		len = unescape_non_ascii(u, len);
		data = u;
	}
	if (pg_encoding_verifymbstr(PG_UTF8, data, len) != (int) len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("%s is not valid UTF-8", what)));
	copy = palloc(len + 1);
	memcpy(copy, data, len);
	copy[len] = '\0';
	lex = makeJsonLexContextCstringLen(copy, len, PG_UTF8, true);
	rc = pg_parse_json(lex, &nullSemAction);
	if (rc != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s is not valid JSON", what),
				 errdetail("%s", json_errdetail(rc, lex))));
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		/* jsonb_in expects the server encoding; vocabularies need UTF-8, so only ASCII-safe paths reach here */
		copy = pg_any_to_server(copy, len, PG_UTF8);
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

/* look up key in a jsonb object; false when absent or not an object */
bool
TfmJsonGet(JsonbContainer *obj, const char *key, JsonbValue *out)
{
	if (obj == NULL || !JsonContainerIsObject(obj))
		return false;
	return getKeyJsonValueFromContainer(obj, key, strlen(key), out) != NULL;
}

/* look up an object-valued key; false when absent or JSON null, error when another type */
bool
TfmJsonGetObject(JsonbContainer *obj, const char *key, JsonbContainer **out)
{
	JsonbValue	v;

	if (!TfmJsonGet(obj, key, &v) || v.type == jbvNull)
		return false;
	if (v.type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must be a JSON object or array, not %s", key, TfmJsonTypeName(&v))));
	*out = v.val.binary.data;
	return true;
}

/* name a jsonb value's type for error messages */
const char *
TfmJsonTypeName(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		default:
			return "an object or array";
	}
}

/* convert a numeric jsonb value to an integer within [lo, hi] */
int64
TfmJsonNumericToInt(JsonbValue *v, int64 lo, int64 hi, const char *what, const char *key)
{
	double		d;

	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"%s\" must be an integer, not %s", what, key, TfmJsonTypeName(v))));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   NumericGetDatum(v->val.numeric)));
	if (isnan(d) || d != floor(d) || d < (double) lo || d > (double) hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"%s\" must be an integer between " INT64_FORMAT " and " INT64_FORMAT,
						what, key, lo, hi)));
	return (int64) d;
}

/*
 * read an integer member within [lo, hi]; dflt when absent (-1 below lo means required). A default
 * derived from elsewhere (say the model's length) that lies outside [lo, hi] is reported as such,
 * never as a missing key
 */
int64
TfmJsonGetInt(JsonbContainer *obj, const char *key, int64 dflt, int64 lo, int64 hi, const char *what)
{
	JsonbValue	v;

	if (!TfmJsonGet(obj, key, &v) || v.type == jbvNull)
	{
		if (dflt == -1 && dflt < lo)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: required key \"%s\" is missing", what, key)));
		if (dflt < lo || dflt > hi)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: \"%s\" is not given and its default " INT64_FORMAT " is not between " INT64_FORMAT " and " INT64_FORMAT,
							what, key, dflt, lo, hi)));
		return dflt;
	}
	return TfmJsonNumericToInt(&v, lo, hi, what, key);
}

/* read a number member; dflt when absent */
double
TfmJsonGetFloat(JsonbContainer *obj, const char *key, double dflt, const char *what)
{
	JsonbValue	v;

	if (!TfmJsonGet(obj, key, &v) || v.type == jbvNull)
		return dflt;
	if (v.type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"%s\" must be a number, not %s", what, key, TfmJsonTypeName(&v))));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v.val.numeric)));
}

/* read a string member as a palloc'd C string; dflt when absent */
char *
TfmJsonGetString(JsonbContainer *obj, const char *key, const char *dflt, const char *what)
{
	JsonbValue	v;

	if (!TfmJsonGet(obj, key, &v) || v.type == jbvNull)
		return dflt ? pstrdup(dflt) : NULL;
	if (v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"%s\" must be a string, not %s", what, key, TfmJsonTypeName(&v))));
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* read a boolean member; dflt when absent or null */
int
TfmJsonGetBool(JsonbContainer *obj, const char *key, int dflt, const char *what)
{
	JsonbValue	v;

	if (!TfmJsonGet(obj, key, &v) || v.type == jbvNull)
		return dflt;
	if (v.type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: \"%s\" must be a boolean, not %s", what, key, TfmJsonTypeName(&v))));
	return v.val.boolean ? 1 : 0;
}

/* refuse keys of a JSON object that are not in the NULL-terminated list known */
void
TfmJsonCheckKeys(Jsonb *obj, const char *const *known, const char *what)
{
	JsonbIterator *it = JsonbIteratorInit(&obj->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	StringInfoData names;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		ok = false;

		if (tok != WJB_KEY)
			continue;
		for (int i = 0; known[i] && !ok; i++)
			ok = (int) strlen(known[i]) == v.val.string.len &&
				memcmp(known[i], v.val.string.val, v.val.string.len) == 0;
		if (ok)
			continue;
		initStringInfo(&names);
		for (int i = 0; known[i]; i++)
			appendStringInfo(&names, "%s%s", i ? ", " : "", known[i]);
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown %s \"%.*s\"", what, v.val.string.len, v.val.string.val),
						errhint("Known: %s.", names.data)));
	}
}

/* a number for JSON text we build: %.*g when finite, null otherwise (JSON has no NaN or Infinity) */
char *
TfmJsonFloat(double v, int digits)
{
	if (!isfinite(v))
		return pstrdup("null");
	return psprintf("%.*g", digits, v);
}

/* strip the closing brace of the JSON object we built in out, to append members to it */
void
TfmJsonReopen(StringInfo out)
{
	if (out->len == 0 || out->data[out->len - 1] != '}')
		elog(ERROR, "JSON document does not end with '}'");	/* a bug, never the input */
	out->data[--out->len] = '\0';
}
