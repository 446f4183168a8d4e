-- integrity_money: money is finite and derived, issued invoices are final by
-- rule, documents that left their first status stay on record, and restore
-- mode loads rows as saved.  The repros of the 0.1.0 audit, run as the login
-- roles that found them: a sales rep (crm_user) and an admin (crm_admin).
-- In a database of its own, so ids in messages do not depend on other suites.
\set regress_db :DBNAME
CREATE DATABASE crm_regress_money TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_money
\set superuser :USER
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE ROLE regress_money_user LOGIN IN ROLE crm_user;
CREATE ROLE regress_money_admin LOGIN IN ROLE crm_admin;

-- Helpers every role may call (they run with the caller's privileges).
CREATE SCHEMA regress_money;
GRANT USAGE ON SCHEMA regress_money TO PUBLIC;
-- outcome(sql): 'ok', or the error's SQLSTATE, constraint and message
CREATE FUNCTION regress_money.outcome(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; cons text; msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, cons = CONSTRAINT_NAME, msg = MESSAGE_TEXT;
    RETURN state || coalesce(' ' || nullif(cons, ''), '') || ': ' || regexp_replace(msg, 'INV-\d{4}-', 'INV-YYYY-', 'g');
END $$;
-- error(sql): every field of the error, one per row
CREATE FUNCTION regress_money.error(sql text) RETURNS TABLE (field text, value text) LANGUAGE plpgsql AS $$
DECLARE state text; cons text; msg text; det text; hnt text;
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT 'ok', NULL::text;
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, cons = CONSTRAINT_NAME, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN QUERY
    SELECT f, regexp_replace(v, 'INV-\d{4}-', 'INV-YYYY-', 'g')
      FROM (VALUES (1, 'sqlstate', state), (2, 'constraint', nullif(cons, '')), (3, 'message', msg),
                   (4, 'detail', nullif(det, '')), (5, 'hint', nullif(hnt, ''))) AS e(n, f, v)
     WHERE v IS NOT NULL ORDER BY n;
END $$;
-- an invoice as the books see it
CREATE VIEW regress_money.invoice AS
SELECT i.id, regexp_replace(i.number, 'INV-\d{4}-', 'INV-YYYY-') AS number, i.status, i.net_total, i.tax_total,
       i.gross_total, i.amount_paid, (SELECT count(*) FROM crm.invoice_line l WHERE l.invoice_id = i.id) AS lines
  FROM crm.invoice i;
GRANT SELECT ON regress_money.invoice TO PUBLIC;
-- the values of a numeric column of a crm table
CREATE FUNCTION regress_money.column_values(tab name, col name) RETURNS SETOF numeric LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT %I FROM crm.%I', col, tab);
END $$;

INSERT INTO crm.account (name) VALUES ('星辰科技有限公司');
INSERT INTO crm.contact (account_id, name, email) VALUES (1, '陈静', 'chen.jing@xingchen.example.cn');

-- 1. NaN and Infinity are not money ---------------------------------------
-- ('NaN' > 0 is true in numeric, so "amount > 0" alone let it through.)
\c - regress_money_admin
SET client_min_messages = warning;
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
    ('PY-101', 'Python 入门课', 1999, 'CNY'), ('BOOK', '教材', 49.90, 'CNY');
SELECT v AS unit_price,
       regress_money.outcome(format($$INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('X', 'x', %L, 'CNY')$$, v))
           AS new_product,
       regress_money.outcome(format($$UPDATE crm.product SET unit_price = %L WHERE sku = 'BOOK'$$, v)) AS repriced
  FROM unnest(ARRAY['NaN', 'Infinity', '-Infinity']) v;
SELECT sku, unit_price FROM crm.product ORDER BY id;

\c - regress_money_user
SET client_min_messages = warning;
-- deals and their items
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('团购', 1, 1, 'CNY') RETURNING id AS deal \gset
SELECT v,
       regress_money.outcome(format($$INSERT INTO crm.deal (name, account_id, currency, amount) VALUES ('d', 1, 'CNY', %L)$$, v))
           AS deal_amount,
       regress_money.outcome(format($$INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (%s, 1, %L)$$, :deal, v))
           AS item_quantity,
       regress_money.outcome(format($$INSERT INTO crm.deal_item (deal_id, product_id, quantity, unit_price) VALUES (%s, 1, 1, %L)$$,
                                    :deal, v)) AS item_price
  FROM unnest(ARRAY['NaN', 'Infinity', '-Infinity']) v;
SELECT count(*) AS deals, (SELECT count(*) FROM crm.deal_item) AS items FROM crm.deal;
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:deal, 1, 5);
SELECT regress_money.outcome(format($$UPDATE crm.deal_item SET quantity = 'NaN' WHERE deal_id = %s$$, :deal)) AS nan_item;
SELECT regress_money.outcome(format($$UPDATE crm.deal SET amount = 'NaN', items_total = 'NaN' WHERE id = %s$$, :deal)) AS nan_deal;
SELECT amount, items_total FROM crm.deal WHERE id = :deal;

-- the 0.1.0 repro: a line of quantity 'NaN' issued an invoice for NaN; now
-- every line of every document is refused, with the constraint it breaks
SELECT crm.create_quote(:deal) AS quote_id \gset
INSERT INTO crm.sales_order (account_id, currency) VALUES (1, 'CNY') RETURNING id AS open_order \gset
INSERT INTO crm.invoice (account_id, contact_id, currency) VALUES (1, 1, 'CNY') RETURNING id AS nan_invoice \gset
SELECT * FROM regress_money.error(format($$INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (%s, 1, 'NaN')$$,
                                         :nan_invoice));
SELECT t AS line_table, c AS column_name, v,
       regress_money.outcome(CASE c WHEN 'quantity'
           THEN format('INSERT INTO crm.%I (%I, product_id, quantity) VALUES (%s, 1, %L)', t, k, id, v)
           ELSE format('INSERT INTO crm.%I (%I, product_id, quantity, %I) VALUES (%s, 1, 1, %L)', t, k, c, id, v) END) AS outcome
  FROM (VALUES ('quote_item', 'quote_id', :quote_id), ('sales_order_item', 'sales_order_id', :open_order),
               ('invoice_line', 'invoice_id', :nan_invoice)) AS d(t, k, id),
       unnest(ARRAY['quantity', 'unit_price', 'discount', 'tax_rate']) c,
       unnest(ARRAY['NaN', 'Infinity', '-Infinity']) v
 ORDER BY 1, 2, 3;
SELECT * FROM regress_money.invoice WHERE id = :nan_invoice;
SELECT * FROM regress_money.error(format($$UPDATE crm.invoice SET status = 'issued' WHERE id = %s$$, :nan_invoice));

-- payments: the 0.1.0 repro paid 123456789 and then 'Infinity' on that NaN
-- invoice.  Arguments are refused with 22023, rows with 23514.
SELECT crm.send_quote(:quote_id);
SELECT crm.accept_quote(:quote_id) AS order_id \gset
SELECT crm.issue_invoice(:order_id) AS invoice_id \gset
SELECT * FROM regress_money.invoice WHERE id = :invoice_id;
SELECT * FROM regress_money.error(format($$SELECT crm.record_payment(%s, 'Infinity')$$, :invoice_id));
SELECT v, regress_money.outcome(format('SELECT crm.record_payment(%s, %L)', :invoice_id, v)) AS record_payment,
       regress_money.outcome(format('INSERT INTO crm.payment (invoice_id, amount) VALUES (%s, %L)', :invoice_id, v))
           AS insert_payment
  FROM unnest(ARRAY['NaN', 'Infinity', '-Infinity', '123456789']) v;
SELECT * FROM regress_money.invoice WHERE id = :invoice_id;
SELECT count(*) AS payments FROM crm.payment;

-- one deal with amount NaN broke crm.revenue_forecast for every reader.
-- Six months of won deals (back-dated with the triggers off, as if closed
-- then), a NaN refused, and the forecast still reads.
\c - :superuser
SET client_min_messages = warning;
ALTER TABLE crm.deal DISABLE TRIGGER USER;
INSERT INTO crm.deal (name, account_id, currency, amount, stage, pipeline_id, stage_entered_at, closed_at)
SELECT 'won ' || m, 1, 'CNY', 1000 * m, 'won', 1, t, t
  FROM generate_series(1, 6) m,
       LATERAL (SELECT date_trunc('month', now()) - make_interval(months => m) + interval '3 days') AS c(t);
ALTER TABLE crm.deal ENABLE TRIGGER USER;
\c - regress_money_user
SET client_min_messages = warning;
SELECT regress_money.outcome($$UPDATE crm.deal SET amount = 'NaN' WHERE name = 'won 1'$$) AS nan_won_deal;
SELECT kind, count(*) AS months, sum(revenue) FILTER (WHERE kind = 'actual') AS won,
       bool_and(revenue >= 0 AND revenue < 'Infinity') AS finite
  FROM crm.revenue_forecast GROUP BY kind ORDER BY kind;

-- 2. Totals come from the lines only ---------------------------------------
\c - regress_money_user
SET client_min_messages = warning;
-- an invoice with 1,999 CNY of lines was issued for 1 CNY and paid with 1 CNY
INSERT INTO crm.invoice (account_id, contact_id, currency) VALUES (1, 1, 'CNY') RETURNING id AS forged \gset
INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (:forged, 1, 1);
SELECT * FROM regress_money.error(format('UPDATE crm.invoice SET gross_total = 1 WHERE id = %s', :forged));
SELECT regress_money.outcome(format('UPDATE crm.invoice SET net_total = 1, tax_total = 0, gross_total = 1 WHERE id = %s', :forged))
           AS all_three;
-- writing what the lines add up to changes nothing, so it passes
SELECT regress_money.outcome(format('UPDATE crm.invoice SET gross_total = 1999 WHERE id = %s', :forged)) AS what_the_lines_say;
UPDATE crm.invoice SET status = 'issued' WHERE id = :forged;
SELECT regress_money.outcome(format('SELECT crm.record_payment(%s, 1)', :forged)) AS pays_one;
SELECT * FROM regress_money.invoice WHERE id = :forged;
-- one with no lines was issued for 1,000,000
SELECT * FROM regress_money.error($$INSERT INTO crm.invoice (account_id, currency, gross_total) VALUES (1, 'CNY', 1000000)$$);
INSERT INTO crm.invoice (account_id, currency) VALUES (1, 'CNY') RETURNING id AS empty \gset
SELECT regress_money.outcome(format('UPDATE crm.invoice SET net_total = 1000000, gross_total = 1000000 WHERE id = %s', :empty))
           AS forged_total;
SELECT * FROM regress_money.error(format($$UPDATE crm.invoice SET status = 'issued' WHERE id = %s$$, :empty));
SELECT * FROM regress_money.invoice WHERE id = :empty;
-- quotes and orders alike, and not even the superuser writes totals
SELECT crm.create_quote(:deal) AS draft_quote \gset
SELECT regress_money.outcome(format('UPDATE crm.quote SET gross_total = 1 WHERE id = %s', :draft_quote)) AS quote_total,
       regress_money.outcome(format('UPDATE crm.sales_order SET gross_total = 1 WHERE id = %s', :open_order)) AS order_total;
\c - :superuser
SET client_min_messages = warning;
SELECT regress_money.outcome(format('UPDATE crm.quote SET gross_total = 1 WHERE id = %s', :draft_quote)) AS superuser_quote_total;
SELECT net_total, tax_total, gross_total FROM crm.quote WHERE id = :draft_quote;

-- an order with 9,995 CNY of lines completed unbilled after gross_total = 0
\c - regress_money_user
SET client_min_messages = warning;
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('大单', 1, 1, 'CNY') RETURNING id AS big_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:big_deal, 1, 5);
SELECT crm.create_quote(:big_deal) AS q \gset
SELECT crm.send_quote(:q);
SELECT crm.accept_quote(:q) AS big_order \gset
SELECT * FROM regress_money.error(format('UPDATE crm.sales_order SET gross_total = 0 WHERE id = %s', :big_order));
SELECT crm.deliver_order(:big_order) AS delivered;
SELECT * FROM regress_money.error(format($$UPDATE crm.sales_order SET status = 'completed' WHERE id = %s$$, :big_order));
-- billed in part by a hand-made invoice of 49.90, paid in full: the
-- invoice is paid, the order stays delivered with 9,995 unbilled
INSERT INTO crm.invoice (sales_order_id) VALUES (:big_order) RETURNING id AS part \gset
INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (:part, 2, 1);
UPDATE crm.invoice SET status = 'issued' WHERE id = :part;
SELECT crm.record_payment(:part, 49.90) > 0 AS paid;
SELECT * FROM regress_money.invoice WHERE id = :part;
SELECT status, gross_total FROM crm.sales_order WHERE id = :big_order;
SELECT * FROM regress_money.error(format($$UPDATE crm.sales_order SET status = 'completed' WHERE id = %s$$, :big_order));
-- billed in full, it completes by itself
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('小单', 1, 1, 'CNY') RETURNING id AS small_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:small_deal, 2, 2);
SELECT crm.create_quote(:small_deal) AS q \gset
SELECT crm.send_quote(:q);
SELECT crm.accept_quote(:q) AS small_order \gset
SELECT crm.deliver_order(:small_order) AS delivered;
SELECT crm.issue_invoice(:small_order) AS small_invoice \gset
SELECT crm.record_payment(:small_invoice, 99.80) > 0 AS paid;
SELECT status FROM crm.sales_order WHERE id = :small_order;

-- every numeric column of every crm table refuses NaN and ±Infinity,
-- whoever writes (here the superuser; generated columns are computed):
-- editable documents, payments, the deal, product, stage and SLA policy
\c - :superuser
SET client_min_messages = warning;
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (:open_order, 2, 1);
INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (:nan_invoice, 2, 1);
SELECT format('%s.%s', c.relname, a.attname) AS money_column,
       string_agg(DISTINCT split_part(regress_money.outcome(format('UPDATE crm.%I SET %I = %L WHERE id = %s', c.relname, a.attname, v,
           CASE c.relname WHEN 'quote' THEN :draft_quote WHEN 'quote_item' THEN (SELECT min(id) FROM crm.quote_item WHERE quote_id = :draft_quote)
                          WHEN 'sales_order' THEN :open_order WHEN 'sales_order_item' THEN (SELECT min(id) FROM crm.sales_order_item WHERE sales_order_id = :open_order)
                          WHEN 'invoice' THEN :nan_invoice WHEN 'invoice_line' THEN (SELECT min(id) FROM crm.invoice_line WHERE invoice_id = :nan_invoice)
                          WHEN 'deal' THEN :deal WHEN 'deal_item' THEN (SELECT min(id) FROM crm.deal_item WHERE deal_id = :deal)
                          WHEN 'payment' THEN (SELECT min(id) FROM crm.payment) ELSE 1 END)), ':', 1), ', ') AS refused_with
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
 CROSS JOIN unnest(ARRAY['NaN', 'Infinity', '-Infinity']) v
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' AND a.atttypid = 'numeric'::regtype
   AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
 GROUP BY c.relname, a.attname ORDER BY 1;

-- nothing that is not a finite number got in anywhere
SELECT count(*) AS non_finite_values
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid,
       LATERAL (SELECT x FROM regress_money.column_values(c.relname, a.attname) x WHERE NOT (x > '-Infinity' AND x < 'Infinity')) v
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind = 'r' AND a.atttypid = 'numeric'::regtype
   AND a.attnum > 0 AND NOT a.attisdropped;

-- 3. Issued invoices are final by rule ----------------------------------------
-- crm_admin adds moves back (issued → draft, void → issued, paid →
-- partially_paid); a user tried to redraft, edit and renumber an invoice.
\c - regress_money_admin
SET client_min_messages = warning;
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT p.id, t.from_stage, t.to_stage FROM crm.pipeline p,
       (VALUES ('issued', 'draft'), ('void', 'issued'), ('paid', 'partially_paid'), ('partially_paid', 'draft')) t(from_stage, to_stage)
 WHERE p.name = 'invoice' AND p.object_type = 'invoice';
\c - regress_money_user
SET client_min_messages = warning;
SELECT * FROM regress_money.error(format($$UPDATE crm.invoice SET status = 'draft' WHERE id = %s$$, :invoice_id));
SELECT regress_money.outcome(format($$UPDATE crm.invoice SET status = 'draft' WHERE id = %s$$, :forged)) AS partially_paid_to_draft,
       regress_money.outcome(format($$UPDATE crm.invoice SET status = 'partially_paid' WHERE id = %s$$, :small_invoice))
           AS paid_to_partially_paid;
SELECT crm.void_invoice(:invoice_id, '开错了');
SELECT regress_money.outcome(format($$UPDATE crm.invoice SET status = 'issued', void_reason = NULL WHERE id = %s$$, :invoice_id))
           AS void_to_issued;
-- its number, lines and amounts stay
SELECT regress_money.outcome(format('UPDATE crm.invoice SET number = NULL, issue_date = NULL WHERE id = %s', :forged)) AS renumber,
       regress_money.outcome(format('UPDATE crm.invoice_line SET unit_price = 5 WHERE invoice_id = %s', :forged)) AS reprice,
       regress_money.outcome(format('INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (%s, 2, 1)', :forged))
           AS add_line;
SELECT * FROM regress_money.invoice WHERE id IN (:invoice_id, :forged, :small_invoice) ORDER BY id;
-- not crm_admin, not the superuser either
\c - regress_money_admin
SET client_min_messages = warning;
SELECT regress_money.outcome(format($$UPDATE crm.invoice SET status = 'draft' WHERE id = %s$$, :forged)) AS admin_redraft;
\c - :superuser
SET client_min_messages = warning;
SELECT regress_money.outcome(format($$UPDATE crm.invoice SET status = 'draft' WHERE id = %s$$, :forged)) AS superuser_redraft;
SELECT from_stage, to_stage FROM crm.invoice_status_history WHERE invoice_id = :forged ORDER BY id;

-- 4. Documents that left their first status are not deleted ----------------
\c - regress_money_admin
SET client_min_messages = warning;
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage)
SELECT p.id, t.from_stage, t.to_stage FROM crm.pipeline p JOIN (VALUES ('quote', 'sent', 'draft'), ('ticket', 'in_progress', 'open'))
       t(workflow, from_stage, to_stage) ON p.name = t.workflow AND p.object_type = t.workflow;
\c - regress_money_user
SET client_min_messages = warning;
-- quotes: an accepted one, and one sent then moved back to draft by the added rule
SELECT * FROM regress_money.error(format('DELETE FROM crm.quote WHERE id = %s', :quote_id));
SELECT crm.send_quote(:draft_quote);
UPDATE crm.quote SET status = 'draft' WHERE id = :draft_quote;
SELECT * FROM regress_money.error(format('DELETE FROM crm.quote WHERE id = %s', :draft_quote));
-- orders: delivered, completed, and confirmed but invoiced
SELECT regress_money.outcome(format('DELETE FROM crm.sales_order WHERE id = %s', :big_order)) AS delivered_order,
       regress_money.outcome(format('DELETE FROM crm.sales_order WHERE id = %s', :small_order)) AS completed_order;
SELECT crm.issue_invoice(:open_order) AS open_invoice \gset
SELECT regress_money.outcome(format('DELETE FROM crm.sales_order WHERE id = %s', :open_order)) AS invoiced_order;
-- invoices: issued, paid, void (issued), and a draft that was voided
SELECT crm.void_invoice(:empty, '重复');
SELECT id, regress_money.outcome(format('DELETE FROM crm.invoice WHERE id = %s', id)) AS outcome
  FROM (VALUES (:open_invoice), (:small_invoice), (:invoice_id), (:empty)) v(id) ORDER BY id;
SELECT * FROM regress_money.error(format('DELETE FROM crm.invoice WHERE id = %s', :empty));
-- payments are never deleted (crm_user may not try; the superuser is refused)
SELECT regress_money.outcome('DELETE FROM crm.payment') AS payments;
\c - :superuser
SET client_min_messages = warning;
SELECT regress_money.outcome('DELETE FROM crm.payment') AS superuser_deletes_payments;
\c - regress_money_user
SET client_min_messages = warning;
-- tickets: worked on, and worked on then moved back to open by the added rule
INSERT INTO crm.ticket (subject) VALUES ('发票抬头有误') RETURNING id AS worked \gset
SELECT crm.move_ticket(:worked, 'in_progress');
SELECT * FROM regress_money.error(format('DELETE FROM crm.ticket WHERE id = %s', :worked));
SELECT crm.move_ticket(:worked, 'open');
SELECT regress_money.outcome(format('DELETE FROM crm.ticket WHERE id = %s', :worked)) AS reopened_ticket;
-- their history survives
SELECT 'quote' AS document, h.quote_id AS id, string_agg(coalesce(h.from_stage, '·') || ' > ' || h.to_stage, ', ' ORDER BY h.id) AS moves
  FROM crm.quote_status_history h WHERE h.quote_id IN (:quote_id, :draft_quote) GROUP BY h.quote_id
UNION ALL
SELECT 'sales order', h.sales_order_id, string_agg(coalesce(h.from_stage, '·') || ' > ' || h.to_stage, ', ' ORDER BY h.id) AS moves
  FROM crm.sales_order_status_history h WHERE h.sales_order_id IN (:big_order, :small_order, :open_order) GROUP BY h.sales_order_id
UNION ALL
SELECT 'invoice', h.invoice_id, string_agg(coalesce(h.from_stage, '·') || ' > ' || h.to_stage, ', ' ORDER BY h.id) AS moves
  FROM crm.invoice_status_history h WHERE h.invoice_id IN (:open_invoice, :small_invoice, :invoice_id, :empty) GROUP BY h.invoice_id
UNION ALL
SELECT 'ticket', h.ticket_id, string_agg(coalesce(h.from_stage, '·') || ' > ' || h.to_stage, ', ' ORDER BY h.id) AS moves
  FROM crm.ticket_status_history h WHERE h.ticket_id = :worked GROUP BY h.ticket_id
ORDER BY 1, 2;
-- what never left its first status may still be deleted (a mistake caught early)
SELECT crm.create_quote(:deal) AS fresh_quote \gset
INSERT INTO crm.sales_order (account_id, currency) VALUES (1, 'CNY') RETURNING id AS fresh_order \gset
INSERT INTO crm.invoice (account_id, currency) VALUES (1, 'CNY') RETURNING id AS fresh_invoice \gset
INSERT INTO crm.ticket (subject) VALUES ('重复提交') RETURNING id AS fresh_ticket \gset
SELECT regress_money.outcome(format('DELETE FROM crm.quote WHERE id = %s', :fresh_quote)) AS quote,
       regress_money.outcome(format('DELETE FROM crm.sales_order WHERE id = %s', :fresh_order)) AS sales_order,
       regress_money.outcome(format('DELETE FROM crm.invoice WHERE id = %s', :fresh_invoice)) AS invoice,
       regress_money.outcome(format('DELETE FROM crm.ticket WHERE id = %s', :fresh_ticket)) AS ticket;

-- 5. Restore mode: rows load as saved -----------------------------------------
-- Only a role that could disable the triggers anyway (a superuser or the
-- extension's owner) enters it, by loading with row_security off as pg_dump
-- does; for crm_user that setting changes nothing.
SET row_security = off;
SELECT crm.restoring() AS user_restoring;
-- (invoice_guard and payment_check run as their owner, SECURITY DEFINER:
-- restore mode asks who called them, not who they run as)
SELECT regress_money.outcome(format('INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (%s, 2, 1)', :forged))
           AS user_adds_line,
       regress_money.outcome(format('UPDATE crm.invoice SET gross_total = 1 WHERE id = %s', :forged)) AS user_sets_total,
       regress_money.outcome(format($$INSERT INTO crm.payment (invoice_id, amount) VALUES (%s, 'NaN')$$, :forged)) AS user_pays_nan;
RESET row_security;
\c - :superuser
SET client_min_messages = warning;
SELECT count(*) AS outbox_before FROM crm.email_outbox \gset
SET row_security = off;
SELECT crm.restoring() AS superuser_restoring;
-- an issued invoice's line and a payment, as pg_dump --inserts writes them
-- (columns as pg_dump lists them, generated ones left out)
INSERT INTO crm.invoice_line (id, invoice_id, currency, product_id, description, quantity, unit_price, discount, tax_rate,
                              created_at, updated_at)
OVERRIDING SYSTEM VALUE VALUES (900, :forged, 'CNY', 2, '教材', 1, 49.90, 0, 0, '2026-01-05 10:00:00+00',
                                '2026-01-05 10:00:00+00');
INSERT INTO crm.payment (id, invoice_id, amount, currency, paid_at, method, reference, owner, attributes, created_at,
                         updated_at)
OVERRIDING SYSTEM VALUE VALUES (900, :forged, 10.00, 'CNY', '2026-01-06 10:00:00+00', NULL, NULL, 'regress_money_user', '{}',
                                '2026-01-06 10:00:00+00', '2026-01-06 10:00:00+00');
-- a document comes before its lines in a dump, with the totals they add up to
INSERT INTO crm.quote (id, deal_id, account_id, contact_id, status, status_entered_at, currency, valid_until, net_total,
                       tax_total, gross_total, owner, attributes, created_at, updated_at)
OVERRIDING SYSTEM VALUE VALUES (901, :deal, 1, 1, 'draft', '2026-01-05 10:00:00+00', 'CNY', '2026-02-04', 99.80, 0.00, 99.80,
                                'regress_money_user', '{}', '2026-01-05 10:00:00+00', '2026-01-05 10:00:00+00');
INSERT INTO crm.quote_item (id, quote_id, currency, product_id, description, quantity, unit_price, discount, tax_rate,
                            created_at, updated_at)
OVERRIDING SYSTEM VALUE VALUES (901, 901, 'CNY', 2, '教材', 2, 49.90, 0, 0, '2026-01-05 10:00:00+00', '2026-01-05 10:00:00+00');
RESET row_security;
SELECT net_total, tax_total, gross_total, (SELECT sum(gross_amount) FROM crm.quote_item WHERE quote_id = 901) AS lines
  FROM crm.quote WHERE id = 901;
-- loaded as saved: the line, the payment, and the invoice untouched (its
-- saved totals, status and amount paid come with it); no mail sent again
SELECT invoice_id, description, net_amount FROM crm.invoice_line WHERE id = 900;
SELECT invoice_id, amount FROM crm.payment WHERE id = 900;
SELECT number, status, net_total, gross_total, amount_paid, lines FROM regress_money.invoice WHERE id = :forged;
-- (out of restore mode every payment queues a payment_received email)
SELECT count(*) - :outbox_before AS mail_queued FROM crm.email_outbox;
-- and out of restore mode the guards hold again
SELECT crm.restoring() AS restoring;
SELECT regress_money.outcome(format('INSERT INTO crm.invoice_line (invoice_id, product_id, quantity) VALUES (%s, 2, 1)', :forged))
           AS adds_line;

\c :regress_db
DROP DATABASE crm_regress_money;
DROP ROLE regress_money_user, regress_money_admin;
