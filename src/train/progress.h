/* progress.h: training progress for tfm_training_progress() in other sessions, one file per backend */
#ifndef TFM_PROGRESS_H
#define TFM_PROGRESS_H

/* what tfm_training_progress() shows of a running training (progress.c writes it as JSON) */
typedef struct TfmProgress
{
	const char *model;
	const char *phase;			/* "head", "full" or "mlp" */
	int			epoch, epochs, step, steps;
	double		train_loss, val_loss, elapsed, remaining;	/* non-finite ones are written as null */
} TfmProgress;

/* publish this backend's progress (best effort; the file goes when the backend exits) */
extern void TfmProgressWrite(const TfmProgress *p);
/* remove this backend's progress file */
extern void TfmProgressClear(void);
/* remove the files that killed backends left behind */
extern void TfmProgressSweep(void);

#endif
