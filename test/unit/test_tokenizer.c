/*
 * test_tokenizer.c - unit tests of the WordPiece tokenizer (src/text/wordpiece.c, wpvocab.c, bertnorm.c) on a tiny hand-made vocabulary.
 *
 * make unit (links the pure-C tokenizer files of src/text, TEXT_CORE in the Makefile)
 * Prints one line per failure and a final "N passed, N failed"; exits 1 on failure.
 */
#include "text/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int npass, nfail;

/* the tiny vocabulary: token i has id i */
static const char *const vocab[] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",           /* 0-4 */
	"a", "b", "un", "##aff", "##able",                      /* 5-9 */
	"play", "##ing", "cafe", ".", ",",                      /* 10-14 */
	"!", "\xe4\xbd\xa0", "\xe5\xa5\xbd", "\xcf\x83", "\xcf\x82",  /* 15-19: 你 好 σ ς */
	"##a", "##\xcf\x82", "\xce\xb1", "i", "##b",            /* 20-24: ##a ##ς α i ##b */
	"caf\xc3\xa9", "[", "]", "\xe1\x84\x92", "##\xe1\x85\xa1",  /* 25-29: café [ ] ᄒ ##ᅡ */
	"##\xe1\x86\xab", "##\xcf\x83",                        /* 30-31: ##ᆫ ##σ */
};
#define NVOCAB ((int) (sizeof(vocab) / sizeof(vocab[0])))

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

/* the BERT-uncased configuration of all-MiniLM-L6-v2 for the tiny vocabulary */
static TfmTokConfig
config_uncased(void)
{
	TfmTokConfig cfg = {1, 1, 1, 1, 100, 1, 2, 3, 0, "##"};

	return cfg;
}

/* byte lengths of the vocabulary and of the special tokens */
static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
static const int speclens[] = {5, 5, 5, 5, 6};
static const int32_t spec_ids[] = {0, 1, 2, 3, 4};

/* fill lens[] and ids[] for the tiny vocabulary */
static void
vocab_arrays(int *lens, int32_t *ids)
{
	for (int i = 0; i < NVOCAB; i++)
	{
		lens[i] = (int) strlen(vocab[i]);
		ids[i] = i;
	}
}

/* bytes of the blob of the tiny vocabulary */
static size_t
blob_size(void)
{
	int lens[NVOCAB];
	int32_t ids[NVOCAB];

	vocab_arrays(lens, ids);
	return TfmVocabBlobSize(NVOCAB, vocab, lens, 5, special, speclens);
}

/* build a vocab blob with the given config; NULL on failure */
static TfmVocab *
build(const TfmTokConfig *cfg, int *rc_out)
{
	int lens[NVOCAB];
	int32_t ids[NVOCAB];
	size_t size = blob_size();
	void *blob = aligned_alloc(8, (size + 7) & ~(size_t) 7);

	vocab_arrays(lens, ids);
	*rc_out = TfmVocabBuild(blob, cfg, NVOCAB, vocab, lens, ids, 5, special, speclens, spec_ids);
	if (*rc_out != 0 || TfmVocabCheck(blob, size) != 0)
	{
		free(blob);
		return NULL;
	}
	return blob;
}

/* tokenize text (len bytes) and compare with the n expected ids */
static void
expect_ids(const TfmVocab *v, const char *text, size_t len, const int32_t *want, int n,
		   const char *what)
{
	int32_t *got = NULL;
	int ngot = -1, ok;
	size_t eo = 0;
	int rc = TfmTokenize(v, text, len, &got, &ngot, &eo);

	ok = rc == 0 && ngot == n && memcmp(got, want, (size_t) n * sizeof(int32_t)) == 0;
	if (!ok)
	{
		printf("  %s: rc=%d got", what, rc);
		for (int i = 0; i < ngot && i < 20; i++)
			printf(" %d", got[i]);
		printf(" want");
		for (int i = 0; i < n; i++)
			printf(" %d", want[i]);
		printf("\n");
	}
	check(ok, what);
	free(got);
}

#define EXPECT(v, text, ...) do { \
		const int32_t want_[] = {__VA_ARGS__}; \
		expect_ids(v, text, sizeof(text) - 1, want_, (int) (sizeof(want_) / sizeof(int32_t)), text); \
	} while (0)

/* expect TFM_TOK_EUTF8 at byte offset off */
static void
expect_bad_utf8(const TfmVocab *v, const char *text, size_t len, size_t off, const char *what)
{
	int32_t *got = (int32_t *) &npass;     /* must be reset to NULL */
	int n = -1;
	size_t eo = (size_t) -1;
	int rc = TfmTokenize(v, text, len, &got, &n, &eo);

	check(rc == TFM_TOK_EUTF8 && eo == off && got == NULL && n == 0, what);
}

/* normaliser: case, accents, controls, white space, CJK, Final_Sigma */
static void
test_normalizer(const TfmVocab *v)
{
	EXPECT(v, "", 2, 3);
	EXPECT(v, " \t\r\n  ", 2, 3);
	EXPECT(v, "A b", 2, 5, 6, 3);
	EXPECT(v, "Caf\xc3\xa9", 2, 12, 3);                     /* Café -> cafe */
	EXPECT(v, "CAFE\xcc\x81", 2, 12, 3);                    /* combining acute dropped */
	EXPECT(v, "a\xe2\x80\x8b" "b", 2, 5, 24, 3);            /* zero-width space removed */
	EXPECT(v, "a\xc2\xad" "b", 2, 5, 24, 3);                /* soft hyphen (Cf) removed */
	EXPECT(v, "a\x01" "b\x7f", 2, 5, 24, 3);                /* control chars removed */
	EXPECT(v, "\x0e\x01\x7f", 2, 3);                        /* nothing left after cleaning (fuzz) */
	EXPECT(v, "a\xc2\xa0" "b\xe3\x80\x80" "a", 2, 5, 6, 5, 3);  /* NBSP, ideographic space */
	EXPECT(v, "a\vb\fa", 2, 5, 24, 20, 3);                  /* \v \f are controls: removed */
	EXPECT(v, "\xe4\xbd\xa0\xe5\xa5\xbd", 2, 16, 17, 3);   /* 你好 split per ideograph */
	EXPECT(v, "a\xe4\xbd\xa0" "b", 2, 5, 16, 6, 3);
	EXPECT(v, "a\xf0\xa0\x80\x80", 2, 1, 3);                /* astral CJK not split (JS quirk) */
	EXPECT(v, "\xce\x91\xce\xa3", 2, 22, 31, 3);            /* ΑΣ -> ασ: Rust's context-free lowercase, no final sigma */
	EXPECT(v, "\xce\xa3", 2, 18, 3);                        /* lone Σ -> σ */
	EXPECT(v, "\xc4\xb0", 2, 23, 3);                        /* İ -> i + U+0307 -> i */
	EXPECT(v, "\xed\x95\x9c", 2, 28, 29, 30, 3);            /* 한 -> jamo via NFD */
}

/* pre-tokenizer and WordPiece */
static void
test_wordpiece(const TfmVocab *v)
{
	char buf[128];

	EXPECT(v, "unaffable", 2, 7, 8, 9, 3);
	EXPECT(v, "Playing!", 2, 10, 11, 15, 3);
	EXPECT(v, "a,b.", 2, 5, 14, 6, 13, 3);
	EXPECT(v, "aaa", 2, 5, 20, 20, 3);
	EXPECT(v, "unx", 2, 1, 3);                              /* any miss: whole word [UNK] */
	EXPECT(v, "b unx a", 2, 6, 1, 5, 3);
	EXPECT(v, "x", 2, 1, 3);
	memset(buf, 'a', 101);
	{
		int32_t want[103];

		want[0] = 2;
		want[1] = 5;
		for (int i = 2; i <= 100; i++)
			want[i] = 20;
		want[101] = 3;
		expect_ids(v, buf, 100, want, 102, "100 chars: pieces");
		want[1] = 1;
		want[2] = 3;
		expect_ids(v, buf, 101, want, 3, "101 chars: [UNK]");
	}
}

/* special tokens are split out of the raw text before normalisation */
static void
test_special(const TfmVocab *v)
{
	EXPECT(v, "a[SEP]b", 2, 5, 3, 6, 3);
	EXPECT(v, "[CLS][MASK]", 2, 2, 4, 3);
	EXPECT(v, "[cls]", 2, 26, 1, 27, 3);                    /* not special once lowered */
	EXPECT(v, "[SEP", 2, 26, 1, 3);
	EXPECT(v, "\xce\x91[PAD]\xce\xa3", 2, 22, 0, 18, 3);    /* sections normalised apart */
}

/* invalid UTF-8 is an error with the offset of the bad byte */
static void
test_bad_utf8(const TfmVocab *v)
{
	expect_bad_utf8(v, "ab\xc3(", 4, 2, "bad continuation");
	expect_bad_utf8(v, "\xed\xa0\x80", 3, 0, "surrogate");
	expect_bad_utf8(v, "a\xe4\xbd", 3, 1, "truncated");
	expect_bad_utf8(v, "ab \xc0\x80", 5, 3, "overlong");
	expect_bad_utf8(v, "\xf4\x90\x80\x80", 4, 0, "above U+10FFFF");
	expect_bad_utf8(v, "abc\xff", 4, 3, "0xFF byte");
}

/* vocab blob: lookup, size, position independence, corruption, build errors */
static void
test_blob(const TfmVocab *v)
{
	const TfmTokConfig cfg = config_uncased();
	const char *dup[] = {"a", "b", "a"};
	int duplens[] = {1, 1, 1}, rc;
	int32_t dupids[] = {0, 1, 2};
	size_t size = blob_size();
	void *copy;
	unsigned char *bytes;

	check(TfmVocabLookup(v, "##able", 6) == 9, "lookup ##able");
	check(TfmVocabLookup(v, "##abl", 5) == -1, "lookup missing");
	check(TfmVocabSizeOf(v) == NVOCAB, "size of");
	copy = aligned_alloc(8, (size + 7) & ~(size_t) 7);
	memcpy(copy, v, size);
	EXPECT((const TfmVocab *) copy, "unaffable", 2, 7, 8, 9, 3);
	check(TfmVocabCheck(copy, size) == 0, "check ok");
	check(TfmVocabCheck(copy, size - 8) != 0, "check truncated");
	bytes = copy;
	for (size_t i = 0; i < 64; i++)
	{
		bytes[i] ^= 0x5A;
		if (i < 16)                         /* magic, version, total_size */
			check(TfmVocabCheck(copy, size) != 0, "check corrupt header");
		bytes[i] ^= 0x5A;
	}
	memset(bytes + size - 64, 0xFF, 64);     /* garbage entries/strings must not crash Check */
	(void) TfmVocabCheck(copy, size);
	free(copy);
	size = TfmVocabBlobSize(3, dup, duplens, 0, NULL, NULL);
	copy = aligned_alloc(8, (size + 7) & ~(size_t) 7);
	rc = TfmVocabBuild(copy, &cfg, 3, dup, duplens, dupids, 0, NULL, NULL, NULL);
	check(rc == TFM_TOK_EDUP, "duplicate token");
	dupids[2] = -5;
	dup[2] = "c";
	rc = TfmVocabBuild(copy, &cfg, 3, dup, duplens, dupids, 0, NULL, NULL, NULL);
	check(rc == TFM_TOK_EINVAL, "negative id");
	free(copy);
}

/* a cased configuration: no lowercasing, no accent stripping */
static void
test_cased(void)
{
	TfmTokConfig cfg = config_uncased();
	TfmVocab *v;
	int rc;

	cfg.lowercase = 0;
	cfg.strip_accents = 0;
	v = build(&cfg, &rc);
	check(v != NULL, "build cased");
	if (v == NULL)
		return;
	EXPECT(v, "A a", 2, 1, 5, 3);
	EXPECT(v, "caf\xc3\xa9", 2, 25, 3);
	EXPECT(v, "Caf\xc3\xa9", 2, 1, 3);
	free(v);
}

/* a long text keeps working and gives one id per word */
static void
test_long(const TfmVocab *v)
{
	size_t n = 4 << 20;
	char *text = malloc(n);
	int32_t *ids = NULL;
	int nids = 0, ok;
	size_t eo;

	for (size_t i = 0; i < n; i += 2)
	{
		text[i] = 'a';
		text[i + 1] = ' ';
	}
	ok = TfmTokenize(v, text, n, &ids, &nids, &eo) == 0 && nids == (int) (n / 2 + 2) &&
		ids[1] == 5 && ids[nids - 2] == 5 && ids[nids - 1] == 3;
	check(ok, "4 MB text");
	free(ids);
	free(text);
}

/* TfmVocabPieces: the vocabulary's strings of ids, special tokens included; an unknown id is refused */
static void
test_pieces(const TfmVocab *v)
{
	const int32_t ids[] = {2, 5, 8, 9, 3, 4, 31};
	const char *const want[] = {"[CLS]", "a", "##aff", "##able", "[SEP]", "[MASK]", "##\xcf\x83"};
	const int32_t bad[] = {2, 9999};
	TfmPieces p;
	int ok = 1;

	check(TfmVocabPieces(v, ids, 7, &p) == 0 && p.n == 7, "pieces of 7 ids");
	for (int i = 0; i < 7 && p.off; i++)
		ok &= p.off[i + 1] - p.off[i] == strlen(want[i]) && memcmp(p.buf + p.off[i], want[i], strlen(want[i])) == 0;
	check(ok, "pieces spell the vocabulary");
	tfm_pieces_free(&p);
	check(TfmVocabPieces(v, bad, 2, &p) == TFM_TOK_EINVAL, "a piece of an unknown id is refused");
	check(TfmVocabPieces(v, ids, 0, &p) == 0 && p.n == 0, "no ids, no pieces");
	tfm_pieces_free(&p);
}

/* run all tests */
/* [MASK] with single_word (and lstrip / rstrip): matched only between non-word characters, as Hugging Face's
 * Rust tokenizers 0.23.2 do on distilbert's tokenizer.json (a[MASK]b, é[MASK], _[MASK], 1[MASK] and a + U+0301
 * keep it as text; -[MASK]- and a [MASK] b split it out) */
static void
test_special_flags(void)
{
	TfmTokConfig cfg = config_uncased();
	int lens[NVOCAB];
	int32_t ids[NVOCAB];
	const uint32_t flags[] = {0, 0, 0, 0, TFM_SPECIAL_SINGLE_WORD | TFM_SPECIAL_LSTRIP | TFM_SPECIAL_RSTRIP};
	size_t size = blob_size();
	void *blob = aligned_alloc(8, (size + 7) & ~(size_t) 7);
	const uint32_t bad[] = {0, 0, 0, 0, 8};

	vocab_arrays(lens, ids);
	check(TfmVocabBuildEx(blob, &cfg, NVOCAB, vocab, lens, ids, 5, special, speclens, spec_ids, bad) == TFM_TOK_EINVAL,
		  "flags out of range refused");
	check(TfmVocabBuildEx(blob, &cfg, NVOCAB, vocab, lens, ids, 5, special, speclens, spec_ids, flags) == 0 &&
		  TfmVocabCheck(blob, size) == 0, "build with flags");
	EXPECT(blob, "a [MASK] b", 2, 5, 4, 6, 3);
	EXPECT(blob, ",[MASK],", 2, 14, 4, 14, 3);
	EXPECT(blob, "a[MASK]", 2, 5, 26, 1, 27, 3);        /* [ UNK ]: "mask" is not in the tiny vocabulary */
	EXPECT(blob, "_[MASK]", 2, 1, 26, 1, 27, 3);
	EXPECT(blob, "[MASK]a", 2, 26, 1, 27, 5, 3);
	EXPECT(blob, "a\xcc\x81[MASK]", 2, 5, 26, 1, 27, 3); /* a + U+0301: the mark is a word character */
	EXPECT(blob, "[MASK]", 2, 4, 3);
	free(blob);
}

int
main(void)
{
	TfmTokConfig cfg = config_uncased();
	int rc;
	TfmVocab *v = build(&cfg, &rc);

	check(v != NULL && rc == 0, "build");
	if (v != NULL)
	{
		test_normalizer(v);
		test_wordpiece(v);
		test_special(v);
		test_bad_utf8(v);
		test_blob(v);
		test_long(v);
		test_pieces(v);
		free(v);
	}
	test_cased();
	test_special_flags();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail != 0;
}
