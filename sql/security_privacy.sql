-- security_privacy: crm.export_person and crm.erase_person over the tables
-- crm.personal_data lists; what each erasure does; refusals; the audit log.
\set regress_db :DBNAME
CREATE DATABASE crm_regress_privacy TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_privacy
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE ROLE regress_priv_user IN ROLE crm_user;
CREATE ROLE regress_priv_admin IN ROLE crm_admin;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ': ' || msg;
END $$;

-- how rows about a person are found, per listed table
SELECT p.table_name, crm.person_rows(p.table_name, 7, 'A@B.example') AS rows_about_contact_7
  FROM crm.personal_data p ORDER BY p.table_name::text;
SELECT crm.address_hash(' Chen.Jing@Example.cn ') = 'sha256:' || encode(sha256('chen.jing@example.cn'), 'hex') AS address_hash;

-- a person with something in every kind of table, and someone else
INSERT INTO crm.account (name) VALUES ('星辰科技');
INSERT INTO crm.contact (account_id, name, email, phone, title, attributes) VALUES
    (1, '陈静', 'Chen.Jing@example.cn', '+86 138 0000 0001', 'CTO', '{"wechat": "chenjing88"}'),
    (1, '李雷', 'li.lei@example.cn', NULL, NULL, '{}');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1000, 'CNY');
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('团购', 1, 1, 'CNY');
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (1, 1, 2);
SELECT crm.create_quote(1) AS q \gset
SELECT crm.send_quote(:q);
SELECT crm.accept_quote(:q) AS o \gset
SELECT crm.issue_invoice(:o) AS i \gset
SELECT crm.record_payment(:i, 500) > 0 AS paid;
INSERT INTO crm.activity (kind, subject, body, contact_id) VALUES ('call', '回访陈静', '她住在上海', 1), ('call', '回访李雷', NULL, 2);
INSERT INTO crm.ticket (subject, description, contact_id, account_id) VALUES ('陈静无法登录', 'user chen.jing', 1, 1);
SELECT crm.track('chen.jing@example.cn', 'page_view', '{"url": "/pricing"}') > 0 AS tracked;
SELECT crm.grant_consent(1, 'marketing', 'web form', '{"ip": "203.0.113.7"}') > 0 AS consented;
SELECT crm.send_email('chen.jing@example.cn', '你好', '课程提醒') > 0 AS queued;
SELECT crm.send_email('li.lei@example.cn', '你好', '课程提醒') > 0 AS queued_other;
SELECT crm.unsubscribe('chen.jing@example.cn');
SELECT crm.seal_audit() > 0 AS sealed;
SELECT crm.audit_anchor() AS anchor \gset

-- the export: every listed table with rows about her, and the audit rows about her
SELECT t.key AS table_name, jsonb_array_length(t.value) AS rows
  FROM jsonb_each(crm.export_person(1) -> 'data') t ORDER BY 1;
SELECT count(*) > 0 AS audit_rows, bool_and(a -> 'changed' IS NOT NULL) AS with_values,
       bool_and(NOT a ? 'hash') AS without_hashes
  FROM jsonb_array_elements(crm.export_person(1) -> 'audit_log') a;
SELECT crm.export_person(2) -> 'data' ? 'crm.ticket' AS li_lei_has_tickets;

-- who may: crm_admin; arguments
SET ROLE regress_priv_user;
SELECT pg_temp.try('SELECT crm.export_person(1)');
SELECT pg_temp.try($$SELECT crm.erase_person(1, 'request 1')$$);
SET ROLE regress_priv_admin;
SELECT pg_temp.try($$SELECT crm.erase_person(99, 'request 1')$$);
SELECT pg_temp.try($$SELECT crm.erase_person(1, ' ')$$);
SELECT pg_temp.try('SELECT crm.export_person(99)');

-- the erasure
SELECT jsonb_pretty(crm.erase_person(1, 'request 2026-001') - 'erased_at');
RESET ROLE;
SELECT id, name, email, phone, title, attributes FROM crm.contact ORDER BY id;
SELECT subject, body FROM crm.activity ORDER BY id;
SELECT subject, description FROM crm.ticket;
SELECT count(*) AS events FROM crm.event WHERE contact_id = 1;
SELECT status, source, proof FROM crm.consent;
SELECT to_address, subject, body_text, status, last_error FROM crm.email_outbox ORDER BY id;
SELECT address = crm.address_hash('chen.jing@example.cn') AS hashed, reason FROM crm.email_suppression;
SELECT number IS NOT NULL AS numbered, gross_total, amount_paid, contact_id FROM crm.invoice;
SELECT amount FROM crm.payment;
SELECT name, contact_id FROM crm.deal;

-- the log: no trace of her left, the chain intact, the erasure recorded without her data
SELECT count(*) AS log_rows_mentioning_her FROM crm.audit_log WHERE changed::text ~* 'chen|陈静|138 0000|上海|chenjing|203\.0\.113';
SELECT count(*) > 0 AS erased_values FROM crm.audit_log WHERE changed::text LIKE '%crm_erased_sha256%';
SELECT * FROM crm.verify_audit(:'anchor');
SELECT crm.seal_audit() > 0 AS sealed_again;
SELECT * FROM crm.verify_audit(:'anchor');
SELECT actor AS erased_by, table_name, row_id, changed ->> 'reason' AS reason,
       changed::text !~* 'chen|陈静' AS no_personal_data
  FROM crm.audit_log WHERE action = 'erase';

-- afterwards: no mail to the address, a new contact for it, no second erasure
SELECT crm.send_email('Chen.Jing@example.cn', 'again', 'x') AS queued_to_erased_address;
SELECT crm.send_email('li.lei@example.cn', 'again', 'x') > 0 AS queued_to_someone_else;
SELECT crm.track('chen.jing@example.cn', 'signup') AS signup \gset
SELECT c.id <> 1 AS new_contact, c.name FROM crm.event e JOIN crm.contact c ON c.id = e.contact_id WHERE e.id = :signup;
SELECT pg_temp.try($$SELECT crm.erase_person(1, 'again')$$);

\c :regress_db
DROP DATABASE crm_regress_privacy;
DROP ROLE regress_priv_user, regress_priv_admin;
