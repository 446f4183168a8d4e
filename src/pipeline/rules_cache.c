/*-------------------------------------------------------------------------
 * rules_cache.c
 *	  Per-backend cache of the transition rules (crm.pipeline, crm.stage,
 *	  crm.stage_transition) and its invalidation.
 *
 * Loading: three SPI queries read every workflow, stage and allowed move
 * into a memory context under CacheMemoryContext.  They run with the latest
 * snapshot, like catalog reads: an invalidation processed before the load
 * is then always reflected in what was loaded, and one arriving after it
 * drops the cache again, so a committed rule change is never missed.  The
 * queries name every object with its schema and use no operator or
 * function, so a caller's search_path cannot change what they read; each
 * array is sized from the very rows that fill it.
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
#include "spi_util.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "lib/stringinfo.h"
#include "storage/lmgr.h"
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

enum RuleTable
{
	RULE_PIPELINE, RULE_STAGE, RULE_TRANSITION, N_RULE_TABLES
};

static const char *const rule_table_names[N_RULE_TABLES] = {
	[RULE_PIPELINE] = "pipeline",
	[RULE_STAGE] = "stage",
	[RULE_TRANSITION] = "stage_transition",
};

static MemoryContext rules_context = NULL;
static HTAB *workflows_by_id = NULL;
static bool rules_valid = false;
static uint64 rules_invalidations = 0;	/* relevant messages seen so far */
static Oid	rule_table_oids[N_RULE_TABLES];

/* Result columns of the three queries below. */
enum
{
	PIPELINE_ID = 1, PIPELINE_NAME, PIPELINE_OBJECT_TYPE, PIPELINE_IS_DEFAULT
};
enum
{
	STAGE_PIPELINE_ID = 1, STAGE_KEY, STAGE_LABEL, STAGE_KIND, STAGE_PROBABILITY,
	STAGE_REQUIRED_FIELDS
};
enum
{
	TRANSITION_PIPELINE_ID = 1, TRANSITION_FROM, TRANSITION_TO
};

static CrmSpiQuery pipelines_query = {
	"SELECT p.id, p.name, p.object_type, p.is_default FROM crm.pipeline p"
};

/* Ordered so that each pipeline's stages are one run of rows, in position order. */
static CrmSpiQuery stages_query = {
	"SELECT s.pipeline_id, s.key, s.label, s.kind, s.probability, s.required_fields"
	"  FROM crm.stage s ORDER BY s.pipeline_id, s.position, s.key"
};

static CrmSpiQuery transitions_query = {
	"SELECT t.pipeline_id, t.from_stage, t.to_stage FROM crm.stage_transition t"
};

static void
rules_relcache_callback(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < N_RULE_TABLES; i++)
		if (relid == InvalidOid || relid == rule_table_oids[i])
		{
			rules_valid = false;
			rules_invalidations++;
			return;
		}
}

void
crm_rules_cache_init(void)
{
	CacheRegisterRelcacheCallback(rules_relcache_callback, (Datum) 0);
}

/* The OID of crm.<name>, locked for reading until the end of the transaction. */
static Oid
lock_rule_table(const char *name)
{
	Oid			nsp = get_namespace_oid(CRM_SCHEMA, false);
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist", CRM_SCHEMA, name),
				 errhint("Is the crm extension installed in this database?")));
	LockRelationOid(relid, AccessShareLock);
	return relid;
}

static int64
row_int64(uint64 row, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* A NOT NULL text column of the rule tables, copied into the cache. */
static char *
row_text(uint64 row, int column, MemoryContext cache)
{
	char	   *s = crm_spi_text(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, column, cache);

	if (s == NULL)
		elog(ERROR, "unexpected NULL in column %d of the transition rules", column);
	return s;
}

static void
load_workflows(HTAB *by_id, MemoryContext cache)
{
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		int64		id = row_int64(i, PIPELINE_ID);
		CrmWorkflow *wf = hash_search(by_id, &id, HASH_ENTER, NULL);
		bool		isnull;

		wf->name = row_text(i, PIPELINE_NAME, cache);
		wf->object_type = row_text(i, PIPELINE_OBJECT_TYPE, cache);
		wf->is_default = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
													PIPELINE_IS_DEFAULT, &isnull)) && !isnull;
		wf->n_stages = 0;
		wf->stages = NULL;
		wf->allowed = NULL;
	}
}

static void
load_stage(CrmStage *stage, uint64 row, MemoryContext cache)
{
	HeapTuple	tuple = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	char	   *kind;
	Datum		probability,
				required;

	stage->key = row_text(row, STAGE_KEY, cache);
	stage->key_len = strlen(stage->key);
	stage->label = row_text(row, STAGE_LABEL, cache);
	kind = row_text(row, STAGE_KIND, CurrentMemoryContext);
	stage->kind = strcmp(kind, "won") == 0 ? CRM_STAGE_WON :
		strcmp(kind, "lost") == 0 ? CRM_STAGE_LOST : CRM_STAGE_OPEN;
	probability = SPI_getbinval(tuple, desc, STAGE_PROBABILITY, &isnull);
	if (isnull)
		elog(ERROR, "stage \"%s\" has no probability", stage->key);
	{
		MemoryContext old = MemoryContextSwitchTo(cache);

		stage->probability = datumCopy(probability, false, -1);
		MemoryContextSwitchTo(old);
	}
	stage->n_required = 0;
	stage->required_fields = NULL;
	required = SPI_getbinval(tuple, desc, STAGE_REQUIRED_FIELDS, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					j;

		deconstruct_array(DatumGetArrayTypeP(required), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, &nulls, &n);
		stage->required_fields = MemoryContextAlloc(cache, sizeof(char *) * Max(n, 1));
		for (j = 0; j < n; j++)
			if (!nulls[j])
			{
				MemoryContext old = MemoryContextSwitchTo(cache);

				stage->required_fields[stage->n_required++] = TextDatumGetCString(elems[j]);
				MemoryContextSwitchTo(old);
			}
	}
}

/*
 * Each pipeline's stages, one run of consecutive rows: the run's length
 * sizes the pipeline's arrays, so nothing is written past what was
 * allocated whatever the rows say.
 */
static void
load_stages(HTAB *by_id, MemoryContext cache)
{
	uint64		start,
				end,
				i;

	for (start = 0; start < SPI_processed; start = end)
	{
		int64		id = row_int64(start, STAGE_PIPELINE_ID);
		CrmWorkflow *wf = hash_search(by_id, &id, HASH_FIND, NULL);
		int			n;

		for (end = start + 1; end < SPI_processed && row_int64(end, STAGE_PIPELINE_ID) == id; end++)
			;
		if (wf == NULL)
			continue;
		if (wf->stages != NULL)
			elog(ERROR, "stages of pipeline " INT64_FORMAT " are not in one run", id);
		if (end - start > (uint64) (MaxAllocSize / sizeof(CrmStage)))
			elog(ERROR, "pipeline " INT64_FORMAT " has too many stages", id);
		n = (int) (end - start);
		wf->stages = MemoryContextAllocZero(cache, sizeof(CrmStage) * n);
		wf->allowed = MemoryContextAllocZero(cache, mul_size(n, n));
		for (i = start; i < end; i++)
		{
			Assert(wf->n_stages < n);
			load_stage(&wf->stages[wf->n_stages++], i, cache);
		}
	}
}

static void
load_transitions(HTAB *by_id)
{
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		int64		id = row_int64(i, TRANSITION_PIPELINE_ID);
		CrmWorkflow *wf = hash_search(by_id, &id, HASH_FIND, NULL);
		char	   *from_key,
				   *to_key;
		int			from,
					to;

		if (wf == NULL)
			continue;
		from_key = row_text(i, TRANSITION_FROM, CurrentMemoryContext);
		to_key = row_text(i, TRANSITION_TO, CurrentMemoryContext);
		from = crm_stage_index(wf, from_key, strlen(from_key));
		to = crm_stage_index(wf, to_key, strlen(to_key));
		if (from >= 0 && to >= 0)
			wf->allowed[from * wf->n_stages + to] = true;
	}
}

/*
 * Read all rules into a new context.  The rule tables are locked first
 * (which processes pending invalidations) and then read with one snapshot,
 * so the three results agree with each other.  The new context hangs off
 * the caller's until the load succeeds, so an error leaves nothing behind.
 */
static void
load_rules(void)
{
	MemoryContext new_context;
	HASHCTL		hash_ctl;
	HTAB	   *by_id;
	Snapshot	snapshot;
	int			t;

	for (t = 0; t < N_RULE_TABLES; t++)
		rule_table_oids[t] = lock_rule_table(rule_table_names[t]);

	new_context = AllocSetContextCreate(CurrentMemoryContext, "crm transition rules",
										ALLOCSET_SMALL_SIZES);
	hash_ctl.keysize = sizeof(int64);
	hash_ctl.entrysize = sizeof(CrmWorkflow);
	hash_ctl.hcxt = new_context;
	by_id = hash_create("crm workflows", 16, &hash_ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	crm_spi_connect();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	crm_spi_execute_snapshot(&pipelines_query, NULL, NULL, snapshot, 0);
	load_workflows(by_id, new_context);
	crm_spi_execute_snapshot(&stages_query, NULL, NULL, snapshot, 0);
	load_stages(by_id, new_context);
	crm_spi_execute_snapshot(&transitions_query, NULL, NULL, snapshot, 0);
	load_transitions(by_id);
	UnregisterSnapshot(snapshot);
	SPI_finish();

	MemoryContextSetParent(new_context, CacheMemoryContext);
	if (rules_context != NULL)
		MemoryContextDelete(rules_context);
	rules_context = new_context;
	workflows_by_id = by_id;
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
 * backend's callback above turns into a reload.  It changes no row, so it
 * does the same while a dump is being restored: restored rules must not be
 * hidden behind a cache loaded before them.
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
