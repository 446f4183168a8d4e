-- marketing_events: crm.event, crm.track and the events crm writes itself
-- (deal_stage, email_sent, email_bounced), every bad input, privileges,
-- restore mode.  In a database of its own, so ids are fixed.
\set test_db crm_regress_marketing_events
\i sql/marketing_setup.inc

-- the table: contact_id in the primary key, no foreign key points at it,
-- the two indexes for "kind K of person P since T" and "people with K since T"
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'crm.event'::regclass ORDER BY conname;
SELECT count(*) AS foreign_keys_to_event FROM pg_constraint WHERE confrelid = 'crm.event'::regclass;
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'crm.event'::regclass ORDER BY 1;
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'crm' AND c.relname LIKE 'event%' ORDER BY 1;

-- crm.track: an unknown address creates the contact, named after the address
SELECT crm.track('Wang.Fang@Zhixue.example.cn', 'course_view', '{"sku": "PY-101"}') AS e1;
SELECT id, name, email, owner = current_user AS owned_by_caller FROM crm.contact;
-- a known address in any case finds the same person; properties and time default
SELECT crm.track('wang.fang@zhixue.example.cn', 'trial_signup') AS e2;
SELECT crm.track('WANG.FANG@ZHIXUE.EXAMPLE.CN', 'course_view', NULL, '2024-03-01 09:30+08') AS e3;
SELECT id, contact_id, kind, properties, occurred_at = created_at AS now, occurred_at = '2024-03-01 01:30+00' AS given,
       source
  FROM crm.event ORDER BY id;
SELECT count(*) AS contacts FROM crm.contact;
-- apps may also INSERT
INSERT INTO crm.event (contact_id, kind, properties) VALUES (1, 'page_view', '{"path": "/courses"}');

-- bad input
SELECT * FROM pg_temp.try($$SELECT crm.track('wang.fang@@zhixue.example.cn', 'x')$$);
SELECT * FROM pg_temp.try($$SELECT crm.track('no-at-sign', 'x')$$);
SELECT * FROM pg_temp.try($$SELECT crm.track(NULL, 'x')$$);
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', '  ')$$);
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', E'view\ncourse')$$);
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', E'view\u0085course')$$);
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', repeat('k', 201))$$);
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', 'x', '[1, 2]')$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.event (contact_id, kind, properties) VALUES (1, 'x', '"s"')$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.event (contact_id, kind) VALUES (1, E'a\tb')$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.event (contact_id, kind) VALUES (999, 'x')$$);
SELECT count(*) AS contacts_after_errors FROM crm.contact;

-- deal_stage {deal_id, from, to}: every stage a deal with a contact enters
INSERT INTO crm.contact (name, email) VALUES ('李娜', 'li.na@example.com');
INSERT INTO crm.deal (name, amount, contact_id) VALUES ('Python 入门 团购', 300, 2), ('no contact', 10, NULL);
UPDATE crm.deal SET stage = 'qualified' WHERE id IN (1, 2);
UPDATE crm.deal SET stage = 'lost', lost_reason = 'budget' WHERE id = 1;
SELECT contact_id, kind, properties, source FROM crm.event WHERE kind = 'deal_stage' ORDER BY id;
-- bulk moves write one event per deal
INSERT INTO crm.deal (name, amount, contact_id) SELECT 'bulk ' || g, g, 2 FROM generate_series(1, 3) g;
UPDATE crm.deal SET stage = 'qualified' WHERE name LIKE 'bulk %';
SELECT properties->>'to' AS to_stage, count(*) FROM crm.event WHERE kind = 'deal_stage' AND contact_id = 2
 GROUP BY 1 ORDER BY 1;

-- email_sent {email_id, template_key} / email_bounced {email_id} when the
-- worker records the outcome of an email to a contact
SELECT crm.send_email('li.na@example.com', '课程开通', '你好') AS sent_id \gset
SELECT crm.send_email('LI.NA@example.com', '退信', '你好') AS bounced_id \gset
SELECT crm.send_email('stranger@example.com', 'no contact', 'x') AS stranger_id \gset
SELECT id, contact_id, category FROM crm.email_outbox ORDER BY id;
UPDATE crm.email_outbox SET status = 'sending' WHERE true;
SELECT count(*) AS events_while_sending FROM crm.event WHERE kind LIKE 'email_%';
UPDATE crm.email_outbox SET status = 'sent', sent_at = '2024-03-02 10:00+00' WHERE id IN (:sent_id, :stranger_id);
UPDATE crm.email_outbox SET status = 'failed', sent_at = '2024-03-02 10:05+00' WHERE id = :bounced_id;
UPDATE crm.email_outbox SET last_error = 'touched' WHERE true;
SELECT contact_id, kind, properties, occurred_at AT TIME ZONE 'UTC' AS occurred_utc, source
  FROM crm.event WHERE kind LIKE 'email_%' ORDER BY id;

-- restore mode: rows pass through, nothing is written twice
SELECT count(*) AS deal_stage_events_before FROM crm.event WHERE kind = 'deal_stage';
SET row_security = off;
INSERT INTO crm.deal (name, amount, contact_id, stage, stage_entered_at, pipeline_id)
VALUES ('restored', 5, 2, 'qualified', now(), 1);
UPDATE crm.email_outbox SET status = 'queued' WHERE id = :sent_id;
UPDATE crm.email_outbox SET status = 'sent' WHERE id = :sent_id;
RESET row_security;
SELECT count(*) AS deal_stage_events, (SELECT count(*) FROM crm.event WHERE kind = 'email_sent') AS sent_events
  FROM crm.event WHERE kind = 'deal_stage';

-- privileges: crm_user tracks and inserts, a reader reads, PUBLIC nothing
CREATE ROLE regress_mkt_rep LOGIN IN ROLE crm_user;
CREATE ROLE regress_mkt_bi LOGIN IN ROLE crm_reader;
CREATE ROLE regress_mkt_nobody LOGIN;
SET ROLE regress_mkt_rep;
SELECT crm.track('new.learner@example.com', 'course_view') > 0 AS tracked;
SELECT owner FROM crm.contact WHERE email = 'new.learner@example.com';
INSERT INTO crm.event (contact_id, kind) VALUES (1, 'rep_insert');
-- the pinned search_path ignores the caller's objects
CREATE TEMP TABLE contact (id bigint, email text);
SET search_path = pg_temp, crm, public;
SELECT crm.track('new.learner@example.com', 'course_view') > 0 AS tracked;
RESET search_path;
DROP TABLE pg_temp.contact;
SELECT * FROM pg_temp.try($$DELETE FROM crm.event$$);
RESET ROLE;
SET ROLE regress_mkt_bi;
SELECT count(*) > 0 AS reads_events FROM crm.event;
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', 'x')$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.event (contact_id, kind) VALUES (1, 'x')$$);
RESET ROLE;
SET ROLE regress_mkt_nobody;
SELECT * FROM pg_temp.try($$SELECT crm.track('a@example.com', 'x')$$);
RESET ROLE;
SELECT count(*) AS new_learner_events FROM crm.event e JOIN crm.contact c ON c.id = e.contact_id
 WHERE c.email = 'new.learner@example.com';
DROP ROLE regress_mkt_rep, regress_mkt_bi, regress_mkt_nobody;

\c :regress_db
DROP DATABASE :test_db;
