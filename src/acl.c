/* acl.c: who may use, create, replace and grant a model; catalog reads and writes as the extension owner */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "acl.h"

PG_FUNCTION_INFO_V1(tfm_grant);
PG_FUNCTION_INFO_V1(tfm_grant_text);
PG_FUNCTION_INFO_V1(tfm_revoke);
PG_FUNCTION_INFO_V1(tfm_revoke_text);
PG_FUNCTION_INFO_V1(tfm_has_usage);
PG_FUNCTION_INFO_V1(tfm_reassign_owned);

/* oid of the catalog table tfm.model */
static Oid
model_relid(void)
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

/* the role owning tfm.model (the extension's owner): the catalog is read and written as it */
static Oid
catalog_owner(void)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(model_relid()));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for table tfm.model");
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * search_path pg_catalog, pg_temp until TfmSafePathEnd (or the (sub)transaction's abort): functions and
 * operators resolve in pg_catalog only (pg_temp is never searched for them), tables and types in
 * pg_catalog first; nothing a role created in a schema on the caller's path can run. Every SQL
 * statement pg_tfm writes itself runs inside this (directly or through TfmAsOwnerBegin); only the
 * caller's own query of tfm_train/tfm_evaluate runs with the caller's path. Returns the nest level.
 */
int
TfmSafePathBegin(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* back to the caller's search_path */
void
TfmSafePathEnd(int nest)
{
	AtEOXact_GUC(false, nest);
}

/*
 * switch to the extension owner with the safe search_path of TfmSafePathBegin for pg_tfm's own fixed
 * queries on its tables; never around user SQL
 */
void
TfmAsOwnerBegin(TfmOwnerScope *s)
{
	Oid			owner = catalog_owner();

	GetUserIdAndSecContext(&s->user, &s->sec);
	SetUserIdAndSecContext(owner, s->sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	s->nest = TfmSafePathBegin();
}

/* back to the caller's rights and search_path */
void
TfmAsOwnerEnd(TfmOwnerScope *s)
{
	TfmSafePathEnd(s->nest);
	SetUserIdAndSecContext(s->user, s->sec);
}

/* whether tfm.model.owner is a regrole (0.2.0) rather than the role name of 0.1.0 (before ALTER EXTENSION UPDATE) */
static bool
owner_is_oid(void)
{
	Oid			rel = model_relid();

	return get_atttype(rel, get_attnum(rel, "owner")) == REGROLEOID;
}

/* SQL for the owner's oid of the tfm.model row aliased m (NULL for a 0.1.0 name no role has) */
const char *
TfmOwnerOidSql(void)
{
	return owner_is_oid() ? "m.owner::pg_catalog.oid" :
		"(SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = m.owner)";
}

/* SQL for the value of the owner column from the oid parameter $param */
char *
TfmOwnerValueSql(int param)
{
	return psprintf(owner_is_oid() ? "$%d::pg_catalog.regrole" : "pg_catalog.pg_get_userbyid($%d)", param);
}

/* whether a role with this oid exists */
static bool
role_exists(Oid roleid)
{
	return OidIsValid(roleid) && SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(roleid));
}

/* a role's name for messages; "unknown (OID=n)" for a dropped role, as pg_get_userbyid says */
const char *
TfmRoleName(Oid roleid)
{
	char	   *n = OidIsValid(roleid) ? GetUserNameFromId(roleid, true) : NULL;

	return n ? n : psprintf("unknown (OID=%u)", roleid);
}

/*
 * whether roleid owns a model whose owner column holds the role oid owner: superusers, the owner and
 * its members do. A dropped owner's models are left to superusers; a role created later under the
 * same name has another oid and owns nothing
 */
bool
TfmIsModelOwner(Oid roleid, Oid owner)
{
	return superuser_arg(roleid) || (role_exists(owner) && has_privs_of_role(roleid, owner));
}

/* whether roleid may use a model: owner, superuser, PUBLIC, or a role it has the privileges of */
static bool
may_use(Oid roleid, Oid owner, bool public_usage, Datum grantees, bool grantees_null)
{
	Datum	   *g;
	int			n;

	if (public_usage || TfmIsModelOwner(roleid, owner))
		return true;
	if (grantees_null)
		return false;
	deconstruct_array(DatumGetArrayTypeP(grantees), OIDOID, sizeof(Oid), true, TYPALIGN_INT, &g, NULL, &n);
	for (int i = 0; i < n; i++)
		if (role_exists(DatumGetObjectId(g[i])) && has_privs_of_role(roleid, DatumGetObjectId(g[i])))
			return true;
	return false;
}

/* error 42501 unless roleid may use the model (grantees: oid[] of tfm.model_acl, or null) */
void
TfmCheckUsage(Oid roleid, const char *name, Oid owner, bool public_usage, Datum grantees, bool grantees_null)
{
	if (!may_use(roleid, owner, public_usage, grantees, grantees_null))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied for model \"%s\"", name),
						errhint("The model's owner can allow it with tfm_grant('%s', role).", name)));
}

/*
 * the owner (role oid) of a model's newest version; *exists false when no version exists (connected to
 * SPI, as the extension owner)
 */
static Oid
current_owner(const char *name, bool *exists)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args(psprintf("SELECT %s FROM tfm.model m WHERE m.name = $1 ORDER BY m.version DESC LIMIT 1",
									   TfmOwnerOidSql()),
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	*exists = SPI_processed > 0;
	if (SPI_processed == 0)
		return InvalidOid;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/* whether roleid may create models: superuser, CREATE on schema tfm, or (as in 0.1.0) INSERT on tfm.model */
static bool
may_create(Oid roleid)
{
	return superuser_arg(roleid) ||
		pg_namespace_aclcheck(get_namespace_oid("tfm", false), roleid, ACL_CREATE) == ACLCHECK_OK ||
		pg_class_aclcheck(model_relid(), roleid, ACL_INSERT) == ACLCHECK_OK;
}

/*
 * refuse to write a version of name unless the current user owns the name, or may create models and
 * the name is new; returns the owner the new version records (the name's owner, else the current user)
 */
Oid
TfmCheckCreate(const char *name)
{
	Oid			me = GetUserId();
	TfmOwnerScope s;
	Oid			owner;
	bool		exists;

	TfmAsOwnerBegin(&s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	owner = current_owner(name, &exists);
	SPI_finish();
	TfmAsOwnerEnd(&s);
	if (exists && !TfmIsModelOwner(me, owner))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of model \"%s\" to add a version", name),
						errdetail("Model \"%s\" belongs to role \"%s\".", name, TfmRoleName(owner))));
	if (!exists && !may_create(me))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to create model \"%s\"", name),
						errhint("Superusers and roles with CREATE on schema tfm may create models: GRANT CREATE ON SCHEMA tfm TO role.")));
	/* a dropped owner's name goes to the superuser adding a version */
	return exists && role_exists(owner) ? owner : me;
}

/* forget the rights of a name no version holds any more (the first version of a name starts afresh) */
void
TfmForgetStaleRights(const char *name)
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

/* grant (or revoke) the use of a model to roleid (InvalidOid: PUBLIC); owner or superuser only */
static void
change_usage(text *model, Oid roleid, bool grant)
{
	char	   *name = text_to_cstring(model);
	Oid			me = GetUserId();
	Oid			types[3] = {TEXTOID, OIDOID, BOOLOID};
	Datum		args[3] = {CStringGetTextDatum(name), ObjectIdGetDatum(roleid), BoolGetDatum(grant)};
	TfmOwnerScope s;
	Oid			owner;
	bool		exists;

	if (!TfmAclReady())
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("per-model rights need pg_tfm 0.2.0"),
						errhint("Run ALTER EXTENSION pg_tfm UPDATE.")));
	TfmAsOwnerBegin(&s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	owner = current_owner(name, &exists);
	if (!exists)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model \"%s\" does not exist", name)));
	if (!TfmIsModelOwner(me, owner))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of model \"%s\"", name),
						errdetail("Model \"%s\" belongs to role \"%s\".", name, TfmRoleName(owner))));
	if (grant && OidIsValid(roleid) && !role_exists(roleid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("role with OID %u does not exist", roleid)));
	if (SPI_execute_with_args("INSERT INTO tfm.model_acl (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_execute_with_args(OidIsValid(roleid) ?
							  "UPDATE tfm.model_acl SET grantees = pg_catalog.array_remove(grantees, $2::regrole) || "
							  "CASE WHEN $3 THEN ARRAY[$2::regrole] ELSE '{}' END WHERE name = $1" :
							  "UPDATE tfm.model_acl SET public = $3 WHERE name = $1",
							  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model_acl");
	TfmSyncRoleMarkers();
	SPI_finish();
	TfmAsOwnerEnd(&s);
}

/* a role argument given as text: 'public' (any case) is PUBLIC, else a role name as regrole reads it */
static Oid
role_from_text(text *t)
{
	char	   *r = text_to_cstring(t);

	if (pg_strcasecmp(r, "public") == 0)
		return InvalidOid;
	return DatumGetObjectId(DirectFunctionCall1(regrolein, CStringGetDatum(r)));
}

/* tfm_grant(model text, role regrole): let role (and its members) use every version of model */
Datum
tfm_grant(PG_FUNCTION_ARGS)
{
	change_usage(PG_GETARG_TEXT_PP(0), PG_GETARG_OID(1), true);
	PG_RETURN_VOID();
}

/* tfm_grant(model text, role text): role may be 'public' */
Datum
tfm_grant_text(PG_FUNCTION_ARGS)
{
	change_usage(PG_GETARG_TEXT_PP(0), role_from_text(PG_GETARG_TEXT_PP(1)), true);
	PG_RETURN_VOID();
}

/* tfm_revoke(model text, role regrole): take back what tfm_grant gave role */
Datum
tfm_revoke(PG_FUNCTION_ARGS)
{
	change_usage(PG_GETARG_TEXT_PP(0), PG_GETARG_OID(1), false);
	PG_RETURN_VOID();
}

/* tfm_revoke(model text, role text): role may be 'public' */
Datum
tfm_revoke_text(PG_FUNCTION_ARGS)
{
	change_usage(PG_GETARG_TEXT_PP(0), role_from_text(PG_GETARG_TEXT_PP(1)), false);
	PG_RETURN_VOID();
}

/* tfm_has_usage(model text, role regrole): whether role may use model (NULL for an unknown model) */
Datum
tfm_has_usage(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {PointerGetDatum(PG_GETARG_TEXT_PP(0))};
	Oid			roleid = PG_ARGISNULL(1) ? GetUserId() : PG_GETARG_OID(1);
	TfmOwnerScope s;
	bool		isnull, gnull, result;
	Oid			owner;
	Datum		grantees;
	HeapTuple	tup;
	TupleDesc	td;

	TfmAsOwnerBegin(&s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(psprintf("SELECT %s, coalesce(a.public, true), a.grantees::oid[] FROM tfm.model m "
									   "LEFT JOIN tfm.model_acl a ON a.name = m.name WHERE m.name = $1 "
									   "ORDER BY m.version DESC LIMIT 1", TfmOwnerOidSql()),
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	if (SPI_processed == 0)
	{
		SPI_finish();
		TfmAsOwnerEnd(&s);
		PG_RETURN_NULL();
	}
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	owner = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
	owner = isnull ? InvalidOid : owner;
	grantees = SPI_getbinval(tup, td, 3, &gnull);
	result = may_use(roleid, owner, DatumGetBool(SPI_getbinval(tup, td, 2, &isnull)), grantees, gnull);
	SPI_finish();
	TfmAsOwnerEnd(&s);
	PG_RETURN_BOOL(result);
}

/* run sync_marker's query q on tfm.<view>: how many roles' SELECT must change (the rows in SPI_tuptable) */
static uint64
marker_changes(const char *q, const char *view)
{
	if (SPI_execute(q, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the privileges of tfm.%s", view);
	return SPI_processed;
}

/*
 * grant (or revoke) SELECT on the marker view tfm.<view> so that exactly the existing roles listed by
 * want_sql (one column of role oids) hold it, the extension owner aside (connected to SPI, as the
 * extension owner). pg_shdepend records the privilege: DROP ROLE fails while a role holds it
 */
static void
sync_marker(const char *view, const char *want_sql)
{
	Oid			viewid = get_relname_relid(view, get_namespace_oid("tfm", false));
	char	   *q;
	int			n;
	char	  **roles;
	bool	   *grant;

	if (!OidIsValid(viewid))
		return;					/* pg_tfm 0.1.0's catalog: no markers */
	q = psprintf("WITH want AS (SELECT DISTINCT w.r::pg_catalog.oid AS r FROM (%s) w(r) "
				 "                WHERE EXISTS (SELECT FROM pg_catalog.pg_roles o WHERE o.oid = w.r::pg_catalog.oid)), "
				 "v AS (SELECT c.relowner, c.relacl FROM pg_catalog.pg_class c WHERE c.oid = %u::pg_catalog.oid), "
				 "have AS (SELECT a.grantee AS r FROM v, pg_catalog.aclexplode(v.relacl) a "
				 "         WHERE a.privilege_type = 'SELECT' AND a.grantee <> v.relowner AND a.grantee <> 0::pg_catalog.oid) "
				 "SELECT pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(coalesce(want.r, have.r))), want.r IS NOT NULL "
				 "FROM want FULL JOIN have ON want.r = have.r, v "
				 "WHERE (want.r IS NULL OR have.r IS NULL) AND coalesce(want.r, have.r) <> v.relowner",
				 want_sql, viewid);
	if (marker_changes(q, view) == 0)
		return;
	/* serialize changes of the view's ACL (concurrent GRANTs fail), then look again */
	LockRelationOid(viewid, ShareUpdateExclusiveLock);
	if (marker_changes(q, view) == 0)
		return;
	n = (int) SPI_processed;
	roles = palloc(sizeof(char *) * n);
	grant = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		roles[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		grant[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	for (int i = 0; i < n; i++)
		if (SPI_execute(psprintf(grant[i] ? "GRANT SELECT ON tfm.%s TO %s" : "REVOKE SELECT ON tfm.%s FROM %s",
								 quote_identifier(view), roles[i]), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not change the privileges of tfm.%s", view);
}

/*
 * after a change of owners or grants (connected to SPI, as the extension owner): models of dropped
 * roles go to the extension owner, grants to dropped roles are forgotten, and the marker views'
 * privileges follow who owns models and who holds grants
 */
void
TfmSyncRoleMarkers(void)
{
	if (!owner_is_oid())
		return;
	if (SPI_execute("UPDATE tfm.model m SET owner = c.relowner::pg_catalog.regrole FROM pg_catalog.pg_class c "
					"WHERE c.oid = 'tfm.model'::pg_catalog.regclass "
					"AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = m.owner::pg_catalog.oid)",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model");
	sync_marker("owner_of_models", "SELECT m.owner FROM tfm.model m");
	if (!TfmAclReady())
		return;
	if (SPI_execute("UPDATE tfm.model_acl a SET grantees = ARRAY(SELECT g FROM pg_catalog.unnest(a.grantees) "
					"WITH ORDINALITY u(g, i) WHERE EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = u.g::pg_catalog.oid) "
					"ORDER BY u.i) "
					"WHERE EXISTS (SELECT FROM pg_catalog.unnest(a.grantees) g "
					"              WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = g::pg_catalog.oid))",
					false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model_acl");
	sync_marker("grantee_of_models", "SELECT pg_catalog.unnest(a.grantees) FROM tfm.model_acl a");
}

/*
 * tfm_reassign_owned(old_role regrole, new_role regrole): every version of every model old_role owns
 * now belongs to new_role; superuser or a role with the privileges of both (as REASSIGN OWNED).
 * old_role may be the oid of a dropped role. Returns the number of versions that changed owner
 */
Datum
tfm_reassign_owned(PG_FUNCTION_ARGS)
{
	Oid			from = PG_GETARG_OID(0), to = PG_GETARG_OID(1);
	Oid			me = GetUserId();
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		args[2] = {ObjectIdGetDatum(from), ObjectIdGetDatum(to)};
	TfmOwnerScope s;
	uint64		n;

	PreventCommandIfReadOnly("tfm_reassign_owned()");
	if (!role_exists(to))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("role with OID %u does not exist", to)));
	if (!superuser_arg(me) && !(role_exists(from) && has_privs_of_role(me, from) && has_privs_of_role(me, to)))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to reassign the models of role \"%s\"", TfmRoleName(from)),
						errdetail("Only superusers and roles with the privileges of both \"%s\" and \"%s\" may.",
								  TfmRoleName(from), TfmRoleName(to))));
	if (!owner_is_oid())
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("tfm_reassign_owned needs pg_tfm 0.2.0"),
						errhint("Run ALTER EXTENSION pg_tfm UPDATE.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TfmAsOwnerBegin(&s);
	if (SPI_execute_with_args("UPDATE tfm.model m SET owner = $2::pg_catalog.regrole WHERE m.owner::pg_catalog.oid = $1",
							  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model");
	n = SPI_processed;
	TfmSyncRoleMarkers();
	TfmAsOwnerEnd(&s);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
