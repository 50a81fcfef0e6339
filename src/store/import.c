/* import.c: tfm_import from a server directory or from client content; validates everything, stores the model */
#include "postgres.h"

#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "jsonutil.h"
#include "model/encoder.h"
#include "model/gpt2model.h"
#include "model/prefix.h"
#include "model/safetensors.h"
#include "model/torchzip.h"
#include "model/seqhead.h"
#include "pg_tfm.h"
#include "store/acl.h"
#include "store/catalog.h"
#include "store/import.h"
#include "store/stconfig.h"
#include "text/vocabtxt.h"

#define MAX_FILE_BYTES ((uint64) 8 << 30)

PG_FUNCTION_INFO_V1(tfm_import_path);
PG_FUNCTION_INFO_V1(tfm_import_content);

/*
 * refuse a model name the catalog's CHECK (name ~ '^[A-Za-z0-9_.:-]{1,63}$') would refuse: every
 * function that creates a model calls this first, before any privilege check, parsing or training
 */
void
TfmCheckModelName(const char *name)
{
	size_t		n = strlen(name);

	if (n == 0 || n >= TFM_NAMELEN || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") != n)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid model name \"%.*s%s\"", pg_mbcliplen(name, (int) Min(n, 1000), 100), name,
							   n > 100 ? "..." : ""),
						errhint("A model name is 1 to 63 letters (A-Z, a-z), digits, '_', '.', ':' or '-' (the regular expression ^[A-Za-z0-9_.:-]{1,63}$).")));
}

/* refuse databases whose encoding cannot hold a vocabulary (jsonb stores text in the server encoding) */
static void
check_encoding(void)
{
	int			enc = GetDatabaseEncoding();

	if (enc != PG_UTF8 && enc != PG_SQL_ASCII)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("pg_tfm cannot import models into a database with encoding %s",
							   GetDatabaseEncodingName()),
						errhint("Use a UTF8 (or SQL_ASCII) database: vocabularies hold characters %s cannot represent.",
								GetDatabaseEncodingName())));
}

/* hex SHA-256 of a buffer */
char *
TfmSha256Hex(const char *buf, uint64 size)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		dig[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not initialise SHA-256");
	for (uint64 off = 0; off < size; off += TFM_CHUNK_BYTES)
	{
		if (pg_cryptohash_update(ctx, (const uint8 *) buf + off, Min(size - off, (uint64) TFM_CHUNK_BYTES)) < 0)
			elog(ERROR, "could not compute SHA-256");
		CHECK_FOR_INTERRUPTS();	/* 16 MB take tens of ms: a cancel must not wait for the whole file */
	}
	if (pg_cryptohash_final(ctx, dig, sizeof(dig)) < 0)
		elog(ERROR, "could not compute SHA-256");
	pg_cryptohash_free(ctx);
	hex_encode((const char *) dig, sizeof(dig), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * store a new version as the extension owner: refuse unless the caller may write name, forget the rights
 * a vanished name left, insert the row and its weight chunks; returns the new id
 */
int64
TfmStoreVersion(const TfmNewVersion *v)
{
	Oid			owner = TfmCheckCreate(v->name);
	TfmOwnerScope s;
	int64		id;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TfmAsOwnerBegin(&s);
	TfmCatalogForgetRights(v->name);
	id = TfmCatalogInsert(v, owner);
	TfmSyncRoleMarkers();		/* the owner's marker: DROP ROLE fails while it owns models */
	TfmAsOwnerEnd(&s);
	SPI_finish();
	return id;
}

/* validate a BERT model's parts against each other and store it */
static int64
import_bert(const char *name, Jsonb *config, Jsonb *tokenizer, const char *weights, uint64 wsize,
			Jsonb *options, const char *const *what)
{
	TfmBertConfig cfg;
	TfmModelOptions opt;
	TfmSafetensors *st;
	size_t		vsize;
	TfmNewVersion row = {.name = name, .task = "embedding", .config = config, .tokenizer = tokenizer, .weights = weights, .wsize = wsize};
	bool		seq = TfmIsSeqClassification(config);

	TfmBertConfigFromJson(&cfg, config, what[0]);
	if (seq)
		TfmSeqHeadCheckOptions(options);
	if (seq && TfmPrefixOptions(options, "options") != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("options: prefixes apply to tfm_embed, not to a sequence-classification checkpoint")));
	row.architecture = TfmJsonGetString(&config->root, "model_type", "bert", what[0]);	/* bert, distilbert, roberta */
	TfmOptionsFromJson(&opt, options, &cfg, true);
	pfree(TfmTextFromJson(tokenizer, &cfg, &vsize, what[1]));
	st = TfmSafetensorsParse(weights, wsize, what[2]);
	TfmSafetensorsCheckFinite(st, TfmBertResolve(st, &cfg), TfmBertSlotCount(&cfg), weights);
	row.dim = cfg.hidden;
	row.max_tokens = opt.max_tokens;
	row.params = TfmBertParams(&cfg);
	row.options = TfmOptionsToJson(&opt);
	if (seq)
	{
		/* a classifier, regressor or cross-encoder: its head stored as a trained model's is */
		TfmSeqHead h;

		TfmSeqHeadRead(&h, config, tokenizer, st, weights, &cfg, what);
		row.task = h.task;
		row.labels = h.labels;
		row.nlabels = h.K;
		row.head = h.head;
		row.head_bytes = sizeof(float) * h.nfloats;
		row.params += h.nfloats;
		row.options = TfmSeqHeadOptions(&h, opt.max_tokens, cfg.hidden, opt.precision);
	}
	else
		row.options = TfmPrefixAdd(row.options, options, "options");
	row.sha256 = TfmSha256Hex(weights, wsize);
	return TfmStoreVersion(&row);
}

/* validate a GPT-2 model's parts against each other and store it */
static int64
import_gpt2(const char *name, Jsonb *config, Jsonb *tokenizer, const char *weights, uint64 wsize,
			Jsonb *options, const char *const *what)
{
	TfmGpt2Info info;
	TfmSafetensors *st;
	size_t		bsize;
	TfmNewVersion row = {.name = name, .architecture = "gpt2", .task = "generation", .config = config, .tokenizer = tokenizer, .weights = weights, .wsize = wsize};
	char	   *opts;

	TfmGpt2InfoFromJson(&info, config, what[0]);
	row.max_tokens = TfmGpt2OptionsFromJson(options, &info.cfg, true);
	pfree(TfmBpeFromJson(tokenizer, &info.cfg, &bsize, what[1]));
	st = TfmSafetensorsParse(weights, wsize, what[2]);
	TfmSafetensorsCheckFinite(st, TfmGpt2Resolve(st, &info.cfg), TfmGpt2SlotCount(&info.cfg), weights);
	row.dim = info.cfg.n_embd;
	row.params = TfmGpt2Params(&info.cfg);
	opts = psprintf("{\"max_tokens\": %d}", row.max_tokens);
	row.options = TfmJsonParse(opts, strlen(opts), "options");
	row.sha256 = TfmSha256Hex(weights, wsize);
	return TfmStoreVersion(&row);
}

/* validate a model's parts against each other and store it (what: the three parts' names for messages) */
int64
TfmImportModel(const char *name, Jsonb *config, Jsonb *tokenizer, const char *weights, uint64 wsize,
			 Jsonb *options, const char *const *what)
{
	/* the callers checked the name, the encoding, the right to the name and the kind of model */
	/* the weights, their copy in 16 MB chunks and the parsed header */
	TfmCheckMemory((double) wsize + TFM_CHUNK_BYTES * 2.0, "importing the model");
	/* a PyTorch checkpoint (pytorch_model.bin) becomes the safetensors image that is checked and stored */
	if (TfmIsTorchZip(weights, wsize))
		weights = TfmTorchToSafetensors(weights, wsize, what[2], &wsize);
	if (TfmConfigIsGpt2(config))
		return import_gpt2(name, config, tokenizer, weights, wsize, options, what);
	return import_bert(name, config, tokenizer, weights, wsize, options, what);
}

/*
 * open a file of the model directory for reading without ever blocking: O_NONBLOCK makes open()
 * of a FIFO return at once instead of waiting (uninterruptibly) for a writer, and a device, FIFO,
 * socket or directory is refused before any read.  Symbolic links are followed: a link to a
 * regular file is fine.  O_NONBLOCK has no effect on reads of a regular file.
 */
static int
open_regular(const char *path, struct stat *sb)
{
	int			fd = OpenTransientFile(path, O_RDONLY | O_NONBLOCK | PG_BINARY);

	if (fd < 0)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not open file \"%s\": %m", path),
						errhint("The directory must hold config.json, tokenizer.json (GPT-2 and RoBERTa: or vocab.json and merges.txt; BERT and DistilBERT: or vocab.txt) and a .safetensors file readable by the server.")));
	if (fstat(fd, sb) != 0)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not stat file \"%s\": %m", path)));
	if (!S_ISREG(sb->st_mode))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("\"%s\" is not a regular file", path),
						errdetail("It is a %s.", S_ISDIR(sb->st_mode) ? "directory" :
								  S_ISFIFO(sb->st_mode) ? "FIFO (named pipe)" :
								  S_ISSOCK(sb->st_mode) ? "socket" :
								  S_ISCHR(sb->st_mode) || S_ISBLK(sb->st_mode) ? "device" : "special file"),
						errhint("Model files must be regular files (or symbolic links to them).")));
	return fd;
}

/* read a whole file of the model directory, in chunks that each end with a check for interrupts */
static char *
read_file(const char *dir, const char *file, uint64 *size, char **pathp)
{
	char	   *path = psprintf("%s/%s", dir, file);
	struct stat sb;
	int			fd = open_regular(path, &sb);
	char	   *buf;
	uint64		off = 0;

	if ((uint64) sb.st_size > MAX_FILE_BYTES)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("file \"%s\" is larger than 8 GB", path)));
	TfmCheckMemory((double) sb.st_size, psprintf("reading file \"%s\"", path));
	buf = palloc_extended(sb.st_size + 1, MCXT_ALLOC_HUGE);
	while (off < (uint64) sb.st_size)
	{
		ssize_t		n = read(fd, buf + off, Min((uint64) sb.st_size - off, (uint64) TFM_CHUNK_BYTES));

		if (n < 0 && errno == EINTR)
			n = 0;
		else if (n < 0)
			ereport(ERROR, (errcode_for_file_access(),
							errmsg("could not read file \"%s\": %m", path)));
		else if (n == 0)
			ereport(ERROR, (errcode(ERRCODE_IO_ERROR),
							errmsg("could not read file \"%s\": it shrank from " UINT64_FORMAT " to " UINT64_FORMAT " bytes while being read",
								   path, (uint64) sb.st_size, off)));
		off += n;
		CHECK_FOR_INTERRUPTS();
	}
	CloseTransientFile(fd);
	*size = off;
	if (pathp)
		*pathp = path;
	return buf;
}

/* weights formats pg_tfm does not read, by a file name Hugging Face gives them: the format's name, or NULL */
static const char *
foreign_weights(const char *name)
{
	static const struct
	{
		const char *file;
		const char *format;
	}			formats[] = {
		{"pytorch_model.bin.index.json", "sharded PyTorch"},
		{"tf_model.h5", "TensorFlow (HDF5)"},
		{"flax_model.msgpack", "Flax (msgpack)"},
		{"model.onnx", "ONNX"},
	};

	for (int i = 0; i < (int) lengthof(formats); i++)
		if (strcmp(name, formats[i].file) == 0)
			return formats[i].format;
	return NULL;
}

/* refuse (0A000) a directory without safetensors weights that has them in a format pg_tfm does not read */
static void
refuse_foreign_weights(const char *dir, const char *file, const char *format)
{
	ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					errmsg("model directory \"%s\" holds %s weights (%s), which pg_tfm does not read", dir, format, file),
					errdetail("pg_tfm reads weights from a .safetensors file or from one pytorch_model.bin."),
					errhint("Save the model as model.safetensors outside the database, e.g. with transformers: "
							"AutoModel.from_pretrained(path).save_pretrained(path, safe_serialization=True).")));
}

/* name of the weights file: model.safetensors, else the only *.safetensors, else pytorch_model.bin */
static char *
find_weights(const char *dir)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;
	char	   *found = NULL;
	const char *foreign = NULL, *foreign_file = NULL;
	bool		sharded = false, bin = false;
	int			n = 0;

	if (d == NULL)
		ereport(ERROR, (errcode_for_file_access(),
						errmsg("could not open model directory \"%s\": %m", dir)));
	while ((de = ReadDir(d, dir)) != NULL)
	{
		size_t		l = strlen(de->d_name);

		if (l > 12 && strcmp(de->d_name + l - 12, ".safetensors") == 0)
		{
			if (strcmp(de->d_name, "model.safetensors") == 0)
				found = pstrdup(de->d_name), n = 1;
			else if (!(found && strcmp(found, "model.safetensors") == 0))
				found = pstrdup(de->d_name), n++;
		}
		else if (strcmp(de->d_name, "model.safetensors.index.json") == 0)
			sharded = true;
		else if (strcmp(de->d_name, "pytorch_model.bin") == 0)
			bin = true;
		else if (foreign == NULL && (foreign = foreign_weights(de->d_name)) != NULL)
			foreign_file = pstrdup(de->d_name);
	}
	FreeDir(d);
	if (n == 0 && bin && !sharded)
		return pstrdup("pytorch_model.bin");
	if (n == 0 && foreign != NULL)
		refuse_foreign_weights(dir, foreign_file, foreign);
	if (sharded && !(n == 1 && strcmp(found, "model.safetensors") == 0))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("model directory \"%s\" holds a sharded checkpoint (model.safetensors.index.json), which pg_tfm does not read", dir),
						errhint("Save it as one file outside the database, e.g. with transformers: "
								"save_pretrained(path, max_shard_size=\"100GB\"), which writes model.safetensors.")));
	if (n != 1)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FILE),
						errmsg("model directory \"%s\" has %s .safetensors file", dir, n ? "more than one" : "no"),
						n ? errhint("Name the weights to read model.safetensors.") :
						errhint("Put the model's weights there as model.safetensors.")));
	return found;
}

/* true if dir/file exists */
static bool
file_exists(const char *dir, const char *file)
{
	struct stat sb;

	return stat(psprintf("%s/%s", dir, file), &sb) == 0;
}

/* a WordPiece tokenizer from vocab.txt, tokenizer_config.json and special_tokens_map.json (the last two optional) */
static Jsonb *
read_vocab_txt(const char *dir, const char **what)
{
	uint64		vsize, size;
	char	   *vbuf, *buf;
	Jsonb	   *cfg = NULL, *map = NULL;
	const char *cwhat = psprintf("file \"%s/tokenizer_config.json\"", dir);

	if (!file_exists(dir, "vocab.txt"))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FILE),
						errmsg("model directory \"%s\" has no tokenizer: neither tokenizer.json nor vocab.txt", dir),
						errhint("pg_tfm reads tokenizer.json, or for BERT and DistilBERT vocab.txt with tokenizer_config.json "
								"and special_tokens_map.json when present.")));
	*what = psprintf("file \"%s/vocab.txt\"", dir);
	vbuf = read_file(dir, "vocab.txt", &vsize, NULL);
	if (file_exists(dir, "tokenizer_config.json"))
	{
		buf = read_file(dir, "tokenizer_config.json", &size, NULL);
		cfg = TfmJsonParse(buf, size, cwhat);
	}
	if (file_exists(dir, "special_tokens_map.json"))
	{
		buf = read_file(dir, "special_tokens_map.json", &size, NULL);
		map = TfmJsonParse(buf, size, psprintf("file \"%s/special_tokens_map.json\"", dir));
	}
	return TfmWordPieceCatalogJson(vbuf, vsize, cfg, map, *what, cwhat);
}

/*
 * the tokenizer of a model directory: tokenizer.json, or vocab.json + merges.txt when present for GPT-2,
 * when tokenizer.json is absent for RoBERTa, vocab.txt (+ tokenizer_config.json) when it is absent for BERT and DistilBERT
 */
static Jsonb *
read_tokenizer(const char *dir, Jsonb *config, const char **what)
{
	uint64		tsize, msize;
	char	   *tbuf, *mbuf;
	Jsonb	   *tokenizer;
	char	   *type = TfmJsonGetString(&config->root, "model_type", "", "config.json");
	bool		bpe_files = TfmConfigIsGpt2(config) ||
		(strcmp(type, "roberta") == 0 && !file_exists(dir, "tokenizer.json"));

	if (strcmp(type, "roberta") == 0 && !file_exists(dir, "tokenizer.json") && !file_exists(dir, "vocab.json"))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FILE),
						errmsg("model directory \"%s\" has no tokenizer: neither tokenizer.json nor vocab.json and merges.txt", dir)));
	if (!bpe_files && !file_exists(dir, "tokenizer.json"))
		return read_vocab_txt(dir, what);
	if (bpe_files && file_exists(dir, "vocab.json"))
	{
		*what = psprintf("files \"%s/vocab.json\" and \"merges.txt\"", dir);
		tbuf = read_file(dir, "vocab.json", &tsize, NULL);
		mbuf = read_file(dir, "merges.txt", &msize, NULL);
		return TfmBpeCatalogJson(tbuf, tsize, mbuf, msize, psprintf("file \"%s/vocab.json\"", dir),
								 psprintf("file \"%s/merges.txt\"", dir));
	}
	*what = psprintf("file \"%s/tokenizer.json\"", dir);
	tbuf = read_file(dir, "tokenizer.json", &tsize, NULL);
	tokenizer = TfmJsonParse(tbuf, tsize, *what);
	pfree(tbuf);
	return tokenizer;
}

/* tfm_import(name, path, options) from a directory on the server */
Datum
tfm_import_path(PG_FUNCTION_ARGS)
{
	char	   *name, *dir;
	Jsonb	   *options;
	uint64		csize, wsize;
	char	   *cbuf, *wbuf, *wpath;
	Jsonb	   *config, *tokenizer;
	const char *what[3];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("name, path and options must not be NULL")));
	PreventCommandIfReadOnly("tfm_import()");	/* before reading and checking the files */
	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to import a model from server files"),
						errhint("Only superusers and members of pg_read_server_files can; others can pass the content to tfm_import(name, config, tokenizer, weights).")));
	check_encoding();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	TfmCheckModelName(name);
	(void) TfmCheckCreate(name);	/* before reading gigabytes; store() checks again */
	dir = text_to_cstring(PG_GETARG_TEXT_PP(1));
	options = PG_GETARG_JSONB_P(2);
	canonicalize_path(dir);
	what[0] = psprintf("file \"%s/config.json\"", dir);
	cbuf = read_file(dir, "config.json", &csize, NULL);
	config = TfmJsonParse(cbuf, csize, what[0]);
	TfmCheckKind(config, what[0]);	/* before any other file is read */
	tokenizer = read_tokenizer(dir, config, &what[1]);
	/* sentence-transformers settings as default options (a checkpoint with a head pools its own way) */
	if (!TfmConfigIsGpt2(config) && !TfmIsSeqClassification(config))
		options = TfmStOptions(dir, config, tokenizer, options, read_file, file_exists);
	wbuf = read_file(dir, find_weights(dir), &wsize, &wpath);
	what[2] = psprintf("file \"%s\"", wpath);
	if (strcmp(wpath + strlen(wpath) - 4, ".bin") == 0 && !TfmIsTorchZip(wbuf, wsize))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s is not in the zip format torch.save writes since PyTorch 1.6", what[2]),
						errdetail("Checkpoints of the older format are not read."),
						errhint("Load it with PyTorch and save it again (torch.save, or save_pretrained), or as model.safetensors.")));
	PG_RETURN_INT64(TfmImportModel(name, config, tokenizer, wbuf, wsize, options, what));
}

/* tfm_import(name, config, tokenizer, weights, options) from client content */
Datum
tfm_import_content(PG_FUNCTION_ARGS)
{
	char	   *name;
	bytea	   *w;
	static const char *const what[3] = {"config.json", "tokenizer.json", "the weights"};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("name, config, tokenizer and weights must not be NULL")));
	PreventCommandIfReadOnly("tfm_import()");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	/* the name and the caller's right to it before looking at the content (42501, not a parse error) */
	TfmCheckModelName(name);
	check_encoding();
	(void) TfmCheckCreate(name);	/* store() checks again */
	w = PG_GETARG_BYTEA_PP(3);
	TfmCheckKind(PG_GETARG_JSONB_P(1), what[0]);	/* a head, cross-encoder or family pg_tfm does not compute */
	PG_RETURN_INT64(TfmImportModel(name, PG_GETARG_JSONB_P(1), PG_GETARG_JSONB_P(2),
								 VARDATA_ANY(w), VARSIZE_ANY_EXHDR(w),
								 PG_ARGISNULL(4) ? TfmJsonParse("{}", 2, "options") : PG_GETARG_JSONB_P(4),
								 what));
}
