/* generate.c: GPT-2 text generation on a mapped model: prompt window, KV cache, sampling, UTF-8 safe decoding */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "infer/generate.h"
#include "infer/infer.h"
#include "jsonutil.h"
#include "pg_tfm.h"
#include "text/bpe.h"

#define MAX_TEMPERATURE 100.0
#define MAX_SEED ((int64) 1 << 53)	/* integers a JSON number carries exactly */

static const char *const generate_options[] = {"temperature", "top_k", "top_p", "seed", "kv_cache", NULL};

/* work areas of one generation: the KV cache, forward scratch, sampler scratch */
typedef struct GenWork
{
	float	   *logits;			/* (V) */
	float	   *kv;
	float	   *scratch;
	float	   *sample;
} GenWork;

/* read tfm_generate options; sampling (temperature 1) is the default once top_k, top_p or seed is given */
void
TfmGenOptionsFromJson(TfmGenOptions *o, Jsonb *options, int n_vocab)
{
	JsonbContainer *c = &options->root;
	JsonbValue	v;
	bool		sampling;
	double		t;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options must be a JSON object")));
	TfmJsonCheckKeys(options, generate_options, "tfm_generate option");
	sampling = TfmJsonGet(c, "top_k", &v) || TfmJsonGet(c, "top_p", &v) || TfmJsonGet(c, "seed", &v);
	t = TfmJsonGetFloat(c, "temperature", sampling ? 1.0 : 0.0, "options");
	if (!(t >= 0 && t <= MAX_TEMPERATURE))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options: \"temperature\" must be between 0 (greedy) and 100")));
	o->temperature = (float) t;
	o->top_k = TfmJsonGetInt(c, "top_k", 0, 0, n_vocab, "options");
	t = TfmJsonGetFloat(c, "top_p", 1.0, "options");
	if (!(t > 0 && t <= 1))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options: \"top_p\" must be greater than 0 and at most 1")));
	o->top_p = (float) t;
	o->kv_cache = TfmJsonGetBool(c, "kv_cache", 1, "options");
	if (TfmJsonGet(c, "seed", &v) && v.type != jbvNull)
		o->seed = (uint64) TfmJsonNumericToInt(&v, -MAX_SEED, MAX_SEED, "options", "seed");
	else
		o->seed = pg_prng_uint64(&pg_global_prng_state);
}


/* palloc a work area of bytes, as an error rather than a crash when memory is short */
static float *
work_alloc(size_t bytes, const char *what)
{
	float	   *p;

	if (bytes == 0)
		elog(ERROR, "bad GPT-2 sizes for the %s", what);
	p = palloc_extended(bytes, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (p == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory for the %s (%zu bytes)", what, bytes)));
	return p;
}

/* allocate the work areas for sequences up to max_T tokens, fed at most max_new at a time */
static void
work_init(GenWork *w, const TfmGpt2Config *cfg, int max_T, int max_new)
{
	TfmCheckMemory((double) sizeof(float) * cfg->n_vocab + (double) TfmGpt2CacheBytes(cfg, max_T) +
				   (double) TfmGpt2ScratchBytes(cfg, max_new) +
				   (double) sizeof(float) * TfmSampleScratchFloats(cfg->n_vocab), "generation (KV cache and work areas)");
	w->logits = work_alloc(sizeof(float) * cfg->n_vocab, "logits");
	w->kv = work_alloc(TfmGpt2CacheBytes(cfg, max_T), "KV cache");
	w->scratch = work_alloc(TfmGpt2ScratchBytes(cfg, max_new), "decoder scratch");
	w->sample = work_alloc(sizeof(float) * TfmSampleScratchFloats(cfg->n_vocab), "sampler scratch");
}

/* run ids[pos0 .. pos0 + n) through the decoder (its earlier positions are in the cache) */
static void
forward(GenWork *w, const TfmModel *m, const int32 *ids, int n, int pos0)
{
	if (gpt2_forward(w->logits, &m->gpt2->info.cfg, &m->gpt2->w, ids + pos0, n, pos0, w->kv, w->scratch,
					 TfmCheckInterrupts) != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("token ids must be between 0 and %d and fit the context of %d tokens",
							   m->gpt2->info.cfg.n_vocab - 1, m->gpt2->info.cfg.n_ctx)));
}

/*
 * generate up to max_new ids after prompt (n ids): the prompt is cut to its
 * last tokens so that prompt + max_new fits the context, an empty prompt
 * starts from bos; generation stops at eos (not returned).  palloc'd ids.
 */
int32 *
TfmGenerate(const TfmModel *m, const int32 *prompt, int n, int max_new,
			const TfmGenOptions *o, int *nout)
{
	const TfmGpt2Config *cfg = &m->gpt2->info.cfg;
	int			keep = Max(1, m->gpt2->ctx - max_new), p = Min(n, keep), done = 0;
	int32	   *seq = palloc(sizeof(int32) * (keep + max_new + 1));
	uint64		rng = o->seed;
	GenWork		w;

	*nout = 0;
	if (max_new == 0)
		return seq;
	if (p == 0)
	{
		if (m->gpt2->info.bos < 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("the prompt is empty and model \"%s\" has no bos_token_id to start from", m->name)));
		seq[p++] = m->gpt2->info.bos;
	}
	else
		memcpy(seq, prompt + (n - p), sizeof(int32) * p);
	work_init(&w, cfg, p + max_new - 1, o->kv_cache ? p : p + max_new - 1);
	for (int g = 0; g < max_new; g++)
	{
		int			len = p + g, id;

		CHECK_FOR_INTERRUPTS();
		if (o->kv_cache)
			forward(&w, m, seq, len - done, done);
		else
			forward(&w, m, seq, len, 0);
		done = len;
		id = TfmSample(w.logits, cfg->n_vocab, o->temperature, o->top_k, o->top_p, &rng, w.sample);
		if (id < 0)
			ereport(ERROR, (errcode(ERRCODE_FLOATING_POINT_EXCEPTION),
							errmsg("model \"%s\" produced no finite logit", m->name)));
		if (id == m->gpt2->info.eos)
			break;
		seq[len] = id;
		(*nout)++;
	}
	return seq + p;
}

/* next-token logits (V) after ids (n >= 1): one pass, or token by token through the KV cache */
float *
TfmGpt2Logits(const TfmModel *m, const int32 *ids, int n, bool kv_cache)
{
	GenWork		w;

	if (n < 1 || n > m->gpt2->info.cfg.n_ctx)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("between 1 and %d token ids are needed, got %d", m->gpt2->info.cfg.n_ctx, n)));
	work_init(&w, &m->gpt2->info.cfg, n, kv_cache ? 1 : n);
	if (!kv_cache)
		forward(&w, m, ids, n, 0);
	else
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			forward(&w, m, ids, 1, i);
		}
	return w.logits;
}

/* append s (len bytes of UTF-8 from the decoder) with every invalid byte and NUL replaced by U+FFFD */
static void
append_valid_utf8(StringInfo out, const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		int			l = c < 0x80 ? 1 : pg_utf_mblen((const unsigned char *) s + i);

		if (c != 0 && (size_t) l <= len - i && (c < 0x80 || pg_utf8_islegal((const unsigned char *) s + i, l)))
		{
			appendBinaryStringInfo(out, s + i, l);
			i += l;
		}
		else
		{
			appendStringInfoString(out, "\xEF\xBF\xBD");
			i++;
		}
	}
}

/* decode ids to text in the server encoding (invalid UTF-8 from partial tokens becomes U+FFFD) */
text *
TfmGpt2DecodeText(const TfmModel *m, const int32 *ids, int n)
{
	char	   *bytes, *conv;
	size_t		len;
	StringInfoData s;
	int			rc = TfmBpeDecode(m->gpt2->bpe, ids, n, &bytes, &len);

	if (rc == TFM_BPE_ENOMEM)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory decoding %d tokens", n)));
	if (rc != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("a generated token id is not in the vocabulary of model \"%s\"", m->name)));
	initStringInfo(&s);
	PG_TRY();
	{
		append_valid_utf8(&s, bytes, len);
	}
	PG_FINALLY();
	{
		free(bytes);
	}
	PG_END_TRY();
	conv = pg_any_to_server(s.data, s.len, PG_UTF8);
	return cstring_to_text(conv);
}
