/*
 * seqhead.c: BertForSequenceClassification checkpoints (issue 15). At import: the task their
 * config.json gives (labels from id2label in id order; problem_type; a one-label cross-encoder), the
 * pair template their tokenizer.json must have, and the pooler + classifier tensors as one head in
 * head.h's MLP layout whose hidden layer is tanh instead of GELU. At run time: that head's forward.
 */
#include "postgres.h"

#include <math.h>

#include "utils/jsonb.h"

#include "head.h"
#include "jsonutil.h"
#include "metrics.h"
#include "ops.h"
#include "seqhead.h"

/* true if config.json's architectures name a BERT sequence-classification checkpoint */
bool
TfmIsSeqClassification(Jsonb *config)
{
	JsonbValue	v;

	if (!JB_ROOT_IS_OBJECT(config) || !TfmJsonGet(&config->root, "architectures", &v) ||
		v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		return false;
	for (int i = 0; i < (int) JsonContainerSize(v.val.binary.data); i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(v.val.binary.data, i);

		if (e->type == jbvString && e->val.string.len == 29 &&
			memcmp(e->val.string.val, "BertForSequenceClassification", 29) == 0)
			return true;
	}
	return false;
}

/* refuse import options that would change what the checkpoint's head reads (the raw [CLS] state) */
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
						errhint("Its head reads the [CLS] token's hidden state: leave out the pooling and normalize options.")));
	if (TfmJsonGet(&options->root, "precision", &v) &&
		!(v.type == jbvString && v.val.string.len == 4 && memcmp(v.val.string.val, "fp32", 4) == 0))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("sequence-classification checkpoints run in fp32 only"),
						errhint("Leave out the precision option (bf16 and int8 are for embedding models).")));
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
 * [CLS] A [SEP] B [SEP] with token types 0 0 0 1 1 (what pg_tfm computes for pairs)
 */
static void
check_pair_template(Jsonb *tokenizer, const char *what)
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

/* the tensor name (with or without "bert."), checked against its expected shape (rows 0: 1-d) */
static TfmTensorInfo *
head_tensor(TfmSafetensors *st, const char *name, int64 rows, int64 cols)
{
	TfmTensorInfo *t = TfmSafetensorsFind(st, name);

	if (t == NULL && strncmp(name, "bert.", 5) == 0)
		t = TfmSafetensorsFind(st, name + 5);
	if (t == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s: tensor \"%s\" is missing", st->what, name),
						errhint("A BertForSequenceClassification checkpoint has bert.pooler.dense and classifier tensors.")));
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
 * what a BertForSequenceClassification checkpoint is (from config.json), and its head from the weights:
 * pooler W (C,C), b (C), classifier W (K,C), b (K) in head.h's MLP layout (22023 for a missing tensor or
 * a shape that disagrees with hidden_size and the labels; non-finite weights are refused as the encoder's)
 */
void
TfmSeqHeadRead(TfmSeqHead *h, Jsonb *config, Jsonb *tokenizer, TfmSafetensors *st, const char *buf,
			   const TfmBertConfig *cfg, const char *const *what)
{
	int			C = cfg->hidden;
	TfmTensorInfo *t[4];
	float	   *p;

	read_task(h, &config->root, what[0]);
	if (strcmp(h->task, "cross-encoder") == 0 && cfg->type_vocab < 2)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: a cross-encoder with type_vocab_size %d is not supported", what[0], cfg->type_vocab),
						errhint("BERT marks the second text of a pair with token type 1.")));
	check_pair_template(tokenizer, what[1]);
	t[0] = head_tensor(st, "bert.pooler.dense.weight", C, C);
	t[1] = head_tensor(st, "bert.pooler.dense.bias", 0, C);
	t[2] = head_tensor(st, "classifier.weight", h->K, C);
	t[3] = head_tensor(st, "classifier.bias", 0, h->K);
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
TfmSeqHeadOptions(const TfmSeqHead *h, int max_tokens, int hidden)
{
	char	   *s = psprintf("{\"max_tokens\": %d, \"pooling\": \"cls\", \"normalize\": false, \"head_hidden\": %d, "
							 "\"head_activation\": \"tanh\", \"multi_label\": %s}",
							 max_tokens, hidden, h->multi_label ? "true" : "false");

	return TfmJsonParse(s, strlen(s), "options");
}

/* out (n,K) = W2 tanh(W1 x + b1) + b2 for pooled [CLS] states x (n,C): BERT's pooler and classifier */
void
TfmPoolerHeadForward(float *out, const float *p, const float *x, int n, int C, int K)
{
	const float *w2 = p + (size_t) C * C + C;
	float	   *act = palloc_extended(sizeof(float) * Max((size_t) n * C, 1), MCXT_ALLOC_HUGE);

	matmul_forward(act, x, p, p + (size_t) C * C, n, C, C);
	for (size_t i = 0; i < (size_t) n * C; i++)
		act[i] = tanhf(act[i]);
	matmul_forward(out, act, w2, w2 + (size_t) K * C, n, C, K);
	pfree(act);
}

/* the logistic function of each of n values, in place (multi-label probabilities) */
void
TfmSigmoidRows(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] = x[i] >= 0 ? 1.0f / (1.0f + expf(-x[i])) : expf(x[i]) / (1.0f + expf(x[i]));
}
