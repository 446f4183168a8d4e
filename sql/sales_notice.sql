-- sales_notice: invoice and payment emails queued from editable templates.
-- in a database of its own, so ids in messages do not depend on other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_sales_notice TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_sales_notice
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
-- invoices are dated in the company's time zone: the time_zone setting, UTC by default
-- the outbox with the year of invoice numbers and dates masked
CREATE VIEW pg_temp.mail AS
SELECT o.id, o.to_address, o.template_key, o.status,
       regexp_replace(regexp_replace(o.subject, 'INV-\d{4}-', 'INV-YYYY-', 'g'), '\d{4}-\d\d-\d\d', '<date>', 'g') AS subject,
       regexp_replace(regexp_replace(o.body_text, 'INV-\d{4}-', 'INV-YYYY-', 'g'), '\d{4}-\d\d-\d\d( \d\d:\d\d)?', '<date>', 'g')
           AS body_text
  FROM crm.email_outbox o;

SELECT key, subject FROM crm.email_template WHERE key IN ('invoice_issued', 'payment_received') ORDER BY key;

INSERT INTO crm.account (name) VALUES ('星辰科技有限公司'), ('蓝海数据服务公司');
INSERT INTO crm.contact (account_id, name, email) VALUES
    (1, '陈静', 'chen.jing@xingchen.example.cn'), (2, '刘洋', NULL), (2, '孙磊', 'sun.lei@lanhai.example.cn');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门课', 1999, 'CNY'),
    ('BOOK', '教材', 49.90, 'CNY');
SET crm.default_tax_rate = 0.06;
CREATE FUNCTION pg_temp.sell(account bigint, contact bigint, sku text, qty numeric) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE d bigint; q bigint;
BEGIN
    INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES (sku, account, contact, 'CNY') RETURNING id INTO d;
    INSERT INTO crm.deal_item (deal_id, product_id, quantity) SELECT d, p.id, qty FROM crm.product p WHERE p.sku = sell.sku;
    q := crm.create_quote(d);
    PERFORM crm.send_quote(q);
    RETURN crm.accept_quote(q);
END $$;
SELECT pg_temp.sell(1, 1, 'PY-101', 40) AS o1, pg_temp.sell(2, 2, 'BOOK', 3) AS o2, pg_temp.sell(2, NULL, 'BOOK', 1) AS o3,
       pg_temp.sell(2, 3, 'BOOK', 2) AS o4, pg_temp.sell(1, 1, 'BOOK', 5) AS o5, pg_temp.sell(1, 1, 'BOOK', 6) AS o6;

-- issuing queues invoice_issued to the deal's contact; a payment queues payment_received
SELECT crm.issue_invoice(1) AS inv1 \gset
SELECT id, to_address, template_key, status, subject FROM pg_temp.mail;
SELECT body_text FROM pg_temp.mail WHERE template_key = 'invoice_issued';
SELECT crm.record_payment(:inv1, 30000, method => '银行转账') > 0 AS paid;
SELECT crm.record_payment(:inv1, (SELECT gross_total - amount_paid FROM crm.invoice WHERE id = :inv1)) > 0 AS paid;
SELECT to_address, template_key, subject FROM pg_temp.mail ORDER BY id;
SELECT body_text FROM pg_temp.mail WHERE template_key = 'payment_received' ORDER BY id;

-- a rollback queues nothing
BEGIN;
SELECT crm.issue_invoice(5) IS NOT NULL AS issued;
SELECT count(*) AS queued_inside FROM crm.email_outbox;
ROLLBACK;
SELECT count(*) AS queued_after_rollback FROM crm.email_outbox;

-- no email address, no contact: the invoice and the payment go through, with a NOTICE
SET client_min_messages = notice;
SELECT crm.issue_invoice(2) AS inv2 \gset
SELECT crm.issue_invoice(3) AS inv3 \gset
SELECT crm.record_payment(:inv3, 10) > 0 AS paid;
SET client_min_messages = warning;
SELECT status FROM crm.invoice WHERE id IN (:inv2, :inv3) ORDER BY id;
SELECT count(*) AS emails FROM crm.email_outbox;

-- a blocked address gets nothing, silently (an unsubscription stops marketing
-- email only: invoices and payment notices are transactional)
INSERT INTO crm.email_suppression (address, reason) VALUES ('sun.lei@lanhai.example.cn', 'blocked');
SELECT crm.issue_invoice(4) IS NOT NULL AS issued;
SELECT count(*) AS emails FROM crm.email_outbox;

-- templates are editable (here: in Chinese); every invoice variable is available
UPDATE crm.email_template
   SET subject = '发票 {{number}}：应付 {{gross_total}} {{currency}}',
       body_text = E'{{contact}} 您好：\n{{customer}} 的发票 {{number}}（{{status}}）已开具，'
                   || E'净额 {{net_total}}，税额 {{tax_total}}，合计 {{gross_total}}，已付 {{amount_paid}}，'
                   || E'待付 {{balance}}，开票日 {{issue_date}}，到期日 {{due_date}}。\n{{lines}}',
       body_html = NULL
 WHERE key = 'invoice_issued';
SELECT crm.issue_invoice(5) IS NOT NULL AS issued;
SELECT to_address, subject, body_text FROM pg_temp.mail WHERE id = (SELECT max(id) FROM crm.email_outbox);
SELECT body_html IS NULL AS text_only FROM crm.email_outbox WHERE id = (SELECT max(id) FROM crm.email_outbox);
-- the message the worker will send: to the contact, the UTF-8 subject as an encoded word
SELECT m ~ 'Subject: =\?UTF-8\?' AS encoded_subject, m ~ 'To: [^\n]*chen.jing@xingchen.example.cn' AS to_contact
  FROM crm.render_message((SELECT max(id) FROM crm.email_outbox)) m;

-- a template naming an unknown variable stops the issue: nothing billed, no number used
UPDATE crm.email_template SET subject = 'Invoice {{number}} for order {{order_ref}}' WHERE key = 'invoice_issued';
SELECT last_number AS before FROM crm.invoice_number_counter \gset
\set VERBOSITY terse
SELECT crm.issue_invoice(6);
\set VERBOSITY default
SELECT count(*) AS invoices_of_order_6, (SELECT last_number FROM crm.invoice_number_counter) = :before AS counter_unchanged
  FROM crm.invoice WHERE sales_order_id = 6;

-- a deleted template means no more such notices
DELETE FROM crm.email_template WHERE key = 'invoice_issued';
SET client_min_messages = notice;
SELECT crm.issue_invoice(6) IS NOT NULL AS issued;
SET client_min_messages = warning;
SELECT template_key, count(*) FROM crm.email_outbox GROUP BY 1 ORDER BY 1;

\c :regress_db
DROP DATABASE crm_regress_sales_notice;
