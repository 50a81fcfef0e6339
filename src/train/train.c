/* train.c: tfm_train's loop: stratified split, head or full fine-tuning with AdamW, early stopping */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "infer/infer.h"
#include "jsonutil.h"
#include "kernels/ops.h"
#include "kernels/optim.h"
#include "model/bert.h"
#include "model/encoder.h"
#include "model/head.h"
#include "pg_tfm.h"
#include "train/progress.h"
#include "train/train.h"
#include "train/trainpair.h"

static const char *const option_names[] = {
	"fine_tune", "epochs", "batch_size", "learning_rate", "validation_fraction", "seed",
	"early_stopping", "max_tokens", "weight_decay", "warmup_fraction", "max_grad_norm",
	"hidden_dropout", "attention_dropout", "hidden_units", "precision", NULL};

/* a number training option within [lo, hi] */
double
TfmTrainNumOption(JsonbContainer *c, const char *key, double dflt, double lo, double hi)
{
	double		v = TfmJsonGetFloat(c, key, dflt, "options");

	if (!(v >= lo && v <= hi))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("training option \"%s\" must be between %g and %g", key, lo, hi)));
	return v;
}

/* option early_stopping: the patience in epochs (true: dflt, false: 0, or a number in [0, max]); 0 when
 * nothing validates (val_fraction 0) */
int
TfmTrainPatienceOption(JsonbContainer *c, int dflt, int max, double val_fraction)
{
	JsonbValue	v;
	int			patience = dflt;

	if (TfmJsonGet(c, "early_stopping", &v) && v.type == jbvBool)
		patience = v.val.boolean ? dflt : 0;
	else if (TfmJsonGet(c, "early_stopping", &v) && v.type != jbvNull)
		patience = TfmJsonNumericToInt(&v, 0, max, "options", "early_stopping");
	return val_fraction == 0 ? 0 : patience;
}

/* read training options with defaults that depend on the fine-tuning mode */
void
TfmTrainOptionsFromJson(TfmTrainOptions *o, Jsonb *options, const TfmModel *base, TfmTask task)
{
	JsonbContainer *c = &options->root;
	char	   *ft;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("options must be a JSON object")));
	TfmJsonCheckKeys(options, option_names, "training option");
	ft = TfmJsonGetString(c, "fine_tune", "head", "options");
	if (strcmp(ft, "head") != 0 && strcmp(ft, "full") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("fine_tune must be \"head\" or \"full\", not \"%s\"", ft)));
	o->full = strcmp(ft, "full") == 0;
	o->epochs = TfmJsonGetInt(c, "epochs", o->full ? 3 : 30, 1, 10000, "options");
	o->batch_size = TfmJsonGetInt(c, "batch_size", 16, 1, 1024, "options");
	o->lr = TfmTrainNumOption(c, "learning_rate", o->full ? 2e-5 : 1e-3, 1e-9, 10);
	o->val_fraction = TfmTrainNumOption(c, "validation_fraction", 0.1, 0, 0.9);
	o->seed = TfmJsonGetInt(c, "seed", 42, 0, PG_INT64_MAX, "options");
	o->max_tokens = TfmJsonGetInt(c, "max_tokens", base->enc->opt.max_tokens, 2, TfmBertMaxTokens(&base->enc->cfg),
								  "options");
	o->weight_decay = TfmTrainNumOption(c, "weight_decay", 0.01, 0, 1);
	o->warmup = TfmTrainNumOption(c, "warmup_fraction", o->full ? 0.1 : 0.0, 0, 1);
	o->max_grad_norm = TfmTrainNumOption(c, "max_grad_norm", 1.0, 0, 1e6);
	o->hidden_dropout = TfmTrainNumOption(c, "hidden_dropout", o->full ? 0.1 : 0.0, 0, 0.9);
	o->attn_dropout = TfmTrainNumOption(c, "attention_dropout", o->full ? 0.1 : 0.0, 0, 0.9);
	o->hidden_units = TfmJsonGetInt(c, "hidden_units", 0, 0, 4096, "options");
	o->patience = TfmTrainPatienceOption(c, 3, 10000, o->val_fraction);
	o->precision = TfmPrecisionFromName(TfmJsonGetString(c, "precision", TfmPrecisionName(base->enc->opt.precision),
														 "options"), &base->enc->cfg);
	if (!o->full && o->precision != base->enc->opt.precision)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("a head trained on model \"%s\" runs at its encoder's precision \"%s\"",
							   base->name, TfmPrecisionName(base->enc->opt.precision)),
						errhint("Leave out precision, train with fine_tune \"full\", or train on a copy of the "
								"encoder at that precision.")));
	(void) task;
}

/*
 * split n rows into training and validation index arrays (each of n ints), stratified by y when groups >
 * 1 (y in [0, groups); unread, may be NULL, when 1): per group a fraction frac (at least one row of a group of
 * two or more) validates
 */
void
TfmSplitRows(TfmRng *rng, const int *y, int n, int groups, double frac, int *train, int *ntrain, int *val, int *nval)
{
	int		   *idx = palloc(sizeof(int) * Max(n, 1));

	*ntrain = *nval = 0;
	for (int g = 0; g < groups; g++)
	{
		int			m = 0, nv;

		for (int i = 0; i < n; i++)
			if (groups == 1 || y[i] == g)
				idx[m++] = i;
		TfmRngShuffle(rng, idx, m);
		nv = (int) floor(m * frac + 0.5);
		if (frac > 0 && nv == 0 && m >= 2)
			nv = 1;
		for (int i = 0; i < m; i++)
		{
			if (i < nv)
				val[(*nval)++] = idx[i];
			else
				train[(*ntrain)++] = idx[i];
		}
	}
	if (*ntrain == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("no rows left for training after the validation split")));
	pfree(idx);
}

/* split rows into training and validation, stratified by class for classification; a cross-encoder's by query */
static void
split(TfmTrainer *t)
{
	int			groups = t->task == TFM_TASK_CLASSIFICATION ? t->K : 1;

	t->train_idx = palloc(sizeof(int) * Max(t->rows.n, 1));
	t->val_idx = palloc(sizeof(int) * Max(t->rows.n, 1));
	if (t->rows.pair)
		TfmSplitQueries(&t->rng, t->rows.query, t->y, t->rows.n, groups, t->o.val_fraction,
						t->train_idx, &t->ntrain, t->val_idx, &t->nval);
	else
		TfmSplitRows(&t->rng, t->y, t->rows.n, groups, t->o.val_fraction, t->train_idx, &t->ntrain, t->val_idx,
					 &t->nval);
}

/*
 * learning rate of step (counted from 0) in the current phase: the phase's rate (TFM_PROBE_LR in the
 * linear probe of a full fine-tune, else learning_rate), with linear warm-up then linear decay (full)
 * or constant (head)
 */
static double
lr_at(const TfmTrainer *t, int step)
{
	double		warm = t->phase_full ? t->o.warmup * t->total_steps : 0;

	if (step < warm)
		return t->phase_lr * (step + 1) / warm;
	if (!t->phase_full)
		return t->phase_lr;
	return t->phase_lr * Max(0.0, (double) (t->total_steps - step) / Max(1.0, t->total_steps - warm));
}

/* loss and gradient of the head's outputs for a batch; dout may be NULL */
static double
head_loss(TfmTrainer *t, float *dout, const float *out, const int *rows, int B)
{
	int		   *yb = palloc(sizeof(int) * B);
	float	   *tb = palloc(sizeof(float) * B);
	float	   *dummy = dout ? dout : palloc_extended(sizeof(float) * B * t->K, MCXT_ALLOC_HUGE);
	double		loss;

	for (int b = 0; b < B; b++)
	{
		if (t->task == TFM_TASK_CLASSIFICATION)
			yb[b] = t->y[rows[b]];
		else
			tb[b] = t->yt[rows[b]];
	}
	if (t->task == TFM_TASK_CLASSIFICATION)
		loss = crossentropy_forward_backward(dummy, out, yb, B, t->K);
	else
		loss = mse_forward_backward(dummy, out, tb, B);
	pfree(yb);
	pfree(tb);
	if (!dout)
		pfree(dummy);
	return loss;
}

/* one AdamW step on the head (and the encoder when full), then clear the gradients */
static void
update(TfmTrainer *t)
{
	float	   *grads[2] = {t->dhead, t->denc};
	size_t		sizes[2] = {t->head_n, t->enc_n};
	float		lr = (float) lr_at(t, t->step);

	t->step++;
	if (t->o.max_grad_norm > 0)
		TfmGradClipNorm(grads, sizes, t->phase_full ? 2 : 1, (float) t->o.max_grad_norm);
	adamw_update(t->head, t->dhead, t->hm, t->hv, t->head_n, lr, 0.9f, 0.999f, 1e-8f,
				 (float) t->o.weight_decay, t->step);
	memset(t->dhead, 0, sizeof(float) * t->head_n);
	if (!t->phase_full)
		return;
	for (int s = 0, off = 0; s < TfmBertSlotCount(&t->base->enc->cfg); s++)
	{
		char		name[128];
		int64		rows, cols;
		size_t		n = TfmBertSlotFloats(&t->base->enc->cfg, s);

		/* no weight decay on biases and LayerNorm weights, as Hugging Face's Trainer */
		TfmBertSlotDesc(&t->base->enc->cfg, s, name, &rows, &cols);
		adamw_update(t->enc + off, t->denc + off, t->em + off, t->ev + off, n, lr, 0.9f, 0.999f, 1e-8f,
					 rows ? (float) t->o.weight_decay : 0.0f, t->step);
		off += n;
	}
	memset(t->denc, 0, sizeof(float) * t->enc_n);
}

/* run the head forward and backward on pooled vectors x (B,C); dx (B,C) may be NULL */
static double
head_step(TfmTrainer *t, float *dx, const float *x, const int *rows, int B)
{
	int			C = t->base->enc->cfg.hidden, K = t->K, H = t->o.hidden_units;
	float	   *out = palloc(sizeof(float) * B * K);
	float	   *dout = palloc(sizeof(float) * B * K);
	float	   *pre = palloc(sizeof(float) * Max(B * H, 1));
	float	   *act = palloc(sizeof(float) * Max(B * H, 1));
	float	   *dact = palloc(sizeof(float) * Max(2 * B * H, 1));
	double		loss;

	head_forward(out, pre, act, t->head, x, B, C, H, K, t->act);
	loss = head_loss(t, dout, out, rows, B);
	head_backward(dx, t->dhead, dout, t->head, x, pre, act, dact, B, C, H, K, t->act);
	pfree(out);
	pfree(dout);
	pfree(pre);
	pfree(act);
	pfree(dact);
	return loss;
}

/* head mode: one step on a batch of precomputed features */
static double
step_head(TfmTrainer *t, const int *rows, int B)
{
	int			C = t->base->enc->cfg.hidden;
	float	   *x = palloc(sizeof(float) * B * C);
	double		loss;

	for (int b = 0; b < B; b++)
		memcpy(x + (size_t) b * C, t->feats + (size_t) rows[b] * C, sizeof(float) * C);
	loss = head_step(t, NULL, x, rows, B);
	update(t);
	pfree(x);
	return loss;
}

/* full mode: forward with activations, backward through head, pooling and encoder, one step */
static double
step_full(TfmTrainer *t, const int *rows, int B)
{
	const TfmBertConfig *cfg = &t->base->enc->cfg;
	int			C = cfg->hidden, T = 1;
	int		   *lens = palloc(sizeof(int) * B);
	int32	   *ids;
	float	   *hidden, *acts, *scratch, *x, *dx;
	uint64		seed = t->o.seed * 1000003u + t->step;
	double		loss;

	for (int b = 0; b < B; b++)
		T = Max(T, lens[b] = t->rows.lens[rows[b]]);
	ids = palloc0(sizeof(int32) * B * T);
	for (int b = 0; b < B; b++)
		memcpy(ids + (size_t) b * T, t->rows.ids[rows[b]], sizeof(int32) * lens[b]);
	hidden = palloc_extended(sizeof(float) * B * T * C, MCXT_ALLOC_HUGE);
	acts = palloc_extended(TfmBertActBytes(cfg, B, T), MCXT_ALLOC_HUGE);
	scratch = palloc_extended(TfmBertTrainScratchBytes(cfg, B, T), MCXT_ALLOC_HUGE);
	x = palloc(sizeof(float) * B * C);
	dx = palloc0(sizeof(float) * B * C);
	bert_forward_train(hidden, acts, cfg, &t->w, ids, lens, B, T, (float) t->o.hidden_dropout,
					   (float) t->o.attn_dropout, seed, scratch, TfmCheckInterrupts);
	TfmPool(x, hidden, lens, B, T, C, t->base->enc->opt.pooling, 0);
	loss = head_step(t, dx, x, rows, B);
	TfmPoolBackward(hidden, dx, hidden, lens, B, T, C, t->base->enc->opt.pooling);
	bert_backward(&t->dw, hidden, acts, cfg, &t->w, ids, lens, B, T, (float) t->o.hidden_dropout,
				  (float) t->o.attn_dropout, seed, scratch, TfmCheckInterrupts);
	update(t);
	pfree(lens);
	pfree(ids);
	pfree(hidden);
	pfree(acts);
	pfree(scratch);
	pfree(x);
	pfree(dx);
	return loss;
}

/* seconds since start */
double
TfmSecondsSince(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/* predictions of m rows of outputs (K each): the class with the highest output, and a score, the first output
 * with the target's standardisation undone or, of two outputs, the second minus the first (a cross-encoder's
 * logit); either may be NULL */
void
TfmTrainPredict(const float *out, int m, int K, double tmean, double tstd, int *pred, double *predv)
{
	for (int i = 0; i < m; i++)
	{
		int			best = 0;

		for (int k = 1; k < K; k++)
			if (out[(size_t) i * K + k] > out[(size_t) i * K + best])
				best = k;
		if (pred)
			pred[i] = best;
		if (predv)
			predv[i] = K == 2 ? out[(size_t) i * K + 1] - out[(size_t) i * K] : out[(size_t) i * K] * tstd + tmean;
	}
}

/* pooled features of some rows with the current weights into out (n,C) */
static void
features(TfmTrainer *t, float *out, const int *idx, int n)
{
	int32	  **ids = palloc(sizeof(int32 *) * Max(n, 1));
	int		   *lens = palloc(sizeof(int) * Max(n, 1));

	if (!t->phase_full)
	{
		for (int i = 0; i < n; i++)
			memcpy(out + (size_t) i * t->base->enc->cfg.hidden, t->feats + (size_t) idx[i] * t->base->enc->cfg.hidden,
				   sizeof(float) * t->base->enc->cfg.hidden);
		return;
	}
	for (int i = 0; i < n; i++)
		ids[i] = t->rows.ids[idx[i]], lens[i] = t->rows.lens[idx[i]];
	TfmEncodeMany(out, t->base, &t->w, ids, lens, n, false);
	pfree(ids);
	pfree(lens);
}

/* rows evaluated at a time: bounds the buffers (and int indexes) whatever the rows and labels */
#define EVAL_CHUNK 4096

/* mean loss over rows idx; predicted class (pred) or value (predv) per row when given */
double
TfmTrainEvalLoss(TfmTrainer *t, const int *idx, int n, int *pred, double *predv)
{
	int			C = t->base->enc->cfg.hidden, K = t->K, H = t->o.hidden_units, R = Min(Max(n, 1), EVAL_CHUNK);
	float	   *x = palloc_extended(sizeof(float) * R * C, MCXT_ALLOC_HUGE);
	float	   *out = palloc_extended(sizeof(float) * R * K, MCXT_ALLOC_HUGE);
	float	   *pre = palloc_extended(sizeof(float) * Max((size_t) R * H, 1), MCXT_ALLOC_HUGE);
	float	   *act = palloc_extended(sizeof(float) * Max((size_t) R * H, 1), MCXT_ALLOC_HUGE);
	double		loss = 0;

	for (int off = 0; off < n; off += R)
	{
		int			m = Min(R, n - off);
		double		l;

		CHECK_FOR_INTERRUPTS();
		features(t, x, idx + off, m);
		head_forward(out, pre, act, t->head, x, m, C, H, K, t->act);
		l = head_loss(t, NULL, out, idx + off, m);
		loss += m == n ? l : l * m / n;	/* one chunk: exactly the mean, as before chunking */
		TfmTrainPredict(out, m, K, t->tmean, t->tstd, pred ? pred + off : NULL, predv ? predv + off : NULL);
	}
	pfree(x);
	pfree(out);
	pfree(pre);
	pfree(act);
	return loss;
}

/*
 * classification: the sorted labels and each row's index (error 22023 with fewer than two); regression:
 * the targets standardised (yt) with their mean and standard deviation; returns the outputs K
 */
int
TfmTrainTargets(const TfmRows *r, TfmTask task, char ***labels, int **y, float **yt, double *tmean, double *tstd)
{
	int			n = r->n, K;

	*tmean = *tstd = 0;
	if (task == TFM_TASK_CLASSIFICATION)
	{
		K = TfmLabelSet(labels, y, r);
		if (K < 2)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("classification needs at least two distinct labels, the query gave %d", K)));
		return K;
	}
	*y = palloc0(sizeof(int) * Max(n, 1));
	*yt = palloc(sizeof(float) * Max(n, 1));
	for (int i = 0; i < n; i++)
		*tmean += r->target[i] / n;
	for (int i = 0; i < n; i++)
		*tstd += (r->target[i] - *tmean) * (r->target[i] - *tmean) / n;
	*tstd = *tstd > 0 ? sqrt(*tstd) : 1.0;
	for (int i = 0; i < n; i++)
		(*yt)[i] = (float) ((r->target[i] - *tmean) / *tstd);
	return 1;
}

/* labels (classification) or standardised targets (regression) */
static void
setup_targets(TfmTrainer *t)
{
	t->K = TfmTrainTargets(&t->rows, t->task, &t->labels, &t->y, &t->yt, &t->tmean, &t->tstd);
}

/* head mode: scale frozen features to zero mean and unit variance over the training rows */
static void
standardise(TfmTrainer *t)
{
	int			C = t->base->enc->cfg.hidden;

	t->fmean = palloc0(sizeof(double) * C);
	t->fstd = palloc0(sizeof(double) * C);
	for (int i = 0; i < t->ntrain; i++)
		for (int c = 0; c < C; c++)
			t->fmean[c] += t->feats[(size_t) t->train_idx[i] * C + c] / t->ntrain;
	for (int i = 0; i < t->ntrain; i++)
		for (int c = 0; c < C; c++)
		{
			double		d = t->feats[(size_t) t->train_idx[i] * C + c] - t->fmean[c];

			t->fstd[c] += d * d / t->ntrain;
		}
	for (int c = 0; c < C; c++)
		t->fstd[c] = t->fstd[c] > 1e-12 ? sqrt(t->fstd[c]) : 1.0;
	for (int i = 0; i < t->rows.n; i++)
		for (int c = 0; c < C; c++)
			t->feats[(size_t) i * C + c] = (float) ((t->feats[(size_t) i * C + c] - t->fmean[c]) / t->fstd[c]);
}

/* fold the feature scaling into the head so it reads raw pooled vectors; restore the features */
static void
fold_standardisation(TfmTrainer *t)
{
	int			C = t->base->enc->cfg.hidden;

	TfmHeadFold(t->head, t->fmean, t->fstd, C, t->o.hidden_units, t->K);
	for (int i = 0; i < t->rows.n; i++)
		for (int c = 0; c < C; c++)
			t->feats[(size_t) i * C + c] = (float) (t->feats[(size_t) i * C + c] * t->fstd[c] + t->fmean[c]);
}

/* a standard normal draw from the trainer's generator */
static double
rng_normal(void *rng)
{
	return TfmRngNormal((TfmRng *) rng);
}

/* allocate zeroed floats, huge allowed */
static float *
zeros(size_t n)
{
	return palloc_extended(sizeof(float) * Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* error 53200 before training when its buffers would exceed pg_tfm.max_memory */
static void
check_budget(const TfmTrainer *t)
{
	const TfmBertConfig *cfg = &t->base->enc->cfg;
	double		B = t->o.batch_size, T = t->o.max_tokens;
	double		bytes = (double) t->rows.tokens * sizeof(int32) +	/* the rows' ids, already held */
		(double) t->rows.n * cfg->hidden * sizeof(float) +	/* frozen features */
		(double) Min(t->rows.n, EVAL_CHUNK) * (cfg->hidden + 2.0 * t->K + 2.0 * t->o.hidden_units) * sizeof(float);	/* evaluation */

	if (t->o.full)				/* weights, gradients, AdamW moments (and best weights), activations */
		bytes += (double) TfmBertWeightsFloats(cfg) * sizeof(float) * (4 + (t->o.patience > 0)) +
			B * T * cfg->hidden * sizeof(float) + (double) TfmBertActBytes(cfg, (int) B, (int) T) +
			(double) TfmBertTrainScratchBytes(cfg, (int) B, (int) T);
	TfmCheckMemory(bytes, t->o.full ? "full fine-tuning" : "training the head");
}

/*
 * true if training continues the base checkpoint's own head (seqhead.h): a softmax classifier whose
 * labels are the rows' labels, or a regressor, with no hidden_units asked for; else a new head is trained
 */
static bool
continues_checkpoint(const TfmTrainer *t)
{
	const TfmModel *b = t->base;

	if (b->task == TFM_TASK_CROSS_ENCODER)
		return TfmTrainPairCheck(t);	/* always its own head, or an error */
	if (b->head_act == TFM_HEAD_GELU || t->o.hidden_units != 0)
		return false;
	if (t->task == TFM_TASK_REGRESSION)
		return b->task == TFM_TASK_REGRESSION;
	if (b->task != TFM_TASK_CLASSIFICATION || b->multi_label || b->nlabels != t->K)
		return false;
	for (int k = 0; k < b->nlabels; k++)
		if (TfmLabelIndex(t->labels, t->K, b->labels[k]) < 0)
			return false;
	return true;
}

/*
 * the base checkpoint's head as the starting head: its output rows moved to the rows' (sorted) label
 * order, a regressor's outputs rescaled from the base's targets to this run's standardised ones
 */
static void
init_from_checkpoint(TfmTrainer *t)
{
	const TfmModel *b = t->base;
	int			C = b->enc->cfg.hidden, K = t->K;
	size_t		first = (size_t) C * C + C;
	float	   *w2 = t->head + first, *b2 = w2 + (size_t) K * C;
	const float *bw2 = b->head + first, *bb2 = bw2 + (size_t) b->nlabels * C;	/* the base's own K */
	bool		reg = t->task == TFM_TASK_REGRESSION;
	double		scale = reg ? b->target_std / t->tstd : 1.0;

	memcpy(t->head, b->head, sizeof(float) * first);
	for (int k = 0; k < b->nlabels; k++)
	{
		/* a cross-encoder's one logit z: the second label's, softmax (0, z) is its sigmoid (trainpair.c) */
		int			to = reg ? 0 : b->task == TFM_TASK_CROSS_ENCODER ? K - 1 : TfmLabelIndex(t->labels, K, b->labels[k]);

		for (int c = 0; c < C; c++)
			w2[(size_t) to * C + c] = (float) (bw2[(size_t) k * C + c] * scale);
		b2[to] = (float) (reg ? (bb2[k] * b->target_std + b->target_mean - t->tmean) / t->tstd : bb2[k]);
	}
}

/* the head to train: the base checkpoint's own (same labels) or a new one; says which with a NOTICE */
static void
setup_head(TfmTrainer *t)
{
	int			C = t->base->enc->cfg.hidden;
	bool		cont = continues_checkpoint(t);

	if (cont)
	{
		t->o.hidden_units = C;
		t->act = t->base->head_act;
		ereport(NOTICE, (errmsg("training continues the head of checkpoint \"%s\"", t->base->name)));
	}
	else if (t->base->head_act != TFM_HEAD_GELU)
		ereport(NOTICE, (errmsg("model \"%s\" is a checkpoint with its own head: a new head is trained on its encoder",
								t->base->name),
						 errdetail("Its head is trained further only for the same labels (a softmax classifier) or "
								   "for regression, without hidden_units.")));
	check_budget(t);
	t->head_n = TfmHeadParams(C, t->o.hidden_units, t->K);
	t->head = zeros(t->head_n);
	if (cont)
		init_from_checkpoint(t);
	else
		TfmHeadInit(t->head, C, t->o.hidden_units, t->K, rng_normal, &t->rng);
}

/* head weights, frozen features for the head (linear probe), encoder copy (full), optimiser state */
static void
setup_params(TfmTrainer *t)
{
	const TfmBertConfig *cfg = &t->base->enc->cfg;
	int			C = cfg->hidden;

	setup_head(t);
	t->dhead = zeros(t->head_n);
	t->hm = zeros(t->head_n);
	t->hv = zeros(t->head_n);
	t->best_head = zeros(t->head_n);
	t->feats = palloc_extended(sizeof(float) * Max(t->rows.n, 1) * C, MCXT_ALLOC_HUGE);
	TfmEncodeMany(t->feats, t->base, &t->base->enc->w, t->rows.ids, t->rows.lens, t->rows.n, false);
	standardise(t);
	if (t->act != TFM_HEAD_GELU)	/* a checkpoint's head reads raw features: make it read standardised ones */
		TfmHeadUnfold(t->head, t->fmean, t->fstd, C, t->o.hidden_units, t->K);
	if (!t->o.full)
		return;
	t->enc_n = TfmBertWeightsFloats(cfg);
	t->enc = palloc_extended(sizeof(float) * t->enc_n, MCXT_ALLOC_HUGE);
	TfmCacheFilePlain(t->enc, &t->base->map, t->base->encoder_id);
	t->denc = zeros(t->enc_n);
	t->em = zeros(t->enc_n);
	t->ev = zeros(t->enc_n);
	if (t->o.patience > 0)
		t->best_enc = palloc_extended(sizeof(float) * t->enc_n, MCXT_ALLOC_HUGE);
	TfmBertBind(&t->w, palloc(sizeof(TfmBertLayer) * cfg->layers), cfg, t->enc);
	TfmBertBind(&t->dw, palloc(sizeof(TfmBertLayer) * cfg->layers), cfg, t->denc);
}

/* validation metric of an epoch: accuracy or r2 */
static double
val_metric(TfmTrainer *t, double *val_loss)
{
	int		   *pred = palloc(sizeof(int) * Max(t->nval, 1));
	double	   *predv = palloc(sizeof(double) * Max(t->nval, 1));
	double		m = 0, sse = 0, sst = 0, mean = 0;

	*val_loss = TfmTrainEvalLoss(t, t->val_idx, t->nval, pred, predv);
	for (int i = 0; i < t->nval; i++)
	{
		if (t->task == TFM_TASK_CLASSIFICATION)
			m += (pred[i] == t->y[t->val_idx[i]]) / (double) t->nval;
		else
			mean += t->rows.target[t->val_idx[i]] / t->nval;
	}
	if (t->task == TFM_TASK_REGRESSION)
	{
		for (int i = 0; i < t->nval; i++)
		{
			double		y = t->rows.target[t->val_idx[i]];

			sse += (predv[i] - y) * (predv[i] - y);
			sst += (y - mean) * (y - mean);
		}
		m = sst > 0 ? 1 - sse / sst : 0;
	}
	return m;
}

/* keep (or restore) the best weights so far */
static void
keep_best(TfmTrainer *t, bool restore)
{
	if (restore)
	{
		memcpy(t->head, t->best_head, sizeof(float) * t->head_n);
		if (t->best_enc)
			memcpy(t->enc, t->best_enc, sizeof(float) * t->enc_n);
		return;
	}
	memcpy(t->best_head, t->head, sizeof(float) * t->head_n);
	if (t->best_enc)
		memcpy(t->best_enc, t->enc, sizeof(float) * t->enc_n);
}

/* report an epoch: NOTICE, progress file, history */
static void
report_epoch(TfmTrainer *t, const char *name, int epoch, int epochs, double train_loss, double val_loss,
			 double metric, double elapsed)
{
	double		left = elapsed / epoch * (epochs - epoch);
	const char *phase = t->phase_full ? "full" : "head";
	const char *mname = t->task == TFM_TASK_CLASSIFICATION ? "accuracy" : "r2";
	TfmProgress progress = {name, phase, epoch, epochs, t->step, t->total_steps, train_loss, val_loss, elapsed, left};
	char	   *json;

	if (t->nval > 0)
		ereport(NOTICE, (errmsg("%s epoch %d/%d: train loss %.4f, validation loss %.4f, %s %.4f, %.1f s elapsed, about %.0f s left",
								phase, epoch, epochs, train_loss, val_loss, mname, metric, elapsed, left)));
	else
		ereport(NOTICE, (errmsg("%s epoch %d/%d: train loss %.4f, %.1f s elapsed, about %.0f s left",
								phase, epoch, epochs, train_loss, elapsed, left)));
	/* lr: the rate of the epoch's last step, as the optimiser applied it */
	json = psprintf("{\"phase\": \"%s\", \"epoch\": %d, \"train_loss\": %s, \"val_loss\": %s, \"val_%s\": %s, \"lr\": %s, \"seconds\": %.3f}",
					phase, epoch, TfmJsonFloat(train_loss, 6), TfmJsonFloat(val_loss, 6), mname,
					TfmJsonFloat(metric, 6), TfmJsonFloat(lr_at(t, t->step - 1), 6), elapsed);
	appendStringInfo(&t->history, "%s%s", t->history.len > 1 ? ", " : "", json);
	TfmProgressWrite(&progress);
}

/* stop a run whose loss is no longer a finite number: its weights are no model to store */
static void
check_diverged(const TfmTrainer *t, int epoch, double train_loss)
{
	if (!isfinite(train_loss))
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("training diverged: the training loss of %s epoch %d is not a finite number",
							   t->phase_full ? "full" : "head", epoch),
						errhint("Lower learning_rate, or set max_grad_norm (gradient clipping).")));
}

/* run up to epochs epochs of the current phase with early stopping on validation loss */
static void
run_epochs(TfmTrainer *t, const char *name, int epochs, instr_time start)
{
	int			bad = 0, B = t->o.batch_size;

	t->step = 0;
	t->total_steps = epochs * ((t->ntrain + B - 1) / B);
	for (int epoch = 1; epoch <= epochs; epoch++)
	{
		double		sum = 0, val_loss = 0, metric = 0;

		TfmRngShuffle(&t->rng, t->train_idx, t->ntrain);
		for (int i = 0; i < t->ntrain; i += B)
		{
			int			nb = Min(B, t->ntrain - i);

			CHECK_FOR_INTERRUPTS();
			sum += nb * (t->phase_full ? step_full(t, t->train_idx + i, nb) : step_head(t, t->train_idx + i, nb));
		}
		if (t->nval > 0)
			metric = val_metric(t, &val_loss);
		t->epochs_run++;
		report_epoch(t, name, epoch, epochs, sum / t->ntrain, val_loss, metric, TfmSecondsSince(start));
		check_diverged(t, epoch, sum / t->ntrain);
		if (t->o.patience == 0)
			continue;
		if (val_loss < t->best_val_loss - 1e-7)
		{
			t->best_val_loss = val_loss, t->best_epoch = t->epochs_run, bad = 0;
			keep_best(t, false);
		}
		else if (++bad >= t->o.patience)
			break;
	}
	if (t->o.patience > 0 && t->best_epoch > 0)
		keep_best(t, true);
	else
		t->best_epoch = t->epochs_run;
}

/* clear the optimiser's moments between phases */
static void
reset_moments(TfmTrainer *t)
{
	memset(t->hm, 0, sizeof(float) * t->head_n);
	memset(t->hv, 0, sizeof(float) * t->head_n);
}

/*
 * prepare and run a training run on t->rows: the head on frozen features first (a linear probe),
 * then, for fine_tune 'full', every weight starting from the probed head (LP-FT), kept only where
 * it lowers the validation loss
 */
void
TfmTrainRun(TfmTrainer *t, const char *name)
{
	instr_time	start;

	TfmRngSeed(&t->rng, t->o.seed);
	setup_targets(t);
	split(t);
	INSTR_TIME_SET_CURRENT(start);
	setup_params(t);
	t->setup_seconds = TfmSecondsSince(start);
	INSTR_TIME_SET_CURRENT(start);
	initStringInfo(&t->history);
	appendStringInfoChar(&t->history, '[');
	t->best_val_loss = INFINITY;
	t->phase_lr = t->o.full ? TFM_PROBE_LR : t->o.lr;
	run_epochs(t, name, t->o.full ? TFM_PROBE_EPOCHS : t->o.epochs, start);
	fold_standardisation(t);
	if (t->o.full)
	{
		double		metric;

		t->phase_full = true;
		t->phase_lr = t->o.lr;
		reset_moments(t);
		t->probe_epochs = t->epochs_run;
		metric = t->nval > 0 ? val_metric(t, &t->best_val_loss) : 0;
		keep_best(t, false);
		ereport(NOTICE, (errmsg("linear probe done: validation loss %.4f, %s %.4f; fine-tuning every weight",
								t->best_val_loss, t->task == TFM_TASK_CLASSIFICATION ? "accuracy" : "r2", metric)));
		INSTR_TIME_SET_CURRENT(start);
		run_epochs(t, name, t->o.epochs, start);
	}
	appendStringInfoChar(&t->history, ']');
	t->seconds = TfmSecondsSince(start);
}
