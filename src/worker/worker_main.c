/*-------------------------------------------------------------------------
 * worker_main.c
 *	  The crm worker's loop: one background process running the table of
 *	  duties (duty.h, duties.c) for the database named by crm.database.
 *
 * One pass of the loop:
 *	1. handle interrupts (SIGTERM ends the worker with a non-zero exit, so
 *	   the postmaster restarts it) and reload the configuration on SIGHUP
 *	   (every duty's reload hook, then every duty is due);
 *	2. take the wake-ups commits asked for (wake.c);
 *	3. run each duty that is due or woken, once, in round-robin order (the
 *	   first duty looked at moves by one each pass), each in its own short
 *	   transactions with crm.duty_timeout as the budget.  An error aborts
 *	   that duty's transaction only: it is logged as a WARNING, shown as the
 *	   duty's last error, and the duty is retried after a backoff (1 s,
 *	   doubling, at most crm.poll_interval).  While delivery is held (duty.h),
 *	   the duties that deliver are not run but shown "held", and they are
 *	   due at once when the hold is lifted;
 *	4. wait for the earliest duty's next run (at most crm.poll_interval):
 *	   on the latch (a commit's wake-up, a signal) and postmaster death, or
 *	   in the wait hook of the duty that owns I/O (mail: libcurl's sockets
 *	   too), which is then run again.
 * The worker never holds a transaction across a wait or network I/O, and
 * may be killed at any instant: each duty's work is committed in short
 * transactions and resumed by the next worker.  Each pass's memory is
 * reset.  pg_cancel_backend cancels the running duty's transaction; it
 * does not stop the worker.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "worker/duty.h"

#define ERROR_BACKOFF_MS 1000
#define PINNED_SEARCH_PATH "pg_catalog, pg_temp"

static MemoryContext loop_cxt;	/* reset at every pass */
static TimestampTz *next_at;	/* per duty: when it is due */
static int *error_streak;		/* per duty: failed runs in a row */
static int	first_duty = 0;		/* where the next pass starts looking */
static int	waiter = -1;		/* the duty with a wait hook, or -1 */

static void announce_start(void);
static void announce_exit(int code, Datum arg);
static void set_worker_state(const char *state);
static TimestampTz run_duty(int i, bool woken);
static void show_held(int i);
static void pin_search_path(void);
static void wait_for(long timeout_ms);
static void report_idle(void);
static long ms_until(TimestampTz now, TimestampTz t);

PGDLLEXPORT void crm_worker_main(Datum main_arg);

/*
 * crm_worker_main: entry point of the background worker.
 */
void
crm_worker_main(Datum main_arg)
{
	bool	   *woken;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(crm_worker_database, NULL, 0);
	pgstat_report_appname(CRM_WORKER_NAME);
	pin_search_path();

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "crm worker loop", ALLOCSET_DEFAULT_SIZES);
	next_at = MemoryContextAllocZero(TopMemoryContext, crm_duty_count * sizeof(TimestampTz));
	error_streak = MemoryContextAllocZero(TopMemoryContext, crm_duty_count * sizeof(int));
	woken = MemoryContextAllocZero(TopMemoryContext, crm_duty_count * sizeof(bool));

	announce_start();
	ereport(LOG,
			(errmsg("crm worker started for database \"%s\"", crm_worker_database)));

	for (int i = 0; i < crm_duty_count; i++)
	{
		if (crm_duties[i].wait != NULL)
		{
			if (waiter >= 0)
				elog(FATAL, "crm worker duties \"%s\" and \"%s\" both have a wait hook",
					 crm_duties[waiter].name, crm_duties[i].name);
			waiter = i;
		}
		if (crm_duties[i].start != NULL)
		{
			crm_duty_enter(&crm_duties[i], &crm_worker_shared->duties[i]);
			crm_duties[i].start();
			crm_duty_enter(NULL, NULL);
		}
	}

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake_at;

		/* Between duties there is nothing for a cancel request to cancel. */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			for (int i = 0; i < crm_duty_count; i++)
			{
				if (crm_duties[i].reload != NULL)
				{
					crm_duty_enter(&crm_duties[i], &crm_worker_shared->duties[i]);
					crm_duties[i].reload();
					crm_duty_enter(NULL, NULL);
				}
				next_at[i] = 0;
			}
		}

		if (RecoveryInProgress())
		{
			/* Never started on a standby; this guards against surprises. */
			set_worker_state("standby");
			wait_for(crm_poll_interval_ms);
			continue;
		}
		set_worker_state("running");

		/* Wake-ups from commits. */
		for (int i = 0; i < crm_duty_count; i++)
		{
			CrmDutyShared *slot = &crm_worker_shared->duties[i];

			SpinLockAcquire(&slot->mutex);
			woken[i] = slot->wake;
			slot->wake = false;
			SpinLockRelease(&slot->mutex);
		}

		/* Each due duty once, round robin. */
		now = GetCurrentTimestamp();
		for (int k = 0; k < crm_duty_count; k++)
		{
			int			i = (first_duty + k) % crm_duty_count;

			if (woken[i] || next_at[i] <= now)
			{
				if (crm_duties[i].delivers && crm_worker_held())
				{
					show_held(i);
					next_at[i] = DT_NOEND;
					continue;
				}
				next_at[i] = run_duty(i, woken[i]);
				MemoryContextSwitchTo(loop_cxt);
			}
		}
		first_duty = (first_duty + 1) % crm_duty_count;
		if (crm_worker_hold_lifted())
		{
			for (int i = 0; i < crm_duty_count; i++)
				if (crm_duties[i].delivers)
					next_at[i] = 0;
		}
		report_idle();

		/* Sleep until the earliest duty is due. */
		now = GetCurrentTimestamp();
		wake_at = TimestampTzPlusMilliseconds(now, crm_poll_interval_ms);
		for (int i = 0; i < crm_duty_count; i++)
			wake_at = Min(wake_at, next_at[i]);
		wait_for(ms_until(now, wake_at));
		/* The duty owning I/O looks at what happened during the wait. */
		if (waiter >= 0 && error_streak[waiter] == 0)
			next_at[waiter] = 0;
	}
}

/*
 * run_duty: run duty i once; returns when it is due next (at most
 * crm.poll_interval from now).  An error is caught here: the duty's
 * transaction is rolled back and the duty backs off.
 */
static TimestampTz
run_duty(int i, bool woken)
{
	const CrmDuty *duty = &crm_duties[i];
	CrmDutyShared *slot = &crm_worker_shared->duties[i];
	volatile TimestampTz next = 0;

	pin_search_path();
	crm_duty_enter(duty, slot);
	PG_TRY();
	{
		next = duty->run(duty, woken);
		error_streak[i] = 0;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		long		backoff;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(loop_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		disable_timeout(STATEMENT_TIMEOUT, false);
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();

		ereport(WARNING,
				(errmsg("crm worker duty \"%s\" failed: %s", duty->name, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
		crm_duty_note_error(edata->message);
		crm_duty_set_state("error");
		error_streak[i]++;
		backoff = Min((long) crm_poll_interval_ms,
					  (long) ERROR_BACKOFF_MS << Min(error_streak[i] - 1, 20));
		next = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff);
		SpinLockAcquire(&slot->mutex);
		slot->errors++;
		SpinLockRelease(&slot->mutex);
	}
	PG_END_TRY();
	crm_duty_enter(NULL, NULL);

	next = Min(next, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), crm_poll_interval_ms));
	SpinLockAcquire(&slot->mutex);
	slot->next_run_at = next;
	SpinLockRelease(&slot->mutex);
	return next;
}

/*
 * show_held: duty i is not run while delivery is held; it says so.
 */
static void
show_held(int i)
{
	CrmDutyShared *slot = &crm_worker_shared->duties[i];

	crm_duty_enter(&crm_duties[i], slot);
	crm_duty_set_state("held");
	crm_duty_enter(NULL, NULL);
	SpinLockAcquire(&slot->mutex);
	slot->next_run_at = 0;
	SpinLockRelease(&slot->mutex);
}

/*
 * pin_search_path: every duty starts under search_path pg_catalog, pg_temp,
 * whatever the role's or database's settings say and whatever an earlier
 * duty's SQL set (the duties' own queries are schema-qualified besides).
 * A session-level setting, so a function's own SET search_path applies.
 */
static void
pin_search_path(void)
{
	if (strcmp(GetConfigOption("search_path", false, false), PINNED_SEARCH_PATH) != 0)
		SetConfigOption("search_path", PINNED_SEARCH_PATH, PGC_SUSET, PGC_S_SESSION);
}

/*
 * wait_for: wait up to timeout_ms for the latch (reset on return) and
 * postmaster death (which exits), in the I/O-owning duty's hook if any.
 */
static void
wait_for(long timeout_ms)
{
	if (waiter >= 0)
	{
		crm_duty_enter(&crm_duties[waiter], &crm_worker_shared->duties[waiter]);
		crm_duties[waiter].wait(timeout_ms);
		crm_duty_enter(NULL, NULL);
		return;
	}
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/*
 * announce_start: the worker's pid, latch and database in shared memory,
 * every duty's slot fresh.
 */
static void
announce_start(void)
{
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&crm_worker_shared->mutex);
	crm_worker_shared->pid = MyProcPid;
	crm_worker_shared->latch = MyLatch;
	crm_worker_shared->database_id = MyDatabaseId;
	crm_worker_shared->started_at = now;
	strlcpy(crm_worker_shared->state, "starting", sizeof(crm_worker_shared->state));
	crm_worker_shared->hold_reason[0] = '\0';
	SpinLockRelease(&crm_worker_shared->mutex);
	for (int i = 0; i < crm_duty_count; i++)
	{
		CrmDutyShared *slot = &crm_worker_shared->duties[i];

		SpinLockAcquire(&slot->mutex);
		strlcpy(slot->state, "starting", sizeof(slot->state));
		slot->last_run_at = 0;
		slot->next_run_at = now;
		slot->backlog = -1;
		slot->in_progress = 0;
		slot->done = slot->failed = slot->retried = slot->errors = 0;
		slot->last_error[0] = '\0';
		slot->last_error_at = 0;
		SpinLockRelease(&slot->mutex);
	}
	before_shmem_exit(announce_exit, 0);
}

/*
 * announce_exit: before_shmem_exit callback; the worker is gone.
 */
static void
announce_exit(int code, Datum arg)
{
	SpinLockAcquire(&crm_worker_shared->mutex);
	crm_worker_shared->pid = 0;
	crm_worker_shared->latch = NULL;
	strlcpy(crm_worker_shared->state, "stopped", sizeof(crm_worker_shared->state));
	SpinLockRelease(&crm_worker_shared->mutex);
	for (int i = 0; i < crm_duty_count; i++)
	{
		CrmDutyShared *slot = &crm_worker_shared->duties[i];

		SpinLockAcquire(&slot->mutex);
		slot->in_progress = 0;
		SpinLockRelease(&slot->mutex);
	}
}

/* set_worker_state: the worker's own state (a constant string), when it changes. */
static void
set_worker_state(const char *state)
{
	static const char *shown = NULL;

	if (state == shown)
		return;
	SpinLockAcquire(&crm_worker_shared->mutex);
	strlcpy(crm_worker_shared->state, state, sizeof(crm_worker_shared->state));
	SpinLockRelease(&crm_worker_shared->mutex);
	shown = state;
}

/*
 * report_idle: pg_stat_activity shows the worker idle, with each duty's
 * state ("crm worker: mail: idle; segments: absent; ...").
 */
static void
report_idle(void)
{
	static char *shown = NULL;
	char		(*states)[sizeof(((CrmDutyShared *) NULL)->state)];
	StringInfoData buf;

	/* No state changed: show the same text again (if a duty's transaction replaced it). */
	if (!crm_duty_states_changed() && shown != NULL)
	{
		crm_worker_report_activity(STATE_IDLE, shown);
		return;
	}

	states = palloc(crm_duty_count * sizeof(*states));
	for (int i = 0; i < crm_duty_count; i++)
	{
		CrmDutyShared *slot = &crm_worker_shared->duties[i];

		SpinLockAcquire(&slot->mutex);
		memcpy(states[i], slot->state, sizeof(states[i]));
		SpinLockRelease(&slot->mutex);
	}

	initStringInfo(&buf);
	appendStringInfoString(&buf, CRM_WORKER_NAME ":");
	for (int i = 0; i < crm_duty_count; i++)
		appendStringInfo(&buf, "%s %s: %s", i > 0 ? ";" : "", crm_duties[i].name, states[i]);
	if (shown != NULL)
		pfree(shown);
	shown = MemoryContextStrdup(TopMemoryContext, buf.data);
	crm_worker_report_activity(STATE_IDLE, shown);
}

/* ms_until: milliseconds from now to t, at least 0, rounded up. */
static long
ms_until(TimestampTz now, TimestampTz t)
{
	if (t <= now)
		return 0;
	return (long) Min((t - now + 999) / 1000, (TimestampTz) INT_MAX);
}
