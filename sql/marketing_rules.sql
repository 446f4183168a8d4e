-- marketing_rules: crm.customer_value (RFM with ties) and its segment map,
-- crm.association_rules (definitions, NULLs, repeated items, every bad
-- argument, the memory limit, the caller's privileges), product rules and
-- crm.recommend_products.
\set test_db crm_regress_marketing_rules
\i sql/marketing_setup.inc

-- the seeded segment map covers every (R, FM) cell exactly once
SELECT r, string_agg(fm || ':' || (SELECT string_agg(m.segment, '+' ORDER BY m.id) FROM crm.rfm_segment_map m
                                    WHERE r BETWEEN m.r_min AND m.r_max AND fm BETWEEN m.fm_min AND m.fm_max), ' '
                     ORDER BY fm) AS cells
  FROM generate_series(5, 1, -1) r, generate_series(1, 5) fm GROUP BY r ORDER BY r DESC;
SELECT * FROM pg_temp.try($$INSERT INTO crm.rfm_segment_map (segment, r_min, r_max, fm_min, fm_max) VALUES ('x', 0, 5, 1, 5)$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.rfm_segment_map (segment, r_min, r_max, fm_min, fm_max) VALUES ('x', 4, 3, 1, 5)$$);

-- customer value: one row per person and currency; cancelled orders and
-- orders without a contact do not count; ties share a score
INSERT INTO crm.account (name) VALUES ('智学在线 B2B');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
    ('PY-101', 'Python 入门', 100, 'CNY'), ('DA-201', '数据分析实战', 200, 'CNY'), ('ML-301', '机器学习', 300, 'CNY'),
    ('WEB-110', 'Web 开发', 150, 'CNY'), ('EN-100', 'English', 50, 'USD'), ('OLD-1', '停售课程', 10, 'CNY');
UPDATE crm.product SET active = false WHERE sku = 'OLD-1';
INSERT INTO crm.contact (name, email, account_id)
SELECT 'learner ' || g, 'learner' || g || '@example.com', 1 FROM generate_series(1, 8) g;
-- (contact, days ago, product): learner 1 and 2 tie on everything
INSERT INTO crm.sales_order (account_id, contact_id, currency, created_at)
SELECT 1, c, cur, now() - make_interval(days => d)
  FROM (VALUES (1, 10, 'CNY'), (1, 40, 'CNY'), (2, 10, 'CNY'), (2, 40, 'CNY'), (3, 5, 'CNY'), (4, 200, 'CNY'),
               (4, 300, 'CNY'), (4, 400, 'CNY'), (5, 90, 'CNY'), (6, 1, 'USD'), (6, 50, 'CNY'), (7, 2, 'CNY'),
               (8, 20, 'CNY'), (NULL, 3, 'CNY')) AS o(c, d, cur)
 ORDER BY d DESC;
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
SELECT o.id, p.id, 1
  FROM crm.sales_order o
  JOIN (VALUES (1, 'PY-101'), (1, 'DA-201'), (2, 'PY-101'), (2, 'DA-201'), (3, 'PY-101'), (3, 'DA-201'),
               (4, 'PY-101'), (4, 'ML-301'), (5, 'PY-101'), (6, 'EN-100'), (6, 'PY-101'), (7, 'DA-201'),
               (7, 'WEB-110'), (7, 'OLD-1'), (8, 'DA-201')) AS l(c, sku)
    ON l.c = o.contact_id
  JOIN crm.product p ON p.sku = l.sku AND p.currency = o.currency;
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
SELECT o.id, 1, 3 FROM crm.sales_order o WHERE o.contact_id IS NULL;
UPDATE crm.sales_order SET status = 'cancelled', cancel_reason = 'refund' WHERE contact_id = 7;
SELECT contact_id, currency, orders, revenue, recency_days, r_score, f_score, m_score, rfm_segment,
       first_order_at < last_order_at OR orders = 1 AS ordered
  FROM crm.customer_value ORDER BY currency, contact_id;
-- an edited map changes the segment
UPDATE crm.rfm_segment_map SET segment = 'vip' WHERE segment = 'champions';
SELECT DISTINCT rfm_segment FROM crm.customer_value WHERE r_score = 5 AND (f_score + m_score + 1) / 2 >= 4;
UPDATE crm.rfm_segment_map SET segment = 'champions' WHERE segment = 'vip';

-- association rules: definitions on a hand-checked example; NULL baskets
-- and items ignored, an item counted once per basket
SELECT * FROM crm.association_rules($$
    VALUES (1, 'a'), (1, 'b'), (1, 'b'), (2, 'a'), (2, 'c'), (3, 'a'), (3, 'b'), (4, NULL), (NULL, 'a'), (5, 'c'),
           (5, 'c')$$, 0, 0);
SELECT * FROM crm.association_rules($$VALUES (1, 'a'), (1, 'b'), (2, 'a'), (2, 'c'), (3, 'a'), (3, 'b'), (5, 'c')$$,
                                    0.5, 0.9);
-- baskets and items of any type, compared as text
SELECT antecedent, consequent, basket_count FROM crm.association_rules(
    $$SELECT b::numeric, i::date FROM (VALUES (1.0, '2024-01-01'), (1.0, '2024-01-02'), (1.00, '2024-01-01'),
                                             (1.00, '2024-01-02')) v(b, i)$$, 0, 0);
SELECT count(*) AS no_rows FROM crm.association_rules($$SELECT 1, 2 WHERE false$$);
SELECT count(*) AS single_items FROM crm.association_rules($$VALUES (1, 'a'), (2, 'b')$$, 0, 0);
-- bad arguments
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2)', 'NaN', 0.1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2)', -0.1, 0.1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2)', 1.5, 0.1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2)', 0.1, 1.01)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2)', 0.1, -1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2)', 0.1, 'NaN')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2)', NULL, 0.1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1)')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('VALUES (1, 2, 3)')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('SELECT 1, 2; SELECT 3, 4')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('DELETE FROM crm.product RETURNING id, sku')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('SELEC 1, 2')$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules(
    'WITH d AS (DELETE FROM crm.product RETURNING id, sku) SELECT * FROM d')$$);
SELECT count(*) AS products_kept FROM crm.product;
SELECT count(*) AS trailing_semicolon_ok FROM crm.association_rules('VALUES (1, 2), (1, 3);', 0, 0);
-- the pair counts must fit in work_mem
SET work_mem = '64kB';
SELECT * FROM pg_temp.try($$SELECT count(*) FROM crm.association_rules(
    'SELECT g / 3, (g * 7919) % 5000 FROM generate_series(1, 30000) g', 0, 0)$$);
-- ... which raising min_support fixes: only frequent items' pairs are counted
SELECT count(*) AS rules FROM crm.association_rules(
    'SELECT g / 3, (g * 7919) % 5000 FROM generate_series(1, 30000) g', 0.001, 0);
RESET work_mem;
-- the query runs with the caller's privileges
CREATE ROLE regress_rules_bi LOGIN IN ROLE crm_reader;
SET ROLE regress_rules_bi;
SELECT count(*) > 0 AS reads_orders FROM crm.association_rules(
    'SELECT sales_order_id, product_id FROM crm.sales_order_item', 0, 0);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.association_rules('SELECT id, secret FROM crm.signing_secret')$$);
RESET ROLE;
DROP ROLE regress_rules_bi;

-- product rules: one basket per customer (a learner buys one course per order)
SELECT crm.refresh_product_rules(0.2, 0.5) AS rules;
SELECT a.sku AS antecedent, c.sku AS consequent, round(r.support::numeric, 4) AS support,
       round(r.confidence::numeric, 4) AS confidence, round(r.lift::numeric, 4) AS lift, r.basket_count
  FROM crm.product_rule r JOIN crm.product a ON a.id = r.antecedent_id JOIN crm.product c ON c.id = r.consequent_id
 ORDER BY 1, 2;
-- recommendations: the strongest rule from what they bought, then best sellers; never what they own
SELECT c.id, r.n, r.sku, r.name, round(r.score::numeric, 4) AS score
  FROM crm.contact c, LATERAL crm.recommend_products(c.id, 3) WITH ORDINALITY r(product_id, sku, name, score, n)
 ORDER BY c.id, r.n;
SELECT sku FROM crm.recommend_products(5, 1);
SELECT count(*) AS none FROM crm.recommend_products(5, 0);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.recommend_products(999)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.recommend_products(1, -1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.recommend_products(NULL)$$);

\c :regress_db
DROP DATABASE :test_db;
