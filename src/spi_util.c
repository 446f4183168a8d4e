/*-------------------------------------------------------------------------
 * spi_util.c
 *	  Checked SPI calls and kept plans for every feature's C code; see
 *	  spi_util.h for how a query is declared and why its text must not
 *	  depend on the search_path.
 *
 * Plans are kept with SPI_keepplan, so they live in CacheMemoryContext for
 * the life of the backend and the plan cache replans them when a table
 * they read changes (or is dropped and created again by a new CREATE
 * EXTENSION).  A failed prepare leaves the struct without a plan, to be
 * tried again on the next call.
 *
 * Between installing a new crm.so and ALTER EXTENSION crm UPDATE, a
 * database still has the old schema, and a query written for the new one
 * names a column or table it lacks.  That prepare error is then reported as
 * what it is (the schema is older than the library) with the command that
 * fixes it.  The version is read from the catalog before each prepare
 * (once per query and backend), never while handling the error.
 *-------------------------------------------------------------------------
 */
#include "spi_util.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"

void
crm_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

/* The version of crm installed in this database, or NULL (palloc'd). */
static char *
installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("crm"));
	rel = table_open(ExtensionRelationId, AccessShareLock);
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * SPI_prepare, except that a query naming what this database's crm does
 * not have yet, because its schema is older than the library, says so.
 */
static SPIPlanPtr
prepare(CrmSpiQuery *query)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *version = creating_extension ? NULL : installed_version();
	SPIPlanPtr volatile plan = NULL;

	if (version == NULL || strcmp(version, CRM_VERSION) == 0)
		return SPI_prepare(query->sql, query->nargs, (Oid *) query->argtypes);

	PG_TRY();
	{
		plan = SPI_prepare(query->sql, query->nargs, (Oid *) query->argtypes);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_UNDEFINED_COLUMN &&
			edata->sqlerrcode != ERRCODE_UNDEFINED_TABLE &&
			edata->sqlerrcode != ERRCODE_UNDEFINED_FUNCTION &&
			edata->sqlerrcode != ERRCODE_UNDEFINED_OBJECT)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm in this database is version %s, older than the loaded library (%s)",
						version, CRM_VERSION),
				 errdetail("%s", edata->message),
				 errhint("Run ALTER EXTENSION crm UPDATE as a superuser.")));
	}
	PG_END_TRY();
	return plan;
}

SPIPlanPtr
crm_spi_plan(CrmSpiQuery *query)
{
	SPIPlanPtr	plan;

	if (query->plan != NULL)
		return query->plan;
	Assert(query->nargs == 0 || query->argtypes != NULL);
	plan = prepare(query);
	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", query->sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the plan of \"%s\"", query->sql);
	query->plan = plan;
	return plan;
}

static uint64
checked(CrmSpiQuery *query, int rc)
{
	if (rc < 0)
		elog(ERROR, "\"%s\" failed: %s", query->sql, SPI_result_code_string(rc));
	return SPI_processed;
}

uint64
crm_spi_execute(CrmSpiQuery *query, const Datum *values, const char *nulls, bool read_only,
				long count)
{
	SPIPlanPtr	plan = crm_spi_plan(query);

	return checked(query, SPI_execute_plan(plan, (Datum *) values, nulls, read_only, count));
}

uint64
crm_spi_execute_snapshot(CrmSpiQuery *query, const Datum *values, const char *nulls,
						 Snapshot snapshot, long count)
{
	SPIPlanPtr	plan = crm_spi_plan(query);

	return checked(query, SPI_execute_snapshot(plan, (Datum *) values, nulls, snapshot,
											   InvalidSnapshot, true, false, count));
}

char *
crm_spi_text(HeapTuple row, TupleDesc desc, int column, MemoryContext into)
{
	bool		isnull;
	Datum		value;
	Oid			type;
	MemoryContext old;
	char	   *result;

	if (column < 1 || column > desc->natts)
		elog(ERROR, "SPI result has no column %d", column);
	type = TupleDescAttr(desc, column - 1)->atttypid;
	if (type != TEXTOID && type != VARCHAROID && type != BPCHAROID)
		elog(ERROR, "column %d of the SPI result is of type %s, not text", column, format_type_be(type));
	value = SPI_getbinval(row, desc, column, &isnull);
	if (isnull)
		return NULL;
	old = MemoryContextSwitchTo(into);
	result = TextDatumGetCString(value);
	MemoryContextSwitchTo(old);
	return result;
}
