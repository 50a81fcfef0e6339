/* safetensors.c: checks every length, offset, dtype and shape of a safetensors buffer before use */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "kernels/ops.h"
#include "model/safetensors.h"
#include "model/stcheck.h"

#define TFM_MAX_HEADER (100 * 1024 * 1024)

/* report a malformed safetensors file */
static void
st_error(const TfmSafetensors *st, const char *tensor, const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("%s is not a valid safetensors file", st->what),
			 errdetail("%s%s%s%s", tensor ? "Tensor \"" : "", tensor ? tensor : "",
					   tensor ? "\": " : "", problem)));
}

/* read a JSON array of non-negative integers into out[], returning the count */
static int
read_int_array(const TfmSafetensors *st, const char *tensor, JsonbValue *v, int64 *out, int max, const char *key)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			n = 0;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		st_error(st, tensor, psprintf("\"%s\" is not an array", key));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (n >= max)
			st_error(st, tensor, psprintf("\"%s\" has more than %d entries", key, max));
		out[n++] = TfmJsonNumericToInt(&e, 0, PG_INT64_MAX / 2, st->what, key);
	}
	return n;
}

/* fill one tensor entry from its JSON description and check it against the data section */
static void
parse_tensor(TfmSafetensors *st, TfmTensorInfo *t, JsonbContainer *obj)
{
	JsonbValue	v;
	int64		offs[TFM_MAX_DIMS];
	int			elsize = 0;
	uint64		datasize = st->size - st->data_start;

	if (!TfmJsonGet(obj, "dtype", &v) || v.type != jbvString)
		st_error(st, t->name, "\"dtype\" is missing or not a string");
	t->dtype_name = pnstrdup(v.val.string.val, v.val.string.len);
	t->dtype = TfmStDType(v.val.string.val, v.val.string.len, &elsize);
	if (elsize == 0)
		st_error(st, t->name, psprintf("unknown dtype \"%s\"", t->dtype_name));
	if (!TfmJsonGet(obj, "shape", &v))
		st_error(st, t->name, "\"shape\" is missing");
	t->ndim = read_int_array(st, t->name, &v, t->shape, TFM_MAX_DIMS, "shape");
	if (!TfmJsonGet(obj, "data_offsets", &v) ||
		read_int_array(st, t->name, &v, offs, TFM_MAX_DIMS, "data_offsets") != 2)
	{
		/* the shape's overflow is reported first, as before data_offsets were read */
		if (TfmStCheckTensor(t->shape, t->ndim, elsize, 0, 0, 0, &t->nelem) == TFM_ST_SHAPE_TOO_LARGE)
			st_error(st, t->name, "shape is too large");
		st_error(st, t->name, "\"data_offsets\" must be [begin, end]");
	}
	t->begin = (uint64) offs[0];
	t->end = (uint64) offs[1];
	switch (TfmStCheckTensor(t->shape, t->ndim, elsize, t->begin, t->end, datasize, &t->nelem))
	{
		case TFM_ST_OK:
			break;
		case TFM_ST_SHAPE_TOO_LARGE:
			st_error(st, t->name, "shape is too large");
			break;
		case TFM_ST_OFFSETS_OUTSIDE:
			st_error(st, t->name, psprintf("data_offsets [" UINT64_FORMAT ", " UINT64_FORMAT "] lie outside the " UINT64_FORMAT " bytes of data",
										   t->begin, t->end, datasize));
			break;
		default:
			st_error(st, t->name, psprintf("shape and dtype need " UINT64_FORMAT " bytes but data_offsets give " UINT64_FORMAT,
										   t->nelem * (uint64) elsize, t->end - t->begin));
	}
}

/* parse and check the header of a safetensors buffer */
TfmSafetensors *
TfmSafetensorsParse(const char *buf, uint64 size, const char *what)
{
	TfmSafetensors *st = palloc0(sizeof(TfmSafetensors));
	uint64		hlen = 0;
	Jsonb	   *hdr;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			cap;

	st->what = what;
	st->size = size;
	switch (TfmStHeaderLength((const unsigned char *) buf, size, TFM_MAX_HEADER, &hlen))
	{
		case TFM_ST_OK:
			break;
		case TFM_ST_SHORT_FILE:
			st_error(st, NULL, psprintf("the file has %d bytes, fewer than the 8-byte header length", (int) size));
			break;
		default:
			st_error(st, NULL, psprintf("the header length " UINT64_FORMAT " exceeds the file size " UINT64_FORMAT " or the 100 MB limit", hlen, size));
	}
	st->data_start = 8 + hlen;
	hdr = TfmJsonParse(buf + 8, hlen, psprintf("the header of %s", what));
	if (!JB_ROOT_IS_OBJECT(hdr))
		st_error(st, NULL, "the header is not a JSON object");
	cap = JB_ROOT_COUNT(hdr) + 1;
	st->tensors = palloc0(sizeof(TfmTensorInfo) * cap);
	it = JsonbIteratorInit(&hdr->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key && strcmp(key, "__metadata__") != 0)
		{
			TfmTensorInfo *t = &st->tensors[st->ntensors++];

			t->name = key;
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
				st_error(st, key, "the entry is not a JSON object");
			parse_tensor(st, t, v.val.binary.data);
		}
	}
	return st;
}

/* find a tensor by name, or NULL */
TfmTensorInfo *
TfmSafetensorsFind(TfmSafetensors *st, const char *name)
{
	for (int i = 0; i < st->ntensors; i++)
		if (strcmp(st->tensors[i].name, name) == 0)
			return &st->tensors[i];
	return NULL;
}

/* convert a checked F32/F16/BF16 tensor to fp32 */
void
TfmSafetensorsToFloat(float *dst, const TfmSafetensors *st, const TfmTensorInfo *t, const char *buf)
{
	const char *src = buf + st->data_start + t->begin;
	uint16	   *aligned = NULL;

	/* fp16 data may start at an odd offset: convert from an aligned copy */
	if (t->dtype != TFM_DT_F32 && ((uintptr_t) src % sizeof(uint16)) != 0)
	{
		aligned = palloc_extended(Max(t->nelem, 1) * sizeof(uint16), MCXT_ALLOC_HUGE);
		memcpy(aligned, src, t->nelem * sizeof(uint16));
		src = (const char *) aligned;
	}
	switch (t->dtype)
	{
		case TFM_DT_F32:
			memcpy(dst, src, t->nelem * sizeof(float));
			break;
		case TFM_DT_F16:
			TfmHalfToFloat(dst, (const uint16 *) src, t->nelem);
			break;
		case TFM_DT_BF16:
			TfmBf16ToFloat(dst, (const uint16 *) src, t->nelem);
			break;
		default:
			elog(ERROR, "tensor \"%s\" of dtype %s cannot be converted to fp32", t->name, t->dtype_name);
	}
	if (aligned)
		pfree(aligned);
}

/* index of the first NaN or infinity of a F32/F16/BF16 tensor (read as raw bits), or -1 */
static int64
first_non_finite(const TfmTensorInfo *t, const char *src)
{
	for (uint64 i = 0; i < t->nelem; i++)
	{
		if (t->dtype == TFM_DT_F32)
		{
			uint32		u;

			memcpy(&u, src + 4 * i, 4);
			if ((u & 0x7f800000u) == 0x7f800000u)
				return (int64) i;
		}
		else
		{
			uint16		u;

			memcpy(&u, src + 2 * i, 2);
			if (t->dtype == TFM_DT_F16 ? (u & 0x7c00u) == 0x7c00u : (u & 0x7f80u) == 0x7f80u)
				return (int64) i;
		}
		if ((i & 0xffffff) == 0xffffff)
			CHECK_FOR_INTERRUPTS();
	}
	return -1;
}

/* error 22P03 naming the tensor when one of the n float tensors holds a NaN or an infinity */
void
TfmSafetensorsCheckFinite(const TfmSafetensors *st, TfmTensorInfo *const *tensors, int n, const char *buf)
{
	for (int k = 0; k < n; k++)
	{
		const TfmTensorInfo *t = tensors[k];
		int64		i;

		if (t == NULL || (t->dtype != TFM_DT_F32 && t->dtype != TFM_DT_F16 && t->dtype != TFM_DT_BF16))
			continue;
		i = first_non_finite(t, buf + st->data_start + t->begin);
		if (i >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("%s: tensor \"%s\" holds a value that is not a finite number (NaN or infinity)",
							st->what, t->name),
					 errdetail("Element " INT64_FORMAT " of the %s tensor is NaN or infinite.", i, t->dtype_name),
					 errhint("pg_tfm imports only finite weights: the checkpoint is damaged or was saved after training diverged.")));
	}
}

/* serialise fp32 tensors (rows 0 means 1-d of cols) as a safetensors buffer */
char *
TfmSafetensorsWriteF32(int n, char *const *names, const int64 *rows, const int64 *cols,
					   const float *const *data, uint64 *size)
{
	StringInfoData hdr;
	uint64		off = 0, total, hlen;
	char	   *buf;

	initStringInfo(&hdr);
	appendStringInfoChar(&hdr, '{');
	for (int i = 0; i < n; i++)
	{
		uint64		bytes = sizeof(float) * (uint64) (rows[i] ? rows[i] : 1) * cols[i];

		appendStringInfo(&hdr, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [", i ? ", " : "", names[i]);
		if (rows[i])
			appendStringInfo(&hdr, INT64_FORMAT ", ", rows[i]);
		appendStringInfo(&hdr, INT64_FORMAT "], \"data_offsets\": [" UINT64_FORMAT ", " UINT64_FORMAT "]}",
						 cols[i], off, off + bytes);
		off += bytes;
	}
	appendStringInfoChar(&hdr, '}');
	while (hdr.len % 8 != 0)
		appendStringInfoChar(&hdr, ' ');
	hlen = hdr.len;
	total = 8 + hlen + off;
	buf = palloc_extended(total, MCXT_ALLOC_HUGE);
	for (int i = 0; i < 8; i++)
		buf[i] = (char) ((hlen >> (8 * i)) & 0xff);
	memcpy(buf + 8, hdr.data, hlen);
	off = 8 + hlen;
	for (int i = 0; i < n; i++)
	{
		uint64		bytes = sizeof(float) * (uint64) (rows[i] ? rows[i] : 1) * cols[i];

		memcpy(buf + off, data[i], bytes);
		off += bytes;
	}
	*size = total;
	return buf;
}
