/*-------------------------------------------------------------------------
 * rules_cache.c
 *	  Per-backend cache of the transition rules (crm.pipeline, crm.stage,
 *	  crm.stage_transition) and its invalidation.
 *
 * Loading: three SPI queries read every workflow, stage and allowed move
 * into a memory context under CacheMemoryContext.  They run with the latest
 * snapshot, like catalog reads: an invalidation processed before the load
 * is then always reflected in what was loaded, and one arriving after it
 * drops the cache again, so a committed rule change is never missed.
 *
 * Invalidation: crm.rules_changed(), a statement trigger on the three rule
 * tables, calls CacheInvalidateRelcache on the changed table.  The message
 * reaches this backend at the end of the command (so a rule edited earlier
 * in the same transaction is seen at once), other backends when they commit
 * theirs or next process invalidations, and is undone on rollback.  Our
 * relcache callback drops the cache when the message names one of the rule
 * tables, or all relations.
 *-------------------------------------------------------------------------
 */
#include "rules.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(crm_rules_changed);

uint64		crm_rules_generation = 0;

static MemoryContext rules_context = NULL;
static HTAB *workflows_by_id = NULL;
static bool rules_valid = false;
static uint64 rules_invalidations = 0;	/* relevant messages seen so far */
static Oid	rule_table_oids[3];

static void
rules_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rule_table_oids[0] ||
		relid == rule_table_oids[1] || relid == rule_table_oids[2])
	{
		rules_valid = false;
		rules_invalidations++;
	}
}

void
crm_pipeline_init(void)
{
	CacheRegisterRelcacheCallback(rules_relcache_callback, (Datum) 0);
	crm_history_cache_init();
	crm_transition_cache_init();
}

static Oid
rule_table_oid(const char *name)
{
	Oid			nsp = get_namespace_oid(CRM_SCHEMA, false);
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", CRM_SCHEMA, name),
				 errhint("Is the crm extension installed in this database?")));
	return relid;
}

static SPIPlanPtr
prepare_rules_query(const char *sql)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);

	if (plan == NULL)
		elog(ERROR, "could not prepare rules query: %s", SPI_result_code_string(SPI_result));
	return plan;
}

static void
run_rules_query(SPIPlanPtr plan, Snapshot snapshot)
{
	int			rc = SPI_execute_snapshot(plan, NULL, NULL, snapshot,
										  InvalidSnapshot, true, false, 0);

	if (rc != SPI_OK_SELECT)
		elog(ERROR, "rules query failed: %s", SPI_result_code_string(rc));
}

static char *
text_value(HeapTuple tuple, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Read all rules into a new context.  The three queries are planned first
 * (taking their locks, which processes pending invalidations) and then run
 * with one snapshot, so the three results agree with each other.  The new
 * context hangs off the caller's until the load succeeds, so an error
 * leaves nothing behind.
 */
static void
load_rules(void)
{
	MemoryContext caller_context = CurrentMemoryContext;
	MemoryContext new_context;
	HASHCTL		hash_ctl;
	HTAB	   *by_id;
	SPIPlanPtr	pipelines_plan,
				stages_plan,
				transitions_plan;
	Snapshot	snapshot;
	uint64		i;

	rule_table_oids[0] = rule_table_oid("pipeline");
	rule_table_oids[1] = rule_table_oid("stage");
	rule_table_oids[2] = rule_table_oid("stage_transition");

	new_context = AllocSetContextCreate(caller_context, "crm transition rules",
										ALLOCSET_SMALL_SIZES);
	hash_ctl.keysize = sizeof(int64);
	hash_ctl.entrysize = sizeof(CrmWorkflow);
	hash_ctl.hcxt = new_context;
	by_id = hash_create("crm workflows", 16, &hash_ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pipelines_plan = prepare_rules_query(
		"SELECT p.id, p.name, p.object_type, p.is_default, "
		"       (SELECT count(*) FROM crm.stage s WHERE s.pipeline_id = p.id)::int "
		"  FROM crm.pipeline p");
	stages_plan = prepare_rules_query(
		"SELECT pipeline_id, key, label, kind, probability, required_fields "
		"  FROM crm.stage ORDER BY pipeline_id, position, key");
	transitions_plan = prepare_rules_query(
		"SELECT pipeline_id, from_stage, to_stage FROM crm.stage_transition");
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	/* Workflows, and how many stages each has. */
	run_rules_query(pipelines_plan, snapshot);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		CrmWorkflow *wf = hash_search(by_id, &id, HASH_ENTER, NULL);
		int			n;

		wf->name = MemoryContextStrdup(new_context, text_value(tuple, desc, 2));
		wf->object_type = MemoryContextStrdup(new_context, text_value(tuple, desc, 3));
		wf->is_default = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
		n = DatumGetInt32(SPI_getbinval(tuple, desc, 5, &isnull));
		wf->n_stages = 0;		/* counts up as stages are loaded */
		wf->stages = MemoryContextAllocZero(new_context, sizeof(CrmStage) * Max(n, 1));
		wf->allowed = MemoryContextAllocZero(new_context, sizeof(bool) * Max(n * n, 1));
	}

	/* Stages, in position order within each workflow. */
	run_rules_query(stages_plan, snapshot);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		CrmWorkflow *wf = hash_search(by_id, &id, HASH_FIND, NULL);
		CrmStage   *stage;
		char	   *kind;
		Datum		required;

		if (wf == NULL)
			continue;
		stage = &wf->stages[wf->n_stages++];
		stage->key = MemoryContextStrdup(new_context, text_value(tuple, desc, 2));
		stage->key_len = strlen(stage->key);
		stage->label = MemoryContextStrdup(new_context, text_value(tuple, desc, 3));
		kind = text_value(tuple, desc, 4);
		stage->kind = strcmp(kind, "won") == 0 ? CRM_STAGE_WON :
			strcmp(kind, "lost") == 0 ? CRM_STAGE_LOST : CRM_STAGE_OPEN;
		{
			MemoryContext spi_context = MemoryContextSwitchTo(new_context);

			stage->probability = datumCopy(SPI_getbinval(tuple, desc, 5, &isnull), false, -1);
			MemoryContextSwitchTo(spi_context);
		}
		required = SPI_getbinval(tuple, desc, 6, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n,
						j;

			deconstruct_array(DatumGetArrayTypeP(required), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls, &n);
			stage->required_fields = MemoryContextAlloc(new_context, sizeof(char *) * Max(n, 1));
			for (j = 0; j < n; j++)
				if (!nulls[j])
					stage->required_fields[stage->n_required++] =
						MemoryContextStrdup(new_context, TextDatumGetCString(elems[j]));
		}
	}

	/* Allowed moves. */
	run_rules_query(transitions_plan, snapshot);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		CrmWorkflow *wf = hash_search(by_id, &id, HASH_FIND, NULL);
		char	   *from_key = text_value(tuple, desc, 2);
		char	   *to_key = text_value(tuple, desc, 3);
		int			from,
					to;

		if (wf == NULL)
			continue;
		from = crm_stage_index(wf, from_key, strlen(from_key));
		to = crm_stage_index(wf, to_key, strlen(to_key));
		if (from >= 0 && to >= 0)
			wf->allowed[from * wf->n_stages + to] = true;
	}

	UnregisterSnapshot(snapshot);
	SPI_finish();

	MemoryContextSetParent(new_context, CacheMemoryContext);
	if (rules_context != NULL)
		MemoryContextDelete(rules_context);
	rules_context = new_context;
	workflows_by_id = by_id;
	crm_rules_generation++;
}

/*
 * The rules, loaded if needed.  A relevant invalidation processed while
 * loading (the loader's own lock requests process pending messages) makes
 * the result suspect, so load again until a load sees none.
 */
static HTAB *
current_rules(void)
{
	while (!rules_valid)
	{
		uint64		seen = rules_invalidations;

		load_rules();
		rules_valid = (seen == rules_invalidations);
	}
	return workflows_by_id;
}

CrmWorkflow *
crm_workflow_by_id(int64 id)
{
	return hash_search(current_rules(), &id, HASH_FIND, NULL);
}

CrmWorkflow *
crm_workflow_by_name(const char *name)
{
	HASH_SEQ_STATUS scan;
	CrmWorkflow *wf;

	hash_seq_init(&scan, current_rules());
	while ((wf = hash_seq_search(&scan)) != NULL)
		if (strcmp(wf->name, name) == 0)
		{
			hash_seq_term(&scan);
			return wf;
		}
	return NULL;
}

CrmWorkflow *
crm_default_workflow(const char *object_type)
{
	HASH_SEQ_STATUS scan;
	CrmWorkflow *wf;

	hash_seq_init(&scan, current_rules());
	while ((wf = hash_seq_search(&scan)) != NULL)
		if (wf->is_default && strcmp(wf->object_type, object_type) == 0)
		{
			hash_seq_term(&scan);
			return wf;
		}
	return NULL;
}

/* Index of the stage with this key in wf->stages, or -1. */
int
crm_stage_index(const CrmWorkflow *wf, const char *key, int key_len)
{
	int			i;

	for (i = 0; i < wf->n_stages; i++)
		if (wf->stages[i].key_len == key_len && memcmp(wf->stages[i].key, key, key_len) == 0)
			return i;
	return -1;
}

bool
crm_transition_allowed(const CrmWorkflow *wf, int from, int to)
{
	return wf->allowed[from * wf->n_stages + to];
}

/*
 * A quoted, comma-separated list for error details: the stages reachable
 * from stage "from", or (from < 0) every stage, or every open stage.
 */
char *
crm_describe_stages(const CrmWorkflow *wf, int from, bool open_only)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < wf->n_stages; i++)
	{
		if (from >= 0 && !crm_transition_allowed(wf, from, i))
			continue;
		if (open_only && wf->stages[i].kind != CRM_STAGE_OPEN)
			continue;
		appendStringInfo(&buf, "%s\"%s\"", buf.len > 0 ? ", " : "", wf->stages[i].key);
	}
	return buf.data;
}

/*
 * crm.rules_changed(): AFTER ... FOR EACH STATEMENT trigger on the rule
 * tables.  Queues a relcache invalidation of the changed table, which every
 * backend's callback above turns into a reload.
 */
Datum
crm_rules_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.rules_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
