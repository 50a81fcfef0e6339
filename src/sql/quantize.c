/* quantize.c: tfm_quantize(source, name, precision): a new embedding model at another precision */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "model/encoder.h"
#include "store/acl.h"
#include "store/cache.h"
#include "store/cachefile.h"
#include "store/import.h"

PG_FUNCTION_INFO_V1(tfm_quantize);

/*
 * the source version's config, tokenizer, options (with precision replaced) and stored weights, read
 * as the extension owner; SPI connected: they live in its memory until SPI_finish
 */
static void
read_source(int64 id, const char *precision, Jsonb **config, Jsonb **tokenizer, Jsonb **options,
			char **weights, uint64 *wsize)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(id), CStringGetTextDatum(precision)};
	TfmOwnerScope scope;
	bool		isnull;

	TfmAsOwnerBegin(&scope);
	/* fp32 is the default: left out, as tfm_import leaves it out */
	if (SPI_execute_with_args("SELECT config, tokenizer, CASE WHEN $2 OPERATOR(pg_catalog.=) 'fp32' "
							  "THEN options OPERATOR(pg_catalog.-) 'precision'::pg_catalog.text "
							  "ELSE options OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('precision', $2) END "
							  "FROM tfm.model WHERE id = $1", 2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read model " INT64_FORMAT, id);
	*config = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*tokenizer = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*options = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	*weights = TfmCacheFileCatalogWeights(id, wsize);
	TfmAsOwnerEnd(&scope);
}

/*
 * tfm._quantize(source, name, precision): the newest version of source (an embedding model with its
 * own weights, which the caller may use) imported again as name at precision, from the weights the
 * catalog holds (never from a reduced cache file); returns the new model's id
 */
Datum
tfm_quantize(PG_FUNCTION_ARGS)
{
	static const char *const what[3] = {"the source's config.json", "the source's tokenizer.json", "the source's weights"};
	char	   *name, *precision, *weights;
	TfmModel   *m;
	Jsonb	   *config, *tokenizer, *options;
	uint64		wsize;
	int64		id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("source, name and precision must not be NULL")));
	PreventCommandIfReadOnly("tfm_quantize()");
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	precision = text_to_cstring(PG_GETARG_TEXT_PP(2));
	TfmCheckModelName(name);
	(void) TfmCheckCreate(name);	/* TfmImportModel checks again */
	m = TfmModelGet(TfmModelName(PG_GETARG_TEXT_PP(0)));	/* 42501 unless the caller may use it */
	if (m->task != TFM_TASK_EMBEDDING || m->encoder_id != m->id)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("model \"%s\" is not an embedding model with its own weights", m->name),
						errhint("tfm_quantize copies imported embedding models; to get a classifier at a precision, "
								"train on such a copy or use the tfm_train option precision with fine_tune \"full\".")));
	(void) TfmPrecisionFromName(precision, &m->enc->cfg);	/* 22023 before reading the weights */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	read_source(m->id, precision, &config, &tokenizer, &options, &weights, &wsize);
	id = TfmImportModel(name, config, tokenizer, weights, wsize, options, what);
	SPI_finish();
	PG_RETURN_INT64(id);
}
