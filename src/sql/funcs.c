/* funcs.c: the SQL-callable functions; argument checks here, the work in the subsystems */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "infer/generate.h"
#include "infer/infer.h"
#include "model/head.h"
#include "model/prefix.h"
#include "model/seqhead.h"
#include "pg_tfm.h"
#include "sql/funcs.h"
#include "store/acl.h"
#include "store/cache.h"
#include "store/catalog.h"

PG_FUNCTION_INFO_V1(tfm_tokenize);
PG_FUNCTION_INFO_V1(tfm_embed);
PG_FUNCTION_INFO_V1(tfm_embed_many);
PG_FUNCTION_INFO_V1(tfm_classify);
PG_FUNCTION_INFO_V1(tfm_score);
PG_FUNCTION_INFO_V1(tfm_predict);
PG_FUNCTION_INFO_V1(tfm_drop);
PG_FUNCTION_INFO_V1(tfm_cache);
PG_FUNCTION_INFO_V1(tfm_generate);
PG_FUNCTION_INFO_V1(tfm_gpt2_logits);
PG_FUNCTION_INFO_V1(tfm_gpt2_generate_ids);

/* the model a call uses, remembered for the rest of the query in fn_extra */
typedef struct CallModel
{
	char		name[TFM_NAMELEN];
	TfmModel   *model;
	uint64		generation;
	Oid			userid;			/* whose right to use it was checked */
} CallModel;


/* resolve the model argument (index argno), once per query */
static TfmModel *
call_model(FunctionCallInfo fcinfo, int argno)
{
	CallModel  *cm = (CallModel *) fcinfo->flinfo->fn_extra;
	const char *name = TfmModelName(PG_NARGS() > argno && !PG_ARGISNULL(argno) ? PG_GETARG_TEXT_PP(argno) : NULL);

	if (cm && cm->generation == TfmCacheGeneration() && cm->userid == GetUserId() && strcmp(cm->name, name) == 0)
		return cm->model;
	if (cm == NULL)
		cm = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CallModel));
	cm->model = TfmModelGetAny(name);
	cm->generation = TfmCacheGeneration();
	cm->userid = GetUserId();
	strlcpy(cm->name, name, sizeof(cm->name));
	return cm->model;
}

/* the model argument argno of a call, resolved once per query (for the entry points of other files) */
TfmModel *
TfmCallModel(FunctionCallInfo fcinfo, int argno)
{
	return call_model(fcinfo, argno);
}

/* refuse a model whose task does not fit the function */
static void
require_task(const TfmModel *m, TfmTask task, const char *fn)
{
	if (m->task != task)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("model \"%s\" is a%s %s model, %s needs a%s %s model", m->name,
							   m->task == TFM_TASK_EMBEDDING ? "n" : "", TfmTaskName(m->task), fn,
							   task == TFM_TASK_EMBEDDING ? "n" : "", TfmTaskName(task)),
						errhint("Train one with tfm_train(name, base, query, '%s').", TfmTaskName(task))));
}

/* tokenize one text argument, truncated (a long text is not read past what truncation keeps) */
static int32 *
text_ids(const TfmModel *m, Datum t, int *n)
{
	TfmRequireArch(m, TFM_ARCH_BERT, "a text input");	/* before reading the encoder part (an MLP has none) */
	return TfmTextEncodeTruncated(m, t, m->enc->opt.max_tokens, n);
}

/* pooled vector of one text: normalised for embeddings, raw for heads */
static float *
pooled_text(const TfmModel *m, Datum t, bool normalize)
{
	int			n;
	int32	   *ids = text_ids(m, t, &n);
	float	   *out = palloc(sizeof(float) * m->enc->cfg.hidden);

	TfmEncodeMany(out, m, &m->enc->w, &ids, &n, 1, normalize);
	return out;
}

/* head outputs of one text: probabilities (classification: softmax, or sigmoid per label) or the raw value (regression) */
static float *
head_text(const TfmModel *m, Datum t)
{
	float	   *pooled = pooled_text(m, t, false);
	float	   *out = palloc(sizeof(float) * m->nlabels);

	TfmHeadForward(out, m, m->head, pooled, 1);
	if (m->task == TFM_TASK_CLASSIFICATION && m->multi_label)
		TfmSigmoidRows(out, m->nlabels);
	else if (m->task == TFM_TASK_CLASSIFICATION)
		TfmSoftmaxRows(out, 1, m->nlabels);
	return out;
}

/* tfm_tokenize(input, model): ids with special tokens, untruncated */
Datum
tfm_tokenize(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	text	   *t;
	int32	   *ids;
	int			n;
	Datum	   *d;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = call_model(fcinfo, 1);
	t = PG_GETARG_TEXT_PP(0);
	ids = TfmTextEncode(m, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	d = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

/* a real[] of n floats */
static ArrayType *
float_array(const float *x, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(x[i]);
	return construct_array(d, n, FLOAT4OID, 4, true, TYPALIGN_INT);
}

/* the kind argument argno of tfm_embed (NULL: absent or NULL, the model's default prefix applies) */
static const char *
kind_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_NARGS() > argno && !PG_ARGISNULL(argno) ? text_to_cstring(PG_GETARG_TEXT_PP(argno)) : NULL;
}

/* tfm_embed(input, model [, kind]): sentence embedding as real[] of input with the prefix of kind in front */
Datum
tfm_embed(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	float	   *out;
	const char *pre;
	int			plen = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = call_model(fcinfo, 1);
	TfmRequireArch(m, TFM_ARCH_BERT, "tfm_embed");
	pre = TfmPrefixOf(m, kind_arg(fcinfo, 2), &plen);
	out = pooled_text(m, TfmPrefixed(pre, plen, PG_GETARG_DATUM(0)), m->enc->opt.normalize);
	PG_RETURN_ARRAYTYPE_P(float_array(out, m->enc->cfg.hidden));
}

/* tfm_embed(inputs text[], model [, kind]): (ordinality, embedding) per element, batched by length; NULL elements give NULL */
Datum
tfm_embed_many(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TfmModel   *m;
	Datum	   *texts;
	bool	   *nulls;
	int			n, k = 0, C;
	double		tokens = 0;
	int32	  **ids;
	int		   *lens;
	float	   *out;
	const char *pre;
	int			plen = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	m = call_model(fcinfo, 1);
	TfmRequireArch(m, TFM_ARCH_BERT, "tfm_embed");
	pre = TfmPrefixOf(m, kind_arg(fcinfo, 2), &plen);	/* once; an unknown kind is refused on an empty array too */
	C = m->enc->cfg.hidden;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false, TYPALIGN_INT, &texts, &nulls, &n);
	ids = palloc(sizeof(int32 *) * Max(n, 1));
	lens = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
		{
			ids[k] = text_ids(m, TfmPrefixed(pre, plen, texts[i]), &lens[k]);
			tokens += lens[k++];
			/* the ids so far and the embeddings to come */
			TfmCheckMemory(((double) tokens + (double) n * C) * sizeof(float) + (double) n * 16,
						   "the bulk tfm_embed call");
			if ((i & 255) == 0)
				CHECK_FOR_INTERRUPTS();
		}
	out = palloc_extended(sizeof(float) * Max(k, 1) * C, MCXT_ALLOC_HUGE);
	TfmEncodeMany(out, m, &m->enc->w, ids, lens, k, m->enc->opt.normalize);
	for (int i = 0, j = 0; i < n; i++)
	{
		Datum		v[2] = {Int32GetDatum(i + 1), (Datum) 0};
		bool		vn[2] = {false, nulls[i]};

		if (!nulls[i])
			v[1] = PointerGetDatum(float_array(out + (size_t) j++ * C, C));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, vn);
	}
	return (Datum) 0;
}

/* tfm_classify(input, model): the most likely label */
Datum
tfm_classify(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	float	   *p;
	int			best = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = call_model(fcinfo, 1);
	require_task(m, TFM_TASK_CLASSIFICATION, "tfm_classify");
	p = head_text(m, PG_GETARG_DATUM(0));
	for (int k = 1; k < m->nlabels; k++)
		if (p[k] > p[best])
			best = k;
	PG_RETURN_TEXT_P(cstring_to_text(m->labels[best]));
}

/* tfm_score(input, model, label): probability of label */
Datum
tfm_score(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	char	   *label;
	int			k;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	m = call_model(fcinfo, 1);
	require_task(m, TFM_TASK_CLASSIFICATION, "tfm_score");
	label = text_to_cstring(PG_GETARG_TEXT_PP(2));
	for (k = 0; k < m->nlabels && strcmp(m->labels[k], label) != 0; k++)
		;
	if (k == m->nlabels)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("model \"%s\" has no label \"%s\"", m->name, label),
						errhint("tfm.models lists its labels.")));
	PG_RETURN_FLOAT4(head_text(m, PG_GETARG_DATUM(0))[k]);
}

/* tfm_predict(input, model): output of a regression model */
Datum
tfm_predict(PG_FUNCTION_ARGS)
{
	TfmModel   *m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	m = call_model(fcinfo, 1);
	require_task(m, TFM_TASK_REGRESSION, "tfm_predict");
	PG_RETURN_FLOAT4((float4) (head_text(m, PG_GETARG_DATUM(0))[0] * m->target_std + m->target_mean));
}

/*
 * refuse to drop a model other models are built on (whoever owns them, as DROP without CASCADE): the
 * detail names each dependent model with its owner, and the hint says who may drop it
 */
static void
check_dependents(const char *name, Oid me)
{
	bool		foreign;
	char	   *list = TfmCatalogDependents(name, me, &foreign);

	if (list == NULL)
		return;
	ereport(ERROR, (errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					errmsg("cannot drop model \"%s\" because other models use its encoder", name),
					errdetail("Models using it: %s.", list),
					foreign && !superuser_arg(me) ?
					errhint("Those models were trained on \"%s\" (fine_tune head) and use its weights: their owners "
							"(or a superuser) may tfm_drop() them first, or tfm_drop('%s', cascade => true) drops them too.",
							name, name) :
					errhint("Those models were trained on \"%s\" (fine_tune head) and use its weights: tfm_drop() them "
							"first, or tfm_drop('%s', cascade => true) drops them too.", name, name)));
}

/* delete every version of name and its rights; their cache files go at commit (SPI, as the extension owner) */
static void
delete_model(const char *name)
{
	int			n;
	int64	   *ids = TfmCatalogDelete(name, &n);

	for (int i = 0; i < n; i++)
	{
		TfmCacheForget(ids[i]);
		TfmCacheFileRemoveAtCommit(ids[i]);
	}
}

/*
 * drop the models using name's encoder, whoever owns them (as DROP ... CASCADE drops other roles'
 * views of a table), each with a notice naming it and its owner (SPI, as the extension owner)
 */
static void
drop_dependents(const char *name)
{
	int			n;
	char	  **owner;
	char	  **dep = TfmCatalogDependentList(name, &owner, &n);

	for (int i = 0; i < n; i++)
	{
		ereport(NOTICE, (errmsg("drop cascades to model \"%s\" (owner %s)", dep[i], owner[i])));
		delete_model(dep[i]);
	}
}

/*
 * tfm_drop(name [, cascade]): remove every version of a model (owner or superuser); with cascade also
 * the models trained on it that use its encoder, whoever owns them
 */
Datum
tfm_drop(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		cascade = PG_NARGS() > 1 && PG_GETARG_BOOL(1);
	Oid			me = GetUserId();
	Oid		   *owners;
	int			n;
	TfmOwnerScope s;

	PreventCommandIfReadOnly("tfm_drop()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TfmAsOwnerBegin(&s);
	owners = TfmCatalogOwners(name, &n);
	if (n == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("model \"%s\" does not exist", name)));
	for (int i = 0; i < n; i++)
		if (!TfmIsModelOwner(me, owners[i]))
			ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							errmsg("must be owner of model \"%s\"", name)));
	if (cascade)
		drop_dependents(name);
	else
		check_dependents(name, me);
	delete_model(name);
	TfmSyncRoleMarkers();		/* a role owning no model any more may be dropped */
	TfmAsOwnerEnd(&s);
	SPI_finish();
	PG_RETURN_VOID();
}

/* tfm_cache(): the model versions this backend has mapped, and the memory each holds privately */
Datum
tfm_cache(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		full = TfmSeesAllActivity();	/* others may not see the data directory: path under it */

	InitMaterializedSRF(fcinfo, 0);
	for (TfmModel *m = TfmCacheList(); m; m = m->next)
	{
		Datum		v[7];
		bool		nulls[7] = {0};

		v[0] = Int64GetDatum(m->id);
		v[1] = CStringGetTextDatum(m->name);
		v[2] = CStringGetTextDatum(m->sha256);
		v[3] = CStringGetTextDatum(full ? m->map.path : TfmPathShown(m->map.path));
		nulls[3] = m->arch == TFM_ARCH_MLP;	/* weights in the catalog row, no cache file */
		v[4] = Int64GetDatum((int64) m->map.size);
		v[5] = Int64GetDatum(m->hits);
		/* the handle's context: layers, labels, head, and fp32 panels widened from bf16 ones (cache.c) */
		v[6] = Int64GetDatum((int64) MemoryContextMemAllocated(m->mcxt, true));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}

/* int4[] of n ids */
static ArrayType *
ids_array(const int32 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i]);
	return construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT);
}

/* token ids from an int[] argument: no NULLs, each a valid id of the model */
static int32 *
array_ids(const TfmModel *m, ArrayType *a, int *n)
{
	Datum	   *d;
	bool	   *nulls;
	int32	   *ids;

	deconstruct_array(a, INT4OID, 4, true, TYPALIGN_INT, &d, &nulls, n);
	ids = palloc(sizeof(int32) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		ids[i] = nulls[i] ? -1 : DatumGetInt32(d[i]);
		if (ids[i] < 0 || ids[i] >= m->gpt2->info.cfg.n_vocab)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("token ids must be between 0 and %d", m->gpt2->info.cfg.n_vocab - 1)));
	}
	return ids;
}

/* the GPT-2 model a generation call uses, and its checked max_tokens and options */
static TfmModel *
generation_args(FunctionCallInfo fcinfo, TfmGenOptions *o)
{
	TfmModel   *m = call_model(fcinfo, 1);
	int			max_new = PG_GETARG_INT32(2);

	TfmRequireArch(m, TFM_ARCH_GPT2, "tfm_generate");
	if (max_new < 0 || max_new > m->gpt2->ctx)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("max_tokens must be between 0 and %d, the context length of model \"%s\"", m->gpt2->ctx, m->name)));
	if (PG_ARGISNULL(3))
		TfmGenOptionsFromJson(o, DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))),
							  m->gpt2->info.cfg.n_vocab);
	else
		TfmGenOptionsFromJson(o, PG_GETARG_JSONB_P(3), m->gpt2->info.cfg.n_vocab);
	return m;
}

/* tfm_generate(prompt, model, max_tokens, options): the continuation of prompt */
Datum
tfm_generate(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	TfmGenOptions o;
	text	   *t;
	int32	   *ids, *out;
	int			n, nout;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	m = generation_args(fcinfo, &o);
	t = PG_GETARG_TEXT_PP(0);
	ids = TfmTextEncode(m, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &n);
	out = TfmGenerate(m, ids, n, PG_GETARG_INT32(2), &o, &nout);
	PG_RETURN_TEXT_P(TfmGpt2DecodeText(m, out, nout));
}

/* tfm._gpt2_generate(prompt_ids, model, max_tokens, options): generated ids, for tests */
Datum
tfm_gpt2_generate_ids(PG_FUNCTION_ARGS)
{
	TfmModel   *m;
	TfmGenOptions o;
	int32	   *ids, *out;
	int			n, nout;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	m = generation_args(fcinfo, &o);
	ids = array_ids(m, PG_GETARG_ARRAYTYPE_P(0), &n);
	out = TfmGenerate(m, ids, n, PG_GETARG_INT32(2), &o, &nout);
	PG_RETURN_ARRAYTYPE_P(ids_array(out, nout));
}

/* tfm._gpt2_logits(prompt_ids, model, kv_cache): next-token logits after the ids, for tests */
Datum
tfm_gpt2_logits(PG_FUNCTION_ARGS)
{
	TfmModel   *m = call_model(fcinfo, 1);
	int32	   *ids;
	int			n, V;
	float	   *logits;
	Datum	   *d;

	TfmRequireArch(m, TFM_ARCH_GPT2, "tfm._gpt2_logits");
	ids = array_ids(m, PG_GETARG_ARRAYTYPE_P(0), &n);
	logits = TfmGpt2Logits(m, ids, n, PG_GETARG_BOOL(2));
	V = m->gpt2->info.cfg.n_vocab;
	d = palloc(sizeof(Datum) * V);
	for (int i = 0; i < V; i++)
		d[i] = Float4GetDatum(logits[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, V, FLOAT4OID, 4, true, TYPALIGN_INT));
}
