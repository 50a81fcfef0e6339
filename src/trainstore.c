/* trainstore.c: SQL entry points of training and evaluation; storing a trained model; progress files */
#include "postgres.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "acl.h"
#include "import.h"
#include "infer.h"
#include "jsonutil.h"
#include "metrics.h"
#include "model.h"
#include "train.h"

PG_FUNCTION_INFO_V1(tfm_train);
PG_FUNCTION_INFO_V1(tfm_evaluate);
PG_FUNCTION_INFO_V1(tfm_training_progress);

/* path of this backend's progress file */
static char *
progress_path(int pid)
{
	return psprintf("%s/pg_tfm/progress_%d.json", DataDir, pid);
}

/* publish training progress for tfm_training_progress() in other sessions */
void
TfmProgressWrite(const char *name, const char *json)
{
	char	   *path = progress_path(MyProcPid);
	char	   *tmp = psprintf("%s.tmp", path);
	FILE	   *f;

	(void) name;
	(void) MakePGDirectory(psprintf("%s/pg_tfm", DataDir));
	f = AllocateFile(tmp, "w");
	if (f == NULL)
		return;					/* progress is best effort */
	fputs(json, f);
	FreeFile(f);
	(void) rename(tmp, path);
}

/* remove this backend's progress file */
void
TfmProgressClear(void)
{
	(void) unlink(progress_path(MyProcPid));
}

/* the inference options of a trained model as JSON */
static char *
inference_options(const TfmTrainer *t)
{
	return psprintf("{\"max_tokens\": %d, \"pooling\": \"%s\", \"normalize\": %s, \"target_mean\": %.17g, \"target_std\": %.17g, \"head_hidden\": %d}",
					t->o.max_tokens, TfmPoolingName(t->base->opt.pooling),
					t->base->opt.normalize ? "true" : "false", t->tmean, t->tstd, t->o.hidden_units);
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

	for (int s = 0; s < n; s++)
	{
		names[s] = palloc(128);
		TfmBertSlotDesc(cfg, s, names[s], &rows[s], &cols[s]);
		data[s] = p;
		p += TfmBertSlotFloats(cfg, s);
	}
	return TfmSafetensorsWriteF32(n, names, rows, cols, data, size);
}

/* insert the trained model version (and its encoder weights when full); returns its id */
int64
TfmTrainStore(TfmTrainer *t, const char *name, Jsonb *options)
{
	Oid			types[12] = {TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID, INT8OID, TEXTOID, JSONBOID, JSONBOID,
	INT8OID, BYTEAOID, JSONBOID, TEXTOID};
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
	SET_VARSIZE(head, VARHDRSZ + sizeof(float) * t->head_n);
	memcpy(VARDATA(head), t->head, sizeof(float) * t->head_n);
	initStringInfo(&key);
	if (t->o.full)
		sha = TfmSha256Hex(blob = encoder_safetensors(t, &bsize), bsize);
	else
	{
		appendStringInfo(&key, "%s", t->base->enc_sha256);
		appendBinaryStringInfo(&key, VARDATA(head), sizeof(float) * t->head_n);
		for (int k = 0; t->labels && k < t->K; k++)
			appendStringInfo(&key, "\n%s", t->labels[k]);
		sha = TfmSha256Hex(key.data, key.len);
	}
	a[11] = CStringGetTextDatum(TfmCheckCreate(name));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	memset(nulls, ' ', sizeof(nulls));
	a[0] = CStringGetTextDatum(name);
	a[1] = CStringGetTextDatum(TfmTaskName(t->task));
	if (t->task == TFM_TASK_CLASSIFICATION)
	{
		Datum	   *ld = palloc(sizeof(Datum) * t->K);

		for (int k = 0; k < t->K; k++)
			ld[k] = CStringGetTextDatum(t->labels[k]);
		a[2] = PointerGetDatum(construct_array(ld, t->K, TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		nulls[2] = 'n', a[2] = (Datum) 0;
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
								  "SELECT $1, coalesce((SELECT max(version) FROM tfm.model WHERE name = $1), 0) + 1, "
								  "e.architecture, $2, $3, e.dim, $4, e.params + $5, $6, e.config, e.tokenizer, $7, $8, $9, "
								  "%s, $10, $11, $12 FROM tfm.model e WHERE e.id = " INT64_FORMAT " RETURNING id",
								  t->o.full ? "NULL" : psprintf(INT64_FORMAT, t->base->encoder_id), t->base->encoder_id),
							  12, types, a, nulls, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("base model of \"%s\" disappeared during training", name)));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
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
	query = text_to_cstring(PG_GETARG_TEXT_PP(2));
	task = text_to_cstring(PG_GETARG_TEXT_PP(3));
	options = PG_GETARG_JSONB_P(4);
	if (strcmp(task, "classification") != 0 && strcmp(task, "regression") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unknown task \"%s\"", task),
						errhint("Use 'classification' or 'regression'.")));
	(void) TfmCheckCreate(name);	/* before training for hours; TfmTrainStore checks again */
	t = palloc0(sizeof(TfmTrainer));
	t->task = TfmTaskFromName(task);
	t->base = TfmModelGet(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	TfmTrainOptionsFromJson(&t->o, options, t->base, t->task);
	TfmRowsRead(&t->rows, query, t->task, t->base, t->o.max_tokens);
	if (t->rows.n < 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the training query gave %d usable rows, at least 2 are needed", t->rows.n)));
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

/* index of a truth label among the model's labels, appending labels the model never saw */
static int
truth_index(char ***labels, int *K, int known, const char *label)
{
	int			k = TfmLabelIndex(*labels, known, label);

	if (k >= 0)
		return k;
	for (k = known; k < *K; k++)
		if (strcmp((*labels)[k], label) == 0)
			return k;
	*labels = repalloc(*labels, sizeof(char *) * (*K + 1));
	(*labels)[*K] = pstrdup(label);
	return (*K)++;
}

/* tfm_evaluate(model, query): metrics of a trained model on the rows of query */
Datum
tfm_evaluate(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	TfmRows		rows;
	float	   *x, *out;
	StringInfoData s;
	int			C, K;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	m = TfmModelGet(TfmModelName(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0)));
	if (m->task == TFM_TASK_EMBEDDING)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is an embedding model, tfm_evaluate needs a trained model", m->name),
						errhint("Train one with tfm_train().")));
	TfmRowsRead(&rows, text_to_cstring(PG_GETARG_TEXT_PP(1)), m->task, m, m->opt.max_tokens);
	C = m->cfg.hidden;
	K = m->nlabels;
	x = palloc_extended(sizeof(float) * Max(rows.n, 1) * C, MCXT_ALLOC_HUGE);
	out = palloc_extended(sizeof(float) * Max(rows.n, 1) * K, MCXT_ALLOC_HUGE);
	TfmEncodeMany(x, m, &m->w, rows.ids, rows.lens, rows.n, false);
	TfmHeadForward(out, m, m->head, x, rows.n);
	initStringInfo(&s);
	if (m->task == TFM_TASK_CLASSIFICATION)
	{
		int		   *truth = palloc(sizeof(int) * Max(rows.n, 1)), *pred = palloc(sizeof(int) * Max(rows.n, 1));
		char	  **labels = palloc(sizeof(char *) * K);
		int			all = K;

		memcpy(labels, m->labels, sizeof(char *) * K);
		for (int i = 0; i < rows.n; i++)
		{
			pred[i] = 0;
			for (int k = 1; k < K; k++)
				if (out[i * K + k] > out[i * K + pred[i]])
					pred[i] = k;
			truth[i] = truth_index(&labels, &all, K, rows.label[i]);
		}
		TfmClassMetrics(&s, truth, pred, rows.n, all, (const char *const *) labels);
	}
	else
	{
		double	   *pv = palloc(sizeof(double) * Max(rows.n, 1));

		for (int i = 0; i < rows.n; i++)
			pv[i] = out[i] * m->target_std + m->target_mean;
		TfmRegMetrics(&s, rows.target, pv, rows.n);
	}
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}

/* tfm_training_progress(): the progress files of running tfm_train calls */
Datum
tfm_training_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dir = psprintf("%s/pg_tfm", DataDir);
	DIR		   *d;
	struct dirent *de;

	InitMaterializedSRF(fcinfo, 0);
	d = AllocateDir(dir);
	while (d && (de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		int			pid;
		Datum		v[2];
		bool		nulls[2] = {false, false};
		char		buf[4096];
		FILE	   *f;
		size_t		len;

		if (sscanf(de->d_name, "progress_%d.json", &pid) != 1 || strstr(de->d_name, ".tmp"))
			continue;
		if (kill(pid, 0) != 0)
			continue;			/* left by a backend that is gone */
		f = AllocateFile(psprintf("%s/%s", dir, de->d_name), "r");
		if (f == NULL)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		FreeFile(f);
		v[0] = Int32GetDatum(pid);
		v[1] = JsonbPGetDatum(TfmJsonParse(buf, len, "progress"));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	if (d)
		FreeDir(d);
	return (Datum) 0;
}

/* text[] argument as C strings */
static char **
text_array(ArrayType *a, int *n)
{
	Datum	   *d;
	bool	   *nulls;
	char	  **out;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("labels must not be NULL")));
		out[i] = TextDatumGetCString(d[i]);
	}
	return out;
}

/* compare C strings for qsort */
static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* tfm._classification_metrics(truth text[], pred text[]): the metrics tfm_evaluate reports, for checking by hand */
PG_FUNCTION_INFO_V1(tfm_classification_metrics);
Datum
tfm_classification_metrics(PG_FUNCTION_ARGS)
{
	int			n, np, K = 0;
	char	  **truth = text_array(PG_GETARG_ARRAYTYPE_P(0), &n);
	char	  **pred = text_array(PG_GETARG_ARRAYTYPE_P(1), &np);
	char	  **labels = palloc(sizeof(char *) * Max(2 * n, 1));
	int		   *ti = palloc(sizeof(int) * Max(n, 1)), *pi = palloc(sizeof(int) * Max(n, 1));
	StringInfoData s;

	if (n != np)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("truth and pred differ in length")));
	memcpy(labels, truth, sizeof(char *) * n);
	memcpy(labels + n, pred, sizeof(char *) * n);
	qsort(labels, 2 * n, sizeof(char *), cmp_cstr);
	for (int i = 0; i < 2 * n; i++)
		if (K == 0 || strcmp(labels[K - 1], labels[i]) != 0)
			labels[K++] = labels[i];
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

	deconstruct_array(a, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &da, NULL, &n);
	deconstruct_array(b, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &db, NULL, &nb);
	if (n != nb)
		ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR), errmsg("truth and pred differ in length")));
	ta = palloc(sizeof(double) * Max(n, 1));
	tb = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
		ta[i] = DatumGetFloat8(da[i]), tb[i] = DatumGetFloat8(db[i]);
	initStringInfo(&s);
	TfmRegMetrics(&s, ta, tb, n);
	PG_RETURN_JSONB_P(TfmJsonParse(s.data, s.len, "metrics"));
}
