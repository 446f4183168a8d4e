/*-------------------------------------------------------------------------
 * delivery.c
 *	  Mail delivery: the crm worker's "mail" duty (src/worker/duty.h).
 *
 * One run of the duty:
 *	1. when there is something to do, one short transaction: lock the
 *	   queue tables without waiting (skip the run if crm is missing or being
 *	   dropped), re-queue deliveries a previous worker left in 'sending' (once),
 *	   record the outcomes of finished deliveries, claim as many due messages
 *	   as there are free delivery slots (and the rate cap allows), and every
 *	   CRM_RETENTION_EVERY_MS re-queue expired leases, delete a batch of old
 *	   messages and count the backlog; commit;
 *	2. outside any transaction, build each claimed message (MIME) and hand it
 *	   to the transport;
 *	3. say when to run next: a retry falling due, the rate cap, the record
 *	   window, the housekeeping, or the slow poll (a commit that queues mail
 *	   wakes the duty at once).
 * Between runs the worker waits in crm_mail_duty_wait: on its latch and on
 * the transport's sockets, so transfers progress; the duty runs again after
 * every wait.  Outcomes are recorded in batches: when a quarter of the
 * slots have finished, when nothing is left in flight, or 20 ms after the
 * first one finished.  A slot is free only once its outcome is committed,
 * so at most crm.max_in_flight rows are ever 'sending' because of this
 * worker, and those are the only messages a crash can deliver twice.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "mail/delivery.h"
#include "mail/mime.h"
#include "mail/transport.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define RECORD_WINDOW_MS 20
#define BUSY_RETRY_MS 1000

static MemoryContext duty_cxt;	/* lives as long as the worker */
static MemoryContext jobs_cxt;	/* parent of every job's context */
static MemoryContext run_cxt;	/* reset at every run */
static List *active = NIL;		/* claimed jobs not yet recorded (duty_cxt) */
static CrmQueueState queue_state = CRM_QUEUE_BUSY;	/* what the last pass found */
static bool recovered = false;	/* leases of a previous worker re-queued */
static TimestampTz next_due;	/* when a queued message may be due */
static TimestampTz next_housekeeping;
static double tokens;			/* crm.send_rate budget */
static TimestampTz tokens_at;

static void set_state(const char *state);
static void run_transaction(List *finished, int claim_n, bool housekeeping);
static void start_job(CrmMailJob *job);

/*
 * crm_mail_delivery_init: define the settings of delivery and of every
 * transport.  Called from _PG_init.
 */
void
crm_mail_delivery_init(void)
{
	crm_mail_settings_init();
	crm_transport_init();
}

/*
 * crm_mail_duty_start: once, when the worker starts.
 */
void
crm_mail_duty_start(void)
{
	duty_cxt = AllocSetContextCreate(TopMemoryContext, "crm mail delivery",
									 ALLOCSET_DEFAULT_SIZES);
	jobs_cxt = AllocSetContextCreate(duty_cxt, "crm mail jobs", ALLOCSET_DEFAULT_SIZES);
	run_cxt = AllocSetContextCreate(duty_cxt, "crm mail delivery run", ALLOCSET_DEFAULT_SIZES);
	crm_transport_startup();
	next_due = next_housekeeping = tokens_at = GetCurrentTimestamp();
	tokens = Max(crm_send_rate, 1.0);
}

/*
 * crm_mail_duty_reload: after SIGHUP, new settings apply at once,
 * retention included.
 */
void
crm_mail_duty_reload(void)
{
	crm_transport_configure();
	next_due = next_housekeeping = GetCurrentTimestamp();
}

/*
 * crm_mail_duty_wait: the worker's wait between runs (see the header
 * comment).
 */
void
crm_mail_duty_wait(long timeout_ms)
{
	crm_transport_wait(timeout_ms);
}

/*
 * set_state: the duty's state in crm.worker_duties (and crm.worker_status),
 * with the number of messages in flight.
 */
static void
set_state(const char *state)
{
	crm_duty_set_state(state);
	crm_duty_set_in_progress(list_length(active));
}

/*
 * crm_mail_duty_run: one run of the duty (see the header comment); returns
 * when it must run next.
 */
TimestampTz
crm_mail_duty_run(const CrmDuty *duty, bool woken)
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

	MemoryContextReset(run_cxt);
	MemoryContextSwitchTo(run_cxt);
	/* A commit queued mail: look at the queue now. */
	if (woken)
		next_due = Min(next_due, now);

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
		set_state(active != NIL ? "sending" : "idle");

	/* The earliest thing we must do. */
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
	return wake_at;
}

/*
 * run_transaction: record finished jobs, claim up to claim_n messages and
 * do the housekeeping, in one short transaction.  Nothing in memory
 * changes before the commit: an error rolls it all back, and the jobs it
 * claimed (in run_cxt) go with the run's memory.
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
	int			requeued = -1;

	crm_duty_begin();
	state = crm_mail_lock_tables(&tables);
	ready = (state == CRM_QUEUE_READY);
	if (ready)
	{
		if (!recovered)
			requeued = crm_mail_requeue_leases(true);

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
			claimed = crm_mail_claim(claim_n, tables.outbox, run_cxt);
		if (claim_n == 0 || list_length(claimed) < claim_n)
			next_due = crm_mail_next_due();
		if (claim_n > 0 && list_length(claimed) < claim_n)
			crm_duty_set_backlog(0);
		if (housekeeping)
		{
			int			purged;

			crm_mail_requeue_leases(false);
			purged = crm_mail_purge_old();
			next_housekeeping = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															purged == CRM_RETENTION_BATCH ?
															0 : CRM_RETENTION_EVERY_MS);
			crm_duty_set_backlog(crm_mail_due_backlog());
		}
	}
	crm_duty_commit();

	if (requeued >= 0)
	{
		recovered = true;
		if (requeued > 0)
			ereport(LOG,
					(errmsg("crm worker re-queued %d interrupted mail deliveries", requeued)));
	}
	/* Say so in the log only when the queue appears or disappears. */
	if (state == CRM_QUEUE_READY && queue_state != CRM_QUEUE_READY)
	{
		ereport(LOG,
				(errmsg("crm worker is delivering the mail of database \"%s\"",
						crm_worker_database)));
		/* The queue is back: look at its leases and old rows now, not a poll later. */
		next_housekeeping = GetCurrentTimestamp();
	}
	else if (state == CRM_QUEUE_MISSING && queue_state != CRM_QUEUE_MISSING)
		ereport(LOG,
				(errmsg("crm worker is waiting for extension crm in database \"%s\"",
						crm_worker_database),
				 errhint("Run CREATE EXTENSION crm in that database, or set crm.database.")));
	if (state != CRM_QUEUE_BUSY || queue_state != CRM_QUEUE_READY)
		queue_state = state;
	if (!ready)
	{
		set_state(state == CRM_QUEUE_MISSING ? "waiting for extension" : "waiting for a lock");
		next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   state == CRM_QUEUE_BUSY ?
											   BUSY_RETRY_MS : crm_poll_interval_ms);
		next_housekeeping = next_due;
	}

	/* Committed: finished jobs leave, claimed ones join. */
	MemoryContextSwitchTo(duty_cxt);
	foreach(lc, finished)
	{
		CrmMailJob *job = lfirst(lc);

		if (job->outcome != CRM_OUTCOME_SENT)
			crm_duty_note_error(psprintf("message %lld (%s): %s", (long long) job->id,
										 job->transport, job->detail));
		active = list_delete_ptr(active, job);
		MemoryContextDelete(job->cxt);
	}
	foreach(lc, claimed)
	{
		CrmMailJob *job = lfirst(lc);

		MemoryContextSetParent(job->cxt, jobs_cxt);
		active = lappend(active, job);
	}
	if (crm_send_rate > 0)
		tokens -= list_length(claimed);
	MemoryContextSwitchTo(run_cxt);
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
		job->transport = crm_transport_name();
		crm_job_done(job, CRM_OUTCOME_FAILED, 0, "could not build the message: %s",
					 edata->message);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);

	if (job->outcome == CRM_OUTCOME_PENDING)
		crm_transport_begin(job);
}
