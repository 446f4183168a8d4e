/*-------------------------------------------------------------------------
 * worker_sql.c
 *	  crm._worker_duties(): what the crm worker and each of its duties
 *	  report in shared memory, one row per duty of the table of duties, the
 *	  source of the crm.worker_duties view; crm._worker_hold_reason(): why
 *	  the running worker holds delivery (crm.worker_status.hold_reason).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "worker/duty.h"

PG_FUNCTION_INFO_V1(crm_worker_duties);
PG_FUNCTION_INFO_V1(crm_worker_hold_reason);

#define DUTY_COLUMNS 14

/*
 * crm_worker_duties: (duty, sql_function, state, last_run_at, next_run_at,
 * backlog, in_progress, done, failed, retried, errors, last_error,
 * last_error_at, worker_pid).  While the worker is not running, state is
 * the worker's ("not started", "stopped", or "not loaded" without
 * shared_preload_libraries) and the times and counters are NULL.
 */
Datum
crm_worker_duties(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != DUTY_COLUMNS)
		elog(ERROR, "crm._worker_duties must return %d columns", DUTY_COLUMNS);
	for (int i = 0; i < crm_duty_count; i++)
	{
		const CrmDuty *duty = &crm_duties[i];
		Datum		values[DUTY_COLUMNS];
		bool		nulls[DUTY_COLUMNS];
		CrmDutyShared slot;
		pid_t		pid = 0;
		char		worker_state[sizeof(((CrmWorkerShared *) NULL)->state)];

		strlcpy(worker_state, "not loaded", sizeof(worker_state));
		if (crm_worker_shared != NULL)
		{
			CrmDutyShared *shared = &crm_worker_shared->duties[i];

			SpinLockAcquire(&crm_worker_shared->mutex);
			pid = crm_worker_shared->pid;
			memcpy(worker_state, crm_worker_shared->state, sizeof(worker_state));
			SpinLockRelease(&crm_worker_shared->mutex);
			SpinLockAcquire(&shared->mutex);
			memcpy(&slot, shared, sizeof(slot));
			SpinLockRelease(&shared->mutex);
		}

		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum(duty->name);
		nulls[0] = false;
		if (duty->sql_function != NULL)
		{
			values[1] = CStringGetTextDatum(psprintf("%s.%s(integer)", CRM_SCHEMA,
													 duty->sql_function));
			nulls[1] = false;
		}
		values[2] = CStringGetTextDatum(pid != 0 ? slot.state : worker_state);
		nulls[2] = false;
		if (pid != 0)
		{
			values[3] = TimestampTzGetDatum(slot.last_run_at);
			nulls[3] = slot.last_run_at == 0;
			values[4] = TimestampTzGetDatum(slot.next_run_at);
			nulls[4] = slot.next_run_at == 0;
			values[5] = Int64GetDatum(slot.backlog);
			nulls[5] = slot.backlog < 0;
			values[6] = Int32GetDatum(slot.in_progress);
			values[7] = Int64GetDatum((int64) slot.done);
			values[8] = Int64GetDatum((int64) slot.failed);
			values[9] = Int64GetDatum((int64) slot.retried);
			values[10] = Int64GetDatum((int64) slot.errors);
			nulls[6] = nulls[7] = nulls[8] = nulls[9] = nulls[10] = false;
			values[11] = CStringGetTextDatum(slot.last_error);
			nulls[11] = slot.last_error[0] == '\0';
			values[12] = TimestampTzGetDatum(slot.last_error_at);
			nulls[12] = slot.last_error_at == 0;
			values[13] = Int32GetDatum(pid);
			nulls[13] = false;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * crm_worker_hold_reason: why the running worker holds delivery (duty.h),
 * or NULL when it does not, or is not running.
 */
Datum
crm_worker_hold_reason(PG_FUNCTION_ARGS)
{
	char		reason[sizeof(((CrmWorkerShared *) NULL)->hold_reason)];
	pid_t		pid;

	if (crm_worker_shared == NULL)
		PG_RETURN_NULL();
	SpinLockAcquire(&crm_worker_shared->mutex);
	pid = crm_worker_shared->pid;
	memcpy(reason, crm_worker_shared->hold_reason, sizeof(reason));
	SpinLockRelease(&crm_worker_shared->mutex);
	if (pid == 0 || reason[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}
