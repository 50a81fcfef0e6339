/*
 * robjson.c: RoBERTa's byte-level BPE tokenizer (roberta.c on bpe.c's core) read from tokenizer.json or
 * from the catalog form of vocab.json + merges.txt; unsupported components refused with 0A000
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "bpe.h"
#include "jsonutil.h"
#include "model/encoder.h"
#include "model/gpt2model.h"
#include "roberta.h"
#include "text/tokenizer.h"
#include "text/tokjson.h"
#include "unigram.h"

#define ROB_HINT "RoBERTa models need a byte-level BPE tokenizer.json (ByteLevel pre-tokenizer, " \
	"RobertaProcessing or TemplateProcessing <s> $A </s>), or vocab.json and merges.txt."

/* string value of key, or NULL */
static char *
get_string(JsonbContainer *c, const char *key, const char *what)
{
	return TfmJsonGetString(c, key, NULL, what);
}

/* the id of ["<s>", 0] (RobertaProcessing's cls / sep) */
static int32
pair_id(JsonbContainer *pp, const char *key, const char *what)
{
	JsonbValue	v, *id;

	if (!TfmJsonGet(pp, key, &v) || v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data) ||
		JsonContainerSize(v.val.binary.data) != 2)
		TfmTokMalformed(what, psprintf("post_processor.%s must be [token, id]", key), NULL);
	id = getIthJsonbValueFromContainer(v.val.binary.data, 1);
	return TfmJsonNumericToInt(id, 0, INT32_MAX - 1, what, key);
}

/* the id of a TemplateProcessing SpecialToken item (its special_tokens entry's only id) */
static int32
template_id(JsonbContainer *pp, JsonbValue *item, const char *what)
{
	JsonbContainer *special, *tokens, *entry;
	JsonbValue	v;
	char	   *name;

	if (item->type != jbvBinary || !JsonContainerIsObject(item->val.binary.data) ||
		!TfmJsonGetObject(item->val.binary.data, "SpecialToken", &special))
		TfmTokUnsupported(what, "a TemplateProcessing template other than <s> $A </s>", ROB_HINT);
	name = get_string(special, "id", what);
	if (name == NULL || !TfmJsonGetObject(pp, "special_tokens", &tokens) ||
		!TfmJsonGetObject(tokens, name, &entry) || !TfmJsonGet(entry, "ids", &v) ||
		v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data) ||
		JsonContainerSize(v.val.binary.data) != 1)
		TfmTokMalformed(what, "a special token of the template has no single id in special_tokens", NULL);
	return TfmJsonNumericToInt(getIthJsonbValueFromContainer(v.val.binary.data, 0), 0, INT32_MAX - 1,
							   what, "special_tokens");
}

/* cls and sep ids of a RobertaProcessing or TemplateProcessing (<s> $A </s>) post-processor */
static bool
read_processor(JsonbContainer *pp, int32 *cls, int32 *sep, const char *what)
{
	char	   *type = get_string(pp, "type", what);
	JsonbValue	v;

	if (type && strcmp(type, "RobertaProcessing") == 0)
	{
		*cls = pair_id(pp, "cls", what);
		*sep = pair_id(pp, "sep", what);
		return true;
	}
	if (type && strcmp(type, "TemplateProcessing") == 0)
	{
		JsonbValue *a;

		if (!TfmJsonGet(pp, "single", &v) || v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data) ||
			JsonContainerSize(v.val.binary.data) != 3)
			TfmTokUnsupported(what, "a TemplateProcessing template other than <s> $A </s>", ROB_HINT);
		a = getIthJsonbValueFromContainer(v.val.binary.data, 1);
		if (a->type != jbvBinary || !JsonContainerIsObject(a->val.binary.data) ||
			!TfmJsonGet(a->val.binary.data, "Sequence", &v))
			TfmTokUnsupported(what, "a TemplateProcessing template other than <s> $A </s>", ROB_HINT);
		if (!TfmJsonGet(pp, "single", &v))
			TfmTokMalformed(what, "post_processor.single is missing", NULL);
		*cls = template_id(pp, getIthJsonbValueFromContainer(v.val.binary.data, 0), what);
		*sep = template_id(pp, getIthJsonbValueFromContainer(v.val.binary.data, 2), what);
		return true;
	}
	if (type && strcmp(type, "ByteLevel") == 0)
		return false;			/* offsets only */
	if (type && strcmp(type, "Sequence") == 0)
	{
		bool		found = false;

		if (!TfmJsonGet(pp, "processors", &v) || v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
			TfmTokMalformed(what, "post_processor.processors must be an array", NULL);
		for (int i = 0; i < (int) JsonContainerSize(v.val.binary.data); i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(v.val.binary.data, i);

			if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
				TfmTokMalformed(what, "post_processor.processors must hold objects", NULL);
			if (read_processor(e->val.binary.data, cls, sep, what))
			{
				if (found)
					TfmTokUnsupported(what, "two template post-processors", ROB_HINT);
				found = true;
			}
		}
		return found;
	}
	TfmTokUnsupported(what, psprintf("post_processor \"%s\"", type ? type : "(no type)"), ROB_HINT);
	return false;
}

/* the added_tokens array as TfmAddedToken entries (palloc'd); *n of them */
static TfmAddedToken *
read_added(JsonbContainer *root, int n_vocab, int *n, const char *what)
{
	JsonbValue	v;
	TfmAddedToken *out;

	*n = 0;
	if (!TfmJsonGet(root, "added_tokens", &v) || v.type == jbvNull)
		return NULL;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data) ||
		JsonContainerSize(v.val.binary.data) > TFM_ADDED_COUNT)
		TfmTokMalformed(what, psprintf("added_tokens must be an array of at most %d entries", TFM_ADDED_COUNT), NULL);
	out = palloc0(sizeof(TfmAddedToken) * (JsonContainerSize(v.val.binary.data) + 1));
	for (int i = 0; i < (int) JsonContainerSize(v.val.binary.data); i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v.val.binary.data, i);
		JsonbContainer *o;
		char	   *s;

		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			TfmTokMalformed(what, "added_tokens must hold objects", NULL);
		o = e->val.binary.data;
		s = get_string(o, "content", what);
		if (s == NULL || strlen(s) < 1 || strlen(s) > TFM_ADDED_MAX)
			TfmTokMalformed(what, psprintf("an added token's content must be 1 to %d bytes", TFM_ADDED_MAX), NULL);
		if (TfmJsonGetBool(o, "single_word", 0, what))
			TfmTokUnsupported(what, psprintf("added token \"%s\" with single_word", s), ROB_HINT);
		out[*n].s = s;
		out[*n].len = (int) strlen(s);
		out[*n].id = TfmJsonGetInt(o, "id", -1, 0, n_vocab - 1, what);
		out[*n].lstrip = TfmJsonGetBool(o, "lstrip", 0, what);
		out[*n].rstrip = TfmJsonGetBool(o, "rstrip", 0, what);
		(*n)++;
	}
	return out;
}

/* the id of token s in the catalog form's vocabulary */
static int32
vocab_id(JsonbContainer *vocab, const char *s, int n_vocab, const char *what)
{
	JsonbValue	v;

	if (!TfmJsonGet(vocab, s, &v))
		TfmTokMalformed(what, psprintf("the vocabulary lacks \"%s\"", s), NULL);
	return TfmJsonNumericToInt(&v, 0, n_vocab - 1, what, s);
}

/* RoBERTa's tokenizer blob from tokenizer.json, or from the catalog form of vocab.json + merges.txt */
void *
TfmRobertaFromJson(Jsonb *tokenizer, const TfmBertConfig *cfg, size_t *size, const char *what)
{
	JsonbContainer *root = &tokenizer->root, *model, *pre, *pp;
	JsonbValue	v;
	TfmAddedToken *added;
	int			nadded, rc;
	int32		cls = -1, sep = -1;
	bool		prefix = false;
	void	   *bpe, *blob;
	size_t		bsize;
	char	   *s;

	if (!JB_ROOT_IS_OBJECT(tokenizer))
		TfmTokMalformed(what, "the tokenizer is not a JSON object", NULL);
	s = get_string(root, "type", what);
	if (s && strcmp(s, "gpt2-bpe") == 0)
	{
		/* vocab.json + merges.txt: RobertaTokenizer's special tokens */
		static const char *const names[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
		JsonbContainer *vocab;

		if (!TfmJsonGetObject(root, "vocab", &vocab))
			TfmTokMalformed(what, "the vocabulary is missing", NULL);
		added = palloc0(sizeof(TfmAddedToken) * lengthof(names));
		nadded = 0;
		for (int i = 0; i < (int) lengthof(names); i++)
		{
			if (!TfmJsonGet(vocab, names[i], &v))
				continue;
			added[nadded] = (TfmAddedToken) {names[i], (int) strlen(names[i]),
				vocab_id(vocab, names[i], cfg->vocab, what), i == 4, 0};
			nadded++;
		}
		cls = vocab_id(vocab, "<s>", cfg->vocab, what);
		sep = vocab_id(vocab, "</s>", cfg->vocab, what);
		model = root;
	}
	else
	{
		if (!TfmJsonGetObject(root, "model", &model))
			TfmTokMalformed(what, "model is missing", NULL);
		/* roberta-base's file names no model type: BPE is what has vocab and merges (TfmTokModelType) */
		TfmBpeModelCheck(model, what, ROB_HINT, "RoBERTa");
		if (TfmJsonGet(root, "normalizer", &v) && v.type != jbvNull)
			TfmTokUnsupported(what, "a normalizer with RoBERTa's byte-level BPE", ROB_HINT);
		if (!TfmJsonGetObject(root, "pre_tokenizer", &pre) ||
			strcmp(TfmJsonGetString(pre, "type", "", what), "ByteLevel") != 0)
			TfmTokUnsupported(what, "a pre_tokenizer other than ByteLevel", ROB_HINT);
		if (!TfmJsonGetBool(pre, "use_regex", 1, what))
			TfmTokUnsupported(what, "ByteLevel use_regex false", ROB_HINT);
		prefix = TfmJsonGetBool(pre, "add_prefix_space", 0, what);
		/* trim_offsets changes offsets only, which pg_tfm does not return */
		if (!TfmJsonGetObject(root, "post_processor", &pp) || !read_processor(pp, &cls, &sep, what))
			TfmTokUnsupported(what, "a RoBERTa tokenizer without <s> ... </s> post-processor", ROB_HINT);
		if (cls >= cfg->vocab || sep >= cfg->vocab)
			TfmTokMalformed(what, "a special token id is outside the vocabulary of config.json", NULL);
		added = read_added(root, cfg->vocab, &nadded, what);
	}
	bpe = TfmBpeBlobFromModel(model, cfg->vocab, true, &bsize, what);
	*size = TfmRobertaBlobSize(nadded, added, bsize);
	if (*size == 0)
		TfmTokMalformed(what, "the tokenizer is too large", NULL);
	blob = palloc_extended(*size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	rc = TfmRobertaBuild(blob, *size, cls, sep, prefix, nadded, added, bpe, bsize);
	if (rc != 0)
		TfmTokMalformed(what, "the tokenizer is inconsistent", NULL);
	pfree(bpe);
	return blob;
}
