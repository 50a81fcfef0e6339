/* encoder.h: what an encoder model is made of: BERT config, tensor slots, tokenizer settings, import options */
#ifndef TFM_MODEL_ENCODER_H
#define TFM_MODEL_ENCODER_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "model/bert.h"
#include "model/safetensors.h"
#include "text/tokenizer.h"
#include "text/wordpiece.h"

#define TFM_NAMELEN 64

/* options fixed at import time */
typedef struct TfmModelOptions
{
	int			max_tokens;
	int			pooling;		/* TFM_POOL_MEAN, _CLS, _MAX, _MEAN_SQRT_LEN or _LAST */
	int			normalize;
	int			precision;		/* TFM_PRECISION_*: the linear layers' weights at inference */
} TfmModelOptions;

/*
 * an encoder's part of a model handle (model/handle.h, TFM_ARCH_BERT): BERT, DistilBERT, RoBERTa or
 * XLM-R; the weights and tokenizer blob point into the mapped cache file
 */
typedef struct TfmEncoderPart
{
	TfmBertConfig cfg;
	TfmModelOptions opt;
	const TfmVocab *vocab;		/* the tokenizer blob, of kind tokenizer (text/tokenizer.h) */
	TfmTokenizerKind tokenizer;
	TfmBertWeights w;
	TfmBertLayer *layers;		/* [cfg.layers], in the handle's context */
} TfmEncoderPart;

#define TFM_PRECISION_FP32 0
#define TFM_PRECISION_INT8 1
#define TFM_PRECISION_BF16 2

extern void TfmBertConfigFromJson(TfmBertConfig *cfg, Jsonb *config, const char *what);
extern int	TfmBertConfigCheck(const TfmBertConfig *cfg);
extern int	TfmBertFamily(const char *model_type);
extern int	TfmBertMaxTokens(const TfmBertConfig *cfg);
extern int	TfmPrecisionFromName(const char *prec, const TfmBertConfig *cfg);
extern const char *TfmPrecisionName(int precision);
extern bool TfmPrecisionFits(int precision, const TfmBertConfig *cfg);
extern void TfmOptionsFromJson(TfmModelOptions *opt, Jsonb *options, const TfmBertConfig *cfg, bool from_user);
extern Jsonb *TfmOptionsToJson(const TfmModelOptions *opt);
extern const char *TfmPoolingName(int pooling);
extern int	TfmBertSlotCount(const TfmBertConfig *cfg);
extern void TfmBertSlotDesc(const TfmBertConfig *cfg, int slot, char *name, int64 *rows, int64 *cols);
extern uint64 TfmBertSlotFloats(const TfmBertConfig *cfg, int slot);
extern uint64 TfmBertWeightsFloats(const TfmBertConfig *cfg);
extern TfmTensorInfo **TfmBertResolve(TfmSafetensors *st, const TfmBertConfig *cfg);
extern uint64 TfmBertParams(const TfmBertConfig *cfg);
extern void TfmBertBind(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const float *base);
extern bool TfmBertSlotPacked(const TfmBertConfig *cfg, int slot, int *in, int *out);
extern uint64 TfmBertCacheSlotFloats(const TfmBertConfig *cfg, int slot);
extern uint64 TfmBertFileSlotBytes(const TfmBertConfig *cfg, int slot, int precision);
extern uint64 TfmBertFileBytes(const TfmBertConfig *cfg, int precision);
extern void TfmBertFileSlotFill(char *dst, const TfmBertConfig *cfg, int slot, int precision, const float *src,
								float *panels);
extern void TfmBertBindFile(TfmBertWeights *w, TfmBertLayer *layers, const TfmBertConfig *cfg, const char *base,
							int precision, MemoryContext cxt);
extern uint64 TfmBertWidenBf16(TfmBertLayer *layers, const TfmBertConfig *cfg, MemoryContext cxt);
extern TfmEncoderPart *TfmEncoderPartLoad(MemoryContext cxt, Jsonb *config, Jsonb *options);
extern void TfmEncoderPartBind(TfmEncoderPart *e, const void *vocab, int tokenizer, const char *weights,
							   int precision, MemoryContext cxt);
extern void TfmBertUnpackCache(float *plain, const TfmBertConfig *cfg, const float *cache);

#endif
