/*
 * fuzz_blob.c - libFuzzer target: the checks of vocabulary blobs read back from a cache file
 * (TfmVocabCheck of src/text/wpvocab.c, TfmBpeCheck of src/text/bpe.c). A valid blob of a small
 * vocabulary is damaged as the input says, then checked; a blob the check accepts must be safe to
 * use, so texts are tokenized with it and every id is decoded (ASan reports any access outside).
 * Input: byte 0 picks the blob (even: WordPiece, odd: BPE) and, with bit 1, cuts the blob short
 * by byte 1 * 8 bytes; then 3-byte patches: a little-endian 16-bit offset (modulo the size) and
 * a byte XORed in there.
 */
#include "fuzz_vocab.h"
#include "text/bpe.h"
#include "text/wordpiece.h"

static void *wp, *bpe;
static size_t wp_size, bpe_size;
static char bytechars[256][4];

/* the two valid blobs */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const tok[] = {
		"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "un", "##aff", "##able",
		"play", "##ing", "cafe", ".", ",", "!", "\xe4\xbd\xa0", "\xcf\x83", "##a", "caf\xc3\xa9",
	};
	static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
	static const int speclens[] = {5, 5, 5, 5, 6};
	static const int32_t spec_ids[] = {0, 1, 2, 3, 4};
	static const char merges_txt[] = "#version: 0.2\n\xc4\xa0 t\nh e\n\xc4\xa0t he\na a\naa aa\n";
	static const char *const extra[] = {"\xc4\xa0t", "he", "\xc4\xa0the", "aa", "aaaa"};
	const int ntok = (int) (sizeof(tok) / sizeof(tok[0]));
	int lens[20], nm, line;
	int32_t ids[20], bids[261];
	const char *btok[261];
	int blens[261];
	TfmBpeMerge *m;
	TfmTokConfig cfg = {1, 1, 1, 1, 100, 1, 2, 3, 0, "##"};

	(void) argc;
	(void) argv;
	for (int i = 0; i < ntok; i++)
		lens[i] = (int) strlen(tok[i]), ids[i] = i;
	wp_size = TfmVocabBlobSize(ntok, tok, lens, 5, special, speclens);
	wp = aligned_alloc(8, (wp_size + 7) & ~(size_t) 7);
	if (TfmVocabBuild(wp, &cfg, ntok, tok, lens, ids, 5, special, speclens, spec_ids) != 0 ||
		TfmVocabCheck(wp, wp_size) != 0)
		fuzz_die("cannot build the WordPiece blob");
	for (int b = 0; b < 256; b++)
	{
		blens[b] = fuzz_byte_char(b, bytechars[b]);
		btok[b] = bytechars[b];
		bids[b] = b;
	}
	for (int i = 0; i < 5; i++)
		btok[256 + i] = extra[i], blens[256 + i] = (int) strlen(extra[i]), bids[256 + i] = 256 + i;
	if (TfmBpeParseMerges(merges_txt, sizeof(merges_txt) - 1, &m, &nm, &line) != 0)
		fuzz_die("cannot parse the merges");
	bpe_size = TfmBpeBlobSize(261, btok, blens, bids, nm, m);
	bpe = aligned_alloc(8, (bpe_size + 7) & ~(size_t) 7);
	if (TfmBpeBuild(bpe, bpe_size, 261, btok, blens, bids, nm, m) != 0 || TfmBpeCheck(bpe, bpe_size) != 0)
		fuzz_die("cannot build the BPE blob");
	free(m);
	fprintf(stderr, "fuzz_blob: WordPiece blob %zu bytes, BPE blob %zu bytes\n", wp_size, bpe_size);
	return 0;
}

static const char *const texts[] = {
	"", "a", "Unaffable playing, caf\xc3\xa9!", "[CLS] a [MASK] b [SEP]", "\xe4\xbd\xa0\xcf\x83 the aaaa",
	" the theaaa\n\n  x", "\xf0\x9f\x98\x80 \xce\xa3\xce\x91 \x01\x7f",
};

/* use a blob the check accepted */
static void
use(int is_bpe, const void *blob, size_t size)
{
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
	{
		int32_t *ids = NULL;
		int n = 0, rc;
		size_t eo;

		if (is_bpe)
			rc = TfmBpeEncode(blob, texts[i], strlen(texts[i]), &ids, &n, &eo);
		else
			rc = TfmTokenize(blob, texts[i], strlen(texts[i]), &ids, &n, &eo);
		if (rc == 0 && is_bpe && n > 0)
		{
			char *dec = NULL;
			size_t dl;

			if (TfmBpeDecode(blob, ids, n, &dec, &dl) == 0)
				free(dec);
		}
		free(ids);
	}
	if (is_bpe)
	{
		int nids = TfmBpeSizeOf(blob);

		for (int32_t id = 0; id < nids && id < 4096; id++)
		{
			char *dec = NULL;
			size_t dl;

			if (TfmBpeDecode(blob, &id, 1, &dec, &dl) == 0)
				free(dec);
		}
	}
	else
	{
		(void) TfmVocabSizeOf(blob);
		(void) TfmVocabLookup(blob, "play", 4);
		(void) TfmVocabLookup(blob, "##ing", 5);
	}
	(void) size;
}

/* one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int is_bpe;
	size_t n, i = 1;
	void *copy;

	if (size < 2)
		return 0;
	is_bpe = data[0] & 1;
	n = is_bpe ? bpe_size : wp_size;
	if (data[0] & 2)
	{
		size_t cut = (size_t) data[1] * 8;

		n = cut < n ? n - cut : 0;
		i = 2;
	}
	/* an exact-size heap copy, so that ASan sees reads past its end */
	copy = aligned_alloc(8, n ? (n + 7) & ~(size_t) 7 : 8);
	memcpy(copy, is_bpe ? bpe : wp, n);
	for (; i + 3 <= size && n > 0; i += 3)
		((uint8_t *) copy)[(data[i] | (size_t) data[i + 1] << 8) % n] ^= data[i + 2];
	if (is_bpe ? TfmBpeCheck(copy, n) == 0 : TfmVocabCheck(copy, n) == 0)
		use(is_bpe, copy, n);
	free(copy);
	return 0;
}
