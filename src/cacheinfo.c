/* cacheinfo.c: tfm_cache_files(), the cache files on disk and how many server processes map each */
#include "postgres.h"

#include <dirent.h>
#include <sys/stat.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tfm_cache_files);

/* pids of this server's backends and workers */
static List *
server_pids(void)
{
	List	   *pids = NIL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT pid FROM pg_stat_get_activity(NULL) WHERE pid IS NOT NULL", true, 0) == SPI_OK_SELECT)
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			pids = lappend_int(pids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
		}
	SPI_finish();
	return pids;
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
	char	   *dir = psprintf("%s/pg_tfm", DataDir);
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
