/*-------------------------------------------------------------------------
 * delivery_queue.c
 *	  Mail delivery's SQL: checking that the queue exists, claiming a
 *	  batch, recording outcomes (outbox row, delivery log, suppression of
 *	  hard bounces), re-queueing interrupted deliveries, counting the
 *	  backlog, and deleting old rows.  Every function runs inside the
 *	  caller's short transaction with SPI connected; each statement is a
 *	  CrmSpiQuery (spi_util.h), prepared once and kept (PostgreSQL re-plans
 *	  it when the extension is dropped and created again).
 *
 * The claim statement is also what crm._claim_emails runs (delivery_sql.c),
 * so the isolation test exercises exactly the worker's claim.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "mail/delivery.h"
#include "mail/transport.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/*
 * Every operator and type below is schema-qualified (OPERATOR(pg_catalog.=)
 * and so on, no IN, NULLIF or simple CASE, which look "=" up), so the SQL
 * means the same whatever search_path it runs under: the worker pins its
 * own, and this holds even if a trigger on the outbox changes it.  All
 * OPERATOR() forms share one precedence, left to right: hence the
 * parentheses.
 */
#define EQ " OPERATOR(pg_catalog.=) "
#define LE " OPERATOR(pg_catalog.<=) "
#define LT " OPERATOR(pg_catalog.<) "
#define GE " OPERATOR(pg_catalog.>=) "
#define PLUS " OPERATOR(pg_catalog.+) "
#define MINUS " OPERATOR(pg_catalog.-) "
#define TIMES " OPERATOR(pg_catalog.*) "
#define DIVIDE " OPERATOR(pg_catalog./) "
#define CONCAT " OPERATOR(pg_catalog.||) "

/*
 * Claim up to $1 queued messages that are due, oldest first, skipping rows
 * another claimer holds; each gets a lease of $2 and one more attempt.
 * "= ANY (ARRAY(...))" makes the ids a list the primary key is probed with;
 * "IN (...)" lets the planner hash-join against a scan of the whole table.
 */
static const Oid claim_types[CRM_CLAIM_NARGS] = {
	[CRM_CLAIM_COUNT] = INT4OID, [CRM_CLAIM_LEASE] = INTERVALOID
};
CrmSpiQuery crm_mail_claim_query = {
"UPDATE crm.email_outbox o"
"   SET status = 'sending', attempts = o.attempts" PLUS "1,"
"       lease_until = pg_catalog.now()" PLUS "$2"
" WHERE o.id" EQ "ANY (ARRAY(SELECT q.id FROM crm.email_outbox q"
"                          WHERE q.status" EQ "'queued' AND q.next_attempt_at" LE "pg_catalog.now()"
"                          ORDER BY q.next_attempt_at, q.id"
"                          LIMIT $1"
"                          FOR UPDATE SKIP LOCKED))"
" RETURNING o.id, o.attempts, o.to_address, o.subject, o.body_text, o.body_html,"
"           o.message_id, o.created_at",
CRM_CLAIM_NARGS, claim_types};

/*
 * Back to the queue (or failed, after crm.max_attempts) go deliveries the
 * worker never finished: all of them at its start ($1), otherwise those
 * whose lease ran out.  Each gets a delivery-log row saying so.
 */
enum
{
	REQUEUE_ALL, REQUEUE_MAX_ATTEMPTS, REQUEUE_TRANSPORT, REQUEUE_DETAIL, REQUEUE_NARGS
};
static const Oid requeue_types[REQUEUE_NARGS] = {
	[REQUEUE_ALL] = BOOLOID, [REQUEUE_MAX_ATTEMPTS] = INT4OID, [REQUEUE_TRANSPORT] = TEXTOID,
	[REQUEUE_DETAIL] = TEXTOID
};
static CrmSpiQuery requeue_query = {
"WITH stale AS ("
"   SELECT id, updated_at FROM crm.email_outbox"
"    WHERE status" EQ "'sending' AND ($1 OR lease_until" LT "pg_catalog.now())"
"      FOR UPDATE),"
" moved AS ("
"   UPDATE crm.email_outbox o"
"      SET status = CASE WHEN o.attempts" GE "$2 THEN 'failed' ELSE 'queued' END,"
"          next_attempt_at = pg_catalog.now(), lease_until = NULL,"
"          sent_at = CASE WHEN o.attempts" GE "$2 THEN pg_catalog.now() END,"
"          last_error = $4"
"     FROM stale WHERE o.id" EQ "stale.id"
"   RETURNING o.id, o.attempts, o.status, stale.updated_at AS claimed_at)"
" INSERT INTO crm.email_delivery_log"
"        (outbox_id, attempt, started_at, finished_at, outcome, transport, detail)"
" SELECT id, attempts, claimed_at, pg_catalog.now(),"
"        CASE WHEN status" EQ "'failed' THEN 'failed' ELSE 'retry' END, $3, $4"
"   FROM moved",
REQUEUE_NARGS, requeue_types};

/*
 * Record finished deliveries, given as parallel arrays.  A temporary
 * failure goes back to the queue after an exponential backoff with jitter
 * (half of the wait is random), or to failed when the attempts are used
 * up.  sent_at is when the row became final (sent or failed), which is
 * what retention counts from.  "o.id = ANY ($1)" gives the planner the
 * primary-key path whatever the size of the table.  Rows no longer
 * 'sending' (claimed by a later worker) are left alone.
 */
enum
{
	RECORD_IDS, RECORD_OUTCOMES, RECORD_CODES, RECORD_DETAILS, RECORD_STARTED, RECORD_FINISHED,
	RECORD_ATTEMPTS, RECORD_TRANSPORTS, RECORD_MAX_ATTEMPTS, RECORD_RETRY_DELAY,
	RECORD_RETRY_MAX_DELAY, RECORD_NARGS
};
static const Oid record_types[RECORD_NARGS] = {
	[RECORD_IDS] = INT8ARRAYOID, [RECORD_OUTCOMES] = TEXTARRAYOID, [RECORD_CODES] = INT4ARRAYOID,
	[RECORD_DETAILS] = TEXTARRAYOID, [RECORD_STARTED] = TIMESTAMPTZARRAYOID,
	[RECORD_FINISHED] = TIMESTAMPTZARRAYOID, [RECORD_ATTEMPTS] = INT4ARRAYOID,
	[RECORD_TRANSPORTS] = TEXTARRAYOID, [RECORD_MAX_ATTEMPTS] = INT4OID,
	[RECORD_RETRY_DELAY] = FLOAT8OID, [RECORD_RETRY_MAX_DELAY] = FLOAT8OID
};
static CrmSpiQuery record_query = {
"WITH r AS ("
"   SELECT * FROM ROWS FROM (pg_catalog.unnest($1::bigint[]), pg_catalog.unnest($2::pg_catalog.text[]),"
"                            pg_catalog.unnest($3::int[]), pg_catalog.unnest($4::pg_catalog.text[]),"
"                            pg_catalog.unnest($5::pg_catalog.timestamptz[]),"
"                            pg_catalog.unnest($6::pg_catalog.timestamptz[]),"
"                            pg_catalog.unnest($7::int[]), pg_catalog.unnest($8::pg_catalog.text[]))"
"          AS r(id, outcome, code, detail, started_at, finished_at, attempt, transport)),"
" u AS ("
"   UPDATE crm.email_outbox o"
"      SET status = CASE WHEN r.outcome" EQ "'sent' THEN 'sent'"
"                        WHEN r.outcome" EQ "'retry' AND o.attempts" LT "$9 THEN 'queued'"
"                        ELSE 'failed' END,"
"          sent_at = CASE WHEN r.outcome" EQ "'retry' AND o.attempts" LT "$9 THEN o.sent_at"
"                         ELSE r.finished_at END,"
"          next_attempt_at = CASE WHEN r.outcome" EQ "'retry' AND o.attempts" LT "$9"
"              THEN pg_catalog.now()" PLUS "pg_catalog.make_interval(secs =>"
"                   LEAST($10" TIMES "pg_catalog.power(2::pg_catalog.float8, LEAST(o.attempts, 31)" MINUS "1), $11)"
"                  " TIMES "(0.5" PLUS "(0.5" TIMES "pg_catalog.random()))" DIVIDE "1000.0)"
"              ELSE o.next_attempt_at END,"
"          lease_until = NULL,"
"          last_error = CASE WHEN r.outcome" EQ "'sent' THEN NULL ELSE r.detail END"
"     FROM r"
"    WHERE o.id" EQ "ANY ($1::bigint[]) AND o.id" EQ "r.id AND o.status" EQ "'sending'"
"   RETURNING o.id, o.status)"
" INSERT INTO crm.email_delivery_log"
"        (outbox_id, attempt, started_at, finished_at, outcome, transport, response_code, detail)"
" SELECT r.id, r.attempt, r.started_at, r.finished_at,"
"        CASE WHEN u.status" EQ "'queued' THEN 'retry' ELSE u.status END,"
"        r.transport, CASE WHEN r.code" EQ "0 THEN NULL ELSE r.code END, r.detail"
"   FROM r JOIN u ON u.id" EQ "r.id"
" RETURNING outcome",
RECORD_NARGS, record_types};

/* Hard-bounced addresses ($1) with what the server said ($2). */
enum
{
	SUPPRESS_ADDRESSES, SUPPRESS_DETAILS, SUPPRESS_NARGS
};
static const Oid suppress_types[SUPPRESS_NARGS] = {
	[SUPPRESS_ADDRESSES] = TEXTARRAYOID, [SUPPRESS_DETAILS] = TEXTARRAYOID
};
static CrmSpiQuery suppress_query = {
"INSERT INTO crm.email_suppression (address, reason)"
" SELECT DISTINCT ON (pg_catalog.lower(a)) pg_catalog.lower(a), 'hard bounce: '" CONCAT "d"
"   FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]))"
"        AS b(a, d)"
" ON CONFLICT (address) DO NOTHING",
SUPPRESS_NARGS, suppress_types};

static CrmSpiQuery next_due_query = {
"SELECT pg_catalog.min(next_attempt_at) FROM crm.email_outbox WHERE status" EQ "'queued'",
0, NULL};

#define BACKLOG_COUNT_LIMIT 1000000
static CrmSpiQuery backlog_query = {
"SELECT pg_catalog.count(*) FROM (SELECT FROM crm.email_outbox"
"  WHERE status" EQ "'queued' AND next_attempt_at" LE "pg_catalog.now()"
"  LIMIT " CppAsString2(BACKLOG_COUNT_LIMIT) ") due",
0, NULL};

/* Finished rows older than $1 seconds, at most $2 of them. */
enum
{
	PURGE_AGE, PURGE_LIMIT, PURGE_NARGS
};
static const Oid purge_types[PURGE_NARGS] = {[PURGE_AGE] = FLOAT8OID, [PURGE_LIMIT] = INT4OID};
static CrmSpiQuery purge_query = {
"DELETE FROM crm.email_outbox"
" WHERE id" EQ "ANY (ARRAY(SELECT id FROM crm.email_outbox"
"               WHERE status" EQ "ANY ('{sent,failed,cancelled}'::pg_catalog.text[])"
"                 AND sent_at" LT "(pg_catalog.now()" MINUS "pg_catalog.make_interval(secs => $1))"
"               LIMIT $2))",
PURGE_NARGS, purge_types};

static bool lock_table(const char *name, Oid nsp, Oid *relid);
static Datum text_array(List *strings);

/*
 * crm_mail_lock_tables: find the queue's tables and take RowExclusiveLock
 * on them without waiting.  Anything but CRM_QUEUE_READY means: try again
 * later.  Holding the locks until commit keeps DROP EXTENSION from removing
 * the tables under the running transaction.
 */
CrmQueueState
crm_mail_lock_tables(CrmMailTables *tables)
{
	Oid			nsp = get_namespace_oid(CRM_SCHEMA, true);

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("email_outbox", nsp)))
		return CRM_QUEUE_MISSING;
	if (lock_table("email_outbox", nsp, &tables->outbox) &&
		lock_table("email_delivery_log", nsp, &tables->delivery_log) &&
		lock_table("email_suppression", nsp, &tables->suppression))
		return CRM_QUEUE_READY;
	return CRM_QUEUE_BUSY;
}

static bool
lock_table(const char *name, Oid nsp, Oid *relid)
{
	*relid = get_relname_relid(name, nsp);
	if (!OidIsValid(*relid) || !ConditionalLockRelationOid(*relid, RowExclusiveLock))
		return false;
	/* It may have been dropped while we looked it up. */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(*relid)))
	{
		UnlockRelationOid(*relid, RowExclusiveLock);
		return false;
	}
	return true;
}

/*
 * crm_mail_requeue_leases: re-queue deliveries left in 'sending' (all of
 * them when all is true).  Returns how many rows moved.
 */
int
crm_mail_requeue_leases(bool all)
{
	Datum		values[REQUEUE_NARGS];

	values[REQUEUE_ALL] = BoolGetDatum(all);
	values[REQUEUE_MAX_ATTEMPTS] = Int32GetDatum(crm_max_attempts);
	values[REQUEUE_TRANSPORT] = CStringGetTextDatum(crm_transport_name());
	values[REQUEUE_DETAIL] = CStringGetTextDatum(all ?
										   "interrupted: the crm worker stopped during this delivery" :
										   "interrupted: the delivery's lease expired");
	return (int) crm_spi_execute(&requeue_query, values, NULL, false, 0);
}

/*
 * crm_mail_claim: claim up to n due messages.  Returns a list of jobs,
 * each in its own memory context; the list and the contexts are in parent.
 */
List *
crm_mail_claim(int n, Oid outbox_relid, MemoryContext parent)
{
	Datum		values[CRM_CLAIM_NARGS];
	Interval   *lease = palloc0(sizeof(Interval));
	List	   *jobs = NIL;
	uint64		claimed;

	/* The lease outlasts any delivery: crm.send_timeout plus a minute. */
	lease->time = ((int64) crm_send_timeout_ms + 60000) * INT64CONST(1000);
	values[CRM_CLAIM_COUNT] = Int32GetDatum(n);
	values[CRM_CLAIM_LEASE] = IntervalPGetDatum(lease);
	claimed = crm_spi_execute(&crm_mail_claim_query, values, NULL, false, 0);

	for (uint64 i = 0; i < claimed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext cxt = AllocSetContextCreate(parent, "crm mail job",
												  ALLOCSET_SMALL_SIZES);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		CrmMailJob *job = palloc0(sizeof(CrmMailJob));
		bool		isnull;

		job->cxt = cxt;
		job->outbox_relid = outbox_relid;
		job->id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		job->attempt = DatumGetInt32(SPI_getbinval(tuple, desc, 2, &isnull));
		job->to_address = crm_spi_text(tuple, desc, 3, cxt);
		job->subject = crm_spi_text(tuple, desc, 4, cxt);
		job->body_text = crm_spi_text(tuple, desc, 5, cxt);
		job->body_html = crm_spi_text(tuple, desc, 6, cxt);
		job->message_id = crm_spi_text(tuple, desc, 7, cxt);
		job->created_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 8, &isnull));
		job->outcome = CRM_OUTCOME_PENDING;
		MemoryContextSwitchTo(parent);
		jobs = lappend(jobs, job);
		MemoryContextSwitchTo(old);
	}
	return jobs;
}

/*
 * crm_mail_next_due: when the earliest queued message is due, or
 * DT_NOEND when nothing is queued.
 */
TimestampTz
crm_mail_next_due(void)
{
	bool		isnull;
	Datum		d;

	if (crm_spi_execute(&next_due_query, NULL, NULL, false, 1) != 1)
		elog(ERROR, "could not read the mail queue");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? DT_NOEND : DatumGetTimestampTz(d);
}

/*
 * crm_mail_record: write the outcomes of finished jobs, suppress hard
 * bounces, and count what happened in the duty's counters.
 */
void
crm_mail_record(List *jobs)
{
	int			n = list_length(jobs);
	Datum	   *ids = palloc(n * sizeof(Datum));
	Datum	   *codes = palloc(n * sizeof(Datum));
	Datum	   *started = palloc(n * sizeof(Datum));
	Datum	   *finished = palloc(n * sizeof(Datum));
	Datum	   *attempts = palloc(n * sizeof(Datum));
	List	   *outcomes = NIL;
	List	   *details = NIL;
	List	   *transports = NIL;
	List	   *bounced = NIL;
	List	   *bounce_details = NIL;
	Datum		values[RECORD_NARGS];
	ListCell   *lc;
	int			i = 0;
	uint64		sent = 0,
				failed = 0,
				retried = 0;
	uint64		recorded;

	if (n == 0)
		return;
	foreach(lc, jobs)
	{
		CrmMailJob *job = lfirst(lc);

		ids[i] = Int64GetDatum(job->id);
		codes[i] = Int32GetDatum(job->response_code);
		started[i] = TimestampTzGetDatum(job->started_at);
		finished[i] = TimestampTzGetDatum(job->finished_at);
		attempts[i] = Int32GetDatum(job->attempt);
		outcomes = lappend(outcomes, (char *) crm_job_outcome_name(job->outcome));
		details = lappend(details, job->detail);
		transports = lappend(transports, (char *) job->transport);
		if (job->outcome == CRM_OUTCOME_FAILED && job->hard_bounce)
		{
			bounced = lappend(bounced, job->to_address);
			bounce_details = lappend(bounce_details, job->detail);
		}
		i++;
	}
	values[RECORD_IDS] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[RECORD_OUTCOMES] = text_array(outcomes);
	values[RECORD_CODES] = PointerGetDatum(construct_array(codes, n, INT4OID, 4, true, TYPALIGN_INT));
	values[RECORD_DETAILS] = text_array(details);
	values[RECORD_STARTED] = PointerGetDatum(construct_array(started, n, TIMESTAMPTZOID, 8,
														 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[RECORD_FINISHED] = PointerGetDatum(construct_array(finished, n, TIMESTAMPTZOID, 8,
														  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[RECORD_ATTEMPTS] = PointerGetDatum(construct_array(attempts, n, INT4OID, 4, true, TYPALIGN_INT));
	values[RECORD_TRANSPORTS] = text_array(transports);
	values[RECORD_MAX_ATTEMPTS] = Int32GetDatum(crm_max_attempts);
	values[RECORD_RETRY_DELAY] = Float8GetDatum((double) crm_retry_delay_ms);
	values[RECORD_RETRY_MAX_DELAY] = Float8GetDatum((double) Max(crm_retry_max_delay_ms, crm_retry_delay_ms));
	recorded = crm_spi_execute(&record_query, values, NULL, false, 0);
	for (uint64 row = 0; row < recorded; row++)
	{
		char	   *outcome = crm_spi_text(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1,
										   CurrentMemoryContext);

		if (strcmp(outcome, "sent") == 0)
			sent++;
		else if (strcmp(outcome, "retry") == 0)
			retried++;
		else
			failed++;
	}

	if (bounced != NIL)
	{
		Datum		suppress_values[SUPPRESS_NARGS];

		suppress_values[SUPPRESS_ADDRESSES] = text_array(bounced);
		suppress_values[SUPPRESS_DETAILS] = text_array(bounce_details);
		crm_spi_execute(&suppress_query, suppress_values, NULL, false, 0);
	}

	crm_duty_tally(sent, failed, retried);
}

/*
 * crm_mail_due_backlog: how many queued messages are due now (at most
 * BACKLOG_COUNT_LIMIT: a count, not a scan of a huge queue).
 */
int64
crm_mail_due_backlog(void)
{
	bool		isnull;
	Datum		d;

	if (crm_spi_execute(&backlog_query, NULL, NULL, true, 1) != 1)
		elog(ERROR, "could not count the mail backlog");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return DatumGetInt64(d);
}

/*
 * crm_mail_purge_old: delete up to CRM_RETENTION_BATCH finished messages
 * older than crm.mail_retention (their delivery log goes with them).
 * Returns how many were deleted.
 */
int
crm_mail_purge_old(void)
{
	Datum		values[PURGE_NARGS];

	if (crm_mail_retention_s <= 0)
		return 0;
	values[PURGE_AGE] = Float8GetDatum((double) crm_mail_retention_s);
	values[PURGE_LIMIT] = Int32GetDatum(CRM_RETENTION_BATCH);
	return (int) crm_spi_execute(&purge_query, values, NULL, false, 0);
}

/* text_array: a text[] Datum from a list of C strings. */
static Datum
text_array(List *strings)
{
	int			n = list_length(strings);
	Datum	   *elems = palloc(n * sizeof(Datum));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, strings)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
