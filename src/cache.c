/* cache.c: resolves model names through the catalog and keeps mapped model versions per backend */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "acl.h"
#include "cache.h"
#include "head.h"
#include "infer.h"
#include "jsonutil.h"
#include "mlpmodel.h"
#include "pg_tfm.h"
#include "prefix.h"

static TfmModel *models = NULL;		/* mapped versions, newest first */
static TfmModel *retired = NULL;	/* dropped versions, freed at the end of the transaction */
static uint64 generation = 1;		/* bumped whenever a handle is retired */

static Datum cached_ids(void);
static void retire_dropped(Datum alive, bool isnull);

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

/* task from its catalog name */
TfmTask
TfmTaskFromName(const char *task)
{
	if (strcmp(task, "classification") == 0)
		return TFM_TASK_CLASSIFICATION;
	if (strcmp(task, "regression") == 0)
		return TFM_TASK_REGRESSION;
	if (strcmp(task, "generation") == 0)
		return TFM_TASK_GENERATION;
	if (strcmp(task, "cross-encoder") == 0)
		return TFM_TASK_CROSS_ENCODER;
	return TFM_TASK_EMBEDDING;
}

/* catalog name of a task */
const char *
TfmTaskName(TfmTask task)
{
	return task == TFM_TASK_CLASSIFICATION ? "classification" :
		task == TFM_TASK_REGRESSION ? "regression" :
		task == TFM_TASK_GENERATION ? "generation" :
		task == TFM_TASK_CROSS_ENCODER ? "cross-encoder" : "embedding";
}

/* what an architecture is called in messages */
static const char *
arch_title(TfmArch arch)
{
	return arch == TFM_ARCH_GPT2 ? "GPT-2 text generation" :
		arch == TFM_ARCH_MLP ? "feature-vector MLP" : "BERT-family encoder";
}

/* refuse a model of another architecture than a function runs (e.g. tfm_embed on GPT-2) */
void
TfmRequireArch(const TfmModel *m, TfmArch arch, const char *fn)
{
	if (m->arch != arch)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is a %s model, %s needs a %s model", m->name,
							   arch_title(m->arch), fn, arch == TFM_ARCH_GPT2 ? "GPT-2" : arch_title(arch)),
						errhint("%s", arch == TFM_ARCH_GPT2 ? "Import a GPT-2 model (config.json model_type \"gpt2\") for tfm_generate." :
								arch == TFM_ARCH_MLP ? "Pass the features as real[] or float8[] to a model trained with tfm_train(name, 'mlp', ...)." :
								m->arch == TFM_ARCH_MLP ? "An MLP reads feature vectors: pass a real[] or float8[] instead of text." :
								"Use tfm_generate() or tfm_tokenize() with GPT-2 models.")));
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

/* copy the labels (text[]) of a classification model into m's context; nlabels 1 for other tasks */
static void
load_labels(TfmModel *m, HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, td, 10, &isnull);
	Datum	   *elems;
	int			n;

	m->nlabels = 1;
	if (m->task != TFM_TASK_CLASSIFICATION || isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &n);
	m->nlabels = n;
	m->labels = MemoryContextAlloc(m->mcxt, sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		m->labels[i] = MemoryContextStrdup(m->mcxt, TextDatumGetCString(elems[i]));
}

/* copy labels (text[]) and head (bytea) of a trained model or a checkpoint with a head into m's context */
static void
load_head(TfmModel *m, HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	Datum		d;
	Jsonb	   *opts = DatumGetJsonbP(SPI_getbinval(tup, td, 5, &isnull));
	bytea	   *head;
	size_t		want;

	if (m->task == TFM_TASK_EMBEDDING || m->task == TFM_TASK_GENERATION)
		return;
	load_labels(m, tup, td);
	m->target_mean = TfmJsonGetFloat(&opts->root, "target_mean", 0.0, "options");
	m->target_std = TfmJsonGetFloat(&opts->root, "target_std", 1.0, "options");
	if (m->arch == TFM_ARCH_MLP)
	{
		d = SPI_getbinval(tup, td, 9, &isnull);
		TfmMlpLoad(m, DatumGetJsonbP(SPI_getbinval(tup, td, 6, &isnull)), opts, isnull ? NULL : DatumGetByteaPP(d));
		return;
	}
	m->head_hidden = TfmJsonGetInt(&opts->root, "head_hidden", 0, 0, 8192, "options");
	m->head_act = TfmHeadActFromName(TfmJsonGetString(&opts->root, "head_activation", "gelu", "options"));
	m->multi_label = TfmJsonGetBool(&opts->root, "multi_label", 0, "options");
	d = SPI_getbinval(tup, td, 9, &isnull);
	want = sizeof(float) * TfmHeadParams(m->cfg.hidden, m->head_hidden, m->nlabels);
	head = isnull ? NULL : DatumGetByteaPP(d);
	if (head == NULL || VARSIZE_ANY_EXHDR(head) != want || m->nlabels < 1)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("model \"%s\" has a head that does not fit its labels and dimension", m->name)));
	m->head = MemoryContextAlloc(m->mcxt, want);
	memcpy(m->head, VARDATA_ANY(head), want);
}

/* fill a new handle from the catalog row */
static void
fill(TfmModel *m, const char *name, HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	char	   *arch;

	m->id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
	m->version = DatumGetInt32(SPI_getbinval(tup, td, 2, &isnull));
	strlcpy(m->enc_sha256, TextDatumGetCString(SPI_getbinval(tup, td, 3, &isnull)), sizeof(m->enc_sha256));
	strlcpy(m->enc_key, TextDatumGetCString(SPI_getbinval(tup, td, 12, &isnull)), sizeof(m->enc_key));
	m->task = TfmTaskFromName(TextDatumGetCString(SPI_getbinval(tup, td, 4, &isnull)));
	m->encoder_id = DatumGetInt64(SPI_getbinval(tup, td, 7, &isnull));
	strlcpy(m->sha256, TextDatumGetCString(SPI_getbinval(tup, td, 8, &isnull)), sizeof(m->sha256));
	strlcpy(m->name, name, sizeof(m->name));
	arch = TextDatumGetCString(SPI_getbinval(tup, td, 11, &isnull));
	m->arch = strcmp(arch, "gpt2") == 0 ? TFM_ARCH_GPT2 : strcmp(arch, TFM_MLP_BASE) == 0 ? TFM_ARCH_MLP : TFM_ARCH_BERT;
	if (m->arch == TFM_ARCH_MLP)
	{
		load_head(m, tup, td);
		return;
	}
	if (m->arch == TFM_ARCH_GPT2)
	{
		TfmGpt2InfoFromJson(&m->gpt2, DatumGetJsonbP(SPI_getbinval(tup, td, 6, &isnull)), "config.json");
		m->ctx = TfmGpt2OptionsFromJson(DatumGetJsonbP(SPI_getbinval(tup, td, 5, &isnull)), &m->gpt2.cfg, false);
		return;
	}
	TfmBertConfigFromJson(&m->cfg, DatumGetJsonbP(SPI_getbinval(tup, td, 6, &isnull)), "config.json");
	TfmOptionsFromJson(&m->opt, DatumGetJsonbP(SPI_getbinval(tup, td, 5, &isnull)), &m->cfg, false);
	m->prefixes = TfmPrefixLoad(m->mcxt, DatumGetJsonbP(SPI_getbinval(tup, td, 5, &isnull)));
	load_head(m, tup, td);
}

/* map the encoder weights of a filled handle and point the weights at them */
static void
map_encoder(TfmModel *m)
{
	TfmCacheFileEnsure(&m->map, m->encoder_id, m->enc_key);
	if (m->map.hdr->arch != (uint32) m->arch ||
		memcmp(&m->cfg, &m->map.hdr->cfg, sizeof(TfmBertConfig)) != 0 ||
		memcmp(&m->gpt2.cfg, &m->map.hdr->gcfg, sizeof(TfmGpt2Config)) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("model cache file \"%s\" disagrees with the catalog", TfmPathShown(m->map.path))));
	if (m->arch == TFM_ARCH_GPT2)
	{
		m->bpe = m->map.vocab;
		m->glayers = MemoryContextAlloc(m->mcxt, sizeof(TfmGpt2Layer) * m->gpt2.cfg.n_layer);
		TfmGpt2Bind(&m->gpt2_w, m->glayers, &m->gpt2.cfg, m->map.weights);
		return;
	}
	m->vocab = (const TfmVocab *) m->map.vocab;
	m->tokenizer = (TfmTokenizerKind) m->map.hdr->tokenizer;	/* checked with the file (TfmTextCheck) */
	m->layers = MemoryContextAlloc(m->mcxt, sizeof(TfmBertLayer) * m->cfg.layers);
	TfmBertBindCache(&m->w, m->layers, &m->cfg, m->map.weights);
	TfmBertLowPrecision(m->layers, &m->cfg, m->opt.precision, m->mcxt, TFM_LOWP_ALL);
}

/* the catalog row of the newest version of name as the extension owner; 42501 unless the caller may use it */
static void
read_model_row(const char *name)
{
	Oid			argtypes[2] = {TEXTOID, INT8ARRAYOID};
	Datum		args[2] = {CStringGetTextDatum(name), cached_ids()};
	HeapTuple	tup;
	TupleDesc	td;
	Datum		grantees, owner;
	bool		isnull, gnull;
	TfmOwnerScope s;
	bool		acl = TfmAclReady();

	TfmAsOwnerBegin(&s);
	if (SPI_execute_with_args(psprintf("SELECT m.id, m.version, e.sha256, m.task, m.options, e.config, e.id, "
									   "m.sha256, m.head, m.labels, e.architecture, e.cache_key::text, "
									   "(SELECT pg_catalog.array_agg(id) FROM tfm.model WHERE id = ANY($2)), "
									   "%s, %s "
									   "FROM tfm.model m JOIN tfm.model e ON e.id = coalesce(m.encoder_id, m.id) %s "
									   "WHERE m.name = $1 ORDER BY m.version DESC LIMIT 1",
									   TfmOwnerOidSql(), acl ? "coalesce(a.public, true), a.grantees::oid[]" : "true, NULL::oid[]",
									   acl ? "LEFT JOIN tfm.model_acl a ON a.name = m.name" : ""),
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	TfmAsOwnerEnd(&s);
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model \"%s\" does not exist", name),
						errhint("Import it with tfm_import() or train it with tfm_train(); tfm.models lists the models.")));
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	grantees = SPI_getbinval(tup, td, 16, &gnull);
	owner = SPI_getbinval(tup, td, 14, &isnull);
	TfmCheckUsage(GetUserId(), name, isnull ? InvalidOid : DatumGetObjectId(owner),
				  DatumGetBool(SPI_getbinval(tup, td, 15, &isnull)), grantees, gnull);
}

/* return the newest version of the named model (any architecture), mapping it on first use */
TfmModel *
TfmModelGetAny(const char *name)
{
	Datum		alive;
	bool		isnull;
	TfmModel   *m;
	TfmModel   *volatile nm;
	MemoryContext cxt;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	read_model_row(name);
	alive = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 13, &isnull);
	retire_dropped(alive, isnull);
	m = find(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
			 TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8, &isnull)));
	if (m)
	{
		SPI_finish();
		m->hits++;
		return m;
	}
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_tfm model", ALLOCSET_SMALL_SIZES);
	nm = MemoryContextAllocZero(cxt, sizeof(TfmModel));
	nm->mcxt = cxt;
	PG_TRY();
	{
		fill(nm, name, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		SPI_finish();
		if (nm->arch != TFM_ARCH_MLP)	/* an MLP's weights are in its catalog row */
			map_encoder(nm);
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

/* ids of the mapped versions as an int8[] */
static Datum
cached_ids(void)
{
	int			n = 0;
	Datum	   *d;

	for (TfmModel *m = models; m; m = m->next)
		n++;
	d = palloc(sizeof(Datum) * Max(n, 1));
	n = 0;
	for (TfmModel *m = models; m; m = m->next)
		d[n++] = Int64GetDatum(m->id);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
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

/* retire handles whose model another session dropped (alive: the cached ids that still exist) */
static void
retire_dropped(Datum alive, bool isnull)
{
	Datum	   *ids = NULL;
	int			n = 0;
	TfmModel  **p = &models;

	if (!isnull)
		deconstruct_array(DatumGetArrayTypeP(alive), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, NULL, &n);
	while (*p)
	{
		bool		found = false;

		for (int i = 0; i < n && !found; i++)
			found = DatumGetInt64(ids[i]) == (*p)->id;
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
