-- sales_ticket: after-sales tickets, their workflow and SLA views.
-- in a database of its own, so ids in messages do not depend on other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_sales_ticket TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_sales_ticket
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

SELECT priority, rank, response_within, resolve_within, at_risk_share FROM crm.ticket_sla_policy ORDER BY rank;
INSERT INTO crm.account (name) VALUES ('星辰科技有限公司');

-- due times come from the priority, counted from created_at
INSERT INTO crm.ticket (subject, account_id, priority) VALUES ('无法登录课程平台', 1, 'urgent'), ('发票抬头', 1, DEFAULT);
SELECT id, subject, priority, status, response_due_at - created_at AS respond_within,
       resolve_due_at - created_at AS resolve_within, responded_at, resolved_at, closed_at
  FROM crm.ticket ORDER BY id;
SELECT ticket_id, from_stage, to_stage FROM crm.ticket_status_history ORDER BY id;
-- a change of priority moves the due times
UPDATE crm.ticket SET priority = 'low' WHERE id = 2;
SELECT priority, response_due_at - created_at AS respond_within, resolve_due_at - created_at AS resolve_within
  FROM crm.ticket WHERE id = 2;
INSERT INTO crm.ticket (subject, priority) VALUES ('x', 'whenever');
UPDATE crm.ticket SET priority = 'critical' WHERE id = 2;
\set VERBOSITY terse
INSERT INTO crm.ticket (subject) VALUES (' ');
\set VERBOSITY default

-- the workflow: respond, wait for the customer, resolve, reopen, close
SELECT crm.move_ticket(1, 'in_progress');
SELECT status, responded_at = status_entered_at AS responded_now, resolved_at FROM crm.ticket WHERE id = 1;
SELECT crm.move_ticket(1, 'waiting');
SELECT crm.move_ticket(1, 'in_progress');
SELECT crm.move_ticket(1, 'resolved');
SELECT status, resolved_at IS NOT NULL AS resolved, closed_at FROM crm.ticket WHERE id = 1;
SELECT crm.move_ticket(1, 'in_progress');
SELECT status, resolved_at, closed_at FROM crm.ticket WHERE id = 1;
SELECT crm.move_ticket(1, 'resolved');
SELECT crm.move_ticket(1, 'closed');
SELECT status, resolved_at IS NOT NULL AS resolved, closed_at IS NOT NULL AS closed FROM crm.ticket WHERE id = 1;
SELECT from_stage, to_stage FROM crm.ticket_status_history WHERE ticket_id = 1 ORDER BY id;
-- forbidden moves name the allowed ones; a closed ticket stays closed
SELECT crm.move_ticket(2, 'resolved');
SELECT crm.move_ticket(1, 'open');
SELECT crm.move_ticket(2, 'finished');
SELECT crm.move_ticket(99, 'closed');
INSERT INTO crm.ticket (subject, status) VALUES ('imported', 'closed');

-- SLA status: tickets opened earlier, as if imported with their creation time
INSERT INTO crm.ticket (subject, priority, created_at) VALUES
    ('urgent, no answer for 2 hours', 'urgent', now() - interval '2 hours'),
    ('urgent, 50 minutes old', 'urgent', now() - interval '50 minutes'),
    ('normal, 20 hours old', 'normal', now() - interval '20 hours'),
    ('normal, answered, 4.5 days old', 'normal', now() - interval '4 days 12 hours'),
    ('high, answered late', 'high', now() - interval '6 hours'),
    ('high, 3 days old', 'high', now() - interval '3 days'),
    ('low, new', 'low', now());
UPDATE crm.ticket SET status = 'in_progress' WHERE subject = 'high, 3 days old';
UPDATE crm.ticket SET status = 'in_progress', responded_at = now() - interval '4 days' WHERE subject = 'normal, answered, 4.5 days old';
UPDATE crm.ticket SET status = 'in_progress', responded_at = now() - interval '1 hour' WHERE subject = 'high, answered late';
UPDATE crm.ticket SET status = 'waiting' WHERE subject = 'high, 3 days old';
SELECT subject, priority, status, next_target, response_breached, resolution_breached, sla_state,
       time_left < interval '0' AS overdue
  FROM crm.ticket_sla_status ORDER BY priority_rank, ticket_id;
SELECT subject, sla_state, next_target FROM crm.ticket_sla_alerts ORDER BY ticket_id;
-- resolved and closed tickets leave the view
SELECT count(*) FILTER (WHERE ticket_id = 1) AS closed_listed, count(*) AS listed FROM crm.ticket_sla_status;

-- the policy is a table: edits apply to tickets created afterwards
UPDATE crm.ticket_sla_policy SET response_within = '30 minutes', resolve_within = '4 hours' WHERE priority = 'urgent';
INSERT INTO crm.ticket (subject, priority) VALUES ('after the edit', 'urgent');
SELECT subject, response_due_at - created_at AS respond_within FROM crm.ticket WHERE priority = 'urgent' ORDER BY id;
\set VERBOSITY terse
UPDATE crm.ticket_sla_policy SET resolve_within = '10 minutes' WHERE priority = 'urgent';
UPDATE crm.ticket_sla_policy SET at_risk_share = 1 WHERE priority = 'urgent';
INSERT INTO crm.ticket_sla_policy (priority, rank, response_within, resolve_within) VALUES ('VIP', 0, '5 minutes', '1 hour');
INSERT INTO crm.ticket_sla_policy (priority, rank, response_within, resolve_within) VALUES ('vip', 0, '5 minutes', '1 hour');
UPDATE crm.ticket_sla_policy SET priority = 'p1' WHERE priority = 'urgent';
SELECT DISTINCT priority FROM crm.ticket WHERE priority IN ('urgent', 'p1');
DELETE FROM crm.ticket_sla_policy WHERE priority = 'p1';
\set VERBOSITY default

\c :regress_db
DROP DATABASE crm_regress_sales_ticket;
