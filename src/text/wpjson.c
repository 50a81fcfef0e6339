/*
 * wpjson.c: a WordPiece tokenizer (BertNormalizer, BertPreTokenizer, WordPiece, TemplateProcessing or
 * BertProcessing, added tokens with lstrip / rstrip / single_word) read from a Hugging Face tokenizer.json;
 * any other component is refused (0A000)
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "jsonutil.h"
#include "model/encoder.h"
#include "text/tokenizer.h"
#include "text/tokjson.h"
#include "wordpiece.h"

#define WP_HINT "pg_tfm reads WordPiece tokenizers with BertNormalizer, BertPreTokenizer and a TemplateProcessing " \
	"([CLS] $A [SEP]) or BertProcessing post-processor (docs/reference.md, Tokenizers)."

typedef TfmTokVocab VocabArrays;

/* one added token's content (palloc'd, 1+ bytes) and its TFM_SPECIAL_* flags; normalized true is refused */
static char *
added_content(JsonbContainer *o, uint32 *flags, const char *what)
{
	char	   *s = TfmJsonGetString(o, "content", NULL, what);

	if (s == NULL || s[0] == '\0')
		TfmTokMalformed(what, "an added token has no content", WP_HINT);
	if (TfmJsonGetBool(o, "normalized", 0, what))
		TfmTokUnsupported(what, psprintf("added token \"%s\" matched in normalized text (normalized true) in a WordPiece tokenizer", s), WP_HINT);
	*flags = (TfmJsonGetBool(o, "lstrip", 0, what) ? TFM_SPECIAL_LSTRIP : 0) |
		(TfmJsonGetBool(o, "rstrip", 0, what) ? TFM_SPECIAL_RSTRIP : 0) |
		(TfmJsonGetBool(o, "single_word", 0, what) ? TFM_SPECIAL_SINGLE_WORD : 0);
	return s;
}

/* collect added_tokens [{id, content, lstrip, rstrip, single_word}, ...] that are split out of raw text */
static void
read_added(VocabArrays *sa, uint32 **flags, JsonbContainer *c, const TfmBertConfig *cfg, const char *what)
{
	JsonbContainer *arr;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	sa->n = 0;
	sa->tok = NULL;
	sa->len = NULL;
	sa->id = NULL;
	*flags = NULL;
	if (!TfmJsonGetObject(c, "added_tokens", &arr))
		return;
	sa->tok = palloc(sizeof(char *) * (JsonContainerSize(arr) + 1));
	sa->len = palloc(sizeof(int) * (JsonContainerSize(arr) + 1));
	sa->id = palloc(sizeof(int32) * (JsonContainerSize(arr) + 1));
	*flags = palloc(sizeof(uint32) * (JsonContainerSize(arr) + 1));
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			TfmTokMalformed(what, "added_tokens entries must be objects", WP_HINT);
		sa->tok[sa->n] = added_content(v.val.binary.data, &(*flags)[sa->n], what);
		sa->len[sa->n] = strlen(sa->tok[sa->n]);
		sa->id[sa->n] = TfmJsonGetInt(v.val.binary.data, "id", -1, 0, cfg->vocab - 1, what);
		sa->n++;
	}
}

/* id of a special token by its content, via the vocabulary */
static int32
special_id(const VocabArrays *va, const char *content, int32 dflt)
{
	int			l = strlen(content);

	for (int i = 0; i < va->n; i++)
		if (va->len[i] == l && memcmp(va->tok[i], content, l) == 0)
			return va->id[i];
	return dflt;
}

/* the token of item i of a TemplateProcessing "single" template, which must be a SpecialToken (NULL if not) */
static char *
template_special(JsonbContainer *single, int i, const char *what)
{
	JsonbContainer *item = TfmTokObject(getIthJsonbValueFromContainer(single, i)), *sp;

	if (item == NULL || !TfmJsonGetObject(item, "SpecialToken", &sp))
		return NULL;
	return TfmJsonGetString(sp, "id", NULL, what);
}

/* the token of BertProcessing's cls or sep: [token, id] */
static char *
bert_special(JsonbContainer *pp, const char *key, const char *what)
{
	JsonbValue	v, *t;
	JsonbContainer *a;

	if (!TfmJsonGet(pp, key, &v) || (a = TfmTokArray(&v)) == NULL || JsonContainerSize(a) != 2 ||
		(t = getIthJsonbValueFromContainer(a, 0))->type != jbvString)
		TfmTokMalformed(what, psprintf("post_processor.%s must be [token, id]", key), WP_HINT);
	return pnstrdup(t->val.string.val, t->val.string.len);
}

/* the [CLS] and [SEP] of the post-processor: TemplateProcessing [CLS] $A [SEP], or BertProcessing */
static void
read_processor(TfmTokConfig *tc, JsonbContainer *c, const VocabArrays *va, const char *what)
{
	JsonbContainer *pp, *single, *seq;
	JsonbValue	v;
	char	   *type, *cls, *sep;

	if (!TfmJsonGetObject(c, "post_processor", &pp))
		TfmTokUnsupported(what, "a WordPiece tokenizer without a post-processor (no [CLS] ... [SEP])", WP_HINT);
	type = TfmTokTypeOf(pp, what);
	if (strcmp(type, "BertProcessing") == 0)
	{
		cls = bert_special(pp, "cls", what);
		sep = bert_special(pp, "sep", what);
	}
	else if (strcmp(type, "TemplateProcessing") == 0)
	{
		if (!TfmJsonGet(pp, "single", &v) || (single = TfmTokArray(&v)) == NULL)
			TfmTokMalformed(what, "post_processor.single is missing", WP_HINT);
		if (JsonContainerSize(single) != 3 ||
			(seq = TfmTokObject(getIthJsonbValueFromContainer(single, 1))) == NULL ||
			!TfmJsonGet(seq, "Sequence", &v) ||
			(cls = template_special(single, 0, what)) == NULL || (sep = template_special(single, 2, what)) == NULL)
			TfmTokUnsupported(what, "a TemplateProcessing single template other than [CLS] $A [SEP]", WP_HINT);
	}
	else
		TfmTokUnsupported(what, psprintf("post_processor \"%s\" with WordPiece", type[0] ? type : "(no type)"), WP_HINT);
	tc->cls_id = special_id(va, cls, -1);
	tc->sep_id = special_id(va, sep, -1);
}

/* refuse a normalizer or pre-tokenizer (key) other than the one (type) WordPiece runs */
static JsonbContainer *
require_component(JsonbContainer *c, const char *key, const char *type, const char *what)
{
	JsonbContainer *o;
	char	   *t;

	if (!TfmJsonGetObject(c, key, &o))
		TfmTokUnsupported(what, psprintf("a WordPiece tokenizer without a %s %s", type, key), WP_HINT);
	t = TfmTokTypeOf(o, what);
	if (strcmp(t, type) != 0)
		TfmTokUnsupported(what, psprintf("%s \"%s\" with WordPiece", key, t[0] ? t : "(no type)"), WP_HINT);
	return o;
}

/* fill tokenizer settings from normalizer, pre_tokenizer, model and post_processor */
static void
read_settings(TfmTokConfig *tc, JsonbContainer *c, JsonbContainer *model, const VocabArrays *va, const char *what)
{
	JsonbContainer *norm;
	char	   *s;

	memset(tc, 0, sizeof(*tc));
	norm = require_component(c, "normalizer", "BertNormalizer", what);
	require_component(c, "pre_tokenizer", "BertPreTokenizer", what);
	tc->clean_text = TfmJsonGetBool(norm, "clean_text", 1, what);
	tc->handle_chinese_chars = TfmJsonGetBool(norm, "handle_chinese_chars", 1, what);
	tc->lowercase = TfmJsonGetBool(norm, "lowercase", 1, what);
	tc->strip_accents = TfmJsonGetBool(norm, "strip_accents", -1, what);
	if (tc->strip_accents < 0)
		tc->strip_accents = tc->lowercase;
	tc->max_input_chars_per_word = TfmJsonGetInt(model, "max_input_chars_per_word", 100, 1, 1000000, what);
	s = TfmJsonGetString(model, "continuing_subword_prefix", "##", what);
	if (strlen(s) >= sizeof(tc->prefix))
		TfmTokMalformed(what, "continuing_subword_prefix is too long", WP_HINT);
	strcpy(tc->prefix, s);
	tc->unk_id = special_id(va, TfmJsonGetString(model, "unk_token", "[UNK]", what), -1);
	tc->pad_id = special_id(va, "[PAD]", 0);
	read_processor(tc, c, va, what);
	if (tc->unk_id < 0 || tc->cls_id < 0 || tc->sep_id < 0)
		TfmTokMalformed(what, "the vocabulary lacks the unknown, [CLS] or [SEP] token", WP_HINT);
}

/* build the flat vocabulary blob of a tokenizer.json */
void *
TfmVocabFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what)
{
	JsonbContainer *c = &tokenizer->root;
	JsonbContainer *model, *vocab;
	VocabArrays va, sa;
	TfmTokConfig tc;
	uint32	   *flags;
	const char *type;
	void	   *blob;
	int			rc;

	if (!JB_ROOT_IS_OBJECT(tokenizer))
		TfmTokMalformed(what, "the document is not a JSON object", WP_HINT);
	if (!TfmJsonGetObject(c, "model", &model))
		TfmTokMalformed(what, "model is missing", WP_HINT);
	type = TfmTokModelType(model);
	if (strcmp(type, "WordPiece") != 0)
		TfmTokUnsupported(what, psprintf("model type \"%s\" for a BERT or DistilBERT encoder", type), WP_HINT);
	if (!TfmJsonGetObject(model, "vocab", &vocab) || !JsonContainerIsObject(vocab))
		TfmTokMalformed(what, "model.vocab must be an object", WP_HINT);
	TfmTokReadVocab(&va, vocab, cfg->vocab, what, WP_HINT);
	read_added(&sa, &flags, c, cfg, what);
	read_settings(&tc, c, model, &va, what);
	*size = TfmVocabBlobSize(va.n, va.tok, va.len, sa.n, (const char *const *) sa.tok, sa.len);
	blob = palloc_extended(*size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rc = TfmVocabBuildEx(blob, &tc, va.n, va.tok, va.len, va.id, sa.n,
						 (const char *const *) sa.tok, sa.len, sa.id, flags);
	if (rc != 0)
		TfmTokMalformed(what, psprintf("the vocabulary is inconsistent (error %d: duplicate token or id)", rc), WP_HINT);
	return blob;
}
