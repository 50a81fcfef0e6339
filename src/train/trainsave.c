/* trainsave.c: storing a trained encoder model: its head, its encoder weights after full fine-tuning, the
 * metrics on its validation split and what the training did, as a new version in tfm.model */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "eval/metrics.h"
#include "jsonutil.h"
#include "model/encoder.h"
#include "pg_tfm.h"
#include "store/acl.h"
#include "store/import.h"
#include "train/trainpair.h"
#include "train/trainsave.h"

/* the inference options of a trained model as JSON */
static char *
inference_options(const TfmTrainer *t)
{
	/* a continued checkpoint head names its activation; GELU, the trained heads' own, goes unnamed */
	/* a full fine-tune's own weights carry the precision (a head-only model's is its encoder's) */
	return psprintf("{\"max_tokens\": %d, \"pooling\": \"%s\", \"normalize\": %s, \"target_mean\": %s, \"target_std\": %s, \"head_hidden\": %d%s%s}",
					t->o.max_tokens, TfmPoolingName(t->base->enc->opt.pooling),
					t->base->enc->opt.normalize ? "true" : "false", TfmJsonFloat(t->tmean, 17),
					TfmJsonFloat(t->tstd, 17), t->o.hidden_units,
					t->act != TFM_HEAD_GELU ? psprintf(", \"head_activation\": \"%s\"", TfmHeadActName(t->act)) : "",
					t->o.full && t->o.precision != TFM_PRECISION_FP32 ?
					psprintf(", \"precision\": \"%s\"", TfmPrecisionName(t->o.precision)) : "");
}

/* metrics on the validation split (or the training rows when there is none); a cross-encoder's with "ranking" */
static char *
split_metrics(TfmTrainer *t)
{
	const int  *idx = t->nval > 0 ? t->val_idx : t->train_idx;
	int			n = t->nval > 0 ? t->nval : t->ntrain;
	int		   *pred = palloc(sizeof(int) * Max(n, 1)), *truth = palloc(sizeof(int) * Max(n, 1));
	double	   *predv = palloc(sizeof(double) * Max(n, 1)), *tv = palloc(sizeof(double) * Max(n, 1));
	StringInfoData s;

	initStringInfo(&s);
	TfmTrainEvalLoss(t, idx, n, pred, predv);
	for (int i = 0; i < n; i++)
		truth[i] = t->y[idx[i]], tv[i] = t->rows.target[idx[i]];
	if (t->task == TFM_TASK_CLASSIFICATION)
		TfmClassMetrics(&s, truth, pred, n, t->K, (const char *const *) t->labels);
	else
		TfmRegMetrics(&s, tv, predv, n);
	if (t->rows.pair)			/* predv: the logits (TfmTrainPredict) */
		TfmTrainPairRanking(&s, t, idx, n, predv);
	return s.data;
}

/* training throughput: examples through the encoder per second (once in head mode; forward and backward
 * per epoch of the fine-tuning phase in full mode, the linear probe's epochs not counted) */
static double
examples_per_second(const TfmTrainer *t)
{
	if (t->o.full)
		return t->seconds > 0 ? t->ntrain * (double) (t->epochs_run - t->probe_epochs) / t->seconds : 0;
	return t->setup_seconds > 0 ? t->rows.n / t->setup_seconds : 0;
}

/* what tfm_train did, as JSON */
static char *
training_json(const TfmTrainer *t)
{
	const TfmTrainOptions *o = &t->o;

	return psprintf("{\"fine_tune\": \"%s\", \"epochs\": %d, \"batch_size\": %d, \"learning_rate\": %g, "
					"\"validation_fraction\": %g, \"seed\": " UINT64_FORMAT ", \"early_stopping\": %d, "
					"\"max_tokens\": %d, \"weight_decay\": %g, \"warmup_fraction\": %g, \"max_grad_norm\": %g, "
					"\"hidden_dropout\": %g, \"attention_dropout\": %g, \"hidden_units\": %d, \"rows\": %d, \"skipped_rows\": " INT64_FORMAT ", "
					"\"train_rows\": %d, \"validation_rows\": %d, \"epochs_run\": %d, \"best_epoch\": %d, "
					"\"seconds\": %.3f, \"encode_seconds\": %.3f, \"examples_per_second\": %.2f, \"tokens_per_second\": %.1f, \"history\": %s}",
					o->full ? "full" : "head", o->epochs, o->batch_size, o->lr, o->val_fraction, o->seed,
					o->patience, o->max_tokens, o->weight_decay, o->warmup, o->max_grad_norm,
					o->hidden_dropout, o->attn_dropout, o->hidden_units, t->rows.n, t->rows.skipped, t->ntrain, t->nval,
					t->epochs_run, t->best_epoch, t->seconds, t->setup_seconds,
					examples_per_second(t), examples_per_second(t) * t->rows.tokens / Max(t->rows.n, 1),
					t->history.data);
}

/* the full encoder as an F32 safetensors buffer with Hugging Face names */
static char *
encoder_safetensors(const TfmTrainer *t, uint64 *size)
{
	const TfmBertConfig *cfg = &t->base->enc->cfg;
	int			n = TfmBertSlotCount(cfg);
	char	  **names = palloc(sizeof(char *) * n);
	int64	   *rows = palloc(sizeof(int64) * n), *cols = palloc(sizeof(int64) * n);
	const float **data = palloc(sizeof(float *) * n);
	const float *p = t->enc;
	int			k = 0;

	for (int s = 0; s < n; s++)
	{
		names[k] = palloc(128);
		TfmBertSlotDesc(cfg, s, names[k], &rows[k], &cols[k]);
		data[k] = p;
		p += TfmBertSlotFloats(cfg, s);
		if (cols[k] > 0)		/* not a tensor the family lacks */
			k++;
	}
	return TfmSafetensorsWriteF32(k, names, rows, cols, data, size);
}

/* refuse to store a model with a weight or statistic that is not a finite number */
static void
check_finite_model(const TfmTrainer *t)
{
	bool		ok = isfinite(t->tmean) && isfinite(t->tstd);

	for (size_t i = 0; ok && i < t->head_n; i++)
		ok = isfinite(t->head[i]);
	for (size_t i = 0; ok && t->o.full && i < t->enc_n; i++)
		ok = isfinite(t->enc[i]);
	if (!ok)
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("training diverged: the trained weights are not all finite numbers"),
						errhint("Lower learning_rate, or set max_grad_norm (gradient clipping).")));
}

/* insert the trained model version (and its encoder weights when full); returns its id */
int64
TfmTrainStore(TfmTrainer *t, const char *name, Jsonb *options)
{
	char	   *metrics = split_metrics(t), *opts, *training;
	TfmNewVersion v;
	StringInfoData key;

	(void) options;
	TfmTrainPairFinish(t);		/* a cross-encoder's head one logit again, after its metrics */
	v = (TfmNewVersion) {.name = name, .from_id = t->base->encoder_id, .task = TfmTaskName(t->task),
	.max_tokens = t->o.max_tokens, .params = (int64) t->head_n, .base_id = t->base->id,
	.encoder_id = t->o.full ? 0 : t->base->encoder_id, .head = t->head, .head_bytes = sizeof(float) * t->head_n};
	check_finite_model(t);
	if (t->task == TFM_TASK_CLASSIFICATION)
		v.labels = t->labels, v.nlabels = t->K;
	if (t->o.full)
	{
		/* two statements: wsize is set by encoder_safetensors, and argument order is unspecified */
		v.weights = encoder_safetensors(t, &v.wsize);
		v.sha256 = TfmSha256Hex(v.weights, v.wsize);
	}
	else
	{
		initStringInfo(&key);
		appendStringInfo(&key, "%s", t->base->enc_sha256);
		appendBinaryStringInfo(&key, (const char *) t->head, sizeof(float) * t->head_n);
		for (int k = 0; t->labels && k < t->K; k++)
			appendStringInfo(&key, "\n%s", t->labels[k]);
		v.sha256 = TfmSha256Hex(key.data, key.len);
	}
	opts = inference_options(t);
	training = training_json(t);
	v.options = TfmJsonParse(opts, strlen(opts), "options");
	v.metrics = TfmJsonParse(metrics, strlen(metrics), "metrics");
	v.training = TfmJsonParse(training, strlen(training), "training");
	return TfmStoreVersion(&v);
}
