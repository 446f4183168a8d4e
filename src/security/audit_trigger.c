/*-------------------------------------------------------------------------
 * audit_trigger.c
 *	  crm.record_audit(): the trigger that writes crm.audit_log.
 *
 * Attached to the CRM tables as an AFTER INSERT OR UPDATE OR DELETE row
 * trigger (and an AFTER TRUNCATE statement trigger), it writes one log row
 * per change: who (the session's role, not a SECURITY DEFINER function's
 * owner), when (the transaction's timestamp, like updated_at), which table
 * and row (its id column, when it has one), the action, and what changed as
 * jsonb:
 *	  insert, delete	{"column": value, ...}, the whole row
 *	  update			{"column": {"new": value, "old": value}, ...}, only the
 *						columns whose value changed (updated_at left out: the
 *						log row's time says it)
 *	  truncate			{}
 * Values are written as to_jsonb() writes them (numbers, strings, booleans,
 * ISO 8601 times, jsonb as itself, one-dimensional arrays as arrays); other
 * types are written as their text form.  An update that changes nothing is
 * not logged.  txid is the writer's top-level transaction id, taken before
 * the log row's id: crm.seal_audit relies on that order (30_audit.sql).
 *
 * Rows go straight into the heap and the indexes of crm.audit_log, as
 * crm.record_transition writes history: no SPI, planner or executor per row.
 * The log, its indexes, a slot and a bulk-insert buffer are opened once per
 * statement and closed when the statement's executor state is freed.  Column
 * conversions are resolved once per table and cached per backend until the
 * table's relcache entry is invalidated.  The trigger writes whatever the
 * session's privileges on the log (nobody but the extension's owner may
 * write it), but only for tables whose owner may insert into the log, that
 * is the extension's own tables: nobody else can forge log rows by
 * attaching it to a table of theirs.  While a dump is being restored
 * (crm_restoring()) it writes nothing: the saved log rows are restored too;
 * nor while CREATE EXTENSION (or an update script) seeds crm's own rows.
 *-------------------------------------------------------------------------
 */
#include "audit.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"

#include <math.h>

PG_FUNCTION_INFO_V1(crm_record_audit);

/* The columns of crm.audit_log the trigger fills, by name and type. */
enum LogColumn
{
	L_ID, L_AT, L_ACTOR, L_TABLE_NAME, L_ROW_ID, L_ACTION, L_CHANGED, L_TXID, L_NCOLUMNS
};

static const struct
{
	const char *name;
	Oid			type;
} log_columns[L_NCOLUMNS] = {
	[L_ID] = {"id", INT8OID},
	[L_AT] = {"at", TIMESTAMPTZOID},
	[L_ACTOR] = {"actor", NAMEOID},
	[L_TABLE_NAME] = {"table_name", TEXTOID},
	[L_ROW_ID] = {"row_id", INT8OID},
	[L_ACTION] = {"action", TEXTOID},
	[L_CHANGED] = {"changed", JSONBOID},
	[L_TXID] = {"txid", XID8OID},
};

/* Where the log is; looked up once, dropped when the log's relcache entry goes. */
static struct
{
	bool		valid;
	Oid			relid;
	Oid			id_sequence;
	int			att[L_NCOLUMNS];
} log_target;

/* How a column's values become jsonb. */
typedef enum ValueKind
{
	VK_BOOL, VK_INT2, VK_INT4, VK_INT8, VK_NUMERIC, VK_FLOAT4, VK_FLOAT8, VK_STRING, VK_NAME,
	VK_JSONB, VK_DATETIME, VK_ARRAY, VK_TEXT_FORM
} ValueKind;

typedef struct ValueConversion
{
	ValueKind	kind;
	Oid			type;			/* the base type, domains looked through */
	FmgrInfo	output;			/* VK_TEXT_FORM and float special values */
	/* VK_ARRAY: the elements' type and conversion */
	int16		elem_len;
	bool		elem_byval;
	char		elem_align;
	struct ValueConversion *element;
} ValueConversion;

typedef struct AuditedColumn
{
	int			attnum;
	const char *name;
	bool		logged_on_update;	/* false for updated_at */
	int16		len;
	bool		byval;
	ValueConversion conversion;
} AuditedColumn;

/* What the trigger knows about one audited table; cached by relation OID. */
typedef struct AuditedTable
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext context;		/* holds everything below */
	char	   *table_name;
	int			id_att;			/* 0: no integer id column */
	Oid			id_type;
	int			ncolumns;
	AuditedColumn *columns;
} AuditedTable;

/* What one statement keeps open while it writes. */
typedef struct AuditWriter
{
	AuditedTable *table;
	int			att[L_NCOLUMNS];
	Oid			id_sequence;
	Relation	log;			/* the rest is set while is_open */
	EState	   *estate;
	ResultRelInfo *result_rel;
	TupleTableSlot *slot;
	BulkInsertState bistate;	/* NULL until the second row */
	uint64		rows_written;
	NameData	actor;
	Datum		table_name;
	bool		is_open;
	MemoryContextCallback close_callback;
} AuditWriter;

static HTAB *audited_tables = NULL;

static void
audit_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	AuditedTable *table;
	bool		all = (relid == InvalidOid || relid == log_target.relid);

	if (all)
		log_target.valid = false;
	if (audited_tables == NULL)
		return;
	hash_seq_init(&scan, audited_tables);
	while ((table = hash_seq_search(&scan)) != NULL)
		if (all || relid == table->relid)
			table->valid = false;
}

static void
audit_cache_init(void)
{
	HASHCTL		ctl;

	if (audited_tables != NULL)
		return;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(AuditedTable);
	ctl.hcxt = CacheMemoryContext;
	audited_tables = hash_create("crm audited tables", 32, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(audit_relcache_callback, (Datum) 0);
}

char *
crm_audit_table_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));

	if (relname == NULL || nspname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return quote_qualified_identifier(nspname, relname);
}

/* Find crm.audit_log and its columns. */
static void
resolve_log_target(void)
{
	Oid			nsp = get_namespace_oid(CRM_SCHEMA, false);
	Oid			relid = get_relname_relid(CRM_AUDIT_TABLE, nsp);
	Relation	log;
	TupleDesc	desc;
	int			c;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", CRM_SCHEMA, CRM_AUDIT_TABLE)));
	log = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(log);
	for (c = 0; c < L_NCOLUMNS; c++)
	{
		int			i;

		log_target.att[c] = 0;
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), log_columns[c].name) == 0 &&
				att->atttypid == log_columns[c].type)
				log_target.att[c] = i + 1;
		}
		if (log_target.att[c] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("crm.audit_log has no column \"%s\" of type %s", log_columns[c].name,
							format_type_be(log_columns[c].type))));
	}
	log_target.id_sequence = getIdentitySequence(relid, log_target.att[L_ID], false);
	table_close(log, AccessShareLock);
	log_target.relid = relid;
	log_target.valid = true;
}

/* The conversion of values of type typid (domains looked through). */
static void
resolve_conversion(ValueConversion *conv, Oid typid, MemoryContext context)
{
	Oid			base = getBaseType(typid);
	Oid			elem = get_element_type(base);
	Oid			output;
	bool		varlena;

	conv->type = base;
	getTypeOutputInfo(base, &output, &varlena);
	fmgr_info_cxt(output, &conv->output, context);
	switch (base)
	{
		case BOOLOID:
			conv->kind = VK_BOOL;
			break;
		case INT2OID:
			conv->kind = VK_INT2;
			break;
		case INT4OID:
			conv->kind = VK_INT4;
			break;
		case INT8OID:
			conv->kind = VK_INT8;
			break;
		case NUMERICOID:
			conv->kind = VK_NUMERIC;
			break;
		case FLOAT4OID:
			conv->kind = VK_FLOAT4;
			break;
		case FLOAT8OID:
			conv->kind = VK_FLOAT8;
			break;
		case TEXTOID:
		case VARCHAROID:
			conv->kind = VK_STRING;
			break;
		case NAMEOID:
			conv->kind = VK_NAME;
			break;
		case JSONBOID:
			conv->kind = VK_JSONB;
			break;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			conv->kind = VK_DATETIME;
			break;
		default:
			conv->kind = VK_TEXT_FORM;
			break;
	}
	if (OidIsValid(elem) && conv->kind == VK_TEXT_FORM)
	{
		conv->kind = VK_ARRAY;
		get_typlenbyvalalign(elem, &conv->elem_len, &conv->elem_byval, &conv->elem_align);
		conv->element = MemoryContextAllocZero(context, sizeof(ValueConversion));
		resolve_conversion(conv->element, elem, context);
	}
}

/* Columns, names and conversions of an audited table. */
static void
resolve_table(AuditedTable *table, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;
	int			i;

	if (table->context != NULL)
		MemoryContextDelete(table->context);
	table->context = AllocSetContextCreate(CacheMemoryContext, "crm audited table", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(table->context);

	if (pg_class_aclcheck(log_target.relid, rel->rd_rel->relowner, ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("crm.record_audit() cannot log changes to table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("The owner of a table the audit trigger fires on must be allowed to insert into crm.audit_log; "
						   "only crm's own tables are audited.")));

	table->table_name = crm_audit_table_name(RelationGetRelid(rel));
	table->id_att = 0;
	table->columns = palloc0(sizeof(AuditedColumn) * desc->natts);
	table->ncolumns = 0;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		AuditedColumn *col;

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), "id") == 0 &&
			(att->atttypid == INT8OID || att->atttypid == INT4OID || att->atttypid == INT2OID))
		{
			table->id_att = i + 1;
			table->id_type = att->atttypid;
		}
		col = &table->columns[table->ncolumns++];
		col->attnum = i + 1;
		col->name = pstrdup(NameStr(att->attname));
		col->logged_on_update = strcmp(col->name, "updated_at") != 0;
		col->len = att->attlen;
		col->byval = att->attbyval;
		resolve_conversion(&col->conversion, att->atttypid, table->context);
	}
	MemoryContextSwitchTo(old);
	table->valid = true;
}

static AuditedTable *
audited_table(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	AuditedTable *table;
	bool		found;

	audit_cache_init();
	if (!log_target.valid)
		resolve_log_target();
	table = hash_search(audited_tables, &relid, HASH_ENTER, &found);
	if (!found)
	{
		table->context = NULL;
		table->valid = false;
	}
	if (!table->valid)
		resolve_table(table, rel);
	return table;
}

/* Runs when the statement's executor state is freed. */
static void
close_writer(void *arg)
{
	AuditWriter *writer = arg;

	/* after an error, the resource owner has released everything already */
	if (!writer->is_open || !IsTransactionState())
		return;
	writer->is_open = false;
	if (writer->bistate != NULL)
		FreeBulkInsertState(writer->bistate);
	ExecDropSingleTupleTableSlot(writer->slot);
	ExecCloseIndices(writer->result_rel);
	table_close(writer->log, NoLock);
}

/* Open the log and its indexes for the rest of the statement. */
static void
open_writer(FunctionCallInfo fcinfo, AuditWriter *writer)
{
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

	namestrcpy(&writer->actor, GetUserNameFromId(GetOuterUserId(), false));
	writer->table_name = CStringGetTextDatum(writer->table->table_name);
	writer->estate = CreateExecutorState();
	writer->log = table_open(log_target.relid, RowExclusiveLock);
	writer->result_rel = makeNode(ResultRelInfo);
	InitResultRelInfo(writer->result_rel, writer->log, 1, NULL, 0);
	ExecOpenIndices(writer->result_rel, false);
	writer->slot = MakeSingleTupleTableSlot(RelationGetDescr(writer->log), &TTSOpsVirtual);
	writer->bistate = NULL;		/* from the second row on: see write_log_row */
	writer->is_open = true;
	writer->close_callback.func = close_writer;
	writer->close_callback.arg = writer;
	MemoryContextRegisterResetCallback(writer->estate->es_query_cxt, &writer->close_callback);
	MemoryContextSwitchTo(old);
}

static void push_value(JsonbParseState **state, JsonbIteratorToken token, const ValueConversion *conv,
					   Datum value, bool isnull);

/* A number or string in the value's text form, as to_jsonb() writes floats. */
static void
set_float(JsonbValue *v, const ValueConversion *conv, Datum value, double d)
{
	char	   *text = OutputFunctionCall((FmgrInfo *) &conv->output, value);

	if (isnan(d) || isinf(d))
	{
		v->type = jbvString;
		v->val.string.val = text;
		v->val.string.len = strlen(text);
	}
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	}
}

static void
push_array(JsonbParseState **state, JsonbIteratorToken token, const ValueConversion *conv, Datum value)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;

	if (ARR_NDIM(array) > 1)
	{
		char	   *text = OutputFunctionCall((FmgrInfo *) &conv->output, value);
		JsonbValue	v = {.type = jbvString, .val.string = {strlen(text), text}};

		pushJsonbValue(state, token, &v);
		return;
	}
	deconstruct_array(array, ARR_ELEMTYPE(array), conv->elem_len, conv->elem_byval, conv->elem_align,
					  &elems, &nulls, &n);
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
		push_value(state, WJB_ELEM, conv->element, elems[i], nulls[i]);
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/* Push one value (WJB_VALUE or WJB_ELEM) as to_jsonb() would write it. */
static void
push_value(JsonbParseState **state, JsonbIteratorToken token, const ValueConversion *conv,
		   Datum value, bool isnull)
{
	JsonbValue	v;

	if (isnull)
	{
		v.type = jbvNull;
		pushJsonbValue(state, token, &v);
		return;
	}
	switch (conv->kind)
	{
		case VK_BOOL:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(value);
			break;
		case VK_INT2:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt16(value));
			break;
		case VK_INT4:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		case VK_INT8:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case VK_NUMERIC:
			{
				Numeric		num = DatumGetNumeric(value);

				if (numeric_is_nan(num) || numeric_is_inf(num))
				{
					char	   *text = OutputFunctionCall((FmgrInfo *) &conv->output, value);

					v.type = jbvString;
					v.val.string.val = text;
					v.val.string.len = strlen(text);
				}
				else
				{
					v.type = jbvNumeric;
					v.val.numeric = num;
				}
				break;
			}
		case VK_FLOAT4:
			set_float(&v, conv, value, DatumGetFloat4(value));
			break;
		case VK_FLOAT8:
			set_float(&v, conv, value, DatumGetFloat8(value));
			break;
		case VK_STRING:
			{
				text	   *t = DatumGetTextPP(value);

				v.type = jbvString;
				v.val.string.val = VARDATA_ANY(t);
				v.val.string.len = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case VK_NAME:
			v.type = jbvString;
			v.val.string.val = NameStr(*DatumGetName(value));
			v.val.string.len = strlen(v.val.string.val);
			break;
		case VK_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(value);

				v.type = jbvBinary;
				v.val.binary.data = &jb->root;
				v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				break;
			}
		case VK_DATETIME:
			v.type = jbvString;
			v.val.string.val = JsonEncodeDateTime(NULL, value, conv->type, NULL);
			v.val.string.len = strlen(v.val.string.val);
			break;
		case VK_ARRAY:
			push_array(state, token, conv, value);
			return;
		case VK_TEXT_FORM:
			v.type = jbvString;
			v.val.string.val = OutputFunctionCall((FmgrInfo *) &conv->output, value);
			v.val.string.len = strlen(v.val.string.val);
			break;
	}
	pushJsonbValue(state, token, &v);
}

static void
push_key(JsonbParseState **state, const char *name)
{
	JsonbValue	key = {.type = jbvString, .val.string = {strlen(name), (char *) name}};

	pushJsonbValue(state, WJB_KEY, &key);
}

/* True when two non-null values of a column are the same bytes, detoasted. */
static bool
same_value(const AuditedColumn *col, Datum a, Datum b)
{
	struct varlena *x,
			   *y;

	if (datumIsEqual(a, b, col->byval, col->len))
		return true;
	if (col->len != -1)
		return false;
	x = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(a));
	y = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(b));
	return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
		memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
}

/*
 * The changed column of a log row; NULL for an update that changed nothing.
 * For insert and delete, row is the whole row; for update, the new row and
 * old the previous one; for truncate, both are NULL.
 */
static Jsonb *
changed_values(const AuditedTable *table, TupleDesc desc, HeapTuple row, HeapTuple old)
{
	JsonbParseState *state = NULL;
	JsonbValue *result;
	Datum	   *values = NULL,
			   *old_values = NULL;
	bool	   *nulls = NULL,
			   *old_nulls = NULL;
	int			logged = 0;
	int			i;

	if (row != NULL)
	{
		values = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(row, desc, values, nulls);
	}
	if (old != NULL)
	{
		old_values = palloc(sizeof(Datum) * desc->natts);
		old_nulls = palloc(sizeof(bool) * desc->natts);
		heap_deform_tuple(old, desc, old_values, old_nulls);
	}
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; row != NULL && i < table->ncolumns; i++)
	{
		const AuditedColumn *col = &table->columns[i];
		bool		isnull = nulls[col->attnum - 1],
					old_null;
		Datum		value = values[col->attnum - 1];
		Datum		previous;

		if (old == NULL)
		{
			push_key(&state, col->name);
			push_value(&state, WJB_VALUE, &col->conversion, value, isnull);
			continue;
		}
		if (!col->logged_on_update)
			continue;
		previous = old_values[col->attnum - 1];
		old_null = old_nulls[col->attnum - 1];
		if (isnull && old_null)
			continue;
		if (!isnull && !old_null && same_value(col, value, previous))
			continue;
		push_key(&state, col->name);
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_key(&state, "new");
		push_value(&state, WJB_VALUE, &col->conversion, value, isnull);
		push_key(&state, "old");
		push_value(&state, WJB_VALUE, &col->conversion, previous, old_null);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		logged++;
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	if (old != NULL && logged == 0)
		return NULL;
	return JsonbValueToJsonb(result);
}

/* Append one row to crm.audit_log. */
static void
write_log_row(AuditWriter *writer, const char *action, HeapTuple row, TupleDesc desc, Jsonb *changed)
{
	TupleTableSlot *slot = writer->slot;
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;
	const AuditedTable *table = writer->table;
	FullTransactionId txid = GetTopFullTransactionId();	/* before the id: see 30_audit.sql */

	ExecClearTuple(slot);
	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
#define SET_COLUMN(c, v) \
	do { values[writer->att[c] - 1] = (v); nulls[writer->att[c] - 1] = false; } while (0)
	SET_COLUMN(L_TXID, FullTransactionIdGetDatum(txid));
	SET_COLUMN(L_ID, Int64GetDatum(nextval_internal(writer->id_sequence, false)));
	SET_COLUMN(L_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	SET_COLUMN(L_ACTOR, NameGetDatum(&writer->actor));
	SET_COLUMN(L_TABLE_NAME, writer->table_name);
	SET_COLUMN(L_ACTION, CStringGetTextDatum(action));
	SET_COLUMN(L_CHANGED, JsonbPGetDatum(changed));
	if (row != NULL && table->id_att > 0)
	{
		bool		isnull;
		Datum		id = heap_getattr(row, table->id_att, desc, &isnull);

		if (!isnull)
			SET_COLUMN(L_ROW_ID, Int64GetDatum(table->id_type == INT8OID ? DatumGetInt64(id) :
											   table->id_type == INT4OID ? DatumGetInt32(id) :
											   DatumGetInt16(id)));
	}
#undef SET_COLUMN
	ExecStoreVirtualTuple(slot);
	/* a statement writing many rows keeps its target page pinned; one writing a single row does without */
	if (writer->rows_written++ == 1)
	{
		MemoryContext old = MemoryContextSwitchTo(writer->estate->es_query_cxt);

		writer->bistate = GetBulkInsertState();
		MemoryContextSwitchTo(old);
	}
	table_tuple_insert(writer->log, slot, GetCurrentCommandId(true), 0, writer->bistate);
	ExecInsertIndexTuples(writer->result_rel, slot, writer->estate, false, false, NULL, NIL);
	ResetPerTupleExprContext(writer->estate);
}

Datum
crm_record_audit(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	AuditWriter *writer;
	TupleDesc	desc;
	HeapTuple	row;
	Jsonb	   *changed;
	const char *action;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.record_audit() must be called as a trigger")));
	event = trigdata->tg_event;
	if (!TRIGGER_FIRED_AFTER(event) ||
		TRIGGER_FIRED_FOR_ROW(event) == TRIGGER_FIRED_BY_TRUNCATE(event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.record_audit() must be an AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW trigger, "
						"or an AFTER TRUNCATE FOR EACH STATEMENT trigger")));
	/* a dump being restored brings its own log; CREATE EXTENSION's seed rows are crm's own */
	if (crm_restoring() || creating_extension)
		return PointerGetDatum(NULL);

	writer = fcinfo->flinfo->fn_extra;
	if (writer == NULL)
	{
		AuditedTable *table = audited_table(trigdata->tg_relation);

		writer = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(AuditWriter));
		writer->table = table;
		memcpy(writer->att, log_target.att, sizeof(writer->att));
		writer->id_sequence = log_target.id_sequence;
		fcinfo->flinfo->fn_extra = writer;
	}
	else if (!writer->table->valid || !log_target.valid)
		writer->table = audited_table(trigdata->tg_relation);

	desc = RelationGetDescr(trigdata->tg_relation);
	row = trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_TRUNCATE(event))
	{
		action = "truncate";
		row = NULL;
		changed = changed_values(writer->table, desc, NULL, NULL);
	}
	else if (TRIGGER_FIRED_BY_INSERT(event))
	{
		action = "insert";
		changed = changed_values(writer->table, desc, row, NULL);
	}
	else if (TRIGGER_FIRED_BY_DELETE(event))
	{
		action = "delete";
		changed = changed_values(writer->table, desc, row, NULL);
	}
	else
	{
		action = "update";
		row = trigdata->tg_newtuple;
		changed = changed_values(writer->table, desc, row, trigdata->tg_trigtuple);
		if (changed == NULL)
			return PointerGetDatum(NULL);
	}
	if (!writer->is_open)
		open_writer(fcinfo, writer);
	write_log_row(writer, action, row, desc, changed);
	return PointerGetDatum(NULL);
}
