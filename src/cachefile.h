/* cachefile.h: the ready-to-use weights file materialised once per model version and mmap'd shared */
#ifndef TFM_CACHEFILE_H
#define TFM_CACHEFILE_H

#include "postgres.h"

#include "bert.h"
#include "gpt2.h"
#include "model.h"

#define TFM_FILE_MAGIC "PGTFMv02"
#define TFM_FILE_HEADER_BYTES 4096

typedef enum TfmArch
{
	TFM_ARCH_BERT,				/* vocab: WordPiece blob (tokenizer.h); weights: BERT slots */
	TFM_ARCH_GPT2				/* vocab: byte-level BPE blob (bpe.h); weights: GPT-2 slots, Linear layout */
} TfmArch;

typedef struct TfmFileHeader
{
	char		magic[8];
	uint32		header_bytes;
	uint32		pad0;
	int64		model_id;
	char		sha256[72];
	TfmBertConfig cfg;
	uint64		vocab_off;
	uint64		vocab_size;
	uint64		weights_off;
	uint64		weights_bytes;
	uint64		file_size;
	uint32		arch;			/* TFM_ARCH_*: which config below describes the weights */
	uint32		pad1;
	TfmGpt2Config gcfg;			/* for TFM_ARCH_GPT2; cfg is zero then */
	uint32		crc;			/* CRC-32C of the bytes above */
} TfmFileHeader;

typedef struct TfmMapped
{
	char	   *base;
	size_t		size;
	const TfmFileHeader *hdr;
	const void *vocab;
	const float *weights;
	char		path[MAXPGPATH];
} TfmMapped;

extern void TfmCacheFilePath(char *path, int64 model_id, const char *sha256);
extern bool TfmCacheFileMap(TfmMapped *m, int64 model_id, const char *sha256);
extern void TfmCacheFileUnmap(TfmMapped *m);
extern void TfmCacheFileEnsure(TfmMapped *m, int64 model_id, const char *sha256);
extern void TfmCacheFileRemove(int64 model_id);

#endif
