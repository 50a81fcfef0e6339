/* cache.c: resolves model names through the catalog and keeps mapped model versions per backend */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "infer/infer.h"
#include "jsonutil.h"
#include "kernels/bgemm.h"
#include "model/head.h"
#include "model/mlpmodel.h"
#include "model/prefix.h"
#include "pg_tfm.h"
#include "store/acl.h"
#include "store/cache.h"
#include "store/catalog.h"

static TfmModel *models = NULL;		/* mapped versions, newest first */
static TfmModel *retired = NULL;	/* dropped versions, freed at the end of the transaction */
static uint64 generation = 1;		/* bumped whenever a handle is retired */

static void retire_dropped(const int64 *alive, int n);

/* the model name an argument or pg_tfm.default_model gives */
const char *
TfmModelName(text *arg)
{
	if (arg != NULL)
		return text_to_cstring(arg);
	if (tfm_default_model == NULL || tfm_default_model[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("no model given and pg_tfm.default_model is not set"),
						errhint("Pass a model name or SET pg_tfm.default_model.")));
	return tfm_default_model;
}

/* find a mapped version by id and sha256 */
static TfmModel *
find(int64 id, const char *sha256)
{
	for (TfmModel *m = models; m; m = m->next)
		if (m->id == id && strcmp(m->sha256, sha256) == 0)
			return m;
	return NULL;
}

/* copy the labels of a classification model into m's context; nlabels 1 for other tasks */
static void
load_labels(TfmModel *m, const TfmModelRow *r)
{
	m->nlabels = 1;
	if (m->task != TFM_TASK_CLASSIFICATION || r->labels == NULL)
		return;
	m->nlabels = r->nlabels;
	m->labels = MemoryContextAlloc(m->mcxt, sizeof(char *) * Max(r->nlabels, 1));
	for (int i = 0; i < r->nlabels; i++)
		m->labels[i] = MemoryContextStrdup(m->mcxt, r->labels[i]);
}

/* copy labels and head of a trained model or a checkpoint with a head into m's context */
static void
load_head(TfmModel *m, const TfmModelRow *r)
{
	Jsonb	   *opts = r->options;
	size_t		want;

	if (m->task == TFM_TASK_EMBEDDING || m->task == TFM_TASK_GENERATION)
		return;
	load_labels(m, r);
	m->target_mean = TfmJsonGetFloat(&opts->root, "target_mean", 0.0, "options");
	m->target_std = TfmJsonGetFloat(&opts->root, "target_std", 1.0, "options");
	if (m->arch == TFM_ARCH_MLP)
	{
		TfmMlpLoad(m, r->config, opts, r->head);
		return;
	}
	m->head_hidden = TfmJsonGetInt(&opts->root, "head_hidden", 0, 0, 8192, "options");
	m->head_act = TfmHeadActFromName(TfmJsonGetString(&opts->root, "head_activation", "gelu", "options"));
	m->multi_label = TfmJsonGetBool(&opts->root, "multi_label", 0, "options");
	want = sizeof(float) * TfmHeadParams(m->enc->cfg.hidden, m->head_hidden, m->nlabels);
	if (r->head == NULL || VARSIZE_ANY_EXHDR(r->head) != want || m->nlabels < 1)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("model \"%s\" has a head that does not fit its labels and dimension", m->name)));
	m->head = MemoryContextAlloc(m->mcxt, want);
	memcpy(m->head, VARDATA_ANY(r->head), want);
}

/* fill a new handle from the catalog row */
static void
fill(TfmModel *m, const char *name, const TfmModelRow *r)
{
	m->id = r->id;
	m->version = r->version;
	strlcpy(m->enc_sha256, r->enc_sha256, sizeof(m->enc_sha256));
	strlcpy(m->enc_key, r->cache_key, sizeof(m->enc_key));
	m->task = TfmTaskFromName(r->task);
	m->encoder_id = r->encoder_id;
	strlcpy(m->sha256, r->sha256, sizeof(m->sha256));
	strlcpy(m->name, name, sizeof(m->name));
	m->arch = TfmArchFromName(r->architecture);
	if (m->arch == TFM_ARCH_MLP)
	{
		load_head(m, r);
		return;
	}
	if (m->arch == TFM_ARCH_GPT2)
	{
		m->gpt2 = TfmGpt2PartLoad(m->mcxt, r->config, r->options);
		return;
	}
	m->enc = TfmEncoderPartLoad(m->mcxt, r->config, r->options);
	m->prefixes = TfmPrefixLoad(m->mcxt, r->options);
	load_head(m, r);
}

/* map the weights of a filled handle and point its family's part at them */
static void
map_encoder(TfmModel *m)
{
	static const TfmBertConfig no_cfg;	/* the header's config of the other family is zero */
	static const TfmGpt2Config no_gcfg;
	const TfmFileHeader *h;

	TfmCacheFileEnsure(&m->map, m->encoder_id, m->enc_key);
	h = m->map.hdr;
	if (h->arch != (uint32) m->arch ||
		memcmp(m->enc ? &m->enc->cfg : &no_cfg, &h->cfg, sizeof(TfmBertConfig)) != 0 ||
		memcmp(m->gpt2 ? &m->gpt2->info.cfg : &no_gcfg, &h->gcfg, sizeof(TfmGpt2Config)) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("model cache file \"%s\" disagrees with the catalog", TfmPathShown(m->map.path))));
	if (m->arch == TFM_ARCH_GPT2)
		TfmGpt2PartBind(m->gpt2, m->map.vocab, m->map.weights, m->mcxt);
	else
		TfmEncoderPartBind(m->enc, m->map.vocab, (int) h->tokenizer, (const char *) m->map.weights,
						   (int) h->precision, m->mcxt);
}

/*
 * a bf16 encoder at a CPU level without AVX512-BF16 (the level can change within a session): fp32
 * panels widened from its bf16 ones, once, in the handle's context (TfmBertWidenBf16), for the batches
 * above TFM_B16_WIDEN_MAX_ROWS rows, where the widening kernels lose to the fp32 ones
 */
static void
widen_bf16(TfmModel *m)
{
	if (m->enc && m->enc->layers && m->enc->opt.precision == TFM_PRECISION_BF16 &&
		tfm_b16_prefers_fp32(TFM_B16_WIDEN_MAX_ROWS + 1))
		TfmBertWidenBf16(m->enc->layers, &m->enc->cfg, m->mcxt);
}

/* the catalog row of the newest version of name as the extension owner; 42501 unless the caller may use it */
static void
read_model_row(TfmModelRow *r, const char *name)
{
	TfmOwnerScope s;
	int			n = 0;
	int64	   *ids;
	bool		found;

	for (TfmModel *m = models; m; m = m->next)
		n++;
	ids = palloc(sizeof(int64) * Max(n, 1));
	n = 0;
	for (TfmModel *m = models; m; m = m->next)
		ids[n++] = m->id;
	TfmAsOwnerBegin(&s);
	found = TfmCatalogModelRow(r, name, ids, n);
	TfmAsOwnerEnd(&s);
	if (!found)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model \"%s\" does not exist", name),
						errhint("Import it with tfm_import() or train it with tfm_train(); tfm.models lists the models.")));
	TfmCheckUsage(GetUserId(), name, r->acl.owner, r->acl.public_usage, r->acl.grantees, r->acl.grantees_null);
}

/* return the newest version of the named model (any architecture), mapping it on first use */
TfmModel *
TfmModelGetAny(const char *name)
{
	TfmModelRow r;
	TfmModel   *m;
	TfmModel   *volatile nm;
	MemoryContext cxt;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	read_model_row(&r, name);
	retire_dropped(r.alive, r.nalive);
	m = find(r.id, r.sha256);
	if (m)
	{
		SPI_finish();
		widen_bf16(m);
		m->hits++;
		return m;
	}
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_tfm model", ALLOCSET_SMALL_SIZES);
	nm = MemoryContextAllocZero(cxt, sizeof(TfmModel));
	nm->mcxt = cxt;
	PG_TRY();
	{
		fill(nm, name, &r);
		SPI_finish();
		if (nm->arch != TFM_ARCH_MLP)	/* an MLP's weights are in its catalog row */
		{
			map_encoder(nm);
			widen_bf16(nm);
		}
	}
	PG_CATCH();
	{
		TfmCacheFileUnmap(&nm->map);
		MemoryContextDelete(nm->mcxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	m = nm;
	m->hits = 1;
	m->next = models;
	models = m;
	return m;
}

/* the newest version of a BERT-family model: callers that run the encoder get an error, never a GPT-2 handle */
TfmModel *
TfmModelGet(const char *name)
{
	TfmModel   *m = TfmModelGetAny(name);

	TfmRequireArch(m, TFM_ARCH_BERT, "this function");
	return m;
}

/* move a handle to the retired list; it stays valid until the transaction ends */
static void
retire(TfmModel **p)
{
	TfmModel   *m = *p;

	*p = m->next;
	m->next = retired;
	retired = m;
	generation++;
}

/* retire handles whose model another session dropped (alive: the n cached ids that still exist) */
static void
retire_dropped(const int64 *alive, int n)
{
	TfmModel  **p = &models;

	while (*p)
	{
		bool		found = false;

		for (int i = 0; i < n && !found; i++)
			found = alive[i] == (*p)->id;
		if (found)
			p = &(*p)->next;
		else
			retire(p);
	}
}

/* a counter that changes whenever a handle is retired: per-query memos compare it */
uint64
TfmCacheGeneration(void)
{
	return generation;
}

/* at the end of a transaction: free retired handles; remove files of models dropped by a commit */
void
TfmCacheXactCallback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	while (retired)
	{
		TfmModel   *m = retired;

		retired = m->next;
		TfmCacheFileUnmap(&m->map);
		MemoryContextDelete(m->mcxt);
	}
	TfmCacheFileRemovePending(event == XACT_EVENT_COMMIT);
	TfmScratchRelease();
}

/* the list of mapped versions, for tfm_cache() */
TfmModel *
TfmCacheList(void)
{
	return models;
}

/* retire every handle of a model id or of models whose encoder it is (after a drop) */
void
TfmCacheForget(int64 model_id)
{
	TfmModel  **p = &models;

	while (*p)
	{
		if ((*p)->id == model_id || (*p)->encoder_id == model_id)
			retire(p);
		else
			p = &(*p)->next;
	}
}
