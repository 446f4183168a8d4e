/*-------------------------------------------------------------------------
 * record_transition.c
 *	  crm.record_transition(): AFTER INSERT OR UPDATE row trigger that
 *	  writes one history row per state change.
 *
 * Arguments: the history table (an unqualified name means the schema of the
 * table the trigger fires on, never the search_path), its column
 * referencing the record, the state column, and the pipeline column or
 * workflow name (as for crm.enforce_transition).  An UPDATE that changes
 * neither the state nor the pipeline writes nothing.  (Testing that here is
 * cheaper than a WHEN clause, whose expression PostgreSQL parses again for
 * every statement.)
 *
 * The history table needs: <reference> bigint, from_stage text, to_stage
 * text, changed_at timestamptz, changed_by name; it may have id (identity),
 * pipeline_id bigint, time_in_from_stage interval, created_at, updated_at.
 * Any other column must be nullable; it is left NULL.
 *
 * Rows go straight into the heap and its indexes, the way the logical
 * replication apply worker writes them: no SPI, no planner, no executor per
 * row.  The relation, its indexes and a slot are opened once per statement
 * and closed when the statement's executor state is freed (a memory context
 * callback; after an error, the resource owner has already released them).
 * The history table's own triggers do not fire, and users need no privilege
 * on it: history is written only by the engine.
 *
 * So the engine writes only where the owner of the table it fires on could
 * write, as foreign key checks act as a table's owner: once per statement
 * it checks that owner's INSERT privilege on the history table (and that
 * no row-level security policy applies to it there), or refuses with
 * 42501.  A trigger on a table of one's own, even a temporary one, cannot
 * write someone else's history.  Rows also go in past the history table's
 * foreign keys, so the only one allowed on a column the engine writes is
 * the reference column pointing at the id of the table the trigger fires
 * on, which holds by construction: the row that fired the trigger is there.
 * While a dump is being restored (crm_restoring()) the engine writes
 * nothing: the saved history is restored with the rest.
 *
 * Column positions, resolved from the catalogs once, are cached per backend
 * by trigger and dropped when either table's relcache entry is invalidated.
 *-------------------------------------------------------------------------
 */
#include "rules.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_record_transition);

enum HistoryColumn
{
	H_ID, H_REFERENCE, H_PIPELINE, H_FROM, H_TO, H_CHANGED_AT, H_CHANGED_BY,
	H_TIME_IN_FROM, H_CREATED_AT, H_UPDATED_AT, H_NCOLUMNS
};

static const struct
{
	const char *name;			/* NULL: the reference column, named by argument */
	Oid			type;
	bool		required;
} history_columns[H_NCOLUMNS] = {
	[H_ID] = {"id", INT8OID, false},
	[H_REFERENCE] = {NULL, INT8OID, true},
	[H_PIPELINE] = {"pipeline_id", INT8OID, false},
	[H_FROM] = {"from_stage", TEXTOID, true},
	[H_TO] = {"to_stage", TEXTOID, true},
	[H_CHANGED_AT] = {"changed_at", TIMESTAMPTZOID, true},
	[H_CHANGED_BY] = {"changed_by", NAMEOID, true},
	[H_TIME_IN_FROM] = {"time_in_from_stage", INTERVALOID, false},
	[H_CREATED_AT] = {"created_at", TIMESTAMPTZOID, false},
	[H_UPDATED_AT] = {"updated_at", TIMESTAMPTZOID, false},
};

/* Where everything is, per trigger; cached across statements. */
typedef struct HistoryLayout
{
	Oid			trigger_oid;	/* hash key */
	Oid			source_relid;
	Oid			history_relid;
	bool		valid;
	int			history_att[H_NCOLUMNS];	/* 0 when absent */
	Oid			id_sequence;	/* InvalidOid unless id is an identity */
	int			source_id_att;
	int			source_state_att;
	int			source_pipeline_att;	/* 0: fixed workflow */
	Oid			source_pipeline_type;
	int			source_entered_at_att;	/* 0 when absent */
	char		workflow_name[NAMEDATALEN];
} HistoryLayout;

/* What one statement keeps open while it writes. */
typedef struct HistoryWriter
{
	HistoryLayout layout;
	Relation	rel;				/* the rest is set while is_open */
	EState	   *estate;
	ResultRelInfo *result_rel;
	TupleTableSlot *slot;
	NameData	username;
	bool		is_open;
	MemoryContextCallback close_callback;
} HistoryWriter;

static HTAB *layouts = NULL;

static void
layouts_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	HistoryLayout *layout;

	if (layouts == NULL)
		return;
	hash_seq_init(&scan, layouts);
	while ((layout = hash_seq_search(&scan)) != NULL)
		if (relid == InvalidOid || relid == layout->source_relid || relid == layout->history_relid)
			layout->valid = false;
}

void
crm_history_cache_init(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(HistoryLayout);
	ctl.hcxt = CacheMemoryContext;
	layouts = hash_create("crm history layouts", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(layouts_relcache_callback, (Datum) 0);
}

/*
 * The history table named by the trigger's first argument, opened with
 * AccessShareLock: a qualified name as written, an unqualified one in the
 * schema of the table the trigger fires on (never through the search_path,
 * which whoever fires the trigger first would otherwise choose).
 */
static Relation
open_history_table(const char *name, Relation source)
{
	List	   *names = stringToQualifiedNameList(name);
	Oid			nsp,
				relid;

	if (list_length(names) > 1)
		return table_openrv(makeRangeVarFromNameList(names), AccessShareLock);
	nsp = RelationGetNamespace(source);
	relid = get_relname_relid(strVal(linitial(names)), nsp);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("history table \"%s\" does not exist in schema \"%s\"", strVal(linitial(names)),
						get_namespace_name(nsp)),
				 errhint("Name the history table with its schema, as in 'crm.deal_stage_history'.")));
	return table_open(relid, AccessShareLock);
}

/*
 * The engine writes rows past the history table's foreign keys, so one on a
 * column it writes is allowed only when it holds by construction: the
 * reference column pointing at the id of the table the trigger fires on.
 */
static void
check_history_foreign_keys(Relation history, Relation source, const HistoryLayout *layout,
						   const char *history_name)
{
	ListCell   *lc;

	foreach(lc, RelationGetFKeyList(history))
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);
		bool		written = false;
		int			k,
					c;

		for (k = 0; k < fk->nkeys; k++)
			for (c = 0; c < H_NCOLUMNS; c++)
				written |= (layout->history_att[c] > 0 && fk->conkey[k] == layout->history_att[c]);
		if (!written ||
			(fk->nkeys == 1 && fk->conkey[0] == layout->history_att[H_REFERENCE] &&
			 fk->confrelid == RelationGetRelid(source) && fk->confkey[0] == layout->source_id_att))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history table \"%s\" has a foreign key crm.record_transition() cannot keep",
						history_name),
				 errdetail("Constraint \"%s\" is on a column the engine writes, and the engine writes rows "
						   "past foreign keys.", get_constraint_name(fk->conoid)),
				 errhint("The only foreign key allowed there is the reference column pointing at the id "
						 "of table \"%s\".", RelationGetRelationName(source))));
	}
}

/*
 * History is written only where the owner of the table the trigger fires on
 * could write it (checked once per statement, so a revoked privilege or role
 * membership counts from the next statement on).
 */
static void
check_history_privilege(Relation source, const HistoryLayout *layout, const char *history_name)
{
	Oid			owner = source->rd_rel->relowner;

	if (pg_class_aclcheck(layout->history_relid, owner, ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" may not write history into \"%s\"",
						RelationGetRelationName(source), history_name),
				 errdetail("crm.record_transition() writes history only where the table's owner, role \"%s\", "
						   "may insert.", GetUserNameFromId(owner, false)),
				 errhint("Keep the history of a table in a table its owner may write.")));
	if (check_enable_rls(layout->history_relid, owner, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" may not write history into \"%s\"",
						RelationGetRelationName(source), history_name),
				 errdetail("Row-level security of \"%s\" applies to role \"%s\", the owner of \"%s\".",
						   history_name, GetUserNameFromId(owner, false), RelationGetRelationName(source)),
				 errhint("Keep the history of a table in a table its owner may write.")));
}

static void
resolve_layout(HistoryLayout *layout, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	source = trigdata->tg_relation;
	TupleDesc	source_desc = RelationGetDescr(source);
	const char *source_name = RelationGetRelationName(source);
	Relation	history;
	TupleDesc	desc;
	int			c,
				i;
	char	   *entered_at;

	if (trigger->tgnargs != 4)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.record_transition() takes four arguments, %d given", trigger->tgnargs),
				 errhint("Pass the history table, its reference column, the state column, and the "
						 "pipeline column or workflow name.")));

	history = open_history_table(trigger->tgargs[0], source);
	desc = RelationGetDescr(history);
	layout->history_relid = RelationGetRelid(history);
	check_history_privilege(source, layout, trigger->tgargs[0]);
	if (history->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("history table \"%s\" must be a plain table", trigger->tgargs[0])));

	layout->source_relid = RelationGetRelid(source);
	for (c = 0; c < H_NCOLUMNS; c++)
	{
		const char *name = history_columns[c].name ? history_columns[c].name : trigger->tgargs[1];
		int			attnum = SPI_fnumber(desc, name);

		if (attnum <= 0)
		{
			if (history_columns[c].required)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("history table \"%s\" has no column \"%s\"", trigger->tgargs[0], name)));
			attnum = 0;
		}
		else if (TupleDescAttr(desc, attnum - 1)->atttypid != history_columns[c].type)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of history table \"%s\" must be of type %s", name,
							trigger->tgargs[0], format_type_be(history_columns[c].type))));
		layout->history_att[c] = attnum;
	}
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		ours = false;

		for (c = 0; c < H_NCOLUMNS; c++)
			ours |= (layout->history_att[c] == i + 1);
		if (!ours && !att->attisdropped && att->attnotnull)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("column \"%s\" of history table \"%s\" must be nullable",
							NameStr(att->attname), trigger->tgargs[0]),
					 errdetail("crm.record_transition() leaves columns it does not know NULL.")));
	}
	layout->id_sequence = InvalidOid;
	if (layout->history_att[H_ID] > 0 && TupleDescAttr(desc, layout->history_att[H_ID] - 1)->attidentity)
		layout->id_sequence = getIdentitySequence(layout->history_relid, layout->history_att[H_ID], false);

	layout->source_id_att = SPI_fnumber(source_desc, "id");
	if (layout->source_id_att <= 0 ||
		TupleDescAttr(source_desc, layout->source_id_att - 1)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table \"%s\" needs a bigint column \"id\" for crm.record_transition()", source_name)));
	check_history_foreign_keys(history, source, layout, trigger->tgargs[0]);
	table_close(history, AccessShareLock);
	layout->source_state_att = SPI_fnumber(source_desc, trigger->tgargs[2]);
	if (layout->source_state_att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", trigger->tgargs[2], source_name)));
	layout->source_pipeline_att = Max(SPI_fnumber(source_desc, trigger->tgargs[3]), 0);
	if (layout->source_pipeline_att > 0)
		layout->source_pipeline_type = TupleDescAttr(source_desc, layout->source_pipeline_att - 1)->atttypid;
	strlcpy(layout->workflow_name, trigger->tgargs[3], NAMEDATALEN);
	entered_at = psprintf("%s_entered_at", trigger->tgargs[2]);
	layout->source_entered_at_att = Max(SPI_fnumber(source_desc, entered_at), 0);
	if (layout->source_entered_at_att > 0 &&
		TupleDescAttr(source_desc, layout->source_entered_at_att - 1)->atttypid != TIMESTAMPTZOID)
		layout->source_entered_at_att = 0;
	layout->valid = true;
}

/* Runs when the statement's executor state is freed. */
static void
close_writer(void *arg)
{
	HistoryWriter *writer = arg;

	/*
	 * After an error the (sub)transaction is no longer in progress and its
	 * resource owner has already released the relation and its indexes.
	 */
	if (!writer->is_open || !IsTransactionState())
		return;
	writer->is_open = false;
	ExecDropSingleTupleTableSlot(writer->slot);
	ExecCloseIndices(writer->result_rel);
	table_close(writer->rel, NoLock);
}

/* The statement's writer, with the trigger's layout; not open yet. */
static HistoryWriter *
new_writer(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	Oid			trigger_oid = trigdata->tg_trigger->tgoid;
	HistoryLayout *layout;
	HistoryWriter *writer;
	bool		found;

	layout = hash_search(layouts, &trigger_oid, HASH_ENTER, &found);
	if (!found || !layout->valid)
	{
		layout->valid = false;
		resolve_layout(layout, trigdata);	/* checks the privilege too */
	}
	else
		check_history_privilege(trigdata->tg_relation, layout, trigdata->tg_trigger->tgargs[0]);
	writer = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(HistoryWriter));
	writer->layout = *layout;
	return writer;
}

/* Open the history table and its indexes for the rest of the statement. */
static void
open_writer(FunctionCallInfo fcinfo, HistoryWriter *writer)
{
	HistoryLayout *layout = &writer->layout;
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

	namestrcpy(&writer->username, GetUserNameFromId(GetUserId(), false));
	writer->estate = CreateExecutorState();
	writer->rel = table_open(layout->history_relid, RowExclusiveLock);
	writer->result_rel = makeNode(ResultRelInfo);
	InitResultRelInfo(writer->result_rel, writer->rel, 1, NULL, 0);
	ExecOpenIndices(writer->result_rel, false);
	writer->slot = MakeSingleTupleTableSlot(RelationGetDescr(writer->rel), &TTSOpsVirtual);
	writer->is_open = true;
	writer->close_callback.func = close_writer;
	writer->close_callback.arg = writer;
	MemoryContextRegisterResetCallback(writer->estate->es_query_cxt, &writer->close_callback);
	MemoryContextSwitchTo(old);
}

/* True when an UPDATE left both the state and the pipeline as they were. */
static bool
nothing_moved(const HistoryLayout *layout, HeapTuple newtuple, HeapTuple oldtuple, TupleDesc desc)
{
	bool		new_null,
				old_null;
	Datum		new_state = heap_getattr(newtuple, layout->source_state_att, desc, &new_null);
	Datum		old_state = heap_getattr(oldtuple, layout->source_state_att, desc, &old_null);
	text	   *a,
			   *b;

	if (new_null != old_null)
		return false;
	if (layout->source_pipeline_att > 0)
	{
		bool		n1,
					n2;
		Datum		p1 = heap_getattr(newtuple, layout->source_pipeline_att, desc, &n1);
		Datum		p2 = heap_getattr(oldtuple, layout->source_pipeline_att, desc, &n2);

		if (n1 != n2 || (!n1 && !datumIsEqual(p1, p2, true, sizeof(Datum))))
			return false;
	}
	if (new_null)
		return true;
	a = DatumGetTextPP(new_state);
	b = DatumGetTextPP(old_state);
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

static int64
source_pipeline(const HistoryLayout *layout, HeapTuple tuple, TupleDesc desc, bool *isnull)
{
	Datum		d;

	if (layout->source_pipeline_att == 0)
	{
		CrmWorkflow *wf = crm_workflow_by_name(layout->workflow_name);

		*isnull = (wf == NULL);
		return wf ? wf->id : 0;
	}
	d = heap_getattr(tuple, layout->source_pipeline_att, desc, isnull);
	if (*isnull)
		return 0;
	return layout->source_pipeline_type == INT8OID ? DatumGetInt64(d) : (int64) DatumGetInt32(d);
}

Datum
crm_record_transition(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HistoryWriter *writer;
	HistoryLayout *layout;
	TupleDesc	source_desc;
	HeapTuple	newtuple,
				oldtuple = NULL;
	TupleTableSlot *slot;
	Datum	   *values;
	bool	   *nulls;
	bool		isnull,
				entered_null = true;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz changed_at = now;
	int64		pipeline_id;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.record_transition() must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.record_transition() must be an AFTER INSERT OR UPDATE FOR EACH ROW trigger")));
	if (crm_restoring())
		return PointerGetDatum(NULL);

	writer = fcinfo->flinfo->fn_extra;
	if (writer == NULL)
		fcinfo->flinfo->fn_extra = writer = new_writer(fcinfo, trigdata);
	layout = &writer->layout;
	source_desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newtuple = trigdata->tg_trigtuple;
	else
	{
		newtuple = trigdata->tg_newtuple;
		oldtuple = trigdata->tg_trigtuple;
		if (nothing_moved(layout, newtuple, oldtuple, source_desc))
			return PointerGetDatum(NULL);
	}
	if (!writer->is_open)
		open_writer(fcinfo, writer);

	slot = writer->slot;
	ExecClearTuple(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;
	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);

#define SET_COLUMN(c, v) \
	do { \
		if (layout->history_att[c] > 0) \
		{ \
			values[layout->history_att[c] - 1] = (v); \
			nulls[layout->history_att[c] - 1] = false; \
		} \
	} while (0)

	if (OidIsValid(layout->id_sequence))
		SET_COLUMN(H_ID, Int64GetDatum(nextval_internal(layout->id_sequence, false)));
	SET_COLUMN(H_REFERENCE, heap_getattr(newtuple, layout->source_id_att, source_desc, &isnull));
	pipeline_id = source_pipeline(layout, newtuple, source_desc, &isnull);
	if (!isnull)
		SET_COLUMN(H_PIPELINE, Int64GetDatum(pipeline_id));
	if (oldtuple != NULL)
	{
		Datum		from = heap_getattr(oldtuple, layout->source_state_att, source_desc, &isnull);

		if (!isnull)
			SET_COLUMN(H_FROM, from);
	}
	SET_COLUMN(H_TO, heap_getattr(newtuple, layout->source_state_att, source_desc, &isnull));
	if (layout->source_entered_at_att > 0)
	{
		Datum		d = heap_getattr(newtuple, layout->source_entered_at_att, source_desc, &entered_null);

		if (!entered_null)
			changed_at = DatumGetTimestampTz(d);
	}
	SET_COLUMN(H_CHANGED_AT, TimestampTzGetDatum(changed_at));
	SET_COLUMN(H_CHANGED_BY, NameGetDatum(&writer->username));
	if (oldtuple != NULL && layout->source_entered_at_att > 0)
	{
		Datum		previous = heap_getattr(oldtuple, layout->source_entered_at_att, source_desc, &isnull);

		if (!isnull)
			SET_COLUMN(H_TIME_IN_FROM,
					   DirectFunctionCall2(timestamp_mi, TimestampTzGetDatum(changed_at), previous));
	}
	SET_COLUMN(H_CREATED_AT, TimestampTzGetDatum(now));
	SET_COLUMN(H_UPDATED_AT, TimestampTzGetDatum(now));
#undef SET_COLUMN

	if (nulls[layout->history_att[H_TO] - 1])
		return PointerGetDatum(NULL);	/* no state: the NOT NULL check refused the row already */
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(writer->rel, slot, GetCurrentCommandId(true), 0, NULL);
	ExecInsertIndexTuples(writer->result_rel, slot, writer->estate, false, false, NULL, NIL);
	ResetPerTupleExprContext(writer->estate);
	return PointerGetDatum(NULL);
}
