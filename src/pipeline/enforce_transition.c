/*-------------------------------------------------------------------------
 * enforce_transition.c
 *	  crm.enforce_transition(): the generic BEFORE INSERT OR UPDATE row
 *	  trigger that makes a table's state column follow a workflow.
 *
 * Arguments:
 *	  1. the state column (text), e.g. 'stage' or 'status';
 *	  2. either a column of the table holding the pipeline id (int8/int4),
 *	     chosen per row, or the name of one crm.pipeline row used for every
 *	     row.  A pipeline applies to rows of the table named by its
 *	     object_type.
 *
 * On INSERT: a missing pipeline becomes the object type's default pipeline
 * and a missing state its first open stage; the state must be an open stage.
 * On UPDATE: setting the same state again is a no-op; any other move must be
 * listed in crm.stage_transition (closed stages reopen only along such a
 * row).  Moving to another pipeline is a move too: the row enters the new
 * pipeline in a stage a new row could start in (an open stage), and a
 * closed (won or lost) row is refused, since that would reopen it without
 * a rule.  Entering a stage requires its required_fields, and a lost stage
 * a lost_reason when the table has that column.
 *
 * Optional columns the engine owns when the table has them:
 *	  <state>_entered_at  when the row entered its state (kept if the same
 *						  statement sets it to a time not in the future and
 *						  not before the previous one, for imports)
 *	  closed_at			  set on entering won/lost, cleared on reopening
 *	  probability		  the stage's probability, unless the statement sets
 *						  it while the row is in an open stage (a won row's
 *						  is always 1, a lost row's 0)
 *	  updated_at		  now(), on every UPDATE (so a table guarded by the
 *						  engine needs no separate crm.set_updated_at trigger)
 * An UPDATE that does not move the row cannot change the first three: they
 * keep their old values whatever the statement set.
 *
 * While a dump is being restored (crm_restoring()), rows pass through
 * untouched: they were checked when they were first written.
 *
 * Refusals raise check_violation (23514) with constraint crm_stage_transition
 * or crm_required_field, the allowed next states in errdetail.
 *
 * The trigger's columns are resolved once and cached per backend by trigger
 * OID, dropped when the table's relcache entry is invalidated (ALTER TABLE).
 * Each statement reads pending invalidations once, so rule edits committed
 * elsewhere are seen by the next statement; per row the trigger does hash and
 * array lookups in the rules cache, never SPI or catalog access.
 *-------------------------------------------------------------------------
 */
#include "rules.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_enforce_transition);

/* What one trigger needs to know about its table; cached by trigger OID. */
typedef struct TransitionTrigger
{
	Oid			trigger_oid;	/* hash key */
	Oid			relid;
	bool		valid;
	NameData	table_name;
	NameData	state_column;
	int			state_att;
	int			pipeline_att;	/* 0: fixed workflow */
	Oid			pipeline_type;
	NameData	workflow_name;	/* fixed workflow */
	int			entered_at_att; /* 0 when the table lacks the column */
	int			closed_at_att;
	int			lost_reason_att;
	int			probability_att;
	int			updated_at_att;
	int			id_att;
} TransitionTrigger;

/* The columns the engine may set in one row, each at most once. */
enum EngineColumn
{
	EC_PIPELINE, EC_STATE, EC_UPDATED_AT, EC_ENTERED_AT, EC_CLOSED_AT, EC_PROBABILITY,
	EC_NCOLUMNS
};

/* The changes the engine makes to the row being written. */
typedef struct RowChange
{
	int			natts;
	int			attnums[EC_NCOLUMNS];
	Datum		values[EC_NCOLUMNS];
	bool		nulls[EC_NCOLUMNS];
} RowChange;

static void
set_column(RowChange *change, int attnum, Datum value, bool isnull)
{
	if (attnum <= 0)
		return;
	if (unlikely(change->natts >= EC_NCOLUMNS))
		elog(ERROR, "crm.enforce_transition() set more than %d columns", EC_NCOLUMNS);
	change->attnums[change->natts] = attnum;
	change->values[change->natts] = value;
	change->nulls[change->natts] = isnull;
	change->natts++;
}

/* The row to store: the new row with the columns the engine set. */
static Datum
apply_change(HeapTuple newtuple, TupleDesc desc, RowChange *change)
{
	if (change->natts == 0)
		return PointerGetDatum(newtuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, desc, change->natts, change->attnums,
													 change->values, change->nulls));
}

static int
optional_column(TupleDesc desc, const char *name, Oid type, const char *table)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		return 0;
	if (TupleDescAttr(desc, attnum - 1)->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table \"%s\" must be of type %s to be kept by crm.enforce_transition()",
						name, table, format_type_be(type))));
	return attnum;
}

static HTAB *transition_triggers = NULL;

static void
transition_triggers_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	TransitionTrigger *cfg;

	hash_seq_init(&scan, transition_triggers);
	while ((cfg = hash_seq_search(&scan)) != NULL)
		if (relid == InvalidOid || relid == cfg->relid)
			cfg->valid = false;
}

void
crm_transition_cache_init(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(TransitionTrigger);
	ctl.hcxt = CacheMemoryContext;
	transition_triggers = hash_create("crm transition triggers", 16, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(transition_triggers_relcache_callback, (Datum) 0);
}

static void
resolve_trigger(TransitionTrigger *cfg, TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	const char *table_name = RelationGetRelationName(rel);
	char	   *entered_at_name;
	Oid			state_type;

	if (trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.enforce_transition() takes two arguments, %d given", trigger->tgnargs),
				 errhint("Pass the state column, then the pipeline column or the workflow name, "
						 "as in crm.enforce_transition('stage', 'pipeline_id').")));

	cfg->relid = RelationGetRelid(rel);
	namestrcpy(&cfg->table_name, table_name);
	namestrcpy(&cfg->state_column, trigger->tgargs[0]);
	cfg->state_att = SPI_fnumber(desc, trigger->tgargs[0]);
	if (cfg->state_att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table \"%s\" does not exist", trigger->tgargs[0], table_name),
				 errhint("The first argument of crm.enforce_transition() names the state column.")));
	state_type = TupleDescAttr(desc, cfg->state_att - 1)->atttypid;
	if (state_type != TEXTOID && state_type != VARCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("state column \"%s\" of table \"%s\" must be of type text", trigger->tgargs[0],
						table_name)));

	cfg->pipeline_att = SPI_fnumber(desc, trigger->tgargs[1]);
	if (cfg->pipeline_att > 0)
	{
		cfg->pipeline_type = TupleDescAttr(desc, cfg->pipeline_att - 1)->atttypid;
		if (cfg->pipeline_type != INT8OID && cfg->pipeline_type != INT4OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("pipeline column \"%s\" of table \"%s\" must be of type bigint",
							trigger->tgargs[1], table_name)));
	}
	else
		cfg->pipeline_att = 0;
	namestrcpy(&cfg->workflow_name, trigger->tgargs[1]);

	entered_at_name = psprintf("%s_entered_at", trigger->tgargs[0]);
	cfg->entered_at_att = optional_column(desc, entered_at_name, TIMESTAMPTZOID, table_name);
	cfg->closed_at_att = optional_column(desc, "closed_at", TIMESTAMPTZOID, table_name);
	cfg->lost_reason_att = optional_column(desc, "lost_reason", TEXTOID, table_name);
	cfg->probability_att = optional_column(desc, "probability", NUMERICOID, table_name);
	cfg->updated_at_att = optional_column(desc, "updated_at", TIMESTAMPTZOID, table_name);
	cfg->id_att = SPI_fnumber(desc, "id");
	if (cfg->id_att > 0 && TupleDescAttr(desc, cfg->id_att - 1)->atttypid != INT8OID &&
		TupleDescAttr(desc, cfg->id_att - 1)->atttypid != INT4OID)
		cfg->id_att = 0;
	cfg->id_att = Max(cfg->id_att, 0);
	cfg->valid = true;
}

/*
 * The trigger's configuration, looked up on the first row of each statement
 * (then kept in fn_extra), after reading pending invalidations: rule changes
 * other sessions committed are seen by the next statement.
 */
static TransitionTrigger *
trigger_config(TriggerData *trigdata)
{
	Oid			trigger_oid = trigdata->tg_trigger->tgoid;
	TransitionTrigger *cfg;
	bool		found;

	AcceptInvalidationMessages();
	cfg = hash_search(transition_triggers, &trigger_oid, HASH_ENTER, &found);
	if (!found || !cfg->valid)
	{
		cfg->valid = false;
		resolve_trigger(cfg, trigdata);
	}
	return cfg;
}

/* "deal 42", for messages. */
static char *
record_label(const TransitionTrigger *cfg, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull = true;
	Datum		id = 0;

	if (cfg->id_att > 0)
		id = heap_getattr(tuple, cfg->id_att, desc, &isnull);
	if (isnull)
		return psprintf("%s row", NameStr(cfg->table_name));
	return psprintf("%s " INT64_FORMAT, NameStr(cfg->table_name),
					TupleDescAttr(desc, cfg->id_att - 1)->atttypid == INT8OID ?
					DatumGetInt64(id) : (int64) DatumGetInt32(id));
}

static int64
pipeline_value(const TransitionTrigger *cfg, HeapTuple tuple, TupleDesc desc, bool *isnull)
{
	Datum		d = heap_getattr(tuple, cfg->pipeline_att, desc, isnull);

	if (*isnull)
		return 0;
	return cfg->pipeline_type == INT8OID ? DatumGetInt64(d) : (int64) DatumGetInt32(d);
}

/* The workflow a row follows; fills in the default pipeline on INSERT. */
static CrmWorkflow *
row_workflow(const TransitionTrigger *cfg, Relation rel, HeapTuple tuple, RowChange *change)
{
	TupleDesc	desc = RelationGetDescr(rel);
	CrmWorkflow *wf;
	bool		isnull;
	int64		id;

	if (cfg->pipeline_att == 0)
	{
		wf = crm_workflow_by_name(NameStr(cfg->workflow_name));
		if (wf == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("workflow \"%s\" does not exist", NameStr(cfg->workflow_name)),
					 errhint("Create it as a crm.pipeline row with object_type '%s'.", NameStr(cfg->table_name))));
	}
	else
	{
		id = pipeline_value(cfg, tuple, desc, &isnull);
		if (isnull)
		{
			wf = crm_default_workflow(NameStr(cfg->table_name));
			if (wf == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("no pipeline given and no default pipeline for \"%s\"", NameStr(cfg->table_name)),
						 errhint("Set %s, or mark a pipeline with object_type '%s' as is_default.",
								 NameStr(TupleDescAttr(desc, cfg->pipeline_att - 1)->attname),
								 NameStr(cfg->table_name))));
			set_column(change, cfg->pipeline_att,
					   cfg->pipeline_type == INT8OID ? Int64GetDatum(wf->id) : Int32GetDatum((int32) wf->id),
					   false);
		}
		else
		{
			wf = crm_workflow_by_id(id);
			if (wf == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						 errmsg("pipeline " INT64_FORMAT " does not exist", id)));
		}
	}
	if (strcmp(wf->object_type, NameStr(cfg->table_name)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("pipeline \"%s\" does not apply to table \"%s\"", wf->name, NameStr(cfg->table_name)),
				 errdetail("Pipeline \"%s\" is a workflow for \"%s\" rows.", wf->name, wf->object_type),
				 errtableconstraint(rel, "crm_stage_transition")));
	if (wf->n_stages == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("pipeline \"%s\" has no stages", wf->name),
				 errtableconstraint(rel, "crm_stage_transition")));
	return wf;
}

static int
first_open_stage(const CrmWorkflow *wf)
{
	int			i;

	for (i = 0; i < wf->n_stages; i++)
		if (wf->stages[i].kind == CRM_STAGE_OPEN)
			return i;
	return -1;
}

/* True when the column holds NULL or only blanks. */
static bool
field_is_empty(HeapTuple tuple, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);
	Oid			type = TupleDescAttr(desc, attnum - 1)->atttypid;
	char	   *s;

	if (isnull)
		return true;
	if (type != TEXTOID && type != VARCHAROID && type != BPCHAROID)
		return false;
	for (s = TextDatumGetCString(d); *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

static void
check_required_fields(const TransitionTrigger *cfg, Relation rel, HeapTuple tuple,
					  const CrmWorkflow *wf, int to)
{
	TupleDesc	desc = RelationGetDescr(rel);
	const CrmStage *stage = &wf->stages[to];
	int			i;

	for (i = 0; i < stage->n_required; i++)
	{
		const char *field = stage->required_fields[i];
		int			attnum = SPI_fnumber(desc, field);

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("stage \"%s\" of pipeline \"%s\" requires column \"%s\", which table \"%s\" does not have",
							stage->key, wf->name, field, NameStr(cfg->table_name)),
					 errhint("Fix crm.stage.required_fields of that stage.")));
		if (field_is_empty(tuple, desc, attnum))
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("%s cannot enter %s \"%s\" without \"%s\"",
							record_label(cfg, tuple, desc), NameStr(cfg->state_column), stage->key, field),
					 errdetail("Stage \"%s\" of pipeline \"%s\" requires %s to be set.",
							   stage->key, wf->name, field),
					 errhint("Set %s in the same statement that changes %s.", field, NameStr(cfg->state_column)),
					 errtableconstraint(rel, "crm_required_field")));
	}
	if (stage->kind == CRM_STAGE_LOST && cfg->lost_reason_att > 0 &&
		field_is_empty(tuple, desc, cfg->lost_reason_att))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("%s cannot enter lost %s \"%s\" without a lost_reason",
						record_label(cfg, tuple, desc), NameStr(cfg->state_column), stage->key),
				 errdetail("Closing as lost records why, for win/loss analysis."),
				 errhint("Set lost_reason in the same statement, as in SET %s = '%s', lost_reason = 'price'.",
						 NameStr(cfg->state_column), stage->key),
				 errtableconstraint(rel, "crm_required_field")));
}

/* The state's index in wf, or an error naming the stages there are. */
static int
known_stage(const TransitionTrigger *cfg, Relation rel, const CrmWorkflow *wf, text *state)
{
	int			index = crm_stage_index(wf, VARDATA_ANY(state), VARSIZE_ANY_EXHDR(state));

	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("%s \"%s\" does not exist in pipeline \"%s\"",
						NameStr(cfg->state_column), text_to_cstring(state), wf->name),
				 errdetail("Pipeline \"%s\" has: %s.", wf->name, crm_describe_stages(wf, -1, false)),
				 errtableconstraint(rel, "crm_stage_transition")));
	return index;
}

/*
 * The time the row enters its new state: now(), or the value the statement
 * set in <state>_entered_at when it is plausible (imports of history).
 */
static TimestampTz
entered_at(const TransitionTrigger *cfg, HeapTuple newtuple, HeapTuple oldtuple, TupleDesc desc,
		   const char *label)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz given,
				previous;
	bool		isnull,
				old_isnull = true;

	if (cfg->entered_at_att == 0)
		return now;
	given = DatumGetTimestampTz(heap_getattr(newtuple, cfg->entered_at_att, desc, &isnull));
	if (isnull)
		return now;
	if (oldtuple != NULL)
	{
		previous = DatumGetTimestampTz(heap_getattr(oldtuple, cfg->entered_at_att, desc, &old_isnull));
		if (!old_isnull && given == previous)
			return now;			/* not set by this statement */
		if (!old_isnull && given < previous)
		{
			char	   *given_text = pstrdup(timestamptz_to_str(given));
			char	   *previous_text = pstrdup(timestamptz_to_str(previous));

			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("%s cannot enter its new %s before it entered the previous one", label,
							NameStr(cfg->state_column)),
					 errdetail("%s_entered_at was set to %s, earlier than %s.", NameStr(cfg->state_column),
							   given_text, previous_text)));
		}
	}
	if (given > now)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("%s_entered_at of %s cannot be in the future", NameStr(cfg->state_column), label)));
	return given;
}

/*
 * The stage a row is in, or NULL when its workflow or state is unknown.
 * Looks only (no defaults filled in, no errors); the pointer is valid until
 * the rules are next read.
 */
static const CrmStage *
row_stage(const TransitionTrigger *cfg, TupleTableSlot *slot)
{
	CrmWorkflow *wf;
	bool		isnull;
	Datum		state;
	text	   *key;
	int			index;

	if (cfg->pipeline_att == 0)
		wf = crm_workflow_by_name(NameStr(cfg->workflow_name));
	else
	{
		Datum		id = slot_getattr(slot, cfg->pipeline_att, &isnull);

		wf = isnull ? NULL : crm_workflow_by_id(cfg->pipeline_type == INT8OID ?
												DatumGetInt64(id) : (int64) DatumGetInt32(id));
	}
	state = slot_getattr(slot, cfg->state_att, &isnull);
	if (wf == NULL || isnull)
		return NULL;
	key = DatumGetTextPP(state);
	index = crm_stage_index(wf, VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key));
	return index < 0 ? NULL : &wf->stages[index];
}

/*
 * True when the statement gave column attnum a value other than the old
 * row's.  Read through the trigger's slots, which deform each row once.
 */
static bool
column_changed(int attnum, TupleTableSlot *newslot, TupleTableSlot *oldslot)
{
	Form_pg_attribute att = TupleDescAttr(newslot->tts_tupleDescriptor, attnum - 1);
	bool		new_null,
				old_null;
	Datum		new_value = slot_getattr(newslot, attnum, &new_null);
	Datum		old_value = slot_getattr(oldslot, attnum, &old_null);

	if (new_null || old_null)
		return new_null != old_null;
	if (att->attlen == -1)
	{
		/* by content: the same text may be stored with a short or a long header */
		struct varlena *a = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(new_value));
		struct varlena *b = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(old_value));

		return VARSIZE_ANY_EXHDR(a) != VARSIZE_ANY_EXHDR(b) ||
			memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) != 0;
	}
	return !datumIsEqual(new_value, old_value, att->attbyval, att->attlen);
}

/* Put the old row's value of column attnum back if the statement changed it. */
static void
keep_column(RowChange *change, int attnum, TupleTableSlot *newslot, TupleTableSlot *oldslot)
{
	bool		old_null;
	Datum		old_value;

	if (attnum <= 0 || !column_changed(attnum, newslot, oldslot))
		return;
	old_value = slot_getattr(oldslot, attnum, &old_null);
	set_column(change, attnum, old_value, old_null);
}

/*
 * An UPDATE that moves nothing leaves the engine's columns alone: the time
 * the row entered its state and closed, and a closed row's probability
 * (the stage's: 1 for won, 0 for lost).  Costs two compares unless the
 * statement touched probability.
 */
static void
keep_engine_columns(const TransitionTrigger *cfg, TupleTableSlot *newslot, TupleTableSlot *oldslot,
					RowChange *change)
{
	keep_column(change, cfg->entered_at_att, newslot, oldslot);
	keep_column(change, cfg->closed_at_att, newslot, oldslot);
	if (cfg->probability_att > 0 && column_changed(cfg->probability_att, newslot, oldslot))
	{
		const CrmStage *stage = row_stage(cfg, oldslot);

		if (stage != NULL && stage->kind != CRM_STAGE_OPEN)
			set_column(change, cfg->probability_att, stage->probability, false);
	}
}

/* True when the UPDATE leaves state and pipeline as they were. */
static bool
row_stays(const TransitionTrigger *cfg, TupleTableSlot *newslot, TupleTableSlot *oldslot,
		  bool *pipeline_changed)
{
	*pipeline_changed = cfg->pipeline_att > 0 && column_changed(cfg->pipeline_att, newslot, oldslot);
	return !*pipeline_changed && !column_changed(cfg->state_att, newslot, oldslot);
}

/*
 * Moving a row to another pipeline would reopen a closed one with no rule
 * saying so: refused.
 */
static void
check_pipeline_switch(const TransitionTrigger *cfg, Relation rel, HeapTuple newtuple,
					  HeapTuple oldtuple, TupleTableSlot *oldslot)
{
	TupleDesc	desc = RelationGetDescr(rel);
	const CrmStage *old_stage = row_stage(cfg, oldslot);
	bool		isnull;
	int64		new_id;

	if (old_stage == NULL || old_stage->kind == CRM_STAGE_OPEN)
		return;
	new_id = pipeline_value(cfg, newtuple, desc, &isnull);
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("%s is closed (%s \"%s\") and cannot move to another pipeline",
					record_label(cfg, oldtuple, desc), NameStr(cfg->state_column), old_stage->key),
			 isnull ? 0 :
			 errdetail("Moving it to pipeline " INT64_FORMAT " would reopen it, which only a rule of "
					   "crm.stage_transition can do.", new_id),
			 errhint("Reopen it along a rule of its pipeline first, or create a new record in the other pipeline."),
			 errtableconstraint(rel, "crm_stage_transition")));
}

/* The move's target stage must be reachable: from the old stage, or as a start. */
static void
check_move(const TransitionTrigger *cfg, Relation rel, const CrmWorkflow *wf, HeapTuple oldtuple,
		   int to, bool restart, const char *label)
{
	TupleDesc	desc = RelationGetDescr(rel);
	text	   *old_state;
	bool		isnull;
	int			from;
	char	   *allowed;

	if (restart)
	{
		if (wf->stages[to].kind != CRM_STAGE_OPEN)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("%s cannot start in %s \"%s\"", label, NameStr(cfg->state_column), wf->stages[to].key),
					 errdetail("New rows of pipeline \"%s\" start in an open stage: %s.", wf->name,
							   crm_describe_stages(wf, -1, true)),
					 errhint("Insert it in an open stage, then move it along crm.stage_transition."),
					 errtableconstraint(rel, "crm_stage_transition")));
		return;
	}

	old_state = DatumGetTextPP(heap_getattr(oldtuple, cfg->state_att, desc, &isnull));
	from = isnull ? -1 : crm_stage_index(wf, VARDATA_ANY(old_state), VARSIZE_ANY_EXHDR(old_state));
	if (from < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("%s is in %s \"%s\", which pipeline \"%s\" no longer has", label,
						NameStr(cfg->state_column), isnull ? "" : text_to_cstring(old_state), wf->name),
				 errtableconstraint(rel, "crm_stage_transition")));
	if (crm_transition_allowed(wf, from, to))
		return;
	allowed = crm_describe_stages(wf, from, false);
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("cannot move %s from %s \"%s\" to \"%s\"", label, NameStr(cfg->state_column),
					wf->stages[from].key, wf->stages[to].key),
			 allowed[0] != '\0' ?
			 errdetail("Allowed moves from \"%s\" in pipeline \"%s\": %s.", wf->stages[from].key,
					   wf->name, allowed) :
			 errdetail("No moves from \"%s\" are allowed in pipeline \"%s\".", wf->stages[from].key,
					   wf->name),
			 errhint("Move it through an allowed %s, or add the move to crm.stage_transition.",
					 NameStr(cfg->state_column)),
			 errtableconstraint(rel, "crm_stage_transition")));
}

/* The stamps of entering stage `to`: entered_at, closed_at, probability. */
static void
stamp_move(const TransitionTrigger *cfg, const CrmWorkflow *wf, int to, TriggerData *trigdata,
		   HeapTuple newtuple, HeapTuple oldtuple, const char *label, RowChange *change)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	const CrmStage *stage = &wf->stages[to];
	TimestampTz when = entered_at(cfg, newtuple, oldtuple, desc, label);

	set_column(change, cfg->entered_at_att, TimestampTzGetDatum(when), false);
	if (stage->kind == CRM_STAGE_OPEN)
		set_column(change, cfg->closed_at_att, (Datum) 0, true);
	else
		set_column(change, cfg->closed_at_att, TimestampTzGetDatum(when), false);
	if (cfg->probability_att > 0)
	{
		bool		set_by_statement;

		if (oldtuple == NULL)
			set_by_statement = !heap_attisnull(newtuple, cfg->probability_att, desc);
		else
			set_by_statement = column_changed(cfg->probability_att, trigdata->tg_newslot,
											  trigdata->tg_trigslot);
		if (!set_by_statement || stage->kind != CRM_STAGE_OPEN)
			set_column(change, cfg->probability_att, stage->probability, false);
	}
}

Datum
crm_enforce_transition(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TransitionTrigger *cfg;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	newtuple,
				oldtuple = NULL;
	TupleTableSlot *newslot,
			   *oldslot = NULL;
	bool		restart;		/* INSERT, or moved to another pipeline */
	CrmWorkflow *wf;
	RowChange	change = {0};
	Datum		state_datum;
	bool		isnull;
	int			to;
	char	   *label;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.enforce_transition() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.enforce_transition() must be a BEFORE INSERT OR UPDATE FOR EACH ROW trigger")));

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		newtuple = trigdata->tg_trigtuple;
		newslot = trigdata->tg_trigslot;
	}
	else
	{
		newtuple = trigdata->tg_newtuple;
		newslot = trigdata->tg_newslot;
		oldtuple = trigdata->tg_trigtuple;
		oldslot = trigdata->tg_trigslot;
	}
	if (crm_restoring())
		return PointerGetDatum(newtuple);

	cfg = fcinfo->flinfo->fn_extra;
	if (cfg == NULL || !cfg->valid)
		fcinfo->flinfo->fn_extra = cfg = trigger_config(trigdata);
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	state_datum = slot_getattr(newslot, cfg->state_att, &isnull);

	/*
	 * The common UPDATE that leaves state and pipeline alone costs a few
	 * compares and the updated_at stamp.
	 */
	restart = (oldtuple == NULL);
	if (oldtuple != NULL)
	{
		bool		pipeline_changed;

		set_column(&change, cfg->updated_at_att,
				   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
		if (row_stays(cfg, newslot, oldslot, &pipeline_changed) || (isnull && !pipeline_changed))
		{
			keep_engine_columns(cfg, newslot, oldslot, &change);
			return apply_change(newtuple, desc, &change);	/* NULL state: NOT NULL speaks */
		}
		if (pipeline_changed)
		{
			check_pipeline_switch(cfg, rel, newtuple, oldtuple, oldslot);
			restart = true;
		}
	}

	wf = row_workflow(cfg, rel, newtuple, &change);
	label = record_label(cfg, newtuple, desc);
	if (isnull)
	{
		to = first_open_stage(wf);
		if (to < 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("pipeline \"%s\" has no open stage to start in", wf->name),
					 errtableconstraint(rel, "crm_stage_transition")));
		set_column(&change, cfg->state_att, CStringGetTextDatum(wf->stages[to].key), false);
	}
	else
		to = known_stage(cfg, rel, wf, DatumGetTextPP(state_datum));

	check_move(cfg, rel, wf, oldtuple, to, restart, label);
	check_required_fields(cfg, rel, newtuple, wf, to);
	stamp_move(cfg, wf, to, trigdata, newtuple, oldtuple, label, &change);
	return apply_change(newtuple, desc, &change);
}
