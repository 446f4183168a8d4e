-- backup: what makes pg_dump keep every crm row and a restore give back
-- exactly the saved rows: config-dump registrations, seeded rows replaced by
-- their saved copies, deleted seeds kept deleted, restore mode only for
-- superusers and the extension's owner, and the DROP EXTENSION guard.  The
-- real pg_dump/pg_restore and pg_dumpall/psql round trips are in
-- test/t/020_backup_restore.pl.

-- every table and sequence of the extension is registered with
-- pg_extension_config_dump (pg_dump skips the rows of the others), with no
-- filter: a table added without its registration is listed here
SELECT c.oid::regclass AS not_dumped, c.relkind
  FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid
  JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND e.extname = 'crm' AND c.relkind IN ('r', 'p', 'S') AND c.oid <> ALL (e.extconfig)
 ORDER BY 1;
SELECT t.config::regclass AS filtered, t.condition
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS t(config, condition)
 WHERE e.extname = 'crm' AND t.condition <> '';
-- (and the check is not vacuous: tables and identity sequences are there)
SELECT count(*) FILTER (WHERE c.relkind = 'r') > 25 AS tables, count(*) FILTER (WHERE c.relkind = 'S') > 25 AS sequences
  FROM pg_extension e, unnest(e.extconfig) AS t(config) JOIN pg_class c ON c.oid = t.config
 WHERE e.extname = 'crm';

-- the rest in a database of its own: it edits seeded rows and drops crm
\set regress_db :DBNAME
CREATE DATABASE crm_regress_backup TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_backup
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';

-- seeded tables remember the natural keys deleted from them, and forget a
-- key created again
DELETE FROM crm.email_template WHERE key = 'payment_received';
DELETE FROM crm.stage_transition WHERE pipeline_id = 1 AND from_stage = 'lead' AND to_stage = 'lost';
UPDATE crm.ticket_sla_policy SET priority = 'p4' WHERE priority = 'low';
SELECT table_name, key FROM crm.deleted_key ORDER BY id;
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage) VALUES (1, 'lead', 'lost');
UPDATE crm.ticket_sla_policy SET priority = 'low' WHERE priority = 'p4';
SELECT table_name, key FROM crm.deleted_key ORDER BY id;
-- admins cannot write that record directly
CREATE ROLE crm_regress_backup_admin IN ROLE crm_admin;
SET ROLE crm_regress_backup_admin;
DELETE FROM crm.deleted_key;
UPDATE crm.pipeline SET name = 'sales' WHERE name = 'default';
RESET ROLE;
SELECT table_name, key FROM crm.deleted_key ORDER BY id;
UPDATE crm.pipeline SET name = 'default' WHERE id = 1;

-- restore mode: pg_dump's "SET row_security = off", by a superuser
SELECT crm.restoring() AS restoring;
SET row_security = off;
SELECT crm.restoring() AS restoring;
-- a saved row replaces the seed it collides with, on any unique index: the
-- id (a renamed seed), the name, or the partial index of the one default
-- pipeline (a user's pipeline made the default arrives first)
COPY crm.pipeline (id, name, object_type, is_default, created_at, updated_at) FROM stdin;
7	销售	deal	t	2025-01-02 03:04:05+00	2025-01-02 03:04:05+00
1	默认	deal	f	2024-06-01 00:00:00+00	2025-01-02 03:04:05+00
\.
SELECT id, name, object_type, is_default, created_at < '2025-02-01' AS saved_created_at,
       CASE WHEN created_at < '2025-02-01' THEN updated_at END AS saved_updated_at
  FROM crm.pipeline ORDER BY id;
-- the replaced seed took its stages and moves along (the dump holds the saved ones)
SELECT count(*) AS default_stages FROM crm.stage WHERE pipeline_id = 1;
-- a setting, and an edited template, by key
INSERT INTO crm.setting (key, value, description, validator, updated_at, updated_by)
VALUES ('time_zone', 'Asia/Shanghai', 'saved description', 'crm.valid_time_zone', '2025-01-02 03:04:05+00', 'alice');
SELECT key, value, description, updated_at, updated_by FROM crm.setting WHERE key = 'time_zone';
INSERT INTO crm.email_template (id, key, subject, body_text, created_at, updated_at) OVERRIDING SYSTEM VALUE
VALUES (9, 'invoice_issued', '发票 {{number}}', '正文', '2025-01-02 03:04:05+00', '2025-01-02 03:04:05+00');
SELECT id, key, subject, body_text, body_html, updated_at FROM crm.email_template WHERE key = 'invoice_issued';
-- a remembered deleted key deletes the seed again; nothing is remembered meanwhile
INSERT INTO crm.deleted_key (id, table_name, key, deleted_at) OVERRIDING SYSTEM VALUE
VALUES (5, 'crm.ticket_sla_policy', '{"priority": "urgent"}', '2025-01-02 03:04:05+00');
SELECT priority, rank FROM crm.ticket_sla_policy ORDER BY rank;
SELECT id, table_name, key FROM crm.deleted_key ORDER BY id;
-- rows keep the updated_at they were saved with
UPDATE crm.ticket_sla_policy SET updated_at = '2025-01-02 03:04:05+00' WHERE priority = 'low';
SELECT priority, updated_at FROM crm.ticket_sla_policy WHERE priority = 'low';
RESET row_security;

-- outside restore mode the same row is refused, and row_security = off
-- alone does not make a restore: the role must be a superuser or own crm,
-- also inside a SECURITY DEFINER function owned by a superuser
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('invoice_issued', 'x', 'y');
CREATE FUNCTION public.restoring_as_definer() RETURNS boolean LANGUAGE sql SECURITY DEFINER
    AS 'SELECT crm.restoring()';
SET ROLE crm_regress_backup_admin;
SET row_security = off;
SELECT crm.restoring() AS restoring, public.restoring_as_definer() AS restoring_as_definer;
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('invoice_issued', 'x', 'y');
RESET row_security;
RESET ROLE;

-- DROP EXTENSION: allowed while the books are empty
\set VERBOSITY default
DROP EXTENSION crm;
CREATE EXTENSION crm;
-- refused once an invoice is issued or a payment recorded (the guard is
-- switched off to write them directly)
INSERT INTO crm.account (name) VALUES ('星辰科技有限公司');
ALTER TABLE crm.invoice DISABLE TRIGGER USER;
ALTER TABLE crm.payment DISABLE TRIGGER USER;
INSERT INTO crm.invoice (number, account_id, status, status_entered_at, currency, issue_date, due_date, gross_total)
VALUES ('INV-2025-000001', 1, 'issued', now(), 'CNY', '2025-03-01', '2025-03-31', 100),
       ('INV-2025-000002', 1, 'void', now(), 'CNY', '2025-03-01', '2025-03-31', 100);
INSERT INTO crm.invoice (account_id, status, status_entered_at, currency) VALUES (1, 'draft', now(), 'CNY');
INSERT INTO crm.payment (invoice_id, amount, currency) VALUES (1, 40, 'CNY');
ALTER TABLE crm.invoice ENABLE TRIGGER USER;
ALTER TABLE crm.payment ENABLE TRIGGER USER;
DROP EXTENSION crm;
DROP EXTENSION IF EXISTS crm_not_installed, crm CASCADE;
-- a role that does not own crm gets DROP's own refusal
SET ROLE crm_regress_backup_admin;
DROP EXTENSION crm;
SET crm.allow_drop = on;
RESET ROLE;
SELECT count(*) AS invoices FROM crm.invoice;
-- a superuser, having taken a backup, allows it
SET crm.allow_drop = on;
DROP EXTENSION crm;
RESET crm.allow_drop;
SELECT count(*) AS crm_extensions FROM pg_extension WHERE extname = 'crm';

\c :regress_db
DROP DATABASE crm_regress_backup;
DROP ROLE crm_regress_backup_admin;
