/*
 * model/handle.h: a model version ready to compute: what the catalog row says (task, architecture,
 * labels, head) and one family's part (encoder, GPT-2 or MLP: configuration, options, weights mapped from
 * its cache file, tokenizer), each defined next to its family's code. The cache
 * (store/cache.h) owns handles: it makes them on first use and frees them when the version is dropped.
 */
#ifndef TFM_MODEL_HANDLE_H
#define TFM_MODEL_HANDLE_H

#include "postgres.h"

#include "model/arch.h"
#include "model/encoder.h"
#include "model/gpt2model.h"
#include "model/seqhead.h"
#include "store/cachefile.h"

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
	TfmArch		arch;			/* which family part below is set; the others are NULL */
	TfmEncoderPart *enc;		/* TFM_ARCH_BERT: BERT, DistilBERT, RoBERTa, XLM-R (encoder.h) */
	TfmGpt2Part *gpt2;			/* TFM_ARCH_GPT2: the decoder (gpt2model.h) */
	struct TfmMlpModel *mlp;	/* TFM_ARCH_MLP: the network and its standardisation (mlpmodel.h) */
	Jsonb	   *prefixes;		/* options holding prefixes and default_prefix (prefix.c), NULL if none */
	TfmMapped	map;			/* the cache file (not for TFM_ARCH_MLP, whose weights are in the catalog row) */
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

/* refuse a model of another architecture than a function runs (e.g. tfm_embed on GPT-2) */
extern void TfmRequireArch(const TfmModel *m, TfmArch arch, const char *fn);

#endif
