/* jsonutil.h: reading JSON documents (config.json, tokenizer.json, safetensors headers) with PostgreSQL's jsonb */
#ifndef TFM_JSONUTIL_H
#define TFM_JSONUTIL_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern Jsonb *TfmJsonParse(const char *data, size_t len, const char *what);
extern bool TfmJsonGet(JsonbContainer *obj, const char *key, JsonbValue *out);
extern bool TfmJsonGetObject(JsonbContainer *obj, const char *key, JsonbContainer **out);
extern int64 TfmJsonGetInt(JsonbContainer *obj, const char *key, int64 dflt, int64 lo, int64 hi, const char *what);
extern double TfmJsonGetFloat(JsonbContainer *obj, const char *key, double dflt, const char *what);
extern char *TfmJsonGetString(JsonbContainer *obj, const char *key, const char *dflt, const char *what);
extern int TfmJsonGetBool(JsonbContainer *obj, const char *key, int dflt, const char *what);
extern int64 TfmJsonNumericToInt(JsonbValue *v, int64 lo, int64 hi, const char *what, const char *key);
extern const char *TfmJsonTypeName(JsonbValue *v);
extern char *TfmJsonFloat(double v, int digits);
extern void TfmJsonReopen(StringInfo out);
extern void TfmJsonCheckKeys(Jsonb *obj, const char *const *known, const char *what);

#endif
