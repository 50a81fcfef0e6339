/*
 * fuzz_bpe.c - libFuzzer target: GPT-2 byte-level BPE (src/text/bpe.c) on arbitrary bytes.
 * First byte & 3: 0-2 encode the rest as text, 3 decode the rest as little-endian int32 ids.
 * Checks: encoding returns 0 or TFM_BPE_EUTF8 (no ids, offset inside the text); ids lie in the
 * vocabulary; decoding the ids gives back exactly the input bytes (byte-level BPE is lossless);
 * decoding arbitrary ids returns 0 or TFM_BPE_EINVAL and a NUL-terminated text.
 * Vocabulary: vocab.json and merges.txt of FUZZ_GPT2_DIR (the tiny GPT-2 of the golden data has
 * GPT-2's 50,257-token vocabulary), else the 256 byte characters and no merges.
 */
#include "fuzz_vocab.h"
#include "text/bpe.h"

static void *blob;
static FuzzVocab v;				/* kept reachable: not a leak */
static char *merges_txt;
static TfmBpeMerge *merges;

/* load vocab.json and merges.txt, or make the 256 byte tokens */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_GPT2_DIR");
	char path[4096];
	size_t len = 0, size;
	char *json = NULL;
	int nm = 0, line;

	(void) argc;
	(void) argv;
	if (dir)
	{
		snprintf(path, sizeof(path), "%s/vocab.json", dir);
		json = fuzz_read_file(path, &len);
		snprintf(path, sizeof(path), "%s/merges.txt", dir);
		merges_txt = fuzz_read_file(path, &len);
		if (json == NULL || merges_txt == NULL)
			fuzz_die("FUZZ_GPT2_DIR lacks vocab.json or merges.txt");
		fuzz_json_vocab(json, &v);
		free(json);
		if (TfmBpeParseMerges(merges_txt, len, &merges, &nm, &line) != 0)
			fuzz_die("cannot parse merges.txt");
		fprintf(stderr, "fuzz_bpe: %d tokens, %d merges from %s\n", v.n, nm, dir);
	}
	else
	{
		v.n = 256;
		v.tok = malloc(sizeof(char *) * 256);
		v.len = malloc(sizeof(int) * 256);
		v.id = malloc(sizeof(int32_t) * 256);
		for (int b = 0; b < 256; b++)
		{
			v.tok[b] = calloc(1, 4);
			v.len[b] = fuzz_byte_char(b, v.tok[b]);
			v.id[b] = b;
		}
	}
	size = TfmBpeBlobSize(v.n, (const char *const *) v.tok, v.len, v.id, nm, merges);
	blob = aligned_alloc(8, (size + 7) & ~(size_t) 7);
	if (size == 0 || TfmBpeBuild(blob, size, v.n, (const char *const *) v.tok, v.len, v.id, nm, merges) != 0 ||
		TfmBpeCheck(blob, size) != 0)
		fuzz_die("cannot build the BPE blob");
	return 0;
}

/* encode text and decode it back */
static void
round_trip(const char *text, size_t len)
{
	int32_t *ids = (int32_t *) &len;
	int n = -1, nvocab = TfmBpeSizeOf(blob);
	size_t eo = (size_t) -1, dl;
	char *dec;
	int rc = TfmBpeEncode(blob, text, len, &ids, &n, &eo);

	if (rc == TFM_BPE_EUTF8)
	{
		if (n != 0 || eo >= len)
			fuzz_die("EUTF8 with ids or an offset outside the text");
		return;
	}
	if (rc != 0)
		fuzz_die("TfmBpeEncode failed with neither 0 nor EUTF8");
	if ((n == 0) != (len == 0) || (size_t) n > len)
		fuzz_die("no ids for a text, or more ids than bytes");
	fuzz_check_ids(ids, n, nvocab);
	if (TfmBpeDecode(blob, ids, n, &dec, &dl) != 0)
		fuzz_die("cannot decode the ids of an encoding");
	if (dl != len || memcmp(dec, text, len) != 0 || dec[dl] != '\0')
		fuzz_die("decode(encode(text)) differs from text");
	free(dec);
	free(ids);
}

/* decode arbitrary ids */
static void
decode_ids(const uint8_t *data, size_t size)
{
	int n = (int) (size / 4);
	int32_t *ids = malloc(sizeof(int32_t) * (n ? n : 1));
	char *dec = NULL;
	size_t dl = 0;
	int rc;

	memcpy(ids, data, (size_t) n * 4);
	rc = TfmBpeDecode(blob, ids, n, &dec, &dl);
	if (rc == 0)
	{
		if (dec == NULL || dec[dl] != '\0')
			fuzz_die("decoded text is not NUL-terminated");
		free(dec);
	}
	else if (rc != TFM_BPE_EINVAL)
		fuzz_die("TfmBpeDecode failed with neither 0 nor EINVAL");
	free(ids);
}

/* one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if ((data[0] & 3) == 3)
		decode_ids(data + 1, size - 1);
	else
		round_trip((const char *) data + 1, size - 1);
	return 0;
}
