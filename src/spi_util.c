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
 *-------------------------------------------------------------------------
 */
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

void
crm_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

SPIPlanPtr
crm_spi_plan(CrmSpiQuery *query)
{
	SPIPlanPtr	plan;

	if (query->plan != NULL)
		return query->plan;
	Assert(query->nargs == 0 || query->argtypes != NULL);
	plan = SPI_prepare(query->sql, query->nargs, (Oid *) query->argtypes);
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
