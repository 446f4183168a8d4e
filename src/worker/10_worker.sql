-- src/worker/10_worker.sql: what SQL sees of the crm worker's duties
-- (src/worker/duty.h): one row per duty of the table of duties, from
-- shared memory.  crm.worker_status (src/mail/20_worker.sql) keeps the mail
-- duty's view of the same worker.

CREATE FUNCTION crm._worker_duties(
        OUT duty text, OUT sql_function text, OUT state text,
        OUT last_run_at timestamptz, OUT next_run_at timestamptz,
        OUT backlog bigint, OUT in_progress integer,
        OUT done bigint, OUT failed bigint, OUT retried bigint, OUT errors bigint,
        OUT last_error text, OUT last_error_at timestamptz, OUT worker_pid integer)
    RETURNS SETOF record
    LANGUAGE c VOLATILE PARALLEL RESTRICTED ROWS 8
    AS 'MODULE_PATHNAME', 'crm_worker_duties';
REVOKE EXECUTE ON FUNCTION crm._worker_duties() FROM PUBLIC;
-- Functions in a view run with the reader's privileges.
GRANT EXECUTE ON FUNCTION crm._worker_duties() TO crm_reader;
COMMENT ON FUNCTION crm._worker_duties() IS
    'What the crm worker reports for each of its duties in shared memory; read it through crm.worker_duties.';

CREATE FUNCTION crm._worker_hold_reason() RETURNS text
    LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'crm_worker_hold_reason';
REVOKE EXECUTE ON FUNCTION crm._worker_hold_reason() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm._worker_hold_reason() TO crm_reader;
COMMENT ON FUNCTION crm._worker_hold_reason() IS
    'Why the running crm worker holds delivery (after a restore to a point in time, until crm.resume_delivery()); NULL when it does not. Read it through crm.worker_status.';

CREATE VIEW crm.worker_duties AS
SELECT d.duty, d.sql_function, d.state, d.last_run_at, d.next_run_at, d.backlog, d.in_progress,
       d.done, d.failed, d.retried, d.errors, d.last_error, d.last_error_at, d.worker_pid
  FROM crm._worker_duties() AS d;
GRANT SELECT ON crm.worker_duties TO crm_reader;
COMMENT ON VIEW crm.worker_duties IS
    'The crm worker''s duties (mail delivery, segment refresh, audit sealing, ...): one row each, in the order the worker runs them. Times and counters are since the worker started.';
COMMENT ON COLUMN crm.worker_duties.duty IS 'Name of the duty.';
COMMENT ON COLUMN crm.worker_duties.sql_function IS
    'For a duty that is a SQL function: the function the worker calls with its batch size; NULL for a duty written in C.';
COMMENT ON COLUMN crm.worker_duties.state IS
    'What the duty is doing: idle, more pending, sending, held (it delivers mail, and delivery is held: crm.worker_status.hold_reason), absent (its function or crm is not installed), waiting for extension, waiting for a lock, error (see last_error), starting; while the worker is not running: not started, stopped, or not loaded (crm is not in shared_preload_libraries).';
COMMENT ON COLUMN crm.worker_duties.last_run_at IS 'When the duty''s latest transaction began.';
COMMENT ON COLUMN crm.worker_duties.next_run_at IS 'When the worker runs the duty next, unless a commit wakes it sooner.';
COMMENT ON COLUMN crm.worker_duties.backlog IS
    'Work waiting for the duty, as of its latest count (mail: queued messages that are due); NULL when the duty does not know.';
COMMENT ON COLUMN crm.worker_duties.in_progress IS 'Items started and not finished (mail: messages in flight).';
COMMENT ON COLUMN crm.worker_duties.done IS 'Items done since the worker started (mail: messages sent).';
COMMENT ON COLUMN crm.worker_duties.failed IS 'Items that failed for good since the worker started (mail: messages failed).';
COMMENT ON COLUMN crm.worker_duties.retried IS 'Items that failed for now and will be retried (mail: deliveries re-queued).';
COMMENT ON COLUMN crm.worker_duties.errors IS
    'Runs of the duty that ended in an error (rolled back, retried after a backoff) since the worker started.';
COMMENT ON COLUMN crm.worker_duties.last_error IS 'The duty''s latest problem (mail: message id, transport and what the server said).';
COMMENT ON COLUMN crm.worker_duties.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN crm.worker_duties.worker_pid IS 'Process id of the crm worker, NULL when it is not running.';
