/*
 * test_bpe.c - unit tests of the byte-level BPE core (src/text/bpe.c, bytelevel.c, merges.c) on a tiny hand-made vocabulary.
 *
 * make unit (links the pure-C tokenizer files of src/text, TEXT_CORE in the Makefile)
 * Prints one line per failure and a final "N passed, N failed"; exits 1 on failure.
 *
 * The vocabulary has the 256 byte characters as ids 0-255 (id = byte) and a few
 * merges on top, so expected ids can be read off the bytes of the text.
 */
#include "text/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int npass, nfail;

/* merges.txt of the tiny vocabulary: rule i makes id 256 + i (Ġ = space, Â = 0xC2) */
static const char merges_txt[] =
	"#version: 0.2\n"
	"\xc4\xa0 t\n"                  /* 256 Ġt */
	"h e\n"                         /* 257 he */
	"\xc4\xa0t he\n"                /* 258 Ġthe */
	"' s\n"                         /* 259 's */
	"1 2\n"                         /* 260 12 */
	"l l\n"                         /* 261 ll */
	"' ll\n"                        /* 262 'll */
	"a a\n"                         /* 263 aa */
	"\n"                            /* blank lines are skipped */
	"aa aa\n"                       /* 264 aaaa */
	"\xc4\xa0 \xc4\xa0\n"           /* 265 ĠĠ */
	"\xc4\xa0 \xc3\x82\n"           /* 266 ĠÂ */
	"q zz\n";                       /* "zz" is no token: the rule is dropped */

/* the extra tokens after the 256 byte characters */
static const char *const extra[] = {
	"\xc4\xa0t", "he", "\xc4\xa0the", "'s", "12", "ll", "'ll", "aa", "aaaa",
	"\xc4\xa0\xc4\xa0", "\xc4\xa0\xc3\x82", "<|endoftext|>",
};
#define NEXTRA ((int) (sizeof(extra) / sizeof(extra[0])))
#define NTOK (256 + NEXTRA)
#define EOT_ID (256 + NEXTRA - 1)

static char bytechars[256][3];
static const char *tokens[NTOK];
static int lens[NTOK];
static int32_t ids[NTOK];

/* record one check */
static void
check(int ok, const char *what)
{
	if (ok)
		npass++;
	else
	{
		nfail++;
		printf("FAIL: %s\n", what);
	}
}

/* UTF-8 of GPT-2's bytes_to_unicode character of byte b */
static void
byte_char_utf8(int b, char out[3])
{
	int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
	int cp = b, n = 0;

	if (!printable)
	{
		for (int i = 0; i < b; i++)
			n += !((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255));
		cp = 256 + n;
	}
	if (cp < 128)
	{
		out[0] = (char) cp;
		out[1] = out[2] = 0;
	}
	else
	{
		out[0] = (char) (0xC0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3F));
		out[2] = 0;
	}
}

/* build the tiny blob (malloc'd) from the tables above */
static void *
build_tiny(size_t *size)
{
	TfmBpeMerge *m;
	int nm, line, rc;
	void *blob;

	for (int b = 0; b < 256; b++)
	{
		byte_char_utf8(b, bytechars[b]);
		tokens[b] = bytechars[b];
		lens[b] = (int) strlen(bytechars[b]);
		ids[b] = b;
	}
	for (int i = 0; i < NEXTRA; i++)
	{
		tokens[256 + i] = extra[i];
		lens[256 + i] = (int) strlen(extra[i]);
		ids[256 + i] = 256 + i;
	}
	rc = TfmBpeParseMerges(merges_txt, sizeof(merges_txt) - 1, &m, &nm, &line);
	check(rc == 0 && nm == 12, "parse merges.txt");
	if (rc != 0)
		return NULL;
	*size = TfmBpeBlobSize(NTOK, tokens, lens, ids, nm, m);
	blob = aligned_alloc(8, (*size + 7) / 8 * 8);
	rc = TfmBpeBuild(blob, *size, NTOK, tokens, lens, ids, nm, m);
	check(rc == 0, "build tiny blob");
	check(TfmBpeCheck(blob, *size) == 0, "check tiny blob");
	check(TfmBpeSizeOf(blob) == NTOK, "size of tiny blob");
	free(m);
	return blob;
}

/* encode text and compare with the expected ids, then decode back */
static void
expect(const void *blob, const char *text, const int32_t *want, int nwant, const char *what)
{
	int32_t *got;
	int n, rc;
	size_t eo, dl;
	char *dec;

	rc = TfmBpeEncode(blob, text, strlen(text), &got, &n, &eo);
	if (rc != 0 || n != nwant || (n > 0 && memcmp(got, want, sizeof(int32_t) * n) != 0))
	{
		printf("  got rc %d:", rc);
		for (int i = 0; rc == 0 && i < n; i++)
			printf(" %d", got[i]);
		printf("\n");
		check(0, what);
	}
	else
		check(1, what);
	if (rc == 0)
	{
		rc = TfmBpeDecode(blob, got, n, &dec, &dl);
		check(rc == 0 && dl == strlen(text) && memcmp(dec, text, dl) == 0, "decode round trip");
		free(dec);
	}
	free(got);
}

#define EXPECT(blob, text, what, ...) \
	do { \
		static const int32_t w_[] = {__VA_ARGS__}; \
		expect(blob, text, w_, (int) (sizeof(w_) / sizeof(w_[0])), what); \
	} while (0)

/* encodings of hand-picked texts */
static void
test_encode(const void *blob)
{
	int32_t *got;
	int n;
	size_t eo;

	check(TfmBpeEncode(blob, "", 0, &got, &n, &eo) == 0 && n == 0 && got == NULL, "empty text");
	EXPECT(blob, "the", "merge inside a word", 't', 257);
	EXPECT(blob, " the", "merges by rank across the space", 258);
	EXPECT(blob, "it's", "contraction 's", 'i', 't', 259);
	EXPECT(blob, "he'll", "contraction 'll", 257, 262);
	EXPECT(blob, "HE'S", "contractions are lower case only", 'H', 'E', '\'', 'S');
	EXPECT(blob, "a 12", "digits with a leading space", 'a', ' ', 260);
	EXPECT(blob, "a1b", "letters and digits split", 'a', '1', 'b');
	EXPECT(blob, "x   y", "runs of spaces leave one for the word", 'x', 265, ' ', 'y');
	EXPECT(blob, "x\n\ny", "newlines", 'x', '\n', '\n', 'y');
	EXPECT(blob, "x  ", "trailing spaces", 'x', 265);
	EXPECT(blob, "aaaaa", "every occurrence of the best pair, left to right", 264, 'a');
	EXPECT(blob, "\xf0\x9f\x98\x80", "emoji bytes", 0xF0, 0x9F, 0x98, 0x80);
	EXPECT(blob, " \xf0\x9f\x98\x80!", "symbols with a leading space", ' ', 0xF0, 0x9F, 0x98, 0x80, '!');
	EXPECT(blob, "\xc3\xa9" "1", "accented letter then digit", 0xC3, 0xA9, '1');
	EXPECT(blob, "x \xc2\x85y", "U+0085 is not JavaScript white space", 'x', 266, 0x85, 'y');
	EXPECT(blob, "x \xc2\xa0y", "U+00A0 is white space", 'x', ' ', 0xC2, 0xA0, 'y');
	EXPECT(blob, "<|endoftext|>", "special tokens are plain text",
		   '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', '>');
	EXPECT(blob, "\t", "a lone tab", '\t');
}

/* invalid UTF-8 is an error with the offset of the bad sequence */
static void
test_invalid(const void *blob)
{
	static const struct { const char *s; size_t off; } bad[] = {
		{"ab\xff" "c", 2}, {"\xc3", 0}, {"ok \xed\xa0\x80", 3}, {"\xc0\xaf", 0},
		{"\xe2\x82", 0}, {"\xf4\x90\x80\x80", 0},
	};
	int32_t *got;
	int n;
	size_t eo;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check(TfmBpeEncode(blob, bad[i].s, strlen(bad[i].s), &got, &n, &eo) == TFM_BPE_EUTF8 &&
			  eo == bad[i].off && got == NULL, "invalid UTF-8 offset");
	check(TfmBpeEncode(blob, "a\0b", 3, &got, &n, &eo) == 0 && n == 3, "NUL is a character");
	free(got);
}

/* decoding: special tokens, ids out of range */
static void
test_decode(const void *blob)
{
	int32_t eot = EOT_ID, badid[] = {5, NTOK}, neg = -1;
	char *s;
	size_t len;

	check(TfmBpeDecode(blob, &eot, 1, &s, &len) == 0 && len == 13 &&
		  memcmp(s, "<|endoftext|>", 13) == 0, "decode a special token");
	free(s);
	check(TfmBpeDecode(blob, badid, 2, &s, &len) == TFM_BPE_EINVAL && s == NULL, "decode id out of range");
	check(TfmBpeDecode(blob, &neg, 1, &s, &len) == TFM_BPE_EINVAL, "decode negative id");
	check(TfmBpeDecode(blob, NULL, 0, &s, &len) == 0 && len == 0 && s[0] == 0, "decode nothing");
	free(s);
}

/* build errors: duplicates, missing byte characters, merges making unknown tokens */
static void
test_build_errors(void)
{
	TfmBpeMerge m = {"a", 1, "b", 1}, *pm;
	size_t size;
	void *blob;
	int nm, line;
	const char *save = tokens['a'];

	size = TfmBpeBlobSize(NTOK, tokens, lens, ids, 1, &m);
	blob = aligned_alloc(8, (size + 7) / 8 * 8);
	check(TfmBpeBuild(blob, size, NTOK, tokens, lens, ids, 1, &m) == TFM_BPE_EINVAL,
		  "merge result not in the vocabulary");
	tokens['a'] = "b";
	check(TfmBpeBuild(blob, size, NTOK, tokens, lens, ids, 0, NULL) == TFM_BPE_EDUP, "duplicate token");
	tokens['a'] = "\xe2\x82\xac";
	lens['a'] = 3;
	size = TfmBpeBlobSize(NTOK, tokens, lens, ids, 0, NULL);
	free(blob);
	blob = aligned_alloc(8, (size + 7) / 8 * 8);
	check(TfmBpeBuild(blob, size, NTOK, tokens, lens, ids, 0, NULL) == TFM_BPE_EINVAL, "missing byte character");
	check(TfmBpeBuild(blob, size + 8, NTOK, tokens, lens, ids, 0, NULL) == TFM_BPE_EINVAL, "wrong size");
	tokens['a'] = save;
	lens['a'] = 1;
	ids[5] = 6;
	size = TfmBpeBlobSize(NTOK, tokens, lens, ids, 0, NULL);
	free(blob);
	blob = aligned_alloc(8, (size + 7) / 8 * 8);
	check(TfmBpeBuild(blob, size, NTOK, tokens, lens, ids, 0, NULL) == TFM_BPE_EDUP, "duplicate id");
	ids[5] = 5;
	ids[7] = -1;
	check(TfmBpeBlobSize(NTOK, tokens, lens, ids, 0, NULL) == 0, "negative id");
	ids[7] = 7;
	free(blob);
	check(TfmBpeParseMerges("#version: 0.2\na b\nc\n", 20, &pm, &nm, &line) == TFM_BPE_EINVAL &&
		  line == 3 && pm == NULL, "malformed merge line");
	check(TfmBpeParseMerges("a b c", 5, &pm, &nm, &line) == TFM_BPE_EINVAL, "three parts");
	check(TfmBpeParseMerges("a b\r\nc d", 8, &pm, &nm, &line) == 0 && nm == 2 &&
		  pm[1].alen == 1 && pm[1].blen == 1 && pm[0].blen == 1, "CRLF merges without header");
	free(pm);
}

/* corrupt blobs are rejected or, when the damage is harmless, still safe to use */
static void
test_corrupt(const void *blob, size_t size)
{
	unsigned char *copy = aligned_alloc(8, (size + 7) / 8 * 8);
	uint64_t seed = 42;
	int rejected = 0, safe = 1;

	check(TfmBpeCheck(blob, size - 8) == TFM_BPE_ECORRUPT, "truncated blob");
	check(TfmBpeCheck(blob, 16) == TFM_BPE_ECORRUPT, "tiny blob");
	for (int iter = 0; iter < 2000; iter++)
	{
		size_t pos;
		int32_t *got;
		int n;
		size_t eo;

		memcpy(copy, blob, size);
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		/* mostly the header, where the offsets live */
		pos = (size_t) (seed >> 33) % (iter % 2 ? size : 1200);
		copy[pos] ^= (unsigned char) (1u << ((seed >> 20) % 8));
		if (TfmBpeCheck(copy, size) != 0)
		{
			rejected++;
			continue;
		}
		if (TfmBpeEncode(copy, " the it's 12 aaaaa", 18, &got, &n, &eo) == 0)
		{
			char *s;
			size_t len;

			if (TfmBpeDecode(copy, got, n, &s, &len) == 0)
				free(s);
			free(got);
		}
		else
			safe = 0;
	}
	check(rejected > 0 && safe, "bit flips are rejected or harmless");
	free(copy);
}

/* TfmBpePieces: every id's string in the byte alphabet (the 256 byte characters from this file's own
 * table, so bpe.c's closed-form alphabet is checked too); an unknown id is refused */
static void
test_pieces(const void *blob)
{
	int32_t all[NTOK], bad[] = {0, NTOK + 5};
	TfmPieces p;
	int ok = 1;

	for (int i = 0; i < NTOK; i++)
		all[i] = i;
	check(TfmBpePieces(blob, all, NTOK, &p) == 0 && p.n == NTOK, "pieces of every id");
	for (int i = 0; i < NTOK && p.off; i++)
		ok &= p.off[i + 1] - p.off[i] == (size_t) lens[i] && memcmp(p.buf + p.off[i], tokens[i], (size_t) lens[i]) == 0;
	check(ok, "pieces spell the vocabulary in the byte alphabet");
	tfm_pieces_free(&p);
	check(TfmBpePieces(blob, bad, 2, &p) == TFM_BPE_EINVAL, "a piece of an unknown id is refused");
}

/* run everything */
int
main(void)
{
	size_t size = 0;
	void *blob = build_tiny(&size);

	if (blob != NULL)
	{
		test_encode(blob);
		test_invalid(blob);
		test_decode(blob);
		test_pieces(blob);
		test_corrupt(blob, size);
		free(blob);
	}
	test_build_errors();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
