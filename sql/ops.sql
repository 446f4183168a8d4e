-- ops: the restore hold's decisions (crm._check_timeline on made-up
-- timelines and history files), crm.resume_delivery() and who may call it,
-- crm.health() and its thresholds, crm.metrics and crm.prometheus_metrics()
-- (no worker here: crm is not preloaded in this suite).
-- In a database of its own, so the measures do not depend on other suites.
\set regress_db :DBNAME
CREATE DATABASE crm_regress_ops TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_ops
CREATE EXTENSION crm;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- How a history file reads: parent timeline, switch point, reason.
SELECT * FROM crm._timeline_switches(E'1\t0/3000000\tno recovery target specified\n\n'
                                     || E'2\t0/5000000\tbefore 2026-05-01 10:00:00+00\n# comment\n');

-- A first look records the timeline and holds nothing, whatever the file says.
SELECT crm._check_timeline(42, 3, E'1\t0/3000000\tbefore 2026-01-01 00:00:00+00\n2\t0/5000000\tno recovery target specified\n');
SELECT system_identifier, timeline, began, held FROM crm.timeline_check ORDER BY id;
-- The same timeline again: nothing new.
SELECT crm._check_timeline(42, 3, NULL);
SELECT count(*) FROM crm.timeline_check;

-- A standby promoted, or archive recovery run to the end: no hold.
SELECT crm._check_timeline(42, 4, E'1\t0/3000000\tbefore 2026-01-01 00:00:00+00\n2\t0/5000000\tno recovery target specified\n'
                                  || E'3\t0/7000000\tno recovery target specified\n');
-- Archive recovery stopped at a target: held, whichever kind of target.
SELECT crm._check_timeline(42, 5, E'3\t0/7000000\tno recovery target specified\n4\t0/9000000\tbefore 2026-05-01 10:00:00+00\n');
SELECT timeline, began, held, hold_reason FROM crm.timeline_check ORDER BY id;
-- Later timelines keep the hold until it is resumed (a promotion after the restore).
SELECT crm._check_timeline(42, 6, E'4\t0/9000000\tbefore 2026-05-01 10:00:00+00\n5\t0/A000000\tno recovery target specified\n');

-- Who may resume: crm_admin, not crm_user.
CREATE ROLE ops_user LOGIN IN ROLE crm_user;
CREATE ROLE ops_admin LOGIN IN ROLE crm_admin;
SET ROLE ops_user;
SELECT crm.resume_delivery();
SELECT count(*) FROM crm.timeline_check;
RESET ROLE;
SET ROLE ops_admin;
SELECT crm.resume_delivery();
RESET ROLE;
SELECT timeline, held, resumed_by, resumed_at IS NOT NULL AS resumed FROM crm.timeline_check WHERE held;
SELECT crm.resume_delivery();
SELECT crm._check_timeline(42, 6, NULL) IS NULL AS released;

-- Each kind of target holds; a timeline without a history file holds too.
SELECT crm._check_timeline(42, 7, E'6\t0/B000000\tafter transaction 1234\n');
SELECT crm._check_timeline(42, 8, E'7\t0/C000000\tat restore point "before upgrade"\n');
SELECT crm._check_timeline(42, 9, E'8\t0/D000000\tbefore LSN 0/D000000\n');
SELECT crm._check_timeline(42, 10, E'9\t0/E000000\treached consistency\n');
SELECT crm._check_timeline(42, 11, NULL);
SELECT timeline, held, began FROM crm.timeline_check WHERE id > 6 ORDER BY id;
SELECT crm.resume_delivery();

-- Another cluster (a logical restore into a new server): a fresh start, no hold.
SELECT crm._check_timeline(7, 2, E'1\t0/3000000\tbefore 2026-01-01 00:00:00+00\n');
SELECT system_identifier, timeline, held FROM crm.timeline_check ORDER BY id DESC LIMIT 1;
SELECT crm._check_timeline(42, 0, NULL);
SET ROLE ops_admin;
SELECT crm._check_timeline(42, 12, NULL);
RESET ROLE;

-- crm.health() without a worker for this database (crm is not preloaded, or
-- t/001_preload.pl's worker serves database postgres): the worker check is
-- critical, the others measure.
SELECT check_name, status, detail FROM crm.health() WHERE check_name <> 'worker';
SELECT status, detail ~ '^(crm is not in shared_preload_libraries: no worker sends mail or runs the other duties|the crm worker serves database postgres \(crm.database\), not crm_regress_ops)$' AS says_why
  FROM crm.health() WHERE check_name = 'worker';

-- An open hold is critical.
SELECT crm._check_timeline(7, 3, E'2\t0/5000000\tafter 2026-06-01 08:00:00+00\n');
SELECT status, detail ~ '^delivery held since .*: restored to a point in time: archive recovery stopped after 2026-06-01 08:00:00\+00 and timeline 3 began; .*Check crm.email_outbox, then call crm.resume_delivery\(\)$' AS says_why
  FROM crm.health() WHERE check_name = 'restore_hold';
SELECT crm.resume_delivery();

-- A queued message due for a while: warning, then critical.
SELECT crm.send_email('wang.fang@example.com', '欢迎', '您好') AS late \gset
UPDATE crm.email_outbox SET next_attempt_at = now() - interval '10 minutes' WHERE id = :late;
SELECT status, detail ~ '^message \d+ has waited 00:10:0\d for delivery$' AS detail_ok FROM crm.health() WHERE check_name = 'mail_queue';
UPDATE crm.email_outbox SET next_attempt_at = now() - interval '2 hours' WHERE id = :late;
SELECT status FROM crm.health() WHERE check_name = 'mail_queue';
-- not yet due (a retry later): ok
UPDATE crm.email_outbox SET next_attempt_at = now() + interval '1 hour' WHERE id = :late;
SELECT status, detail FROM crm.health() WHERE check_name = 'mail_queue';

-- Failed delivery attempts: 1 in 4 is a warning at the default 0.1, 0.5.
INSERT INTO crm.email_delivery_log (outbox_id, attempt, started_at, outcome, transport)
SELECT :late, g, now(), CASE WHEN g = 1 THEN 'retry' ELSE 'sent' END, 'file' FROM generate_series(1, 4) g;
SELECT status, detail FROM crm.health() WHERE check_name = 'mail_failures';
-- attempts older than an hour do not count
UPDATE crm.email_delivery_log SET created_at = now() - interval '2 hours';
SELECT status, detail FROM crm.health() WHERE check_name = 'mail_failures';

-- Thresholds are settings, validated.
UPDATE crm.setting SET value = '1 minute,  2 minutes' WHERE key = 'health_mail_delay';
SELECT value FROM crm.setting WHERE key = 'health_mail_delay';
UPDATE crm.setting SET value = '10 minutes, 5 minutes' WHERE key = 'health_mail_delay';
UPDATE crm.setting SET value = 'soon, later' WHERE key = 'health_mail_delay';
UPDATE crm.setting SET value = '5 minutes' WHERE key = 'health_mail_delay';
UPDATE crm.setting SET value = '0.02, 0.2' WHERE key = 'health_mail_failure_rate';
UPDATE crm.setting SET value = '0.5, 0.2' WHERE key = 'health_mail_failure_rate';
UPDATE crm.setting SET value = '-1, 2' WHERE key = 'health_sla_breaches';

-- A ticket past its response target is an SLA breach.
INSERT INTO crm.account (name) VALUES ('云途物流');
INSERT INTO crm.ticket (subject, account_id, priority)
SELECT '无法登录', a.id, 'urgent' FROM crm.account a;
SELECT status, detail FROM crm.health() WHERE check_name = 'sla';
UPDATE crm.ticket SET response_due_at = now() - interval '1 minute';
SELECT status, detail FROM crm.health() WHERE check_name = 'sla';

-- crm.metrics: the measures and every check's status as numbers.
SELECT metric, labels, value, type FROM crm.metrics
 WHERE metric <> 'crm_table_rows_estimate' ORDER BY metric, labels::text;
ANALYZE crm.ticket;
SELECT metric, labels, value FROM crm.metrics WHERE metric = 'crm_table_rows_estimate' AND labels->>'table' = 'ticket';

-- crm.prometheus_metrics(): HELP and TYPE before each family's samples, one
-- family per name, every line of the text format's grammar.
SELECT line FROM regexp_split_to_table(crm.prometheus_metrics(), E'\n') AS line
 WHERE line LIKE '%crm_health_status%' OR line LIKE '%crm_sla_breached_tickets%';
SELECT count(*) AS bad_lines
  FROM regexp_split_to_table(rtrim(crm.prometheus_metrics(), E'\n'), E'\n') AS line
 WHERE line !~ '^# HELP crm_[a-z_]+ [^\n]+$'
   AND line !~ '^# TYPE crm_[a-z_]+ (gauge|counter)$'
   AND line !~ '^crm_[a-z_]+(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? -?[0-9.e+]+$';
SELECT right(crm.prometheus_metrics(), 1) = E'\n' AS ends_with_newline;

-- Monitoring roles: pg_monitor reads health and metrics, and nothing else of crm.
CREATE ROLE ops_monitor LOGIN IN ROLE pg_monitor;
SET ROLE ops_monitor;
SELECT count(*) > 0 AS sees_health FROM crm.health();
SELECT count(*) > 0 AS sees_metrics FROM crm.metrics;
SELECT length(crm.prometheus_metrics()) > 0 AS scrapes;
SELECT count(*) FROM crm.email_outbox;
RESET ROLE;

\c :regress_db
DROP DATABASE crm_regress_ops;
DROP ROLE ops_user, ops_admin, ops_monitor;
