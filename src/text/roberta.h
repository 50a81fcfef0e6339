/*
 * roberta.h - RoBERTa's tokenizer: added tokens split out of the raw text, byte-level BPE
 * (bpe.c, GPT-2's core) on the pieces between them, the RobertaProcessing template <s> A </s>.
 *
 * ONE contiguous, position-independent blob (offsets only) holding the added tokens, the
 * special ids and a BPE blob.  Nothing here uses postgres.h: functions report failure through
 * their return value (bpe.h's TFM_BPE_* codes) and free everything they allocated.
 */
#ifndef PG_TFM_ROBERTATOK_H
#define PG_TFM_ROBERTATOK_H

#include <stddef.h>
#include <stdint.h>

#include "added.h"
#include "textutil.h"

#define TFM_ADDED_COUNT 1024        /* added tokens */

/* bytes of the blob for these added tokens and a BPE blob of bpe_size bytes; 0 if unusable */
size_t TfmRobertaBlobSize(int nadded, const TfmAddedToken *added, size_t bpe_size);

/*
 * build into dst (size bytes from TfmRobertaBlobSize, 8-byte aligned): cls_id / sep_id wrap every
 * text; add_prefix_space puts a space before each piece that lacks one (ByteLevel's option);
 * bpe is a TfmBpeBuild(Ex) blob.  Returns 0 or TFM_BPE_EINVAL.
 */
int TfmRobertaBuild(void *dst, size_t size, int32_t cls_id, int32_t sep_id, int add_prefix_space,
					int nadded, const TfmAddedToken *added, const void *bpe, size_t bpe_size);

/* verify a blob read from an untrusted file, every id below n_vocab; 0 if ok */
int TfmRobertaCheck(const void *blob, size_t size, int n_vocab);

/*
 * encode UTF-8 text: *ids malloc'd (caller free()s), *n ids, <s> ... </s> included.  Returns 0,
 * TFM_BPE_EUTF8 (*err_offset = byte offset) or TFM_BPE_ENOMEM.
 */
int TfmRobertaEncode(const void *blob, const char *text, size_t len,
					 int32_t **ids, int *n, size_t *err_offset);

/*
 * the token strings (Hugging Face's encoding.tokens) of the n ids TfmRobertaEncode gave for text: an added
 * token as the text it covers (" <mask>" with lstrip), else its content or the byte-level vocabulary string
 * ("Ġworld"), into *out (tfm_pieces_free it); returns 0, TFM_BPE_EINVAL (an id without a string) or ENOMEM
 */
int TfmRobertaPieces(const void *blob, const char *text, size_t len, const int32_t *ids, int n, TfmPieces *out);

#endif /* PG_TFM_ROBERTATOK_H */
