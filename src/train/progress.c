/* progress.c: training progress, one JSON file per training backend, written by train.c and mlptrain.c and
 * read by tfm_training_progress() in any session */
#include "postgres.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jsonapi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/procarray.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "jsonutil.h"
#include "pg_tfm.h"
#include "store/cache.h"
#include "store/cachefile.h"
#include "train/progress.h"

PG_FUNCTION_INFO_V1(tfm_training_progress);

/* path of a backend's progress file */
static char *
progress_path(int pid)
{
	return psprintf("%s/progress_%d.json", TfmDir(), pid);
}

/* remove this backend's progress file when it exits, also by FATAL (pg_terminate_backend) */
static void
progress_at_exit(int code, Datum arg)
{
	(void) unlink(progress_path(MyProcPid));
}

/* publish training progress for tfm_training_progress() in other sessions (best effort) */
void
TfmProgressWrite(const TfmProgress *p)
{
	static bool registered = false;
	char	   *path = progress_path(MyProcPid);
	char	   *tmp = psprintf("%s.tmp", path);
	StringInfoData s;
	FILE	   *f;

	if (!registered)
	{
		before_shmem_exit(progress_at_exit, (Datum) 0);
		registered = true;
	}
	initStringInfo(&s);
	appendStringInfoString(&s, "{\"model\": ");
	escape_json(&s, p->model);
	appendStringInfoString(&s, ", \"phase\": ");
	escape_json(&s, p->phase);
	appendStringInfo(&s, ", \"epoch\": %d, \"epochs\": %d, \"step\": %d, \"steps\": %d",
					 p->epoch, p->epochs, p->step, p->steps);
	/* elapsed and remaining are finite (epoch >= 1); the losses may not be */
	appendStringInfo(&s, ", \"train_loss\": %s, \"val_loss\": %s, \"elapsed\": %.1f, \"remaining\": %.1f",
					 TfmJsonFloat(p->train_loss, 6), TfmJsonFloat(p->val_loss, 6), p->elapsed, p->remaining);
	appendStringInfoChar(&s, '}');
	(void) MakePGDirectory(TfmDir());
	f = AllocateFile(tmp, "w");
	if (f == NULL)
		return;
	fwrite(s.data, 1, s.len, f);
	if (FreeFile(f) == 0)
		(void) rename(tmp, path);
	else
		(void) unlink(tmp);
}

/* remove this backend's progress file */
void
TfmProgressClear(void)
{
	(void) unlink(progress_path(MyProcPid));
}

/* when a file was last modified, as a timestamp */
static TimestampTz
file_mtime(const struct stat *sb)
{
	return time_t_to_timestamptz(sb->st_mtim.tv_sec) + sb->st_mtim.tv_nsec / 1000;
}

/*
 * whether a progress file of pid (with status sb) is left over from a backend that is gone: no live
 * backend has pid, or the backend now holding pid started after the file was last written. A live
 * backend not in this transaction's snapshot of the status array is found through the proc array.
 */
static bool
progress_stale(int pid, const struct stat *sb)
{
	Oid			role;
	TimestampTz started;

	if (pid == MyProcPid)
		return false;
	if (BackendPidGetProc(pid) == NULL)
		return true;
	return TfmServerProcess(pid, &role, &started) && started > file_mtime(sb);
}

/*
 * at the start of a training: remove the progress files (and their .tmp) that backends killed without
 * running their exit callbacks (kill -9, a crash) left behind
 */
void
TfmProgressSweep(void)
{
	char	   *dir = TfmDir();
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	while (d && (de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		int			pid, n = 0;
		struct stat sb;
		char	   *path;

		if (sscanf(de->d_name, "progress_%d.json%n", &pid, &n) != 1 || n == 0 ||
			(de->d_name[n] != '\0' && strcmp(de->d_name + n, ".tmp") != 0))
			continue;
		path = psprintf("%s/%s", dir, de->d_name);
		if (stat(path, &sb) == 0 && progress_stale(pid, &sb) && unlink(path) == 0)
			ereport(DEBUG1, (errmsg("pg_tfm: removed stale progress file \"%s\"", path)));
	}
	if (d)
		FreeDir(d);
}

/*
 * the progress document of a file when it is still current (its backend lives and started before the
 * file was written) and its session is one the current user may see, else NULL
 */
static Jsonb *
read_progress(const char *path, int pid)
{
	Oid			role;
	TimestampTz started;
	struct stat sb;
	char		buf[4096];
	FILE	   *f;
	size_t		len;
	JsonLexContext *lex;

	if (!TfmServerProcess(pid, &role, &started) || !TfmMaySeeActivityOf(role))
		return NULL;			/* gone, or another role's session (as pg_stat_activity hides them) */
	if ((f = AllocateFile(path, "r")) == NULL)
		return NULL;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	if (fstat(fileno(f), &sb) != 0 || file_mtime(&sb) < started || !feof(f))
		len = 0;				/* left by an earlier backend with this pid, or too long to be ours */
	FreeFile(f);
	buf[len] = '\0';
	/* never an error for everyone because of one file: check it parses before making it jsonb */
	lex = makeJsonLexContextCstringLen(buf, (int) len, GetDatabaseEncoding(), true);
	if (len == 0 || pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return TfmJsonParse(buf, len, "progress");
}

/* tfm_training_progress(): the progress files of running tfm_train calls the current user may see */
Datum
tfm_training_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *dir = TfmDir();
	DIR		   *d;
	struct dirent *de;

	InitMaterializedSRF(fcinfo, 0);
	d = AllocateDir(dir);
	while (d && (de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		int			pid, n = 0;
		Datum		v[2];
		bool		nulls[2] = {false, false};
		Jsonb	   *doc;

		if (sscanf(de->d_name, "progress_%d.json%n", &pid, &n) != 1 || n == 0 || de->d_name[n] != '\0')
			continue;
		if ((doc = read_progress(psprintf("%s/%s", dir, de->d_name), pid)) == NULL)
			continue;
		v[0] = Int32GetDatum(pid);
		v[1] = JsonbPGetDatum(doc);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	if (d)
		FreeDir(d);
	return (Datum) 0;
}
