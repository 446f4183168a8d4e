/*-------------------------------------------------------------------------
 * duty.c
 *	  The services the crm worker gives the duty it is running (duty.h):
 *	  its short transactions, with a time budget (crm.duty_timeout), and
 *	  what it reports into its shared-memory slot; and the scheduling
 *	  settings every duty is subject to (crm.poll_interval,
 *	  crm.duty_timeout).
 *
 * The loop (worker_main.c) enters the duty it runs with crm_duty_enter,
 * giving its slot; the services act on that slot, so a duty's code never
 * needs to know where its slot is.  This file uses nothing else of the
 * worker, so the duties' code depends on it and not on the loop.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <limits.h>

#include "access/xact.h"
#include "pgstat.h"
#include "spi_util.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "worker/duty.h"

int			crm_poll_interval_ms;
int			crm_duty_timeout_ms;
char	   *crm_worker_database;	/* the setting is defined at server start */

static const CrmDuty *current = NULL;	/* the running duty */
static CrmDutyShared *current_slot = NULL;	/* and its slot, if any */
static bool states_changed = true;	/* a duty's state, since last asked */
static TimestampTz run_again_at = DT_NOEND;	/* what the running duty asked for */
static bool held = false;		/* delivery is held (crm_worker_hold) */
static bool hold_lifted = false;	/* released since the loop last asked */

/*
 * crm_duty_define_settings: crm.poll_interval and crm.duty_timeout, in
 * every process that loads crm (from crm_worker_init).
 */
void
crm_duty_define_settings(void)
{
	DefineCustomIntVariable("crm.poll_interval",
							"Longest time the crm worker waits before running each duty again.",
							"Commits that queue mail wake it at once; the poll catches anything else, "
							"such as prepared transactions, and paces the duties that have nothing to do.",
							&crm_poll_interval_ms, 30000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.duty_timeout",
							"Time budget of one transaction of a crm worker duty; 0 means none.",
							"A duty's transaction that takes longer is cancelled and retried later, "
							"so one slow duty cannot hold up the others.",
							&crm_duty_timeout_ms, 30000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
}

/* crm_duty_enter: the loop is about to run duty, whose slot is slot (NULL: none). */
void
crm_duty_enter(const CrmDuty *duty, CrmDutyShared *slot)
{
	current = duty;
	current_slot = duty != NULL ? slot : NULL;
	run_again_at = DT_NOEND;
}

/*
 * crm_duty_run_again_at: the running duty wants to run again by t (a SQL
 * duty's function calls it when it knows when its next work is due, e.g.
 * the next journey step); the earliest request counts.
 */
void
crm_duty_run_again_at(TimestampTz t)
{
	run_again_at = Min(run_again_at, t);
}

/* crm_duty_run_again_requested: the earliest time asked for since the duty was entered (DT_NOEND: none). */
TimestampTz
crm_duty_run_again_requested(void)
{
	return run_again_at;
}

/*
 * crm_duty_begin: start one short transaction for the running duty, with
 * a snapshot, SPI connected, and crm.duty_timeout as its time budget.
 */
void
crm_duty_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	crm_spi_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (crm_duty_timeout_ms > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, crm_duty_timeout_ms);
	if (current != NULL)
	{
		char		activity[NAMEDATALEN + sizeof(CRM_WORKER_NAME) + 2];

		snprintf(activity, sizeof(activity), "%s: %s", CRM_WORKER_NAME, current->name);
		crm_worker_report_activity(STATE_RUNNING, activity);
	}
	if (current_slot != NULL)
	{
		SpinLockAcquire(&current_slot->mutex);
		current_slot->last_run_at = GetCurrentTimestamp();
		SpinLockRelease(&current_slot->mutex);
	}
}

/*
 * crm_duty_commit: end the transaction crm_duty_begin started, and report
 * its statistics (so autovacuum sees the queue's churn).
 */
void
crm_duty_commit(void)
{
	disable_timeout(STATEMENT_TIMEOUT, false);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

void
crm_duty_set_state(const char *state)
{
	if (current_slot != NULL)
	{
		SpinLockAcquire(&current_slot->mutex);
		if (strncmp(current_slot->state, state, sizeof(current_slot->state) - 1) != 0)
		{
			strlcpy(current_slot->state, state, sizeof(current_slot->state));
			states_changed = true;
		}
		SpinLockRelease(&current_slot->mutex);
	}
}

/* crm_duty_states_changed: whether a state changed since the last call. */
bool
crm_duty_states_changed(void)
{
	bool		changed = states_changed;

	states_changed = false;
	return changed;
}

void
crm_duty_set_in_progress(int n)
{
	if (current_slot != NULL)
	{
		SpinLockAcquire(&current_slot->mutex);
		current_slot->in_progress = n;
		SpinLockRelease(&current_slot->mutex);
	}
}

void
crm_duty_set_backlog(int64 backlog)
{
	if (current_slot != NULL)
	{
		SpinLockAcquire(&current_slot->mutex);
		current_slot->backlog = backlog;
		SpinLockRelease(&current_slot->mutex);
	}
}

/* crm_duty_tally: add to the running duty's counters. */
void
crm_duty_tally(uint64 done, uint64 failed, uint64 retried)
{
	if (current_slot != NULL)
	{
		SpinLockAcquire(&current_slot->mutex);
		current_slot->done += done;
		current_slot->failed += failed;
		current_slot->retried += retried;
		SpinLockRelease(&current_slot->mutex);
	}
}

/* crm_duty_note_error: remember the running duty's latest problem. */
void
crm_duty_note_error(const char *error)
{
	if (current_slot != NULL)
	{
		SpinLockAcquire(&current_slot->mutex);
		strlcpy(current_slot->last_error, error, sizeof(current_slot->last_error));
		current_slot->last_error_at = GetCurrentTimestamp();
		SpinLockRelease(&current_slot->mutex);
	}
}

/*
 * crm_worker_hold: hold delivery (the duties marked "delivers"), saying
 * why in crm.worker_status.  Only in the worker.
 */
void
crm_worker_hold(const char *reason)
{
	held = true;
	SpinLockAcquire(&crm_worker_shared->mutex);
	strlcpy(crm_worker_shared->hold_reason, reason, sizeof(crm_worker_shared->hold_reason));
	SpinLockRelease(&crm_worker_shared->mutex);
}

/* crm_worker_release: delivery goes on; the held duties run at once. */
void
crm_worker_release(void)
{
	if (held)
		hold_lifted = true;
	held = false;
	SpinLockAcquire(&crm_worker_shared->mutex);
	crm_worker_shared->hold_reason[0] = '\0';
	SpinLockRelease(&crm_worker_shared->mutex);
}

bool
crm_worker_held(void)
{
	return held;
}

/* crm_worker_hold_lifted: whether the hold was released since the last call. */
bool
crm_worker_hold_lifted(void)
{
	bool		lifted = hold_lifted;

	hold_lifted = false;
	return lifted;
}

/*
 * crm_worker_report_activity: what pg_stat_activity shows of the worker,
 * reported only when it changes.
 */
void
crm_worker_report_activity(BackendState state, const char *text)
{
	static BackendState shown_state = STATE_UNDEFINED;
	static char shown[1024];

	if (state != shown_state || strncmp(shown, text, sizeof(shown) - 1) != 0)
	{
		pgstat_report_activity(state, text);
		shown_state = state;
		strlcpy(shown, text, sizeof(shown));
	}
}
