/* cache.h: per-backend handles on mapped model versions */
#ifndef TFM_CACHE_H
#define TFM_CACHE_H

#include "postgres.h"

#include "bert.h"
#include "cachefile.h"
#include "model.h"
#include "tokenizer.h"

typedef struct TfmModel
{
	int64		id;
	char		name[TFM_NAMELEN];
	int			version;
	char		sha256[72];
	char		task[32];
	TfmBertConfig cfg;
	TfmModelOptions opt;
	const TfmVocab *vocab;
	TfmBertWeights w;
	TfmBertLayer *layers;
	TfmMapped	map;
	int64		hits;
	struct TfmModel *next;
} TfmModel;

extern TfmModel *TfmModelGet(const char *name);
extern const char *TfmModelName(text *arg);
extern TfmModel *TfmCacheList(void);
extern void TfmCacheForget(int64 model_id);

#endif
