/*
 * wpvocab.c - the WordPiece vocabulary blob (wordpiece.h): built once, checked when read from an untrusted
 * file, looked up by FNV-1a hash with open addressing; and the strings of ids (encoding.tokens).
 */
#include "wpblob.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- blob layout */

/* acc plus the byte lengths of n strings, or SIZE_MAX if a length is bad */
static size_t
strings_bytes(int n, const int *lens, size_t acc, int min_len)
{
	for (int i = 0; i < n && acc != SIZE_MAX; i++)
	{
		if (lens[i] < min_len || (size_t) lens[i] > SIZE_MAX / 4 - acc)
			return SIZE_MAX;
		acc += (size_t) lens[i];
	}
	return acc;
}

/* bytes needed for a vocab blob of these tokens (0 if the arguments are bad) */
size_t
TfmVocabBlobSize(int ntokens, const char *const *tokens, const int *lens,
				 int nspecial, const char *const *special, const int *speclens)
{
	size_t str, fixed;

	(void) tokens;
	(void) special;
	if (ntokens < 0 || nspecial < 0 || ntokens >= INT32_MAX / 4 || nspecial >= INT32_MAX / 4)
		return 0;
	str = strings_bytes(nspecial, speclens, strings_bytes(ntokens, lens, 0, 0), 1);
	fixed = TfmAlign8(sizeof(TfmVocab)) + TfmAlign8((size_t) TfmSlotCount(ntokens) * sizeof(uint32_t)) +
		((size_t) ntokens + (size_t) nspecial) * sizeof(VocabEntry) + TfmAlign8((size_t) nspecial * sizeof(uint32_t));
	if (str == SIZE_MAX || TfmAlign8(str) > SIZE_MAX - fixed)
		return 0;
	return fixed + TfmAlign8(str);
}

/* id of the len bytes at s whose FNV-1a hash is h, or -1 */
int32_t
TfmVocabFind(const TfmVocab *v, uint64_t h, const char *s, size_t len)
{
	const uint32_t *slots = BLOB(v, v->slots_off, const uint32_t *);
	const VocabEntry *ent = BLOB(v, v->entries_off, const VocabEntry *);
	const char *str = BLOB(v, v->strings_off, const char *);
	uint64_t mask = v->nslots - 1;

	for (uint64_t i = h & mask; slots[i] != 0; i = (i + 1) & mask)
	{
		const VocabEntry *e = &ent[slots[i] - 1];

		if (e->len == len && memcmp(str + e->off, s, len) == 0)
			return e->id;
	}
	return -1;
}

/* id of a token or -1 */
int32_t
TfmVocabLookup(const TfmVocab *v, const char *tok, int len)
{
	if (len < 0)
		return -1;
	return TfmVocabFind(v, TfmFnvHash(tok, (size_t) len), tok, (size_t) len);
}

/* number of ids = max id + 1 */
int
TfmVocabSizeOf(const TfmVocab *v)
{
	return v->nids;
}

/* the configuration embedded in the blob */
const TfmTokConfig *
TfmVocabConfig(const TfmVocab *v)
{
	return &v->cfg;
}

/* 0 if the configuration is usable with nids ids (0 = not known yet) */
static int
config_check(const TfmTokConfig *cfg, int32_t nids)
{
	if (memchr(cfg->prefix, '\0', sizeof(cfg->prefix)) == NULL ||
		cfg->max_input_chars_per_word < 1 || cfg->max_input_chars_per_word > MAX_WORD_CHARS)
		return TFM_TOK_EINVAL;
	if (cfg->unk_id < 0 || cfg->cls_id < 0 || cfg->sep_id < 0 || cfg->pad_id < -1)
		return TFM_TOK_EINVAL;
	if (nids > 0 && (cfg->unk_id >= nids || cfg->cls_id >= nids ||
					 cfg->sep_id >= nids || cfg->pad_id >= nids))
		return TFM_TOK_EINVAL;
	return 0;
}

/* largest id among the token, special and configured ids, or -1 if one is bad */
static int32_t
max_id(const TfmTokConfig *cfg, int n, const int32_t *ids, int m, const int32_t *spec_ids)
{
	int32_t mx = cfg->unk_id;

	mx = cfg->cls_id > mx ? cfg->cls_id : mx;
	mx = cfg->sep_id > mx ? cfg->sep_id : mx;
	mx = cfg->pad_id > mx ? cfg->pad_id : mx;
	for (int i = 0; i < n + m; i++)
	{
		int32_t id = i < n ? ids[i] : spec_ids[i - n];

		if (id < 0 || id == INT32_MAX)
			return -1;
		mx = id > mx ? id : mx;
	}
	return mx;
}

/* fill the header of a blob laid out for these counts */
static void
header_init(TfmVocab *v, const TfmTokConfig *cfg, int ntokens, int nspecial,
			size_t str_total, size_t total)
{
	v->magic = VOCAB_MAGIC;
	v->version = VOCAB_VERSION;
	v->total_size = total;
	v->cfg = *cfg;
	v->ntokens = ntokens;
	v->nspecial = nspecial;
	v->nslots = TfmSlotCount(ntokens);
	v->slots_off = TfmAlign8(sizeof(TfmVocab));
	v->entries_off = v->slots_off + TfmAlign8((size_t) v->nslots * sizeof(uint32_t));
	v->specials_off = v->entries_off + (uint64_t) ntokens * sizeof(VocabEntry);
	v->strings_off = v->specials_off + (uint64_t) nspecial * sizeof(VocabEntry);
	v->strings_len = str_total;
	v->spflags_off = TfmAlign8(v->strings_off + str_total);
}

/* insert token k of the blob into the hash table; TFM_TOK_EDUP if already there */
static int
vocab_insert(TfmVocab *v, uint32_t k)
{
	uint32_t *slots = (uint32_t *) ((char *) v + v->slots_off);
	const VocabEntry *e = &BLOB(v, v->entries_off, const VocabEntry *)[k];
	const char *s = BLOB(v, v->strings_off, const char *) + e->off;
	uint64_t h = TfmFnvHash(s, e->len), mask = v->nslots - 1, i;

	if (TfmVocabFind(v, h, s, e->len) >= 0)
		return TFM_TOK_EDUP;
	for (i = h & mask; slots[i] != 0; i = (i + 1) & mask)
		;
	slots[i] = k + 1;
	return 0;
}

/* copy n strings into the string area at off, recording them in ent[]; returns new offset */
static uint64_t
copy_strings(TfmVocab *v, uint64_t ent_off, uint64_t off, int n,
			 const char *const *s, const int *lens, const int32_t *ids)
{
	char *str = (char *) v + v->strings_off;
	VocabEntry *ent = (VocabEntry *) ((char *) v + ent_off);

	for (int i = 0; i < n; i++)
	{
		memcpy(str + off, s[i], (size_t) lens[i]);
		ent[i].off = off;
		ent[i].len = (uint32_t) lens[i];
		ent[i].id = ids[i];
		off += (uint64_t) lens[i];
		if (lens[i] > v->max_token_bytes)
			v->max_token_bytes = lens[i];
	}
	return off;
}

/* build the blob into dst, special tokens matched plainly */
int
TfmVocabBuild(void *dst, const TfmTokConfig *cfg,
			  int ntokens, const char *const *tokens, const int *lens, const int32_t *ids,
			  int nspecial, const char *const *special, const int *speclens,
			  const int32_t *spec_ids)
{
	return TfmVocabBuildEx(dst, cfg, ntokens, tokens, lens, ids, nspecial, special, speclens, spec_ids, NULL);
}

/* build the blob into dst, with the special tokens' matching flags */
int
TfmVocabBuildEx(void *dst, const TfmTokConfig *cfg,
				int ntokens, const char *const *tokens, const int *lens, const int32_t *ids,
				int nspecial, const char *const *special, const int *speclens,
				const int32_t *spec_ids, const uint32_t *spec_flags)
{
	TfmVocab *v = dst;
	size_t total = TfmVocabBlobSize(ntokens, tokens, lens, nspecial, special, speclens);
	int32_t mx;
	uint64_t off;
	int rc;

	if (total == 0 || ((uintptr_t) dst & 7) != 0 || config_check(cfg, 0) != 0)
		return TFM_TOK_EINVAL;
	if ((mx = max_id(cfg, ntokens, ids, nspecial, spec_ids)) < 0)
		return TFM_TOK_EINVAL;
	memset(dst, 0, total);
	header_init(v, cfg, ntokens, nspecial,
				strings_bytes(nspecial, speclens, strings_bytes(ntokens, lens, 0, 0), 1), total);
	v->nids = mx + 1;
	off = copy_strings(v, v->entries_off, 0, ntokens, tokens, lens, ids);
	copy_strings(v, v->specials_off, off, nspecial, special, speclens, spec_ids);
	for (int i = 0; i < nspecial && spec_flags; i++)
	{
		if (spec_flags[i] > 7)
			return TFM_TOK_EINVAL;
		((uint32_t *) ((char *) v + v->spflags_off))[i] = spec_flags[i];
	}
	for (int i = 0; i < ntokens; i++)
		if ((rc = vocab_insert(v, (uint32_t) i)) != 0)
			return rc;
	return 0;
}

/* 1 if every entry lies in the string area, has an id below nids and a fitting length */
static int
entries_ok(const TfmVocab *v, uint64_t ent_off, int n, uint32_t min_len)
{
	const VocabEntry *e = BLOB(v, ent_off, const VocabEntry *);

	for (int i = 0; i < n; i++)
		if (e[i].off > v->strings_len || e[i].len > v->strings_len - e[i].off ||
			e[i].id < 0 || e[i].id >= v->nids || e[i].len < min_len ||
			e[i].len > (uint32_t) v->max_token_bytes)
			return 0;
	return 1;
}

/* 1 if the hash slots reference valid entries and leave at least one slot empty */
static int
slots_ok(const TfmVocab *v)
{
	const uint32_t *slots = BLOB(v, v->slots_off, const uint32_t *);
	uint64_t used = 0;

	for (uint64_t i = 0; i < v->nslots; i++)
	{
		if (slots[i] > (uint32_t) v->ntokens)
			return 0;
		used += slots[i] != 0;
	}
	return used <= (uint64_t) v->ntokens;
}

/* 1 if all header fields are in range for a blob of size bytes */
static int
header_ok(const TfmVocab *v, size_t size)
{
	uint64_t t = v->total_size;

	if (v->magic != VOCAB_MAGIC || v->version != VOCAB_VERSION || t > size ||
		t < sizeof(TfmVocab) || v->ntokens < 0 || v->nspecial < 0 || v->nids <= 0)
		return 0;
	if (v->nslots < 16 || (v->nslots & (v->nslots - 1)) != 0 ||
		v->nslots <= (uint64_t) v->ntokens || v->max_token_bytes < 0 ||
		(uint64_t) v->max_token_bytes > v->strings_len)
		return 0;
	return TfmArrayOk(v->slots_off, v->nslots, sizeof(uint32_t), t) &&
		TfmArrayOk(v->entries_off, (uint64_t) v->ntokens, sizeof(VocabEntry), t) &&
		TfmArrayOk(v->specials_off, (uint64_t) v->nspecial, sizeof(VocabEntry), t) &&
		TfmArrayOk(v->strings_off, v->strings_len, 1, t) &&
		TfmArrayOk(v->spflags_off, (uint64_t) v->nspecial, sizeof(uint32_t), t);
}

/* verify a blob read from an untrusted file; 0 if ok */
int
TfmVocabCheck(const void *blob, size_t size)
{
	const TfmVocab *v = blob;

	if (blob == NULL || ((uintptr_t) blob & 7) != 0 || size < sizeof(TfmVocab) ||
		!header_ok(v, size) || config_check(&v->cfg, v->nids) != 0 || !slots_ok(v) ||
		!entries_ok(v, v->entries_off, v->ntokens, 0) ||
		!entries_ok(v, v->specials_off, v->nspecial, 1))
		return TFM_TOK_ECORRUPT;
	return 0;
}

/* the vocabulary strings of n ids ("[CLS]", "##ing") into *out; 0, TFM_TOK_EINVAL (an id without one) or ENOMEM */
int
TfmVocabPieces(const TfmVocab *v, const int32_t *ids, int n, TfmPieces *out)
{
	const VocabEntry *ent = BLOB(v, v->entries_off, const VocabEntry *);
	const VocabEntry *spec = BLOB(v, v->specials_off, const VocabEntry *);
	const char *str = BLOB(v, v->strings_off, const char *);
	const VocabEntry **by_id;
	int rc = 0;

	/* one pass over the vocabulary: the entry of each id (a special token's own entry wins) */
	by_id = calloc((size_t) v->nids + 1, sizeof(VocabEntry *));
	if (by_id == NULL || tfm_pieces_init(out, n))
	{
		free(by_id);
		return TFM_TOK_ENOMEM;
	}
	for (int32_t i = 0; i < v->ntokens; i++)
		by_id[ent[i].id] = &ent[i];
	for (int32_t i = 0; i < v->nspecial; i++)
		by_id[spec[i].id] = &spec[i];
	for (int i = 0; i < n && rc == 0; i++)
		if (ids[i] < 0 || ids[i] >= v->nids || by_id[ids[i]] == NULL)
			rc = TFM_TOK_EINVAL;
		else if (tfm_pieces_push(out, str + by_id[ids[i]]->off, by_id[ids[i]]->len))
			rc = TFM_TOK_ENOMEM;
	free(by_id);
	if (rc)
		tfm_pieces_free(out);
	return rc;
}
