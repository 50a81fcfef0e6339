/*
 * wpblob.h - inside the WordPiece tokenizer: the vocabulary blob's layout (wpvocab.c builds and checks it),
 * the per-call state and the BertNormalizer passes (bertnorm.c) that wordpiece.c runs.  Not for other files.
 */
#ifndef PG_TFM_WPBLOB_H
#define PG_TFM_WPBLOB_H

#include "wordpiece.h"

#define VOCAB_MAGIC 0x4B4F544Du     /* "MTOK" */
#define VOCAB_VERSION 2           /* 2: the special tokens' TFM_SPECIAL_* flags */
#define MAX_WORD_CHARS (1 << 20)    /* sanity bound for max_input_chars_per_word */
#define BLOB(v, off, T) ((T) ((const char *) (v) + (off)))

/* one token string: offset into the string area, byte length, id */
typedef struct VocabEntry {
	uint64_t off;
	uint32_t len;
	int32_t id;
} VocabEntry;

/* blob header; every region is addressed by an offset from the blob start */
struct TfmVocab {
	uint32_t magic, version;
	uint64_t total_size;
	TfmTokConfig cfg;
	int32_t nids, ntokens, nspecial, max_token_bytes;
	uint64_t nslots;            /* power of two, > ntokens: probing always ends */
	uint64_t slots_off;         /* uint32_t[nslots]: entry index + 1, 0 = empty */
	uint64_t entries_off;       /* VocabEntry[ntokens] */
	uint64_t specials_off;      /* VocabEntry[nspecial] */
	uint64_t strings_off, strings_len;
	uint64_t spflags_off;       /* uint32_t[nspecial]: TFM_SPECIAL_* of each special token */
};

/* growable buffer of code points, or of ids (all >= 0, so they fit as well) */
typedef struct CpBuf {
	uint32_t *v;
	size_t n, cap;
} CpBuf;

/* character classes used while cutting the raw text into chunks */
enum { CH_WORD = 0, CH_BOUNDARY = 1, CH_SOLO = 2 };

/* per-call state of TfmTokenize */
typedef struct TokCtx {
	const TfmVocab *voc;
	const TfmTokConfig *cfg;
	CpBuf a, b;                 /* normalisation ping-pong buffers */
	CpBuf ids;
	char *word;                 /* UTF-8 bytes of the current word */
	char *piece;                /* prefix + candidate piece */
	size_t *ofs;                /* byte offset of each char of the word */
	uint64_t *hash;             /* hash of each candidate piece */
	size_t plen;                /* strlen(cfg->prefix) */
	unsigned char first[256];   /* first bytes of special tokens */
	unsigned char ascii[128];   /* CH_* class of each ASCII character */
} TokCtx;

/* wpvocab.c: id of the len bytes at s whose FNV-1a hash is h, or -1 */
int32_t TfmVocabFind(const TfmVocab *v, uint64_t h, const char *s, size_t len);

/* bertnorm.c: BertNormalizer and the character classes BertPreTokenizer splits at */
/* CH_BOUNDARY for white space surviving clean_text, CH_SOLO for a stand-alone token, else CH_WORD */
int TfmBertCharClass(const TfmTokConfig *cfg, uint32_t c);
/* white space as BertPreTokenizer sees it (JavaScript's \s) */
int TfmBertIsSpace(uint32_t c);
/* BertPreTokenizer punctuation: ASCII symbols or category P* */
int TfmBertIsPunct(uint32_t c);
/* append a code point (or an id) to b; 0 or TFM_TOK_ENOMEM */
int TfmCpPush(CpBuf *b, uint32_t c);
/* BertNormalizer on a valid UTF-8 chunk s[0, n) into c->a (clean_text, lowercase, strip_accents); 0 or ENOMEM */
int TfmBertNormalize(TokCtx *c, const uint8_t *s, size_t n);

#endif /* PG_TFM_WPBLOB_H */
