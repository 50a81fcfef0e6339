/*
 * catalog.c: every SQL statement on tfm.model, tfm.model_acl and tfm.model_data but cachefile.c's
 * (see catalog.h). Rows are read by column name, into structs filled here only; every statement names
 * its tables and functions with their schema, so it means the same under any search_path.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "store/catalog.h"


/* oid of the catalog table tfm.model */
Oid
TfmCatalogRelid(void)
{
	Oid			rel = get_relname_relid("model", get_namespace_oid("tfm", false));

	if (!OidIsValid(rel))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
						errmsg("table tfm.model does not exist"),
						errhint("CREATE EXTENSION pg_tfm installs it.")));
	return rel;
}

/* whether tfm.model_acl exists (not before ALTER EXTENSION pg_tfm UPDATE from 0.1.0: all models public) */
bool
TfmAclReady(void)
{
	return OidIsValid(get_relname_relid("model_acl", get_namespace_oid("tfm", false)));
}

/* whether tfm.model.owner is a regrole (0.2.0) rather than the role name of 0.1.0 (before ALTER EXTENSION UPDATE) */
bool
TfmCatalogOwnerIsOid(void)
{
	Oid			rel = TfmCatalogRelid();

	return get_atttype(rel, get_attnum(rel, "owner")) == REGROLEOID;
}

/* SQL for the owner's oid of the tfm.model row aliased m (NULL for a 0.1.0 name no role has) */
static const char *
owner_oid_sql(void)
{
	return TfmCatalogOwnerIsOid() ? "m.owner::pg_catalog.oid" :
		"(SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = m.owner)";
}

/* SQL for the value of the owner column from the oid parameter $param */
static char *
owner_value_sql(int param)
{
	return psprintf(TfmCatalogOwnerIsOid() ? "$%d::pg_catalog.regrole" : "pg_catalog.pg_get_userbyid($%d)", param);
}

/* the rights columns owner, public, grantees of the tfm.model row m (joined to tfm.model_acl a by acl_join) */
static char *
acl_columns(void)
{
	return psprintf("%s AS owner, %s", owner_oid_sql(),
					TfmAclReady() ? "coalesce(a.public, true) AS public, a.grantees::pg_catalog.oid[] AS grantees" :
					"true AS public, NULL::pg_catalog.oid[] AS grantees");
}

/* the join acl_columns reads tfm.model_acl through */
static const char *
acl_join(void)
{
	return TfmAclReady() ? "LEFT JOIN tfm.model_acl a ON a.name = m.name" : "";
}

/* column `name` of a result row */
static Datum
col(HeapTuple tup, TupleDesc td, const char *name, bool *isnull)
{
	int			n = SPI_fnumber(td, name);

	if (n <= 0)
		elog(ERROR, "catalog query has no column \"%s\"", name);
	return SPI_getbinval(tup, td, n, isnull);
}

/* text column `name` of a result row as a C string, NULL for null */
static char *
col_text(HeapTuple tup, TupleDesc td, const char *name)
{
	bool		isnull;
	Datum		d = col(tup, td, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* jsonb column `name` of a result row, NULL for null */
static Jsonb *
col_jsonb(HeapTuple tup, TupleDesc td, const char *name)
{
	bool		isnull;
	Datum		d = col(tup, td, name, &isnull);

	return isnull ? NULL : DatumGetJsonbP(d);
}

/* the rights columns (acl_columns) of a result row */
static void
read_acl(TfmModelAcl *acl, HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	Datum		d = col(tup, td, "owner", &isnull);

	acl->owner = isnull ? InvalidOid : DatumGetObjectId(d);
	d = col(tup, td, "public", &isnull);
	acl->public_usage = !isnull && DatumGetBool(d);
	acl->grantees = col(tup, td, "grantees", &acl->grantees_null);
}

/* C strings of a text[] datum */
static char **
text_array(Datum d, int *n)
{
	Datum	   *elems;
	char	  **out;

	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = TextDatumGetCString(elems[i]);
	return out;
}

/* an int8[] datum of n values */
static Datum
int8_array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* a text[] datum of n C strings */
static Datum
text_array_datum(char **v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* fill r from a row of TfmCatalogModelRow's query */
static void
fill_row(TfmModelRow *r, HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	Datum		d;
	Datum	   *ids;

	r->id = DatumGetInt64(col(tup, td, "id", &isnull));
	r->version = DatumGetInt32(col(tup, td, "version", &isnull));
	r->task = col_text(tup, td, "task");
	r->sha256 = col_text(tup, td, "sha256");
	r->options = col_jsonb(tup, td, "options");
	d = col(tup, td, "labels", &isnull);
	r->labels = isnull ? NULL : text_array(d, &r->nlabels);
	d = col(tup, td, "head", &isnull);
	r->head = isnull ? NULL : DatumGetByteaPP(d);
	r->encoder_id = DatumGetInt64(col(tup, td, "encoder_id", &isnull));
	r->enc_sha256 = col_text(tup, td, "enc_sha256");
	r->architecture = col_text(tup, td, "architecture");
	r->config = col_jsonb(tup, td, "config");
	r->cache_key = col_text(tup, td, "cache_key");
	d = col(tup, td, "alive", &isnull);
	r->nalive = 0;
	if (!isnull)
	{
		deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &ids, NULL, &r->nalive);
		r->alive = palloc(sizeof(int64) * Max(r->nalive, 1));
		for (int i = 0; i < r->nalive; i++)
			r->alive[i] = DatumGetInt64(ids[i]);
	}
	read_acl(&r->acl, tup, td);
}

/*
 * the newest version of name with its encoder's row and its rights, and which of the ncached ids still
 * exist; false when no version exists
 */
bool
TfmCatalogModelRow(TfmModelRow *r, const char *name, const int64 *cached, int ncached)
{
	Oid			argtypes[2] = {TEXTOID, INT8ARRAYOID};
	Datum		args[2] = {CStringGetTextDatum(name), int8_array(cached, ncached)};

	if (SPI_execute_with_args(psprintf("SELECT m.id, m.version, m.task, m.sha256, m.options, m.labels, m.head, "
									   "e.id AS encoder_id, e.sha256 AS enc_sha256, e.architecture, e.config, "
									   "e.cache_key::pg_catalog.text AS cache_key, "
									   "(SELECT pg_catalog.array_agg(c.id) FROM tfm.model c WHERE c.id = ANY($2)) AS alive, %s "
									   "FROM tfm.model m JOIN tfm.model e ON e.id = coalesce(m.encoder_id, m.id) %s "
									   "WHERE m.name = $1 ORDER BY m.version DESC LIMIT 1", acl_columns(), acl_join()),
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	if (SPI_processed == 0)
		return false;
	fill_row(r, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	return true;
}

/* the owner (role oid) of a model's newest version into *owner; false when no version exists */
bool
TfmCatalogOwner(const char *name, Oid *owner)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Datum		d;

	*owner = InvalidOid;
	if (SPI_execute_with_args(psprintf("SELECT %s AS owner FROM tfm.model m WHERE m.name = $1 ORDER BY m.version DESC LIMIT 1",
									   owner_oid_sql()),
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	if (SPI_processed == 0)
		return false;
	d = col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, "owner", &isnull);
	*owner = isnull ? InvalidOid : DatumGetObjectId(d);
	return true;
}

/* the rights of a model's newest version; false when no version exists */
bool
TfmCatalogAcl(const char *name, TfmModelAcl *acl)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};

	if (SPI_execute_with_args(psprintf("SELECT %s FROM tfm.model m %s WHERE m.name = $1 ORDER BY m.version DESC LIMIT 1",
									   acl_columns(), acl_join()),
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	if (SPI_processed == 0)
		return false;
	read_acl(acl, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	return true;
}

/* the owners of every version of name, newest first (InvalidOid for a 0.1.0 name no role has) */
Oid *
TfmCatalogOwners(const char *name, int *n)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	Oid		   *owners;

	if (SPI_execute_with_args(psprintf("SELECT %s AS owner FROM tfm.model m WHERE m.name = $1 ORDER BY m.version DESC",
									   owner_oid_sql()),
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	*n = (int) SPI_processed;
	owners = palloc(sizeof(Oid) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;
		Datum		d = col(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, "owner", &isnull);

		owners[i] = isnull ? InvalidOid : DatumGetObjectId(d);
	}
	return owners;
}

/* insert a new version of v->name recording owner (the next version number) and its weights; returns its id */
int64
TfmCatalogInsert(const TfmNewVersion *v, Oid owner)
{
	Oid			types[18] = {TEXTOID, INT8OID, TEXTOID, TEXTOID, TEXTARRAYOID, INT4OID, INT4OID, INT8OID, TEXTOID,
	JSONBOID, JSONBOID, JSONBOID, JSONBOID, INT8OID, INT8OID, BYTEAOID, JSONBOID, OIDOID};
	Datum		a[18];
	char		nulls[18];
	bool		from = v->from_id > 0;
	bool		isnull;
	bytea	   *head = NULL;
	int64		id;

	memset(nulls, ' ', sizeof(nulls));
	memset(a, 0, sizeof(a));
	a[0] = CStringGetTextDatum(v->name);
	a[1] = Int64GetDatum(v->from_id);
	if (!from)
	{
		a[2] = CStringGetTextDatum(v->architecture);
		a[5] = Int32GetDatum(v->dim);
		a[9] = JsonbPGetDatum(v->config);
		a[10] = JsonbPGetDatum(v->tokenizer);
	}
	else
		nulls[2] = nulls[5] = nulls[9] = nulls[10] = 'n';
	a[3] = CStringGetTextDatum(v->task);
	if (v->labels)
		a[4] = text_array_datum(v->labels, v->nlabels);
	else
		nulls[4] = 'n';
	a[6] = Int32GetDatum(v->max_tokens);
	a[7] = Int64GetDatum(v->params);
	a[8] = CStringGetTextDatum(v->sha256);
	a[11] = JsonbPGetDatum(v->options);
	if (v->metrics)
		a[12] = JsonbPGetDatum(v->metrics);
	else
		nulls[12] = 'n';
	a[13] = Int64GetDatum(v->base_id);
	nulls[13] = v->base_id > 0 ? ' ' : 'n';
	a[14] = Int64GetDatum(v->encoder_id);
	nulls[14] = v->encoder_id > 0 ? ' ' : 'n';
	if (v->head)
	{
		head = palloc(VARHDRSZ + v->head_bytes);
		SET_VARSIZE(head, VARHDRSZ + v->head_bytes);
		memcpy(VARDATA(head), v->head, v->head_bytes);
		a[15] = PointerGetDatum(head);
	}
	else
		nulls[15] = 'n';
	if (v->training)
		a[16] = JsonbPGetDatum(v->training);
	else
		nulls[16] = 'n';
	a[17] = ObjectIdGetDatum(owner);
	/* a version built on another (a trained head) takes its architecture, shape and tokenizer from it */
	if (SPI_execute_with_args(psprintf("INSERT INTO tfm.model (name, version, architecture, task, labels, dim, max_tokens, "
									   "params, sha256, config, tokenizer, options, metrics, base_id, encoder_id, head, training, owner) "
									   "SELECT $1, coalesce((SELECT pg_catalog.max(p.version) FROM tfm.model p WHERE p.name = $1), 0) + 1, "
									   "%s, $4, $5, %s, $7, %s, $9, %s, %s, $12, $13, $14, $15, $16, $17, %s %s RETURNING id",
									   from ? "e.architecture" : "$3", from ? "e.dim" : "$6", from ? "e.params + $8" : "$8",
									   from ? "e.config" : "$10", from ? "e.tokenizer" : "$11", owner_value_sql(18),
									   from ? "FROM tfm.model e WHERE e.id = $2" : ""),
							  18, types, a, nulls, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
	{
		if (from)
			ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
							errmsg("base model of \"%s\" disappeared during training", v->name)));
		elog(ERROR, "could not insert into tfm.model");
	}
	id = DatumGetInt64(col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, "id", &isnull));
	if (v->weights)
		TfmCatalogStoreChunks(id, v->weights, v->wsize);
	return id;
}

/* insert weights into tfm.model_data in chunks */
void
TfmCatalogStoreChunks(int64 id, const char *weights, uint64 wsize)
{
	Oid			types[3] = {INT8OID, INT4OID, BYTEAOID};

	for (uint64 off = 0, seq = 0; off < wsize; off += TFM_CHUNK_BYTES, seq++)
	{
		uint64		n = Min(wsize - off, (uint64) TFM_CHUNK_BYTES);
		bytea	   *b = palloc(n + VARHDRSZ);
		Datum		args[3] = {Int64GetDatum(id), Int32GetDatum((int32) seq), PointerGetDatum(b)};

		SET_VARSIZE(b, n + VARHDRSZ);
		memcpy(VARDATA(b), weights + off, n);
		CHECK_FOR_INTERRUPTS();
		if (SPI_execute_with_args("INSERT INTO tfm.model_data VALUES ($1, $2, $3)",
								  3, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into tfm.model_data");
		pfree(b);
	}
}

/*
 * the models other than name that use name's encoder, as "model (owner role), ..." sorted, or NULL for
 * none; *foreign: whether me lacks the privileges of one of their owners
 */
char *
TfmCatalogDependents(const char *name, Oid me, bool *foreign)
{
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(me)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args(psprintf("SELECT pg_catalog.string_agg(pg_catalog.format('%%s (owner %%s)', dn, pg_catalog.pg_get_userbyid(downer)), "
									   "', ' ORDER BY dn) AS list, pg_catalog.bool_or(NOT pg_catalog.pg_has_role($2, downer, 'USAGE')) AS others "
									   "FROM (SELECT DISTINCT d.name AS dn, o.owner AS downer FROM tfm.model d "
									   "      JOIN tfm.model b ON d.encoder_id = b.id "
									   "      CROSS JOIN LATERAL (SELECT %s AS owner FROM tfm.model m WHERE m.name = d.name "
									   "                          ORDER BY m.version DESC LIMIT 1) o "
									   "      WHERE b.name = $1 AND d.name <> $1) x",
									   owner_oid_sql()),
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	d = col(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, "others", &isnull);
	*foreign = !isnull && DatumGetBool(d);
	return col_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, "list");
}

/* the models other than name that use name's encoder, sorted, with their owners' names in *owners */
char	  **
TfmCatalogDependentList(const char *name, char ***owners, int *n)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	char	  **dep;

	if (SPI_execute_with_args(psprintf("SELECT x.dn AS name, pg_catalog.pg_get_userbyid(x.downer)::pg_catalog.text AS owner "
									   "FROM (SELECT DISTINCT d.name AS dn, (SELECT %s FROM tfm.model m WHERE m.name = d.name "
									   "      ORDER BY m.version DESC LIMIT 1) AS downer FROM tfm.model d "
									   "      JOIN tfm.model b ON d.encoder_id = b.id WHERE b.name = $1 AND d.name <> $1) x "
									   "ORDER BY x.dn", owner_oid_sql()),
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	*n = (int) SPI_processed;
	dep = palloc(sizeof(char *) * (*n + 1));
	*owners = palloc(sizeof(char *) * (*n + 1));
	for (int i = 0; i < *n; i++)
	{
		dep[i] = col_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, "name");
		(*owners)[i] = col_text(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, "owner");
	}
	return dep;
}

/* delete every version of name and its rights; returns the deleted ids */
int64 *
TfmCatalogDelete(const char *name, int *n)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	int64	   *ids;

	/* versions of the same name may share an encoder: clear the references first */
	if (SPI_execute_with_args("UPDATE tfm.model SET encoder_id = NULL WHERE name = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE ||
		(TfmAclReady() && SPI_execute_with_args("DELETE FROM tfm.model_acl WHERE name = $1",
												 1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE) ||
		SPI_execute_with_args("DELETE FROM tfm.model WHERE name = $1 RETURNING id",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not delete from tfm.model");
	*n = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(col(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, "id", &isnull));
	}
	return ids;
}

/* forget the rights of a name no version holds any more (the first version of a name starts afresh) */
void
TfmCatalogForgetRights(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};

	if (!TfmAclReady())
		return;
	if (SPI_execute_with_args("DELETE FROM tfm.model_acl a WHERE a.name = $1 "
							  "AND NOT EXISTS (SELECT FROM tfm.model m WHERE m.name = $1)",
							  1, types, args, NULL, false, 0) < 0)
		elog(ERROR, "could not update tfm.model_acl");
}

/* record a grant (or revoke) of the use of model name to roleid (InvalidOid: PUBLIC) */
void
TfmCatalogSetUsage(const char *name, Oid roleid, bool grant)
{
	Oid			types[3] = {TEXTOID, OIDOID, BOOLOID};
	Datum		args[3] = {CStringGetTextDatum(name), ObjectIdGetDatum(roleid), BoolGetDatum(grant)};

	if (SPI_execute_with_args("INSERT INTO tfm.model_acl (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_execute_with_args(OidIsValid(roleid) ?
							  "UPDATE tfm.model_acl SET grantees = pg_catalog.array_remove(grantees, $2::pg_catalog.regrole) || "
							  "CASE WHEN $3 THEN ARRAY[$2::pg_catalog.regrole] ELSE '{}' END WHERE name = $1" :
							  "UPDATE tfm.model_acl SET public = $3 WHERE name = $1",
							  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model_acl");
}

/* models of dropped roles go to the extension owner (0.2.0 catalogs) */
void
TfmCatalogOrphansToOwner(void)
{
	if (SPI_execute("UPDATE tfm.model m SET owner = c.relowner::pg_catalog.regrole FROM pg_catalog.pg_class c "
					"WHERE c.oid = 'tfm.model'::pg_catalog.regclass "
					"AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = m.owner::pg_catalog.oid)",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model");
}

/* grants to dropped roles are forgotten */
void
TfmCatalogForgetDroppedGrantees(void)
{
	if (SPI_execute("UPDATE tfm.model_acl a SET grantees = ARRAY(SELECT g FROM pg_catalog.unnest(a.grantees) "
					"WITH ORDINALITY u(g, i) WHERE EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = u.g::pg_catalog.oid) "
					"ORDER BY u.i) "
					"WHERE EXISTS (SELECT FROM pg_catalog.unnest(a.grantees) g "
					"              WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = g::pg_catalog.oid))",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model_acl");
}

/* every version owned by from now belongs to to; returns how many changed */
uint64
TfmCatalogReassign(Oid from, Oid to)
{
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		args[2] = {ObjectIdGetDatum(from), ObjectIdGetDatum(to)};

	if (SPI_execute_with_args("UPDATE tfm.model m SET owner = $2::pg_catalog.regrole WHERE m.owner::pg_catalog.oid = $1",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model");
	return SPI_processed;
}
