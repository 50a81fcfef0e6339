/* model/arch.h: the model families and tasks pg_tfm computes, and their catalog names */
#ifndef TFM_MODEL_ARCH_H
#define TFM_MODEL_ARCH_H

/* what computes a model: the cache file's arch field and TfmModel.arch */
typedef enum TfmArch
{
	TFM_ARCH_BERT,				/* vocab: WordPiece blob (tokenizer.h); weights: BERT slots, linear weights packed */
	TFM_ARCH_GPT2,				/* vocab: byte-level BPE blob (bpe.h); weights: GPT-2 slots, Linear layout */
	TFM_ARCH_MLP				/* a feature-vector MLP (mlpmodel.h): weights in the catalog row, no cache file */
} TfmArch;

/* what a model answers: tfm.model.task */
typedef enum TfmTask
{
	TFM_TASK_EMBEDDING,
	TFM_TASK_CLASSIFICATION,
	TFM_TASK_REGRESSION,
	TFM_TASK_GENERATION,		/* GPT-2: tfm_generate */
	TFM_TASK_CROSS_ENCODER		/* a one-label checkpoint scoring text pairs: tfm_rerank */
} TfmTask;

extern TfmArch TfmArchFromName(const char *architecture);
extern const char *TfmArchTitle(TfmArch arch);
extern TfmTask TfmTaskFromName(const char *task);
extern const char *TfmTaskName(TfmTask task);

#endif
