-- src/mail/20_worker.sql: what mail delivery, the crm worker's "mail" duty,
-- adds to the outbox: the wake-on-commit trigger, its status view, and its
-- claim statement as a function (code in src/mail/delivery*.c and
-- transport*.c, the worker in src/worker).

CREATE FUNCTION crm.wake_mail_worker() RETURNS trigger
    LANGUAGE c
    AS 'MODULE_PATHNAME', 'crm_wake_mail_worker';
REVOKE EXECUTE ON FUNCTION crm.wake_mail_worker() FROM PUBLIC;
COMMENT ON FUNCTION crm.wake_mail_worker() IS
    'Statement trigger on crm.email_outbox: wakes the crm worker''s mail duty when the transaction commits.';

CREATE TRIGGER email_outbox_wake_worker
    AFTER INSERT OR UPDATE OF status, next_attempt_at ON crm.email_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION crm.wake_mail_worker();

CREATE FUNCTION crm._mail_worker_state(
        OUT pid integer, OUT state text, OUT started_at timestamptz, OUT in_flight integer,
        OUT sent bigint, OUT failed bigint, OUT retried bigint,
        OUT last_error text, OUT last_error_at timestamptz, OUT last_activity timestamptz)
    RETURNS record
    LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'crm_mail_worker_state';
REVOKE EXECUTE ON FUNCTION crm._mail_worker_state() FROM PUBLIC;
-- Functions in a view run with the reader's privileges.
GRANT EXECUTE ON FUNCTION crm._mail_worker_state() TO crm_reader;
COMMENT ON FUNCTION crm._mail_worker_state() IS
    'What the crm worker and its mail duty report in shared memory; read it through crm.worker_status.';

CREATE FUNCTION crm._claim_emails(n integer, lease interval DEFAULT '5 minutes')
    RETURNS TABLE (id bigint, attempts integer, to_address text, subject text, body_text text,
                   body_html text, message_id text, created_at timestamptz)
    LANGUAGE c VOLATILE STRICT ROWS 10
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'crm_claim_emails';
REVOKE EXECUTE ON FUNCTION crm._claim_emails(integer, interval) FROM PUBLIC;
COMMENT ON FUNCTION crm._claim_emails(integer, interval) IS
    'The mail duty''s claim: marks up to n due queued messages sending with a lease, skipping rows '
    'other claimers hold, and returns them. Superuser only; whoever claims must record the outcome.';

CREATE VIEW crm.worker_status AS
SELECT w.pid,
       w.state,
       pg_catalog.current_setting('crm.database', true) AS database,
       w.started_at,
       w.in_flight,
       q.queued,
       q.sending,
       q.sent,
       q.failed,
       q.cancelled,
       q.oldest_queued_at,
       w.sent AS sent_since_start,
       w.failed AS failed_since_start,
       w.retried AS retried_since_start,
       w.last_error,
       w.last_error_at,
       w.last_activity,
       crm._worker_hold_reason() AS hold_reason,
       (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('duty', d.duty, 'state', d.state,
                                                                  'backlog', d.backlog))
          FROM crm.worker_duties AS d) AS duties
  FROM crm._mail_worker_state() AS w,
       (SELECT pg_catalog.count(*) FILTER (WHERE o.status = 'queued') AS queued,
               pg_catalog.count(*) FILTER (WHERE o.status = 'sending') AS sending,
               pg_catalog.count(*) FILTER (WHERE o.status = 'sent') AS sent,
               pg_catalog.count(*) FILTER (WHERE o.status = 'failed') AS failed,
               pg_catalog.count(*) FILTER (WHERE o.status = 'cancelled') AS cancelled,
               pg_catalog.min(o.created_at) FILTER (WHERE o.status = 'queued') AS oldest_queued_at
          FROM crm.email_outbox AS o) AS q;
GRANT SELECT ON crm.worker_status TO crm_reader;
COMMENT ON VIEW crm.worker_status IS
    'The crm worker''s mail delivery and its queue: one row. Counters are since the worker started; queue counts are this database''s outbox. Every duty of the worker: crm.worker_duties.';
COMMENT ON COLUMN crm.worker_status.pid IS 'Process id of the crm worker, NULL when it is not running.';
COMMENT ON COLUMN crm.worker_status.state IS
    'The mail duty''s state while the worker runs: starting, idle, sending, held (see hold_reason), waiting for extension, waiting for a lock, error (see last_error); otherwise the worker''s: stopped, not started, or not loaded (crm is not in shared_preload_libraries).';
COMMENT ON COLUMN crm.worker_status.duties IS
    'Every duty of the worker (mail, journeys, campaigns, segments, audit sealing, ...) in the order it runs them, with '
    'its state and backlog (journeys: steps due; NULL when the duty does not count): a summary of crm.worker_duties.';
COMMENT ON COLUMN crm.worker_status.database IS 'The database the worker serves (crm.database).';
COMMENT ON COLUMN crm.worker_status.started_at IS 'When the running worker started.';
COMMENT ON COLUMN crm.worker_status.in_flight IS 'Messages claimed and not yet recorded.';
COMMENT ON COLUMN crm.worker_status.queued IS 'Messages waiting to be sent (including retries not yet due).';
COMMENT ON COLUMN crm.worker_status.sending IS 'Messages being delivered now.';
COMMENT ON COLUMN crm.worker_status.sent IS 'Messages delivered (until deleted by crm.mail_retention).';
COMMENT ON COLUMN crm.worker_status.failed IS 'Messages that failed for good (until deleted by crm.mail_retention).';
COMMENT ON COLUMN crm.worker_status.cancelled IS 'Messages cancelled before delivery (until deleted by crm.mail_retention).';
COMMENT ON COLUMN crm.worker_status.oldest_queued_at IS 'When the oldest queued message was queued.';
COMMENT ON COLUMN crm.worker_status.sent_since_start IS 'Messages the running worker delivered.';
COMMENT ON COLUMN crm.worker_status.failed_since_start IS 'Messages the running worker marked failed.';
COMMENT ON COLUMN crm.worker_status.retried_since_start IS 'Deliveries of the running worker that failed temporarily and were re-queued.';
COMMENT ON COLUMN crm.worker_status.last_error IS 'The latest delivery problem: message id, transport and what the server or system said.';
COMMENT ON COLUMN crm.worker_status.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN crm.worker_status.last_activity IS 'When the worker last ran a transaction for one of its duties (mail: looked at the queue).';
COMMENT ON COLUMN crm.worker_status.hold_reason IS
    'Why delivery is held (a restore to a point in time: mail sent after the recovery point would go out twice), until an operator calls crm.resume_delivery(); NULL when mail flows.';
