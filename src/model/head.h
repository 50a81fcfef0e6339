/*
 * head.h: the classifier/regressor on pooled vectors: linear (H = 0) or one hidden layer of H units,
 * GELU for the heads tfm_train makes, tanh or ReLU for a checkpoint's (seqhead.h)
 */
#ifndef TFM_HEAD_H
#define TFM_HEAD_H

#include <stddef.h>

/* most labels a classifier may be trained with (checked while reading the rows, 54000) */
#define TFM_MAX_LABELS 1000

/* the hidden layer's activation */
typedef enum TfmHeadAct
{
	TFM_HEAD_GELU = 0,			/* pg_tfm's trained heads */
	TFM_HEAD_TANH,				/* BERT's pooler, RoBERTa's classifier.dense */
	TFM_HEAD_RELU				/* DistilBERT's pre_classifier */
} TfmHeadAct;

/*
 * Parameters, one block: linear W (K,C), b (K); MLP W1 (H,C), b1 (H), W2 (K,H), b2 (K).
 * pre (B,H) keeps the hidden layer's input for the backward pass, act (B,H) its output;
 * head_backward needs dact scratch of 2*B*H floats. Linear heads ignore pre, act, dact and fn.
 */
size_t		TfmHeadParams(int C, int H, int K);
void		head_forward(float *out, float *pre, float *act, const float *p, const float *x, int B, int C, int H, int K,
						 TfmHeadAct fn);
void		head_backward(float *dx, float *dp, const float *dout, const float *p, const float *x,
						  const float *pre, const float *act, float *dact, int B, int C, int H, int K, TfmHeadAct fn);
TfmHeadAct	TfmHeadActFromName(const char *name);
const char *TfmHeadActName(TfmHeadAct fn);
void		TfmHeadInit(float *p, int C, int H, int K, double (*normal) (void *), void *rng);
void		TfmHeadFold(float *p, const double *mean, const double *std, int C, int H, int K);
void		TfmHeadUnfold(float *p, const double *mean, const double *std, int C, int H, int K);
/* softmax over each row of x (n,K), in place */
void		TfmSoftmaxRows(float *x, int n, int K);

#endif
