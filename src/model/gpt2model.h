/* gpt2model.h: what a GPT-2 model is made of: config, tensor slots, fp32 image layout, tokenizer blob */
#ifndef TFM_GPT2MODEL_H
#define TFM_GPT2MODEL_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "model/gpt2.h"
#include "model/safetensors.h"

/* config.json of a GPT-2 model plus the special ids generation needs */
typedef struct TfmGpt2Info
{
	TfmGpt2Config cfg;
	int32		eos;			/* eos_token_id, -1 when none */
	int32		bos;			/* bos_token_id (else eos), fed for an empty prompt; -1 when none */
} TfmGpt2Info;

/* a GPT-2 model's part of a model handle (model/handle.h, TFM_ARCH_GPT2); pointers into the mapped cache file */
typedef struct TfmGpt2Part
{
	TfmGpt2Info info;
	int			ctx;			/* context length tfm_generate uses (import option max_tokens) */
	const void *bpe;			/* the byte-level BPE blob (text/bpe.h) */
	TfmGpt2Weights w;
	TfmGpt2Layer *layers;		/* [info.cfg.n_layer], in the handle's context */
} TfmGpt2Part;

extern bool TfmConfigIsGpt2(Jsonb *config);
extern void TfmGpt2InfoFromJson(TfmGpt2Info *info, Jsonb *config, const char *what);
extern int	TfmGpt2OptionsFromJson(Jsonb *options, const TfmGpt2Config *cfg, bool from_user);
extern int	TfmGpt2SlotCount(const TfmGpt2Config *cfg);
extern uint64 TfmGpt2SlotFloats(const TfmGpt2Config *cfg, int slot);
extern uint64 TfmGpt2WeightsFloats(const TfmGpt2Config *cfg);
extern uint64 TfmGpt2Params(const TfmGpt2Config *cfg);
extern TfmTensorInfo **TfmGpt2Resolve(TfmSafetensors *st, const TfmGpt2Config *cfg);
extern void TfmGpt2Materialise(float *dst, const TfmGpt2Config *cfg, const TfmSafetensors *st,
							   TfmTensorInfo **slots, const char *buf);
extern void TfmGpt2Bind(TfmGpt2Weights *w, TfmGpt2Layer *layers, const TfmGpt2Config *cfg, const float *base);
extern TfmGpt2Part *TfmGpt2PartLoad(MemoryContext cxt, Jsonb *config, Jsonb *options);
extern void TfmGpt2PartBind(TfmGpt2Part *g, const void *bpe, const float *weights, MemoryContext cxt);

/* bpejson.c: the byte-level BPE tokenizer from JSON */
extern void *TfmBpeBlobFromModel(JsonbContainer *model, int n_vocab, bool missing_ok, size_t *size, const char *what);
extern void *TfmBpeFromJson(Jsonb *tokenizer, const TfmGpt2Config *cfg, size_t *size, const char *what);
extern Jsonb *TfmBpeCatalogJson(const char *vocab, uint64 vsize, const char *merges, uint64 msize,
								const char *vwhat, const char *mwhat);

#endif
