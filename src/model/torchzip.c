/*
 * torchzip.c: a PyTorch checkpoint (torch.save's zip format since PyTorch 1.6, as Hugging Face's
 * pytorch_model.bin) converted to a safetensors image: the zip's central directory and entries checked
 * against the buffer, the state dict read by unpickle.c (no code runs), each tensor's view checked
 * against its storage and copied row-major. The image is what tfm_import then checks and stores.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/json.h"

#include "model/torchzip.h"
#include "model/unpickle.h"
#include "pg_tfm.h"

#define MAX_PICKLE (64 * 1024 * 1024)	/* data.pkl of a state dict: ~150 bytes per tensor */

/* one stored entry of the zip: its name and where its bytes are */
typedef struct ZipEntry
{
	const char *name;
	int			namelen;
	uint64		off;
	uint64		size;
} ZipEntry;

typedef struct Zip
{
	const unsigned char *b;
	uint64		size;
	const char *what;
	ZipEntry   *e;
	int			n;
} Zip;

/* report a malformed zip (22P03) */
static void pg_attribute_noreturn()
zbad(const Zip *z, const char *problem)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					errmsg("%s is not a valid PyTorch checkpoint", z->what),
					errdetail("%s", problem)));
}

/* a little-endian unsigned integer of n bytes at off, which must lie in the buffer */
static uint64
le(const Zip *z, uint64 off, int n)
{
	uint64		v = 0;

	if (off > z->size || (uint64) n > z->size - off)
		zbad(z, psprintf("a record at byte " UINT64_FORMAT " runs past the end of the file", off));
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | z->b[off + i];
	return v;
}

/* the offset of the end of central directory record (searched back over a comment of up to 64 kB) */
static uint64
find_eocd(const Zip *z)
{
	if (z->size < 22)
		zbad(z, "the file is shorter than a zip's end record");
	for (uint64 off = z->size - 22;; off--)
	{
		if (le(z, off, 4) == 0x06054b50)
			return off;
		if (off == 0 || z->size - off > 22 + 65535)
			break;
	}
	zbad(z, "no zip end of central directory record");
}

/* the 64-bit values of a central directory entry's zip64 extra field, for those marked 0xffffffff */
static void
zip64_extra(const Zip *z, uint64 extra, uint64 elen, uint64 *usize, uint64 *csize, uint64 *lhoff)
{
	for (uint64 p = extra; p + 4 <= extra + elen;)
	{
		uint64		id = le(z, p, 2), len = le(z, p + 2, 2), q = p + 4;

		if (id == 1)
		{
			uint64	   *f[3] = {usize, csize, lhoff};

			for (int i = 0; i < 3; i++)
				if (*f[i] == 0xffffffff)
				{
					if (q + 8 > p + 4 + len)
						zbad(z, "a zip64 extra field too short for its sizes");
					*f[i] = le(z, q, 8);
					q += 8;
				}
			return;
		}
		p += 4 + len;
	}
	if (*usize == 0xffffffff || *csize == 0xffffffff || *lhoff == 0xffffffff)
		zbad(z, "a zip entry's size or offset lacks its zip64 extra field");
}

/* read the central directory: every entry stored (not compressed), its bytes within the file */
static void
read_directory(Zip *z)
{
	uint64		eocd = find_eocd(z), count = le(z, eocd + 10, 2), cdoff = le(z, eocd + 16, 4);
	uint64		p;

	if ((count == 0xffff || cdoff == 0xffffffff) && eocd >= 20 && le(z, eocd - 20, 4) == 0x07064b50)
	{
		uint64		rec = le(z, eocd - 20 + 8, 8);

		if (le(z, rec, 4) != 0x06064b50)
			zbad(z, "the zip64 end record is missing");
		count = le(z, rec + 32, 8);
		cdoff = le(z, rec + 48, 8);
	}
	if (count > z->size / 46 || count > (uint64) PG_INT32_MAX)
		zbad(z, "more zip entries than the file can hold");
	z->e = palloc_extended(sizeof(ZipEntry) * (Size) Max(count, 1), MCXT_ALLOC_HUGE);
	p = cdoff;
	for (z->n = 0; (uint64) z->n < count; z->n++)
	{
		ZipEntry   *e = &z->e[z->n];
		uint64		method, flags, csize, usize, nlen, elen, clen, lhoff, data;

		if (le(z, p, 4) != 0x02014b50)
			zbad(z, "a zip central directory entry has a wrong signature");
		flags = le(z, p + 8, 2);
		method = le(z, p + 10, 2);
		csize = le(z, p + 20, 4);
		usize = le(z, p + 24, 4);
		nlen = le(z, p + 28, 2);
		elen = le(z, p + 30, 2);
		clen = le(z, p + 32, 2);
		lhoff = le(z, p + 42, 4);
		if (p + 46 + nlen > z->size)
			zbad(z, "a zip entry's name runs past the end of the file");
		e->name = (const char *) z->b + p + 46;
		e->namelen = (int) nlen;
		zip64_extra(z, p + 46 + nlen, elen, &usize, &csize, &lhoff);
		if (method != 0 || (flags & 1))
			ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							errmsg("%s: a %s zip entry is not supported", z->what, flags & 1 ? "encrypted" : "compressed"),
							errhint("torch.save stores its entries uncompressed; save the checkpoint again with torch.save, or as model.safetensors.")));
		if (csize != usize)
			zbad(z, "a stored zip entry whose sizes differ");
		if (le(z, lhoff, 4) != 0x04034b50)
			zbad(z, "a zip entry's local header is missing");
		data = lhoff + 30 + le(z, lhoff + 26, 2) + le(z, lhoff + 28, 2);
		if (data > z->size || usize > z->size - data)
			zbad(z, "a zip entry's data runs past the end of the file");
		e->off = data;
		e->size = usize;
		p += 46 + nlen + elen + clen;
		if ((z->n & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/* order entries by name (bytes, then length), for sorting and for bsearch */
static int
cmp_entries(const void *a, const void *b)
{
	const ZipEntry *x = a, *y = b;
	int			c = memcmp(x->name, y->name, Min(x->namelen, y->namelen));

	return c ? c : (x->namelen > y->namelen) - (x->namelen < y->namelen);
}

/* the entry named prefix + suffix (prefix of plen bytes), or NULL; the entries are sorted by name */
static ZipEntry *
find_entry(const Zip *z, const char *prefix, int plen, const char *suffix)
{
	ZipEntry	key;
	char	   *name = psprintf("%.*s%s", plen, prefix, suffix);
	ZipEntry   *found;

	key.name = name;
	key.namelen = strlen(name);
	found = bsearch(&key, z->e, z->n, sizeof(ZipEntry), cmp_entries);
	pfree(name);
	return found;
}

/* the checkpoint's pickle: the one entry named <archive>/data.pkl; sets the archive prefix */
static ZipEntry *
find_pickle(const Zip *z, const char **prefix, int *plen)
{
	ZipEntry   *found = NULL;

	for (int i = 0; i < z->n; i++)
	{
		const ZipEntry *e = &z->e[i];
		const char *slash = memchr(e->name, '/', e->namelen);

		if (slash && e->name + e->namelen - slash == 9 && memcmp(slash, "/data.pkl", 9) == 0)
		{
			if (found)
				zbad(z, "the zip holds more than one data.pkl");
			found = &z->e[i];
			*prefix = e->name;
			*plen = slash + 1 - e->name;
		}
	}
	if (found == NULL)
		zbad(z, "the zip has no <archive>/data.pkl");
	return found;
}

/* check a tensor's view against its storage entry: the bytes it reads lie in the storage */
static void
check_view(const Zip *z, const TfmTorchTensor *t, const ZipEntry *st)
{
	uint64		last = (uint64) t->offset, elems = 1;
	bool		empty = false;

	if ((uint64) t->storage_numel > st->size / t->elsize)
		zbad(z, psprintf("tensor \"%s\": its storage of " INT64_FORMAT " elements is larger than its entry (" UINT64_FORMAT " bytes)",
						 t->name, t->storage_numel, st->size));
	for (int d = 0; d < t->ndim; d++)
	{
		empty |= t->shape[d] == 0;
		if (t->shape[d] > 0 && elems > ((uint64) 1 << 56) / (uint64) t->shape[d])
			zbad(z, psprintf("tensor \"%s\": its shape is too large", t->name));
		elems *= (uint64) t->shape[d];
		if (t->shape[d] > 0 && (uint64) t->stride[d] > (PG_INT64_MAX - last) / (uint64) t->shape[d])
			zbad(z, psprintf("tensor \"%s\": its view overflows", t->name));
		if (t->shape[d] > 0)
			last += (uint64) t->stride[d] * (uint64) (t->shape[d] - 1);
	}
	if (!empty && last >= (uint64) t->storage_numel)
		zbad(z, psprintf("tensor \"%s\": its view reads past its storage of " INT64_FORMAT " elements",
						 t->name, t->storage_numel));
}

/* elements of a tensor; 0 for an empty one */
static uint64
tensor_elems(const TfmTorchTensor *t)
{
	uint64		n = 1;

	for (int d = 0; d < t->ndim; d++)
		n *= (uint64) t->shape[d];
	return n;
}

/* copy a tensor's view row-major into dst (its storage at src): contiguous runs at once, others per element */
static void
copy_view(char *dst, const char *src, const TfmTorchTensor *t)
{
	uint64		n = tensor_elems(t), run = 1;
	int64		idx[TFM_MAX_DIMS] = {0};
	int			d, inner = t->ndim;

	/* the innermost dimensions that are contiguous, copied as one run */
	for (d = t->ndim - 1; d >= 0 && (t->shape[d] == 1 || (uint64) t->stride[d] == run); d--)
		run *= (uint64) t->shape[d], inner = d;
	for (uint64 done = 0; done < n; done += run)
	{
		uint64		at = (uint64) t->offset;

		for (d = 0; d < inner; d++)
			at += (uint64) idx[d] * (uint64) t->stride[d];
		memcpy(dst + done * t->elsize, src + at * t->elsize, run * t->elsize);
		for (d = inner - 1; d >= 0; d--)
		{
			if (++idx[d] < t->shape[d])
				break;
			idx[d] = 0;
		}
		if (((done / run) & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/* refuse a state dict that names one tensor twice (22P03) */
static void
check_unique(const Zip *z, const TfmTorchTensor *t, int n)
{
	char	  **names = palloc_extended(sizeof(char *) * (Size) Max(n, 1), MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
		names[i] = t[i].name;
	qsort(names, n, sizeof(char *), pg_qsort_strcmp);
	for (int i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			zbad(z, psprintf("the state dict names tensor \"%s\" twice", names[i]));
	pfree(names);
}

/* the safetensors header of n tensors, padded to 8 bytes */
static StringInfo
st_header(const TfmTorchTensor *t, int n)
{
	StringInfo	h = makeStringInfo();
	uint64		off = 0;

	appendStringInfoChar(h, '{');
	for (int i = 0; i < n; i++)
	{
		uint64		bytes = tensor_elems(&t[i]) * (uint64) t[i].elsize;

		if (i)
			appendStringInfoString(h, ", ");
		escape_json(h, t[i].name);
		appendStringInfo(h, ": {\"dtype\": \"%s\", \"shape\": [", t[i].dtype);
		for (int d = 0; d < t[i].ndim; d++)
			appendStringInfo(h, "%s" INT64_FORMAT, d ? ", " : "", t[i].shape[d]);
		appendStringInfo(h, "], \"data_offsets\": [" UINT64_FORMAT ", " UINT64_FORMAT "]}", off, off + bytes);
		off += bytes;
	}
	appendStringInfoChar(h, '}');
	while (h->len % 8 != 0)
		appendStringInfoChar(h, ' ');
	return h;
}

/* true when buf (size bytes) starts as a zip file does (a PyTorch checkpoint, not a safetensors file) */
bool
TfmIsTorchZip(const char *buf, uint64 size)
{
	return size >= 4 && memcmp(buf, "PK\003\004", 4) == 0;
}

/*
 * the safetensors image of the PyTorch checkpoint buf (size bytes): tensors in the state dict's order, each
 * view copied row-major in its own dtype; *out_size its bytes; what names the file in messages
 */
char *
TfmTorchToSafetensors(const char *buf, uint64 size, const char *what, uint64 *out_size)
{
	Zip			z = {.b = (const unsigned char *) buf, .size = size, .what = what};
	const char *prefix = NULL;
	int			plen = 0, n;
	ZipEntry   *pkl, *order;
	TfmTorchTensor *t;
	ZipEntry  **st;
	StringInfo	h;
	uint64		total, off;
	char	   *out;

	read_directory(&z);
	qsort(z.e, z.n, sizeof(ZipEntry), cmp_entries);	/* a state dict may name thousands of storages */
	pkl = find_pickle(&z, &prefix, &plen);
	if (pkl->size > MAX_PICKLE)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("%s: its data.pkl has " UINT64_FORMAT " bytes, more than the 64 MB a state dict needs", what, pkl->size)));
	order = find_entry(&z, prefix, plen, "byteorder");
	if (order && !(order->size == 6 && memcmp(buf + order->off, "little", 6) == 0))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: a checkpoint saved on a big-endian machine is not supported", what)));
	t = TfmUnpickleStateDict(buf + pkl->off, pkl->size, what, &n);
	check_unique(&z, t, n);
	st = palloc(sizeof(ZipEntry *) * Max(n, 1));
	total = 0;
	for (int i = 0; i < n; i++)
	{
		char	   *name = psprintf("data/%s", t[i].key);

		if ((st[i] = find_entry(&z, prefix, plen, name)) == NULL)
			zbad(&z, psprintf("tensor \"%s\": its storage %s is not in the zip", t[i].name, name));
		check_view(&z, &t[i], st[i]);
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		total += tensor_elems(&t[i]) * (uint64) t[i].elsize;	/* each below 2^59 bytes: no overflow */
		/* views may share storage (tied weights), but not repeat it without end */
		if (total > size * 4 + 1024 * 1024)
			zbad(&z, "its tensors' views add up to more than four times the bytes of the file");
	}
	h = st_header(t, n);
	*out_size = 8 + (uint64) h->len + total;
	TfmCheckMemory((double) size + (double) *out_size, "converting the PyTorch checkpoint");
	out = palloc_extended(*out_size, MCXT_ALLOC_HUGE);
	for (int i = 0; i < 8; i++)
		out[i] = (char) (((uint64) h->len >> (8 * i)) & 0xff);
	memcpy(out + 8, h->data, h->len);
	off = 8 + h->len;
	for (int i = 0; i < n; i++)
	{
		copy_view(out + off, buf + st[i]->off, &t[i]);
		off += tensor_elems(&t[i]) * (uint64) t[i].elsize;
		CHECK_FOR_INTERRUPTS();
	}
	return out;
}
