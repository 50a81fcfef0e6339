/*
 * fuzz_vocab.h - vocabularies for the libFuzzer targets of test/fuzz (included by each target).
 *
 * The real vocabularies are read from the files the extension imports: the "vocab" object of
 * all-MiniLM-L6-v2's tokenizer.json (FUZZ_TOKENIZER_JSON) and GPT-2's vocab.json and merges.txt
 * (FUZZ_GPT2_DIR). A flat JSON object of "token": id pairs is all that is read, with a small
 * JSON string decoder (escapes, \u with surrogate pairs). Without the files the targets use
 * built-in tiny vocabularies. Any failure while loading aborts: it is a harness bug, not a finding.
 */
#ifndef FUZZ_VOCAB_H
#define FUZZ_VOCAB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct FuzzVocab
{
	int n;
	char **tok;
	int *len;
	int32_t *id;
} FuzzVocab;

/* stop on a harness error */
static inline void
fuzz_die(const char *what)
{
	fprintf(stderr, "fuzz harness: %s\n", what);
	abort();
}

/* stop unless every one of the n ids is in [0, nvocab) */
static inline void
fuzz_check_ids(const int32_t *ids, int n, int nvocab)
{
	for (int i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= nvocab)
			fuzz_die("id outside the vocabulary");
}

/* whole file into a malloc'd, NUL-terminated buffer; NULL when it cannot be read */
static inline char *
fuzz_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
		fuzz_die("cannot read a vocabulary file");
	fclose(f);
	buf[n] = '\0';
	*len = (size_t) n;
	return buf;
}

/* append code point cp as UTF-8 */
static inline char *
fuzz_put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80)
		*o++ = (char) cp;
	else if (cp < 0x800)
	{
		*o++ = (char) (0xC0 | (cp >> 6));
		*o++ = (char) (0x80 | (cp & 0x3F));
	}
	else if (cp < 0x10000)
	{
		*o++ = (char) (0xE0 | (cp >> 12));
		*o++ = (char) (0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char) (0x80 | (cp & 0x3F));
	}
	else
	{
		*o++ = (char) (0xF0 | (cp >> 18));
		*o++ = (char) (0x80 | ((cp >> 12) & 0x3F));
		*o++ = (char) (0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char) (0x80 | (cp & 0x3F));
	}
	return o;
}

/* decode the JSON string starting after its opening quote at *p; returns a malloc'd copy */
static inline char *
fuzz_json_string(const char **p, int *len)
{
	const char *s = *p, *end = s;
	char *out, *o;

	while (*end && *end != '"')
		end += (end[0] == '\\' && end[1]) ? 2 : 1;
	out = o = malloc((size_t) (end - s) + 1);

	while (*s && *s != '"')
	{
		if (*s != '\\')
		{
			*o++ = *s++;
			continue;
		}
		s++;
		switch (*s)
		{
			case 'b': *o++ = '\b'; s++; break;
			case 'f': *o++ = '\f'; s++; break;
			case 'n': *o++ = '\n'; s++; break;
			case 'r': *o++ = '\r'; s++; break;
			case 't': *o++ = '\t'; s++; break;
			case 'u':
				{
					uint32_t cp = (uint32_t) strtoul((char[5]) {s[1], s[2], s[3], s[4], 0}, NULL, 16);

					s += 5;
					if (cp >= 0xD800 && cp < 0xDC00 && s[0] == '\\' && s[1] == 'u')
					{
						uint32_t lo = (uint32_t) strtoul((char[5]) {s[2], s[3], s[4], s[5], 0}, NULL, 16);

						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						s += 6;
					}
					o = fuzz_put_utf8(o, cp);
					break;
				}
			default: *o++ = *s++; break;
		}
	}
	if (*s != '"')
		fuzz_die("unterminated JSON string");
	*p = s + 1;
	*len = (int) (o - out);
	return out;
}

/* read the flat object {"token": id, ...} that starts at the first '{' at or after start */
static inline void
fuzz_json_vocab(const char *start, FuzzVocab *v)
{
	const char *p = strchr(start, '{');
	int cap = 1024;

	if (p == NULL)
		fuzz_die("no JSON object");
	p++;
	v->n = 0;
	v->tok = malloc(sizeof(char *) * cap);
	v->len = malloc(sizeof(int) * cap);
	v->id = malloc(sizeof(int32_t) * cap);
	for (;;)
	{
		while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ',')
			p++;
		if (*p == '}')
			break;
		if (*p != '"')
			fuzz_die("expected a JSON string key");
		p++;
		if (v->n == cap)
		{
			cap *= 2;
			v->tok = realloc(v->tok, sizeof(char *) * cap);
			v->len = realloc(v->len, sizeof(int) * cap);
			v->id = realloc(v->id, sizeof(int32_t) * cap);
		}
		v->tok[v->n] = fuzz_json_string(&p, &v->len[v->n]);
		while (*p == ' ' || *p == ':')
			p++;
		v->id[v->n] = (int32_t) strtol(p, (char **) &p, 10);
		v->n++;
	}
}

/* UTF-8 of GPT-2's bytes_to_unicode character of byte b */
static inline int
fuzz_byte_char(int b, char *out)
{
	int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
	uint32_t cp = (uint32_t) b;

	if (!printable)
	{
		int n = 0;

		for (int i = 0; i < b; i++)
			n += !((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255));
		cp = 256 + (uint32_t) n;
	}
	return (int) (fuzz_put_utf8(out, cp) - out);
}

#endif /* FUZZ_VOCAB_H */
