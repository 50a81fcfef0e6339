/* funcs.c: the SQL-callable functions; argument checks here, the work in the subsystems */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "bert.h"
#include "cache.h"
#include "tokenizer.h"

PG_FUNCTION_INFO_V1(tfm_tokenize);
PG_FUNCTION_INFO_V1(tfm_embed);
PG_FUNCTION_INFO_V1(tfm_drop);
PG_FUNCTION_INFO_V1(tfm_cache);

/* the model a call uses, remembered for the rest of the query in fn_extra */
typedef struct CallModel
{
	char		name[TFM_NAMELEN];
	TfmModel   *model;
	uint64		generation;
} CallModel;

static uint64 cache_generation = 1;		/* bumped whenever a handle is freed */
static float *scratch = NULL;			/* forward-pass work area, kept between calls */
static size_t scratch_bytes = 0;

/* resolve the model argument (index argno), once per query */
static TfmModel *
call_model(FunctionCallInfo fcinfo, int argno)
{
	CallModel  *cm = (CallModel *) fcinfo->flinfo->fn_extra;
	const char *name = TfmModelName(PG_NARGS() > argno && !PG_ARGISNULL(argno) ? PG_GETARG_TEXT_PP(argno) : NULL);

	if (cm && cm->generation == cache_generation && strcmp(cm->name, name) == 0)
		return cm->model;
	if (cm == NULL)
		cm = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallModel));
	cm->model = TfmModelGet(name);
	cm->generation = cache_generation;
	strlcpy(cm->name, name, sizeof(cm->name));
	return cm->model;
}

/* tokenize a text value with a model's tokenizer; palloc'd ids */
static int32 *
tokenize(TfmModel *m, text *t, int *n)
{
	char	   *s = VARDATA_ANY(t);
	size_t		len = VARSIZE_ANY_EXHDR(t);
	int32	   *ids, *out;
	size_t		bad = 0;
	int			rc;

	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		s = pg_server_to_any(s, len, PG_UTF8);
		len = strlen(s);
	}
	rc = TfmTokenize(m->vocab, s, len, &ids, n, &bad);
	if (rc == TFM_TOK_EUTF8)
		ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						errmsg("input is not valid UTF-8 at byte %zu", bad),
						errhint("pg_tfm models read UTF-8 text; in a SQL_ASCII database store UTF-8 or convert it first.")));
	if (rc != 0)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
						errmsg("out of memory while tokenizing %zu bytes", len)));
	out = palloc_extended(sizeof(int32) * Max(*n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (out)
		memcpy(out, ids, sizeof(int32) * *n);
	free(ids);
	if (out == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory for %d token ids", *n)));
	return out;
}

/* tfm_tokenize(input, model): ids with special tokens, untruncated */
Datum
tfm_tokenize(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	int32	   *ids;
	int			n;
	Datum	   *d;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = call_model(fcinfo, 1);
	ids = tokenize(m, PG_GETARG_TEXT_PP(0), &n);
	d = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

/* stop between layers when the query is cancelled */
static void
check_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* grow the kept scratch area to at least bytes */
static float *
get_scratch(size_t bytes)
{
	if (bytes > scratch_bytes)
	{
		if (scratch)
			pfree(scratch);
		scratch = NULL;
		scratch_bytes = 0;
		scratch = MemoryContextAllocExtended(TopMemoryContext, bytes, MCXT_ALLOC_HUGE);
		scratch_bytes = bytes;
	}
	return scratch;
}

/* embed one sequence of ids (already truncated) into out (C) */
static void
embed_ids(float *out, TfmModel *m, const int32 *ids, int T)
{
	size_t		hid = sizeof(float) * (size_t) T * m->cfg.hidden;
	size_t		need = add_size(MAXALIGN(hid), TfmBertScratchBytes(&m->cfg, 1, T));
	float	   *buf = get_scratch(need);
	float	   *hidden = buf;
	float	   *work = (float *) ((char *) buf + MAXALIGN(hid));
	int			lens[1] = {T};

	bert_forward(hidden, &m->cfg, &m->w, ids, lens, 1, T, work, check_interrupts);
	TfmPool(out, hidden, lens, 1, T, m->cfg.hidden, m->opt.pooling, m->opt.normalize);
}

/* tfm_embed(input, model): sentence embedding as real[] */
Datum
tfm_embed(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	int32	   *ids;
	int			n, C;
	float	   *out;
	Datum	   *d;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = call_model(fcinfo, 1);
	ids = tokenize(m, PG_GETARG_TEXT_PP(0), &n);
	if (n > m->opt.max_tokens)
	{
		/* keep the first max_tokens-1 tokens and the closing [SEP] */
		ids[m->opt.max_tokens - 1] = ids[n - 1];
		n = m->opt.max_tokens;
	}
	C = m->cfg.hidden;
	out = palloc(sizeof(float) * C);
	embed_ids(out, m, ids, n);
	d = palloc(sizeof(Datum) * C);
	for (int i = 0; i < C; i++)
		d[i] = Float4GetDatum(out[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, C, FLOAT4OID, 4, true, TYPALIGN_INT));
}

/* tfm_drop(name): remove every version of a model */
Datum
tfm_drop(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT bool_and(owner = current_user) FROM tfm.model WHERE name = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	if (SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), isnull)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model \"%s\" does not exist", name)));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !superuser())
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of model \"%s\"", name)));
	if (SPI_execute_with_args("DELETE FROM tfm.model WHERE name = $1 RETURNING id",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not delete from tfm.model");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		TfmCacheForget(id);
		TfmCacheFileRemove(id);
	}
	cache_generation++;
	SPI_finish();
	PG_RETURN_VOID();
}

/* tfm_cache(): the model versions this backend has mapped */
Datum
tfm_cache(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (TfmModel *m = TfmCacheList(); m; m = m->next)
	{
		Datum		v[6];
		bool		nulls[6] = {0};

		v[0] = Int64GetDatum(m->id);
		v[1] = CStringGetTextDatum(m->name);
		v[2] = CStringGetTextDatum(m->sha256);
		v[3] = CStringGetTextDatum(m->map.path);
		v[4] = Int64GetDatum((int64) m->map.size);
		v[5] = Int64GetDatum(m->hits);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}
