/*-------------------------------------------------------------------------
 * drop_guard.c
 *	  The DROP EXTENSION guard: crm.drop_guard(), an event trigger on
 *	  ddl_command_start for DROP EXTENSION, and the GUC crm.allow_drop.
 *
 * Dropping the extension drops every crm table with it, and so the books:
 * issued invoices, whose numbers must stay gapless, and payments.  The
 * guard looks at the statement's parse tree before anything is dropped;
 * when it is a DROP EXTENSION naming crm (alone or among others, with or
 * without CASCADE) and the database holds an issued invoice or a payment,
 * it refuses with the counts, unless crm.allow_drop is on.  Only a
 * superuser can set crm.allow_drop, after taking a backup (README,
 * "Backups").  A role that does not own the extension is left to the DROP
 * itself, which refuses it for that reason, so the guard never reads the
 * books on behalf of a role that may not.  pg_dump does not dump the event
 * trigger (it is a member of the extension); CREATE EXTENSION recreates it.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "spi_util.h"
#include "utils/guc.h"

PG_FUNCTION_INFO_V1(crm_drop_guard);

static bool allow_drop = false;

void
crm_drop_guard_init(void)
{
	DefineCustomBoolVariable("crm.allow_drop",
							 "Allows DROP EXTENSION crm while issued invoices or payments exist.",
							 "Dropping the extension deletes every crm table. Set it only after "
							 "taking a backup.",
							 &allow_drop,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* True when a DROP EXTENSION statement names crm. */
static bool
drops_crm(DropStmt *stmt)
{
	ListCell   *cell;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(cell, stmt->objects)
	{
		if (strcmp(strVal(lfirst(cell)), CRM_SCHEMA) == 0)
			return true;
	}
	return false;
}

/* Issued invoices (those with a number, voided ones included) and payments. */
static CrmSpiQuery books_query = {
	"SELECT (SELECT pg_catalog.count(*) FROM crm.invoice AS i WHERE i.number IS NOT NULL),"
	"       (SELECT pg_catalog.count(*) FROM crm.payment)", 0, NULL
};

static void
count_books(int64 *invoices, int64 *payments)
{
	bool		isnull;

	crm_spi_connect();
	if (crm_spi_execute(&books_query, NULL, NULL, true, 1) != 1)
		elog(ERROR, "could not count issued invoices and payments");
	*invoices = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*payments = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
}

/* "1 payment", "2 payments" */
static char *
counted(int64 n, const char *one, const char *many)
{
	return psprintf(INT64_FORMAT " %s", n, n == 1 ? one : many);
}

/* crm.drop_guard(): ddl_command_start event trigger for DROP EXTENSION. */
Datum
crm_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			extoid;
	int64		invoices;
	int64		payments;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.drop_guard() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt) || !drops_crm((DropStmt *) trigdata->parsetree))
		PG_RETURN_VOID();
	if (allow_drop)
		PG_RETURN_VOID();
	extoid = get_extension_oid(CRM_SCHEMA, true);
	if (!OidIsValid(extoid) || !crm_extension_ownercheck(extoid, GetUserId()))
		PG_RETURN_VOID();

	count_books(&invoices, &payments);
	if (invoices == 0 && payments == 0)
		PG_RETURN_VOID();
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot drop extension crm while it holds issued invoices or payments"),
			 errdetail("Dropping it would delete %s and %s.",
					   counted(invoices, "issued invoice", "issued invoices"),
					   counted(payments, "payment", "payments")),
			 errhint("Back the database up first; then a superuser can SET crm.allow_drop = on "
					 "and drop the extension.")));
}
