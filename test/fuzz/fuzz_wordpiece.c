/*
 * fuzz_wordpiece.c - libFuzzer target: the BERT WordPiece tokenizer (src/text/wordpiece.c) on
 * arbitrary bytes. The first input byte picks one of 16 normaliser configurations (lowercase,
 * strip_accents, clean_text, handle_chinese_chars) and max_input_chars_per_word; the rest is the
 * text. Checks: TfmTokenize returns 0 or TFM_TOK_EUTF8 (then no ids and an offset inside the
 * text), ids start with [CLS], end with [SEP], lie in the vocabulary and are not more than 4 per
 * byte of text.
 * Vocabulary: "model"."vocab" of FUZZ_TOKENIZER_JSON (all-MiniLM-L6-v2), else a tiny built-in one.
 */
#include "fuzz_vocab.h"
#include "text/wordpiece.h"

static void *blobs[16];
static FuzzVocab v;				/* kept reachable: not a leak */

/* a tiny vocabulary when no tokenizer.json is given */
static void
tiny_vocab(FuzzVocab *v)
{
	static const char *const t[] = {
		"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "un", "##aff", "##able",
		"play", "##ing", "cafe", ".", ",", "!", "\xe4\xbd\xa0", "\xcf\x83", "##a", "caf\xc3\xa9",
	};

	v->n = (int) (sizeof(t) / sizeof(t[0]));
	v->tok = malloc(sizeof(char *) * v->n);
	v->len = malloc(sizeof(int) * v->n);
	v->id = malloc(sizeof(int32_t) * v->n);
	for (int i = 0; i < v->n; i++)
	{
		v->tok[i] = strdup(t[i]);
		v->len[i] = (int) strlen(t[i]);
		v->id[i] = i;
	}
}

/* id of a token in the loaded vocabulary */
static int32_t
find(const FuzzVocab *v, const char *tok)
{
	for (int i = 0; i < v->n; i++)
		if (v->len[i] == (int) strlen(tok) && memcmp(v->tok[i], tok, v->len[i]) == 0)
			return v->id[i];
	fuzz_die("special token missing from the vocabulary");
	return -1;
}

/* build the 16 blobs once */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *path = getenv("FUZZ_TOKENIZER_JSON");
	static const char *const special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
	static const int speclens[] = {5, 5, 5, 5, 6};
	int32_t spec_ids[5];
	size_t len;
	char *json = path ? fuzz_read_file(path, &len) : NULL;

	(void) argc;
	(void) argv;
	if (json)
	{
		char *model = strstr(json, "\"model\"");

		if (model == NULL || strstr(model, "\"vocab\"") == NULL)
			fuzz_die("tokenizer.json has no model.vocab");
		fuzz_json_vocab(strstr(model, "\"vocab\"") + 7, &v);
		fprintf(stderr, "fuzz_wordpiece: %d tokens from %s\n", v.n, path);
		free(json);
	}
	else
		tiny_vocab(&v);
	for (int i = 0; i < 5; i++)
		spec_ids[i] = find(&v, special[i]);
	for (int c = 0; c < 16; c++)
	{
		TfmTokConfig cfg = {c & 1, (c >> 1) & 1, (c >> 2) & 1, (c >> 3) & 1, c < 8 ? 100 : 5,
							spec_ids[1], spec_ids[2], spec_ids[3], spec_ids[0], "##"};
		size_t size = TfmVocabBlobSize(v.n, (const char *const *) v.tok, v.len, 5, special, speclens);

		blobs[c] = aligned_alloc(8, (size + 7) & ~(size_t) 7);
		if (TfmVocabBuild(blobs[c], &cfg, v.n, (const char *const *) v.tok, v.len, v.id,
						  5, special, speclens, spec_ids) != 0 || TfmVocabCheck(blobs[c], size) != 0)
			fuzz_die("cannot build the vocabulary blob");
	}
	return 0;
}

/* one input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const TfmVocab *v;
	const TfmTokConfig *cfg;
	int32_t *ids = (int32_t *) &size;
	int n = -1, nvocab, rc;
	size_t eo = (size_t) -1;

	if (size < 1)
		return 0;
	v = blobs[data[0] & 15];
	cfg = TfmVocabConfig(v);
	nvocab = TfmVocabSizeOf(v);
	rc = TfmTokenize(v, (const char *) data + 1, size - 1, &ids, &n, &eo);
	if (rc == TFM_TOK_EUTF8)
	{
		if (ids != NULL || n != 0 || eo >= size - 1)
			fuzz_die("EUTF8 with ids or an offset outside the text");
		return 0;
	}
	if (rc != 0)
		fuzz_die("TfmTokenize failed with neither 0 nor EUTF8");
	if (n < 2 || ids[0] != cfg->cls_id || ids[n - 1] != cfg->sep_id)
		fuzz_die("ids do not start with [CLS] and end with [SEP]");
	fuzz_check_ids(ids, n, nvocab);
	/* a character gives at most a few ids (NFD of one character is at most 4 code points) */
	if ((size_t) n > 4 * (size - 1) + 2)
		fuzz_die("more than 4 ids per byte of text");
	free(ids);
	return 0;
}
