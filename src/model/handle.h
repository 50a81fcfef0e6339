/*
 * model/handle.h: a model version ready to compute: what the catalog row says (task, architecture,
 * configuration, options, labels, head) and the encoder weights mapped from its cache file. The cache
 * (cache.h) owns handles: it makes them on first use and frees them when the version is dropped.
 */
#ifndef TFM_MODEL_HANDLE_H
#define TFM_MODEL_HANDLE_H

#include "postgres.h"

#include "bert.h"
#include "cachefile.h"
#include "gpt2model.h"
#include "model.h"
#include "model/arch.h"
#include "seqhead.h"
#include "text/tokenizer.h"
#include "text/wordpiece.h"

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

/* refuse a model of another architecture than a function runs (e.g. tfm_embed on GPT-2) */
extern void TfmRequireArch(const TfmModel *m, TfmArch arch, const char *fn);

#endif
