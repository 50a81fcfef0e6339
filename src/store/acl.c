/* acl.c: who may use, create, replace and grant a model; catalog reads and writes as the extension owner
 * (the statements themselves are catalog.c's) */
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

#include "store/acl.h"
#include "store/catalog.h"

PG_FUNCTION_INFO_V1(tfm_grant);
PG_FUNCTION_INFO_V1(tfm_grant_text);
PG_FUNCTION_INFO_V1(tfm_revoke);
PG_FUNCTION_INFO_V1(tfm_revoke_text);
PG_FUNCTION_INFO_V1(tfm_has_usage);
PG_FUNCTION_INFO_V1(tfm_reassign_owned);

/* the role owning tfm.model (the extension's owner): the catalog is read and written as it */
static Oid
catalog_owner(void)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(TfmCatalogRelid()));
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

/* whether roleid may create models: superuser, CREATE on schema tfm, or (as in 0.1.0) INSERT on tfm.model */
static bool
may_create(Oid roleid)
{
	return superuser_arg(roleid) ||
		pg_namespace_aclcheck(get_namespace_oid("tfm", false), roleid, ACL_CREATE) == ACLCHECK_OK ||
		pg_class_aclcheck(TfmCatalogRelid(), roleid, ACL_INSERT) == ACLCHECK_OK;
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
	exists = TfmCatalogOwner(name, &owner);
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

/* grant (or revoke) the use of a model to roleid (InvalidOid: PUBLIC); owner or superuser only */
static void
change_usage(text *model, Oid roleid, bool grant)
{
	char	   *name = text_to_cstring(model);
	Oid			me = GetUserId();
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
	exists = TfmCatalogOwner(name, &owner);
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
	TfmCatalogSetUsage(name, roleid, grant);
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
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			roleid = PG_ARGISNULL(1) ? GetUserId() : PG_GETARG_OID(1);
	TfmOwnerScope s;
	TfmModelAcl acl;
	bool		exists, result = false;

	TfmAsOwnerBegin(&s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	exists = TfmCatalogAcl(name, &acl);
	if (exists)
		result = may_use(roleid, acl.owner, acl.public_usage, acl.grantees, acl.grantees_null);
	SPI_finish();
	TfmAsOwnerEnd(&s);
	if (!exists)
		PG_RETURN_NULL();
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
	if (!TfmCatalogOwnerIsOid())
		return;
	TfmCatalogOrphansToOwner();
	sync_marker("owner_of_models", TFM_SQL_MODEL_OWNERS);
	if (!TfmAclReady())
		return;
	TfmCatalogForgetDroppedGrantees();
	sync_marker("grantee_of_models", TFM_SQL_MODEL_GRANTEES);
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
	if (!TfmCatalogOwnerIsOid())
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("tfm_reassign_owned needs pg_tfm 0.2.0"),
						errhint("Run ALTER EXTENSION pg_tfm UPDATE.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TfmAsOwnerBegin(&s);
	n = TfmCatalogReassign(from, to);
	TfmSyncRoleMarkers();
	TfmAsOwnerEnd(&s);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}
