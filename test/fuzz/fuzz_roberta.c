/*
 * fuzz_roberta.c - libFuzzer target: RoBERTa's tokenizer (src/text/roberta.c on src/text/bpe.c).
 * Vocabulary: vocab.json and merges.txt of FUZZ_ROBERTA_DIR (tiny-random-roberta of the golden
 * data: 1,000 tokens, 63 byte characters missing, so bytes are dropped), added tokens <s>, <pad>,
 * </s>, <unk>, <mask> (lstrip), built twice: without and with add_prefix_space.
 * First byte & 3: 0-1 encode the rest with either blob; checks: 0 or TFM_BPE_EUTF8 (no ids, offset
 * inside the text), <s> first and </s> last, every id in the vocabulary.  2: the rest as a blob
 * (8-byte aligned copy): TfmRobertaCheck must not crash, and a blob it accepts must encode safely.
 * 3: the real blob with the rest as (offset, byte) patches: the same.
 */
#include "fuzz_vocab.h"
#include "text/bpe.h"
#include "text/roberta.h"

static void *blob[2];
static size_t blob_size[2];
static FuzzVocab v;				/* kept reachable: not a leak */
static char *merges_txt;
static TfmBpeMerge *merges;

/* load the vocabulary and build both blobs */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_ROBERTA_DIR");
	static const TfmAddedToken added[] = {{"<s>", 3, 0, 0, 0, 0}, {"<pad>", 5, 1, 0, 0, 0}, {"</s>", 4, 2, 0, 0, 0},
		{"<unk>", 5, 3, 0, 0, 0}, {"<mask>", 6, 4, 1, 0, 0}};
	char path[4096];
	size_t len = 0, bsize;
	char *json;
	void *bpe;
	int nm = 0, line;

	(void) argc;
	(void) argv;
	if (dir == NULL)
		fuzz_die("FUZZ_ROBERTA_DIR is not set");
	snprintf(path, sizeof(path), "%s/vocab.json", dir);
	json = fuzz_read_file(path, &len);
	snprintf(path, sizeof(path), "%s/merges.txt", dir);
	merges_txt = fuzz_read_file(path, &len);
	if (json == NULL || merges_txt == NULL)
		fuzz_die("FUZZ_ROBERTA_DIR lacks vocab.json or merges.txt");
	fuzz_json_vocab(json, &v);
	free(json);
	if (TfmBpeParseMerges(merges_txt, len, &merges, &nm, &line) != 0)
		fuzz_die("cannot parse merges.txt");
	bsize = TfmBpeBlobSize(v.n, (const char *const *) v.tok, v.len, v.id, nm, merges);
	bpe = aligned_alloc(8, (bsize + 7) & ~(size_t) 7);
	if (bsize == 0 || TfmBpeBuildEx(bpe, bsize, v.n, (const char *const *) v.tok, v.len, v.id, nm, merges, 1) != 0)
		fuzz_die("cannot build the BPE blob");
	for (int k = 0; k < 2; k++)
	{
		blob_size[k] = TfmRobertaBlobSize(5, added, bsize);
		blob[k] = aligned_alloc(8, (blob_size[k] + 7) & ~(size_t) 7);
		if (blob_size[k] == 0 || TfmRobertaBuild(blob[k], blob_size[k], 0, 2, k, 5, added, bpe, bsize) != 0 ||
			TfmRobertaCheck(blob[k], blob_size[k], 1000) != 0)
			fuzz_die("cannot build the RoBERTa blob");
	}
	free(bpe);
	return 0;
}

/* encode text with b, checking the result */
static void
encode(const void *b, const char *text, size_t len, int strict)
{
	int32_t *ids = NULL;
	int n = -1;
	size_t eo = (size_t) -1;
	int rc = TfmRobertaEncode(b, text, len, &ids, &n, &eo);

	if (rc == TFM_BPE_EUTF8)
	{
		if (n != 0 || ids != NULL || eo >= len)
			fuzz_die("EUTF8 with ids or an offset outside the text");
		return;
	}
	if (rc != 0)
		fuzz_die("TfmRobertaEncode failed with neither 0 nor EUTF8");
	if (strict && (n < 2 || ids[0] != 0 || ids[n - 1] != 2))
		fuzz_die("no <s> ... </s> around the ids");
	fuzz_check_ids(ids, n, 1000);
	/* the token strings of those ids: one per id (a hostile blob's <s> / </s> may have none: EINVAL) */
	{
		TfmPieces p;

		rc = TfmRobertaPieces(b, text, len, ids, n, &p);
		if (rc == 0 && (p.n != n || p.off[0] != 0 || p.off[n] != p.len))
			fuzz_die("TfmRobertaPieces gave another number of pieces than ids");
		if (rc != 0 && (strict || rc != TFM_BPE_EINVAL))
			fuzz_die("TfmRobertaPieces failed");
		if (rc == 0)
			tfm_pieces_free(&p);
	}
	free(ids);
}

/* check a hostile blob; encode with it when accepted */
static void
hostile(void *b, size_t size)
{
	static const char text[] = "Hello <mask> world, \xc3\xa9t\xc3\xa9 <s></s><pad>  ok";

	if (TfmRobertaCheck(b, size, 1000) == 0)
		encode(b, text, sizeof(text) - 1, 0);
}

/* one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int mode;

	if (size < 1)
		return 0;
	mode = data[0] & 3;
	data++, size--;
	if (mode < 2)
		encode(blob[mode], (const char *) data, size, 1);
	else if (mode == 2)
	{
		void *b = aligned_alloc(8, (size + 8) & ~(size_t) 7);

		memcpy(b, data, size);
		hostile(b, size);
		free(b);
	}
	else
	{
		void *b = aligned_alloc(8, (blob_size[0] + 7) & ~(size_t) 7);

		memcpy(b, blob[0], blob_size[0]);
		for (size_t i = 0; i + 4 <= size; i += 4)
			((uint8_t *) b)[(data[i] | data[i + 1] << 8 | (size_t) data[i + 2] << 16) % blob_size[0]] = data[i + 3];
		hostile(b, blob_size[0]);
		free(b);
	}
	return 0;
}
