/*
 * stconfig.c: what a model directory says it is, read before its weights.
 *
 * TfmCheckKind refuses, from config.json alone, a checkpoint pg_tfm would otherwise import as something
 * it is not (a head other than the *ForSequenceClassification heads seqhead.c computes, a cross-encoder of
 * another architecture, an unknown family, activation or position type).
 * TfmStOptions reads the sentence-transformers files of a directory (modules.json, the Pooling module's
 * config.json, sentence_bert_config.json, config_sentence_transformers.json) into default import options
 * (pooling, normalize, max_tokens; prefixes and default_prefix from "prompts" and "default_prompt_name")
 * that the caller's explicit options override.
 */
#include "postgres.h"

#include <limits.h>

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "model/encoder.h"
#include "model/prefix.h"
#include "model/seqhead.h"
#include "store/stconfig.h"

#define KIND_HINT "pg_tfm imports model_type \"bert\", \"distilbert\", \"roberta\" and \"xlm-roberta\" encoders " \
	"(*Model, *ForMaskedLM, BertForPreTraining: used as embedding models, their heads unused; " \
	"*ForSequenceClassification: classifiers, regressors and cross-encoders) and model_type \"gpt2\" (GPT2LMHeadModel); " \
	"token-classification, question-answering and other heads are not computed."

/* encoder checkpoints pg_tfm computes (pretraining heads unused; *ForSequenceClassification heads: seqhead.c) */
static const char *const bert_archs[] = {"BertModel", "BertForMaskedLM", "BertForPreTraining",
	"BertForSequenceClassification", NULL};
static const char *const distilbert_archs[] = {"DistilBertModel", "DistilBertForMaskedLM",
	"DistilBertForSequenceClassification", NULL};
static const char *const roberta_archs[] = {"RobertaModel", "RobertaForMaskedLM", "RobertaForSequenceClassification", NULL};
static const char *const xlmr_archs[] = {"XLMRobertaModel", "XLMRobertaForMaskedLM",
	"XLMRobertaForSequenceClassification", NULL};
static const char *const gpt2_archs[] = {"GPT2LMHeadModel", "GPT2Model", NULL};

/* true if s is one of the NULL-terminated list */
static bool
in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* true if s ends with suffix */
static bool
ends_with(const char *s, const char *suffix)
{
	size_t		n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* what an architecture name's head computes, for messages */
static const char *
head_of(const char *arch)
{
	static const char *const suffix[][2] = {
		{"ForSequenceClassification", "a sequence-classification head"},
		{"ForTokenClassification", "a token-classification head"},
		{"ForQuestionAnswering", "a question-answering head"},
		{"ForMultipleChoice", "a multiple-choice head"},
		{"ForNextSentencePrediction", "a next-sentence-prediction head"},
		{"ForCausalLM", "a causal language-model head"},
		{"LMHeadModel", "a causal language-model head"}};

	for (int i = 0; i < (int) lengthof(suffix); i++)
		if (ends_with(arch, suffix[i][0]))
			return suffix[i][1];
	return "an architecture pg_tfm does not know";
}

/* refuse an architectures entry that is not in ok; cross marks a cross-encoder (a *ForSequenceClassification head only) */
static void
check_architectures(JsonbContainer *c, const char *const *ok, bool cross, const char *what)
{
	JsonbValue	v;
	int			n;

	if (!TfmJsonGet(c, "architectures", &v) || v.type == jbvNull)
	{
		if (cross)
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: a cross-encoder is not supported", what),
							errhint(KIND_HINT)));
		return;
	}
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: \"architectures\" must be an array of strings", what)));
	n = JsonContainerSize(v.val.binary.data);
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v.val.binary.data, i);
		char	   *arch;

		if (e->type != jbvString)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: \"architectures\" must be an array of strings", what)));
		arch = pnstrdup(e->val.string.val, e->val.string.len);
		if (cross && !TfmIsSeqClassificationArch(arch))
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: a cross-encoder (architecture \"%s\") is not supported", what, arch),
							errdetail("Importing it as an embedding model would drop its classifier and pair input."),
							errhint(KIND_HINT)));
		if (!in_list(arch, ok))
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: architecture \"%s\" (%s) is not supported", what, arch, head_of(arch)),
							errhint(KIND_HINT)));
	}
	if (cross && n == 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: a cross-encoder is not supported", what),
						errhint(KIND_HINT)));
}

/*
 * refuse from config.json alone a model pg_tfm cannot compute as what it is: unknown model_type, a head or
 * cross-encoder checkpoint, a decoder BERT, an activation or position type the kernels do not compute
 */
void
TfmCheckKind(Jsonb *config, const char *what)
{
	JsonbContainer *c = &config->root;
	char	   *type, *act, *pos;
	int			fam;
	const char *act_key;

	if (!JB_ROOT_IS_OBJECT(config))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s is not a JSON object", what)));
	type = TfmJsonGetString(c, "model_type", NULL, what);
	if (type != NULL && strcmp(type, "gpt2") == 0)
	{
		/* GPT-2's own settings are checked by TfmGpt2InfoFromJson */
		check_architectures(c, gpt2_archs, false, what);
		return;
	}
	fam = type ? TfmBertFamily(type) : -1;
	if (fam < 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: model_type \"%s\" is not supported", what, type ? type : "(missing)"),
						errhint(KIND_HINT)));
	check_architectures(c, fam == TFM_FAMILY_DISTILBERT ? distilbert_archs :
						strcmp(type, "xlm-roberta") == 0 ? xlmr_archs :
						fam == TFM_FAMILY_ROBERTA ? roberta_archs : bert_archs,
						TfmIsCrossEncoder(c), what);
	if (TfmJsonGetBool(c, "is_decoder", 0, what) || TfmJsonGetBool(c, "add_cross_attention", 0, what))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: a %s decoder (is_decoder or add_cross_attention) is not supported", what,
							   strcmp(type, "bert") == 0 ? "BERT" : type),
						errhint("pg_tfm computes %s as a bidirectional encoder.", type)));
	act_key = fam == TFM_FAMILY_DISTILBERT ? "activation" : "hidden_act";
	act = TfmJsonGetString(c, act_key, "gelu", what);
	if (strcmp(act, "gelu") != 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: %s \"%s\" is not supported", what,
							   act_key, act),
						errhint("pg_tfm's encoders compute \"gelu\" (the exact erf form) only.")));
	pos = TfmJsonGetString(c, "position_embedding_type", "absolute", what);
	if (strcmp(pos, "absolute") != 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: position_embedding_type \"%s\" is not supported", what, pos),
						errhint("pg_tfm's encoders compute position_embedding_type \"absolute\" only.")));
}

/* a sentence-transformers module's folder: one path component of safe characters ("" for the root) */
static const char *
module_path(const char *path, const char *what)
{
	size_t		n = strlen(path);

	if (strcmp(path, ".") == 0 || strcmp(path, "./") == 0)
		return "";
	if (n > 255 || strcmp(path, "..") == 0 ||
		strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: module path \"%s\" is not a folder of the model directory", what, path)));
	return path;
}

/* kinds of sentence-transformers modules pg_tfm computes */
enum
{
	MOD_OTHER, MOD_TRANSFORMER, MOD_POOLING, MOD_NORMALIZE
};

/* the kind of a module type such as "sentence_transformers.models.Pooling" */
static int
module_kind(const char *type)
{
	const char *last = strrchr(type, '.');

	if (strncmp(type, "sentence_transformers.", 22) != 0 || last == NULL)
		return MOD_OTHER;
	last++;
	if (strcmp(last, "Transformer") == 0)
		return MOD_TRANSFORMER;
	if (strcmp(last, "Pooling") == 0)
		return MOD_POOLING;
	if (strcmp(last, "Normalize") == 0)
		return MOD_NORMALIZE;
	return MOD_OTHER;
}

/* modules.json: the Pooling module's folder (NULL if none) and whether Normalize follows it */
static const char *
read_modules(Jsonb *mods, bool *normalize, const char *what)
{
	int			n, expect = MOD_TRANSFORMER;
	const char *pooling = NULL;

	if (!JB_ROOT_IS_ARRAY(mods) || JB_ROOT_IS_SCALAR(mods))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s is not a JSON array", what)));
	n = JsonContainerSize(&mods->root);
	*normalize = false;
	for (int i = 0; i < n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(&mods->root, i);
		char	   *type, *path;
		int			kind;

		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: module %d is not a JSON object", what, i)));
		type = TfmJsonGetString(e->val.binary.data, "type", NULL, what);
		path = TfmJsonGetString(e->val.binary.data, "path", "", what);
		if (type == NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: module %d has no \"type\"", what, i)));
		kind = module_kind(type);
		if (kind == MOD_OTHER || kind < expect || (kind == MOD_TRANSFORMER && i > 0))
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: module %d (%s, path \"%s\") is not supported", what, i, type, path),
							errhint("pg_tfm computes sentence-transformers models made of a Transformer, a Pooling and "
									"optionally a Normalize module, in that order; Dense and other modules are not "
									"computed, and leaving them out would give other vectors.")));
		if (kind == MOD_TRANSFORMER && module_path(path, what)[0] != '\0')
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: the Transformer module is in folder \"%s\", not in the model directory", what, path),
							errhint("pg_tfm reads the transformer's config.json, tokenizer and weights from the directory itself.")));
		if (kind == MOD_POOLING)
			pooling = module_path(path, what);
		if (kind == MOD_NORMALIZE)
			*normalize = true;
		expect = kind + 1;
	}
	if (expect <= MOD_TRANSFORMER)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s has no Transformer module", what)));
	if (pooling == NULL)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s has no Pooling module", what),
						errhint("Without one the model gives token embeddings, not one vector per text.")));
	return pooling;
}

/* the Pooling module's config.json: pg_tfm's pooling name (old boolean form or the "pooling_mode" string) */
static const char *
read_pooling(Jsonb *pc, int hidden, const char *what)
{
	/* sentence-transformers' flags and their defaults (mean is on unless a file says otherwise) */
	static const struct
	{
		const char *key;
		const char *mode;
		int			dflt;
	}			flags[] = {
		{"pooling_mode_cls_token", "cls", 0},
		{"pooling_mode_mean_tokens", "mean", 1},
		{"pooling_mode_max_tokens", "max", 0},
		{"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens", 0},
		{"pooling_mode_weightedmean_tokens", "weightedmean", 0},
		{"pooling_mode_lasttoken", "lasttoken", 0}};
	JsonbContainer *c = &pc->root;
	char	   *mode;
	StringInfoData on;
	int			count = 0;
	const char *found = NULL;

	if (!JB_ROOT_IS_OBJECT(pc))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s is not a JSON object", what)));
	if (TfmJsonGetInt(c, "word_embedding_dimension", hidden, 1, INT_MAX, what) != hidden)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: word_embedding_dimension disagrees with config.json's hidden_size %d", what, hidden)));
	mode = TfmJsonGetString(c, "pooling_mode", NULL, what);
	initStringInfo(&on);
	for (int i = 0; i < (int) lengthof(flags); i++)
		if (mode ? pg_strcasecmp(mode, flags[i].mode) == 0 : TfmJsonGetBool(c, flags[i].key, flags[i].dflt, what))
		{
			appendStringInfo(&on, "%s%s", count ? "+" : "", flags[i].mode);
			found = flags[i].mode;
			count++;
		}
	if (count == 0)
		ereport(ERROR, (errcode(mode ? ERRCODE_FEATURE_NOT_SUPPORTED : ERRCODE_INVALID_PARAMETER_VALUE),
						mode ? errmsg("%s: pooling_mode \"%s\" is not supported", what, mode) :
						errmsg("%s: no pooling mode is set", what)));
	if (count > 1 || strcmp(found, "weightedmean") == 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: pooling \"%s\" is not supported", what, on.data),
						errhint("pg_tfm pools with one of cls, mean, max, mean_sqrt_len_tokens, lasttoken; "
								"concatenated modes and weightedmean are not computed.")));
	return found;
}

/* true if tokenizer.json's normalizer lowercases (BertNormalizer "lowercase") */
static bool
tokenizer_lowercases(Jsonb *tokenizer)
{
	JsonbContainer *norm;
	JsonbValue	v;

	return JB_ROOT_IS_OBJECT(tokenizer) && TfmJsonGetObject(&tokenizer->root, "normalizer", &norm) &&
		TfmJsonGet(norm, "lowercase", &v) && v.type == jbvBool && v.val.boolean;
}

/*
 * config_sentence_transformers.json's "prompts" and "default_prompt_name" as import options text
 * (", \"prefixes\": {...}, \"default_prefix\": ..."), NULL without prompts; prefix.c checks them
 */
static char *
read_prompts(Jsonb *j, const char *what)
{
	JsonbValue	p, d;
	bool		has_p = TfmJsonGet(&j->root, "prompts", &p) && p.type != jbvNull,
				has_d = TfmJsonGet(&j->root, "default_prompt_name", &d) && d.type != jbvNull;
	StringInfoData s;

	if (has_p && p.type == jbvBinary && JsonContainerIsObject(p.val.binary.data) &&
		JsonContainerSize(p.val.binary.data) == 0)
		has_p = false;			/* "prompts": {} as sentence-transformers writes it */
	if (!has_p && !has_d)
		return NULL;
	if (!has_p)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: default_prompt_name names a prompt but there are no prompts", what)));
	if (p.type != jbvBinary || !JsonContainerIsObject(p.val.binary.data))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: prompts must be a JSON object of names to strings", what)));
	initStringInfo(&s);
	appendStringInfo(&s, ", \"prefixes\": %s", JsonbToCString(NULL, p.val.binary.data, -1));
	if (has_d && d.type != jbvString)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: default_prompt_name must be a string", what)));
	if (has_d)
	{
		appendStringInfoString(&s, ", \"default_prefix\": ");
		escape_json(&s, pnstrdup(d.val.string.val, d.val.string.len));
	}
	/* checked here too, so that a bad file is named */
	(void) TfmPrefixOptions(TfmJsonParse(psprintf("{%s}", s.data + 2), s.len, "options"), what);
	return s.data;
}

/* true if the caller's import options give prefixes or default_prefix (then the files' prompts are not read) */
static bool
user_prefixes(Jsonb *options)
{
	JsonbValue	v;

	return TfmJsonGet(&options->root, "prefixes", &v) || TfmJsonGet(&options->root, "default_prefix", &v);
}

/* parse a file of the model directory as JSON */
static Jsonb *
read_json(const char *dir, const char *file, TfmReadDirFile readf, const char **whatp)
{
	uint64		size;
	char	   *buf = readf(dir, file, &size, NULL);
	const char *what = psprintf("file \"%s/%s\"", dir, file);
	Jsonb	   *j = TfmJsonParse(buf, size, what);

	pfree(buf);
	*whatp = what;
	return j;
}

/*
 * default options from the sentence-transformers files of dir, overridden by the caller's options
 * (returned as they are when dir has no modules.json: pg_tfm's own defaults apply)
 */
Jsonb *
TfmStOptions(const char *dir, Jsonb *config, Jsonb *tokenizer, Jsonb *options,
			 TfmReadDirFile readf, TfmDirFileExists exists)
{
	const char *what;
	Jsonb	   *j;
	const char *pool_dir, *pooling;
	bool		normalize;
	int			hidden, max_pos, max_tokens = -1;
	char	   *s, *prompts = NULL;
	TfmBertConfig cfg;

	if (!exists(dir, "modules.json"))
		return options;
	what = psprintf("file \"%s/config.json\"", dir);
	/* the family's own keys (DistilBERT: dim); RoBERTa's positions leave fewer tokens than the table */
	TfmBertConfigFromJson(&cfg, config, what);
	hidden = cfg.hidden;
	max_pos = TfmBertMaxTokens(&cfg);
	if (exists(dir, "config_sentence_transformers.json"))
	{
		char	   *type;

		j = read_json(dir, "config_sentence_transformers.json", readf, &what);
		if (!JB_ROOT_IS_OBJECT(j))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s is not a JSON object", what)));
		type = TfmJsonGetString(&j->root, "model_type", "SentenceTransformer", what);
		if (strcmp(type, "SentenceTransformer") != 0)
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: model_type \"%s\" is not supported", what, type),
							errhint("pg_tfm imports sentence-transformers' SentenceTransformer models only.")));
		prompts = read_prompts(j, what);
	}
	j = read_json(dir, "modules.json", readf, &what);
	pool_dir = read_modules(j, &normalize, what);
	j = read_json(dir, psprintf("%s%sconfig.json", pool_dir, pool_dir[0] ? "/" : ""), readf, &what);
	pooling = read_pooling(j, hidden, what);
	if (exists(dir, "sentence_bert_config.json"))
	{
		JsonbValue	v;

		j = read_json(dir, "sentence_bert_config.json", readf, &what);
		if (!JB_ROOT_IS_OBJECT(j))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s is not a JSON object", what)));
		/* sentence-transformers truncates to max_seq_length; the position table bounds it too */
		if (TfmJsonGet(&j->root, "max_seq_length", &v) && v.type != jbvNull)
			max_tokens = TfmJsonGetInt(&j->root, "max_seq_length", -1, 2, INT_MAX, what);
		if (max_tokens > max_pos)
			max_tokens = max_pos;
		/* do_lower_case lowercases texts before the tokenizer: the same when the tokenizer lowercases */
		if (TfmJsonGetBool(&j->root, "do_lower_case", 0, what) && !tokenizer_lowercases(tokenizer))
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: do_lower_case with a tokenizer that keeps case is not supported", what),
							errhint("pg_tfm does not lowercase texts before tokenizing.")));
	}
	if (!JB_ROOT_IS_OBJECT(options))
		return options;			/* TfmOptionsFromJson refuses it */
	s = psprintf("{\"pooling\": \"%s\", \"normalize\": %s%s%s}", pooling, normalize ? "true" : "false",
				 max_tokens > 0 ? psprintf(", \"max_tokens\": %d", max_tokens) : "",
				 prompts && !user_prefixes(options) ? prompts : "");
	/* defaults || options: the caller's keys win */
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(TfmJsonParse(s, strlen(s), "options")),
											  JsonbPGetDatum(options)));
}
