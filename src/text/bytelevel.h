/* bytelevel.h - the ByteLevel pre-tokenizer (bytelevel.c) that the BPE core (bpe.c) runs.  Pure C99. */
#ifndef PG_TFM_BYTELEVEL_H
#define PG_TFM_BYTELEVEL_H

#include <stddef.h>
#include <stdint.h>

/* the bytes_to_unicode character of byte b */
int32_t TfmByteChar(int b);

/* fill inv[cp] = byte for the 324 code points of the alphabet, -1 elsewhere */
void TfmByteInverse(int16_t inv[324]);

/* end of the GPT-2 regex match starting at s[i] of valid UTF-8 s[0, len) (i < len) */
size_t TfmByteLevelSplit(const char *s, size_t len, size_t i);

#endif /* PG_TFM_BYTELEVEL_H */
