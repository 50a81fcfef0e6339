/* import.h: storing model weights in the catalog */
#ifndef TFM_IMPORT_H
#define TFM_IMPORT_H

#include "postgres.h"

extern void TfmCheckModelName(const char *name);
extern char *TfmSha256Hex(const char *buf, uint64 size);
extern void TfmStoreChunks(int64 id, const char *weights, uint64 wsize);

#endif
