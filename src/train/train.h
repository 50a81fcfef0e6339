/* train.h: tfm_train, training a head (encoder frozen) or the whole model on rows of a query */
#ifndef TFM_TRAIN_H
#define TFM_TRAIN_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "portability/instr_time.h"
#include "eval/rows.h"
#include "kernels/optim.h"
#include "model/head.h"

#define TFM_PROBE_EPOCHS 30		/* linear probe before full fine-tuning */
#define TFM_PROBE_LR 1e-3

typedef struct TfmTrainOptions
{
	bool		full;			/* fine_tune 'full' (else 'head') */
	int			epochs;
	int			batch_size;
	double		lr;
	double		val_fraction;
	uint64		seed;
	int			patience;		/* early stopping patience in epochs, 0 = off */
	int			max_tokens;
	double		weight_decay;
	double		warmup;			/* fraction of steps with linear warm-up */
	double		max_grad_norm;
	double		hidden_dropout;
	double		attn_dropout;
	int			hidden_units;	/* 0: linear head; else one GELU hidden layer (a continued checkpoint head: C, its activation) */
	int			precision;		/* TFM_PRECISION_*: full: the new encoder's; head: the base's (no other) */
} TfmTrainOptions;

/* state of one training run */
typedef struct TfmTrainer
{
	TfmModel   *base;
	TfmTask		task;
	TfmTrainOptions o;
	TfmRows		rows;
	int			K;				/* outputs of the head */
	char	  **labels;
	int		   *y;				/* class per row */
	float	   *yt;				/* standardised target per row */
	double		tmean, tstd;
	int		   *train_idx, ntrain, *val_idx, nval;
	/* head (head.h layout), its gradient and AdamW moments */
	float	   *head, *dhead, *hm, *hv, *best_head;
	TfmHeadAct	act;			/* its hidden layer's activation: GELU, or a continued checkpoint head's */
	size_t		head_n;
	/* full fine-tuning: writable encoder weights in slot layout, gradient, moments */
	float	   *enc, *denc, *em, *ev, *best_enc;
	size_t		enc_n;
	TfmBertWeights w, dw;	/* the encoder's weights and their gradients, bound over enc and denc */
	float	   *feats;			/* head mode: standardised pooled features (N,C), computed once */
	double	   *fmean, *fstd;	/* head mode: the standardisation, folded into the head at the end */
	TfmRng		rng;
	bool		phase_full;		/* fine-tuning every weight (after the linear probe) */
	double		phase_lr;
	int			probe_epochs;
	int			step, total_steps;
	int			epochs_run, best_epoch;
	double		best_val_loss;
	double		seconds;		/* epochs */
	double		setup_seconds;	/* head mode: encoding every row once */
	StringInfoData history;
} TfmTrainer;

extern void TfmMlpTrain(const char *name, const char *query, TfmTask task, Jsonb *options);	/* mlptrain.c */
extern void TfmTrainOptionsFromJson(TfmTrainOptions *o, Jsonb *options, const TfmModel *base, TfmTask task);
extern void TfmSplitRows(TfmRng *rng, const int *y, int n, int groups, double frac, int *train, int *ntrain,
						 int *val, int *nval);
extern int	TfmTrainTargets(const TfmRows *r, TfmTask task, char ***labels, int **y, float **yt, double *tmean,
							double *tstd);
extern void TfmTrainRun(TfmTrainer *t, const char *name);
extern double TfmTrainEvalLoss(TfmTrainer *t, const int *idx, int n, int *pred, double *predv);
extern double TfmTrainNumOption(JsonbContainer *c, const char *key, double dflt, double lo, double hi);
extern int	TfmTrainPatienceOption(JsonbContainer *c, int dflt, int max, double val_fraction);
extern double TfmSecondsSince(instr_time start);
extern void TfmTrainPredict(const float *out, int m, int K, double tmean, double tstd, int *pred, double *predv);

#endif
