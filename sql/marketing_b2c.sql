-- marketing_b2c: a customer is an account or a person.  A learner with no
-- account goes from deal to paid invoice (quote, order, invoice, payment,
-- with the invoice and payment notices), and the sales facts become events
-- of that person (deal_stage, order_confirmed, invoice_paid, ticket_opened);
-- a document with neither an account nor a contact is refused.
\set test_db crm_regress_marketing_b2c
\i sql/marketing_setup.inc
SET TimeZone = 'UTC';

INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门', 1999, 'CNY'),
    ('DA-201', '数据分析实战', 2999, 'CNY');
INSERT INTO crm.contact (name, email) VALUES ('吴昊', 'wu.hao@mail.example.cn');
SELECT crm.grant_consent(1, source => 'signup') > 0 AS granted;
-- the learner's deal: no account, two courses
INSERT INTO crm.deal (name, contact_id, currency) VALUES ('吴昊 · Python 与数据分析', 1, 'CNY');
INSERT INTO crm.deal_item (deal_id, product_id, quantity) SELECT 1, id, 1 FROM crm.product ORDER BY id;
SELECT crm.create_quote(1) AS quote \gset
SELECT account_id, contact_id, currency, gross_total FROM crm.quote WHERE id = :quote;
SELECT crm.send_quote(:quote) IS NOT NULL AS sent;
SELECT crm.accept_quote(:quote) AS sales_order \gset
SELECT d.stage, o.account_id, o.contact_id, o.status, o.gross_total FROM crm.sales_order o JOIN crm.deal d ON d.id = o.deal_id
 WHERE o.id = :sales_order;
SELECT crm.issue_invoice(:sales_order) AS invoice \gset
SELECT account_id, contact_id, status, gross_total, number ~ '^INV-\d{4}-\d{6}$' AS numbered FROM crm.invoice WHERE id = :invoice;
-- the invoice notice goes to the learner, addressed by name
SELECT to_address, template_key, category, contact_id, subject ~ '^Invoice INV-' AS invoice_subject,
       body_text LIKE '%for 吴昊,%' AS customer_is_the_person
  FROM crm.email_outbox ORDER BY id;
SELECT crm.record_payment(:invoice, 1000) > 0 AS part_paid;
-- receivables name the person while the invoice is open
SELECT account_id, account, contact_id, balance FROM crm.receivables;
SELECT account_id, account, contact_id, total_due FROM crm.receivables_ageing;
SELECT crm.record_payment(:invoice, gross_total - 1000) > 0 AS paid FROM crm.invoice WHERE id = :invoice;
SELECT status, amount_paid = gross_total AS settled FROM crm.invoice WHERE id = :invoice;
SELECT template_key, category, count(*) FROM crm.email_outbox GROUP BY 1, 2 ORDER BY 1;
SELECT crm.deliver_order(:sales_order) AS order_status;
-- BI counts the person as a customer
SELECT customers FROM crm.monthly_sales;
-- after-sales
INSERT INTO crm.ticket (subject, contact_id, sales_order_id, priority) VALUES ('无法观看视频', 1, :sales_order, 'high');

-- the facts as events of the person, in order; email_sent follows when the worker delivers
SELECT kind, properties - 'deal_id' - 'order_id' - 'invoice_id' - 'ticket_id' AS properties, source
  FROM crm.event WHERE contact_id = 1 ORDER BY id;
SELECT (SELECT properties->>'order_id' FROM crm.event WHERE kind = 'order_confirmed')::bigint = :sales_order AS order_ok,
       (SELECT properties->>'invoice_id' FROM crm.event WHERE kind = 'invoice_paid')::bigint = :invoice AS invoice_ok;
-- purchase history and RFM see the learner
SELECT contact_id, orders, revenue, rfm_segment FROM crm.customer_value;
SELECT skus_bought, orders FROM crm.contact_profile WHERE id = 1;

-- order_confirmed waits for the order's commit, so it carries the lines
BEGIN;
INSERT INTO crm.sales_order (contact_id, currency) VALUES (1, 'CNY') RETURNING id AS second_order \gset
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (:second_order, 1, 2);
SELECT count(*) AS events_before_commit FROM crm.event WHERE kind = 'order_confirmed';
COMMIT;
SELECT properties->'skus' AS skus, properties->>'gross_total' AS gross_total FROM crm.event
 WHERE kind = 'order_confirmed' ORDER BY id DESC LIMIT 1;
-- a rolled-back order writes nothing
BEGIN;
INSERT INTO crm.sales_order (contact_id, currency) VALUES (1, 'CNY');
ROLLBACK;
SELECT count(*) AS order_events FROM crm.event WHERE kind = 'order_confirmed';
-- an order of an account without a contact is no one's event
INSERT INTO crm.account (name) VALUES ('星辰科技有限公司');
INSERT INTO crm.sales_order (account_id, currency) VALUES (1, 'CNY');
SELECT count(*) AS order_events FROM crm.event WHERE kind = 'order_confirmed';

-- neither an account nor a person: refused
INSERT INTO crm.deal (name, currency) VALUES ('nobody', 'CNY');
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (2, 1, 1);
SELECT * FROM pg_temp.try($$SELECT crm.create_quote(2)$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.sales_order (currency) VALUES ('CNY')$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.invoice (currency) VALUES ('CNY')$$);
SELECT * FROM pg_temp.try(format($$UPDATE crm.sales_order SET contact_id = NULL WHERE id = %s$$, :second_order));
SELECT conrelid::regclass, conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conname LIKE '%customer_given' ORDER BY 1;

\c :regress_db
DROP DATABASE :test_db;
