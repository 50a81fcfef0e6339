/* safetensors.h: checked reader of the safetensors format (8-byte header length, JSON header, data) */
#ifndef TFM_SAFETENSORS_H
#define TFM_SAFETENSORS_H

#include "postgres.h"

#include "model/stcheck.h"

#define TFM_MAX_DIMS 8

typedef struct TfmTensorInfo
{
	char	   *name;
	TfmDType	dtype;
	const char *dtype_name;
	int			ndim;
	int64		shape[TFM_MAX_DIMS];
	uint64		nelem;
	uint64		begin;			/* byte offsets from the start of the data section */
	uint64		end;
} TfmTensorInfo;

typedef struct TfmSafetensors
{
	const char *what;			/* file name for messages */
	int			ntensors;
	TfmTensorInfo *tensors;
	uint64		data_start;		/* offset of the data section in the buffer */
	uint64		size;			/* bytes of the whole buffer */
} TfmSafetensors;

extern TfmSafetensors *TfmSafetensorsParse(const char *buf, uint64 size, const char *what);
extern TfmTensorInfo *TfmSafetensorsFind(TfmSafetensors *st, const char *name);
extern void TfmSafetensorsCheckFinite(const TfmSafetensors *st, TfmTensorInfo *const *tensors, int n,
									  const char *buf);
extern void TfmSafetensorsToFloat(float *dst, const TfmSafetensors *st, const TfmTensorInfo *t, const char *buf);
extern char *TfmSafetensorsWriteF32(int n, char *const *names, const int64 *rows, const int64 *cols,
									 const float *const *data, uint64 *size);

#endif
