/*
 * fuzz_merges.c - libFuzzer target: merges.txt parsing and BPE blob building (src/text/merges.c, bpe.c) on
 * arbitrary text, as tfm_import reads it from a model directory. The input is parsed as
 * merges.txt; the vocabulary is the 256 byte characters plus the concatenation of the two parts
 * of each of the first 512 rules. Checks: parsing returns 0 or TFM_BPE_EINVAL with a line number
 * inside the text; a blob that builds passes TfmBpeCheck, and it encodes the input and decodes it
 * back to the same bytes.
 */
#include "fuzz_vocab.h"
#include "text/bpe.h"

#define MAX_RULES 512

static char bytechars[256][4];
static int bytelens[256];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	for (int b = 0; b < 256; b++)
		bytelens[b] = fuzz_byte_char(b, bytechars[b]);
	return 0;
}

/* one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	TfmBpeMerge *m = NULL;
	int nm = -1, line = -1, rc, ntok = 256;
	const char *tok[256 + MAX_RULES];
	char *owned[MAX_RULES];
	int lens[256 + MAX_RULES], nowned = 0;
	int32_t ids[256 + MAX_RULES];
	size_t bsize;

	rc = TfmBpeParseMerges(text, size, &m, &nm, &line);
	if (rc == TFM_BPE_EINVAL)
	{
		if (line < 1 || (size_t) line > size + 1)
			fuzz_die("EINVAL with a line number outside the text");
		return 0;
	}
	if (rc != 0 || nm < 0)
		fuzz_die("TfmBpeParseMerges failed with neither 0 nor EINVAL");
	for (int b = 0; b < 256; b++)
		tok[b] = bytechars[b], lens[b] = bytelens[b], ids[b] = b;
	for (int r = 0; r < nm && r < MAX_RULES; r++)
	{
		int len = m[r].alen + m[r].blen, dup = 0;
		char *t = malloc((size_t) len + 1);

		memcpy(t, m[r].a, m[r].alen);
		memcpy(t + m[r].alen, m[r].b, m[r].blen);
		for (int i = 0; i < ntok && !dup; i++)
			dup = lens[i] == len && memcmp(tok[i], t, len) == 0;
		owned[nowned++] = t;
		if (dup)
			continue;
		tok[ntok] = t, lens[ntok] = len, ids[ntok] = ntok;
		ntok++;
	}
	if (nm > MAX_RULES)
		nm = MAX_RULES;
	bsize = TfmBpeBlobSize(ntok, tok, lens, ids, nm, m);
	if (bsize > 0)
	{
		void *blob = aligned_alloc(8, (bsize + 7) & ~(size_t) 7);

		if (TfmBpeBuild(blob, bsize, ntok, tok, lens, ids, nm, m) == 0)
		{
			int32_t *out = NULL;
			int n = 0;
			size_t eo;

			if (TfmBpeCheck(blob, bsize) != 0)
				fuzz_die("a blob TfmBpeBuild made fails TfmBpeCheck");
			if (TfmBpeEncode(blob, text, size, &out, &n, &eo) == 0)
			{
				char *dec;
				size_t dl;

				if (TfmBpeDecode(blob, out, n, &dec, &dl) != 0 || dl != size || memcmp(dec, text, size) != 0)
					fuzz_die("decode(encode(text)) differs from text");
				free(dec);
			}
			free(out);
		}
		free(blob);
	}
	for (int i = 0; i < nowned; i++)
		free(owned[i]);
	free(m);
	return 0;
}
