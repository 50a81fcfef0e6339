/* cachefile.h: the ready-to-use weights file materialised once per model version and mmap'd shared */
#ifndef TFM_CACHEFILE_H
#define TFM_CACHEFILE_H

#include "postgres.h"

#include "model/arch.h"
#include "model/bert.h"
#include "model/encoder.h"
#include "model/gpt2.h"

#define TFM_DIR "pg_tfm"			/* pg_tfm's folder in the data directory */
#define TFM_FILE_MAGIC "PGTFMv07"
#define TFM_FILE_HEADER_BYTES 4096

typedef struct TfmFileHeader
{
	char		magic[8];
	uint32		header_bytes;
	uint32		precision;		/* TFM_PRECISION_* of the weights section (TfmBertFileSlotBytes); fp32 for GPT-2 */
	int64		model_id;
	char		key[72];		/* the version's cache_key (a uuid): a re-created catalog never matches */
	TfmBertConfig cfg;
	uint64		vocab_off;
	uint64		vocab_size;
	uint64		weights_off;
	uint64		weights_bytes;
	uint64		file_size;
	uint32		arch;			/* TFM_ARCH_*: which config below describes the weights */
	uint32		tokenizer;		/* TFM_ARCH_BERT: TfmTokenizerKind of the vocabulary section */
	TfmGpt2Config gcfg;			/* for TFM_ARCH_GPT2; cfg is zero then */
	uint32		vocab_crc;		/* CRC-32C of the vocabulary section */
	uint32		weights_crc;	/* CRC-32C of the whole weights section */
	uint32		sample_crc;		/* CRC-32C of TFM_SAMPLE_BLOCKS blocks spread over the weights */
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

typedef enum TfmVerify
{
	TFM_VERIFY_SAMPLED,			/* header, vocabulary and sampled blocks of the weights */
	TFM_VERIFY_FULL				/* every byte */
} TfmVerify;

extern char *TfmDir(void);
extern void TfmCacheFilePath(char *path, int64 model_id, const char *key);
extern const char *TfmPathShown(const char *path);
extern void TfmCacheFileUnmap(TfmMapped *m);
extern void TfmCacheFileEnsure(TfmMapped *m, int64 model_id, const char *key);
extern char *TfmCacheFileCatalogWeights(int64 model_id, uint64 *size);
extern void TfmCacheFilePlain(float *plain, const TfmMapped *m, int64 model_id);
extern void TfmCacheFileRemoveAtCommit(int64 model_id);
extern void TfmCacheFileRemovePending(bool commit);

#endif
