/* generate.h: GPT-2 text generation: tokenize, prefill + decode with or without the KV cache, sample, decode text */
#ifndef TFM_GENERATE_H
#define TFM_GENERATE_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "store/cache.h"

/* options of tfm_generate */
typedef struct TfmGenOptions
{
	float		temperature;	/* 0: greedy */
	int			top_k;			/* 0: all tokens */
	float		top_p;			/* 1: all tokens */
	uint64		seed;			/* splitmix64 state the sampler starts from */
	bool		kv_cache;		/* false: recompute the whole prefix per token (tests, benchmarks) */
} TfmGenOptions;

extern void TfmGenOptionsFromJson(TfmGenOptions *o, Jsonb *options, int n_vocab);
extern int32 *TfmGenerate(const TfmModel *m, const int32 *prompt, int n, int max_new,
						  const TfmGenOptions *o, int *nout);
extern float *TfmGpt2Logits(const TfmModel *m, const int32 *ids, int n, bool kv_cache);
extern text *TfmGpt2DecodeText(const TfmModel *m, const int32 *ids, int n);

#endif
