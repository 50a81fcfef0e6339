/* unpickle.h: the state dict of a PyTorch checkpoint's data.pkl, read without running code */
#ifndef TFM_UNPICKLE_H
#define TFM_UNPICKLE_H

#include "postgres.h"

#include "model/safetensors.h"

/* one tensor of a state dict: a view (offset, shape, stride in elements) of a storage the zip holds */
typedef struct TfmTorchTensor
{
	char	   *name;
	const char *dtype;			/* the safetensors name of its dtype: F32, F16, BF16, I64 ... */
	int			elsize;
	char	   *key;			/* the storage's entry: <archive>/data/<key> */
	int64		storage_numel;	/* elements of the storage, as the pickle says */
	int64		offset;
	int			ndim;
	int64		shape[TFM_MAX_DIMS];
	int64		stride[TFM_MAX_DIMS];
} TfmTorchTensor;

extern TfmTorchTensor *TfmUnpickleStateDict(const char *pkl, uint64 len, const char *what, int *n);

#endif
