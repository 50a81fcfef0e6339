/*
 * unpickle.c: the state dict in a PyTorch checkpoint's data.pkl, read the way torch.load(weights_only=True)
 * reads it, without running code: a small pickle machine that knows the opcodes torch.save writes and only
 * the globals a state dict needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
 * _rebuild_parameter, the torch.*Storage types). Any other global is refused (0A000) when it is named, before
 * anything could call it; malformed pickles are 22P03. Strings point into the pickle; nothing is copied
 * until the result is built.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"

#include "model/unpickle.h"

#define MAX_VALUES (2 * 1024 * 1024)	/* objects of one pickle (a state dict needs ~12 per tensor) */

typedef enum VKind
{
	V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR
} VKind;

typedef enum Global
{
	G_ORDERED_DICT, G_REBUILD_TENSOR, G_REBUILD_PARAMETER, G_STORAGE
} Global;

/* one object: its kind and the fields that kind uses */
typedef struct Val
{
	VKind		k;
	int64		i;				/* V_INT, V_BOOL; V_GLOBAL: a Global; V_STORAGE: elements */
	const char *s;				/* V_STR (len bytes, not terminated); V_STORAGE: its key */
	int			len;
	int		   *items;			/* V_TUPLE, V_LIST: n values; V_DICT: n / 2 (key, value) pairs */
	int			n;
	int			cap;
	int			dt;				/* V_GLOBAL G_STORAGE, V_STORAGE: index in dtypes[] */
	TfmTorchTensor *t;			/* V_TENSOR */
	bool		key;			/* already a key of the state dict */
} Val;

/* the storage types of torch, their safetensors dtype and element size */
static const struct
{
	const char *storage;
	const char *dtype;
	int			elsize;
}			dtypes[] = {
	{"FloatStorage", "F32", 4}, {"HalfStorage", "F16", 2}, {"BFloat16Storage", "BF16", 2},
	{"DoubleStorage", "F64", 8}, {"LongStorage", "I64", 8}, {"IntStorage", "I32", 4},
	{"ShortStorage", "I16", 2}, {"CharStorage", "I8", 1}, {"ByteStorage", "U8", 1}, {"BoolStorage", "BOOL", 1},
};

/* the machine: the pickle, its position, the objects, the stack, the marks and the memo */
typedef struct Machine
{
	const unsigned char *p;
	uint64		len;
	uint64		pos;
	const char *what;
	Val		   *vals;
	int			nvals, capvals;
	int		   *stack;
	int			sp, capstack;
	int		   *marks;
	int			nmarks, capmarks;
	int		   *memo;
	int			capmemo;
	int			nmemo;			/* entries set */
} Machine;

/* report a malformed pickle (22P03) */
static void pg_attribute_noreturn()
bad(const Machine *m, const char *problem)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					errmsg("%s is not a valid PyTorch checkpoint", m->what),
					errdetail("data.pkl at byte " UINT64_FORMAT ": %s", m->pos, problem)));
}

/* refuse what a state dict does not hold (0A000): what names it, "it holds <what>" */
static void pg_attribute_noreturn()
unsupported(const Machine *m, const char *what)
{
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					errmsg("%s is not a state dict pg_tfm reads: it holds %s", m->what, what),
					errdetail("pg_tfm reads a checkpoint's tensors as torch.load(weights_only=True) does and runs no code from it."),
					errhint("Save the model's state dict (save_pretrained writes one), or save it as model.safetensors.")));
}

/* grow an int array to hold at least need entries */
static int *
grow(int *a, int *cap, int need)
{
	int			c = Max(*cap, 16);

	while (c < need)
		c *= 2;
	if (c != *cap)
		a = a ? repalloc_huge(a, sizeof(int) * (Size) c) : palloc_extended(sizeof(int) * (Size) c, MCXT_ALLOC_HUGE);
	*cap = c;
	return a;
}

/* refuse a pickle with more than MAX_VALUES of something (objects, stack entries, marks, items of one
 * container): memo gets push old objects again without making new ones, so each is bounded on its own */
static void
check_limit(const Machine *m, int64 count, const char *things)
{
	if (count >= MAX_VALUES)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("%s holds more than %d %s", m->what, MAX_VALUES, things)));
}

/* a new object of kind k: its index */
static int
new_val(Machine *m, VKind k)
{
	check_limit(m, m->nvals, "pickled objects");
	if (m->nvals == m->capvals)
	{
		m->capvals = Max(m->capvals * 2, 64);
		m->vals = m->vals ? repalloc_huge(m->vals, sizeof(Val) * (Size) m->capvals)
			: palloc_extended(sizeof(Val) * (Size) m->capvals, MCXT_ALLOC_HUGE);
	}
	memset(&m->vals[m->nvals], 0, sizeof(Val));
	m->vals[m->nvals].k = k;
	return m->nvals++;
}

/* push object v */
static void
push(Machine *m, int v)
{
	check_limit(m, m->sp, "objects on the pickle's stack");
	m->stack = grow(m->stack, &m->capstack, m->sp + 1);
	m->stack[m->sp++] = v;
}

/* pop an object (not past the last mark) */
static int
pop(Machine *m)
{
	if (m->sp == 0 || (m->nmarks > 0 && m->sp <= m->marks[m->nmarks - 1]))
		bad(m, "the stack is empty");
	return m->stack[--m->sp];
}

/* the object on top of the stack (not past the last mark) */
static Val *
top(Machine *m)
{
	if (m->sp == 0 || (m->nmarks > 0 && m->sp <= m->marks[m->nmarks - 1]))
		bad(m, "the stack is empty");
	return &m->vals[m->stack[m->sp - 1]];
}

/* n bytes of arguments at the position, which then moves past them */
static const unsigned char *
take(Machine *m, uint64 n)
{
	const unsigned char *r = m->p + m->pos;

	if (n > m->len - m->pos)
		bad(m, "the pickle ends inside an opcode's argument");
	m->pos += n;
	return r;
}

/* an unsigned little-endian integer of n bytes */
static uint64
take_uint(Machine *m, int n)
{
	const unsigned char *b = take(m, n);
	uint64		v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

/* append object v to a sequence */
static void
add_item(const Machine *m, Val *seq, int v)
{
	check_limit(m, seq->n, "items in one container");
	seq->items = grow(seq->items, &seq->cap, seq->n + 1);
	seq->items[seq->n++] = v;
}

/* the objects above the last mark, removed with the mark, into a new tuple, list or dict */
static int
from_mark(Machine *m, VKind k)
{
	int			base, r;

	if (m->nmarks == 0)
		bad(m, "no mark to collect objects from");
	base = m->marks[--m->nmarks];
	if (k == V_DICT && (m->sp - base) % 2 != 0)
		bad(m, "an odd number of objects for a dict's keys and values");
	r = new_val(m, k);
	for (int i = base; i < m->sp; i++)
		add_item(m, &m->vals[r], m->stack[i]);
	m->sp = base;
	return r;
}

/* a tuple of the top n objects */
static int
tuple_of(Machine *m, int n)
{
	int			r = new_val(m, V_TUPLE), items[3];

	for (int i = n - 1; i >= 0; i--)
		items[i] = pop(m);
	for (int i = 0; i < n; i++)
		add_item(m, &m->vals[r], items[i]);
	return r;
}

/* the global module.name if a state dict may use it, else 0A000 naming it */
static int
global(Machine *m, const char *mod, int modlen, const char *name, int namelen)
{
	char	   *full = psprintf("%.*s.%.*s", modlen, mod, namelen, name);
	int			r = new_val(m, V_GLOBAL);

	if (memchr(mod, '\0', modlen) != NULL || memchr(name, '\0', namelen) != NULL)
		bad(m, "a global whose name holds a NUL");

	if (strcmp(full, "collections.OrderedDict") == 0)
		m->vals[r].i = G_ORDERED_DICT;
	else if (strcmp(full, "torch._utils._rebuild_tensor_v2") == 0)
		m->vals[r].i = G_REBUILD_TENSOR;
	else if (strcmp(full, "torch._utils._rebuild_parameter") == 0)
		m->vals[r].i = G_REBUILD_PARAMETER;
	else
	{
		if (pg_encoding_verifymbstr(PG_UTF8, full, strlen(full)) != (int) strlen(full))
			bad(m, "a global whose name is not UTF-8");
		m->vals[r].dt = -1;
		for (int d = 0; d < (int) lengthof(dtypes) && modlen == 5 && strncmp(mod, "torch", 5) == 0; d++)
			if (strlen(dtypes[d].storage) == (size_t) namelen && strncmp(name, dtypes[d].storage, namelen) == 0)
				m->vals[r].dt = d;
		if (m->vals[r].dt < 0)
			unsupported(m, psprintf("global \"%s\"", full));
		m->vals[r].i = G_STORAGE;
	}
	pfree(full);
	return r;
}

/* GLOBAL: "module\nname\n" */
static int
global_text(Machine *m)
{
	const char *s = (const char *) m->p + m->pos;
	const char *end = (const char *) m->p + m->len;
	const char *nl1 = memchr(s, '\n', end - s), *nl2;

	if (nl1 == NULL || (nl2 = memchr(nl1 + 1, '\n', end - nl1 - 1)) == NULL)
		bad(m, "GLOBAL without two lines");
	m->pos = (const unsigned char *) nl2 + 1 - m->p;
	return global(m, s, nl1 - s, nl1 + 1, nl2 - nl1 - 1);
}

/* the integer value of object v, checked */
static int64
int_of(Machine *m, int v, const char *what)
{
	if (m->vals[v].k != V_INT && m->vals[v].k != V_BOOL)
		bad(m, psprintf("%s is not an integer", what));
	return m->vals[v].i;
}

/* BINPERSID: ('storage', storage type, key, location, elements) -> a storage */
static int
storage(Machine *m, int pid)
{
	Val		   *t = &m->vals[pid];
	Val		   *key;
	int			r, dt, len;
	const char *s;
	int64		numel;

	if (t->k != V_TUPLE || t->n != 5 || m->vals[t->items[0]].k != V_STR ||
		m->vals[t->items[0]].len != 7 || memcmp(m->vals[t->items[0]].s, "storage", 7) != 0)
		unsupported(m, "a persistent id other than ('storage', type, key, location, size)");
	if (m->vals[t->items[1]].k != V_GLOBAL || m->vals[t->items[1]].i != G_STORAGE)
		bad(m, "a storage whose type is not a torch storage type");
	key = &m->vals[t->items[2]];
	if (key->k != V_STR || key->len == 0 || key->len > 64)
		bad(m, "a storage key that is not a short string");
	for (int i = 0; i < key->len; i++)
		if (!(key->s[i] >= '0' && key->s[i] <= '9') && !(key->s[i] >= 'a' && key->s[i] <= 'z') &&
			!(key->s[i] >= 'A' && key->s[i] <= 'Z') && key->s[i] != '_')
			bad(m, "a storage key with characters other than letters, digits and _");
	/* read every field before new_val, which may move the objects */
	dt = m->vals[t->items[1]].dt;
	s = key->s;
	len = key->len;
	if ((numel = int_of(m, t->items[4], "a storage's size")) < 0)
		bad(m, "a storage of negative size");
	r = new_val(m, V_STORAGE);
	m->vals[r].dt = dt;
	m->vals[r].s = s;
	m->vals[r].len = len;
	m->vals[r].i = numel;
	return r;
}

/* the ints of a tuple object into out (at most TFM_MAX_DIMS), their count */
static int
dims_of(Machine *m, int v, int64 *out, const char *what)
{
	Val		   *t = &m->vals[v];

	if (t->k != V_TUPLE)
		bad(m, psprintf("a tensor's %s is not a tuple", what));
	if (t->n > TFM_MAX_DIMS)
		unsupported(m, psprintf("a tensor of %d dimensions", t->n));
	for (int i = 0; i < t->n; i++)
		if ((out[i] = int_of(m, t->items[i], what)) < 0)
			bad(m, psprintf("a tensor with a negative %s", what));
	return t->n;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) -> a tensor */
static int
rebuild_tensor(Machine *m, Val *args)
{
	TfmTorchTensor *t = palloc0(sizeof(TfmTorchTensor));
	Val		   *st;
	int			r;

	if (args->n < 6 || args->n > 7 || m->vals[args->items[0]].k != V_STORAGE)
		bad(m, "_rebuild_tensor_v2 without (storage, offset, size, stride, requires_grad, hooks)");
	st = &m->vals[args->items[0]];
	t->dtype = dtypes[st->dt].dtype;
	t->elsize = dtypes[st->dt].elsize;
	t->key = pnstrdup(st->s, st->len);
	t->storage_numel = st->i;
	if ((t->offset = int_of(m, args->items[1], "a tensor's storage offset")) < 0)
		bad(m, "a negative storage offset");
	t->ndim = dims_of(m, args->items[2], t->shape, "size");
	if (dims_of(m, args->items[3], t->stride, "stride") != t->ndim)
		bad(m, "a tensor's size and stride differ in length");
	r = new_val(m, V_TENSOR);
	m->vals[r].t = t;
	return r;
}

/* REDUCE: call an allowed global with a tuple of arguments */
static int
reduce(Machine *m)
{
	int			a = pop(m), f = pop(m);
	Val		   *args = &m->vals[a];

	if (m->vals[f].k != V_GLOBAL || args->k != V_TUPLE)
		bad(m, "REDUCE of something other than a global and a tuple");
	switch ((Global) m->vals[f].i)
	{
		case G_ORDERED_DICT:
			if (args->n != 0)
				unsupported(m, "an OrderedDict built from arguments");
			return new_val(m, V_DICT);
		case G_REBUILD_TENSOR:
			return rebuild_tensor(m, args);
		case G_REBUILD_PARAMETER:
			if (args->n < 1 || m->vals[args->items[0]].k != V_TENSOR)
				bad(m, "_rebuild_parameter without a tensor");
			return args->items[0];
		default:
			unsupported(m, "calling a storage type");
	}
}

/* the memo entry key, which must have been set */
static int
memo_get(Machine *m, uint64 key)
{
	if (key >= (uint64) m->capmemo || m->memo[key] < 0)
		bad(m, psprintf("memo entry " UINT64_FORMAT " read before it was set", key));
	return m->memo[key];
}

/* set memo entry key to the top object (keys count up from 0 in real pickles) */
static void
memo_put(Machine *m, uint64 key)
{
	int			old = m->capmemo;

	if (key > (uint64) m->nvals)
		bad(m, psprintf("memo entry " UINT64_FORMAT " out of sequence", key));
	m->memo = grow(m->memo, &m->capmemo, (int) key + 1);
	for (int i = old; i < m->capmemo; i++)
		m->memo[i] = -1;
	m->nmemo += m->memo[key] < 0;
	m->memo[key] = pop(m);
	push(m, m->memo[key]);
}

/* a string object of n bytes at the position */
static int
str_val(Machine *m, uint64 n)
{
	int			r;
	const char *s = (const char *) take(m, n);

	if (n > PG_INT32_MAX)
		bad(m, "a string over 2 GB");
	r = new_val(m, V_STR);
	m->vals[r].s = s;
	m->vals[r].len = (int) n;
	return r;
}

/* run one opcode; false at STOP */
static bool
step(Machine *m)
{
	unsigned char op = *take(m, 1);
	int			v, k;

	switch (op)
	{
		case 0x80:				/* PROTO */
			if (*take(m, 1) > 5)
				unsupported(m, "a pickle protocol above 5");
			break;
		case 0x95:				/* FRAME */
			(void) take(m, 8);
			break;
		case '(':
			check_limit(m, m->nmarks, "open marks");
			m->marks = grow(m->marks, &m->capmarks, m->nmarks + 1);
			m->marks[m->nmarks++] = m->sp;
			break;
		case '.':
			return false;
		case 'N':
			push(m, new_val(m, V_NONE));
			break;
		case 0x88:
		case 0x89:
			push(m, v = new_val(m, V_BOOL));
			m->vals[v].i = op == 0x88;
			break;
		case 'J':
			push(m, v = new_val(m, V_INT));
			m->vals[v].i = (int32) take_uint(m, 4);
			break;
		case 'K':
		case 'M':
			push(m, v = new_val(m, V_INT));
			m->vals[v].i = (int64) take_uint(m, op == 'K' ? 1 : 2);
			break;
		case 0x8a:				/* LONG1: n bytes, two's complement */
			{
				int			n = *take(m, 1);

				if (n > 8)
					unsupported(m, "an integer over 64 bits");
				push(m, v = new_val(m, V_INT));
				m->vals[v].i = n ? (int64) take_uint(m, n) : 0;
				if (n > 0 && n < 8 && (m->vals[v].i >> (8 * n - 1)) & 1)
					m->vals[v].i -= (int64) 1 << (8 * n);
			}
			break;
		case 'G':				/* BINFLOAT: 8 bytes big-endian (metadata only; the value is not used) */
			(void) take(m, 8);
			push(m, new_val(m, V_FLOAT));
			break;
		case 'X':
		case 'B':
			push(m, str_val(m, take_uint(m, 4)));
			break;
		case 0x8c:
		case 'C':
			push(m, str_val(m, take_uint(m, 1)));
			break;
		case 0x8d:
		case 0x8e:
			push(m, str_val(m, take_uint(m, 8)));
			break;
		case ')':
			push(m, new_val(m, V_TUPLE));
			break;
		case 't':
			push(m, from_mark(m, V_TUPLE));
			break;
		case 0x85:
		case 0x86:
		case 0x87:
			push(m, tuple_of(m, op - 0x84));
			break;
		case ']':
			push(m, new_val(m, V_LIST));
			break;
		case 'l':
			push(m, from_mark(m, V_LIST));
			break;
		case '}':
			push(m, new_val(m, V_DICT));
			break;
		case 'd':
			push(m, from_mark(m, V_DICT));
			break;
		case 'a':
			v = pop(m);
			if (top(m)->k != V_LIST)
				bad(m, "APPEND to something other than a list");
			add_item(m, top(m), v);
			break;
		case 's':
			v = pop(m);
			k = pop(m);
			if (top(m)->k != V_DICT)
				bad(m, "SETITEM on something other than a dict");
			add_item(m, top(m), k);
			add_item(m, top(m), v);
			break;
		case 'e':
		case 'u':
			{
				int			items = from_mark(m, op == 'e' ? V_LIST : V_DICT);
				Val		   *seq = top(m);

				if (seq->k != (op == 'e' ? V_LIST : V_DICT))
					bad(m, op == 'e' ? "APPENDS to something other than a list" : "SETITEMS on something other than a dict");
				for (int i = 0; i < m->vals[items].n; i++)
					add_item(m, seq, m->vals[items].items[i]);
			}
			break;
		case 'c':
			push(m, global_text(m));
			break;
		case 0x93:				/* STACK_GLOBAL */
			{
				int			name = pop(m), mod = pop(m);

				if (m->vals[name].k != V_STR || m->vals[mod].k != V_STR)
					bad(m, "STACK_GLOBAL of something other than two strings");
				push(m, global(m, m->vals[mod].s, m->vals[mod].len, m->vals[name].s, m->vals[name].len));
			}
			break;
		case 'q':
			memo_put(m, take_uint(m, 1));
			break;
		case 'r':
			memo_put(m, take_uint(m, 4));
			break;
		case 0x94:				/* MEMOIZE */
			memo_put(m, m->nmemo);
			break;
		case 'h':
			push(m, memo_get(m, take_uint(m, 1)));
			break;
		case 'j':
			push(m, memo_get(m, take_uint(m, 4)));
			break;
		case 'Q':
			push(m, storage(m, pop(m)));
			break;
		case 'R':
			push(m, reduce(m));
			break;
		case 'b':				/* BUILD: the state of an OrderedDict (its _metadata) is not needed */
			(void) pop(m);
			if (top(m)->k != V_DICT)
				unsupported(m, "setting the state of an object other than a dict");
			break;
		default:
			if (op < 0x20 || op > 0x98)
				bad(m, psprintf("byte 0x%02x is not a pickle opcode", op));
			unsupported(m, psprintf("pickle opcode 0x%02x", op));
	}
	return true;
}

/* the state dict's entry i (a name and a tensor) as a TfmTorchTensor, its name checked */
static TfmTorchTensor *
entry(Machine *m, Val *dict, int i)
{
	Val		   *key = &m->vals[dict->items[2 * i]], *val = &m->vals[dict->items[2 * i + 1]];
	TfmTorchTensor *t;

	if (key->k != V_STR)
		unsupported(m, "a key that is not a string");
	if (memchr(key->s, '\0', key->len) != NULL || key->len == 0 ||
		pg_encoding_verifymbstr(PG_UTF8, key->s, key->len) != key->len)
		bad(m, "a tensor name that is empty, holds a NUL or is not UTF-8");
	if (val->k != V_TENSOR)
		unsupported(m, psprintf("an entry \"%s\" that is not a tensor", pnstrdup(key->s, key->len)));
	if (key->len == 12 && memcmp(key->s, "__metadata__", 12) == 0)
		unsupported(m, "a tensor named \"__metadata__\" (safetensors keeps that name for its metadata)");
	t = val->t;
	t->name = pnstrdup(key->s, key->len);
	return t;
}

/*
 * the tensors of the state dict that the pickle pkl (len bytes) of a PyTorch checkpoint holds, in its order,
 * and their number; what names the file in messages
 */
TfmTorchTensor *
TfmUnpickleStateDict(const char *pkl, uint64 len, const char *what, int *n)
{
	Machine		m = {.p = (const unsigned char *) pkl, .len = len, .what = what};
	TfmTorchTensor *out;
	Val		   *dict;
	uint64		steps = 0;

	while (step(&m))
		if ((++steps & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
	dict = &m.vals[pop(&m)];
	if (dict->k != V_DICT)
		unsupported(&m, "an object other than a dict of tensors at its top");
	if (m.pos != len)
		bad(&m, "bytes after STOP");
	/* each key a distinct object: memo gets cannot repeat one name without bound (entries <= MAX_VALUES) */
	for (int i = 0; i < dict->n / 2; i++)
	{
		Val		   *key = &m.vals[dict->items[2 * i]];

		if (key->key)
			bad(&m, "one key object used twice in the state dict");
		key->key = true;
	}
	out = palloc_extended(sizeof(TfmTorchTensor) * (Size) Max(dict->n / 2, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < dict->n / 2; i++)
	{
		out[i] = *entry(&m, dict, i);
		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
	}
	*n = dict->n / 2;
	return out;
}
