/*
 * text/tokjson.h: what every tokenizer.json reader of src/text shares: the refusal of an unsupported
 * component (0A000, naming it) and of a malformed file (22023), the model type inferred as the Rust
 * library infers it, component types, and the vocabulary object {"token": id, ...}
 */
#ifndef TFM_TEXT_TOKJSON_H
#define TFM_TEXT_TOKJSON_H

#include "postgres.h"

#include "utils/jsonb.h"

/* a vocabulary object's tokens (pointers into the jsonb), byte lengths and ids, n of them */
typedef struct TfmTokVocab
{
	int			n;
	const char **tok;
	int		   *len;
	int32	   *id;
} TfmTokVocab;

extern void TfmTokUnsupported(const char *what, const char *component, const char *hint) pg_attribute_noreturn();
extern void TfmTokMalformed(const char *what, const char *problem, const char *hint) pg_attribute_noreturn();
extern const char *TfmTokModelType(JsonbContainer *model);
extern char *TfmTokTypeOf(JsonbContainer *o, const char *what);
extern JsonbContainer *TfmTokArray(JsonbValue *v);
extern JsonbContainer *TfmTokObject(JsonbValue *v);
extern void TfmTokReadVocab(TfmTokVocab *va, JsonbContainer *vocab, int n_vocab, const char *what, const char *hint);
/* bpejson.c: refuse the BPE model options byte-level BPE does not compute (hint NULL: GPT-2's) */
extern void TfmBpeModelCheck(JsonbContainer *model, const char *what, const char *hint, const char *family);

#endif
