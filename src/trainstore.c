/* trainstore.c: SQL entry points of training and evaluation; storing a trained model; progress files */
#include "postgres.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "import.h"
#include "infer.h"
#include "cachefile.h"
#include "fairness.h"
#include "jsonutil.h"
#include "metrics.h"
#include "mlpmodel.h"
#include "model.h"
#include "pg_tfm.h"
#include "train.h"

PG_FUNCTION_INFO_V1(tfm_train);
PG_FUNCTION_INFO_V1(tfm_evaluate);
PG_FUNCTION_INFO_V1(tfm_training_progress);

/* path of a backend's progress file */
static char *
progress_path(int pid)
{
	return psprintf("%s/progress_%d.json", TfmDir(), pid);
}

/* remove this backend's progress file when it exits, also by FATAL (pg_terminate_backend) */
static void
progress_at_exit(int code, Datum arg)
{
	(void) unlink(progress_path(MyProcPid));
}

/* publish training progress for tfm_training_progress() in other sessions (best effort) */
void
TfmProgressWrite(const TfmProgress *p)
{
	static bool registered = false;
	char	   *path = progress_path(MyProcPid);
	char	   *tmp = psprintf("%s.tmp", path);
	StringInfoData s;
	FILE	   *f;

	if (!registered)
	{
		before_shmem_exit(progress_at_exit, (Datum) 0);
		registered = true;
	}
	initStringInfo(&s);
	appendStringInfoString(&s, "{\"model\": ");
	escape_json(&s, p->model);
	appendStringInfoString(&s, ", \"phase\": ");
	escape_json(&s, p->phase);
	appendStringInfo(&s, ", \"epoch\": %d, \"epochs\": %d, \"step\": %d, \"steps\": %d",
					 p->epoch, p->epochs, p->step, p->steps);
	/* elapsed and remaining are finite (epoch >= 1); the losses may not be */
	appendStringInfo(&s, ", \"train_loss\": %s, \"val_loss\": %s, \"elapsed\": %.1f, \"remaining\": %.1f",
					 TfmJsonFloat(p->train_loss, 6), TfmJsonFloat(p->val_loss, 6), p->elapsed, p->remaining);
	appendStringInfoChar(&s, '}');
	(void) MakePGDirectory(TfmDir());
	f = AllocateFile(tmp, "w");
	if (f == NULL)
		return;
	fwrite(s.data, 1, s.len, f);
	if (FreeFile(f) == 0)
		(void) rename(tmp, path);
	else
		(void) unlink(tmp);
}

/* remove this backend's progress file */
void
TfmProgressClear(void)
{
	(void) unlink(progress_path(MyProcPid));
}

/* when a file was last modified, as a timestamp */
static TimestampTz
file_mtime(const struct stat *sb)
{
	return time_t_to_timestamptz(sb->st_mtim.tv_sec) + sb->st_mtim.tv_nsec / 1000;
}

/*
 * whether a progress file of pid (with status sb) is left over from a backend that is gone: no live
 * backend has pid, or the backend now holding pid started after the file was last written. A live
 * backend not in this transaction's snapshot of the status array is found through the proc array.
 */
static bool
progress_stale(int pid, const struct stat *sb)
{
	Oid			role;
	TimestampTz started;

	if (pid == MyProcPid)
		return false;
	if (BackendPidGetProc(pid) == NULL)
		return true;
	return TfmServerProcess(pid, &role, &started) && started > file_mtime(sb);
}

/*
 * at the start of a training: remove the progress files (and their .tmp) that backends killed without
 * running their exit callbacks (kill -9, a crash) left behind
 */
void
TfmProgressSweep(void)
{
	char	   *dir = TfmDir();
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	while (d && (de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		int			pid, n = 0;
		struct stat sb;
		char	   *path;

		if (sscanf(de->d_name, "progress_%d.json%n", &pid, &n) != 1 || n == 0 ||
			(de->d_name[n] != '\0' && strcmp(de->d_name + n, ".tmp") != 0))
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (stat(path, &sb) == 0 && progress_stale(pid, &sb) && unlink(path) == 0)
			ereport(DEBUG1, (errmsg("pg_tfm: removed stale progress file \"%s\"", path)));
	}
	if (d)
		FreeDir(d);
}

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

/* CALL tfm_train(name, base, query, task, options) */
Datum
tfm_train(PG_FUNCTION_ARGS)
{
	TfmTrainer *t;
	char	   *name, *query, *task;
	Jsonb	   *options;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("tfm_train arguments must not be NULL")));
	PreventCommandIfReadOnly("tfm_train()");	/* not after hours of training */
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TfmCheckModelName(name);	/* the catalog's rule, before any work */
	query = text_to_cstring(PG_GETARG_TEXT_PP(2));
	task = text_to_cstring(PG_GETARG_TEXT_PP(3));
	options = PG_GETARG_JSONB_P(4);
	if (strcmp(task, "classification") != 0 && strcmp(task, "regression") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown task \"%s\"", task),
						errhint("Use 'classification' or 'regression'.")));
	(void) TfmCheckCreate(name);	/* before training for hours; TfmTrainStore checks again */
	if (strcmp(text_to_cstring(PG_GETARG_TEXT_PP(1)), TFM_MLP_BASE) == 0)
	{
		/* base 'mlp': a network on feature vectors, no encoder */
		TfmMlpTrain(name, query, TfmTaskFromName(task), options);
		PG_RETURN_VOID();
	}
	t = palloc0(sizeof(TfmTrainer));
	t->task = TfmTaskFromName(task);
	t->base = TfmModelGet(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	TfmTrainOptionsFromJson(&t->o, options, t->base, t->task);
	TfmRowsRead(&t->rows, query, t->task, t->base, t->o.max_tokens, TFM_MAX_LABELS);
	if (t->rows.n < 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the training query gave %d usable rows, at least 2 are needed", t->rows.n)));
	TfmProgressSweep();
	PG_TRY();
	{
		TfmTrainRun(t, name);
		TfmTrainStore(t, name, options);
	}
	PG_FINALLY();
	{
		TfmProgressClear();
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}

/* a label and its index in the model's labels */
typedef struct IndexedLabel
{
	char	   *label;
	int			index;
} IndexedLabel;

/* compare two indexed labels by label */
static int
cmp_indexed(const void *a, const void *b)
{
	return strcmp(((const IndexedLabel *) a)->label, ((const IndexedLabel *) b)->label);
}

/* index of label in the model's labels through their sorted copy s, or -1 */
static int
model_label_index(const IndexedLabel *s, int K, const char *label)
{
	IndexedLabel key = {(char *) label, 0};
	const IndexedLabel *p = bsearch(&key, s, K, sizeof(IndexedLabel), cmp_indexed);

	return p ? p->index : -1;
}

/*
 * each row's truth label as an index into labels: the model's K labels (sorted for trained models, in
 * id2label order for imported checkpoints), then the labels the model never saw, sorted; returns the
 * number of labels (O(n log n), whatever the labels)
 */
static int
truth_indexes(int *truth, char ***labels, const TfmModel *m, const TfmRows *rows)
{
	int			K = m->nlabels, nn = 0;
	char	  **novel = palloc(sizeof(char *) * Max(rows->n, 1));
	IndexedLabel *sorted = palloc(sizeof(IndexedLabel) * Max(K, 1));

	for (int k = 0; k < K; k++)
		sorted[k].label = m->labels[k], sorted[k].index = k;
	qsort(sorted, K, sizeof(IndexedLabel), cmp_indexed);
	for (int i = 0; i < rows->n; i++)
		if (model_label_index(sorted, K, rows->label[i]) < 0)
			novel[nn++] = rows->label[i];
	nn = TfmSortUnique(novel, nn);
	*labels = palloc(sizeof(char *) * Max(K + nn, 1));
	memcpy(*labels, m->labels, sizeof(char *) * K);
	memcpy(*labels + K, novel, sizeof(char *) * nn);
	for (int i = 0; i < rows->n; i++)
	{
		int			k = model_label_index(sorted, K, rows->label[i]);

		truth[i] = k >= 0 ? k : K + TfmLabelIndex(novel, nn, rows->label[i]);
	}
	return K + nn;
}

/*
 * the metrics JSON of a model's outputs on rows, the same for every architecture: classification reads
 * out (n,K; logits or probabilities: the largest wins), regression the predicted values pv (n); with groups
 * (the query's third column) also the metrics by group and, for a positive label, the fairness gaps
 */
static void
evaluation_metrics(StringInfo s, const TfmModel *m, const TfmRows *rows, const float *out, const double *pv,
				   const TfmGroups *groups, const char *positive)
{
	int			K = m->nlabels;

	if (m->task == TFM_TASK_CLASSIFICATION)
	{
		int		   *truth = palloc(sizeof(int) * Max(rows->n, 1)), *pred = palloc(sizeof(int) * Max(rows->n, 1));
		char	  **labels;
		int			all = truth_indexes(truth, &labels, m, rows);

		for (int i = 0; i < rows->n; i++)
		{
			pred[i] = 0;
			for (int k = 1; k < K; k++)
				if (out[(size_t) i * K + k] > out[(size_t) i * K + pred[i]])
					pred[i] = k;
		}
		TfmEvalClassJson(s, truth, pred, rows->n, all, (const char *const *) labels, groups, positive);
	}
	else
		TfmEvalRegJson(s, rows->target, pv, rows->n, groups);
}

/* outputs of an encoder model on text rows (head outputs; regression values into pv) */
static float *
text_outputs(const TfmModel *m, const TfmRows *rows, double *pv)
{
	int			C = m->cfg.hidden, K = m->nlabels;
	float	   *x, *out;

	TfmCheckMemory((double) rows->n * (C + K) * sizeof(float) + (double) rows->n * 3 * sizeof(int), "evaluating the rows");
	x = palloc_extended(sizeof(float) * Max(rows->n, 1) * C, MCXT_ALLOC_HUGE);
	out = palloc_extended(sizeof(float) * Max(rows->n, 1) * K, MCXT_ALLOC_HUGE);
	TfmEncodeMany(x, m, &m->w, rows->ids, rows->lens, rows->n, false);
	TfmHeadForward(out, m, m->head, x, rows->n);
	for (int i = 0; m->task == TFM_TASK_REGRESSION && i < rows->n; i++)
		pv[i] = out[i] * m->target_std + m->target_mean;
	pfree(x);
	return out;
}

/* outputs of an MLP model on feature rows (class probabilities; regression values also into pv) */
static float *
mlp_outputs(const TfmModel *m, const TfmRows *rows, double *pv)
{
	float	   *out;

	TfmCheckMemory((double) rows->n * (m->nlabels + 3.0) * sizeof(float), "evaluating the rows");
	out = palloc_extended(sizeof(float) * Max(rows->n, 1) * m->nlabels, MCXT_ALLOC_HUGE);
	TfmMlpOutputs(out, m, rows->feats, rows->n);
	for (int i = 0; m->task == TFM_TASK_REGRESSION && i < rows->n; i++)
		pv[i] = out[i];
	return out;
}

/*
 * tfm_evaluate(model, query [, options]): metrics of a trained model on the rows of query: (text, label)
 * rows for encoder models, (features real[]/float8[], label) rows for MLPs, one metrics code for both; a
 * third column of the query groups the rows (fairness.c)
 */
Datum
tfm_evaluate(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	TfmRows		rows;
	float	   *out;
	double	   *pv;
	StringInfoData s;
	char	   *query;
	TfmEvalOptions opt;
	TfmGroups  *groups = NULL;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = TfmModelGetAny(TfmModelName(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0)));
	if (m->task == TFM_TASK_EMBEDDING || m->task == TFM_TASK_GENERATION)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is %s model, tfm_evaluate needs a trained model", m->name,
							   m->task == TFM_TASK_EMBEDDING ? "an embedding" : "a text generation"),
						errhint("Train one with tfm_train().")));
	if (m->task == TFM_TASK_CROSS_ENCODER)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is a cross-encoder, tfm_evaluate needs a classification or regression model", m->name),
						errhint("A cross-encoder scores text pairs: use tfm_rerank() or tfm_score_pair().")));
	TfmEvalOptionsRead(&opt, PG_NARGS() > 2 && !PG_ARGISNULL(2) ? PG_GETARG_JSONB_P(2) : TfmJsonParse("{}", 2, "options"),
					   m->task == TFM_TASK_CLASSIFICATION, m->name, m->labels, m->nlabels);
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (m->arch == TFM_ARCH_MLP)
		TfmRowsReadGrouped(&rows, query, m->task, NULL, 0, m->mlp->dims[0]);
	else
		TfmRowsReadGrouped(&rows, query, m->task, m, m->opt.max_tokens, 0);
	if (rows.has_group)
		groups = TfmGroupSet((const char *const *) rows.group, rows.n);
	pv = palloc_extended(sizeof(double) * Max(rows.n, 1), MCXT_ALLOC_HUGE);
	out = m->arch == TFM_ARCH_MLP ? mlp_outputs(m, &rows, pv) : text_outputs(m, &rows, pv);
	initStringInfo(&s);
	evaluation_metrics(&s, m, &rows, out, pv, groups, TfmEvalPositive(&opt, rows.label_bool));
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}

/*
 * the progress document of a file when it is still current (its backend lives and started before the
 * file was written) and its session is one the current user may see, else NULL
 */
static Jsonb *
read_progress(const char *path, int pid)
{
	Oid			role;
	TimestampTz started;
	struct stat sb;
	char		buf[4096];
	FILE	   *f;
	size_t		len;
	JsonLexContext *lex;

	if (!TfmServerProcess(pid, &role, &started) || !TfmMaySeeActivityOf(role))
		return NULL;			/* gone, or another role's session (as pg_stat_activity hides them) */
	if ((f = AllocateFile(path, "r")) == NULL)
		return NULL;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	if (fstat(fileno(f), &sb) != 0 || file_mtime(&sb) < started || !feof(f))
		len = 0;				/* left by an earlier backend with this pid, or too long to be ours */
	FreeFile(f);
	buf[len] = '\0';
	/* never an error for everyone because of one file: check it parses before making it jsonb */
	lex = makeJsonLexContextCstringLen(buf, (int) len, GetDatabaseEncoding(), true);
	if (len == 0 || pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return TfmJsonParse(buf, len, "progress");
}

/* tfm_training_progress(): the progress files of running tfm_train calls the current user may see */
Datum
tfm_training_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dir = TfmDir();
	DIR		   *d;
	struct dirent *de;

	InitMaterializedSRF(fcinfo, 0);
	d = AllocateDir(dir);
	while (d && (de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		int			pid, n = 0;
		Datum		v[2];
		bool		nulls[2] = {false, false};
		Jsonb	   *doc;

		if (sscanf(de->d_name, "progress_%d.json%n", &pid, &n) != 1 || n == 0 || de->d_name[n] != '\0')
			continue;
		if ((doc = read_progress(psprintf("%s/%s", dir, de->d_name), pid)) == NULL)
			continue;
		v[0] = Int32GetDatum(pid);
		v[1] = JsonbPGetDatum(doc);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	if (d)
		FreeDir(d);
	return (Datum) 0;
}

/* refuse metric arrays beyond TFM_MAX_METRIC_ROWS elements or the memory budget, before unpacking them */
static void
check_metric_array(ArrayType *a, double bytes_per_element)
{
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

	if (n > TFM_MAX_METRIC_ROWS)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("metrics of %d values requested, at most %d are supported", n, TFM_MAX_METRIC_ROWS),
						errhint("Compute the metrics on a sample, or aggregate them in SQL.")));
	TfmCheckMemory((double) n * bytes_per_element, "the metrics");
}

/* text[] argument as C strings */
static char **
text_array(ArrayType *a, int *n)
{
	Datum	   *d;
	bool	   *nulls;
	char	  **out;

	check_metric_array(a, 96.0);	/* datums, strings' headers, indexes, sort keys, per-label counts */
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, n);
	out = palloc_extended(sizeof(char *) * Max(*n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("labels must not be NULL")));
		out[i] = TextDatumGetCString(d[i]);
	}
	return out;
}

/* tfm._classification_metrics(truth text[], pred text[]): the metrics tfm_evaluate reports, for checking by hand */
PG_FUNCTION_INFO_V1(tfm_classification_metrics);
Datum
tfm_classification_metrics(PG_FUNCTION_ARGS)
{
	int			n, np, K = 0;
	char	  **truth = text_array(PG_GETARG_ARRAYTYPE_P(0), &n);
	char	  **pred = text_array(PG_GETARG_ARRAYTYPE_P(1), &np);
	char	  **labels = palloc_extended(sizeof(char *) * Max(2 * (size_t) n, 1), MCXT_ALLOC_HUGE);
	int		   *ti = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	int		   *pi = palloc_extended(sizeof(int) * Max(n, 1), MCXT_ALLOC_HUGE);
	StringInfoData s;

	if (n != np)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("truth and pred differ in length")));
	memcpy(labels, truth, sizeof(char *) * n);
	memcpy(labels + n, pred, sizeof(char *) * n);
	K = TfmSortUnique(labels, 2 * n);
	for (int i = 0; i < n; i++)
		ti[i] = TfmLabelIndex(labels, K, truth[i]), pi[i] = TfmLabelIndex(labels, K, pred[i]);
	initStringInfo(&s);
	TfmClassMetrics(&s, ti, pi, n, K, (const char *const *) labels);
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}

/* tfm._regression_metrics(truth float8[], pred float8[]) */
PG_FUNCTION_INFO_V1(tfm_regression_metrics);
Datum
tfm_regression_metrics(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0), *b = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *da, *db;
	int			n, nb;
	double	   *ta, *tb;
	StringInfoData s;

	check_metric_array(a, 32.0);
	check_metric_array(b, 32.0);
	deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &da, NULL, &n);
	deconstruct_array(b, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &db, NULL, &nb);
	if (n != nb)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("truth and pred differ in length")));
	ta = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	tb = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		ta[i] = DatumGetFloat8(da[i]), tb[i] = DatumGetFloat8(db[i]);
	initStringInfo(&s);
	TfmRegMetrics(&s, ta, tb, n);
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}
