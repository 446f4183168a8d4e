/*-------------------------------------------------------------------------
 * updated_at.c
 *	  crm.set_updated_at(): BEFORE UPDATE trigger that stamps updated_at with
 *	  the transaction time, the same value now() returns.
 *
 * Written in C because it sits on every crm table, the deal table's hot
 * path included.  The column is found by name once per statement and kept
 * in fn_extra.  While a dump is loaded (crm_restoring()) rows keep the
 * updated_at they were saved with.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_set_updated_at);

Datum
crm_set_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	int			attnum;
	Datum		value;
	bool		isnull = false;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.set_updated_at() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.set_updated_at() must be a BEFORE UPDATE FOR EACH ROW trigger")));

	if (crm_restoring())
		return PointerGetDatum(trigdata->tg_newtuple);

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	if (fcinfo->flinfo->fn_extra == NULL)
	{
		attnum = SPI_fnumber(tupdesc, "updated_at");
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("table \"%s\" has no column \"updated_at\"",
							RelationGetRelationName(trigdata->tg_relation)),
					 errhint("crm.set_updated_at() maintains a timestamptz column named updated_at.")));
		if (TupleDescAttr(tupdesc, attnum - 1)->atttypid != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"updated_at\" of table \"%s\" must be of type timestamptz",
							RelationGetRelationName(trigdata->tg_relation))));
		fcinfo->flinfo->fn_extra = (void *) (intptr_t) attnum;
	}
	attnum = (int) (intptr_t) fcinfo->flinfo->fn_extra;

	value = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple, tupdesc,
													 1, &attnum, &value, &isnull));
}
