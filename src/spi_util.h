/*-------------------------------------------------------------------------
 * spi_util.h
 *	  The one way crm's C code runs SQL through SPI: a checked connect,
 *	  plans prepared once per backend and kept, each keyed by a static
 *	  struct declared next to its query, and reading a text column.
 *
 * A query is declared once, with its argument types in an array sized by
 * an enum of its arguments, so the Datum/nulls arrays of every call are
 * sized by the same enum:
 *
 *	  enum { FIND_KEY, FIND_NARGS };
 *	  static const Oid find_types[FIND_NARGS] = {[FIND_KEY] = TEXTOID};
 *	  static CrmSpiQuery find_query = {
 *		  "SELECT t.subject FROM crm.email_template t"
 *		  " WHERE t.key OPERATOR(pg_catalog.=) $1", FIND_NARGS, find_types};
 *	  ...
 *	  Datum values[FIND_NARGS] = {[FIND_KEY] = CStringGetTextDatum(key)};
 *	  crm_spi_connect();
 *	  if (crm_spi_execute(&find_query, values, NULL, true, 1) == 0) ...
 *	  subject = crm_spi_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, caller_context);
 *	  SPI_finish();
 *
 * Query texts must not depend on the caller's search_path, because a user
 * can put schemas (and pg_temp) ahead of pg_catalog: relations as
 * crm.<table>, operators as OPERATOR(pg_catalog.=), functions as
 * pg_catalog.count(...), type names as pg_catalog.<type> (the SQL keyword
 * types int, bigint, boolean... are safe as they are).  A kept plan is
 * re-analysed by the plan cache when it meets a different search_path, which
 * then finds the same objects.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SPI_UTIL_H
#define CRM_SPI_UTIL_H

#include "crm.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "utils/snapshot.h"

typedef struct CrmSpiQuery
{
	const char *sql;			/* search_path-proof query text */
	int			nargs;
	const Oid  *argtypes;		/* nargs entries; NULL when nargs is 0 */
	SPIPlanPtr	plan;			/* prepared and kept on first use */
} CrmSpiQuery;

/* SPI_connect, raising an error when it fails. */
extern void crm_spi_connect(void);

/* The query's kept plan, prepared on first use (inside crm_spi_connect). */
extern SPIPlanPtr crm_spi_plan(CrmSpiQuery *query);

/*
 * Run the query's plan with values[nargs] and nulls[nargs] (' ' or 'n';
 * NULL for no nulls); returns SPI_processed.  Any SPI failure is an error.
 */
extern uint64 crm_spi_execute(CrmSpiQuery *query, const Datum *values, const char *nulls,
							  bool read_only, long count);

/* The same, read-only, seeing exactly what snapshot sees. */
extern uint64 crm_spi_execute_snapshot(CrmSpiQuery *query, const Datum *values, const char *nulls,
									   Snapshot snapshot, long count);

/*
 * Column `column` (1-based) of an SPI result row, a text-like column, as a
 * C string allocated in `into` (so it outlives SPI_finish); NULL for NULL.
 */
extern char *crm_spi_text(HeapTuple row, TupleDesc desc, int column, MemoryContext into);

#endif							/* CRM_SPI_UTIL_H */
