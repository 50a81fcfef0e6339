/* cache.h: the per-backend cache of model handles (model/handle.h), found by name through the catalog */
#ifndef TFM_CACHE_H
#define TFM_CACHE_H

#include "postgres.h"

#include "access/xact.h"
#include "datatype/timestamp.h"

#include "model/handle.h"

extern TfmModel *TfmModelGet(const char *name);		/* BERT-family only (42809 otherwise) */
extern TfmModel *TfmModelGetAny(const char *name);	/* BERT or GPT-2: check m->arch */
extern const char *TfmModelName(text *arg);
extern TfmModel *TfmCacheList(void);
extern uint64 TfmCacheGeneration(void);
extern void TfmCacheXactCallback(XactEvent event, void *arg);
extern void TfmCacheForget(int64 model_id);
extern bool TfmServerProcess(int pid, Oid *userid, TimestampTz *started);	/* cacheinfo.c */
extern bool TfmSeesAllActivity(void);
extern bool TfmMaySeeActivityOf(Oid roleid);

#endif
