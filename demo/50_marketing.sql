-- demo/50_marketing.sql: 智学在线's audience.  Forty individual learners who
-- view courses, sign up for trials and buy courses over the past year;
-- their consent; RFM segments from their purchases; a segment "bought
-- Python 入门, not 数据分析实战, active in the last 30 days" refreshed as
-- its owner; association rules between courses; each person's
-- recommendations, and a marketing email listing them (Mustache), queued
-- only for those who agreed to hear from us.
\pset footer off
SET client_min_messages = warning;

\echo
\echo '=== Marketing: 智学在线''s learners, their behaviour and purchases ==='
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
    ('ML-401', '机器学习进阶', 3999, 'CNY'),
    ('SQL-110', 'SQL 数据库基础', 999, 'CNY'),
    ('VIS-210', '数据可视化', 1599, 'CNY');
UPDATE crm.product SET name = 'Python 入门' WHERE sku = 'PY-101';

-- forty learners buying for themselves: people with no account (a customer
-- is an account or a person), a few abroad
SELECT setseed(0.1011) AS seeded \gset
INSERT INTO crm.contact (name, email, time_zone, attributes)
SELECT s.surname || g.given, 'learner' || n || '@mail.example.cn',
       CASE WHEN n % 13 = 0 THEN 'Europe/Berlin' WHEN n % 17 = 0 THEN 'America/Los_Angeles' END,
       jsonb_build_object('city', (ARRAY['北京', '上海', '杭州', '深圳', '成都'])[1 + n % 5])
  FROM generate_series(1, 40) n,
       LATERAL (SELECT (ARRAY['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '周', '吴'])[1 + n % 10] AS surname) s,
       LATERAL (SELECT (ARRAY['伟', '芳', '娜', '敏', '静', '磊', '洋', '婷', '杰', '欣', '涛', '颖'])[1 + (n * 7) % 12]
                       AS given) g;
CREATE TEMP TABLE learner AS
SELECT c.id, c.email, (row_number() OVER (ORDER BY c.id))::int AS n
  FROM crm.contact c WHERE c.email LIKE 'learner%@mail.example.cn';

-- what they bought: learners follow paths (Python first, then data
-- analysis or the web, then machine learning); each course is one order
CREATE TEMP TABLE purchase AS
WITH path AS (
    SELECT l.id, l.n, p.step, p.sku, random() AS r
      FROM learner l,
           LATERAL (SELECT * FROM unnest(
               CASE l.n % 4 WHEN 0 THEN ARRAY['PY-101', 'DA-201', 'ML-401', 'VIS-210']
                            WHEN 1 THEN ARRAY['PY-101', 'DA-201', 'VIS-210']
                            WHEN 2 THEN ARRAY['PY-101', 'WEB-301', 'SQL-110']
                            ELSE ARRAY['SQL-110', 'PY-101', 'DA-201', 'ML-401'] END)
                    WITH ORDINALITY AS t(sku, step)) p
)
SELECT id, sku, step, now() - make_interval(days => greatest(1, 330 - (n % 6) * 45 - step * (20 + 50 * r))::int)
       AS bought_at
  FROM path
 WHERE step <= 1 + (n * 3) % 4 AND n % 9 <> 0;              -- some stop early; every 9th never bought
DO $$
DECLARE p record; new_id bigint;
BEGIN
    FOR p IN SELECT * FROM purchase ORDER BY bought_at LOOP
        INSERT INTO crm.sales_order (contact_id, currency, created_at)
        VALUES (p.id, 'CNY', p.bought_at)
        RETURNING id INTO new_id;
        INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
        SELECT new_id, pr.id, 1 FROM crm.product pr WHERE pr.sku = p.sku;
    END LOOP;
END $$;

-- behaviour, from the web app: course views and trial signups
SELECT count(*) AS events_tracked
  FROM learner l,
       LATERAL generate_series(1, 2 + (l.n * 5) % 7) k,
       LATERAL crm.track(l.email,
                         CASE WHEN k % 4 = 0 THEN 'trial_signup' ELSE 'course_view' END,
                         jsonb_build_object('sku', (ARRAY['PY-101', 'DA-201', 'ML-401', 'WEB-301', 'SQL-110', 'VIS-210'])
                                                   [1 + (l.n + k) % 6]),
                         now() - make_interval(days => ((l.n * 11 + k * 17) % (CASE WHEN l.n % 2 = 0 THEN 29 ELSE 150 END) + CASE WHEN l.n % 2 = 0 THEN 0 ELSE 31 END)::int,
                                               hours => k::int)) AS t;
-- consent: most agreed when they signed up; two said no
SELECT count(*) AS consents_granted FROM learner l,
       LATERAL crm.grant_consent(l.id, 'marketing', 'signup form', jsonb_build_object('form', 'trial')) g
 WHERE l.n % 5 <> 0;
SELECT crm.withdraw_consent(id, 'marketing', 'preference centre') > 0 AS withdrew FROM learner WHERE n IN (4, 8);
SELECT count(*) AS learners, count(*) FILTER (WHERE marketing_consent = 'granted') AS consent_granted,
       count(*) FILTER (WHERE orders > 0) AS buyers, sum(orders) AS orders, sum(revenue) AS revenue
  FROM crm.contact_profile WHERE email LIKE 'learner%@mail.example.cn';

\echo
\echo '--- RFM: recency, frequency and money scored 1-5 within the currency (ties share a score) ---'
SELECT rfm_segment, count(*) AS people, round(avg(orders), 1) AS avg_orders, round(avg(revenue)) AS avg_revenue,
       round(avg(recency_days)) AS avg_days_since_last
  FROM crm.customer_value v JOIN learner l ON l.id = v.contact_id
 GROUP BY rfm_segment ORDER BY min(r_score * 10 + (f_score + m_score + 1) / 2) DESC;
SELECT c.name, v.orders, v.revenue, v.recency_days, v.r_score, v.f_score, v.m_score, v.rfm_segment
  FROM crm.customer_value v JOIN crm.contact c ON c.id = v.contact_id JOIN learner l ON l.id = c.id
 ORDER BY v.r_score DESC, v.m_score DESC, c.id LIMIT 8;

\echo
\echo '--- A segment: bought Python 入门, not 数据分析实战, active in the last 30 days ---'
SELECT crm.create_segment('python_not_da', 'Python 入门 learners ready for 数据分析实战',
       $$'PY-101' = ANY (skus_bought) AND 'DA-201' <> ALL (skus_bought)
         AND last_seen_at > now() - interval '30 days'$$) AS segment_id;
SELECT * FROM crm.refresh_segment('python_not_da');
SELECT p.name, p.skus_bought, now()::date - p.last_seen_at::date AS days_since_seen, p.events_30d, p.marketing_consent
  FROM crm.segment_member m JOIN crm.segment s ON s.id = m.segment_id JOIN crm.contact_profile p ON p.id = m.contact_id
 WHERE s.key = 'python_not_da' ORDER BY p.id;
\echo '(a learner buys 数据分析实战: the next refresh moves them out, with a segment_exited event)'
SELECT m.contact_id AS buyer FROM crm.segment_member m JOIN crm.segment s ON s.id = m.segment_id
 WHERE s.key = 'python_not_da' ORDER BY m.contact_id LIMIT 1 \gset
\echo '(the whole sales process, for a person with no account: deal, quote, order, invoice, payment)'
INSERT INTO crm.deal (name, contact_id, currency, owner)
SELECT name || ' · 数据分析实战', id, 'CNY', '李娜' FROM crm.contact WHERE id = :buyer RETURNING id AS da_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) SELECT :da_deal, id, 1 FROM crm.product WHERE sku = 'DA-201';
UPDATE crm.deal SET stage = '潜在客户' WHERE id = :da_deal;
UPDATE crm.deal SET stage = '谈判中', expected_close_date = current_date + 3 WHERE id = :da_deal;
SELECT crm.create_quote(:da_deal) AS da_quote \gset
SELECT crm.send_quote(:da_quote) IS NOT NULL AS quote_sent;
SELECT crm.accept_quote(:da_quote) AS da_order \gset
SELECT crm.issue_invoice(:da_order) AS da_invoice \gset
SELECT crm.record_payment(:da_invoice, gross_total, now(), '支付宝') > 0 AS paid FROM crm.invoice WHERE id = :da_invoice;
SELECT i.number, i.account_id, c.name AS billed_to, i.status, i.gross_total
  FROM crm.invoice i JOIN crm.contact c ON c.id = i.contact_id WHERE i.id = :da_invoice;
SELECT template_key, category, to_address FROM crm.email_outbox
 WHERE template_key IN ('invoice_issued', 'payment_received') AND contact_id = :buyer ORDER BY id;
SELECT * FROM crm.refresh_segment('python_not_da');
SELECT e.kind, e.properties - 'deal_id' - 'order_id' - 'invoice_id' AS properties FROM crm.event e
 WHERE e.contact_id = :buyer AND (e.kind LIKE 'segment_%' OR e.kind IN ('deal_stage', 'order_confirmed', 'invoice_paid'))
   AND e.occurred_at > now() - interval '1 hour'
 ORDER BY e.id;

\echo
\echo '--- Association rules between courses: each learner''s purchases are one basket ---'
SELECT a.name AS bought, c.name AS also_bought, round(r.support::numeric, 3) AS support,
       round(r.confidence::numeric, 3) AS confidence, round(r.lift::numeric, 2) AS lift, r.basket_count AS learners
  FROM crm.association_rules('SELECT customer, product_id FROM crm.customer_product', 0.1, 0.5) r
  JOIN crm.product a ON a.id = r.antecedent::bigint JOIN crm.product c ON c.id = r.consequent::bigint
 ORDER BY r.confidence DESC, r.lift DESC, a.sku, c.sku LIMIT 12;

\echo
\echo '--- Recommendations: the strongest rule from what each bought, then best sellers ---'
SELECT crm.refresh_product_rules(0.05, 0.3) AS rules_kept;
SELECT c.name, (SELECT string_agg(p.sku, ', ' ORDER BY p.sku) FROM crm.customer_product cp
                  JOIN crm.product p ON p.id = cp.product_id WHERE cp.contact_id = c.id) AS bought,
       string_agg(r.name || ' (' || round(r.score::numeric, 2) || ')', '、' ORDER BY r.n) AS recommended
  FROM learner l JOIN crm.contact c ON c.id = l.id,
       LATERAL crm.recommend_products(c.id, 2) WITH ORDINALITY AS r(product_id, sku, name, score, n)
 WHERE l.n <= 12
 GROUP BY c.id, c.name ORDER BY c.id;

\echo
\echo '--- A marketing email listing each segment member''s recommendations (Mustache sections) ---'
INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
('course_recommendations',
 '{{name}}，{{#courses.0}}为你推荐「{{courses.0.name}}」{{/courses.0}}{{^courses}}本月新课{{/courses}}',
 E'{{name}}，你好：\n\n根据你学过的课程，这些课程也许适合你：\n'
 || E'{{#courses}}\n'
 || E'  · {{name}}（{{sku}}）\n'
 || E'{{/courses}}\n'
 || E'\n智学在线\n',
 '<p>{{name}}，你好：</p><p>根据你学过的课程，这些课程也许适合你：</p>'
 || '<ul>{{#courses}}<li><b>{{name}}</b>（{{sku}}）</li>{{/courses}}</ul><p>智学在线</p>',
 'marketing');
SELECT p.name, p.marketing_consent,
       crm.send_template('course_recommendations', p.email,
           jsonb_build_object('name', p.name,
                              'courses', (SELECT jsonb_agg(jsonb_build_object('name', r.name, 'sku', r.sku))
                                            FROM crm.recommend_products(p.id, 2) r)),
           'recommendations:' || p.id || ':' || to_char(now(), 'YYYY-MM')) AS email_id
  FROM crm.segment_member m JOIN crm.segment s ON s.id = m.segment_id JOIN crm.contact_profile p ON p.id = m.contact_id
 WHERE s.key = 'python_not_da' ORDER BY p.id;
\echo '(no email_id: no marketing consent, so nothing was queued)'
SELECT subject, body_text FROM crm.email_outbox WHERE template_key = 'course_recommendations' ORDER BY id LIMIT 1;

\echo
\echo '--- Unsubscribing stops marketing email only; the invoice still reaches them ---'
SELECT p.email AS unsubscriber FROM crm.contact_profile p JOIN learner l ON l.id = p.id
 WHERE p.marketing_consent = 'granted' ORDER BY p.id LIMIT 1 \gset
SELECT crm.unsubscribe(:'unsubscriber') AS unsubscribed;
SELECT crm.send_template('course_recommendations', :'unsubscriber', '{"name": "x", "courses": []}') IS NULL
       AS marketing_suppressed,
       crm.send_email(:'unsubscriber', '发票已开具', '您的发票已开具。') IS NOT NULL AS transactional_queued;
SELECT kind, source FROM crm.event e JOIN crm.contact c ON c.id = e.contact_id
 WHERE c.email = :'unsubscriber' AND e.kind = 'unsubscribed';
