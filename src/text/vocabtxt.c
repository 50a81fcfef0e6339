/*
 * vocabtxt.c: a WordPiece tokenizer from the files older BERT repositories ship instead of tokenizer.json:
 * vocab.txt (one token per line, id = line number), tokenizer_config.json (do_lower_case, strip_accents,
 * tokenize_chinese_chars, the special tokens, added_tokens_decoder) and special_tokens_map.json.
 *
 * The result is the tokenizer.json Hugging Face's converter (BertConverter) makes of them: BertNormalizer,
 * BertPreTokenizer, WordPiece with "##" and [UNK], TemplateProcessing [CLS] $A [SEP] / [CLS] $A [SEP] $B [SEP]
 * and the special tokens as added tokens, so that the catalog holds one form and tokjson.c reads it.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "vocabtxt.h"

/* the special tokens BertConverter adds, in its order, with BertTokenizer's defaults */
static const char *const special_keys[] = {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
static const char *const special_dflt[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};

#define NSPECIAL 5
#define MAX_VOCAB_LINES 2000000

/* a special token's content: a string, or an AddedToken object {"content": ...}; dflt when absent */
static char *
special_content(JsonbContainer *c, const char *key, char *dflt, const char *what)
{
	JsonbValue	v;

	if (c == NULL || !TfmJsonGet(c, key, &v) || v.type == jbvNull)
		return dflt;
	if (v.type == jbvString)
		return pnstrdup(v.val.string.val, v.val.string.len);
	if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
	{
		char	   *s = TfmJsonGetString(v.val.binary.data, "content", NULL, what);

		if (s != NULL)
			return s;
	}
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("%s: %s must be a string or an object with \"content\"", what, key)));
	return NULL;
}

/* the lines of vocab.txt as a JSON object {"token": line number, ...} appended to s; the line count */
static int
append_vocab(StringInfo s, const char *buf, uint64 size, char ***tokens, const char *what)
{
	int			n = 0, cap = 1024;
	uint64		i = 0;

	if (memchr(buf, '\0', size) != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("%s contains a NUL byte", what)));
	*tokens = palloc(sizeof(char *) * cap);
	appendStringInfoChar(s, '{');
	while (i < size)
	{
		const char *nl = memchr(buf + i, '\n', size - i);
		uint64		e = nl ? (uint64) (nl - buf) : size, len = e - i;

		/* Python's universal newlines: "\r\n" ends a line as "\n" does */
		if (len > 0 && buf[i + len - 1] == '\r')
			len--;
		if (len == 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: line %d is empty", what, n + 1),
							errhint("Each line of vocab.txt is one token; its line number (from 0) is its id.")));
		if (n >= MAX_VOCAB_LINES)
			ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							errmsg("%s has more than %d lines", what, MAX_VOCAB_LINES)));
		if (n == cap)
			*tokens = repalloc(*tokens, sizeof(char *) * (cap *= 2));
		(*tokens)[n] = pnstrdup(buf + i, len);
		if (n > 0)
			appendStringInfoString(s, ", ");
		escape_json(s, (*tokens)[n]);
		appendStringInfo(s, ": %d", n);
		n++;
		i = e + 1;
	}
	appendStringInfoChar(s, '}');
	if (n == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s is empty", what)));
	return n;
}

/* the line number of token s in vocab.txt, or an error naming the setting that names it */
static int
vocab_line(char **tokens, int n, const char *s, const char *key, const char *what)
{
	for (int i = 0; i < n; i++)
		if (strcmp(tokens[i], s) == 0)
			return i;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("%s: %s \"%s\" is not in vocab.txt", what, key, s)));
	return -1;
}

/* refuse tokenizer_config.json settings BertConverter's pipeline does not compute */
static void
check_config(JsonbContainer *c, const char *what)
{
	JsonbValue	v;
	char	   *cls = TfmJsonGetString(c, "tokenizer_class", NULL, what);

	if (cls != NULL && strcmp(cls, "BertTokenizer") != 0 && strcmp(cls, "BertTokenizerFast") != 0 &&
		strcmp(cls, "DistilBertTokenizer") != 0 && strcmp(cls, "DistilBertTokenizerFast") != 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: tokenizer_class \"%s\" is not supported without tokenizer.json", what, cls),
						errhint("pg_tfm reads vocab.txt as BertTokenizer does; give the model's tokenizer.json.")));
	if (!TfmJsonGetBool(c, "do_basic_tokenize", 1, what))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: do_basic_tokenize false is not supported", what)));
	if (TfmJsonGet(c, "never_split", &v) && v.type != jbvNull &&
		!(v.type == jbvBinary && JsonContainerSize(v.val.binary.data) == 0))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: never_split is not supported", what)));
}

/* append one added token {"id", "content", "special": true, ...} as BertConverter writes it */
static void
append_added(StringInfo s, bool first, int id, const char *content)
{
	appendStringInfo(s, "%s{\"id\": %d, \"content\": ", first ? "" : ", ", id);
	escape_json(s, content);
	appendStringInfoString(s, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
						   "\"normalized\": false, \"special\": true}");
}

/* the special_tokens entry of TemplateProcessing for token t (id id) */
static void
append_template_token(StringInfo s, const char *t, int id)
{
	escape_json(s, t);
	appendStringInfoString(s, ": {\"id\": ");
	escape_json(s, t);
	appendStringInfo(s, ", \"ids\": [%d], \"tokens\": [", id);
	escape_json(s, t);
	appendStringInfoString(s, "]}");
}

/* one {"SpecialToken": {"id": t, "type_id": k}} or {"Sequence": {"id": "A", "type_id": k}} item */
static void
append_item(StringInfo s, const char *kind, const char *t, int type_id, bool last)
{
	appendStringInfo(s, "{\"%s\": {\"id\": ", kind);
	escape_json(s, t);
	appendStringInfo(s, ", \"type_id\": %d}}%s", type_id, last ? "" : ", ");
}

/*
 * the tokenizer.json form of vocab.txt, tokenizer_config.json and special_tokens_map.json (either JSON may be
 * NULL: BertTokenizer's defaults); the whats name the files in messages
 */
Jsonb *
TfmWordPieceCatalogJson(const char *vocab, uint64 vsize, Jsonb *config, Jsonb *special_map,
						const char *vwhat, const char *cwhat)
{
	StringInfoData s, model;
	JsonbContainer *c = config && JB_ROOT_IS_OBJECT(config) ? &config->root : NULL;
	JsonbContainer *sm = special_map && JB_ROOT_IS_OBJECT(special_map) ? &special_map->root : NULL;
	JsonbContainer *dec;
	char	  **tokens, *sp[NSPECIAL];
	int			n, ids[NSPECIAL];
	bool		lower;
	JsonbValue	v;

	if (config && !c)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s is not a JSON object", cwhat)));
	if (c)
		check_config(c, cwhat);
	initStringInfo(&model);
	n = append_vocab(&model, vocab, vsize, &tokens, vwhat);
	/* special_tokens_map.json wins over tokenizer_config.json, as in transformers */
	for (int k = 0; k < NSPECIAL; k++)
	{
		sp[k] = special_content(sm, special_keys[k], special_content(c, special_keys[k], (char *) special_dflt[k], cwhat),
								"special_tokens_map.json");
		ids[k] = vocab_line(tokens, n, sp[k], special_keys[k], cwhat);
	}
	lower = c ? TfmJsonGetBool(c, "do_lower_case", 1, cwhat) : true;
	initStringInfo(&s);
	appendStringInfoString(&s, "{\"version\": \"1.0\", \"added_tokens\": [");
	/* the added tokens in id order: added_tokens_decoder (newer files) or the special tokens */
	if (c && TfmJsonGetObject(c, "added_tokens_decoder", &dec) && JsonContainerSize(dec) > 0)
	{
		JsonbIterator *it = JsonbIteratorInit(dec);
		JsonbIteratorToken tok;
		bool		first = true;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_KEY)
				key = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE)
			{
				char	   *content;
				int			line;

				if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data) ||
					(content = TfmJsonGetString(v.val.binary.data, "content", NULL, cwhat)) == NULL)
					ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
									errmsg("%s: added_tokens_decoder entry \"%s\" has no content", cwhat, key)));
				line = vocab_line(tokens, n, content, "added token", cwhat);
				if (strtol(key, NULL, 10) != line)
					ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
									errmsg("%s: added token \"%s\" has id %s, vocab.txt gives %d", cwhat, content, key, line)));
				append_added(&s, first, line, content);
				first = false;
			}
	}
	else
	{
		/* BertConverter's special tokens, each once, in id order */
		bool		first = true;

		for (int id = 0; id < n; id++)
			for (int k = 0; k < NSPECIAL; k++)
				if (ids[k] == id)
				{
					append_added(&s, first, id, sp[k]);
					first = false;
					break;
				}
	}
	appendStringInfo(&s, "], \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true, "
					 "\"handle_chinese_chars\": %s, \"strip_accents\": ",
					 c && !TfmJsonGetBool(c, "tokenize_chinese_chars", 1, cwhat) ? "false" : "true");
	if (c && TfmJsonGet(c, "strip_accents", &v) && v.type != jbvNull)
		appendStringInfoString(&s, TfmJsonGetBool(c, "strip_accents", 0, cwhat) ? "true" : "false");
	else
		appendStringInfoString(&s, "null");
	appendStringInfo(&s, ", \"lowercase\": %s}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, "
					 "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [", lower ? "true" : "false");
	append_item(&s, "SpecialToken", sp[3], 0, false);
	append_item(&s, "Sequence", "A", 0, false);
	append_item(&s, "SpecialToken", sp[1], 0, true);
	appendStringInfoString(&s, "], \"pair\": [");
	append_item(&s, "SpecialToken", sp[3], 0, false);
	append_item(&s, "Sequence", "A", 0, false);
	append_item(&s, "SpecialToken", sp[1], 0, false);
	append_item(&s, "Sequence", "B", 1, false);
	append_item(&s, "SpecialToken", sp[1], 1, true);
	appendStringInfoString(&s, "], \"special_tokens\": {");
	append_template_token(&s, sp[3], ids[3]);
	appendStringInfoString(&s, ", ");
	append_template_token(&s, sp[1], ids[1]);
	appendStringInfoString(&s, "}}, \"model\": {\"type\": \"WordPiece\", \"unk_token\": ");
	escape_json(&s, sp[0]);
	appendStringInfo(&s, ", \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100, \"vocab\": %s}}",
					 model.data);
	return TfmJsonParse(s.data, s.len, vwhat);
}
