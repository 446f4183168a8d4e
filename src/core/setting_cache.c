/*-------------------------------------------------------------------------
 * setting_cache.c
 *	  Per-backend cache of the business settings (crm.setting) for C code
 *	  that reads one on a hot path -- the company time zone dates every
 *	  invoice -- and crm.setting_changed(), the trigger that invalidates it.
 *
 * The scheme is the transition rules' (src/pipeline/rules_cache.c): a
 * statement trigger on crm.setting queues a relcache invalidation of the
 * table, which reaches this backend at the end of the command (so a value
 * changed earlier in the same transaction is seen at once), the others
 * when the change commits, and nobody if it rolls back; the callback drops
 * the cache.  The table is read with the latest snapshot once the query's
 * lock is taken (taking it processes pending invalidations), so a committed
 * change is never missed; a load during which an invalidation arrived is
 * used for that one call and not kept.  Without the table (a 0.1.0
 * database running this library before ALTER EXTENSION crm UPDATE) every
 * key reads as missing and callers use their defaults.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "spi_util.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(crm_setting_changed);

typedef struct SettingEntry
{
	char	   *key;
	char	   *value;
} SettingEntry;

static MemoryContext settings_context = NULL;	/* holds settings */
static List *settings = NIL;	/* of SettingEntry */
static bool settings_valid = false;
static Oid	setting_relid = InvalidOid;
static uint64 setting_invalidations = 0;	/* relevant messages seen so far */

static void
setting_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == setting_relid)
	{
		settings_valid = false;
		setting_invalidations++;
	}
}

void
crm_setting_cache_init(void)
{
	CacheRegisterRelcacheCallback(setting_relcache_callback, (Datum) 0);
}

static CrmSpiQuery settings_query = {"SELECT s.key, s.value FROM crm.setting AS s", 0, NULL};

/*
 * Read every setting into a new context, which replaces the cache's.
 * Returns false, loading nothing, when crm.setting does not exist.
 */
static bool
load_settings(void)
{
	Oid			nsp = get_namespace_oid(CRM_SCHEMA, true);
	MemoryContext new_context;
	List	   *loaded = NIL;
	Snapshot	snapshot;
	uint64		n;

	setting_relid = OidIsValid(nsp) ? get_relname_relid("setting", nsp) : InvalidOid;
	if (!OidIsValid(setting_relid))
		return false;

	new_context = AllocSetContextCreate(CurrentMemoryContext, "crm settings", ALLOCSET_SMALL_SIZES);
	crm_spi_connect();
	/* the query's own lock, taken first: it processes pending invalidations */
	LockRelationOid(setting_relid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	n = crm_spi_execute_snapshot(&settings_query, NULL, NULL, snapshot, 0);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		SettingEntry *entry = MemoryContextAlloc(new_context, sizeof(SettingEntry));
		MemoryContext spi_context = MemoryContextSwitchTo(new_context);

		entry->key = crm_spi_text(tuple, desc, 1, new_context);
		entry->value = crm_spi_text(tuple, desc, 2, new_context);
		loaded = lappend(loaded, entry);
		MemoryContextSwitchTo(spi_context);
	}
	UnregisterSnapshot(snapshot);
	SPI_finish();

	MemoryContextSetParent(new_context, CacheMemoryContext);
	if (settings_context != NULL)
		MemoryContextDelete(settings_context);
	settings_context = new_context;
	settings = loaded;
	return true;
}

char *
crm_setting_value(const char *key)
{
	ListCell   *cell;
	char	   *value = NULL;
	uint64		seen = setting_invalidations;

	if (!settings_valid)
	{
		if (!load_settings())
			return NULL;
		settings_valid = (seen == setting_invalidations);
	}
	foreach(cell, settings)
	{
		SettingEntry *entry = lfirst(cell);

		if (strcmp(entry->key, key) == 0 && entry->value != NULL)
		{
			value = pstrdup(entry->value);
			break;
		}
	}
	return value;
}

/*
 * crm.setting_changed(): AFTER ... FOR EACH STATEMENT trigger on
 * crm.setting.  Queues a relcache invalidation of the table, which every
 * backend's callback above turns into a reload.
 */
Datum
crm_setting_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.setting_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
