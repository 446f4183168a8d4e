-- sales_invoice: invoices (gapless numbers, immutability), payments, receivables.
-- in a database of its own, so ids in messages do not depend on other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_sales_invoice TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_sales_invoice
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
-- invoices are dated in the company's time zone: the time_zone setting, UTC by default

-- an error's SQLSTATE, constraint, message, detail and hint, with dates and
-- the year of invoice numbers masked
CREATE FUNCTION pg_temp.try(sql text) RETURNS TABLE (field text, value text) LANGUAGE plpgsql AS $$
DECLARE state text; cons text; msg text; det text; hnt text;
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT 'ok', NULL::text;
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, cons = CONSTRAINT_NAME, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN QUERY
    SELECT f, regexp_replace(regexp_replace(v, '\d{4}-\d\d-\d\d( [0-9:.+-]+)?', '<date>', 'g'), '\m20\d\d\M', 'YYYY', 'g')
      FROM (VALUES (1, 'sqlstate', state), (2, 'constraint', nullif(cons, '')), (3, 'message', msg),
                   (4, 'detail', nullif(det, '')), (5, 'hint', nullif(hnt, ''))) AS e(n, f, v)
     WHERE v IS NOT NULL ORDER BY n;
END $$;
-- invoice number with the year masked, checked against the issue date
CREATE FUNCTION pg_temp.num(n text, issued date) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN substr(n, 5, 4)::int = extract(year FROM issued) THEN regexp_replace(n, 'INV-\d{4}-', 'INV-YYYY-')
                ELSE n || ' (wrong year)' END $$;

INSERT INTO crm.account (name) VALUES ('星辰科技有限公司'), ('蓝海数据服务公司');
INSERT INTO crm.contact (account_id, name, email) VALUES (1, '陈静', 'chen.jing@xingchen.example.cn');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
    ('PY-101', 'Python 入门课', 1999, 'CNY'),
    ('BOOK', '教材', 49.90, 'CNY'),
    ('JP-1', '日本語コース', 12345, 'JPY');
-- orders through the API: deal, quote, accept (tax 6%)
SET crm.default_tax_rate = 0.06;
CREATE FUNCTION pg_temp.sell(account bigint, currency text, sku text, qty numeric, discount numeric DEFAULT 0)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE d bigint; q bigint;
BEGIN
    INSERT INTO crm.deal (name, account_id, contact_id, currency)
    VALUES (sku || ' × ' || qty, account, (SELECT min(id) FROM crm.contact c WHERE c.account_id = account), currency)
    RETURNING id INTO d;
    INSERT INTO crm.deal_item (deal_id, product_id, quantity, discount)
    SELECT d, p.id, qty, discount FROM crm.product p WHERE p.sku = sell.sku;
    q := crm.create_quote(d);
    PERFORM crm.send_quote(q);
    RETURN crm.accept_quote(q);
END $$;
SELECT pg_temp.sell(1, 'CNY', 'PY-101', 40, 0.1) AS o1, pg_temp.sell(1, 'CNY', 'BOOK', 3) AS o2,
       pg_temp.sell(2, 'CNY', 'BOOK', 1) AS o3, pg_temp.sell(2, 'JPY', 'JP-1', 3, 0.15) AS o4,
       pg_temp.sell(1, 'CNY', 'PY-101', 1) AS o5, pg_temp.sell(2, 'CNY', 'PY-101', 2) AS o6;

-- issuing: number, dates, totals and lines from the order
SELECT crm.issue_invoice(1) AS inv1;
SELECT id, pg_temp.num(number, issue_date) AS number, sales_order_id, account_id, contact_id, status, currency,
       issue_date = (now() AT TIME ZONE 'UTC')::date AS issued_today, due_date - issue_date AS terms,
       net_total, tax_total, gross_total, amount_paid, closed_at
  FROM crm.invoice;
SELECT invoice_id, description, quantity, unit_price, discount, tax_rate, net_amount, tax_amount, gross_amount
  FROM crm.invoice_line ORDER BY id;
SELECT (o.net_total, o.tax_total, o.gross_total) = (i.net_total, i.tax_total, i.gross_total) AS totals_match
  FROM crm.invoice i JOIN crm.sales_order o ON o.id = i.sales_order_id;
SELECT from_stage, to_stage FROM crm.invoice_status_history ORDER BY id;
-- whole yen: per-line rounding in a currency without minor unit
SET crm.invoice_payment_days = 45;
SELECT crm.issue_invoice(4) AS inv_jpy;
SELECT pg_temp.num(number, issue_date) AS number, due_date - issue_date AS terms, net_total, tax_total, gross_total
  FROM crm.invoice WHERE currency = 'JPY';
RESET crm.invoice_payment_days;

-- refused: billing twice, a cancelled order, an empty one, a missing one; nothing changes
SELECT * FROM pg_temp.try('SELECT crm.issue_invoice(1)');
SELECT crm.cancel_order(6, '客户改主意了');
SELECT * FROM pg_temp.try('SELECT crm.issue_invoice(6)');
INSERT INTO crm.sales_order (account_id, currency) VALUES (1, 'CNY') RETURNING id AS empty_order \gset
SELECT * FROM pg_temp.try('SELECT crm.issue_invoice(' || :empty_order || ')');
SELECT * FROM pg_temp.try('SELECT crm.issue_invoice(999)');
SELECT count(*) AS invoices, (SELECT last_number FROM crm.invoice_number_counter) AS last_number FROM crm.invoice;

-- gapless: a rolled-back issue gives its number back; so does a rolled-back savepoint
BEGIN;
SELECT crm.issue_invoice(2) AS rolled_back \gset
SELECT pg_temp.num(number, issue_date) AS rolled_back FROM crm.invoice WHERE id = :rolled_back;
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT crm.issue_invoice(2) IS NOT NULL AS issued;
ROLLBACK TO SAVEPOINT s;
SELECT crm.issue_invoice(2) AS inv2 \gset
SELECT crm.issue_invoice(3) AS inv3 \gset
COMMIT;
SELECT pg_temp.num(number, issue_date) AS number, sales_order_id FROM crm.invoice ORDER BY number;
SELECT year = extract(year FROM now() AT TIME ZONE 'UTC') AS this_year, last_number FROM crm.invoice_number_counter;

-- an issued invoice is immutable: lines, amounts, customer, number, dates; no DELETE or TRUNCATE
SELECT * FROM pg_temp.try('UPDATE crm.invoice_line SET quantity = 1 WHERE invoice_id = 1');
SELECT * FROM pg_temp.try('INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (1, 2, 1)');
SELECT * FROM pg_temp.try('DELETE FROM crm.invoice_line WHERE invoice_id = 1');
SELECT * FROM pg_temp.try('UPDATE crm.invoice SET gross_total = 1, account_id = 2 WHERE id = 1');
SELECT * FROM pg_temp.try($$UPDATE crm.invoice SET number = 'INV-2000-000001' WHERE id = 1$$);
SELECT * FROM pg_temp.try('UPDATE crm.invoice SET due_date = due_date + 30 WHERE id = 1');
SELECT * FROM pg_temp.try('DELETE FROM crm.invoice WHERE id = 1');
SELECT * FROM pg_temp.try('TRUNCATE crm.invoice CASCADE');
SELECT * FROM pg_temp.try($$UPDATE crm.invoice SET status = 'paid' WHERE id = 1$$);
SELECT * FROM pg_temp.try($$UPDATE crm.invoice SET status = 'draft' WHERE id = 1$$);
SELECT * FROM pg_temp.try($$UPDATE crm.invoice SET amount_paid = 5 WHERE id = 1$$);
SELECT pg_temp.num(number, issue_date) AS number, status, gross_total, amount_paid, account_id
  FROM crm.invoice WHERE id = 1;
SELECT count(*) AS lines, sum(gross_amount) AS gross FROM crm.invoice_line WHERE invoice_id = 1;

-- drafts: created by hand, edited freely, numbered only when issued
SELECT * FROM pg_temp.try($$INSERT INTO crm.invoice (account_id, currency, number) VALUES (1, 'CNY', 'INV-2000-000009')$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.invoice (account_id, currency, status) VALUES (1, 'CNY', 'issued')$$);
INSERT INTO crm.invoice (account_id, currency) VALUES (2, 'CNY') RETURNING id AS draft, number, status \gset
\echo draft :draft :number :status
INSERT INTO crm.invoice_line (invoice_id, product_id, quantity, discount) VALUES (:draft, 2, 10, 0.5);
SELECT * FROM pg_temp.try('INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (' || :draft || ', 2, -3)');
SELECT * FROM pg_temp.try('INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (' || :draft || ', 3, 1)');
SELECT * FROM pg_temp.try('UPDATE crm.invoice SET issue_date = current_date WHERE id = ' || :draft);
UPDATE crm.invoice SET due_date = current_date + 10 WHERE id = :draft;
SELECT net_total, tax_total, gross_total FROM crm.invoice WHERE id = :draft;
-- paying a draft is refused
SELECT * FROM pg_temp.try('SELECT crm.record_payment(' || :draft || ', 10)');
-- issuing it by UPDATE numbers it and keeps the due date set on the draft
UPDATE crm.invoice SET status = 'issued' WHERE id = :draft;
SELECT pg_temp.num(number, issue_date) AS number, due_date - current_date AS due_in FROM crm.invoice WHERE id = :draft;
-- an empty draft cannot be issued; a draft may be voided (no number) or deleted
INSERT INTO crm.invoice (account_id, currency) VALUES (2, 'CNY') RETURNING id AS empty_draft \gset
SELECT * FROM pg_temp.try($$UPDATE crm.invoice SET status = 'issued' WHERE id = $$ || :empty_draft);
SELECT crm.void_invoice(:empty_draft, 'created by mistake');
SELECT number, status, void_reason FROM crm.invoice WHERE id = :empty_draft;
INSERT INTO crm.invoice (account_id, currency) VALUES (2, 'CNY') RETURNING id AS gone_draft \gset
DELETE FROM crm.invoice WHERE id = :gone_draft;
SELECT last_number AS still_gapless FROM crm.invoice_number_counter;

-- payments: partial, then the rest; the invoice moves and the order completes once delivered
SELECT crm.record_payment(1, 10000, method => '银行转账') AS p1;
SELECT status, amount_paid, gross_total - amount_paid AS balance FROM crm.invoice WHERE id = 1;
SELECT crm.deliver_order(1) AS order_status;
SELECT crm.record_payment(1, (SELECT gross_total - amount_paid FROM crm.invoice WHERE id = 1), now() - interval '1 hour',
                          'Alipay') AS p2;
SELECT status, amount_paid, closed_at IS NOT NULL AS closed FROM crm.invoice WHERE id = 1;
SELECT status, closed_at IS NOT NULL AS closed FROM crm.sales_order WHERE id = 1;
SELECT from_stage, to_stage FROM crm.invoice_status_history WHERE invoice_id = 1 ORDER BY id;
SELECT from_stage, to_stage FROM crm.sales_order_status_history WHERE sales_order_id = 1 ORDER BY id;
SELECT invoice_id, amount, currency, method FROM crm.payment ORDER BY id;
-- paid first, delivered after: the delivery completes the order
SELECT crm.record_payment(:inv3, (SELECT gross_total FROM crm.invoice WHERE id = :inv3)) > 0 AS paid_in_full;
SELECT crm.deliver_order(3) AS order_status;
SELECT from_stage, to_stage FROM crm.sales_order_status_history WHERE sales_order_id = 3 ORDER BY id;

-- refused payments, each leaving everything as it was
SELECT * FROM pg_temp.try('SELECT crm.record_payment(1, 1)');
SELECT * FROM pg_temp.try('SELECT crm.record_payment(' || :inv2 || ', 100000)');
SELECT * FROM pg_temp.try('SELECT crm.record_payment(' || :inv2 || ', 0)');
SELECT * FROM pg_temp.try('SELECT crm.record_payment(' || :inv2 || ', -5)');
SELECT * FROM pg_temp.try('SELECT crm.record_payment(' || :inv2 || ', 1.001)');
SELECT * FROM pg_temp.try($$INSERT INTO crm.payment (invoice_id, amount, currency) VALUES ($$ || :inv2 || $$, 10, 'USD')$$);
SELECT * FROM pg_temp.try('SELECT crm.record_payment(998, 1)');
-- two rows of one statement that together overpay
SELECT * FROM pg_temp.try('INSERT INTO crm.payment (invoice_id, amount) VALUES (' || :inv2 || ', 100), (' || :inv2 || ', 100)');
SELECT status, amount_paid FROM crm.invoice WHERE id = :inv2;
-- ... and two that pay it exactly
INSERT INTO crm.payment (invoice_id, amount, method)
SELECT :inv2, gross_total - 10, 'bank' FROM crm.invoice WHERE id = :inv2 UNION ALL SELECT :inv2, 10, 'cash';
SELECT status, amount_paid = gross_total AS settled FROM crm.invoice WHERE id = :inv2;
-- payments are fixed records
SELECT min(id) AS first_payment FROM crm.payment \gset
SELECT * FROM pg_temp.try('UPDATE crm.payment SET amount = 1, paid_at = now() WHERE id = ' || :first_payment);
SELECT * FROM pg_temp.try('DELETE FROM crm.payment WHERE id = ' || :first_payment);
SELECT * FROM pg_temp.try('TRUNCATE crm.payment');
UPDATE crm.payment SET reference = 'TX-8842' WHERE id = :first_payment;
SELECT count(*) AS payments, sum(amount) AS received FROM crm.payment;

-- voiding: an invoice with payments cannot be; an unpaid one keeps its number; the order can be billed again
SELECT * FROM pg_temp.try($$SELECT crm.void_invoice(1, 'wrong')$$);
SELECT * FROM pg_temp.try('SELECT crm.void_invoice(' || :draft || ', NULL)');
SELECT crm.void_invoice(:draft, '抬头写错');
SELECT pg_temp.num(number, issue_date) AS number, status, void_reason, closed_at IS NOT NULL AS closed
  FROM crm.invoice WHERE id = :draft;
SELECT * FROM pg_temp.try('SELECT crm.record_payment(' || :draft || ', 1)');
SELECT * FROM pg_temp.try('UPDATE crm.invoice SET void_reason = NULL, status = ''issued'' WHERE id = ' || :draft);
SELECT crm.issue_invoice(5) AS inv5 \gset
SELECT crm.void_invoice(:inv5, '重开');
SELECT * FROM pg_temp.try($$SELECT crm.void_invoice($$ || :inv5 || $$, 'again')$$);
SELECT * FROM pg_temp.try($$UPDATE crm.invoice SET void_reason = 'other' WHERE id = $$ || :inv5);
SELECT crm.issue_invoice(5) AS inv5_again \gset
SELECT pg_temp.num(number, issue_date) AS number, sales_order_id, status FROM crm.invoice WHERE sales_order_id = 5 ORDER BY id;
-- a voided order invoice lets the order be cancelled
SELECT * FROM pg_temp.try($$SELECT crm.cancel_order(5, 'no')$$);
SELECT crm.void_invoice(:inv5_again, '订单取消');
SELECT crm.cancel_order(5, '客户取消');
SELECT status FROM crm.sales_order WHERE id = 5;

-- every number of the year, once, without gaps
SELECT count(*) AS numbered, count(DISTINCT number) AS distinct_numbers,
       max(substr(number, 10)::int) AS highest, (SELECT last_number FROM crm.invoice_number_counter) AS counter
  FROM crm.invoice WHERE number IS NOT NULL;

-- the invoice calendar: the company's time zone (the time_zone setting)
-- decides the issue date, and so the year; a change is seen at once
UPDATE crm.setting SET value = 'Pacific/Kiritimati' WHERE key = 'time_zone';
SELECT crm.invoice_calendar_date(timestamptz '2025-12-31 11:00:00+00') AS kiritimati_new_year;
UPDATE crm.setting SET value = 'Etc/GMT+12' WHERE key = 'time_zone';
SELECT crm.invoice_calendar_date(timestamptz '2026-01-01 11:00:00+00') AS still_old_year;
-- the same instant gives the same date in sessions at both ends of the world
UPDATE crm.setting SET value = 'Asia/Shanghai' WHERE key = 'time_zone';
SET TimeZone = 'Etc/GMT-14';
SELECT crm.invoice_calendar_date(t) AS company_date, t::date AS session_date
  FROM (VALUES (timestamptz '2025-12-31 16:30:00+00')) AS v(t);
SET TimeZone = 'Etc/GMT+12';
SELECT crm.invoice_calendar_date(t) AS company_date, t::date AS session_date
  FROM (VALUES (timestamptz '2025-12-31 16:30:00+00')) AS v(t);
RESET TimeZone;
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'Mars/Olympus_Mons' WHERE key = 'time_zone'$$);
UPDATE crm.setting SET value = 'UTC' WHERE key = 'time_zone';
-- six digits: the year's numbers can run out, and then nothing is issued
SELECT last_number AS saved_counter FROM crm.invoice_number_counter \gset
UPDATE crm.invoice_number_counter SET last_number = 999999;
SELECT * FROM pg_temp.try('SELECT crm.issue_invoice(' || :empty_order || ')');
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (:empty_order, 2, 1);
SELECT * FROM pg_temp.try('SELECT crm.issue_invoice(' || :empty_order || ')');
SELECT count(*) AS invoices_of_order FROM crm.invoice WHERE sales_order_id = :empty_order;
UPDATE crm.invoice_number_counter SET last_number = :saved_counter;

-- receivables: open invoices by age past due.  The guard is switched off to
-- back-date test invoices, as if they had been issued weeks ago.
ALTER TABLE crm.invoice DISABLE TRIGGER invoice_guard;
INSERT INTO crm.invoice (number, account_id, currency, issue_date, due_date, gross_total, amount_paid)
SELECT format('INV-%s-9%s', extract(year FROM current_date - d - 30), lpad((d + 100)::text, 5, '0')),
       a, 'CNY', current_date - d - 30, current_date - d, 1000 + d, CASE WHEN d = 45 THEN 400 ELSE 0 END
  FROM (VALUES (1, -5), (1, 0), (1, 30), (1, 31), (2, 45), (2, 60), (2, 61), (2, 90), (2, 91), (2, 400)) v(a, d);
UPDATE crm.invoice SET status = 'issued' WHERE number LIKE 'INV-____-9%';
UPDATE crm.invoice SET status = 'partially_paid' WHERE number LIKE 'INV-____-9%' AND amount_paid > 0;
ALTER TABLE crm.invoice ENABLE TRIGGER invoice_guard;
SELECT regexp_replace(number, 'INV-\d{4}-', 'INV-YYYY-') AS number, account, currency, gross_total, amount_paid, balance,
       days_past_due, ageing_bucket
  FROM crm.receivables WHERE number LIKE 'INV-____-9%' ORDER BY days_past_due;
SELECT count(*) AS our_invoices_not_due FROM crm.receivables WHERE number NOT LIKE 'INV-____-9%' AND ageing_bucket = 'not_due';
SELECT account, currency, invoices, not_due, days_0_30, days_31_60, days_61_90, days_over_90, total_due
  FROM crm.receivables_ageing ORDER BY account_id, currency;

-- every view and column of the sales reports is commented
SELECT c.relname, count(*) FILTER (WHERE col_description(c.oid, a.attnum) IS NULL) AS uncommented_columns,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS view_commented
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'v'
   AND c.relname IN ('monthly_sales', 'product_sales', 'receivables', 'receivables_ageing', 'ticket_sla_status',
                     'ticket_sla_alerts')
 GROUP BY c.oid, c.relname ORDER BY c.relname;

-- issued from sessions at both ends of the world at (nearly) one instant,
-- two invoices carry the company's date, not either session's
UPDATE crm.setting SET value = 'Asia/Shanghai' WHERE key = 'time_zone';
SELECT pg_temp.sell(1, 'CNY', 'BOOK', 2) AS east_order, pg_temp.sell(2, 'CNY', 'BOOK', 2) AS west_order \gset
SET TimeZone = 'Etc/GMT-14';
SELECT crm.issue_invoice(:east_order) AS east \gset
SET TimeZone = 'Etc/GMT+12';
SELECT crm.issue_invoice(:west_order) AS west \gset
RESET TimeZone;
SELECT count(DISTINCT issue_date) AS dates,
       bool_and(issue_date = crm.invoice_calendar_date(status_entered_at)) AS company_dates,
       bool_and(issue_date = (status_entered_at AT TIME ZONE 'Asia/Shanghai')::date) AS shanghai_dates,
       bool_and(due_date = issue_date + 30) AS due_after_terms
  FROM crm.invoice WHERE id IN (:east, :west);

\c :regress_db
DROP DATABASE crm_regress_sales_invoice;
