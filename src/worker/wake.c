/*-------------------------------------------------------------------------
 * wake.c
 *	  Wake-on-commit for the crm worker's duties: crm_worker_wake_at_commit
 *	  and the trigger function crm.wake_mail_worker(), a statement trigger
 *	  on crm.email_outbox (AFTER INSERT, and AFTER UPDATE OF status or
 *	  next_attempt_at, so a re-queued message counts too) that wakes the
 *	  mail duty.
 *
 * The trigger only notes that this transaction wants the duty woken; an
 * XactCallback sets the duty's wake flag and the worker's latch when the
 * transaction commits, once however many statements fired, and forgets it
 * on abort.  So the worker never wakes for rows it cannot see yet, and any
 * way of writing the queue (crm.send_email, INSERT, COPY) wakes it.  A
 * PREPARE'd transaction is left to the worker's slow poll
 * (crm.poll_interval), and so are rows loaded while a dump is restored
 * (crm_restoring()).  Without crm in shared_preload_libraries there is
 * no worker and the trigger does nothing; the worker's own writes do not
 * wake it.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "worker/duty.h"

PG_FUNCTION_INFO_V1(crm_wake_mail_worker);

static bool callback_registered = false;
static uint64 wake_at_commit = 0;	/* bit i: wake duty i */

static void wake_xact_callback(XactEvent event, void *arg);

/*
 * crm_worker_wake_at_commit: wake duty_index when the current transaction
 * commits (nothing in the worker itself, nor without the worker).
 */
void
crm_worker_wake_at_commit(int duty_index)
{
	StaticAssertStmt(sizeof(wake_at_commit) * 8 >= CRM_MAX_DUTIES, "a bit per duty");
	if (crm_worker_shared == NULL || MyProcPid == crm_worker_shared->pid ||
		duty_index < 0 || duty_index >= crm_duty_count)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		callback_registered = true;
	}
	wake_at_commit |= UINT64CONST(1) << duty_index;
}

/*
 * crm_wake_mail_worker: the trigger function (see the header comment).
 */
Datum
crm_wake_mail_worker(PG_FUNCTION_ARGS)
{
	static int	mail = -2;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.wake_mail_worker() must be called as a trigger")));
	/* Restoring a dump: rows are loaded as saved, nobody is woken. */
	if (crm_restoring())
		return PointerGetDatum(NULL);
	if (mail == -2)
		mail = crm_duty_index("mail");
	crm_worker_wake_at_commit(mail);
	return PointerGetDatum(NULL);
}

/*
 * wake_xact_callback: set the duties' wake flags and the worker's latch
 * when a transaction that asked for it commits in the database the worker
 * serves.
 */
static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit != 0)
			{
				Latch	   *latch = NULL;

				SpinLockAcquire(&crm_worker_shared->mutex);
				if (crm_worker_shared->database_id == MyDatabaseId)
					latch = crm_worker_shared->latch;
				SpinLockRelease(&crm_worker_shared->mutex);
				for (int i = 0; latch != NULL && i < crm_duty_count; i++)
				{
					CrmDutyShared *slot = &crm_worker_shared->duties[i];

					if ((wake_at_commit & (UINT64CONST(1) << i)) == 0)
						continue;
					SpinLockAcquire(&slot->mutex);
					slot->wake = true;
					SpinLockRelease(&slot->mutex);
				}
				if (latch != NULL)
					SetLatch(latch);
			}
			wake_at_commit = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = 0;
			break;
		default:
			break;
	}
}
