/*
 * fuzz_safetensors.c - libFuzzer target: the checks of src/model/stcheck.c that decide which bytes of a
 * safetensors file the server reads (header length, dtype sizes, shape products, data_offsets).
 * The input is a whole safetensors file. In the server src/model/safetensors.c decodes the JSON header
 * with PostgreSQL's jsonb, which cannot be linked here; this harness decodes it with a small
 * lenient JSON reader of its own (numbers as the server's reader takes them: integers 0 ..
 * INT64_MAX / 2, at most 8 entries), then gives every tensor to TfmStCheckTensor as the server does.
 * The in-server path, jsonb included, is fuzzed by test/asan/safetensors_mutate.pl (also run in the
 * normal suite as test/t/083_safetensors_mutate.pl).
 * Checks (abort on failure): a tensor the checks accept lies inside the data section and has exactly
 * elements * dtype size bytes, recomputed here in 128-bit arithmetic; every byte of it is read (ASan
 * reports a read outside the input); and a tensor whose numbers are right by that recomputation is
 * accepted (no false refusals).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/stcheck.h"

#define MAX_DIMS 8				/* TFM_MAX_DIMS of safetensors.h */
#define MAX_HEADER (100 * 1024 * 1024)	/* TFM_MAX_HEADER of safetensors.c */
#define MAX_DEPTH 64

typedef struct Reader
{
	const char *p, *end;
} Reader;

typedef struct Tensor
{
	const char *dtype;
	size_t		dtype_len;
	int			has_dtype, ndim, noffs, bad;	/* bad: a number the server's reader refuses */
	int64_t		shape[MAX_DIMS], offs[MAX_DIMS];
} Tensor;

static const unsigned char *data_section;
static uint64_t data_size;
static volatile unsigned sink;

/* stop on a broken check */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_safetensors: %s\n", what);
	abort();
}

/* skip JSON white space */
static void
ws(Reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

/* a string: its raw bytes between the quotes (escapes left as they are); 0 or -1 */
static int
string(Reader *r, const char **s, size_t *len)
{
	if (r->p >= r->end || *r->p != '"')
		return -1;
	*s = ++r->p;
	while (r->p < r->end && *r->p != '"')
		r->p += (*r->p == '\\' && r->p + 1 < r->end) ? 2 : 1;
	if (r->p >= r->end)
		return -1;
	*len = (size_t) (r->p - *s);
	r->p++;
	return 0;
}

/* a number: *ok when it is an integer in 0 .. INT64_MAX / 2 (the server's range), else skipped */
static int
number(Reader *r, int64_t *v, int *ok)
{
	const char *start = r->p;
	uint64_t	n = 0;
	int			digits = 0, over = 0;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
	{
		if (n > (uint64_t) (INT64_MAX / 2) / 10)
			over = 1;
		n = n * 10 + (uint64_t) (*r->p++ - '0');
		digits++;
	}
	if (digits == 0)
		return -1;
	*ok = (*start != '-' || n == 0) && !over && n <= (uint64_t) (INT64_MAX / 2);
	while (r->p < r->end && strchr(".eE+-0123456789", *r->p))	/* fraction, exponent: not an integer */
		r->p++, *ok = 0;
	*v = (int64_t) n;
	return 0;
}

static int value(Reader *r, int depth, Tensor *t, int which);

/* an array; which 1 fills t->shape, 2 t->offs */
static int
array(Reader *r, int depth, Tensor *t, int which)
{
	int			n = 0;

	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == ']')
		return r->p++, 0;
	for (;;)
	{
		ws(r);
		if (which && r->p < r->end && (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')))
		{
			int64_t		v;
			int			ok;

			if (number(r, &v, &ok) != 0)
				return -1;
			if (!ok || n >= MAX_DIMS)
				t->bad = 1;
			else
				(which == 1 ? t->shape : t->offs)[n] = v;
			n++;
		}
		else
		{
			if (which)
				t->bad = 1;
			if (value(r, depth + 1, NULL, 0) != 0)
				return -1;
		}
		ws(r);
		if (r->p < r->end && *r->p == ',')
		{
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']')
			break;
		return -1;
	}
	r->p++;
	if (which == 1)
		t->ndim = n;
	else if (which == 2)
		t->noffs = n;
	return 0;
}

static void check_tensor(const Tensor *t);

/* an object; depth 0 is the header (its values are tensors), a tensor's keys fill t */
static int
object(Reader *r, int depth, Tensor *t)
{
	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == '}')
		return r->p++, 0;
	for (;;)
	{
		const char *k;
		size_t		klen;

		ws(r);
		if (string(r, &k, &klen) != 0)
			return -1;
		ws(r);
		if (r->p >= r->end || *r->p != ':')
			return -1;
		r->p++;
		ws(r);
		if (depth == 0 && !(klen == 12 && memcmp(k, "__metadata__", 12) == 0) && r->p < r->end && *r->p == '{')
		{
			Tensor		nt;

			memset(&nt, 0, sizeof(nt));
			if (object(r, 1, &nt) != 0)
				return -1;
			check_tensor(&nt);
		}
		else if (t && klen == 5 && memcmp(k, "dtype", 5) == 0 && r->p < r->end && *r->p == '"')
		{
			if (string(r, &t->dtype, &t->dtype_len) != 0)
				return -1;
			t->has_dtype = 1;
		}
		else if (t && ((klen == 5 && memcmp(k, "shape", 5) == 0) || (klen == 12 && memcmp(k, "data_offsets", 12) == 0)) &&
				 r->p < r->end && *r->p == '[')
		{
			if (array(r, depth + 1, t, klen == 5 ? 1 : 2) != 0)
				return -1;
		}
		else if (value(r, depth + 1, NULL, 0) != 0)
			return -1;
		ws(r);
		if (r->p < r->end && *r->p == ',')
		{
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == '}')
			break;
		return -1;
	}
	r->p++;
	return 0;
}

/* any JSON value, skipped */
static int
value(Reader *r, int depth, Tensor *t, int which)
{
	const char *s;
	size_t		len;
	int64_t		v;
	int			ok;

	if (depth > MAX_DEPTH || r->p >= r->end)
		return -1;
	switch (*r->p)
	{
		case '{':
			return object(r, depth, t);
		case '[':
			return array(r, depth, t, which);
		case '"':
			return string(r, &s, &len);
		case 't':
		case 'f':
		case 'n':
			while (r->p < r->end && *r->p >= 'a' && *r->p <= 'z')
				r->p++;
			return 0;
		default:
			return number(r, &v, &ok);
	}
}

/* give a tensor to the checks as src/model/safetensors.c does and verify the answer independently */
static void
check_tensor(const Tensor *t)
{
	int			elsize;
	uint64_t	nelem = 0;
	unsigned __int128 prod = 1;
	int			overflow = 0;
	TfmStProblem p;

	if (!t->has_dtype || t->bad || t->noffs != 2)
		return;					/* the server refuses these before the checks */
	(void) TfmStDType(t->dtype, t->dtype_len, &elsize);
	if (elsize == 0)
		return;
	if (elsize < 1 || elsize > 8)
		fail("a dtype size outside 1..8");
	p = TfmStCheckTensor(t->shape, t->ndim, elsize, (uint64_t) t->offs[0], (uint64_t) t->offs[1], data_size, &nelem);
	for (int i = 0; i < t->ndim; i++)
	{
		prod *= (unsigned __int128) t->shape[i];
		if (prod > (unsigned __int128) (UINT64_MAX / 16))
			overflow = 1, prod = (unsigned __int128) (UINT64_MAX / 16) + 1;
	}
	if (p == TFM_ST_OK)
	{
		uint64_t	begin = (uint64_t) t->offs[0], end = (uint64_t) t->offs[1];

		if (overflow || nelem != (uint64_t) prod)
			fail("accepted a shape whose product overflows or differs");
		if (begin > end || end > data_size)
			fail("accepted data_offsets outside the data section");
		if ((unsigned __int128) (end - begin) != prod * (unsigned) elsize)
			fail("accepted data_offsets that do not match shape and dtype");
		for (uint64_t i = begin; i < end; i++)	/* the reads the conversion to fp32 makes */
			sink += data_section[i];
	}
	else if (!overflow && t->offs[0] <= t->offs[1] && (uint64_t) t->offs[1] <= data_size &&
			 (unsigned __int128) (t->offs[1] - t->offs[0]) == prod * (unsigned) elsize)
		fail("refused a tensor whose numbers are right");
}

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	uint64_t	hlen;
	Reader		r;

	if (TfmStHeaderLength(buf, size, MAX_HEADER, &hlen) != TFM_ST_OK)
	{
		if (size >= 8 && hlen <= size - 8 && hlen <= MAX_HEADER)
			fail("refused a header length that fits");
		return 0;
	}
	if (hlen > size - 8)
		fail("accepted a header length past the end");
	data_section = buf + 8 + hlen;
	data_size = size - 8 - hlen;
	r.p = (const char *) buf + 8;
	r.end = r.p + hlen;
	ws(&r);
	if (r.p < r.end && *r.p == '{')
		(void) object(&r, 0, NULL);
	return 0;
}
