/* stcheck.c: header length, dtypes and shape/offset checks of safetensors files, in pure C (see stcheck.h) */
#include <string.h>

#include "model/stcheck.h"

typedef struct DTypeName
{
	const char *name;
	TfmDType	dtype;
	int			size;
} DTypeName;

static const DTypeName dtypes[] = {
	{"F32", TFM_DT_F32, 4}, {"F16", TFM_DT_F16, 2}, {"BF16", TFM_DT_BF16, 2},
	{"I64", TFM_DT_I64, 8}, {"F64", TFM_DT_OTHER, 8}, {"I32", TFM_DT_OTHER, 4},
	{"U32", TFM_DT_OTHER, 4}, {"I16", TFM_DT_OTHER, 2}, {"U16", TFM_DT_OTHER, 2},
	{"I8", TFM_DT_OTHER, 1}, {"U8", TFM_DT_OTHER, 1}, {"BOOL", TFM_DT_OTHER, 1},
	{"U64", TFM_DT_OTHER, 8}, {"F8_E4M3", TFM_DT_OTHER, 1}, {"F8_E5M2", TFM_DT_OTHER, 1},
};

/* read the little-endian header length and check it against the file size and the limit */
TfmStProblem
TfmStHeaderLength(const unsigned char *buf, uint64_t size, uint64_t max_header, uint64_t *hlen)
{
	uint64_t	n = 0;

	*hlen = 0;
	if (size < 8)
		return TFM_ST_SHORT_FILE;
	for (int i = 7; i >= 0; i--)
		n = (n << 8) | buf[i];
	*hlen = n;
	if (n > max_header || n > size - 8)
		return TFM_ST_HEADER_TOO_LONG;
	return TFM_ST_OK;
}

/* look a dtype name up; unknown names give *elsize 0 */
TfmDType
TfmStDType(const char *name, size_t len, int *elsize)
{
	*elsize = 0;
	for (size_t i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (strlen(dtypes[i].name) == len && memcmp(dtypes[i].name, name, len) == 0)
		{
			*elsize = dtypes[i].size;
			return dtypes[i].dtype;
		}
	return TFM_DT_OTHER;
}

/* multiply the shape out without overflow and check it and the offsets against the data section */
TfmStProblem
TfmStCheckTensor(const int64_t *shape, int ndim, int elsize, uint64_t begin, uint64_t end,
				 uint64_t datasize, uint64_t *nelem)
{
	uint64_t	n = 1;

	for (int i = 0; i < ndim; i++)
	{
		if (shape[i] < 0)
			return *nelem = 0, TFM_ST_SHAPE_TOO_LARGE;
		/* leaves room for the element size (at most 8) and the sums callers form */
		if (shape[i] > 0 && n > UINT64_MAX / 16 / (uint64_t) shape[i])
			return *nelem = 0, TFM_ST_SHAPE_TOO_LARGE;
		n *= (uint64_t) shape[i];
	}
	*nelem = n;
	if (begin > end || end > datasize)
		return TFM_ST_OFFSETS_OUTSIDE;
	if (end - begin != n * (uint64_t) elsize)
		return TFM_ST_SIZE_MISMATCH;
	return TFM_ST_OK;
}
