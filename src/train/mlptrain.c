/* mlptrain.c: tfm_train(name, 'mlp', ...): an MLP on feature vectors with AdamW, mini-batches, early stopping */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "eval/metrics.h"
#include "eval/rows.h"
#include "jsonutil.h"
#include "kernels/optim.h"
#include "model/mlpmodel.h"
#include "pg_tfm.h"
#include "store/acl.h"
#include "store/import.h"
#include "train/progress.h"
#include "train/train.h"

#define EVAL_CHUNK 4096			/* rows evaluated at a time */

static const char *const option_names[] = {
	"hidden", "epochs", "batch_size", "learning_rate", "weight_decay", "dropout", "validation_fraction",
	"seed", "early_stopping", "class_weight", "max_grad_norm", NULL};

typedef struct MlpOptions
{
	int			nhidden;
	int			hidden[TFM_MLP_MAX_LAYERS - 1];
	int			epochs, batch_size, patience;
	double		lr, weight_decay, dropout, val_fraction, max_grad_norm;
	uint64		seed;
	bool		balanced;		/* class_weight "balanced" */
} MlpOptions;

/* state of one MLP training run */
typedef struct MlpTrainer
{
	TfmTask		task;
	MlpOptions	o;
	TfmRows		rows;			/* feats standardised in place once the statistics are known */
	int			K, L, dims[TFM_MLP_MAX_LAYERS + 1];
	char	  **labels;
	int		   *y;
	float	   *yt;
	double		tmean, tstd;
	double	   *mean, *std;		/* (D) of the training rows */
	float	   *cw;				/* (K) class weights, NULL for none */
	int		   *train_idx, ntrain, *val_idx, nval;
	size_t		np;
	float	   *p, *dp, *am, *av, *best;
	TfmRng		rng;
	int			step, epochs_run, best_epoch;
	double		best_val_loss, seconds;
	StringInfoData history;
} MlpTrainer;

/* option hidden: an array of up to TFM_MLP_MAX_LAYERS - 1 layer widths in [1, 4096] (default [64]) */
static void
hidden_option(MlpOptions *o, Jsonb *options)
{
	JsonbValue	v;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbContainer *arr;

	o->nhidden = 1;
	o->hidden[0] = 64;
	if (!TfmJsonGet(&options->root, "hidden", &v) || v.type == jbvNull)
		return;
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("training option \"hidden\" must be an array of layer widths, for example [64, 32]")));
	arr = v.val.binary.data;
	o->nhidden = 0;
	it = JsonbIteratorInit(arr);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (o->nhidden == TFM_MLP_MAX_LAYERS - 1)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("training option \"hidden\" may list at most %d layers", TFM_MLP_MAX_LAYERS - 1)));
		o->hidden[o->nhidden++] = (int) TfmJsonNumericToInt(&v, 1, 4096, "options", "hidden");
	}
}

/* read the training options of an MLP */
static void
mlp_options(MlpOptions *o, Jsonb *options)
{
	JsonbContainer *c = &options->root;
	char	   *cw;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("options must be a JSON object")));
	TfmJsonCheckKeys(options, option_names, "training option");
	hidden_option(o, options);
	o->epochs = TfmJsonGetInt(c, "epochs", 200, 1, 100000, "options");
	o->batch_size = TfmJsonGetInt(c, "batch_size", 64, 1, 65536, "options");
	o->lr = TfmTrainNumOption(c, "learning_rate", 1e-3, 1e-9, 10);
	o->weight_decay = TfmTrainNumOption(c, "weight_decay", 1e-4, 0, 1);
	o->dropout = TfmTrainNumOption(c, "dropout", 0, 0, 0.9);
	o->val_fraction = TfmTrainNumOption(c, "validation_fraction", 0.1, 0, 0.9);
	o->max_grad_norm = TfmTrainNumOption(c, "max_grad_norm", 0, 0, 1e6);
	o->seed = TfmJsonGetInt(c, "seed", 42, 0, PG_INT64_MAX, "options");
	o->patience = TfmTrainPatienceOption(c, 10, 100000, o->val_fraction);
	cw = TfmJsonGetString(c, "class_weight", "none", "options");
	if (strcmp(cw, "none") != 0 && strcmp(cw, "balanced") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("class_weight must be \"balanced\" or \"none\", not \"%s\"", cw)));
	o->balanced = strcmp(cw, "balanced") == 0;
}

/* standardise every row's features with the mean and standard deviation of the training rows */
static void
standardise(MlpTrainer *t)
{
	int			D = t->rows.dim;

	t->mean = palloc0(sizeof(double) * D);
	t->std = palloc0(sizeof(double) * D);
	for (int i = 0; i < t->ntrain; i++)
		for (int c = 0; c < D; c++)
			t->mean[c] += t->rows.feats[(size_t) t->train_idx[i] * D + c] / t->ntrain;
	for (int i = 0; i < t->ntrain; i++)
		for (int c = 0; c < D; c++)
		{
			double		d = t->rows.feats[(size_t) t->train_idx[i] * D + c] - t->mean[c];

			t->std[c] += d * d / t->ntrain;
		}
	/* a constant feature keeps std 1, as scikit-learn's StandardScaler */
	for (int c = 0; c < D; c++)
		t->std[c] = t->std[c] > 1e-24 ? sqrt(t->std[c]) : 1.0;
	for (size_t i = 0; i < (size_t) t->rows.n; i++)
		for (int c = 0; c < D; c++)
			t->rows.feats[i * D + c] = (float) ((t->rows.feats[i * D + c] - t->mean[c]) / t->std[c]);
}

/* "balanced" class weights from the training rows: n / (K * count of the class) */
static void
class_weights(MlpTrainer *t)
{
	int		   *count = palloc0(sizeof(int) * t->K);

	if (!t->o.balanced || t->task != TFM_TASK_CLASSIFICATION)
		return;
	for (int i = 0; i < t->ntrain; i++)
		count[t->y[t->train_idx[i]]]++;
	t->cw = palloc(sizeof(float) * t->K);
	for (int k = 0; k < t->K; k++)
		t->cw[k] = count[k] ? (float) ((double) t->ntrain / ((double) t->K * count[k])) : 0.0f;
}

/* a uniform draw from the trainer's generator */
static double
rng_uniform(void *rng)
{
	return TfmRngUniform((TfmRng *) rng);
}

/* layer sizes, parameters, gradients and AdamW moments; error 53200 beyond pg_tfm.max_memory */
static void
setup_params(MlpTrainer *t)
{
	int			B = Min(t->o.batch_size, t->ntrain), R = Min(Max(t->rows.n, 1), EVAL_CHUNK), widest = t->K;
	double		bytes;

	t->L = t->o.nhidden + 1;
	t->dims[0] = t->rows.dim;
	for (int l = 0; l < t->o.nhidden; l++)
		widest = Max(widest, t->dims[l + 1] = t->o.hidden[l]);
	t->dims[t->L] = t->K;
	t->np = TfmMlpParams(t->dims, t->L);
	bytes = (double) t->np * sizeof(float) * 5 +
		(double) Max(B, R) * (t->rows.dim + 3.0 * widest * t->L + 2.0 * t->K) * sizeof(float);
	TfmCheckMemory(bytes, "training the MLP");
	t->p = palloc_extended(sizeof(float) * t->np, MCXT_ALLOC_HUGE);
	t->dp = palloc_extended(sizeof(float) * t->np, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	t->am = palloc_extended(sizeof(float) * t->np, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	t->av = palloc_extended(sizeof(float) * t->np, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	t->best = palloc_extended(sizeof(float) * t->np, MCXT_ALLOC_HUGE);
	TfmMlpInit(t->p, t->dims, t->L, rng_uniform, &t->rng);
	memcpy(t->best, t->p, sizeof(float) * t->np);
}

/* loss of outputs out (B,K) for rows; gradient into dout (may be NULL) */
static double
batch_loss(MlpTrainer *t, float *dout, const float *out, const int *rows, int B)
{
	int		   *yb = palloc(sizeof(int) * B);
	float	   *wb = palloc(sizeof(float) * B);
	double		loss;

	for (int b = 0; b < B; b++)
	{
		yb[b] = t->y[rows[b]];
		wb[b] = t->yt ? t->yt[rows[b]] : t->cw ? t->cw[yb[b]] : 1.0f;
	}
	if (t->task == TFM_TASK_REGRESSION)
		loss = mse_forward_backward(dout, out, wb, B);
	else
		loss = weighted_crossentropy_forward_backward(dout, out, yb, t->cw ? wb : NULL, B, t->K);
	pfree(yb);
	pfree(wb);
	return loss;
}

/* the standardised features of some rows, gathered into x (B,D) */
static void
gather(const MlpTrainer *t, float *x, const int *rows, int B)
{
	int			D = t->rows.dim;

	for (int b = 0; b < B; b++)
		memcpy(x + (size_t) b * D, t->rows.feats + (size_t) rows[b] * D, sizeof(float) * D);
}

/* AdamW on each layer: weight decay on the weights, none on the biases */
static void
update(MlpTrainer *t)
{
	size_t		off = 0;
	float	   *g = t->dp;

	t->step++;
	if (t->o.max_grad_norm > 0)
		TfmGradClipNorm(&g, &t->np, 1, (float) t->o.max_grad_norm);
	for (int l = 0; l < t->L; l++)
	{
		size_t		nw = (size_t) t->dims[l + 1] * t->dims[l], nb = t->dims[l + 1];

		adamw_update(t->p + off, t->dp + off, t->am + off, t->av + off, nw, (float) t->o.lr, 0.9f, 0.999f,
					 1e-8f, (float) t->o.weight_decay, t->step);
		adamw_update(t->p + off + nw, t->dp + off + nw, t->am + off + nw, t->av + off + nw, nb,
					 (float) t->o.lr, 0.9f, 0.999f, 1e-8f, 0.0f, t->step);
		off += nw + nb;
	}
	memset(t->dp, 0, sizeof(float) * t->np);
}

/* one epoch over the shuffled training rows; returns the mean training loss */
static double
train_epoch(MlpTrainer *t, float *x, float *out, float *dout, float *acts, float *scratch)
{
	int			B = t->o.batch_size;
	double		sum = 0;

	TfmRngShuffle(&t->rng, t->train_idx, t->ntrain);
	for (int i = 0; i < t->ntrain; i += B)
	{
		int			nb = Min(B, t->ntrain - i);
		const int  *rows = t->train_idx + i;

		CHECK_FOR_INTERRUPTS();
		gather(t, x, rows, nb);
		mlp_forward(out, acts, t->p, x, t->dims, t->L, nb, (float) t->o.dropout, t->o.seed * 1000003u + t->step);
		sum += nb * batch_loss(t, dout, out, rows, nb);
		mlp_backward(NULL, t->dp, dout, t->p, x, acts, scratch, t->dims, t->L, nb, (float) t->o.dropout);
		update(t);
	}
	return sum / t->ntrain;
}

/* mean loss over rows idx (no dropout); predicted class (pred) or value (predv) per row when given */
static double
eval_rows(MlpTrainer *t, const int *idx, int n, int *pred, double *predv)
{
	int			R = Min(Max(n, 1), EVAL_CHUNK), K = t->K;
	float	   *x = palloc_extended(sizeof(float) * R * t->rows.dim, MCXT_ALLOC_HUGE);
	float	   *out = palloc_extended(sizeof(float) * R * K, MCXT_ALLOC_HUGE);
	float	   *acts = palloc_extended(sizeof(float) * Max(TfmMlpActFloats(t->dims, t->L, R), 1), MCXT_ALLOC_HUGE);
	double		loss = 0;

	for (int off = 0; off < n; off += R)
	{
		int			m = Min(R, n - off);

		CHECK_FOR_INTERRUPTS();
		gather(t, x, idx + off, m);
		mlp_forward(out, acts, t->p, x, t->dims, t->L, m, 0, 0);
		loss += batch_loss(t, NULL, out, idx + off, m) * m / n;
		TfmTrainPredict(out, m, K, t->tmean, t->tstd, pred ? pred + off : NULL, predv ? predv + off : NULL);
	}
	pfree(x);
	pfree(out);
	pfree(acts);
	return loss;
}

/* metrics of the current weights on the validation rows (the training rows without any) as JSON */
static char *
split_metrics(MlpTrainer *t, double *headline)
{
	const int  *idx = t->nval > 0 ? t->val_idx : t->train_idx;
	int			n = t->nval > 0 ? t->nval : t->ntrain;
	int		   *pred = palloc(sizeof(int) * n), *truth = palloc(sizeof(int) * n);
	double	   *predv = palloc(sizeof(double) * n), *tv = palloc(sizeof(double) * n);
	double		sse = 0, sst = 0, mean = 0;
	StringInfoData s;

	initStringInfo(&s);
	eval_rows(t, idx, n, pred, predv);
	for (int i = 0; i < n; i++)
		truth[i] = t->y[idx[i]], tv[i] = t->rows.target[idx[i]], mean += tv[i] / n;
	if (t->task == TFM_TASK_CLASSIFICATION)
	{
		TfmClassMetrics(&s, truth, pred, n, t->K, (const char *const *) t->labels);
		*headline = TfmAccuracy(truth, pred, n);
		return s.data;
	}
	TfmRegMetrics(&s, tv, predv, n);
	for (int i = 0; i < n; i++)
		sse += (predv[i] - tv[i]) * (predv[i] - tv[i]), sst += (tv[i] - mean) * (tv[i] - mean);
	*headline = sst > 0 ? 1 - sse / sst : 0;
	return s.data;
}

/* report an epoch: NOTICE every 10 epochs and at the last, the progress file, the history */
static void
report_epoch(MlpTrainer *t, const char *name, int epoch, double train_loss, double val_loss, double elapsed,
			 bool last)
{
	int			steps_per = (t->ntrain + t->o.batch_size - 1) / t->o.batch_size;
	double		left = elapsed / epoch * (t->o.epochs - epoch);
	TfmProgress progress = {name, "mlp", epoch, t->o.epochs, t->step, t->o.epochs * steps_per, train_loss,
	t->nval > 0 ? val_loss : NAN, elapsed, left};

	if (epoch % 10 == 0 || last)
		ereport(NOTICE, (errmsg("mlp epoch %d/%d: train loss %.4f%s, %.2f s elapsed", epoch, t->o.epochs, train_loss,
								t->nval > 0 ? psprintf(", validation loss %.4f", val_loss) : "", elapsed)));
	appendStringInfo(&t->history, "%s{\"epoch\": %d, \"train_loss\": %s, \"val_loss\": %s}",
					 epoch > 1 ? ", " : "", epoch, TfmJsonFloat(train_loss, 6),
					 TfmJsonFloat(t->nval > 0 ? val_loss : NAN, 6));
	TfmProgressWrite(&progress);
}

/* the epochs, with early stopping on the validation loss (best weights restored) */
static void
run_epochs(MlpTrainer *t, const char *name)
{
	int			B = Min(t->o.batch_size, t->ntrain), widest = 1, bad = 0;
	float	   *x, *out, *dout, *acts, *scratch;
	instr_time	start;

	for (int l = 0; l <= t->L; l++)
		widest = Max(widest, t->dims[l]);
	x = palloc_extended(sizeof(float) * B * t->rows.dim, MCXT_ALLOC_HUGE);
	out = palloc(sizeof(float) * B * t->K);
	dout = palloc(sizeof(float) * B * t->K);
	acts = palloc_extended(sizeof(float) * Max(TfmMlpActFloats(t->dims, t->L, B), 1), MCXT_ALLOC_HUGE);
	scratch = palloc_extended(sizeof(float) * Max(TfmMlpScratchFloats(t->dims, t->L, B), 1), MCXT_ALLOC_HUGE);
	t->best_val_loss = INFINITY;
	initStringInfo(&t->history);
	appendStringInfoChar(&t->history, '[');
	INSTR_TIME_SET_CURRENT(start);
	for (int epoch = 1; epoch <= t->o.epochs; epoch++)
	{
		double		train_loss = train_epoch(t, x, out, dout, acts, scratch);
		double		val_loss = t->nval > 0 ? eval_rows(t, t->val_idx, t->nval, NULL, NULL) : 0;
		bool		stop = false;

		t->epochs_run = epoch;
		if (!isfinite(train_loss))
			ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							errmsg("training diverged: the training loss of mlp epoch %d is not a finite number", epoch),
							errhint("Lower learning_rate, or set max_grad_norm (gradient clipping).")));
		if (t->o.patience > 0 && val_loss < t->best_val_loss - 1e-7)
		{
			t->best_val_loss = val_loss, t->best_epoch = epoch, bad = 0;
			memcpy(t->best, t->p, sizeof(float) * t->np);
		}
		else if (t->o.patience > 0 && ++bad >= t->o.patience)
			stop = true;
		report_epoch(t, name, epoch, train_loss, val_loss, TfmSecondsSince(start), stop || epoch == t->o.epochs);
		if (stop)
			break;
	}
	if (t->o.patience > 0)
		memcpy(t->p, t->best, sizeof(float) * t->np);
	else
		t->best_epoch = t->epochs_run;
	appendStringInfoChar(&t->history, ']');
	t->seconds = TfmSecondsSince(start);
}

/* a JSON array of n doubles (17 significant digits: the statistics round-trip) */
static char *
json_doubles(const double *v, int n)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	for (int i = 0; i < n; i++)
		appendStringInfo(&s, "%s%s", i ? ", " : "", TfmJsonFloat(v[i], 17));
	appendStringInfoChar(&s, ']');
	return s.data;
}

/* the network's shape as the catalog's config */
static char *
config_json(const MlpTrainer *t)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"model_type\": \"mlp\", \"inputs\": %d, \"hidden\": [", t->dims[0]);
	for (int l = 1; l < t->L; l++)
		appendStringInfo(&s, "%s%d", l > 1 ? ", " : "", t->dims[l]);
	appendStringInfo(&s, "], \"outputs\": %d, \"activation\": \"relu\"}", t->K);
	return s.data;
}

/* what tfm_train did, as JSON */
static char *
training_json(const MlpTrainer *t)
{
	const MlpOptions *o = &t->o;

	return psprintf("{\"epochs\": %d, \"batch_size\": %d, \"learning_rate\": %g, \"weight_decay\": %g, \"dropout\": %g, "
					"\"validation_fraction\": %g, \"seed\": " UINT64_FORMAT ", \"early_stopping\": %d, \"class_weight\": %s, "
					"\"max_grad_norm\": %g, \"rows\": %d, \"skipped_rows\": " INT64_FORMAT ", \"train_rows\": %d, "
					"\"validation_rows\": %d, \"epochs_run\": %d, \"best_epoch\": %d, \"seconds\": %.3f, "
					"\"examples_per_second\": %.1f, \"history\": %s}",
					o->epochs, o->batch_size, o->lr, o->weight_decay, o->dropout, o->val_fraction, o->seed,
					o->patience, t->cw ? "\"balanced\"" : "null", o->max_grad_norm, t->rows.n, t->rows.skipped,
					t->ntrain, t->nval, t->epochs_run, t->best_epoch, t->seconds,
					t->seconds > 0 ? (double) t->ntrain * t->epochs_run / t->seconds : 0, t->history.data);
}

/* refuse to store weights that are not all finite */
static void
check_finite(const MlpTrainer *t)
{
	for (size_t i = 0; i < t->np; i++)
		if (!isfinite(t->p[i]))
			ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							errmsg("training diverged: the trained weights are not all finite numbers"),
							errhint("Lower learning_rate, or set max_grad_norm (gradient clipping).")));
}

/* insert the trained version into tfm.model (a new name or the next version of name) */
static void
store(MlpTrainer *t, const char *name)
{
	double		headline;
	char	   *metrics = split_metrics(t, &headline), *config = config_json(t), *training = training_json(t);
	char	   *opts = psprintf("{\"feature_mean\": %s, \"feature_std\": %s, \"target_mean\": %s, \"target_std\": %s}",
								json_doubles(t->mean, t->dims[0]), json_doubles(t->std, t->dims[0]),
								TfmJsonFloat(t->tmean, 17), TfmJsonFloat(t->tstd, 17));
	TfmNewVersion v = {.name = name, .architecture = TFM_MLP_BASE, .task = TfmTaskName(t->task), .dim = t->dims[0],
	.params = (int64) t->np, .head = t->p, .head_bytes = sizeof(float) * t->np};
	StringInfoData key;

	check_finite(t);
	/* the version's identity: shape, statistics, weights, labels */
	initStringInfo(&key);
	appendStringInfo(&key, "%s\n%s\n", config, opts);
	appendBinaryStringInfo(&key, (const char *) t->p, sizeof(float) * t->np);
	for (int k = 0; t->labels && k < t->K; k++)
		appendStringInfo(&key, "\n%s", t->labels[k]);
	if (t->task == TFM_TASK_CLASSIFICATION)
		v.labels = t->labels, v.nlabels = t->K;
	v.sha256 = TfmSha256Hex(key.data, key.len);
	v.config = TfmJsonParse(config, strlen(config), "config");
	v.tokenizer = TfmJsonParse("{}", 2, "tokenizer");
	v.options = TfmJsonParse(opts, strlen(opts), "options");
	v.metrics = TfmJsonParse(metrics, strlen(metrics), "metrics");
	v.training = TfmJsonParse(training, strlen(training), "training");
	(void) TfmStoreVersion(&v);
	ereport(NOTICE, (errmsg("model \"%s\" trained: %s %.4f on %d %s rows", name,
							t->task == TFM_TASK_CLASSIFICATION ? "accuracy" : "r2", headline,
							t->nval > 0 ? t->nval : t->ntrain, t->nval > 0 ? "validation" : "training")));
}

/* CALL tfm_train(name, 'mlp', query, task, options): read and check every row, then train and store */
void
TfmMlpTrain(const char *name, const char *query, TfmTask task, Jsonb *options)
{
	MlpTrainer *t = palloc0(sizeof(MlpTrainer));

	t->task = task;
	mlp_options(&t->o, options);
	TfmRowsReadFeatures(&t->rows, query, task, 0, TFM_MAX_LABELS);
	if (t->rows.n < 2)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("the training query gave %d usable rows, at least 2 are needed", t->rows.n)));
	TfmRngSeed(&t->rng, t->o.seed);
	t->K = TfmTrainTargets(&t->rows, task, &t->labels, &t->y, &t->yt, &t->tmean, &t->tstd);
	t->train_idx = palloc(sizeof(int) * t->rows.n);
	t->val_idx = palloc(sizeof(int) * t->rows.n);
	TfmSplitRows(&t->rng, t->y, t->rows.n, task == TFM_TASK_CLASSIFICATION ? t->K : 1, t->o.val_fraction,
				 t->train_idx, &t->ntrain, t->val_idx, &t->nval);
	if (t->nval == 0)
		t->o.patience = 0;
	standardise(t);
	class_weights(t);
	setup_params(t);
	TfmProgressSweep();
	PG_TRY();
	{
		run_epochs(t, name);
		store(t, name);
	}
	PG_FINALLY();
	{
		TfmProgressClear();
	}
	PG_END_TRY();
}
