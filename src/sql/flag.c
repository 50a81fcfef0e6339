/*
 * flag.c: tfm_flag, the BEFORE ... FOR EACH ROW trigger that sets a boolean column from a model's score.
 *
 * CREATE TRIGGER t BEFORE INSERT OR UPDATE ON mail FOR EACH ROW
 *   EXECUTE FUNCTION tfm_flag(model, input column(s), flag column, label [, threshold])
 *
 * The arguments are checked and the columns found once per statement (a plan kept in the trigger's
 * fn_extra, keyed on the trigger and the table's tuple descriptor); each row then costs the model's
 * score and one tuple rewrite. Scores come from the C functions behind tfm_score(text, ...) and
 * tfm_score(float8[], ...), called directly (their per-query model memo and privilege check
 * included), so the flag is exactly tfm_score(...) >= threshold. It runs with the caller's rights and
 * resolves no name through search_path. Until 0.2.0 it was a PL/pgSQL function (see sql/flag.sql,
 * which keeps that body as flag_ref and checks both agree).
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "infer/infer.h"
#include "sql/funcs.h"

PG_FUNCTION_INFO_V1(tfm_flag);

#define FLAG_USAGE "tfm_flag needs (model, text column, flag column, label [, threshold])"

/* how the input column(s) become tfm_score's first argument */
typedef enum FlagInput
{
	FLAG_TEXT,					/* one column, read as text: tfm_score(text, ...) */
	FLAG_VECTOR,				/* one array column: tfm_score(float8[], ...) */
	FLAG_LIST					/* several numeric columns, in order: tfm_score(float8[], ...) */
} FlagInput;

/* what one statement needs to flag its rows, built at its first row */
typedef struct FlagPlan
{
	Oid			tgoid;			/* the trigger and the tuple descriptor it was built for */
	TupleDesc	tupdesc;
	FlagInput	input;
	int			ncols;
	AttrNumber *cols;			/* input columns */
	Oid		   *coltypes;		/* their types (base types of domains) */
	int			flag;			/* flag column (attnum) */
	Oid			flagtype;		/* boolean or a domain over it */
	void	   *domain_extra;	/* domain_check's cache */
	float4		threshold;
	Datum		model;			/* text */
	Datum		label;			/* text */
	FmgrInfo	score;			/* tfm_score or tfm_score_features; its fn_extra is that function's memo */
} FlagPlan;

/* whether s is a plain unsigned decimal number, as the PL/pgSQL version's pattern accepted it */
static bool
plain_number(const char *s)
{
	int			digits = 0, exp = 0;

	while (isspace((unsigned char) *s))
		s++;
	for (; isdigit((unsigned char) *s); s++)
		digits++;
	if (*s == '.')
		for (s++; isdigit((unsigned char) *s); s++)
			digits++;
	if (digits == 0)
		return false;
	if (*s == 'e' || *s == 'E')
	{
		s++;
		if (*s == '+' || *s == '-')
			s++;
		for (; isdigit((unsigned char) *s); s++)
			exp++;
		if (exp < 1 || exp > 3)
			return false;
	}
	while (isspace((unsigned char) *s))
		s++;
	return *s == '\0';
}

/* the threshold argument: a number in [0, 1] (22023 otherwise), compared as real */
static float4
parse_threshold(const char *arg)
{
	Datum		num;

	if (!plain_number(arg))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tfm_flag threshold must be a number between 0 and 1, not \"%s\"", arg),
						errhint("Pass the threshold as the fifth trigger argument, for example '0.8'.")));
	num = DirectFunctionCall3(numeric_in, CStringGetDatum(arg), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, num, NumericGetDatum(int64_to_numeric(1)))))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tfm_flag threshold must be a number between 0 and 1, not \"%s\"", arg),
						errhint("The threshold is compared with a probability (tfm_score).")));
	return DatumGetFloat4(DirectFunctionCall1(numeric_float4, num));
}

/* attnum of a live user column named name, 0 if there is none */
static int
column_number(TupleDesc td, const char *name)
{
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return i + 1;
	}
	return 0;
}

/* error 42703 naming the table and the two column arguments */
static void
no_column(Relation rel, const char *inputs, const char *flag)
{
	ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
					errmsg("table %s.%s has no column %s or %s", get_namespace_name(RelationGetNamespace(rel)),
						   RelationGetRelationName(rel), inputs, flag)));
}

/* the input columns: one, or a comma-separated list of numeric columns (each name trimmed of spaces) */
static void
plan_inputs(FlagPlan *p, Relation rel, const char *inputs, const char *flag)
{
	TupleDesc	td = RelationGetDescr(rel);
	char	   *list = pstrdup(inputs);
	char	   *next = list;
	int			n = 1;

	for (const char *c = inputs; *c; c++)
		n += (*c == ',');
	p->cols = palloc(sizeof(AttrNumber) * n);
	p->coltypes = palloc(sizeof(Oid) * n);
	p->ncols = 0;
	while (next != NULL)
	{
		char	   *name = next, *end;

		next = strchr(name, ',');
		if (next)
			*next++ = '\0';
		while (*name == ' ')
			name++;
		for (end = name + strlen(name); end > name && end[-1] == ' '; end--)
			;
		*end = '\0';
		if ((p->cols[p->ncols] = column_number(td, name)) == 0)
			no_column(rel, inputs, flag);
		p->coltypes[p->ncols] = getBaseType(TupleDescAttr(td, p->cols[p->ncols] - 1)->atttypid);
		p->ncols++;
	}
}

/* the flag column: boolean, or a domain over boolean (42804 otherwise) */
static void
plan_flag(FlagPlan *p, Relation rel, const char *flag)
{
	Oid			base;

	p->flagtype = TupleDescAttr(RelationGetDescr(rel), p->flag - 1)->atttypid;
	base = getBaseType(p->flagtype);
	if (base != BOOLOID)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("tfm_flag flag column %s of table %s.%s must be boolean, not %s", flag,
							   get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel),
							   format_type_be(base))));
}

/* check the trigger's arguments and find its columns (in the statement's memory) */
static FlagPlan *
plan_build(FunctionCallInfo fcinfo, TriggerData *td)
{
	Trigger    *tg = td->tg_trigger;
	FlagPlan   *p;
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	char		cat;
	bool		pref;

	if (tg->tgnargs < 4 || tg->tgnargs > 5)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg(FLAG_USAGE)));
	if (!TRIGGER_FIRED_FOR_ROW(td->tg_event) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
						errmsg("tfm_flag must be a BEFORE ... FOR EACH ROW trigger")));
	p = palloc0(sizeof(FlagPlan));
	p->tgoid = tg->tgoid;
	p->tupdesc = RelationGetDescr(td->tg_relation);
	p->threshold = tg->tgnargs == 5 ? parse_threshold(tg->tgargs[4]) : 0.5f;
	p->flag = column_number(p->tupdesc, tg->tgargs[2]);
	plan_inputs(p, td->tg_relation, tg->tgargs[1], tg->tgargs[2]);
	if (p->flag == 0)
		no_column(td->tg_relation, tg->tgargs[1], tg->tgargs[2]);
	plan_flag(p, td->tg_relation, tg->tgargs[2]);
	get_type_category_preferred(TupleDescAttr(p->tupdesc, p->cols[0] - 1)->atttypid, &cat, &pref);
	p->input = p->ncols > 1 ? FLAG_LIST : cat == TYPCATEGORY_ARRAY ? FLAG_VECTOR : FLAG_TEXT;
	p->model = CStringGetTextDatum(tg->tgargs[0]);
	p->label = CStringGetTextDatum(tg->tgargs[3]);
	p->score.fn_addr = p->input == FLAG_TEXT ? tfm_score : tfm_score_features;
	p->score.fn_nargs = 3;
	p->score.fn_mcxt = fcinfo->flinfo->fn_mcxt;
	MemoryContextSwitchTo(old);
	return p;
}

/* a value of type t as its output function writes it */
static char *
output_text(Datum v, Oid t)
{
	Oid			out;
	bool		varlena;

	getTypeOutputInfo(t, &out, &varlena);
	return OidOutputFunctionCall(out, v);
}

/* one value (of base type t) as a float8, as its text would read: numbers directly, others through text */
static float8
value_float8(Datum v, Oid t)
{

	switch (t)
	{
		case INT2OID:
			return (float8) DatumGetInt16(v);
		case INT4OID:
			return (float8) DatumGetInt32(v);
		case INT8OID:
			return (float8) DatumGetInt64(v);
		case FLOAT4OID:
			return (float8) DatumGetFloat4(v);
		case FLOAT8OID:
			return DatumGetFloat8(v);
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8, v));
		default:
			return DatumGetFloat8(DirectFunctionCall1(float8in, CStringGetDatum(output_text(v, t))));
	}
}

/* a float8[] of the same shape as the array a; NULL elements stay NULL (tfm_score refuses them) */
static ArrayType *
vector_of_array(ArrayType *a)
{
	Oid			et = ARR_ELEMTYPE(a), base = getBaseType(et);
	int16		len;
	bool		byval;
	char		align;
	Datum	   *v;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(a) == 0)
		return construct_empty_array(FLOAT8OID);
	get_typlenbyvalalign(et, &len, &byval, &align);
	deconstruct_array(a, et, len, byval, align, &v, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			v[i] = Float8GetDatum(value_float8(v[i], base));
	return construct_md_array(v, nulls, ARR_NDIM(a), ARR_DIMS(a), ARR_LBOUND(a), FLOAT8OID, 8,
							  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/* the input of one row as tfm_score's first argument; false for a NULL text or vector */
static bool
row_input(const FlagPlan *p, HeapTuple tup, Datum *input)
{
	bool		isnull;
	Datum		v;

	if (p->input == FLAG_LIST)
	{
		Datum	   *e = palloc(sizeof(Datum) * p->ncols);
		bool	   *nulls = palloc(sizeof(bool) * p->ncols);
		int			dims[1] = {p->ncols}, lbs[1] = {1};

		for (int i = 0; i < p->ncols; i++)
		{
			v = heap_getattr(tup, p->cols[i], p->tupdesc, &nulls[i]);
			e[i] = nulls[i] ? (Datum) 0 : Float8GetDatum(value_float8(v, p->coltypes[i]));
		}
		*input = PointerGetDatum(construct_md_array(e, nulls, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		return true;
	}
	v = heap_getattr(tup, p->cols[0], p->tupdesc, &isnull);
	if (isnull)
		return false;
	if (p->input == FLAG_VECTOR)
		*input = PointerGetDatum(vector_of_array(DatumGetArrayTypeP(v)));
	else if (p->coltypes[0] == TEXTOID || p->coltypes[0] == VARCHAROID || p->coltypes[0] == BPCHAROID)
		*input = v;
	else
		*input = CStringGetTextDatum(output_text(v, p->coltypes[0]));
	return true;
}

/* tfm_score(input, model, label) through the plan's function; false when it is NULL */
static bool
row_score(FlagPlan *p, Datum input, float4 *score)
{
	LOCAL_FCINFO(fc, 3);
	Datum		r;

	InitFunctionCallInfoData(*fc, &p->score, 3, InvalidOid, NULL, NULL);
	fc->args[0].value = input;
	fc->args[0].isnull = false;
	fc->args[1].value = p->model;
	fc->args[1].isnull = false;
	fc->args[2].value = p->label;
	fc->args[2].isnull = false;
	r = FunctionCallInvoke(fc);
	if (fc->isnull)
		return false;
	*score = DatumGetFloat4(r);
	return true;
}

/* tfm_flag(): set the flag column of the new row to tfm_score(input, model, label) >= threshold */
Datum
tfm_flag(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	FlagPlan   *p = (FlagPlan *) fcinfo->flinfo->fn_extra;
	HeapTuple	tup;
	Datum		input, flag = (Datum) 0;
	bool		flag_null = true;
	float4		score;
	int			col;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("trigger functions can only be called as triggers")));
	if (p == NULL || p->tgoid != td->tg_trigger->tgoid || p->tupdesc != RelationGetDescr(td->tg_relation))
		fcinfo->flinfo->fn_extra = p = plan_build(fcinfo, td);
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		return PointerGetDatum(td->tg_trigtuple);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (row_input(p, tup, &input) && row_score(p, input, &score))
	{
		flag = BoolGetDatum(float4_ge(score, p->threshold));
		flag_null = false;
	}
	if (p->flagtype != BOOLOID)
		domain_check(flag, flag_null, p->flagtype, &p->domain_extra, fcinfo->flinfo->fn_mcxt);
	col = p->flag;
	return PointerGetDatum(heap_modify_tuple_by_cols(tup, p->tupdesc, 1, &col, &flag, &flag_null));
}
