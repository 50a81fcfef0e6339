/* prefix.h: named texts (query/passage prefixes, instructions) an embedding model prepends by kind */
#ifndef TFM_PREFIX_H
#define TFM_PREFIX_H

#include "postgres.h"
#include "utils/jsonb.h"

struct TfmModel;

extern Jsonb *TfmPrefixOptions(Jsonb *options, const char *what);
extern Jsonb *TfmPrefixAdd(Jsonb *options, Jsonb *user, const char *what);
extern Jsonb *TfmPrefixLoad(MemoryContext cxt, Jsonb *options);
extern const char *TfmPrefixOf(const struct TfmModel *m, const char *kind, int *len);
extern Datum TfmPrefixed(const char *pre, int plen, Datum t);

#endif
