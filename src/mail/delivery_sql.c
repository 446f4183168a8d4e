/*-------------------------------------------------------------------------
 * delivery_sql.c
 *	  SQL-callable functions of mail delivery:
 *	    crm._mail_worker_state()  what the worker and its mail duty report in
 *	                              shared memory, the source of the
 *	                              crm.worker_status view;
 *	    crm._claim_emails(n, lease)  the worker's claim statement, for tests
 *	                              and for operators who drain the queue by
 *	                              hand (superuser only).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "mail/delivery.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_mail_worker_state);
PG_FUNCTION_INFO_V1(crm_claim_emails);

/*
 * crm_mail_worker_state: one row (pid, state, started_at, in_flight, sent,
 * failed, retried, last_error, last_error_at, last_activity): the worker
 * and its mail duty.  pid is NULL when the worker is not running, and
 * state is then the worker's ("not started", "stopped"; "not loaded" when
 * crm is not in shared_preload_libraries), otherwise the mail duty's.
 */
Datum
crm_mail_worker_state(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[10];
	bool		nulls[10];
	int			mail = crm_duty_index("mail");
	pid_t		pid;
	char		worker_state[sizeof(crm_worker_shared->state)];
	TimestampTz started_at;
	TimestampTz last_activity;
	CrmDutyShared duty;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE ||
		desc->natts != lengthof(values))
		elog(ERROR, "return type must be a row type of %d columns", (int) lengthof(values));
	memset(nulls, true, sizeof(nulls));
	if (crm_worker_shared == NULL || mail < 0)
	{
		nulls[1] = false;
		values[1] = CStringGetTextDatum("not loaded");
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
	}

	SpinLockAcquire(&crm_worker_shared->mutex);
	pid = crm_worker_shared->pid;
	memcpy(worker_state, crm_worker_shared->state, sizeof(worker_state));
	started_at = crm_worker_shared->started_at;
	SpinLockRelease(&crm_worker_shared->mutex);
	/* last_activity: the latest transaction of any duty */
	last_activity = 0;
	for (int i = 0; i < crm_duty_count; i++)
	{
		CrmDutyShared *slot = &crm_worker_shared->duties[i];

		SpinLockAcquire(&slot->mutex);
		if (i == mail)
			memcpy(&duty, slot, sizeof(duty));
		last_activity = Max(last_activity, slot->last_run_at);
		SpinLockRelease(&slot->mutex);
	}

	memset(nulls, false, sizeof(nulls));
	values[0] = Int32GetDatum(pid);
	nulls[0] = pid == 0;
	values[1] = CStringGetTextDatum(pid == 0 ? worker_state : duty.state);
	values[2] = TimestampTzGetDatum(started_at);
	nulls[2] = started_at == 0;
	values[3] = Int32GetDatum(duty.in_progress);
	values[4] = Int64GetDatum((int64) duty.done);
	values[5] = Int64GetDatum((int64) duty.failed);
	values[6] = Int64GetDatum((int64) duty.retried);
	values[7] = CStringGetTextDatum(duty.last_error);
	nulls[7] = duty.last_error[0] == '\0';
	values[8] = TimestampTzGetDatum(duty.last_error_at);
	nulls[8] = duty.last_error_at == 0;
	values[9] = TimestampTzGetDatum(last_activity);
	nulls[9] = last_activity == 0;
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
	Datum		values[CRM_CLAIM_NARGS];
	uint64		claimed;

	InitMaterializedSRF(fcinfo, 0);
	values[CRM_CLAIM_COUNT] = PG_GETARG_DATUM(0);
	values[CRM_CLAIM_LEASE] = PG_GETARG_DATUM(1);
	crm_spi_connect();
	claimed = crm_spi_execute(&crm_mail_claim_query, values, NULL, false, 0);
	if (SPI_tuptable->tupdesc->natts != CRM_CLAIM_COLUMNS ||
		rsinfo->setDesc->natts != CRM_CLAIM_COLUMNS)
		elog(ERROR, "the claim returns %d columns, crm._claim_emails %d, not %d",
			 SPI_tuptable->tupdesc->natts, rsinfo->setDesc->natts, CRM_CLAIM_COLUMNS);
	for (uint64 i = 0; i < claimed; i++)
	{
		Datum		row[CRM_CLAIM_COLUMNS];
		bool		nulls[CRM_CLAIM_COLUMNS];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, row, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	return (Datum) 0;
}
