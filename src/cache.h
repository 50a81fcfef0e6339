/* cache.h: per-backend handles on model versions: mapped encoder weights, tokenizer, trained head */
#ifndef TFM_CACHE_H
#define TFM_CACHE_H

#include "postgres.h"

#include "bert.h"
#include "cachefile.h"
#include "model.h"
#include "tokenizer.h"

typedef enum TfmTask
{
	TFM_TASK_EMBEDDING,
	TFM_TASK_CLASSIFICATION,
	TFM_TASK_REGRESSION
} TfmTask;

typedef struct TfmModel
{
	MemoryContext mcxt;			/* holds this struct, layers, labels, head */
	int64		id;
	char		name[TFM_NAMELEN];
	int			version;
	char		sha256[72];		/* of this model version */
	int64		encoder_id;		/* whose weights the encoder maps */
	char		enc_sha256[72];
	TfmTask		task;
	TfmBertConfig cfg;
	TfmModelOptions opt;
	const TfmVocab *vocab;
	TfmBertWeights w;
	TfmBertLayer *layers;
	TfmMapped	map;
	int			nlabels;		/* K for classification, 1 for regression, 0 without head */
	char	  **labels;
	float	   *head;			/* W (K,C) then b (K) */
	double		target_mean;	/* regression targets were standardised with these */
	double		target_std;
	int64		hits;
	struct TfmModel *next;
} TfmModel;

extern TfmModel *TfmModelGet(const char *name);
extern const char *TfmModelName(text *arg);
extern TfmModel *TfmCacheList(void);
extern void TfmCacheForget(int64 model_id);
extern TfmTask TfmTaskFromName(const char *task);
extern const char *TfmTaskName(TfmTask task);

#endif
