/* cache.c: resolves model names through the catalog and keeps mapped model versions per backend */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "cache.h"
#include "pg_tfm.h"

static TfmModel *models = NULL;		/* mapped versions, newest first */

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

/* look up the newest version of a model by name: id, version, sha256, task, config, options */
static void
resolve(const char *name, TfmModel *out)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	td;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT id, version, sha256, task, options, config FROM tfm.model "
							  "WHERE name = $1 ORDER BY version DESC LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model \"%s\" does not exist", name),
						errhint("Import it with tfm_import(); tfm.models lists the models.")));
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	out->id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
	out->version = DatumGetInt32(SPI_getbinval(tup, td, 2, &isnull));
	strlcpy(out->sha256, TextDatumGetCString(SPI_getbinval(tup, td, 3, &isnull)), sizeof(out->sha256));
	strlcpy(out->task, TextDatumGetCString(SPI_getbinval(tup, td, 4, &isnull)), sizeof(out->task));
	strlcpy(out->name, name, sizeof(out->name));
	TfmBertConfigFromJson(&out->cfg, DatumGetJsonbP(SPI_getbinval(tup, td, 6, &isnull)), "config.json");
	TfmOptionsFromJson(&out->opt, DatumGetJsonbP(SPI_getbinval(tup, td, 5, &isnull)), &out->cfg);
	SPI_finish();
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

/* return the newest version of the named model, mapping it on first use */
TfmModel *
TfmModelGet(const char *name)
{
	TfmModel	key, *m;
	MemoryContext old;

	memset(&key, 0, sizeof(key));
	resolve(name, &key);
	if ((m = find(key.id, key.sha256)) != NULL)
	{
		m->hits++;
		return m;
	}
	TfmCacheFileEnsure(&key.map, key.id, key.sha256);
	if (memcmp(&key.cfg, &key.map.hdr->cfg, sizeof(TfmBertConfig)) != 0)
		elog(ERROR, "model cache file \"%s\" disagrees with the catalog", key.map.path);
	old = MemoryContextSwitchTo(TopMemoryContext);
	m = palloc(sizeof(TfmModel));
	*m = key;
	m->layers = palloc(sizeof(TfmBertLayer) * m->cfg.layers);
	MemoryContextSwitchTo(old);
	m->vocab = (const TfmVocab *) m->map.vocab;
	TfmBertBind(&m->w, m->layers, &m->cfg, m->map.weights);
	m->hits = 1;
	m->next = models;
	models = m;
	return m;
}

/* the list of mapped versions, for tfm_cache() */
TfmModel *
TfmCacheList(void)
{
	return models;
}

/* unmap every version of a model id (after a drop) */
void
TfmCacheForget(int64 model_id)
{
	TfmModel  **p = &models;

	while (*p)
	{
		TfmModel   *m = *p;

		if (m->id == model_id)
		{
			*p = m->next;
			TfmCacheFileUnmap(&m->map);
			pfree(m->layers);
			pfree(m);
		}
		else
			p = &m->next;
	}
}
