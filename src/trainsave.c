/* trainsave.c: storing a trained encoder model: its head, its encoder weights after full fine-tuning, the
 * metrics on its validation split and what the training did, as a new version in tfm.model */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "acl.h"
#include "import.h"
#include "jsonutil.h"
#include "metrics.h"
#include "model.h"
#include "pg_tfm.h"
#include "trainsave.h"

/* the inference options of a trained model as JSON */
static char *
inference_options(const TfmTrainer *t)
{
	/* a continued checkpoint head names its activation; GELU, the trained heads' own, goes unnamed */
	return psprintf("{\"max_tokens\": %d, \"pooling\": \"%s\", \"normalize\": %s, \"target_mean\": %s, \"target_std\": %s, \"head_hidden\": %d%s}",
					t->o.max_tokens, TfmPoolingName(t->base->opt.pooling),
					t->base->opt.normalize ? "true" : "false", TfmJsonFloat(t->tmean, 17),
					TfmJsonFloat(t->tstd, 17), t->o.hidden_units,
					t->act != TFM_HEAD_GELU ? psprintf(", \"head_activation\": \"%s\"", TfmHeadActName(t->act)) : "");
}

/* metrics on the validation split (or the training rows when there is none) */
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
	const TfmBertConfig *cfg = &t->base->cfg;
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

/* tfm.model's labels as an SPI argument: the class names (classification), NULL (regression: *null = 'n') */
Datum
TfmLabelsArg(TfmTask task, char **labels, int K, char *null)
{
	Datum	   *ld;

	if (task != TFM_TASK_CLASSIFICATION)
	{
		*null = 'n';
		return (Datum) 0;
	}
	ld = palloc(sizeof(Datum) * K);
	for (int k = 0; k < K; k++)
		ld[k] = CStringGetTextDatum(labels[k]);
	return PointerGetDatum(construct_array(ld, K, TEXTOID, -1, false, TYPALIGN_INT));
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
	Oid			types[12] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID, INT8OID, TEXTOID, JSONBOID, JSONBOID,
	INT8OID, BYTEAOID, JSONBOID, OIDOID};
	Datum		a[12];
	bool		isnull;
	char		nulls[12];
	TfmOwnerScope s;
	bytea	   *head = palloc(VARHDRSZ + sizeof(float) * t->head_n);
	char	   *blob = NULL, *metrics = split_metrics(t), *sha;
	uint64		bsize = 0;
	int64		id;
	StringInfoData key;

	(void) options;
	check_finite_model(t);
	SET_VARSIZE(head, VARHDRSZ + sizeof(float) * t->head_n);
	memcpy(VARDATA(head), t->head, sizeof(float) * t->head_n);
	initStringInfo(&key);
	if (t->o.full)
	{
		/* two statements: bsize is set by encoder_safetensors, and argument order is unspecified */
		blob = encoder_safetensors(t, &bsize);
		sha = TfmSha256Hex(blob, bsize);
	}
	else
	{
		appendStringInfo(&key, "%s", t->base->enc_sha256);
		appendBinaryStringInfo(&key, VARDATA(head), sizeof(float) * t->head_n);
		for (int k = 0; t->labels && k < t->K; k++)
			appendStringInfo(&key, "\n%s", t->labels[k]);
		sha = TfmSha256Hex(key.data, key.len);
	}
	a[11] = ObjectIdGetDatum(TfmCheckCreate(name));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	memset(nulls, ' ', sizeof(nulls));
	a[0] = CStringGetTextDatum(name);
	a[1] = CStringGetTextDatum(TfmTaskName(t->task));
	a[2] = TfmLabelsArg(t->task, t->labels, t->K, &nulls[2]);
	a[3] = Int32GetDatum(t->o.max_tokens);
	a[4] = Int64GetDatum((int64) t->head_n);
	a[5] = CStringGetTextDatum(sha);
	a[6] = JsonbPGetDatum(TfmJsonParse(inference_options(t), strlen(inference_options(t)), "options"));
	a[7] = JsonbPGetDatum(TfmJsonParse(metrics, strlen(metrics), "metrics"));
	a[8] = Int64GetDatum(t->base->id);
	a[9] = PointerGetDatum(head);
	a[10] = JsonbPGetDatum(TfmJsonParse(training_json(t), strlen(training_json(t)), "training"));
	TfmAsOwnerBegin(&s);
	TfmForgetStaleRights(name);
	if (SPI_execute_with_args(psprintf(
								  "INSERT INTO tfm.model (name, version, architecture, task, labels, dim, max_tokens, params, "
								  "sha256, config, tokenizer, options, metrics, base_id, encoder_id, head, training, owner) "
								  "SELECT $1, coalesce((SELECT pg_catalog.max(version) FROM tfm.model WHERE name = $1), 0) + 1, "
								  "e.architecture, $2, $3, e.dim, $4, e.params + $5, $6, e.config, e.tokenizer, $7, $8, $9, "
								  "%s, $10, $11, %s FROM tfm.model e WHERE e.id = " INT64_FORMAT " RETURNING id",
								  t->o.full ? "NULL" : psprintf(INT64_FORMAT, t->base->encoder_id), TfmOwnerValueSql(12),
								  t->base->encoder_id),
							  12, types, a, nulls, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("base model of \"%s\" disappeared during training", name)));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	TfmSyncRoleMarkers();		/* the owner's marker: DROP ROLE fails while it owns models */
	if (blob)
		TfmStoreChunks(id, blob, bsize);
	TfmAsOwnerEnd(&s);
	SPI_finish();
	return id;
}
