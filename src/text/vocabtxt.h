/* vocabtxt.h: a WordPiece tokenizer.json made from vocab.txt + tokenizer_config.json (+ special_tokens_map.json) */
#ifndef TFM_VOCABTXT_H
#define TFM_VOCABTXT_H

#include "postgres.h"
#include "utils/jsonb.h"

extern Jsonb *TfmWordPieceCatalogJson(const char *vocab, uint64 vsize, Jsonb *config, Jsonb *special_map,
									  const char *vwhat, const char *cwhat);

#endif
