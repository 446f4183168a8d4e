-- sales: the sales workflows, money rounding, quotes, orders and delivery.
-- in a database of its own, so ids in messages do not depend on other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_sales TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_sales
CREATE EXTENSION crm;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- an error's SQLSTATE, constraint, message, detail and hint, with dates
-- masked, for errors that name today's date
CREATE FUNCTION pg_temp.try(sql text) RETURNS TABLE (field text, value text) LANGUAGE plpgsql AS $$
DECLARE state text; cons text; msg text; det text; hnt text;
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT 'ok', NULL::text;
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, cons = CONSTRAINT_NAME, msg = MESSAGE_TEXT,
                            det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN QUERY
    SELECT f, regexp_replace(regexp_replace(v, '\d{4}-\d\d-\d\d( [0-9:.+-]+)?', '<date>', 'g'), 'INV-\d{4}-', 'INV-YYYY-', 'g')
      FROM (VALUES (1, 'sqlstate', state), (2, 'constraint', nullif(cons, '')), (3, 'message', msg),
                   (4, 'detail', nullif(det, '')), (5, 'hint', nullif(hnt, ''))) AS e(n, f, v)
     WHERE v IS NOT NULL ORDER BY n;
END $$;

-- the four workflows: stages with their kinds and required fields, and the allowed moves
SELECT p.name AS workflow, p.object_type, p.is_default, s.position, s.key, s.kind, s.probability, s.required_fields
  FROM crm.pipeline p JOIN crm.stage s ON s.pipeline_id = p.id
 WHERE p.object_type <> 'deal' ORDER BY p.id, s.position;
SELECT p.name AS workflow, string_agg(t.from_stage || ' > ' || t.to_stage, ', ' ORDER BY f.position, s.position) AS moves
  FROM crm.pipeline p JOIN crm.stage_transition t ON t.pipeline_id = p.id
  JOIN crm.stage f ON f.pipeline_id = p.id AND f.key = t.from_stage
  JOIN crm.stage s ON s.pipeline_id = p.id AND s.key = t.to_stage
 WHERE p.object_type <> 'deal' GROUP BY p.id, p.name ORDER BY p.id;

-- money: the currency's minor unit, rounding half away from zero
SELECT c, crm.currency_minor_unit(c) AS decimals, trim_scale(h) AS half, crm.round_money(h, c) AS up, crm.round_money(-h, c) AS down,
       crm.round_money(h - 0.000001, c) AS below_half
  FROM unnest(ARRAY['CNY', 'JPY', 'KWD', 'CLF']) c,
       LATERAL (SELECT 1 + 5 * power(10::numeric, -(crm.currency_minor_unit(c) + 1))) AS v(h);
SELECT crm.line_net(3, 1999, 0.1, 'CNY') AS net, crm.line_tax(3, 1999, 0.1, 0.06, 'CNY') AS tax,
       crm.line_net(7, 33.335, 0, 'CNY') AS net_half_cent, crm.line_net(3, 333.5, 0, 'JPY') AS net_yen;

INSERT INTO crm.account (name) VALUES ('星辰科技有限公司'), ('No Contact Ltd');
INSERT INTO crm.contact (account_id, name, email) VALUES (1, '陈静', 'chen.jing@xingchen.example.cn');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
    ('PY-101', 'Python 入门课', 1999, 'CNY'),
    ('BOOK', '教材', 49.90, 'CNY'),
    ('US-1', 'US course', 100, 'USD');
INSERT INTO crm.deal (name, account_id, contact_id, currency) VALUES ('团购', 1, 1, 'CNY');
INSERT INTO crm.deal_item (deal_id, product_id, quantity, discount) VALUES (1, 1, 40, 0.10), (1, 2, 40, 0);

-- create_quote copies the deal's items; tax rate and validity from the settings
SET crm.default_tax_rate = 0.06;
SET crm.quote_valid_days = 10;
SELECT crm.create_quote(1) AS quote_id;
SELECT id, deal_id, account_id, contact_id, status, currency, valid_until - current_date AS valid_days,
       net_total, tax_total, gross_total, status_entered_at IS NOT NULL AS stamped, closed_at
  FROM crm.quote;
SELECT id, product_id, description, quantity, unit_price, discount, tax_rate, net_amount, tax_amount, gross_amount
  FROM crm.quote_item ORDER BY id;
SELECT from_stage, to_stage FROM crm.quote_status_history WHERE quote_id = 1;
RESET crm.default_tax_rate;
RESET crm.quote_valid_days;
SHOW crm.quote_valid_days;
SET crm.default_tax_rate = 1.5;
SET crm.quote_valid_days = 0;

-- create_quote refuses: no such deal, a deal without account, a lost deal
SELECT crm.create_quote(999);
INSERT INTO crm.deal (name, currency) VALUES ('nobody', 'CNY');
SELECT crm.create_quote(2);
INSERT INTO crm.deal (name, account_id, currency) VALUES ('gone', 2, 'CNY');
UPDATE crm.deal SET stage = 'lost', lost_reason = 'budget' WHERE id = 3;
SELECT crm.create_quote(3);
SELECT count(*) AS quotes FROM crm.quote;

-- bad lines, each refused, nothing changed
INSERT INTO crm.quote_item (quote_id, product_id, quantity) VALUES (1, 2, -1);
INSERT INTO crm.quote_item (quote_id, product_id, quantity) VALUES (1, 2, 0);
INSERT INTO crm.quote_item (quote_id, product_id, quantity, discount) VALUES (1, 2, 1, 1.5);
INSERT INTO crm.quote_item (quote_id, product_id, quantity, discount) VALUES (1, 2, 1, -0.1);
INSERT INTO crm.quote_item (quote_id, product_id, quantity, tax_rate) VALUES (1, 2, 1, 2);
UPDATE crm.quote_item SET discount = 2 WHERE id = 1;
INSERT INTO crm.quote_item (quote_id, product_id, quantity, unit_price) VALUES (1, 2, 1, -5);
INSERT INTO crm.quote_item (quote_id, product_id, quantity) VALUES (1, 3, 1);
INSERT INTO crm.quote_item (quote_id, currency, product_id, quantity) VALUES (1, 'USD', 3, 1);
UPDATE crm.quote SET currency = 'USD' WHERE id = 1;
UPDATE crm.quote SET deal_id = 2 WHERE id = 1;
SELECT count(*) AS lines, sum(net_amount) AS net FROM crm.quote_item WHERE quote_id = 1;
SELECT net_total, tax_total, gross_total, currency FROM crm.quote WHERE id = 1;

-- a draft is edited freely; totals follow the lines
UPDATE crm.quote_item SET quantity = 41 WHERE id = 2;
INSERT INTO crm.quote_item (quote_id, product_id, quantity, unit_price, description, tax_rate)
VALUES (1, 2, 1, 0, '赠品 (free)', 0);
SELECT net_total, tax_total, gross_total FROM crm.quote WHERE id = 1;
DELETE FROM crm.quote_item WHERE description LIKE '赠品%';
UPDATE crm.quote_item SET quantity = 40 WHERE id = 2;
SELECT net_total, tax_total, gross_total FROM crm.quote WHERE id = 1;

-- sending: not without lines, not past its validity
INSERT INTO crm.quote (deal_id) VALUES (1) RETURNING id AS empty_quote, status, currency, account_id \gset
\echo :empty_quote :status :currency :account_id
SELECT crm.send_quote(:empty_quote);
UPDATE crm.quote SET valid_until = current_date - 1 WHERE id = 1;
SELECT * FROM pg_temp.try('SELECT crm.send_quote(1)');
UPDATE crm.quote SET valid_until = current_date + 30 WHERE id = 1;
INSERT INTO crm.quote (deal_id, status) VALUES (1, 'sent');
SELECT crm.send_quote(998);
SELECT crm.send_quote(1);
SELECT status, closed_at FROM crm.quote WHERE id = 1;

-- a sent quote keeps its lines, customer and amounts; its validity may change
UPDATE crm.quote_item SET quantity = 1 WHERE quote_id = 1;
INSERT INTO crm.quote_item (quote_id, product_id, quantity) VALUES (1, 2, 1);
DELETE FROM crm.quote_item WHERE quote_id = 1;
UPDATE crm.quote SET gross_total = 1, account_id = 2 WHERE id = 1;
DELETE FROM crm.quote WHERE id = 1;
UPDATE crm.quote SET valid_until = current_date + 31, notes = '延期一天' WHERE id = 1;
SELECT valid_until - current_date AS valid_days, notes, gross_total FROM crm.quote WHERE id = 1;
DELETE FROM crm.quote WHERE id = :empty_quote;
SELECT count(*) AS history_left FROM crm.quote_status_history WHERE quote_id = :empty_quote;

-- accepting: a draft, a rejected and an expired quote are refused
SELECT crm.create_quote(1) AS draft_quote \gset
INSERT INTO crm.quote_item (quote_id, product_id, quantity) VALUES (:draft_quote, 1, 1);
SELECT crm.accept_quote(:draft_quote);
SELECT crm.send_quote(:draft_quote);
SELECT crm.reject_quote(:draft_quote, NULL);
SELECT crm.reject_quote(:draft_quote, '价格太高');
SELECT * FROM pg_temp.try('SELECT crm.accept_quote(' || :draft_quote || ')');
SELECT status, rejection_reason, closed_at IS NOT NULL AS closed FROM crm.quote WHERE id = :draft_quote;
UPDATE crm.quote SET status = 'sent' WHERE id = :draft_quote;
UPDATE crm.quote SET valid_until = current_date + 60 WHERE id = :draft_quote;
SELECT crm.create_quote(1) AS late_quote \gset
SELECT crm.send_quote(:late_quote);
UPDATE crm.quote SET valid_until = current_date - 1 WHERE id = :late_quote;
SELECT * FROM pg_temp.try('SELECT crm.accept_quote(' || :late_quote || ')');
SELECT status FROM crm.quote WHERE id = :late_quote;
SELECT crm.expire_quotes() AS expired;
SELECT * FROM pg_temp.try('SELECT crm.accept_quote(' || :late_quote || ')');
SELECT status, closed_at IS NOT NULL AS closed FROM crm.quote WHERE id = :late_quote;
SELECT crm.accept_quote(997);
SELECT d.stage, (SELECT count(*) FROM crm.sales_order) AS orders FROM crm.deal d WHERE d.id = 1;

-- accept_quote wins the deal along the allowed moves (lead > qualified >
-- negotiation > won here) and creates the order with the quote's lines
SELECT crm.accept_quote(1) AS order_id;
SELECT name, stage, closed_at IS NOT NULL AS closed FROM crm.deal WHERE id = 1;
SELECT from_stage, to_stage FROM crm.deal_stage_history WHERE deal_id = 1 ORDER BY id;
SELECT status, closed_at IS NOT NULL AS closed FROM crm.quote WHERE id = 1;
SELECT id, quote_id, deal_id, account_id, contact_id, status, currency, net_total, tax_total, gross_total,
       delivered_at, closed_at
  FROM crm.sales_order;
SELECT sales_order_id, product_id, description, quantity, unit_price, discount, tax_rate, net_amount, gross_amount
  FROM crm.sales_order_item ORDER BY id;
SELECT from_stage, to_stage FROM crm.sales_order_status_history WHERE sales_order_id = 1;
-- once only: the quote, and the deal
SELECT * FROM pg_temp.try('SELECT crm.accept_quote(1)');
SELECT crm.create_quote(1) AS second_quote \gset
SELECT crm.send_quote(:second_quote);
SELECT crm.accept_quote(:second_quote);
UPDATE crm.quote SET status = 'accepted' WHERE id = :second_quote;
SELECT count(*) AS orders FROM crm.sales_order;

-- a won deal stays won; a lost one is refused; no way to won refuses, nothing changes
INSERT INTO crm.deal (name, account_id, currency) VALUES ('won already', 1, 'CNY') RETURNING id AS won_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:won_deal, 2, 2);
SELECT crm.create_quote(:won_deal) AS q \gset
SELECT crm.send_quote(:q);
UPDATE crm.deal SET stage = 'qualified' WHERE id = :won_deal;
UPDATE crm.deal SET stage = 'negotiation' WHERE id = :won_deal;
UPDATE crm.deal SET stage = 'won' WHERE id = :won_deal;
SELECT crm.accept_quote(:q) AS order_id;
SELECT count(*) AS history_rows FROM crm.deal_stage_history WHERE deal_id = :won_deal;
INSERT INTO crm.deal (name, account_id, currency) VALUES ('lost later', 1, 'CNY') RETURNING id AS lost_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:lost_deal, 2, 2);
SELECT crm.create_quote(:lost_deal) AS q \gset
SELECT crm.send_quote(:q);
UPDATE crm.deal SET stage = 'lost', lost_reason = '选择了竞争对手' WHERE id = :lost_deal;
SELECT crm.accept_quote(:q);
SELECT status FROM crm.quote WHERE id = :q;
SELECT crm.create_pipeline('no way to win', ARRAY['a', 'b']) AS dead_end \gset
DELETE FROM crm.stage_transition WHERE pipeline_id = :dead_end AND to_stage = 'won';
INSERT INTO crm.deal (name, account_id, currency, pipeline_id) VALUES ('stuck', 1, 'CNY', :dead_end)
RETURNING id AS stuck_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:stuck_deal, 2, 1);
SELECT crm.create_quote(:stuck_deal) AS q \gset
SELECT crm.send_quote(:q);
SELECT crm.accept_quote(:q);
SELECT d.stage, q.status, (SELECT count(*) FROM crm.sales_order o WHERE o.quote_id = q.id) AS orders
  FROM crm.deal d JOIN crm.quote q ON q.deal_id = d.id WHERE d.id = :stuck_deal;
-- the engine's required fields hold on the walk too
SELECT crm.create_pipeline('在线教育销售', ARRAY['新线索', '潜在客户', '谈判中'], '成交', '流失') AS edu \gset
UPDATE crm.stage SET required_fields = '{expected_close_date}' WHERE pipeline_id = :edu AND key = '谈判中';
INSERT INTO crm.deal (name, account_id, currency, pipeline_id) VALUES ('课程', 1, 'CNY', :edu) RETURNING id AS edu_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:edu_deal, 1, 1);
SELECT crm.create_quote(:edu_deal) AS q \gset
SELECT crm.send_quote(:q);
SELECT crm.accept_quote(:q);
SELECT stage FROM crm.deal WHERE id = :edu_deal;
UPDATE crm.deal SET expected_close_date = current_date WHERE id = :edu_deal;
SELECT crm.accept_quote(:q) > 0 AS accepted;
SELECT from_stage, to_stage FROM crm.deal_stage_history WHERE deal_id = :edu_deal ORDER BY id;

-- orders: lines change only while confirmed; cancel needs a reason and happens before delivery
INSERT INTO crm.sales_order (deal_id) VALUES (:won_deal) RETURNING id AS direct_order, account_id, currency, status \gset
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (:direct_order, 1, -2);
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity, discount) VALUES (:direct_order, 1, 2, 1.01);
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (:direct_order, 3, 2);
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (:direct_order, 1, 2);
SELECT net_total, tax_total, gross_total FROM crm.sales_order WHERE id = :direct_order;
INSERT INTO crm.sales_order (quote_id) VALUES (:draft_quote);
INSERT INTO crm.sales_order (deal_id, status) VALUES (:won_deal, 'delivered');
SELECT crm.cancel_order(:direct_order, NULL);
SELECT crm.cancel_order(:direct_order, '客户取消');
SELECT status, cancel_reason, closed_at IS NOT NULL AS closed FROM crm.sales_order WHERE id = :direct_order;
SELECT * FROM pg_temp.try('SELECT crm.deliver_order(' || :direct_order || ')');
UPDATE crm.sales_order_item SET quantity = 3 WHERE sales_order_id = :direct_order;
SELECT crm.cancel_order(996, 'x');
SELECT crm.deliver_order(996);

-- delivery: a delivered order keeps its lines, cannot be cancelled, completes when paid
UPDATE crm.sales_order SET status = 'delivered' WHERE id = 1;
SELECT * FROM pg_temp.try($$UPDATE crm.sales_order SET status = 'delivered', delivered_at = now() + interval '1 day' WHERE id = 1$$);
SELECT crm.deliver_order(1) AS status;
SELECT status, delivered_at IS NOT NULL AS delivered, closed_at FROM crm.sales_order WHERE id = 1;
SELECT * FROM pg_temp.try('SELECT crm.deliver_order(1)');
SELECT crm.cancel_order(1, 'too late');
UPDATE crm.sales_order SET status = 'completed' WHERE id = 1;
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (1, 2, 1);
DELETE FROM crm.sales_order WHERE id = 1;
SELECT from_stage, to_stage FROM crm.sales_order_status_history WHERE sales_order_id = 1 ORDER BY id;

-- reports: monthly sales and product sales leave cancelled orders out
SELECT month = date_trunc('month', now())::date AS this_month, currency, orders, customers, net_total, tax_total,
       gross_total, average_order_net, delivered_orders
  FROM crm.monthly_sales;
SELECT sku, name, currency, orders, quantity, net_total, gross_total, average_discount FROM crm.product_sales ORDER BY sku;

-- privileges: crm_user works through the API, crm_reader only reads
CREATE ROLE regress_sales_rep IN ROLE crm_user;
CREATE ROLE regress_sales_bi IN ROLE crm_reader;
SET ROLE regress_sales_rep;
INSERT INTO crm.deal (name, account_id, currency) VALUES ('rep deal', 1, 'CNY') RETURNING id AS rep_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) VALUES (:rep_deal, 2, 3);
SELECT crm.create_quote(:rep_deal) AS q \gset
SELECT crm.send_quote(:q);
SELECT crm.accept_quote(:q) AS rep_order \gset
SELECT crm.issue_invoice(:rep_order) AS rep_invoice \gset
SELECT crm.record_payment(:rep_invoice, 10) > 0 AS paid;
SELECT q.owner = current_user AS quote_mine, i.owner = current_user AS invoice_mine, i.status
  FROM crm.quote q, crm.invoice i WHERE q.id = :q AND i.id = :rep_invoice;
UPDATE crm.pipeline SET name = 'mine' WHERE name = 'quote';
UPDATE crm.invoice_number_counter SET last_number = 0;
SELECT crm.take_invoice_number();
SET ROLE regress_sales_bi;
SELECT count(*) > 0 AS reads FROM crm.sales_order;
SELECT count(*) > 0 AS reads FROM crm.monthly_sales;
SELECT crm.create_quote(1);
INSERT INTO crm.quote (deal_id) VALUES (1);
RESET ROLE;
DROP ROLE regress_sales_rep, regress_sales_bi;

\c :regress_db
DROP DATABASE crm_regress_sales;
