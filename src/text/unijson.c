/*
 * unijson.c: a SentencePiece Unigram tokenizer.json read into unigram.c's blob: the model (vocab
 * of [piece, score], unk_id, byte_fallback), normalizers (Precompiled, Replace, Strip, NFC/NFKC/
 * NFD/NFKD, Sequence), pre-tokenizers (WhitespaceSplit, Metaspace, Sequence of the two), the
 * TemplateProcessing post-processor and the added tokens; anything else refused with 0A000
 */
#include "postgres.h"

#include <math.h>

#include "common/base64.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jsonutil.h"
#include "model/encoder.h"
#include "text/tokenizer.h"
#include "text/tokjson.h"
#include "unigram.h"

#define UNI_HINT "pg_tfm reads Unigram tokenizers with the normalizers Precompiled, Replace, Strip and " \
	"NFC/NFKC/NFD/NFKD, the pre-tokenizers WhitespaceSplit and Metaspace, and a " \
	"TemplateProcessing post-processor ending in one special token."

/* true when tokenizer.json's model is Unigram: named so, or unnamed with a vocab array (as the Rust library infers it) */
bool
TfmTokenizerIsUnigram(Jsonb *tokenizer)
{
	JsonbContainer *model;

	if (!JB_ROOT_IS_OBJECT(tokenizer) || !TfmJsonGetObject(&tokenizer->root, "model", &model))
		return false;
	return strcmp(TfmTokModelType(model), "Unigram") == 0;
}

/* a string's bytes (not NUL-terminated copies: pieces may hold any character) */
static void
string_of(JsonbValue *v, const char **s, int *len, const char *what, const char *field)
{
	if (v->type != jbvString)
		TfmTokMalformed(what, psprintf("%s must be a string", field), NULL);
	*s = v->val.string.val;
	*len = v->val.string.len;
}

/* add one normalizer (flattening Sequence) to spec */
static void
read_normalizer(TfmUniSpec *spec, JsonbContainer *o, const char *what, int depth)
{
	char	   *type = TfmTokTypeOf(o, what);
	TfmUniNorm *nm;
	JsonbValue	v;

	if (strcmp(type, "Sequence") == 0)
	{
		JsonbContainer *a;

		if (depth > 4 || !TfmJsonGet(o, "normalizers", &v) || (a = TfmTokArray(&v)) == NULL)
			TfmTokMalformed(what, "normalizer Sequence must hold a normalizers array", NULL);
		for (int i = 0; i < (int) JsonContainerSize(a); i++)
		{
			JsonbContainer *e = TfmTokObject(getIthJsonbValueFromContainer(a, i));

			if (e == NULL)
				TfmTokMalformed(what, "normalizers must be objects", NULL);
			read_normalizer(spec, e, what, depth + 1);
		}
		return;
	}
	if (spec->n_norm >= TFM_UNI_MAX_NORM)
		TfmTokUnsupported(what, "more than 8 normalizers", UNI_HINT);
	nm = &spec->norm[spec->n_norm];
	memset(nm, 0, sizeof(*nm));
	if (strcmp(type, "Precompiled") == 0)
	{
		int			dlen;
		char	   *dst;

		if (spec->charsmap != NULL)
			TfmTokUnsupported(what, "two Precompiled normalizers", UNI_HINT);
		if (!TfmJsonGet(o, "precompiled_charsmap", &v) || v.type != jbvString)
			TfmTokUnsupported(what, "a Precompiled normalizer without a precompiled_charsmap", UNI_HINT);
		dst = palloc_extended(pg_b64_dec_len(v.val.string.len) + 1, MCXT_ALLOC_HUGE);
		dlen = pg_b64_decode(v.val.string.val, v.val.string.len, dst, pg_b64_dec_len(v.val.string.len));
		if (dlen < 0)
			TfmTokMalformed(what, "precompiled_charsmap is not base64", NULL);
		spec->charsmap = (const unsigned char *) dst;
		spec->charsmap_len = (size_t) dlen;
		nm->kind = TFM_NORM_PRECOMPILED;
	}
	else if (strcmp(type, "Replace") == 0)
	{
		JsonbContainer *p;

		if (!TfmJsonGetObject(o, "pattern", &p))
			TfmTokMalformed(what, "Replace needs a pattern", NULL);
		if (!TfmJsonGet(o, "content", &v))
			TfmTokMalformed(what, "Replace needs a content", NULL);
		string_of(&v, &nm->content, &nm->content_len, what, "Replace's content");
		if (TfmJsonGet(p, "String", &v))
		{
			nm->kind = TFM_NORM_REPLACE;
			string_of(&v, &nm->pattern, &nm->pattern_len, what, "Replace's pattern");
			if (nm->pattern_len == 0)
				TfmTokUnsupported(what, "Replace with an empty pattern", UNI_HINT);
		}
		else if (TfmJsonGet(p, "Regex", &v) && v.type == jbvString && v.val.string.len == 5 &&
				 memcmp(v.val.string.val, " {2,}", 5) == 0)
			nm->kind = TFM_NORM_REPLACE_SPACES;
		else
			TfmTokUnsupported(what, "a Replace regex other than \" {2,}\"", UNI_HINT);
	}
	else if (strcmp(type, "Strip") == 0)
	{
		nm->kind = TFM_NORM_STRIP;
		nm->left = TfmJsonGetBool(o, "strip_left", 1, what);
		nm->right = TfmJsonGetBool(o, "strip_right", 1, what);
	}
	else if (strcmp(type, "NFC") == 0)
		nm->kind = TFM_NORM_NFC;
	else if (strcmp(type, "NFD") == 0)
		nm->kind = TFM_NORM_NFD;
	else if (strcmp(type, "NFKC") == 0)
		nm->kind = TFM_NORM_NFKC;
	else if (strcmp(type, "NFKD") == 0)
		nm->kind = TFM_NORM_NFKD;
	else
		TfmTokUnsupported(what, psprintf("normalizer \"%s\" with a Unigram model", type), UNI_HINT);
	if (nm->pattern_len > TFM_UNI_MAX_PATTERN || nm->content_len > TFM_UNI_MAX_PATTERN)
		TfmTokUnsupported(what, "a Replace pattern or content longer than 256 bytes", UNI_HINT);
	spec->n_norm++;
}

/* Metaspace's settings (old files: add_prefix_space; newer: prepend_scheme, split) */
static void
read_metaspace(TfmUniSpec *spec, JsonbContainer *o, const char *what)
{
	JsonbValue	v;
	char	   *scheme;

	if (!TfmJsonGet(o, "replacement", &v))
		TfmTokMalformed(what, "Metaspace needs a replacement", NULL);
	string_of(&v, &spec->replacement, &spec->replacement_len, what, "Metaspace's replacement");
	if (spec->replacement_len < 1 || spec->replacement_len > 4 ||
		pg_utf_mblen((const unsigned char *) spec->replacement) != spec->replacement_len)
		TfmTokMalformed(what, "Metaspace's replacement must be one character", NULL);
	spec->metaspace = 1;
	spec->split = TfmJsonGetBool(o, "split", 1, what);
	scheme = TfmJsonGetString(o, "prepend_scheme", "always", what);
	if (strcmp(scheme, "always") == 0)
		spec->prepend = TFM_PREPEND_ALWAYS;
	else if (strcmp(scheme, "first") == 0)
		spec->prepend = TFM_PREPEND_FIRST;
	else if (strcmp(scheme, "never") == 0)
		spec->prepend = TFM_PREPEND_NEVER;
	else
		TfmTokMalformed(what, psprintf("Metaspace prepend_scheme \"%s\" is unknown", scheme), NULL);
	/* the older add_prefix_space must agree with prepend_scheme (default always), as the Rust library requires */
	if (TfmJsonGet(o, "add_prefix_space", &v) && v.type != jbvNull &&
		TfmJsonGetBool(o, "add_prefix_space", 1, what) != (spec->prepend != TFM_PREPEND_NEVER))
		TfmTokMalformed(what, "Metaspace's add_prefix_space does not match its prepend_scheme", NULL);
}

/* the pre-tokenizer: Metaspace, WhitespaceSplit, or a Sequence of WhitespaceSplit then Metaspace */
static void
read_pretokenizer(TfmUniSpec *spec, JsonbContainer *o, const char *what, int depth)
{
	char	   *type = TfmTokTypeOf(o, what);
	JsonbValue	v;

	if (strcmp(type, "Sequence") == 0 && depth == 0)
	{
		JsonbContainer *a;

		if (!TfmJsonGet(o, "pretokenizers", &v) || (a = TfmTokArray(&v)) == NULL)
			TfmTokMalformed(what, "pre_tokenizer Sequence must hold a pretokenizers array", NULL);
		for (int i = 0; i < (int) JsonContainerSize(a); i++)
		{
			JsonbContainer *e = TfmTokObject(getIthJsonbValueFromContainer(a, i));

			if (e == NULL)
				TfmTokMalformed(what, "pretokenizers must be objects", NULL);
			read_pretokenizer(spec, e, what, depth + 1);
		}
	}
	else if (strcmp(type, "WhitespaceSplit") == 0 && !spec->whitespace_split && !spec->metaspace)
		spec->whitespace_split = 1;
	else if (strcmp(type, "Metaspace") == 0 && !spec->metaspace)
		read_metaspace(spec, o, what);
	else
		TfmTokUnsupported(what, psprintf("pre_tokenizer \"%s\" here with a Unigram model", type), UNI_HINT);
}

/* the ids of a TemplateProcessing SpecialToken item, appended to ids (at most TFM_UNI_MAX_SPECIAL in all) */
static void
special_ids(JsonbContainer *pp, JsonbContainer *item, int32 *ids, int *n, int n_vocab, const char *what)
{
	JsonbContainer *tokens, *entry, *a;
	JsonbValue	v;
	char	   *name = TfmJsonGetString(item, "id", NULL, what);

	if (name == NULL || !TfmJsonGetObject(pp, "special_tokens", &tokens) ||
		!TfmJsonGetObject(tokens, name, &entry) || !TfmJsonGet(entry, "ids", &v) || (a = TfmTokArray(&v)) == NULL)
		TfmTokMalformed(what, "a special token of the template has no ids in special_tokens", NULL);
	for (int i = 0; i < (int) JsonContainerSize(a); i++)
	{
		if (*n >= TFM_UNI_MAX_SPECIAL)
			TfmTokUnsupported(what, "a template with more than 8 special ids around the text", UNI_HINT);
		ids[(*n)++] = (int32) TfmJsonNumericToInt(getIthJsonbValueFromContainer(a, i), 0, n_vocab - 1,
												  what, "special_tokens ids");
	}
}

/*
 * true if the pair template is <s> $A </s> </s> $B </s> around the single template's one prefix and one
 * suffix id, every item of type 0 (XLM-R's: what rerank.c builds); other pair templates are refused when a
 * pair is tokenized, not here
 */
static bool
pair_is_roberta(const TfmUniSpec *spec, JsonbContainer *pp, int n_vocab, const char *what)
{
	static const char *const shape[] = {"S", "A", "S", "S", "B", "S"};
	JsonbContainer *pair;
	JsonbValue	v;

	if (spec->n_prefix != 1 || !TfmJsonGet(pp, "pair", &v) || (pair = TfmTokArray(&v)) == NULL ||
		JsonContainerSize(pair) != 6)
		return false;
	for (int i = 0; i < 6; i++)
	{
		JsonbContainer *item = TfmTokObject(getIthJsonbValueFromContainer(pair, i)), *inner;
		int32		ids[TFM_UNI_MAX_SPECIAL];
		int			n = 0;

		if (item == NULL)
			return false;
		if (shape[i][0] == 'S')
		{
			if (!TfmJsonGetObject(item, "SpecialToken", &inner))
				return false;
			special_ids(pp, inner, ids, &n, n_vocab, what);
			if (n != 1 || ids[0] != (i == 0 ? spec->prefix[0] : spec->suffix[0]))
				return false;
		}
		else if (!TfmJsonGetObject(item, "Sequence", &inner) ||
				 strcmp(TfmJsonGetString(inner, "id", "", what), shape[i]) != 0)
			return false;
		if (TfmJsonGet(inner, "type_id", &v) && !(v.type == jbvNumeric &&
												  TfmJsonNumericToInt(&v, 0, 255, what, "type_id") == 0))
			return false;
	}
	return true;
}

/* TemplateProcessing's single template: special ids, $A, special ids (exactly one after: truncation keeps it) */
static void
read_template(TfmUniSpec *spec, JsonbContainer *pp, int n_vocab, const char *what)
{
	JsonbContainer *single;
	JsonbValue	v;
	bool		seen = false;
	char	   *type = TfmTokTypeOf(pp, what);

	if (strcmp(type, "TemplateProcessing") != 0)
		TfmTokUnsupported(what, psprintf("post_processor \"%s\" with a Unigram model", type), UNI_HINT);
	if (!TfmJsonGet(pp, "single", &v) || (single = TfmTokArray(&v)) == NULL)
		TfmTokMalformed(what, "post_processor.single must be an array", NULL);
	for (int i = 0; i < (int) JsonContainerSize(single); i++)
	{
		JsonbContainer *item = TfmTokObject(getIthJsonbValueFromContainer(single, i)), *inner;

		if (item != NULL && TfmJsonGetObject(item, "Sequence", &inner))
		{
			if (seen || strcmp(TfmJsonGetString(inner, "id", "", what), "A") != 0)
				TfmTokUnsupported(what, "a single template other than special tokens around $A", UNI_HINT);
			seen = true;
		}
		else if (item != NULL && TfmJsonGetObject(item, "SpecialToken", &inner))
		{
			if (seen)
				special_ids(pp, inner, spec->suffix, &spec->n_suffix, n_vocab, what);
			else
				special_ids(pp, inner, spec->prefix, &spec->n_prefix, n_vocab, what);
		}
		else
			TfmTokMalformed(what, "post_processor.single must hold Sequence or SpecialToken items", NULL);
	}
	if (!seen || spec->n_suffix != 1)
		TfmTokUnsupported(what, "a single template that does not end in exactly one special token", UNI_HINT);
	spec->pair_roberta = pair_is_roberta(spec, pp, n_vocab, what);
}

/* the added tokens (palloc'd array) */
static void
read_added(TfmUniSpec *spec, JsonbContainer *root, int n_vocab, const char *what)
{
	JsonbValue	v;
	JsonbContainer *a;
	TfmAddedToken *out;

	if (!TfmJsonGet(&*root, "added_tokens", &v) || v.type == jbvNull)
		return;
	if ((a = TfmTokArray(&v)) == NULL || JsonContainerSize(a) > TFM_UNI_MAX_ADDED)
		TfmTokMalformed(what, "added_tokens must be an array of at most 4096 entries", NULL);
	out = palloc0(sizeof(TfmAddedToken) * (JsonContainerSize(a) + 1));
	for (int i = 0; i < (int) JsonContainerSize(a); i++)
	{
		JsonbContainer *o = TfmTokObject(getIthJsonbValueFromContainer(a, i));
		JsonbValue	c;

		if (o == NULL || !TfmJsonGet(o, "content", &c))
			TfmTokMalformed(what, "added_tokens must hold objects with a content", NULL);
		string_of(&c, &out[i].s, &out[i].len, what, "an added token's content");
		if (out[i].len < 1 || out[i].len > TFM_ADDED_MAX)
			TfmTokMalformed(what, "an added token's content must be 1 to 256 bytes", NULL);
		if (TfmJsonGetBool(o, "single_word", 0, what))
			TfmTokUnsupported(what, "an added token with single_word", UNI_HINT);
		/* the id comes from the vocabulary (TfmUniBuild), as in Hugging Face: the file's "id" is not read */
		out[i].lstrip = TfmJsonGetBool(o, "lstrip", 0, what);
		out[i].rstrip = TfmJsonGetBool(o, "rstrip", 0, what);
		out[i].normalized = TfmJsonGetBool(o, "normalized", !TfmJsonGetBool(o, "special", 0, what), what);
	}
	spec->added = out;
	spec->nadded = (int) JsonContainerSize(a);
}

/* the model's vocabulary into spec (palloc'd arrays) */
static void
read_vocab(TfmUniSpec *spec, JsonbContainer *model, int n_vocab, const char *what)
{
	JsonbValue	v;
	JsonbContainer *a;
	const char **piece;
	int		   *len;
	double	   *score;
	int			n;

	if (!TfmJsonGet(model, "vocab", &v) || (a = TfmTokArray(&v)) == NULL)
		TfmTokMalformed(what, "the Unigram model's vocab must be an array of [piece, score]", NULL);
	n = (int) JsonContainerSize(a);
	if (n < 1 || n > TFM_UNI_MAX_PIECES)
		TfmTokMalformed(what, psprintf("the Unigram vocabulary holds %d pieces; 1 to %d are supported", n, TFM_UNI_MAX_PIECES), NULL);
	if (n > n_vocab)
		TfmTokMalformed(what, psprintf("the Unigram vocabulary holds %d pieces, more than vocab_size %d of config.json", n, n_vocab), NULL);
	piece = palloc_extended(sizeof(char *) * n, MCXT_ALLOC_HUGE);
	len = palloc_extended(sizeof(int) * n, MCXT_ALLOC_HUGE);
	score = palloc_extended(sizeof(double) * n, MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(a, i), *s, *sc;
		JsonbContainer *pair = TfmTokArray(e);

		if (pair == NULL || JsonContainerSize(pair) != 2)
			TfmTokMalformed(what, psprintf("vocab entry %d is not [piece, score]", i), NULL);
		s = getIthJsonbValueFromContainer(pair, 0);
		sc = getIthJsonbValueFromContainer(pair, 1);
		string_of(s, &piece[i], &len[i], what, "a piece");
		if (sc->type != jbvNumeric)
			TfmTokMalformed(what, psprintf("the score of vocab entry %d is not a number", i), NULL);
		score[i] = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(sc->val.numeric)));
		if (!isfinite(score[i]) || fabs(score[i]) > TFM_UNI_MAX_SCORE)
			TfmTokMalformed(what, psprintf("the score of vocab entry %d is not a finite number of magnitude at most 1e9", i), NULL);
		if (len[i] > TFM_UNI_MAX_PIECE)
			TfmTokMalformed(what, psprintf("vocab entry %d is longer than %d bytes", i, TFM_UNI_MAX_PIECE), NULL);
		if ((i & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	spec->n_pieces = n;
	spec->piece = piece;
	spec->piece_len = len;
	spec->score = score;
}

/* the Unigram tokenizer blob of tokenizer.json; palloc'd, *size bytes */
void *
TfmUnigramFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what)
{
	JsonbContainer *root = &tokenizer->root, *model, *o;
	JsonbValue	v;
	TfmUniSpec	spec;
	const char *why = NULL;
	void	   *blob, *out;
	int			rc;

	memset(&spec, 0, sizeof(spec));
	if (!TfmTokenizerIsUnigram(tokenizer) || !TfmJsonGetObject(root, "model", &model))
		TfmTokMalformed(what, "the tokenizer is not a Unigram tokenizer.json", NULL);
	read_vocab(&spec, model, cfg->vocab, what);
	if (!TfmJsonGet(model, "unk_id", &v) || v.type == jbvNull)
		TfmTokUnsupported(what, "a Unigram model without unk_id", UNI_HINT);
	spec.unk_id = (int32) TfmJsonNumericToInt(&v, 0, spec.n_pieces - 1, what, "unk_id");
	spec.byte_fallback = TfmJsonGetBool(model, "byte_fallback", 0, what);
	if (TfmJsonGet(root, "normalizer", &v) && v.type != jbvNull)
	{
		if ((o = TfmTokObject(&v)) == NULL)
			TfmTokMalformed(what, "normalizer must be an object", NULL);
		read_normalizer(&spec, o, what, 0);
	}
	if (TfmJsonGet(root, "pre_tokenizer", &v) && v.type != jbvNull)
	{
		if ((o = TfmTokObject(&v)) == NULL)
			TfmTokMalformed(what, "pre_tokenizer must be an object", NULL);
		read_pretokenizer(&spec, o, what, 0);
	}
	if (!TfmJsonGet(root, "post_processor", &v) || (o = TfmTokObject(&v)) == NULL)
		TfmTokUnsupported(what, "a Unigram tokenizer without a TemplateProcessing post-processor", UNI_HINT);
	read_template(&spec, o, cfg->vocab, what);
	read_added(&spec, root, cfg->vocab, what);
	rc = TfmUniBuild(&spec, &blob, size, &why);
	if (rc == TFM_UNI_ENOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory building the Unigram tokenizer")));
	if (rc != 0)
		TfmTokMalformed(what, why ? why : "the tokenizer is inconsistent", NULL);
	if (TfmUniCheck(blob, *size, cfg->vocab) != 0)
	{
		free(blob);
		TfmTokMalformed(what, psprintf("an added token outside the vocabulary takes an id beyond vocab_size %d of config.json",
								 cfg->vocab), NULL);
	}
	out = palloc_extended(*size, MCXT_ALLOC_HUGE);
	memcpy(out, blob, *size);
	free(blob);
	return out;
}
