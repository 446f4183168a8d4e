/*-------------------------------------------------------------------------
 * wake.c
 *	  Wake-on-commit for the crm mail worker: crm.wake_mail_worker(), a
 *	  statement trigger on crm.email_outbox (AFTER INSERT, and AFTER UPDATE
 *	  OF status or next_attempt_at, so a re-queued message counts too).
 *
 * The trigger only notes that this transaction touched the queue; an
 * XactCallback sets the worker's latch when the transaction commits, once
 * however many statements fired, and forgets it on abort.  So the worker
 * never wakes for rows it cannot see yet, and any way of writing the queue
 * (crm.send_email, INSERT, COPY) wakes it.  A PREPARE'd transaction is
 * left to the worker's slow poll (crm.poll_interval).  Without crm in
 * shared_preload_libraries there is no worker and the trigger does nothing;
 * the worker's own updates do not wake it.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "mail/worker.h"
#include "miscadmin.h"
#include "storage/latch.h"

PG_FUNCTION_INFO_V1(crm_wake_mail_worker);

static bool callback_registered = false;
static bool wake_at_commit = false;

static void wake_xact_callback(XactEvent event, void *arg);

/*
 * crm_wake_mail_worker: the trigger function.
 */
Datum
crm_wake_mail_worker(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.wake_mail_worker() must be called as a trigger")));

	if (crm_mail_shared != NULL && MyProcPid != crm_mail_shared->pid)
	{
		if (!callback_registered)
		{
			RegisterXactCallback(wake_xact_callback, NULL);
			callback_registered = true;
		}
		wake_at_commit = true;
	}
	return PointerGetDatum(NULL);
}

/*
 * wake_xact_callback: set the worker's latch when a transaction that
 * queued mail commits in the database the worker serves.
 */
static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
			{
				Latch	   *latch = NULL;

				SpinLockAcquire(&crm_mail_shared->mutex);
				if (crm_mail_shared->database_id == MyDatabaseId)
					latch = crm_mail_shared->latch;
				SpinLockRelease(&crm_mail_shared->mutex);
				if (latch != NULL)
					SetLatch(latch);
			}
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}
