/*
 * stcheck.h - the arithmetic of a safetensors file in pure C99, without postgres.h: the 8-byte
 * header length, dtype names and sizes, and each tensor's shape against its data_offsets and the
 * data section. src/safetensors.c decodes the JSON header (with jsonb) and asks these functions
 * whether the numbers it found are safe to use; test/fuzz/fuzz_safetensors.c fuzzes them.
 */
#ifndef PG_TFM_STCHECK_H
#define PG_TFM_STCHECK_H

#include <stddef.h>
#include <stdint.h>

typedef enum TfmDType
{
	TFM_DT_F32,
	TFM_DT_F16,
	TFM_DT_BF16,
	TFM_DT_I64,
	TFM_DT_OTHER				/* known to safetensors but not usable as weights */
} TfmDType;

typedef enum TfmStProblem
{
	TFM_ST_OK = 0,
	TFM_ST_SHORT_FILE,			/* fewer than 8 bytes */
	TFM_ST_HEADER_TOO_LONG,		/* header length past the file or past the limit */
	TFM_ST_SHAPE_TOO_LARGE,		/* product of the dimensions overflows */
	TFM_ST_OFFSETS_OUTSIDE,		/* begin > end or end past the data section */
	TFM_ST_SIZE_MISMATCH		/* end - begin differs from elements * dtype size */
} TfmStProblem;

/* the header length of a file of size bytes; 0 and *hlen, or a problem */
extern TfmStProblem TfmStHeaderLength(const unsigned char *buf, uint64_t size, uint64_t max_header, uint64_t *hlen);

/* the dtype of a name (len bytes) and its element size in bytes (*elsize 0: unknown name) */
extern TfmDType TfmStDType(const char *name, size_t len, int *elsize);

/*
 * check a tensor: ndim dimensions (each 0 .. INT64_MAX / 2, as the JSON reader enforces), elsize
 * bytes per element, data_offsets [begin, end] within a data section of datasize bytes; sets
 * *nelem (the product of the dimensions, also when a size check fails)
 */
extern TfmStProblem TfmStCheckTensor(const int64_t *shape, int ndim, int elsize, uint64_t begin, uint64_t end,
									 uint64_t datasize, uint64_t *nelem);

#endif
