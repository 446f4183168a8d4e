/*-------------------------------------------------------------------------
 * duty.c
 *	  The services the crm worker gives the duty it is running (duty.h):
 *	  its short transactions, with a time budget, and what it reports into
 *	  its shared-memory slot.
 *
 * The loop (worker_main.c) names the running duty with crm_duty_enter;
 * the services act on that duty's slot, so a duty's code never needs to
 * know where its slot is.  Outside the worker (no shared memory, or a
 * backend calling the duty's code) they only run the transaction.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "worker/duty.h"

CrmWorkerShared *crm_worker_shared = NULL;

static int	current = -1;		/* index of the running duty, or -1 */

static CrmDutyShared *slot_locked(void);

/*
 * crm_duty_index: the index of the duty named name, or -1.
 */
int
crm_duty_index(const char *name)
{
	for (int i = 0; i < crm_duty_count; i++)
		if (strcmp(crm_duties[i].name, name) == 0)
			return i;
	return -1;
}

/* crm_duty_enter: the loop is about to run duty index (-1: none). */
void
crm_duty_enter(int index)
{
	Assert(index >= -1 && index < crm_duty_count);
	current = index;
}

/*
 * crm_duty_begin: start one short transaction for the running duty, with
 * a snapshot, SPI connected, and crm.duty_timeout as its time budget.
 */
void
crm_duty_begin(void)
{
	CrmDutyShared *slot;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	if (crm_duty_timeout_ms > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, crm_duty_timeout_ms);
	if (current >= 0)
		crm_worker_report_activity(STATE_RUNNING,
								   psprintf("%s: %s", CRM_WORKER_NAME, crm_duties[current].name));
	if ((slot = slot_locked()) != NULL)
	{
		slot->last_run_at = GetCurrentTimestamp();
		crm_worker_shared->last_activity = slot->last_run_at;
		SpinLockRelease(&crm_worker_shared->mutex);
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
	CrmDutyShared *slot = slot_locked();

	if (slot != NULL)
	{
		strlcpy(slot->state, state, sizeof(slot->state));
		SpinLockRelease(&crm_worker_shared->mutex);
	}
}

void
crm_duty_set_in_progress(int n)
{
	CrmDutyShared *slot = slot_locked();

	if (slot != NULL)
	{
		slot->in_progress = n;
		SpinLockRelease(&crm_worker_shared->mutex);
	}
}

void
crm_duty_set_backlog(int64 backlog)
{
	CrmDutyShared *slot = slot_locked();

	if (slot != NULL)
	{
		slot->backlog = backlog;
		SpinLockRelease(&crm_worker_shared->mutex);
	}
}

/* crm_duty_tally: add to the running duty's counters. */
void
crm_duty_tally(uint64 done, uint64 failed, uint64 retried)
{
	CrmDutyShared *slot = slot_locked();

	if (slot != NULL)
	{
		slot->done += done;
		slot->failed += failed;
		slot->retried += retried;
		SpinLockRelease(&crm_worker_shared->mutex);
	}
}

/* crm_duty_note_error: remember the running duty's latest problem. */
void
crm_duty_note_error(const char *error)
{
	CrmDutyShared *slot = slot_locked();

	if (slot != NULL)
	{
		strlcpy(slot->last_error, error, sizeof(slot->last_error));
		slot->last_error_at = GetCurrentTimestamp();
		SpinLockRelease(&crm_worker_shared->mutex);
	}
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

/*
 * slot_locked: the running duty's slot with the mutex held, or NULL (and
 * no lock) when there is none.
 */
static CrmDutyShared *
slot_locked(void)
{
	if (crm_worker_shared == NULL || current < 0)
		return NULL;
	SpinLockAcquire(&crm_worker_shared->mutex);
	return &crm_worker_shared->duties[current];
}
