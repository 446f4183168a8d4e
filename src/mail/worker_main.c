/*-------------------------------------------------------------------------
 * worker_main.c
 *	  The crm mail worker's main loop.
 *
 * One pass of the loop:
 *	1. handle interrupts (SIGTERM ends the worker with a non-zero exit, so
 *	   the postmaster restarts it) and reload the configuration on SIGHUP;
 *	2. when there is something to do, one short transaction: lock the
 *	   queue tables without waiting (skip the pass if crm is missing or being
 *	   dropped), re-queue deliveries a previous worker left in 'sending' (once),
 *	   record the outcomes of finished deliveries, claim as many due messages
 *	   as there are free delivery slots (and the rate cap allows), and every
 *	   CRM_RETENTION_EVERY_MS re-queue expired leases and delete a batch of
 *	   old messages; commit; pgstat_report_stat;
 *	3. outside any transaction, build each claimed message (MIME) and hand it
 *	   to the transport;
 *	4. wait for the latch (a commit queued mail, or a signal), the
 *	   transport's sockets, or the next deadline (a retry falling due, the
 *	   rate cap, the slow poll).
 * Outcomes are recorded in batches: when a quarter of the slots have
 * finished, when nothing is left in flight, or 20 ms after the first one
 * finished.  A slot is free only once its outcome is committed, so at most
 * crm.max_in_flight rows are ever 'sending' because of this worker, and
 * those are the only messages a crash can deliver twice.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "mail/mime.h"
#include "mail/transport.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define RECORD_WINDOW_MS 20
#define BUSY_RETRY_MS 1000

static MemoryContext worker_cxt;	/* lives as long as the worker */
static MemoryContext jobs_cxt;	/* parent of every job's context */
static MemoryContext loop_cxt;	/* reset at every pass */
static List *active = NIL;		/* claimed jobs not yet recorded (worker_cxt) */
static CrmQueueState queue_state = CRM_QUEUE_BUSY;	/* what the last pass found */
static bool recovered = false;	/* leases of a previous worker re-queued */
static TimestampTz next_due;	/* when a queued message may be due */
static TimestampTz next_housekeeping;
static double tokens;			/* crm.send_rate budget */
static TimestampTz tokens_at;

static void announce(int code, Datum arg);
static void run_pass(void);
static void run_transaction(List *finished, int claim_n, bool housekeeping);
static void start_job(CrmMailJob *job);
static long ms_until(TimestampTz now, TimestampTz t);

/*
 * crm_mail_worker_main: entry point of the background worker.
 */
void
crm_mail_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(crm_mail_database, NULL, 0);
	pgstat_report_appname(CRM_MAIL_WORKER_NAME);
	/* Every name in our SQL is qualified; this keeps operators safe too. */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "crm mail worker",
									   ALLOCSET_DEFAULT_SIZES);
	jobs_cxt = AllocSetContextCreate(worker_cxt, "crm mail jobs", ALLOCSET_DEFAULT_SIZES);
	loop_cxt = AllocSetContextCreate(worker_cxt, "crm mail worker loop",
									 ALLOCSET_DEFAULT_SIZES);

	if (crm_mail_shared != NULL)
	{
		SpinLockAcquire(&crm_mail_shared->mutex);
		crm_mail_shared->pid = MyProcPid;
		crm_mail_shared->latch = MyLatch;
		crm_mail_shared->database_id = MyDatabaseId;
		crm_mail_shared->started_at = GetCurrentTimestamp();
		crm_mail_shared->last_activity = crm_mail_shared->started_at;
		crm_mail_shared->sent = crm_mail_shared->failed = crm_mail_shared->retried = 0;
		crm_mail_shared->in_flight = 0;
		SpinLockRelease(&crm_mail_shared->mutex);
		before_shmem_exit(announce, 0);
	}
	crm_mail_set_state("starting");
	ereport(LOG,
			(errmsg("crm mail worker started for database \"%s\"", crm_mail_database)));

	crm_transport_startup();
	next_due = next_housekeeping = tokens_at = GetCurrentTimestamp();
	tokens = Max(crm_send_rate, 1.0);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			crm_transport_configure();
			/* New settings apply at once, retention included. */
			next_due = next_housekeeping = GetCurrentTimestamp();
		}
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		run_pass();
	}
}

/*
 * announce: before_shmem_exit callback; the worker is gone.
 */
static void
announce(int code, Datum arg)
{
	SpinLockAcquire(&crm_mail_shared->mutex);
	crm_mail_shared->pid = 0;
	crm_mail_shared->latch = NULL;
	crm_mail_shared->in_flight = 0;
	strlcpy(crm_mail_shared->state, "stopped", sizeof(crm_mail_shared->state));
	SpinLockRelease(&crm_mail_shared->mutex);
}

/*
 * crm_mail_set_state: what crm.worker_status and pg_stat_activity show
 * (active while sending or in a transaction, idle otherwise).
 */
void
crm_mail_set_state(const char *state)
{
	static char shown[48];
	int			in_flight = list_length(active);

	if (crm_mail_shared != NULL)
	{
		SpinLockAcquire(&crm_mail_shared->mutex);
		strlcpy(crm_mail_shared->state, state, sizeof(crm_mail_shared->state));
		crm_mail_shared->in_flight = in_flight;
		SpinLockRelease(&crm_mail_shared->mutex);
	}
	if (strcmp(shown, state) != 0)
	{
		bool		busy = strcmp(state, "sending") == 0 ||
			strcmp(state, "recording and claiming") == 0;

		strlcpy(shown, state, sizeof(shown));
		pgstat_report_activity(busy ? STATE_RUNNING : STATE_IDLE,
							   psprintf("crm mail worker: %s", state));
	}
}

/*
 * crm_mail_note_error: remember the latest delivery problem.
 */
void
crm_mail_note_error(const char *error)
{
	if (crm_mail_shared != NULL)
	{
		SpinLockAcquire(&crm_mail_shared->mutex);
		strlcpy(crm_mail_shared->last_error, error, sizeof(crm_mail_shared->last_error));
		crm_mail_shared->last_error_at = GetCurrentTimestamp();
		SpinLockRelease(&crm_mail_shared->mutex);
	}
}

/*
 * run_pass: one pass of the loop (see the header comment).
 */
static void
run_pass(void)
{
	TimestampTz now = GetCurrentTimestamp();
	List	   *finished = NIL;
	ListCell   *lc;
	TimestampTz first_finished = DT_NOEND;
	TimestampTz wake_at;
	int			batch = Max(1, crm_max_in_flight / 4);
	int			free_slots = Max(0, crm_max_in_flight - list_length(active));
	int			claim_n = 0;
	bool		housekeeping;
	bool		record;

	if (RecoveryInProgress())
	{
		/* Never started on a standby; this guards against surprises. */
		crm_mail_set_state("standby");
		crm_transport_wait(crm_poll_interval_ms);
		return;
	}

	foreach(lc, active)
	{
		CrmMailJob *job = lfirst(lc);

		if (job->outcome != CRM_OUTCOME_PENDING)
		{
			finished = lappend(finished, job);
			first_finished = Min(first_finished, job->finished_at);
		}
	}

	/* How many messages may be claimed now. */
	if (crm_send_rate > 0)
	{
		tokens = Min(Max(crm_send_rate, 1.0),
					 tokens + crm_send_rate * (now - tokens_at) / 1000000.0);
		tokens_at = now;
	}
	if (next_due <= now && free_slots > 0)
	{
		claim_n = free_slots;
		if (crm_send_rate > 0)
			claim_n = Min(claim_n, (int) floor(tokens));
		/* Wait for a batch's worth of free slots while others are busy. */
		if (claim_n < batch && crm_transport_pending() > 0)
			claim_n = 0;
	}

	housekeeping = !recovered || now >= next_housekeeping;
	record = finished != NIL &&
		(list_length(finished) >= batch || crm_transport_pending() == 0 ||
		 now >= TimestampTzPlusMilliseconds(first_finished, RECORD_WINDOW_MS));

	if (record || claim_n > 0 || housekeeping)
	{
		if (!record)
			finished = NIL;
		run_transaction(finished, claim_n, housekeeping);
		now = GetCurrentTimestamp();
		first_finished = DT_NOEND;
		foreach(lc, active)
		{
			CrmMailJob *job = lfirst(lc);

			if (job->outcome == CRM_OUTCOME_PENDING && job->started_at == 0)
				start_job(job);
			if (job->outcome != CRM_OUTCOME_PENDING)
				first_finished = Min(first_finished, job->finished_at);
		}
	}

	if (queue_state == CRM_QUEUE_READY)
		crm_mail_set_state(active != NIL ? "sending" : "idle");

	/* Sleep until the earliest thing we must do. */
	wake_at = TimestampTzPlusMilliseconds(now, crm_poll_interval_ms);
	wake_at = Min(wake_at, next_housekeeping);
	if (first_finished != DT_NOEND)
		wake_at = Min(wake_at, TimestampTzPlusMilliseconds(first_finished, RECORD_WINDOW_MS));
	free_slots = Max(0, crm_max_in_flight - list_length(active));
	if (free_slots >= batch || (free_slots > 0 && crm_transport_pending() == 0))
	{
		TimestampTz claim_at = next_due;

		if (crm_send_rate > 0 && tokens < 1.0)
			claim_at = Max(claim_at, now + (TimestampTz) ((1.0 - tokens) / crm_send_rate * 1000000.0));
		wake_at = Min(wake_at, claim_at);
	}
	/* The latch may mean a commit queued mail: look at the queue again. */
	if (crm_transport_wait(ms_until(now, wake_at)))
		next_due = Min(next_due, GetCurrentTimestamp());
}

/*
 * run_transaction: record finished jobs, claim up to claim_n messages and
 * do the housekeeping, in one short transaction.
 */
static void
run_transaction(List *finished, int claim_n, bool housekeeping)
{
	CrmMailTables tables;
	List	   *claimed = NIL;
	List	   *to_record = NIL;
	ListCell   *lc;
	CrmQueueState state;
	bool		ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	crm_mail_set_state("recording and claiming");

	state = crm_mail_lock_tables(&tables);
	ready = (state == CRM_QUEUE_READY);
	if (ready)
	{
		if (!recovered)
		{
			int			n = crm_mail_requeue_leases(true);

			if (n > 0)
				ereport(LOG,
						(errmsg("crm mail worker re-queued %d interrupted deliveries", n)));
			recovered = true;
		}

		/* Outcomes of messages claimed from a dropped outbox are dropped too. */
		foreach(lc, finished)
		{
			CrmMailJob *job = lfirst(lc);

			if (job->outbox_relid == tables.outbox)
				to_record = lappend(to_record, job);
		}
		crm_mail_record(to_record);

		/* Retries just recorded may be due before anything we knew of. */
		if (claim_n > 0)
			claimed = crm_mail_claim(claim_n, tables.outbox, jobs_cxt, loop_cxt);
		if (claim_n == 0 || list_length(claimed) < claim_n)
			next_due = crm_mail_next_due();
		if (housekeeping)
		{
			int			purged;

			crm_mail_requeue_leases(false);
			purged = crm_mail_purge_old();
			next_housekeeping = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															purged == CRM_RETENTION_BATCH ?
															0 : CRM_RETENTION_EVERY_MS);
		}
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);

	/* Say so in the log only when the queue appears or disappears. */
	if (state == CRM_QUEUE_READY && queue_state != CRM_QUEUE_READY)
	{
		ereport(LOG,
				(errmsg("crm mail worker is delivering the outbox of database \"%s\"",
						crm_mail_database)));
		/* The queue is back: look at its leases and old rows now, not a poll later. */
		next_housekeeping = GetCurrentTimestamp();
	}
	else if (state == CRM_QUEUE_MISSING && queue_state != CRM_QUEUE_MISSING)
		ereport(LOG,
				(errmsg("crm mail worker is waiting for extension crm in database \"%s\"",
						crm_mail_database),
				 errhint("Run CREATE EXTENSION crm in that database, or set crm.database.")));
	if (state != CRM_QUEUE_BUSY || queue_state != CRM_QUEUE_READY)
		queue_state = state;
	if (!ready)
	{
		crm_mail_set_state(state == CRM_QUEUE_MISSING ? "waiting for extension" : "waiting for a lock");
		next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   state == CRM_QUEUE_BUSY ?
											   BUSY_RETRY_MS : crm_poll_interval_ms);
		next_housekeeping = next_due;
	}

	if (crm_mail_shared != NULL)
	{
		SpinLockAcquire(&crm_mail_shared->mutex);
		crm_mail_shared->last_activity = GetCurrentTimestamp();
		SpinLockRelease(&crm_mail_shared->mutex);
	}

	/* Committed: finished jobs leave, claimed ones join. */
	MemoryContextSwitchTo(worker_cxt);
	foreach(lc, finished)
	{
		CrmMailJob *job = lfirst(lc);

		if (job->outcome != CRM_OUTCOME_SENT)
			crm_mail_note_error(psprintf("message %lld (%s): %s", (long long) job->id,
										 job->transport, job->detail));
		active = list_delete_ptr(active, job);
		MemoryContextDelete(job->cxt);
	}
	active = list_concat(active, claimed);
	if (crm_send_rate > 0)
		tokens -= list_length(claimed);
	MemoryContextSwitchTo(loop_cxt);
}

/*
 * start_job: build the message and hand it to the transport.  A message
 * that cannot be built (a row inserted around crm.send_email's checks)
 * fails for good instead of stopping the worker.
 */
static void
start_job(CrmMailJob *job)
{
	CrmMailMessage msg;
	MemoryContext old = MemoryContextSwitchTo(job->cxt);

	msg.from = crm_mail_from;
	msg.to = job->to_address;
	msg.subject = job->subject;
	msg.body_text = job->body_text;
	msg.body_html = job->body_html;
	msg.message_id = job->message_id;
	msg.date = job->created_at;
	msg.unsubscribe_url = crm_unsubscribe_url;

	PG_TRY();
	{
		job->raw = crm_mime_build(&msg, &job->raw_len);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(job->cxt);
		edata = CopyErrorData();
		FlushErrorState();
		job->started_at = GetCurrentTimestamp();
		job->transport = crm_mail_transport == CRM_TRANSPORT_FILE ? "file" :
			crm_mail_transport == CRM_TRANSPORT_SMTP ? "smtp" : "http";
		crm_job_done(job, CRM_OUTCOME_FAILED, 0, "could not build the message: %s",
					 edata->message);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);

	if (job->outcome == CRM_OUTCOME_PENDING)
		crm_transport_begin(job);
}

/* ms_until: milliseconds from now to t, at least 0, rounded up. */
static long
ms_until(TimestampTz now, TimestampTz t)
{
	if (t <= now)
		return 0;
	return (long) Min((t - now + 999) / 1000, (TimestampTz) INT_MAX);
}
