/*
 * seqhead.c: *ForSequenceClassification checkpoints of BERT, DistilBERT, RoBERTa and XLM-R (issue 15).
 * At import: the task their config.json gives (labels from id2label in id order; problem_type; a
 * one-label cross-encoder), the pair template their tokenizer.json must have, and the head's two
 * dense layers as one head in head.h's MLP layout whose hidden layer is the family's tanh or ReLU
 * (head.c computes it).
 */
#include "postgres.h"

#include <math.h>

#include "utils/jsonb.h"

#include "jsonutil.h"
#include "kernels/ops.h"
#include "model/encoder.h"
#include "model/head.h"
#include "model/seqhead.h"

/* one family's sequence-classification head: its architectures entry and tensor names (hidden, then output layer) */
typedef struct SeqHeadArch
{
	const char *arch;
	int			family;			/* TFM_FAMILY_* */
	const char *tensor[4];		/* W1 (C,C), b1 (C), W2 (K,C), b2 (K) */
	TfmHeadAct	act;
} SeqHeadArch;

static const SeqHeadArch seq_arches[] = {
	{"BertForSequenceClassification", TFM_FAMILY_BERT,
	{"bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"}, TFM_HEAD_TANH},
	{"DistilBertForSequenceClassification", TFM_FAMILY_DISTILBERT,
	{"pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias"}, TFM_HEAD_RELU},
	{"RobertaForSequenceClassification", TFM_FAMILY_ROBERTA,
	{"classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias"}, TFM_HEAD_TANH},
	{"XLMRobertaForSequenceClassification", TFM_FAMILY_ROBERTA,
	{"classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight", "classifier.out_proj.bias"}, TFM_HEAD_TANH},
};

/* the sequence-classification head config.json's architectures names, NULL if none */
static const SeqHeadArch *
seq_arch(Jsonb *config)
{
	JsonbValue	v;

	if (!JB_ROOT_IS_OBJECT(config) || !TfmJsonGet(&config->root, "architectures", &v) ||
		v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		return NULL;
	for (int i = 0; i < (int) JsonContainerSize(v.val.binary.data); i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v.val.binary.data, i);

		for (int a = 0; e->type == jbvString && a < (int) lengthof(seq_arches); a++)
			if (e->val.string.len == (int) strlen(seq_arches[a].arch) &&
				memcmp(e->val.string.val, seq_arches[a].arch, e->val.string.len) == 0)
				return &seq_arches[a];
	}
	return NULL;
}

/* true if config.json's architectures name a sequence-classification checkpoint pg_tfm computes */
bool
TfmIsSeqClassification(Jsonb *config)
{
	return seq_arch(config) != NULL;
}

/* true if arch is the architecture name of a sequence-classification head pg_tfm computes */
bool
TfmIsSeqClassificationArch(const char *arch)
{
	for (int a = 0; a < (int) lengthof(seq_arches); a++)
		if (strcmp(arch, seq_arches[a].arch) == 0)
			return true;
	return false;
}

/* refuse import options that would change what the checkpoint's head reads (the raw first-token state) */
void
TfmSeqHeadCheckOptions(Jsonb *options)
{
	JsonbValue	v;

	if (!JB_ROOT_IS_OBJECT(options))
		return;					/* TfmOptionsFromJson refuses it */
	if ((TfmJsonGet(&options->root, "pooling", &v) && !(v.type == jbvString && v.val.string.len == 3 &&
														 memcmp(v.val.string.val, "cls", 3) == 0)) ||
		(TfmJsonGet(&options->root, "normalize", &v) && !(v.type == jbvBool && !v.val.boolean)))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a sequence-classification checkpoint pools with \"cls\" and does not normalize"),
						errhint("Its head reads the first token's hidden state: leave out the pooling and normalize options.")));
}

/* true if config.json carries sentence-transformers' cross-encoder settings */
bool
TfmIsCrossEncoder(JsonbContainer *c)
{
	JsonbValue	v;

	return (TfmJsonGet(c, "sbert_ce_default_activation_function", &v) && v.type != jbvNull) ||
		(TfmJsonGet(c, "sentence_transformers", &v) && v.type != jbvNull);
}

/* labels from id2label: keys "0".."K-1", distinct non-empty strings (no id2label: HF's two defaults) */
static char **
read_labels(JsonbContainer *c, int *K, const char *what)
{
	JsonbContainer *map;
	char	  **labels;
	int			n;

	if (!TfmJsonGetObject(c, "id2label", &map))
	{
		*K = (int) TfmJsonGetInt(c, "num_labels", 2, 1, TFM_MAX_LABELS, what);
		labels = palloc(sizeof(char *) * *K);
		for (int k = 0; k < *K; k++)
			labels[k] = psprintf("LABEL_%d", k);
		return labels;
	}
	n = JsonContainerSize(map);
	if (n < 1 || n > TFM_MAX_LABELS)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: id2label must have 1 to %d labels, it has %d", what, TFM_MAX_LABELS, n)));
	labels = palloc0(sizeof(char *) * n);
	for (int k = 0; k < n; k++)
	{
		char		key[16];

		snprintf(key, sizeof(key), "%d", k);
		labels[k] = TfmJsonGetString(map, key, NULL, what);
		if (labels[k] == NULL || labels[k][0] == '\0')
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s: id2label must map the ids 0 to %d to non-empty labels", what, n - 1),
							errdetail("Id %d has no label.", k)));
		for (int j = 0; j < k; j++)
			if (strcmp(labels[j], labels[k]) == 0)
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("%s: id2label gives label \"%s\" to ids %d and %d", what, labels[k], j, k)));
	}
	if (TfmJsonGetInt(c, "num_labels", n, 1, TFM_MAX_LABELS, what) != n)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: num_labels disagrees with id2label's %d labels", what, n)));
	*K = n;
	return labels;
}

/* the task: softmax or sigmoid classification, regression, or (one label, cross-encoder settings) reranking */
static void
read_task(TfmSeqHead *h, JsonbContainer *c, const char *what)
{
	char	   *pt = TfmJsonGetString(c, "problem_type", NULL, what);

	h->labels = read_labels(c, &h->K, what);
	h->multi_label = false;
	if (pt != NULL && strcmp(pt, "regression") == 0)
	{
		if (h->K != 1)
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: regression with %d outputs is not supported", what, h->K),
							errhint("pg_tfm imports regression checkpoints with one output (num_labels 1).")));
		h->task = "regression";
	}
	else if (pt != NULL && strcmp(pt, "multi_label_classification") == 0)
	{
		h->task = "classification";
		h->multi_label = true;
	}
	else if (pt != NULL && strcmp(pt, "single_label_classification") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: problem_type \"%s\" is unknown", what, pt),
						errhint("Hugging Face's problem types are regression, single_label_classification and multi_label_classification.")));
	else if (h->K == 1 && pt != NULL)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: single_label_classification with one label is not supported", what),
						errhint("A softmax over one label is always 1.")));
	else if (h->K == 1)
		/* Hugging Face computes a one-label head without problem_type as regression (MSE loss) */
		h->task = TfmIsCrossEncoder(c) ? "cross-encoder" : "regression";
	else
		h->task = "classification";
	if (strcmp(h->task, "classification") != 0)
		h->labels = NULL;
}

/* one item of a TemplateProcessing template: a special token's content or "$A"/"$B", and its type id */
static void
template_item(JsonbValue *e, char **id, int *type, const char *what)
{
	JsonbContainer *o;

	*id = NULL;
	*type = -1;
	if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
		return;
	if (TfmJsonGetObject(e->val.binary.data, "SpecialToken", &o))
		*id = TfmJsonGetString(o, "id", NULL, what);
	else if (TfmJsonGetObject(e->val.binary.data, "Sequence", &o))
		*id = psprintf("$%s", TfmJsonGetString(o, "id", "", what));
	else
		return;
	*type = (int) TfmJsonGetInt(o, "type_id", 0, 0, 255, what);
}

/*
 * refuse a tokenizer.json whose post-processor builds pairs otherwise than BERT's
 * [CLS] A [SEP] B [SEP] with token types 0 0 0 1 1 (what pg_tfm computes for BERT-family pairs)
 */
static void
check_bert_pair(Jsonb *tokenizer, const char *what)
{
	JsonbContainer *pp;
	JsonbValue	v;
	char	   *type;
	static const char *const want_id[5] = {NULL, "$A", NULL, "$B", NULL};
	static const int want_type[5] = {0, 0, 0, 1, 1};
	char	   *ids[5];
	int			n;

	if (!JB_ROOT_IS_OBJECT(tokenizer) || !TfmJsonGetObject(&tokenizer->root, "post_processor", &pp))
		return;					/* none: pg_tfm's BERT template */
	type = TfmJsonGetString(pp, "type", "", what);
	if (strcmp(type, "BertProcessing") == 0)
		return;
	if (strcmp(type, "TemplateProcessing") != 0 || !TfmJsonGet(pp, "pair", &v) || v.type != jbvBinary ||
		!JsonContainerIsArray(v.val.binary.data))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: post_processor %s has no pair template pg_tfm computes", what, type),
						errhint("pg_tfm builds pairs as [CLS] A [SEP] B [SEP] (TemplateProcessing or BertProcessing).")));
	n = JsonContainerSize(v.val.binary.data);
	for (int i = 0; i < n && i < 5; i++)
	{
		int			t;

		template_item(getIthJsonbValueFromContainer(v.val.binary.data, i), &ids[i], &t, what);
		if (ids[i] == NULL || t != want_type[i] ||
			(want_id[i] ? strcmp(ids[i], want_id[i]) != 0 : ids[i][0] == '$'))
			n = -1;
	}
	if (n != 5 || strcmp(ids[2], ids[4]) != 0)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: the post_processor's pair template is not BERT's", what),
						errhint("pg_tfm builds pairs as [CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1.")));
}

/*
 * true if post-processor pp (or one in a Sequence of them) builds RoBERTa's pair <s> A </s> </s> B </s>:
 * RobertaProcessing, or a TemplateProcessing pair of that shape (token types are not read: RoBERTa's
 * tokenizers return none to the model); a ByteLevel post-processor alone does not count
 */
static bool
roberta_pair(JsonbContainer *pp, const char *what)
{
	char	   *type = TfmJsonGetString(pp, "type", "", what);
	static const char *const want_id[6] = {NULL, "$A", NULL, NULL, "$B", NULL};
	char	   *ids[6];
	JsonbValue	v;
	int			n;
	bool		found = false;

	if (strcmp(type, "RobertaProcessing") == 0)
		return true;
	if (strcmp(type, "Sequence") == 0 && TfmJsonGet(pp, "processors", &v) && v.type == jbvBinary &&
		JsonContainerIsArray(v.val.binary.data))
	{
		for (int i = 0; i < (int) JsonContainerSize(v.val.binary.data); i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(v.val.binary.data, i);

			if (e->type == jbvBinary && JsonContainerIsObject(e->val.binary.data))
				found |= roberta_pair(e->val.binary.data, what);
		}
		return found;
	}
	if (strcmp(type, "TemplateProcessing") != 0 || !TfmJsonGet(pp, "pair", &v) || v.type != jbvBinary ||
		!JsonContainerIsArray(v.val.binary.data) || JsonContainerSize(v.val.binary.data) != 6)
		return false;
	n = JsonContainerSize(v.val.binary.data);
	for (int i = 0; i < n; i++)
	{
		int			t;

		template_item(getIthJsonbValueFromContainer(v.val.binary.data, i), &ids[i], &t, what);
		if (ids[i] == NULL || (want_id[i] ? strcmp(ids[i], want_id[i]) != 0 : ids[i][0] == '$'))
			return false;
	}
	/* pg_tfm's <s> and </s> are the single template's (text/robjson.c): the pair must repeat them */
	return strcmp(ids[2], ids[3]) == 0 && strcmp(ids[2], ids[5]) == 0;
}

/* refuse a tokenizer.json whose pairs are not the family's template pg_tfm builds (rerank.c) */
static void
check_pair_template(Jsonb *tokenizer, int family, const char *what)
{
	JsonbContainer *pp;

	if (family != TFM_FAMILY_ROBERTA)
	{
		check_bert_pair(tokenizer, what);
		return;
	}
	/* catalog form of vocab.json + merges.txt: RobertaTokenizer's own template */
	if (JB_ROOT_IS_OBJECT(tokenizer) && strcmp(TfmJsonGetString(&tokenizer->root, "type", "", what), "gpt2-bpe") == 0)
		return;
	if (!JB_ROOT_IS_OBJECT(tokenizer) || !TfmJsonGetObject(&tokenizer->root, "post_processor", &pp) ||
		!roberta_pair(pp, what))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: the post_processor's pair template is not RoBERTa's", what),
						errhint("pg_tfm builds RoBERTa pairs as <s> A </s> </s> B </s> (RobertaProcessing or TemplateProcessing).")));
}

/* the tensor name (with or without the family's task prefix), checked against its expected shape (rows 0: 1-d) */
static TfmTensorInfo *
head_tensor(TfmSafetensors *st, const SeqHeadArch *a, int i, int64 rows, int64 cols)
{
	const char *name = a->tensor[i];
	TfmTensorInfo *t = TfmSafetensorsFind(st, name);

	if (t == NULL && strncmp(name, "bert.", 5) == 0)
		t = TfmSafetensorsFind(st, name + 5);
	if (t == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: tensor \"%s\" is missing", st->what, name),
						errhint("A %s checkpoint has %s, %s, %s and %s.", a->arch, a->tensor[0], a->tensor[1],
								a->tensor[2], a->tensor[3])));
	if (t->dtype != TFM_DT_F32 && t->dtype != TFM_DT_F16 && t->dtype != TFM_DT_BF16)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: tensor \"%s\" has dtype %s", st->what, t->name, t->dtype_name),
						errhint("Weights must be F32, F16 or BF16.")));
	if (rows ? (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols) : (t->ndim != 1 || t->shape[0] != cols))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: tensor \"%s\" has a shape that disagrees with config.json", st->what, t->name),
						errdetail("Expected [" INT64_FORMAT "%s%s] (hidden_size and the number of labels).",
								  rows ? rows : cols, rows ? ", " : "", rows ? psprintf(INT64_FORMAT, cols) : "")));
	return t;
}

/*
 * what a sequence-classification checkpoint is (from config.json), and its head from the weights: the
 * hidden dense layer W (C,C), b (C) and the output layer W (K,C), b (K) in head.h's MLP layout (22023 for
 * a missing tensor or a shape that disagrees with hidden_size and the labels; non-finite weights are
 * refused as the encoder's)
 */
void
TfmSeqHeadRead(TfmSeqHead *h, Jsonb *config, Jsonb *tokenizer, TfmSafetensors *st, const char *buf,
			   const TfmBertConfig *cfg, const char *const *what)
{
	int			C = cfg->hidden;
	const SeqHeadArch *a = seq_arch(config);
	TfmTensorInfo *t[4];
	float	   *p;

	if (a == NULL || a->family != cfg->family)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: architecture %s does not fit model_type", what[0], a ? a->arch : "(none)")));
	read_task(h, &config->root, what[0]);
	if (strcmp(h->task, "cross-encoder") == 0 && cfg->family == TFM_FAMILY_BERT && cfg->type_vocab < 2)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: a cross-encoder with type_vocab_size %d is not supported", what[0], cfg->type_vocab),
						errhint("BERT marks the second text of a pair with token type 1.")));
	check_pair_template(tokenizer, cfg->family, what[1]);
	h->act = a->act;
	t[0] = head_tensor(st, a, 0, C, C);
	t[1] = head_tensor(st, a, 1, 0, C);
	t[2] = head_tensor(st, a, 2, h->K, C);
	t[3] = head_tensor(st, a, 3, 0, h->K);
	TfmSafetensorsCheckFinite(st, t, 4, buf);
	h->nfloats = TfmHeadParams(C, C, h->K);
	h->head = p = palloc_extended(sizeof(float) * h->nfloats, MCXT_ALLOC_HUGE);
	for (int i = 0; i < 4; i++)
	{
		TfmSafetensorsToFloat(p, st, t[i], buf);
		p += t[i]->nelem;
	}
}

/* the catalog options of an imported checkpoint with a head: CLS pooling, no normalisation, the head's shape */
Jsonb *
TfmSeqHeadOptions(const TfmSeqHead *h, int max_tokens, int hidden, int precision)
{
	/* the encoder's precision (its cache file's layout); the head stays fp32 */
	char	   *s = psprintf("{\"max_tokens\": %d, \"pooling\": \"cls\", \"normalize\": false, \"head_hidden\": %d, "
							 "\"head_activation\": \"%s\", \"multi_label\": %s%s}",
							 max_tokens, hidden, TfmHeadActName(h->act),
							 h->multi_label ? "true" : "false",
							 precision == TFM_PRECISION_FP32 ? "" :
							 psprintf(", \"precision\": \"%s\"", TfmPrecisionName(precision)));

	return TfmJsonParse(s, strlen(s), "options");
}

/* the logistic function of each of n values, in place (multi-label probabilities) */
void
TfmSigmoidRows(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] = x[i] >= 0 ? 1.0f / (1.0f + expf(-x[i])) : expf(x[i]) / (1.0f + expf(x[i]));
}
