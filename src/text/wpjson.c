/* tokjson.c: tokenizer settings and vocabulary read from a Hugging Face tokenizer.json */
#include "postgres.h"

#include "utils/jsonb.h"

#include "jsonutil.h"
#include "model.h"
#include "wordpiece.h"

typedef struct VocabArrays
{
	int			n;
	const char **tok;
	int		   *len;
	int32	   *id;
} VocabArrays;

/* report an unsupported or malformed tokenizer.json */
static void
tok_error(const char *what, const char *problem)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("%s: %s", what, problem),
					errhint("pg_tfm reads WordPiece tokenizers with BertNormalizer and BertPreTokenizer.")));
}

/* collect the vocabulary object {"token": id, ...} */
static void
read_vocab(VocabArrays *va, JsonbContainer *vocab, const TfmBertConfig *cfg, const char *what)
{
	JsonbIterator *it = JsonbIteratorInit(vocab);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap = JsonContainerSize(vocab) + 1;

	va->tok = palloc(sizeof(char *) * cap);
	va->len = palloc(sizeof(int) * cap);
	va->id = palloc(sizeof(int32) * cap);
	va->n = 0;
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			va->tok[va->n] = v.val.string.val;
			va->len[va->n] = v.val.string.len;
		}
		else if (tok == WJB_VALUE)
			va->id[va->n++] = TfmJsonNumericToInt(&v, 0, cfg->vocab - 1, what, "model.vocab");
	}
	if (va->n == 0)
		tok_error(what, "model.vocab is empty");
}

/* collect added_tokens [{id, content}, ...] that are split out of raw text */
static void
read_added(VocabArrays *sa, JsonbContainer *c, const TfmBertConfig *cfg, const char *what)
{
	JsonbContainer *arr;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	sa->n = 0;
	sa->tok = NULL;
	sa->len = NULL;
	sa->id = NULL;
	if (!TfmJsonGetObject(c, "added_tokens", &arr))
		return;
	sa->tok = palloc(sizeof(char *) * (JsonContainerSize(arr) + 1));
	sa->len = palloc(sizeof(int) * (JsonContainerSize(arr) + 1));
	sa->id = palloc(sizeof(int32) * (JsonContainerSize(arr) + 1));
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			tok_error(what, "added_tokens entries must be objects");
		sa->tok[sa->n] = TfmJsonGetString(v.val.binary.data, "content", NULL, what);
		if (sa->tok[sa->n] == NULL || sa->tok[sa->n][0] == '\0')
			tok_error(what, "an added token has no content");
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

/* id of the first or last SpecialToken of a TemplateProcessing "single" template */
static char *
template_special(JsonbContainer *pp, bool last, const char *what)
{
	JsonbContainer *single, *item, *sp;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *found = NULL, *first = NULL;

	if (!TfmJsonGetObject(pp, "single", &single))
		tok_error(what, "post_processor.single is missing");
	it = JsonbIteratorInit(single);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM || v.type != jbvBinary)
			continue;
		item = v.val.binary.data;
		found = NULL;
		if (TfmJsonGetObject(item, "SpecialToken", &sp))
			found = TfmJsonGetString(sp, "id", NULL, what);
		if (first == NULL)
			first = found ? found : "";
	}
	return last ? found : (first && first[0] ? first : NULL);
}

/* fill tokenizer settings from normalizer, model and post_processor */
static void
read_settings(TfmTokConfig *tc, JsonbContainer *c, JsonbContainer *model, const VocabArrays *va, const char *what)
{
	JsonbContainer *norm, *pre, *pp;
	char	   *s;
	JsonbValue	v;

	memset(tc, 0, sizeof(*tc));
	if (!TfmJsonGetObject(c, "normalizer", &norm) ||
		strcmp(TfmJsonGetString(norm, "type", "", what), "BertNormalizer") != 0)
		tok_error(what, "normalizer must be BertNormalizer");
	if (!TfmJsonGetObject(c, "pre_tokenizer", &pre) ||
		strcmp(TfmJsonGetString(pre, "type", "", what), "BertPreTokenizer") != 0)
		tok_error(what, "pre_tokenizer must be BertPreTokenizer");
	tc->clean_text = TfmJsonGetBool(norm, "clean_text", 1, what);
	tc->handle_chinese_chars = TfmJsonGetBool(norm, "handle_chinese_chars", 1, what);
	tc->lowercase = TfmJsonGetBool(norm, "lowercase", 1, what);
	tc->strip_accents = TfmJsonGetBool(norm, "strip_accents", -1, what);
	if (tc->strip_accents < 0)
		tc->strip_accents = tc->lowercase;
	tc->max_input_chars_per_word = TfmJsonGetInt(model, "max_input_chars_per_word", 100, 1, 1000000, what);
	s = TfmJsonGetString(model, "continuing_subword_prefix", "##", what);
	if (strlen(s) >= sizeof(tc->prefix))
		tok_error(what, "continuing_subword_prefix is too long");
	strcpy(tc->prefix, s);
	tc->unk_id = special_id(va, TfmJsonGetString(model, "unk_token", "[UNK]", what), -1);
	tc->pad_id = special_id(va, "[PAD]", 0);
	tc->cls_id = special_id(va, "[CLS]", -1);
	tc->sep_id = special_id(va, "[SEP]", -1);
	if (TfmJsonGetObject(c, "post_processor", &pp) &&
		strcmp(TfmJsonGetString(pp, "type", "", what), "TemplateProcessing") == 0)
	{
		char	   *cls = template_special(pp, false, what);
		char	   *sep = template_special(pp, true, what);

		if (cls)
			tc->cls_id = special_id(va, cls, -1);
		if (sep)
			tc->sep_id = special_id(va, sep, -1);
	}
	if (tc->unk_id < 0 || tc->cls_id < 0 || tc->sep_id < 0)
		tok_error(what, "the vocabulary lacks the unknown, [CLS] or [SEP] token");
	(void) v;
}

/* build the flat vocabulary blob of a tokenizer.json */
void *
TfmVocabFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what)
{
	JsonbContainer *c = &tokenizer->root;
	JsonbContainer *model, *vocab;
	VocabArrays va, sa;
	TfmTokConfig tc;
	void	   *blob;
	int			rc;

	if (!JB_ROOT_IS_OBJECT(tokenizer))
		tok_error(what, "the document is not a JSON object");
	if (!TfmJsonGetObject(c, "model", &model) ||
		strcmp(TfmJsonGetString(model, "type", "", what), "WordPiece") != 0)
		tok_error(what, "model.type must be WordPiece");
	if (!TfmJsonGetObject(model, "vocab", &vocab) || !JsonContainerIsObject(vocab))
		tok_error(what, "model.vocab must be an object");
	read_vocab(&va, vocab, cfg, what);
	read_added(&sa, c, cfg, what);
	read_settings(&tc, c, model, &va, what);
	*size = TfmVocabBlobSize(va.n, va.tok, va.len, sa.n, (const char *const *) sa.tok, sa.len);
	blob = palloc_extended(*size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rc = TfmVocabBuild(blob, &tc, va.n, va.tok, va.len, va.id, sa.n,
					   (const char *const *) sa.tok, sa.len, sa.id);
	if (rc != 0)
		tok_error(what, psprintf("the vocabulary is inconsistent (error %d: duplicate token or id)", rc));
	return blob;
}
