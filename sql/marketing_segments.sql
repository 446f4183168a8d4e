-- marketing_segments: crm.contact_profile, crm.create_segment (every way a
-- definition is refused), evaluation with the owner's privileges,
-- crm.refresh_segment by difference with its events, refresh_due_segments.
\set test_db crm_regress_marketing_segments
\i sql/marketing_setup.inc

-- 智学在线's learners: purchases, events, consent
INSERT INTO crm.account (name, time_zone) VALUES ('华夏教育', 'Asia/Shanghai');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
    ('PY-101', 'Python 入门', 199, 'CNY'), ('DA-201', '数据分析实战', 399, 'CNY'), ('ML-301', '机器学习', 599, 'CNY');
INSERT INTO crm.contact (name, email, account_id, time_zone) VALUES
    ('王芳', 'wang.fang@example.com', 1, NULL),
    ('李娜', 'li.na@example.com', 1, 'Europe/Berlin'),
    ('张伟', 'zhang.wei@example.com', 1, NULL),
    ('赵敏', 'zhao.min@example.com', 1, NULL);
INSERT INTO crm.sales_order (account_id, contact_id, currency, created_at)
VALUES (1, 1, 'CNY', now() - interval '40 days'), (1, 1, 'CNY', now() - interval '5 days'),
       (1, 2, 'CNY', now() - interval '3 days'), (1, 3, 'CNY', now() - interval '100 days');
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
VALUES (1, 1, 1), (2, 3, 1), (3, 1, 1), (4, 1, 1), (4, 3, 1);
SELECT crm.track('wang.fang@example.com', 'course_view', '{"sku": "ML-301"}');
SELECT crm.track('li.na@example.com', 'course_view', '{"sku": "DA-201"}');
SELECT crm.track('li.na@example.com', 'course_view', '{"sku": "ML-301"}');
SELECT crm.track('zhang.wei@example.com', 'course_view', '{}', now() - interval '60 days');
SELECT crm.grant_consent(1), crm.withdraw_consent(3);

-- the profile: one row per person
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'crm' AND table_name = 'contact_profile' ORDER BY ordinal_position;
SELECT id, name, account_name, time_zone, marketing_consent, orders, revenue, last_order_at IS NOT NULL AS bought,
       r_score, f_score, m_score, rfm_segment, skus_bought, last_seen_at IS NOT NULL AS seen, events_30d
  FROM crm.contact_profile ORDER BY id;
-- what crm writes about a person (segment changes, email delivery, deal moves) is not them being seen
INSERT INTO crm.event (contact_id, kind, source) VALUES (4, 'segment_entered', 'segment'), (4, 'email_sent', 'mail'),
    (4, 'deal_stage', 'pipeline');
SELECT last_seen_at IS NULL AS not_seen, events_30d FROM crm.contact_profile WHERE id = 4;
INSERT INTO crm.event (contact_id, kind, source) VALUES (4, 'unsubscribed', 'consent');
SELECT last_seen_at IS NOT NULL AS seen FROM crm.contact_profile WHERE id = 4;
DELETE FROM crm.event WHERE contact_id = 4;
-- parts a query does not read are not computed (their joins are removed)
EXPLAIN (COSTS OFF) SELECT id FROM crm.contact_profile c WHERE c.attributes ? 'vip';

-- create_segment: the caller owns it
SELECT crm.create_segment('py_not_da', 'Python 入门, not 数据分析实战, active in 30 days',
       $$'PY-101' = ANY (skus_bought) AND 'DA-201' <> ALL (c.skus_bought) AND last_seen_at > now() - interval '30 days'$$)
       AS py_not_da;
SELECT key, name, owner = current_user AS mine, active, refresh_interval, refreshed_at FROM crm.segment;

-- refused definitions
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s1', 'n', 'orders >')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s2', 'n', 'orders + 1')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s3', 'n', 'true; DELETE FROM crm.event')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s4', 'n', 'orders > 1;')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s5', 'n', 'true) OR (true')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s6', 'n', 'true UNION SELECT true')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s7', 'n', 'true FROM crm.contact')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s8', 'n', 'orders > 1, true')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s9', 'n', 'true AS ok')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s10', 'n', 'random() < 0.5')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s11', 'n', 'nextval(''crm.event_id_seq'') > 0')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s12', 'n',
       'EXISTS (WITH d AS (DELETE FROM crm.event RETURNING 1) SELECT 1 FROM d)')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s13', 'n', 'no_such_column > 1')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s14', 'n', '')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('', 'n', 'true')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment(E'a\nb', 'n', 'true')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s15', ' ', 'true')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('s16', 'n', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('py_not_da', 'again', 'true')$$);
-- a comment cannot swallow what follows the definition
SELECT crm.create_segment('commented', 'with a comment', 'orders >= 1 -- buyers') > 0 AS created;
SELECT count(*) AS segments FROM crm.segment;

-- refresh by difference, with an event per change
SELECT * FROM crm.refresh_segment('py_not_da');
SELECT s.key, m.contact_id FROM crm.segment_member m JOIN crm.segment s ON s.id = m.segment_id ORDER BY 1, 2;
SELECT id AS li_membership, entered_at AS li_entered FROM crm.segment_member WHERE contact_id = 2 \gset
SELECT * FROM crm.refresh_segment('py_not_da');
-- 张伟 comes back (enters), 王芳 buys 数据分析实战 (exits), 李娜 stays
SELECT crm.track('zhang.wei@example.com', 'course_view') > 0 AS tracked;
INSERT INTO crm.sales_order (account_id, contact_id, currency) VALUES (1, 1, 'CNY');
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) VALUES (5, 2, 1);
SELECT * FROM crm.refresh_segment('py_not_da');
SELECT contact_id, kind, properties, source FROM crm.event WHERE kind LIKE 'segment_%' ORDER BY id;
SELECT contact_id FROM crm.segment_member WHERE segment_id = 1 ORDER BY 1;
-- people who stay keep their row
SELECT id = :li_membership AS same_row, entered_at = :'li_entered' AS same_entered_at
  FROM crm.segment_member WHERE contact_id = 2 AND segment_id = 1;
SELECT * FROM crm.refresh_segment('py_not_da');
SELECT refreshed_at IS NOT NULL AS refreshed FROM crm.segment WHERE key = 'py_not_da';
SELECT * FROM crm.refresh_segment('commented');
SELECT * FROM pg_temp.try($$SELECT * FROM crm.refresh_segment('no_such_segment')$$);

-- evaluated with the owner's privileges, whoever refreshes
CREATE ROLE regress_seg_rep LOGIN IN ROLE crm_user;
CREATE TABLE public.vip (contact_id bigint);
INSERT INTO public.vip VALUES (2);
GRANT SELECT ON public.vip TO regress_seg_rep;
SET ROLE regress_seg_rep;
-- a subquery on a table the owner cannot read is refused when created
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('secret', 'n', 'EXISTS (SELECT 1 FROM crm.signing_secret)')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_segment('authid', 'n', 'EXISTS (SELECT 1 FROM pg_authid)')$$);
SELECT crm.create_segment('vip', 'VIP learners', 'id IN (SELECT v.contact_id FROM public.vip v)') > 0 AS created;
SELECT owner FROM crm.segment WHERE key = 'vip';
SELECT * FROM crm.refresh_segment('vip');
-- a crm_user cannot make the worker or anyone else evaluate as someone else
SELECT * FROM pg_temp.try($$UPDATE crm.segment SET owner = 'postgres' WHERE key = 'vip'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.segment SET definition = 'true' WHERE key = 'vip'$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.segment (key, name, definition, owner) VALUES ('x', 'x', 'true', 'postgres')$$);
SELECT * FROM pg_temp.try($$DELETE FROM crm.segment_member$$);
UPDATE crm.segment SET refresh_interval = '1 hour', name = 'VIP' WHERE key = 'vip';
RESET ROLE;
-- once the owner loses the privilege, the superuser's refresh fails too
REVOKE SELECT ON public.vip FROM regress_seg_rep;
SELECT * FROM pg_temp.try($$SELECT * FROM crm.refresh_segment('vip')$$);
GRANT SELECT ON public.vip TO regress_seg_rep;
-- the definition's names resolve on a pinned search_path, not the caller's
CREATE FUNCTION public.coalesce_shadow() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE TABLE public.contact_profile (id bigint);
SET search_path = public, crm, pg_catalog;
SELECT * FROM crm.refresh_segment('vip');
RESET search_path;

-- refresh_due_segments: the worker's duty; a failure is kept and waits its turn
UPDATE crm.segment SET refreshed_at = NULL;
SELECT * FROM pg_temp.try($$SELECT crm.refresh_due_segments(0)$$);
SELECT crm.refresh_due_segments(2) AS refreshed;
SELECT crm.refresh_due_segments(10) AS refreshed;
SELECT crm.refresh_due_segments(10) AS nothing_due;
UPDATE crm.segment SET refreshed_at = now() - interval '2 hours' WHERE key = 'vip';
REVOKE SELECT ON public.vip FROM regress_seg_rep;
SELECT crm.refresh_due_segments(10) AS refreshed;
SELECT key, last_error, refreshed_at > now() - interval '1 minute' AS retried_later FROM crm.segment WHERE key = 'vip';
GRANT SELECT ON public.vip TO regress_seg_rep;
UPDATE crm.segment SET refreshed_at = now() - interval '2 hours' WHERE key = 'vip';
SELECT crm.refresh_due_segments(10) AS refreshed;
SELECT key, last_error FROM crm.segment WHERE key = 'vip';
UPDATE crm.segment SET active = false, refreshed_at = NULL;
SELECT crm.refresh_due_segments(10) AS inactive_not_refreshed;

-- a deleted segment takes its members with it
SELECT id AS commented_id FROM crm.segment WHERE key = 'commented' \gset
SELECT count(*) AS members FROM crm.segment_member WHERE segment_id = :commented_id;
DELETE FROM crm.segment WHERE key = 'commented';
SELECT count(*) AS members_left FROM crm.segment_member WHERE segment_id = :commented_id;
DROP TABLE public.vip, public.contact_profile;
DROP FUNCTION public.coalesce_shadow();
DROP OWNED BY regress_seg_rep;
DROP ROLE regress_seg_rep;

\c :regress_db
DROP DATABASE :test_db;
