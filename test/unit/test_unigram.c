/*
 * test_unigram.c - unit tests of src/text (Unigram tokenizer, Precompiled charsmap) on a tiny
 * hand-made vocabulary and a hand-made darts double array.
 *
 * cc -O2 -Wall -Wextra -Isrc/text test/unit/test_unigram.c src/text/unigram.c src/text/uniencode.c \
 *    src/text/precompiled.c -lutf8proc -lm && ./a.out
 * Prints one line per failure and a final "N passed, N failed"; exits 1 on failure.
 */
#include "text/unigram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int npass, nfail;

#define CHECK(cond, ...) do { if (cond) npass++; else { nfail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
	printf(__VA_ARGS__); printf("\n"); } } while (0)

/* id: piece, score (▁ is U+2581) */
static const char *const pieces[] = {
	"<unk>", "</s>", "\xe2\x96\x81", "a", "b", "ab", "\xe2\x96\x81" "ab", "\xe2\x96\x81" "a", "c", "<0x7A>", "a", "<s>",
};
static const double scores[] = {0, 0, -2, -3, -3, -4, -5.6, -2.5, -3, -1, -3.5, 0};
#define NP ((int) (sizeof(pieces) / sizeof(pieces[0])))

/*
 * a darts double array with two rules: "A" -> "a", "B" -> "" (removed); root base 0x100, the
 * children at 0x100 ^ byte, their value units at 0x200 and 0x201
 */
static unsigned char charsmap[4 + 4 * 0x202 + 4];
static size_t charsmap_len;

/* little-endian u32 into p */
static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff, p[1] = (v >> 8) & 0xff, p[2] = (v >> 16) & 0xff, p[3] = v >> 24;
}

/* fill charsmap */
static void
make_charsmap(void)
{
	unsigned char *u = charsmap + 4;

	memset(charsmap, 0, sizeof(charsmap));
	put32(charsmap, 4 * 0x202);
	put32(u + 0, 0x100u << 10);								/* root: base 0x100 */
	put32(u + 4 * 0x141, 0x41 | 1u << 8 | (0x141u ^ 0x200) << 10);	/* 'A', leaf, base 0x200 */
	put32(u + 4 * 0x142, 0x42 | 1u << 8 | (0x142u ^ 0x201) << 10);	/* 'B', leaf, base 0x201 */
	put32(u + 4 * 0x200, 0x80000000u | 0);					/* "a" at pool 0 */
	put32(u + 4 * 0x201, 0x80000000u | 2);					/* "" at pool 2 */
	memcpy(charsmap + 4 + 4 * 0x202, "a\0\0", 3);
	charsmap_len = 4 + 4 * 0x202 + 3;
}

/* a spec on the tiny vocabulary: WhitespaceSplit + Metaspace, <s> $A </s> */
static void
make_spec(TfmUniSpec *s, int lens[])
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < NP; i++)
		lens[i] = (int) strlen(pieces[i]);
	s->n_pieces = NP;
	s->piece = pieces;
	s->piece_len = lens;
	s->score = scores;
	s->unk_id = 0;
	s->whitespace_split = 1;
	s->metaspace = 1;
	s->replacement = "\xe2\x96\x81";
	s->replacement_len = 3;
	s->prepend = TFM_PREPEND_ALWAYS;
	s->split = 1;
	s->n_prefix = 1;
	s->prefix[0] = 11;
	s->n_suffix = 1;
	s->suffix[0] = 1;
}

/* encode text and compare with want[0, nwant) */
static void
expect(const void *blob, const char *text, const int32_t *want, int nwant)
{
	int32_t *ids = NULL;
	int n = 0;
	size_t bad = 0;
	int rc = TfmUniEncode(blob, text, strlen(text), &ids, &n, &bad);
	int same = rc == 0 && n == nwant && (n == 0 || memcmp(ids, want, sizeof(int32_t) * (size_t) n) == 0);

	CHECK(same, "\"%s\": rc %d, %d ids (want %d):%s", text, rc, n, nwant, "");
	if (!same)
	{
		for (int i = 0; i < n; i++)
			printf(" %d", ids[i]);
		printf("\n");
	}
	free(ids);
}

/* Viterbi, ties, unknown characters, duplicates, template */
static void
test_encode(void)
{
	TfmUniSpec s;
	int lens[NP];
	void *blob;
	size_t size;
	const char *why = NULL;

	make_spec(&s, lens);
	CHECK(TfmUniBuild(&s, &blob, &size, &why) == 0, "build: %s", why ? why : "");
	CHECK(TfmUniCheck(blob, size, NP) == 0, "check of a built blob");
	CHECK(TfmUniCheck(blob, size, NP - 1) != 0, "check with a smaller vocabulary");
	/* ▁ab: -5.6 loses to ▁a + b (-5.5) */
	expect(blob, "ab", (const int32_t[]) {11, 7, 4, 1}, 4);
	/* a duplicated piece keeps its last id (10), with that id's score */
	expect(blob, "ca", (const int32_t[]) {11, 2, 8, 10, 1}, 5);
	/* unknown characters: one fused unk per run; "<0x7A>" is a piece but byte_fallback is off */
	expect(blob, "zz\xe2\x98\x83" "a", (const int32_t[]) {11, 2, 0, 10, 1}, 5);
	expect(blob, "", (const int32_t[]) {11, 1}, 2);
	expect(blob, "  \t\n", (const int32_t[]) {11, 1}, 2);
	expect(blob, "ab  ab", (const int32_t[]) {11, 7, 4, 7, 4, 1}, 6);
	/* invalid UTF-8: its offset */
	{
		int32_t *ids;
		int n;
		size_t bad = 0;

		CHECK(TfmUniEncode(blob, "ab\xff", 3, &ids, &n, &bad) == TFM_UNI_EUTF8 && bad == 2, "invalid UTF-8 at %zu", bad);
	}
	free(blob);

	/* byte_fallback: an unknown run becomes its bytes' pieces when all exist */
	make_spec(&s, lens);
	s.byte_fallback = 1;
	CHECK(TfmUniBuild(&s, &blob, &size, &why) == 0, "build with byte_fallback");
	expect(blob, "zz", (const int32_t[]) {11, 2, 9, 9, 1}, 5);
	expect(blob, "z\xe2\x98\x83", (const int32_t[]) {11, 2, 0, 1}, 4);
	free(blob);
}

/* added tokens (leftmost-longest, lstrip / rstrip) and the Precompiled normalizer */
static void
test_added_and_charsmap(void)
{
	TfmUniSpec s;
	int lens[NP];
	void *blob;
	size_t size;
	const char *why = NULL;
	TfmAddedToken added[] = {{"</s>", 4, 0, 0, 0, 0}, {"<s>", 3, 0, 1, 1, 0}};

	make_charsmap();
	make_spec(&s, lens);
	s.n_norm = 1;
	s.norm[0].kind = TFM_NORM_PRECOMPILED;
	s.charsmap = charsmap;
	s.charsmap_len = charsmap_len;
	s.nadded = 2;
	s.added = added;
	CHECK(TfmUniBuild(&s, &blob, &size, &why) == 0, "build with charsmap: %s", why ? why : "");
	/* 'A' -> 'a', 'B' removed */
	expect(blob, "ABb", (const int32_t[]) {11, 7, 4, 1}, 4);
	/* </s> split out of the raw text; <s> with lstrip and rstrip takes the blanks around it */
	expect(blob, "a</s>b", (const int32_t[]) {11, 7, 1, 2, 4, 1}, 6);
	expect(blob, "a  <s>  b", (const int32_t[]) {11, 7, 11, 2, 4, 1}, 6);
	free(blob);

	/* broken charsmaps */
	CHECK(TfmCharsmapCheck(charsmap, charsmap_len, &why) == 0, "the hand-made charsmap");
	CHECK(TfmCharsmapCheck(charsmap, 3, &why) != 0, "a 3-byte charsmap");
	{
		unsigned char bad[sizeof(charsmap)];

		memcpy(bad, charsmap, sizeof(bad));
		put32(bad, 4 * 0x203);									/* the trie takes the pool */
		CHECK(TfmCharsmapCheck(bad, charsmap_len, &why) != 0, "trie size past the data");
		memcpy(bad, charsmap, sizeof(bad));
		put32(bad + 4 + 4 * 0x200, 0x80000000u | 1000);			/* value outside the pool */
		CHECK(TfmCharsmapCheck(bad, charsmap_len, &why) != 0, "value outside the pool");
		memcpy(bad, charsmap, sizeof(bad));
		put32(bad + 4 + 4 * 0x141, 0x41 | 1u << 8 | (0x141u ^ 0x5000) << 10);	/* base outside */
		CHECK(TfmCharsmapCheck(bad, charsmap_len, &why) != 0, "base outside the array");
		memcpy(bad, charsmap, sizeof(bad));
		bad[4 + 4 * 0x202] = 0xff;								/* pool not UTF-8 */
		CHECK(TfmCharsmapCheck(bad, charsmap_len, &why) != 0, "pool not UTF-8");
	}
}

/* refusals of the builder and of the checker */
static void
test_refusals(void)
{
	TfmUniSpec s;
	int lens[NP];
	void *blob = NULL;
	size_t size;
	const char *why = NULL;
	double bad_scores[NP];

	make_spec(&s, lens);
	s.unk_id = NP;
	CHECK(TfmUniBuild(&s, &blob, &size, &why) == TFM_UNI_EINVAL && why != NULL, "unk_id out of range");
	make_spec(&s, lens);
	memcpy(bad_scores, scores, sizeof(scores));
	bad_scores[3] = 1.0 / 0.0;
	s.score = bad_scores;
	CHECK(TfmUniBuild(&s, &blob, &size, &why) == TFM_UNI_EINVAL, "an infinite score");
	bad_scores[3] = -1e10;
	CHECK(TfmUniBuild(&s, &blob, &size, &why) == TFM_UNI_EINVAL, "a score beyond 1e9");
	make_spec(&s, lens);
	s.n_norm = 1;
	s.norm[0].kind = TFM_NORM_PRECOMPILED;
	CHECK(TfmUniBuild(&s, &blob, &size, &why) == TFM_UNI_EINVAL, "Precompiled without charsmap");

	/* every single-byte corruption of the header is refused or harmless */
	make_spec(&s, lens);
	if (TfmUniBuild(&s, &blob, &size, &why) == 0)
	{
		unsigned char *copy = aligned_alloc(8, (size + 7) & ~(size_t) 7);
		int refused = 0;

		for (size_t i = 0; i < size && i < 512; i++)
		{
			memcpy(copy, blob, size);
			copy[i] ^= 0x80;
			if (TfmUniCheck(copy, size, NP) != 0)
				refused++;
			else
			{
				int32_t *ids;
				int n;
				size_t bad;

				if (TfmUniEncode(copy, "ab zz ca", 8, &ids, &n, &bad) == 0)
					free(ids);
			}
		}
		CHECK(refused > 50, "corruptions refused: %d", refused);
		free(copy);
		free(blob);
	}
}

int
main(void)
{
	test_encode();
	test_added_and_charsmap();
	test_refusals();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
