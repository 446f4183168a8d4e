/*-------------------------------------------------------------------------
 * journey_cache.c
 *	  Per-backend caches of journey definitions, and
 *	  crm.journey_definitions_changed(), the trigger that invalidates them.
 *
 * The event trigger runs for every event anyone writes, so it must know
 * without a query whether an event kind means anything to a journey: the
 * listeners (every journey that is not archived: its triggers, goal and
 * exit events) and the kinds awaited by wait_for steps are read once into
 * a hash of event kinds -> what they do (journeys.h, CRM_EVENT_*).  The
 * runner reads each journey version's steps once; a version's steps never
 * change after crm.create_journey wrote them, so that cache only grows
 * until the next invalidation.  Plans for the user's SQL (filters,
 * conditions, vars) are kept with the entries they belong to.
 *
 * Invalidation is the transition rules' scheme (src/pipeline/rules_cache.c):
 * a statement trigger on crm.journey and crm.journey_step queues a relcache
 * invalidation of the changed table, which reaches this backend at the end
 * of the command and the others at commit; the callback only marks the
 * cache stale.  It is rebuilt -- the old memory and plans freed -- at the
 * next call of an accessor, so a pointer an accessor returned stays valid
 * until the caller asks again (the runner asks once per enrollment, the
 * trigger once per event).  Loads read with the latest snapshot after the
 * tables are locked, and a load during which an invalidation arrived is
 * dropped at the next call.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "spi_util.h"
#include "journeys/journeys.h"

PG_FUNCTION_INFO_V1(crm_journey_definitions_changed);

/* Longest event kind kept in the hash of kinds (longer ones are cut; see kind_entry). */
#define KIND_KEY_BYTES 64

typedef struct KindEntry
{
	char		kind[KIND_KEY_BYTES];	/* hash key */
	int			interest;		/* CRM_EVENT_* bits */
} KindEntry;

typedef struct VersionKey
{
	int64		journey_id;
	int32		version;
} VersionKey;

typedef struct VersionEntry
{
	VersionKey	key;
	CrmJourneyVersion version;
} VersionEntry;

static MemoryContext cache_context = NULL;
static bool cache_valid = false;
static uint64 cache_invalidations = 0;
static Oid	journey_relid = InvalidOid;
static Oid	journey_step_relid = InvalidOid;

static HTAB *kinds = NULL;
static bool segment_triggers = false;
static CrmJourneyListener *listeners = NULL;
static int	n_listeners = 0;
static HTAB *versions = NULL;

static CrmSpiQuery listeners_query = {
	"SELECT j.id, j.key, j.owner::pg_catalog.text, j.status, j.trigger_event, j.trigger_segment, j.trigger_filter,"
	" j.goal_event, j.exit_events FROM crm.journey j"
	" WHERE j.status OPERATOR(pg_catalog.<>) 'archived' ORDER BY j.id"};
static CrmSpiQuery awaited_query = {
	"SELECT DISTINCT s.wait_event FROM crm.journey_step s JOIN crm.journey j ON j.id OPERATOR(pg_catalog.=) s.journey_id"
	" WHERE s.kind OPERATOR(pg_catalog.=) 'wait_for' AND j.status OPERATOR(pg_catalog.<>) 'archived'"};

enum
{
	STEPS_JOURNEY, STEPS_VERSION, STEPS_NARGS
};
static const Oid steps_types[STEPS_NARGS] = {[STEPS_JOURNEY] = INT8OID,[STEPS_VERSION] = INT4OID};
static CrmSpiQuery steps_query = {
	"SELECT s.position, s.kind, s.template_key, s.vars, s.delay, s.wait_event, s.timeout, s.condition,"
	" s.then_position, s.else_position FROM crm.journey_step s"
	" WHERE s.journey_id OPERATOR(pg_catalog.=) $1 AND s.version OPERATOR(pg_catalog.=) $2 ORDER BY s.position",
	STEPS_NARGS, steps_types};

static void
journey_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == journey_relid || relid == journey_step_relid)
	{
		cache_valid = false;
		cache_invalidations++;
	}
}

/*
 * crm_journey_definitions_changed: statement trigger on crm.journey and
 * crm.journey_step; registers the callback the first time any backend of
 * this library needs it (here or in a loader).
 */
Datum
crm_journey_definitions_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.journey_definitions_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

static void
free_plans(void)
{
	HASH_SEQ_STATUS seq;
	VersionEntry *entry;

	for (int i = 0; i < n_listeners; i++)
		if (listeners[i].filter_plan != NULL)
			SPI_freeplan(listeners[i].filter_plan);
	if (versions == NULL)
		return;
	hash_seq_init(&seq, versions);
	while ((entry = hash_seq_search(&seq)) != NULL)
		for (int i = 0; i < entry->version.n_steps; i++)
			if (entry->version.steps[i].plan != NULL)
				SPI_freeplan(entry->version.steps[i].plan);
}

static KindEntry *
kind_entry(const char *kind, HASHACTION action)
{
	char		key[KIND_KEY_BYTES];

	/* a longer kind shares its entry with those of the same first bytes: at worst a wasted look */
	memset(key, 0, sizeof(key));
	strlcpy(key, kind, sizeof(key));
	return hash_search(kinds, key, action, NULL);
}

static void
note_kind(const char *kind, int interest)
{
	KindEntry  *entry;

	if (kind == NULL)
		return;
	entry = kind_entry(kind, HASH_ENTER);
	entry->interest |= interest;
}

static char *
column_text(HeapTuple row, TupleDesc desc, int column)
{
	return crm_spi_text(row, desc, column, cache_context);
}

/* Reads the listeners and awaited kinds into a fresh cache context. */
static void
load(void)
{
	Oid			nsp = get_namespace_oid(CRM_SCHEMA, false);
	HASHCTL		ctl;
	Snapshot	snapshot;
	uint64		seen;

	if (cache_context != NULL)
	{
		free_plans();
		MemoryContextDelete(cache_context);
	}
	cache_context = AllocSetContextCreate(CacheMemoryContext, "crm journeys", ALLOCSET_DEFAULT_SIZES);
	listeners = NULL;
	n_listeners = 0;
	versions = NULL;
	segment_triggers = false;

	journey_relid = get_relname_relid("journey", nsp);
	journey_step_relid = get_relname_relid("journey_step", nsp);
	if (!OidIsValid(journey_relid) || !OidIsValid(journey_step_relid))
		elog(ERROR, "crm.journey or crm.journey_step does not exist");
	LockRelationOid(journey_relid, AccessShareLock);
	LockRelationOid(journey_step_relid, AccessShareLock);
	seen = cache_invalidations;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = KIND_KEY_BYTES;
	ctl.entrysize = sizeof(KindEntry);
	ctl.hcxt = cache_context;
	kinds = hash_create("crm journey event kinds", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(VersionKey);
	ctl.entrysize = sizeof(VersionEntry);
	ctl.hcxt = cache_context;
	versions = hash_create("crm journey versions", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	crm_spi_connect();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	crm_spi_execute_snapshot(&listeners_query, NULL, NULL, snapshot, 0);
	listeners = MemoryContextAllocZero(cache_context, sizeof(CrmJourneyListener) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CrmJourneyListener *l = &listeners[n_listeners++];
		bool		isnull;
		Datum		exits;
		char	   *status;

		l->id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		l->key = column_text(row, desc, 2);
		l->owner = column_text(row, desc, 3);
		status = column_text(row, desc, 4);
		l->active = strcmp(status, "active") == 0;
		l->trigger_event = column_text(row, desc, 5);
		l->trigger_segment = column_text(row, desc, 6);
		l->trigger_filter = column_text(row, desc, 7);
		l->goal_event = column_text(row, desc, 8);
		exits = SPI_getbinval(row, desc, 9, &isnull);
		if (!isnull)
		{
			ArrayType  *array = DatumGetArrayTypeP(exits);
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			l->exit_events = MemoryContextAlloc(cache_context, sizeof(char *) * Max(n, 1));
			for (int k = 0; k < n; k++)
				if (!nulls[k])
					l->exit_events[l->n_exit_events++] =
						MemoryContextStrdup(cache_context, TextDatumGetCString(elems[k]));
		}

		if (l->active)
			note_kind(l->trigger_event, CRM_EVENT_ENROLLS);
		if (l->active && l->trigger_segment != NULL)
			segment_triggers = true;
		note_kind(l->goal_event, CRM_EVENT_ENDS);
		for (int k = 0; k < l->n_exit_events; k++)
			note_kind(l->exit_events[k], CRM_EVENT_ENDS);
	}
	crm_spi_execute_snapshot(&awaited_query, NULL, NULL, snapshot, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *kind = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		note_kind(kind, CRM_EVENT_AWAITED);
	}
	UnregisterSnapshot(snapshot);
	SPI_finish();
	cache_valid = (seen == cache_invalidations);
}

static void
ensure_loaded(void)
{
	static bool callback_registered = false;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(journey_relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (!cache_valid || cache_context == NULL)
		load();
}

/*
 * crm_journey_event_interest: the CRM_EVENT_* bits of an event kind; and
 * whether some active journey is triggered by entering a segment.
 */
int
crm_journey_event_interest(const char *kind, bool *segments)
{
	KindEntry  *entry;

	ensure_loaded();
	*segments = segment_triggers;
	entry = kind_entry(kind, HASH_FIND);
	return entry != NULL ? entry->interest : 0;
}

/* crm_journey_listeners: every journey that is not archived, in id order. */
int
crm_journey_listeners(CrmJourneyListener **result)
{
	ensure_loaded();
	*result = listeners;
	return n_listeners;
}

/*
 * crm_journey_cache_context: where plans and copies that live with the
 * cache go (valid while the pointers the accessors returned are).
 */
MemoryContext
crm_journey_cache_context(void)
{
	Assert(cache_context != NULL);
	return cache_context;
}

static CrmStepKind
step_kind(const char *kind)
{
	if (strcmp(kind, "send") == 0)
		return STEP_SEND;
	if (strcmp(kind, "wait") == 0)
		return STEP_WAIT;
	if (strcmp(kind, "wait_for") == 0)
		return STEP_WAIT_FOR;
	if (strcmp(kind, "branch") == 0)
		return STEP_BRANCH;
	if (strcmp(kind, "exit") == 0)
		return STEP_EXIT;
	elog(ERROR, "unknown journey step kind \"%s\"", kind);
	return STEP_EXIT;			/* keep the compiler quiet */
}

static void
column_interval(HeapTuple row, TupleDesc desc, int column, Interval *into)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, column, &isnull);

	if (isnull)
		memset(into, 0, sizeof(*into));
	else
		*into = *DatumGetIntervalP(d);
}

static int32
column_int32(HeapTuple row, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, column, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/*
 * crm_journey_version: the steps of one version of a journey, read on
 * first use; an error when the version has no steps (it was deleted).
 */
CrmJourneyVersion *
crm_journey_version(int64 journey_id, int32 version)
{
	VersionKey	key;
	VersionEntry *entry;
	bool		found;
	Datum		values[STEPS_NARGS];
	uint64		n;

	ensure_loaded();
	memset(&key, 0, sizeof(key));
	key.journey_id = journey_id;
	key.version = version;
	entry = hash_search(versions, &key, HASH_FIND, &found);
	if (found)
		return &entry->version;

	values[STEPS_JOURNEY] = Int64GetDatum(journey_id);
	values[STEPS_VERSION] = Int32GetDatum(version);
	crm_spi_connect();
	n = crm_spi_execute(&steps_query, values, NULL, true, 0);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("journey %lld has no steps in version %d", (long long) journey_id, version),
				 errdetail("The steps of the version were deleted from crm.journey_step.")));
	entry = hash_search(versions, &key, HASH_ENTER, &found);
	entry->version.journey_id = journey_id;
	entry->version.version = version;
	entry->version.n_steps = (int) n;
	entry->version.steps = MemoryContextAllocZero(cache_context, sizeof(CrmJourneyStep) * n);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CrmJourneyStep *s = &entry->version.steps[i];
		char	   *kind = SPI_getvalue(row, desc, 2);

		s->position = column_int32(row, desc, 1);
		s->kind = step_kind(kind);
		s->template_key = column_text(row, desc, 3);
		s->vars = column_text(row, desc, 4);
		column_interval(row, desc, 5, &s->delay);
		s->wait_event = column_text(row, desc, 6);
		column_interval(row, desc, 7, &s->timeout);
		s->condition = column_text(row, desc, 8);
		s->then_position = column_int32(row, desc, 9);
		s->else_position = column_int32(row, desc, 10);
	}
	SPI_finish();
	return &entry->version;
}

/* crm_journey_step: the step at position, or NULL when there is none. */
const CrmJourneyStep *
crm_journey_step(const CrmJourneyVersion *v, int32 position)
{
	int			lo = 0;
	int			hi = v->n_steps - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (v->steps[mid].position == position)
			return &v->steps[mid];
		if (v->steps[mid].position < position)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* crm_journey_next_position: the position after position, 0 past the last step. */
int32
crm_journey_next_position(const CrmJourneyVersion *v, int32 position)
{
	for (int i = 0; i < v->n_steps; i++)
		if (v->steps[i].position > position)
			return v->steps[i].position;
	return 0;
}
