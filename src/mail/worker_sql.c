/*-------------------------------------------------------------------------
 * worker_sql.c
 *	  SQL-callable functions of the crm mail worker:
 *	    crm._mail_worker_state()  what the worker reports in shared memory,
 *	                              the source of the crm.worker_status view;
 *	    crm._claim_emails(n, lease)  the worker's claim statement, for tests
 *	                              and for operators who drain the queue by
 *	                              hand (superuser only).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mail/worker.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_mail_worker_state);
PG_FUNCTION_INFO_V1(crm_claim_emails);

/*
 * crm_mail_worker_state: one row (pid, state, started_at, in_flight, sent,
 * failed, retried, last_error, last_error_at, last_activity).  pid is NULL
 * when the worker is not running; state says "not loaded" when crm is not
 * in shared_preload_libraries.
 */
Datum
crm_mail_worker_state(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[10];
	bool		nulls[10];
	CrmMailWorkerShared copy;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(nulls, true, sizeof(nulls));
	if (crm_mail_shared == NULL)
	{
		nulls[1] = false;
		values[1] = CStringGetTextDatum("not loaded");
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
	}

	SpinLockAcquire(&crm_mail_shared->mutex);
	memcpy(&copy, crm_mail_shared, sizeof(copy));
	SpinLockRelease(&crm_mail_shared->mutex);

	memset(nulls, false, sizeof(nulls));
	values[0] = Int32GetDatum(copy.pid);
	nulls[0] = copy.pid == 0;
	values[1] = CStringGetTextDatum(copy.state);
	values[2] = TimestampTzGetDatum(copy.started_at);
	nulls[2] = copy.started_at == 0;
	values[3] = Int32GetDatum(copy.in_flight);
	values[4] = Int64GetDatum((int64) copy.sent);
	values[5] = Int64GetDatum((int64) copy.failed);
	values[6] = Int64GetDatum((int64) copy.retried);
	values[7] = CStringGetTextDatum(copy.last_error);
	nulls[7] = copy.last_error[0] == '\0';
	values[8] = TimestampTzGetDatum(copy.last_error_at);
	nulls[8] = copy.last_error_at == 0;
	values[9] = TimestampTzGetDatum(copy.last_activity);
	nulls[9] = copy.last_activity == 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * crm_claim_emails: run the worker's claim statement for n rows with the
 * given lease and return the claimed rows.
 */
Datum
crm_claim_emails(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			types[2] = {INT4OID, INTERVALOID};
	Datum		values[2];
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	SPI_connect();
	if (SPI_execute_with_args(crm_mail_claim_sql, 2, types, values, NULL, false, 0)
		!= SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not claim queued messages");
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		row[8];
		bool		nulls[8];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, row, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
