/*
 * fuzz_unigram.c - libFuzzer target: the Unigram tokenizer and the Precompiled charsmap (src/text).
 * Vocabulary and charsmap: t5-small's tokenizer.json of the golden data (FUZZ_UNIGRAM_JSON: its
 * "vocab" array of [piece, score] and its base64 "precompiled_charsmap"), built twice: as the file
 * says (charsmap, WhitespaceSplit + Metaspace, $A </s>, <pad> </s> <unk> added) and a variant
 * (charsmap + Replace "  " + Strip + NFKC, Metaspace "first" without split, byte_fallback, an
 * lstrip / rstrip added token matched in normalized text).
 * First byte & 3: 0-1 encode the rest with either blob; checks: 0 or TFM_UNI_EUTF8 (offset inside
 * the text, no ids), </s> last, every id in the vocabulary.  2: the rest as a blob (8-byte aligned
 * copy): TfmUniCheck must not crash, and a blob it accepts must encode safely.  3: the rest as a
 * charsmap: TfmCharsmapCheck must not crash, and one it accepts must normalize its own bytes safely.
 */
#include "fuzz_vocab.h"
#include "text/unigram.h"

static void *blob[2];
static size_t blob_size[2];
static int n_pieces;

/* the value of a base64 character, -1 for others */
static int
b64(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* decode the base64 string at p (up to its closing quote) into a malloc'd buffer */
static unsigned char *
b64_decode(const char *p, size_t *len)
{
	size_t n = strcspn(p, "\"");
	unsigned char *out = malloc(n);
	uint32_t acc = 0;
	int bits = 0;

	*len = 0;
	for (size_t i = 0; i < n; i++)
	{
		int v = b64(p[i]);

		if (v < 0)
			continue;
		acc = acc << 6 | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[(*len)++] = (unsigned char) (acc >> bits);
		}
	}
	return out;
}

/* read the "vocab": [[piece, score], ...] array after the "model" key */
static void
read_vocab(const char *json, char ***piece, int **len, double **score)
{
	const char *p = strstr(json, "\"model\"");
	int cap = 1024, n = 0;

	if (p == NULL || (p = strstr(p, "\"vocab\"")) == NULL || (p = strchr(p, '[')) == NULL)
		fuzz_die("no model vocab array");
	p++;
	*piece = malloc(sizeof(char *) * cap);
	*len = malloc(sizeof(int) * cap);
	*score = malloc(sizeof(double) * cap);
	for (;;)
	{
		while (*p == ' ' || *p == '\n' || *p == ',')
			p++;
		if (*p == ']')
			break;
		if (*p != '[' || p[1] != '"')
			fuzz_die("expected [\"piece\", score]");
		p += 2;
		if (n == cap)
		{
			cap *= 2;
			*piece = realloc(*piece, sizeof(char *) * cap);
			*len = realloc(*len, sizeof(int) * cap);
			*score = realloc(*score, sizeof(double) * cap);
		}
		(*piece)[n] = fuzz_json_string(&p, &(*len)[n]);
		while (*p == ' ' || *p == ',')
			p++;
		(*score)[n] = strtod(p, (char **) &p);
		while (*p == ' ')
			p++;
		if (*p++ != ']')
			fuzz_die("expected ]");
		n++;
	}
	n_pieces = n;
}

/* load the file and build both blobs */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("FUZZ_UNIGRAM_JSON"), *why = NULL, *cm;
	static TfmAddedToken added[2][4] = {
		{{"<pad>", 5, 0, 0, 0, 0}, {"</s>", 4, 0, 0, 0, 0}, {"<unk>", 5, 0, 0, 0, 0}},
		{{"</s>", 4, 0, 0, 0, 0}, {"<unk>", 5, 0, 1, 1, 1}, {"ok", 2, 0, 0, 0, 1}}};
	char *json, **piece;
	int *len;
	double *score;
	size_t jlen = 0, cmlen = 0;
	unsigned char *charsmap;

	(void) argc;
	(void) argv;
	if (path == NULL || (json = fuzz_read_file(path, &jlen)) == NULL)
		fuzz_die("FUZZ_UNIGRAM_JSON is not a readable tokenizer.json");
	read_vocab(json, &piece, &len, &score);
	if ((cm = strstr(json, "\"precompiled_charsmap\"")) == NULL || (cm = strchr(cm + 22, '"')) == NULL)
		fuzz_die("no precompiled_charsmap");
	charsmap = b64_decode(cm + 1, &cmlen);
	for (int k = 0; k < 2; k++)
	{
		TfmUniSpec s;

		memset(&s, 0, sizeof(s));
		s.n_pieces = n_pieces;
		s.piece = (const char *const *) piece;
		s.piece_len = len;
		s.score = score;
		s.unk_id = 2;
		s.n_norm = 1;
		s.norm[0].kind = TFM_NORM_PRECOMPILED;
		s.charsmap = charsmap;
		s.charsmap_len = cmlen;
		s.metaspace = 1;
		s.replacement = "\xe2\x96\x81";
		s.replacement_len = 3;
		s.n_suffix = 1;
		s.suffix[0] = 1;
		s.nadded = 3;
		s.added = added[k];
		if (k == 0)
		{
			s.whitespace_split = 1;
			s.prepend = TFM_PREPEND_ALWAYS;
			s.split = 1;
		}
		else
		{
			s.n_norm = 4;
			s.norm[1] = (TfmUniNorm) {TFM_NORM_REPLACE, 0, 0, "  ", " ", 2, 1};
			s.norm[2] = (TfmUniNorm) {TFM_NORM_STRIP, 1, 1, NULL, NULL, 0, 0};
			s.norm[3] = (TfmUniNorm) {TFM_NORM_NFKC, 0, 0, NULL, NULL, 0, 0};
			s.prepend = TFM_PREPEND_FIRST;
			s.byte_fallback = 1;
			s.n_prefix = 1;
			s.prefix[0] = 0;
		}
		if (TfmUniBuild(&s, &blob[k], &blob_size[k], &why) != 0 || TfmUniCheck(blob[k], blob_size[k], n_pieces) != 0)
			fuzz_die(why ? why : "cannot build the Unigram blob");
	}
	for (int i = 0; i < n_pieces; i++)
		free(piece[i]);
	free(piece), free(len), free(score), free(charsmap), free(json);
	return 0;
}

/* encode and check the result */
static void
encode_checked(const void *b, const char *text, size_t n, int check)
{
	int32_t *ids = NULL;
	int k = 0;
	size_t bad = 0;
	int rc = TfmUniEncode(b, text, n, &ids, &k, &bad);

	if (!check)
	{
		free(ids);
		return;
	}
	if (rc == TFM_UNI_EUTF8)
	{
		if (ids != NULL || bad >= n)
			fuzz_die("EUTF8 with ids or an offset outside the text");
		return;
	}
	if (rc != 0 || k < 1 || ids[k - 1] != 1)
		fuzz_die("encode failed or lost </s>");
	fuzz_check_ids(ids, k, n_pieces);
	free(ids);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 3)
	{
		case 0:
		case 1:
			encode_checked(blob[data[0] & 1], (const char *) data + 1, size - 1, 1);
			break;
		case 2:
			{
				void *copy = aligned_alloc(8, (size + 7) & ~(size_t) 7);

				memcpy(copy, data + 1, size - 1);
				if (TfmUniCheck(copy, size - 1, 1 << 20) == 0)
				{
					encode_checked(copy, "Hello  w\xc3\xb6rld </s> \xe2\x96\x81x \xf0\x9f\x98\x80", 26, 0);
					encode_checked(copy, "", 0, 0);
				}
				free(copy);
				break;
			}
		case 3:
			{
				const char *why = NULL;

				if (TfmCharsmapCheck(data + 1, size - 1, &why) == 0)
				{
					uint32_t tsize;
					uint32_t *units;
					char *out = NULL;
					size_t ol = 0, oc = 0;
					int lead0;

					memcpy(&tsize, data + 1, 4);
					units = malloc(tsize);
					memcpy(units, data + 5, tsize);
					(void) TfmCharsmapNormalize(units, tsize / 4, (const char *) data + 5 + tsize, size - 5 - tsize,
												"A\xc3\xa9 e\xcc\x81 \xef\xbc\xa1", 11, &out, &ol, &oc, &lead0);
					free(out);
					free(units);
				}
				break;
			}
	}
	return 0;
}
