/* stconfig.h: what a model directory says it is: config.json's kind checks and sentence-transformers settings */
#ifndef TFM_STCONFIG_H
#define TFM_STCONFIG_H

#include "postgres.h"
#include "utils/jsonb.h"

/* how import.c reads a file of the model directory (whole, checked) and tests that one exists */
typedef char *(*TfmReadDirFile) (const char *dir, const char *file, uint64 *size, char **pathp);
typedef bool (*TfmDirFileExists) (const char *dir, const char *file);

extern void TfmCheckKind(Jsonb *config, const char *what);
extern Jsonb *TfmStOptions(const char *dir, Jsonb *config, Jsonb *tokenizer, Jsonb *options,
						   TfmReadDirFile readf, TfmDirFileExists exists);

#endif
