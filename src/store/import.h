/* import.h: checking and storing model versions in the catalog */
#ifndef TFM_IMPORT_H
#define TFM_IMPORT_H

#include "postgres.h"

#include "store/catalog.h"
#include "utils/jsonb.h"

extern void TfmCheckModelName(const char *name);
extern char *TfmSha256Hex(const char *buf, uint64 size);
extern int64 TfmStoreVersion(const TfmNewVersion *v);
extern int64 TfmImportModel(const char *name, Jsonb *config, Jsonb *tokenizer, const char *weights, uint64 wsize,
							Jsonb *options, const char *const *what);

#endif
