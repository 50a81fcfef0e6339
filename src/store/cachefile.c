/* cachefile.c: materialise a model version from the catalog into $PGDATA/pg_tfm once, map it read-only and shared */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/detoast.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "kernels/ops.h"
#include "model/encoder.h"
#include "model/gpt2model.h"
#include "model/safetensors.h"
#include "pg_tfm.h"
#include "store/acl.h"
#include "store/cachefile.h"
#include "text/tokenizer.h"

#define TFM_SAMPLE_BLOCKS 64
#define TFM_SAMPLE_BYTES 4096
#define TFM_ORPHAN_SECONDS 600
#define STEP_BYTES (16 * 1024 * 1024)	/* checksummed or written between two checks for interrupts */

/* the folder of pg_tfm's files in the data directory (cache files, locks, progress files) */
char *
TfmDir(void)
{
	return psprintf("%s/%s", DataDir, TFM_DIR);
}

/* name the cache file of a model version in this database */
void
TfmCacheFilePath(char *path, int64 model_id, const char *key)
{
	snprintf(path, MAXPGPATH, "%s/%s/%u_" INT64_FORMAT "_%.40s.bin",
			 DataDir, TFM_DIR, MyDatabaseId, model_id, key);
}

/*
 * a path under the data directory as errors show it: relative to it, as PostgreSQL's own messages do
 * (roles that may not read data_directory must not learn it from a failed cache file)
 */
const char *
TfmPathShown(const char *path)
{
	size_t		n = strlen(DataDir);

	return strncmp(path, DataDir, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/*
 * CRC-32C of a byte range, in 16 MB steps with a check for interrupts between them: over a mapped
 * file of gigabytes (pg_tfm.verify_cache = full) each step may wait for the disk
 */
static uint32
crc_of(const void *p, size_t n)
{
	pg_crc32c	crc;
	const char *c = p;

	INIT_CRC32C(crc);
	for (size_t off = 0; off < n; off += STEP_BYTES)
	{
		COMP_CRC32C(crc, c + off, Min(n - off, (size_t) STEP_BYTES));
		CHECK_FOR_INTERRUPTS();
	}
	FIN_CRC32C(crc);
	return crc;
}

/* CRC-32C of a header up to its crc field */
static uint32
header_crc(const TfmFileHeader *h)
{
	return crc_of(h, offsetof(TfmFileHeader, crc));
}

/* CRC-32C of TFM_SAMPLE_BLOCKS blocks spread evenly over the weights section */
static uint32
sample_crc(const char *weights, uint64 bytes)
{
	pg_crc32c	crc;
	uint64		step = bytes / TFM_SAMPLE_BLOCKS;

	INIT_CRC32C(crc);
	for (int i = 0; i < TFM_SAMPLE_BLOCKS; i++)
	{
		uint64		off = (uint64) i * step;

		COMP_CRC32C(crc, weights + off, Min((uint64) TFM_SAMPLE_BYTES, bytes - off));
	}
	FIN_CRC32C(crc);
	return crc;
}

/* why a mapped file's header or sections disagree with the catalog, or NULL when they agree */
static const char *
header_problem(const TfmMapped *m, int64 model_id, const char *key)
{
	const TfmFileHeader *h = (const TfmFileHeader *) m->base;

	if (m->size < TFM_FILE_HEADER_BYTES || memcmp(h->magic, TFM_FILE_MAGIC, 8) != 0)
		return "not a pg_tfm cache file of this format";
	if (h->crc != header_crc(h) || h->header_bytes != TFM_FILE_HEADER_BYTES)
		return "header checksum mismatch";
	if (h->model_id != model_id || strncmp(h->key, key, 40) != 0)
		return "built for another model version";
	if (h->file_size != m->size)
		return "wrong file size";
	if (h->vocab_off < TFM_FILE_HEADER_BYTES || h->vocab_size > m->size ||
		h->vocab_off > m->size - h->vocab_size || h->vocab_off % 8 != 0 ||
		h->weights_off % 64 != 0 || h->weights_bytes > m->size ||
		h->weights_off > m->size - h->weights_bytes)
		return "sections outside the file";
	if (crc_of(m->base + h->vocab_off, h->vocab_size) != h->vocab_crc)
		return "vocabulary checksum mismatch";
	if (tfm_verify_cache == TFM_VERIFY_FULL ?
		crc_of(m->base + h->weights_off, h->weights_bytes) != h->weights_crc :
		sample_crc(m->base + h->weights_off, h->weights_bytes) != h->sample_crc)
		return "weights checksum mismatch";
	if (h->arch == TFM_ARCH_GPT2)
		return (h->precision == TFM_PRECISION_FP32 && TfmGpt2ConfigCheck(&h->gcfg) == 0 &&
				h->weights_bytes == TfmGpt2WeightsFloats(&h->gcfg) * sizeof(float) &&
				TfmTextCheck(TFM_TOKENIZER_GPT2, h->gcfg.n_vocab, m->base + h->vocab_off, h->vocab_size) == 0) ? NULL : "inconsistent GPT-2 sections";
	return (h->arch == TFM_ARCH_BERT && TfmBertConfigCheck(&h->cfg) == 0 &&
			h->precision <= TFM_PRECISION_BF16 && TfmPrecisionFits((int) h->precision, &h->cfg) &&
			h->weights_bytes == TfmBertFileBytes(&h->cfg, (int) h->precision) &&
			TfmTextCheck((TfmTokenizerKind) h->tokenizer, h->cfg.vocab, m->base + h->vocab_off, h->vocab_size) == 0) ? NULL : "inconsistent BERT sections";
}

/* map an existing cache file: 0 when mapped, 1 when missing, -1 when it fails a check (*why) */
static int
map_file(TfmMapped *m, int64 model_id, const char *key, const char **why)
{
	int			fd;
	struct stat sb;
	void	   *p;

	memset(m, 0, sizeof(*m));
	TfmCacheFilePath(m->path, model_id, key);
	/* O_NONBLOCK: something other than a file in its place must not block open() (a FIFO) */
	fd = OpenTransientFile(m->path, O_RDONLY | O_NONBLOCK | PG_BINARY);
	if (fd < 0)
	{
		if (errno != ENOENT)
			ereport(ERROR, (errcode_for_file_access(),
							errmsg("could not open model cache file \"%s\": %m", TfmPathShown(m->path))));
		return 1;
	}
	if (fstat(fd, &sb) != 0)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not stat model cache file \"%s\": %m", TfmPathShown(m->path))));
	if (!S_ISREG(sb.st_mode))
	{
		CloseTransientFile(fd);
		*why = "not a regular file";
		return -1;
	}
	if (sb.st_size < TFM_FILE_HEADER_BYTES)
	{
		CloseTransientFile(fd);
		*why = "shorter than its header";
		return -1;
	}
	p = mmap(NULL, sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	CloseTransientFile(fd);
	if (p == MAP_FAILED)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not map model cache file \"%s\": %m", TfmPathShown(m->path))));
	m->base = p;
	m->size = sb.st_size;
	/* a cancel during the checks (the full checksum reads the whole file) must not leak the mapping */
	PG_TRY();
	{
		*why = header_problem(m, model_id, key);
	}
	PG_CATCH();
	{
		TfmCacheFileUnmap(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (*why != NULL)
	{
		TfmCacheFileUnmap(m);
		return -1;
	}
	m->hdr = (const TfmFileHeader *) m->base;
	m->vocab = m->base + m->hdr->vocab_off;
	m->weights = (const float *) (m->base + m->hdr->weights_off);
	return 0;
}

/* release a mapping */
void
TfmCacheFileUnmap(TfmMapped *m)
{
	if (m->base)
		munmap(m->base, m->size);
	m->base = NULL;
}

/* read a model's weight chunks from the catalog into one buffer (SPI connected; as the extension owner) */
char *
TfmCacheFileCatalogWeights(int64 model_id, uint64 *size)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};
	uint64		total = 0, off = 0;
	char	   *buf;

	if (SPI_execute_with_args("SELECT data FROM tfm.model_data WHERE model_id = $1 ORDER BY seq",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the weights of model " INT64_FORMAT, model_id);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		total += toast_raw_datum_size(d) - VARHDRSZ;
	}
	/* the stored weights and the fp32 image built from them (up to twice their size for fp16) */
	TfmCheckMemory((double) total * 3, "building the model's cache file");
	buf = palloc_extended(Max(total, 1), MCXT_ALLOC_HUGE);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bytea	   *b = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (off + VARSIZE_ANY_EXHDR(b) > total)
			elog(ERROR, "weights of model " INT64_FORMAT " changed while being read", model_id);
		memcpy(buf + off, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
		off += VARSIZE_ANY_EXHDR(b);
	}
	*size = total;
	return buf;
}

/* fetch the JSON columns (config, tokenizer, options) and the architecture of a model version */
static TfmArch
read_catalog(int64 model_id, Jsonb **config, Jsonb **tokenizer, Jsonb **options)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(model_id)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT config, tokenizer, architecture = 'gpt2', options FROM tfm.model WHERE id = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model " INT64_FORMAT " no longer exists", model_id)));
	*config = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*tokenizer = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*options = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)) ?
		TFM_ARCH_GPT2 : TFM_ARCH_BERT;
}

/* the BERT parts of an image: config, precision, WordPiece blob, checked tensor slots */
static void
bert_parts(TfmFileHeader *h, Jsonb *config, Jsonb *tokenizer, Jsonb *options, TfmSafetensors *st,
		   void **vocab, size_t *vsize, TfmTensorInfo ***slots)
{
	TfmModelOptions opt;

	TfmBertConfigFromJson(&h->cfg, config, "config.json");
	TfmOptionsFromJson(&opt, options, &h->cfg, false);
	h->precision = (uint32) opt.precision;
	h->tokenizer = (uint32) TfmTextKind(tokenizer, &h->cfg);
	*vocab = TfmTextFromJson(tokenizer, &h->cfg, vsize, "tokenizer.json");
	*slots = TfmBertResolve(st, &h->cfg);
	h->weights_bytes = TfmBertFileBytes(&h->cfg, opt.precision);
}

/* the GPT-2 parts of an image: config, BPE blob, checked tensor slots */
static void
gpt2_parts(TfmFileHeader *h, Jsonb *config, Jsonb *tokenizer, TfmSafetensors *st,
		   void **vocab, size_t *vsize, TfmTensorInfo ***slots)
{
	TfmGpt2Info info;

	TfmGpt2InfoFromJson(&info, config, "config.json");
	h->gcfg = info.cfg;
	*vocab = TfmBpeFromJson(tokenizer, &h->gcfg, vsize, "the stored tokenizer");
	*slots = TfmGpt2Resolve(st, &h->gcfg);
	h->weights_bytes = TfmGpt2WeightsFloats(&h->gcfg) * sizeof(float);
}

/* floats of bert_materialise's two buffers: one slot in fp32, and (bf16, int8) one linear weight in panels */
static void
bert_buffers(const TfmBertConfig *cfg, int precision, size_t *one, size_t *panels)
{
	size_t		C = cfg->hidden, widest = Max(C, (size_t) cfg->intermediate);

	*one = C * widest;
	*panels = 0;
	if (precision == TFM_PRECISION_FP32)
		return;
	*one = Max(*one, (size_t) cfg->vocab * C);	/* the word embeddings, reduced from fp32 */
	*panels = Max(matmul_packed_floats(cfg->hidden, cfg->intermediate),
				  matmul_packed_floats(cfg->intermediate, cfg->hidden));
}

/*
 * a BERT weights section at the header's precision (TfmBertFileSlotBytes): fp32 slots in place, the
 * linear weights in panels, at bf16 and int8 these and the word embeddings as the kernels read them
 */
static void
bert_materialise(char *dst, const TfmFileHeader *h, TfmSafetensors *st, TfmTensorInfo **slots,
				 const char *weights)
{
	const TfmBertConfig *cfg = &h->cfg;
	int			prec = (int) h->precision;
	size_t		one, npanels;
	float	   *w, *panels;

	bert_buffers(cfg, prec, &one, &npanels);
	w = palloc_extended(sizeof(float) * one, MCXT_ALLOC_HUGE);
	panels = palloc_extended(sizeof(float) * Max(npanels, 1), MCXT_ALLOC_HUGE);
	for (int s = 0; s < TfmBertSlotCount(cfg); s++)
	{
		int			in, out;

		CHECK_FOR_INTERRUPTS();
		if (slots[s] == NULL)	/* a tensor the family lacks: no floats */
			;
		else if (TfmBertSlotPacked(cfg, s, &in, &out) || (s == 0 && prec != TFM_PRECISION_FP32))
		{
			TfmSafetensorsToFloat(w, st, slots[s], weights);
			TfmBertFileSlotFill(dst, cfg, s, prec, w, panels);
		}
		else
			TfmSafetensorsToFloat((float *) dst, st, slots[s], weights);
		dst += TfmBertFileSlotBytes(cfg, s, prec);
	}
	pfree(w);
	pfree(panels);
}

/* lay out header, vocabulary and weights (at the model's precision) of a model version in memory */
static char *
build_image(int64 model_id, const char *key, uint64 *size)
{
	Jsonb	   *config, *tokenizer, *options;
	TfmFileHeader h;
	size_t		one, panels;
	uint64		wsize;
	char	   *weights, *img;
	void	   *vocab;
	size_t		vsize;
	TfmSafetensors *st;
	TfmTensorInfo **slots;

	memset(&h, 0, sizeof(h));
	h.arch = read_catalog(model_id, &config, &tokenizer, &options);
	weights = TfmCacheFileCatalogWeights(model_id, &wsize);
	st = TfmSafetensorsParse(weights, wsize, "the stored weights");
	if (h.arch == TFM_ARCH_GPT2)
		gpt2_parts(&h, config, tokenizer, st, &vocab, &vsize, &slots);
	else
		bert_parts(&h, config, tokenizer, options, st, &vocab, &vsize, &slots);
	memcpy(h.magic, TFM_FILE_MAGIC, 8);
	h.header_bytes = TFM_FILE_HEADER_BYTES;
	h.model_id = model_id;
	strlcpy(h.key, key, sizeof(h.key));
	h.vocab_off = TFM_FILE_HEADER_BYTES;
	h.vocab_size = vsize;
	h.weights_off = TYPEALIGN(4096, h.vocab_off + vsize);
	h.file_size = h.weights_off + h.weights_bytes;
	/* the stored weights, the image and one slot in fp32 while it is packed or reduced */
	bert_buffers(&h.cfg, (int) h.precision, &one, &panels);
	TfmCheckMemory((double) wsize + h.file_size + ((double) one + panels) * sizeof(float),
				   "building the model's cache file");
	img = palloc_extended(h.file_size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	memcpy(img + h.vocab_off, vocab, vsize);
	if (h.arch == TFM_ARCH_GPT2)
		TfmGpt2Materialise((float *) (img + h.weights_off), &h.gcfg, st, slots, weights);
	else
		bert_materialise(img + h.weights_off, &h, st, slots, weights);
	h.vocab_crc = crc_of(img + h.vocab_off, h.vocab_size);
	h.weights_crc = crc_of(img + h.weights_off, h.weights_bytes);
	h.sample_crc = sample_crc(img + h.weights_off, h.weights_bytes);
	h.crc = header_crc(&h);
	memcpy(img, &h, sizeof(h));
	*size = h.file_size;
	return img;
}

/* write an image to a temporary file and durably rename it into place */
static void
write_file(const char *path, const char *img, uint64 size)
{
	char		tmp[MAXPGPATH];
	volatile int fd;
	volatile uint64 off = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, MyProcPid);
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not create model cache file \"%s\": %m", TfmPathShown(tmp))));
	PG_TRY();
	{
		while (off < size)
		{
			ssize_t		n = write(fd, img + off, Min(size - off, (uint64) STEP_BYTES));

			if (n <= 0)
				ereport(ERROR, (errcode_for_file_access(),
								errmsg("could not write model cache file \"%s\": %m", TfmPathShown(tmp))));
			off += n;
			CHECK_FOR_INTERRUPTS();
		}
		if (pg_fsync(fd) != 0)
			ereport(ERROR, (errcode_for_file_access(),
							errmsg("could not fsync model cache file \"%s\": %m", TfmPathShown(tmp))));
		CloseTransientFile(fd);
		fd = -1;
		durable_rename(tmp, path, ERROR);
	}
	PG_CATCH();
	{
		if (fd >= 0)
			CloseTransientFile(fd);
		unlink(tmp);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* name the build lock file of a model */
static void
lock_path(char *path, int64 model_id)
{
	snprintf(path, MAXPGPATH, "%s/%s/%u_" INT64_FORMAT ".lock", DataDir, TFM_DIR, MyDatabaseId, model_id);
}

/* take the per-model build lock, waiting interruptibly; returns the lock fd */
static int
lock_model(int64 model_id)
{
	char		path[MAXPGPATH];
	int			fd;

	snprintf(path, sizeof(path), "%s/%s", DataDir, TFM_DIR);
	if (MakePGDirectory(path) != 0 && errno != EEXIST)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not create directory \"%s\": %m", TfmPathShown(path))));
	lock_path(path, model_id);
	fd = OpenTransientFile(path, O_RDWR | O_CREAT | PG_BINARY);
	if (fd < 0)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not open lock file \"%s\": %m", TfmPathShown(path))));
	while (flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		if (errno != EWOULDBLOCK && errno != EINTR)
			ereport(ERROR, (errcode_for_file_access(),
							errmsg("could not lock \"%s\": %m", TfmPathShown(path))));
		/* a cancel or terminate sets the latch: the wait ends at once, not after the 10 ms */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return fd;
}

/* rows of a one-column query as text, under the latest snapshot (parallel workers: the query's) */
static List *
latest_values(const char *query)
{
	List	   *out = NIL;
	bool		latest = !IsInParallelMode();

	if (latest)
		PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute(query, true, 0) == SPI_OK_SELECT)
		for (uint64 i = 0; i < SPI_processed; i++)
			out = lappend(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	if (latest)
		PopActiveSnapshot();
	return out;
}

/* whether a list of strings holds s */
static bool
has_string(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp((char *) lfirst(lc), s) == 0)
		return true;
	return false;
}

/*
 * remove files of databases that no longer exist, and cache and lock files of this database whose
 * model version (id and cache_key) no longer exists and which are older than TFM_ORPHAN_SECONDS
 * (a version created by a transaction not yet committed is invisible, but its file is young);
 * the catalog is read under the latest snapshot; temporary files of running builds are kept
 */
static void
sweep_orphans(void)
{
	char		dir[MAXPGPATH], path[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;
	List	   *files = latest_values("SELECT id || '_' || cache_key || '.bin' FROM tfm.model");
	List	   *locks = latest_values("SELECT id || '.lock' FROM tfm.model");
	List	   *dbs = latest_values("SELECT oid FROM pg_database");
	time_t		now = time(NULL);

	snprintf(dir, sizeof(dir), "%s/%s", DataDir, TFM_DIR);
	if ((d = AllocateDir(dir)) == NULL)
		return;
	while ((de = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		unsigned int db;
		int			n = 0;
		struct stat sb;

		if (sscanf(de->d_name, "%u_%n", &db, &n) != 1 || n == 0 || strstr(de->d_name, ".tmp") != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (has_string(dbs, psprintf("%u", db)) &&
			(db != MyDatabaseId || has_string(files, de->d_name + n) || has_string(locks, de->d_name + n) ||
			 stat(path, &sb) != 0 || now - sb.st_mtime < TFM_ORPHAN_SECONDS))
			continue;
		if (unlink(path) == 0)
			ereport(LOG, (errmsg("pg_tfm: removed orphaned cache file \"%s\"", TfmPathShown(path))));
	}
	FreeDir(d);
}

/* whether a model version still exists under the latest snapshot (a drop may have committed meanwhile) */
static bool
still_exists(int64 model_id, const char *key)
{
	return has_string(latest_values(psprintf("SELECT 1 FROM tfm.model WHERE id = " INT64_FORMAT
											 " AND cache_key::text = %s", model_id, quote_literal_cstr(key))), "1");
}

/* map a model version's cache file, materialising it first when it is missing or bad */
void
TfmCacheFileEnsure(TfmMapped *m, int64 model_id, const char *key)
{
	MemoryContext ctx, old;
	int			lockfd, rc;
	bool		dropped;
	uint64		size;
	char	   *img;
	const char *why = NULL;
	TfmOwnerScope scope;

	if (map_file(m, model_id, key, &why) == 0)
		return;
	lockfd = lock_model(model_id);
	if ((rc = map_file(m, model_id, key, &why)) == 0)	/* another backend built it meanwhile */
	{
		CloseTransientFile(lockfd);
		return;
	}
	if (rc < 0)
	{
		ereport(LOG, (errmsg("pg_tfm: cache file \"%s\" failed its checks (%s); rebuilding it", TfmPathShown(m->path), why)));
		unlink(m->path);
	}
	ctx = AllocSetContextCreate(CurrentMemoryContext, "pg_tfm materialise", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the caller's right to use the model was checked; the weights are readable by the owner only */
	TfmAsOwnerBegin(&scope);
	img = build_image(model_id, key, &size);
	write_file(m->path, img, size);
	sweep_orphans();
	dropped = !still_exists(model_id, key);
	TfmAsOwnerEnd(&scope);
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	if (map_file(m, model_id, key, &why) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("model cache file \"%s\" failed its checks right after it was written: %s",
							   TfmPathShown(m->path), why ? why : "missing")));
	/* a drop committed while we built: this statement may still use the mapping, nobody else will */
	if (dropped)
	{
		char		lock[MAXPGPATH];

		lock_path(lock, model_id);
		unlink(m->path);
		unlink(lock);
	}
	CloseTransientFile(lockfd);
}

/*
 * plain (TfmBertWeightsFloats, training's fp32 layout) = the weights of a mapped BERT model version:
 * unpacked from an fp32 cache file, or read from the catalog (tfm.model_data) when the file holds
 * them at bf16 or int8, which training must not start from
 */
void
TfmCacheFilePlain(float *plain, const TfmMapped *m, int64 model_id)
{
	const TfmBertConfig *cfg = &m->hdr->cfg;
	MemoryContext ctx, old;
	TfmOwnerScope scope;
	uint64		wsize;
	char	   *weights;
	TfmSafetensors *st;
	TfmTensorInfo **slots;

	if (m->hdr->precision == TFM_PRECISION_FP32)
	{
		TfmBertUnpackCache(plain, cfg, m->weights);
		return;
	}
	ctx = AllocSetContextCreate(CurrentMemoryContext, "pg_tfm fp32 weights", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the caller's right to use the model was checked; the weights are readable by the owner only */
	TfmAsOwnerBegin(&scope);
	weights = TfmCacheFileCatalogWeights(model_id, &wsize);
	TfmAsOwnerEnd(&scope);
	st = TfmSafetensorsParse(weights, wsize, "the stored weights");
	slots = TfmBertResolve(st, cfg);
	memset(plain, 0, sizeof(float) * TfmBertWeightsFloats(cfg));	/* the slots' padding too */
	for (int s = 0; s < TfmBertSlotCount(cfg); s++)
	{
		CHECK_FOR_INTERRUPTS();
		if (slots[s] != NULL)
			TfmSafetensorsToFloat(plain, st, slots[s], weights);
		plain += TfmBertSlotFloats(cfg, s);
	}
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
}

static List *pending_removal = NIL;	/* model ids dropped by the current transaction */

/* remove a model's cache and lock files when the current transaction commits */
void
TfmCacheFileRemoveAtCommit(int64 model_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	pending_removal = lappend_int(pending_removal, (int) model_id);
	MemoryContextSwitchTo(old);
}

/* at transaction end: remove the files of models the committed transaction dropped (never errors) */
void
TfmCacheFileRemovePending(bool commit)
{
	char		dir[MAXPGPATH], path[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;

	if (pending_removal == NIL)
		return;
	snprintf(dir, sizeof(dir), "%s/%s", DataDir, TFM_DIR);
	if (commit && (d = opendir(dir)) != NULL)
	{
		while ((de = readdir(d)) != NULL)
		{
			unsigned int db;
			int64		id;

			if (sscanf(de->d_name, "%u_" INT64_FORMAT, &db, &id) != 2 || db != MyDatabaseId ||
				!list_member_int(pending_removal, (int) id) || strstr(de->d_name, ".tmp") != NULL)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(void) unlink(path);
		}
		closedir(d);
	}
	list_free(pending_removal);
	pending_removal = NIL;
}
