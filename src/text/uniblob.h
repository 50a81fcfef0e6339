/* uniblob.h - the layout of the Unigram tokenizer blob (unigram.c builds and checks it, uniencode.c reads it) */
#ifndef PG_TFM_UNIBLOB_H
#define PG_TFM_UNIBLOB_H

#include <stdint.h>

#include "added.h"

#define UNI_MAGIC 0x324e4955u		/* "UIN2": 2 added the pieces' strings by id */

typedef struct UniHeader
{
	uint32_t magic, pad0;
	uint64_t total_size;
	int32_t n_pieces, unk_id, byte_fallback, n_norm;
	int32_t whitespace_split, metaspace, prepend, split;
	int32_t n_prefix, n_suffix, nadded, pair_roberta;	/* pair_roberta: TfmUniSpec's */
	int32_t prefix[8], suffix[8];
	double unk_score;				/* the lowest piece score - 10 */
	uint64_t norm_off;				/* UniNorm[n_norm] */
	uint64_t added_off;				/* TfmAddedEntry[nadded] */
	uint64_t str_off, str_len;		/* added tokens, Replace patterns, the Metaspace replacement */
	uint64_t score_off;				/* double[n_pieces] */
	uint64_t node_off, n_nodes;		/* UniNode[n_nodes]: the pieces' byte trie, node 0 its root */
	uint64_t unit_off, n_units;		/* the charsmap's double array (uint32_t[n_units]) */
	uint64_t pool_off, pool_len;	/* the charsmap's replacement strings */
	uint32_t repl_off, repl_len;	/* into the string area */
	uint64_t span_off;				/* UniSpan[n_pieces]: each piece's bytes in the piece area */
	uint64_t pstr_off, pstr_len;	/* the piece area */
} UniHeader;

/* where the string of a piece id lies in the piece area */
typedef struct UniSpan
{
	uint32_t off, len;
} UniSpan;

typedef struct UniNorm
{
	int32_t kind, left, right, pad;
	uint32_t pat_off, pat_len, con_off, con_len;	/* into the string area */
} UniNorm;

typedef struct UniNode
{
	uint32_t first;					/* index of the first child; children are contiguous, by byte */
	uint16_t n;						/* children */
	uint8_t byte;					/* the byte leading here from the parent */
	uint8_t pad;
	int32_t id;						/* the piece ending here, -1 for none */
} UniNode;

#endif /* PG_TFM_UNIBLOB_H */
