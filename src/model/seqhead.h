/*
 * seqhead.h: the head of a Hugging Face *ForSequenceClassification checkpoint, one dense layer with
 * an activation on the first token's hidden state, then the output layer: BERT's pooler + tanh +
 * `classifier`, RoBERTa's (and XLM-R's) `classifier.dense` + tanh + `classifier.out_proj`,
 * DistilBERT's `pre_classifier` + ReLU + `classifier`. Read at import into the layout of a trained
 * MLP head (head.h: W1 (C,C), b1 (C), W2 (K,C), b2 (K)) whose hidden layer is tanh or ReLU.
 */
#ifndef TFM_SEQHEAD_H
#define TFM_SEQHEAD_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "model/bert.h"
#include "model/head.h"
#include "model/safetensors.h"

/* what a sequence-classification checkpoint imports as */
typedef struct TfmSeqHead
{
	const char *task;			/* "classification", "regression" or "cross-encoder" (catalog names) */
	int			K;				/* outputs (labels) */
	char	  **labels;			/* K labels in id order (classification), else NULL */
	bool		multi_label;	/* sigmoid per label instead of softmax */
	TfmHeadAct	act;			/* the hidden layer's activation */
	float	   *head;			/* TfmHeadParams(C, C, K) floats */
	size_t		nfloats;
} TfmSeqHead;

extern bool TfmIsSeqClassification(Jsonb *config);
extern bool TfmIsSeqClassificationArch(const char *arch);
extern bool TfmIsCrossEncoder(JsonbContainer *c);
extern void TfmSeqHeadCheckOptions(Jsonb *options);
extern void TfmSeqHeadRead(TfmSeqHead *h, Jsonb *config, Jsonb *tokenizer, TfmSafetensors *st, const char *buf,
						   const TfmBertConfig *cfg, const char *const *what);
extern Jsonb *TfmSeqHeadOptions(const TfmSeqHead *h, int max_tokens, int hidden, int precision);
extern void TfmSigmoidRows(float *x, int n);

#endif
