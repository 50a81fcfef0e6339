/* cache.h: per-backend handles on model versions: mapped encoder weights, tokenizer, trained head */
#ifndef TFM_CACHE_H
#define TFM_CACHE_H

#include "postgres.h"

#include "access/xact.h"
#include "datatype/timestamp.h"

#include "bert.h"
#include "cachefile.h"
#include "gpt2model.h"
#include "model.h"
#include "seqhead.h"
#include "text/tokenizer.h"
#include "text/wordpiece.h"

typedef enum TfmTask
{
	TFM_TASK_EMBEDDING,
	TFM_TASK_CLASSIFICATION,
	TFM_TASK_REGRESSION,
	TFM_TASK_GENERATION,		/* GPT-2: tfm_generate */
	TFM_TASK_CROSS_ENCODER		/* a one-label checkpoint scoring text pairs: tfm_rerank */
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
	char		enc_key[40];	/* cache_key of the encoder's row: names the cache file */
	TfmTask		task;
	TfmArch		arch;			/* BERT: cfg, opt, vocab, w, layers; GPT-2: gpt2, ctx, bpe, gpt2_w, glayers */
	TfmBertConfig cfg;
	TfmModelOptions opt;
	Jsonb	   *prefixes;		/* options holding prefixes and default_prefix (prefix.c), NULL if none */
	const TfmVocab *vocab;		/* the tokenizer blob, of kind tokenizer (text/tokenizer.h) */
	TfmTokenizerKind tokenizer;
	TfmBertWeights w;
	TfmBertLayer *layers;
	TfmGpt2Info gpt2;
	int			ctx;			/* context length tfm_generate uses (import option max_tokens) */
	const void *bpe;
	TfmGpt2Weights gpt2_w;
	TfmGpt2Layer *glayers;
	TfmMapped	map;
	struct TfmMlpModel *mlp;	/* TFM_ARCH_MLP: the network and its standardisation (mlpmodel.h) */
	int			nlabels;		/* K for classification, 1 for regression, 0 without head */
	char	  **labels;
	float	   *head;			/* head.h layout */
	int			head_hidden;	/* hidden units of the head, 0 for linear */
	TfmHeadAct	head_act;		/* GELU: a trained head; tanh or ReLU: a checkpoint's (seqhead.h) */
	bool		multi_label;	/* sigmoid per label instead of softmax */
	double		target_mean;	/* regression targets were standardised with these */
	double		target_std;
	int64		hits;
	struct TfmModel *next;
} TfmModel;

extern TfmModel *TfmModelGet(const char *name);		/* BERT-family only (42809 otherwise) */
extern TfmModel *TfmModelGetAny(const char *name);	/* BERT or GPT-2: check m->arch */
extern const char *TfmModelName(text *arg);
extern TfmModel *TfmCacheList(void);
extern uint64 TfmCacheGeneration(void);
extern void TfmCacheXactCallback(XactEvent event, void *arg);
extern void TfmCacheForget(int64 model_id);
extern TfmTask TfmTaskFromName(const char *task);
extern const char *TfmTaskName(TfmTask task);
extern void TfmRequireArch(const TfmModel *m, TfmArch arch, const char *fn);
extern bool TfmServerProcess(int pid, Oid *userid, TimestampTz *started);	/* cacheinfo.c */
extern bool TfmSeesAllActivity(void);
extern bool TfmMaySeeActivityOf(Oid roleid);

#endif
