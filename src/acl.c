/* acl.c: who may use, create, replace and grant a model; catalog reads and writes as the extension owner */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
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

/* whether roleid owns a model whose owner column says owner (superusers and members of the owner do) */
bool
TfmIsModelOwner(Oid roleid, const char *owner)
{
	Oid			o = owner ? get_role_oid(owner, true) : InvalidOid;

	return superuser_arg(roleid) || (OidIsValid(o) && has_privs_of_role(roleid, o));
}

/* whether roleid may use a model: owner, superuser, PUBLIC, or a role it has the privileges of */
static bool
may_use(Oid roleid, const char *owner, bool public_usage, Datum grantees, bool grantees_null)
{
	Datum	   *g;
	int			n;

	if (public_usage || TfmIsModelOwner(roleid, owner))
		return true;
	if (grantees_null)
		return false;
	deconstruct_array(DatumGetArrayTypeP(grantees), OIDOID, sizeof(Oid), true, TYPALIGN_INT, &g, NULL, &n);
	for (int i = 0; i < n; i++)
		if (has_privs_of_role(roleid, DatumGetObjectId(g[i])))
			return true;
	return false;
}

/* error 42501 unless roleid may use the model (grantees: oid[] of tfm.model_acl, or null) */
void
TfmCheckUsage(Oid roleid, const char *name, const char *owner, bool public_usage, Datum grantees, bool grantees_null)
{
	if (!may_use(roleid, owner, public_usage, grantees, grantees_null))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied for model \"%s\"", name),
						errhint("The model's owner can allow it with tfm_grant('%s', role).", name)));
}

/* the owner column of a model's newest version, or NULL when no version exists (connected to SPI) */
static char *
current_owner(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};

	if (SPI_execute_with_args("SELECT owner::text FROM tfm.model WHERE name = $1 ORDER BY version DESC LIMIT 1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	return SPI_processed == 0 ? NULL : SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
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
char *
TfmCheckCreate(const char *name)
{
	Oid			me = GetUserId();
	MemoryContext cxt = CurrentMemoryContext;
	TfmOwnerScope s;
	char	   *owner;

	TfmAsOwnerBegin(&s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	owner = current_owner(name);
	owner = owner ? MemoryContextStrdup(cxt, owner) : NULL;
	SPI_finish();
	TfmAsOwnerEnd(&s);
	if (owner && !TfmIsModelOwner(me, owner))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of model \"%s\" to add a version", name),
						errdetail("Model \"%s\" belongs to role \"%s\".", name, owner)));
	if (!owner && !may_create(me))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to create model \"%s\"", name),
						errhint("Superusers and roles with CREATE on schema tfm may create models: GRANT CREATE ON SCHEMA tfm TO role.")));
	return owner ? owner : GetUserNameFromId(me, false);
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
	char	   *owner;

	if (!TfmAclReady())
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("per-model rights need pg_tfm 0.2.0"),
						errhint("Run ALTER EXTENSION pg_tfm UPDATE.")));
	TfmAsOwnerBegin(&s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	owner = current_owner(name);
	if (owner == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model \"%s\" does not exist", name)));
	if (!TfmIsModelOwner(me, owner))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of model \"%s\"", name),
						errdetail("Model \"%s\" belongs to role \"%s\".", name, owner)));
	if (SPI_execute_with_args("INSERT INTO tfm.model_acl (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_execute_with_args(OidIsValid(roleid) ?
							  "UPDATE tfm.model_acl SET grantees = pg_catalog.array_remove(grantees, $2::regrole) || "
							  "CASE WHEN $3 THEN ARRAY[$2::regrole] ELSE '{}' END WHERE name = $1" :
							  "UPDATE tfm.model_acl SET public = $3 WHERE name = $1",
							  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update tfm.model_acl");
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
	char	   *owner;
	Datum		grantees;
	HeapTuple	tup;
	TupleDesc	td;

	TfmAsOwnerBegin(&s);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT m.owner::text, coalesce(a.public, true), a.grantees::oid[] FROM tfm.model m "
							  "LEFT JOIN tfm.model_acl a ON a.name = m.name WHERE m.name = $1 "
							  "ORDER BY m.version DESC LIMIT 1", 1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tfm.model");
	if (SPI_processed == 0)
	{
		SPI_finish();
		TfmAsOwnerEnd(&s);
		PG_RETURN_NULL();
	}
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	owner = SPI_getvalue(tup, td, 1);
	grantees = SPI_getbinval(tup, td, 3, &gnull);
	result = may_use(roleid, owner, DatumGetBool(SPI_getbinval(tup, td, 2, &isnull)), grantees, gnull);
	SPI_finish();
	TfmAsOwnerEnd(&s);
	PG_RETURN_BOOL(result);
}
