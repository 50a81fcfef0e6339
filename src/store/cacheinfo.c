/* cacheinfo.c: tfm_cache_files(), the cache files on disk and how many server processes map each; who may see which sessions */
#include "postgres.h"

#include <dirent.h>
#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "store/cache.h"
#include "store/cachefile.h"

PG_FUNCTION_INFO_V1(tfm_cache_files);

/*
 * pids of this server's backends, workers and auxiliary processes, from the backend status array in C
 * (no SQL: a query here would resolve its function through the caller's search_path)
 */
static List *
server_pids(void)
{
	List	   *pids = NIL;
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *l = pgstat_fetch_stat_local_beentry(i);

		if (l != NULL && l->backendStatus.st_procpid > 0)
			pids = lappend_int(pids, l->backendStatus.st_procpid);
	}
	return pids;
}

/*
 * whether pid is a live backend of this server (as of this transaction's snapshot of the backend
 * status array, as pg_stat_activity sees it); its session user and start time when it is
 */
bool
TfmServerProcess(int pid, Oid *userid, TimestampTz *started)
{
	int			n = pgstat_fetch_stat_numbackends();

	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *l = pgstat_fetch_stat_local_beentry(i);

		if (l != NULL && l->backendStatus.st_procpid == pid)
		{
			*userid = l->backendStatus.st_userid;
			*started = l->backendStatus.st_proc_start_timestamp;
			return true;
		}
	}
	return false;
}

/* whether the current user may see other roles' activity: superuser or pg_read_all_stats (as pg_stat_activity) */
bool
TfmSeesAllActivity(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/* whether the current user may see the activity of sessions of roleid */
bool
TfmMaySeeActivityOf(Oid roleid)
{
	return TfmSeesAllActivity() || has_privs_of_role(GetUserId(), roleid);
}

/* how many of pids map path (from /proc/PID/maps; processes we may not read count as not mapping) */
static int
mapped_by(List *pids, const char *path)
{
	int			n = 0;
	ListCell   *lc;
	char		line[MAXPGPATH + 256];

	foreach(lc, pids)
	{
		FILE	   *f = AllocateFile(psprintf("/proc/%d/maps", lfirst_int(lc)), "r");
		bool		found = false;

		if (f == NULL)
			continue;
		while (!found && fgets(line, sizeof(line), f) != NULL)
			found = strstr(line, path) != NULL;
		FreeFile(f);
		n += found;
		CHECK_FOR_INTERRUPTS();	/* one file per backend: a long list answers a cancel between them */
	}
	return n;
}

/* tfm_cache_files(): database, model id, cache key, bytes, modified, mapped_by per cache file */
Datum
tfm_cache_files(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dir = TfmDir();
	List	   *pids;
	DIR		   *d;
	struct dirent *de;

	InitMaterializedSRF(fcinfo, 0);
	pids = server_pids();
	if ((d = AllocateDir(dir)) == NULL)
		return (Datum) 0;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		unsigned int db;
		int64		id;
		char		key[64];
		char	   *path;
		struct stat sb;
		Datum		v[6];
		bool		nulls[6] = {0};

		if (sscanf(de->d_name, "%u_" INT64_FORMAT "_%40[0-9a-f-].bin", &db, &id, key) != 3 ||
			strstr(de->d_name, ".tmp") != NULL)
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (stat(path, &sb) != 0)
			continue;
		v[0] = ObjectIdGetDatum(db);
		v[1] = Int64GetDatum(id);
		v[2] = CStringGetTextDatum(key);
		v[3] = Int64GetDatum((int64) sb.st_size);
		v[4] = TimestampTzGetDatum(time_t_to_timestamptz(sb.st_mtime));
		v[5] = Int32GetDatum(mapped_by(pids, path));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	FreeDir(d);
	return (Datum) 0;
}
