-- journeys_campaigns: broadcast campaigns -- every way create, schedule and
-- cancel refuse, the audience snapshot and its groups, the keyset cursor
-- (a rolled-back batch leaves it where it was), throttling, the A/B winner,
-- the cap, and crm.campaign_results with orders, revenue and lift.
\set test_db crm_regress_journeys_campaigns
\i sql/marketing_setup.inc

INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
    ('spring_a', '春季课程 8 折', '{{name}}，春季课程 8 折。', '<p><a href="https://zx.example.cn/spring?v=a">看看</a></p>', 'marketing'),
    ('spring_b', '{{name}}，春季课程今天截止', '{{name}}，最后一天。', '<p><a href="https://zx.example.cn/spring?v=b">看看</a></p>', 'marketing'),
    ('spring_c', '春季课程', '{{name}}', NULL, 'marketing'),
    ('receipt', '收据', '谢谢', NULL, 'transactional');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('PY-101', 'Python 入门', 199, 'CNY');
-- 400 learners with consent, and three who cannot get marketing mail
INSERT INTO crm.contact (name, email) SELECT '学员' || g, 'learner' || g || '@example.cn' FROM generate_series(1, 400) g;
SELECT count(crm.grant_consent(id)) AS consents FROM crm.contact;
INSERT INTO crm.contact (name, email, attributes) VALUES
    ('无同意', 'no.consent@example.cn', '{}'), ('已退订', 'unsubscribed@example.cn', '{}'), ('无邮箱', NULL, '{}');
SELECT crm.grant_consent(402) > 0 AS granted, crm.unsubscribe('unsubscribed@example.cn') AS unsubscribed;
SELECT crm.create_segment('learners', 'All learners', 'true') > 0 AS segment;
SELECT * FROM crm.refresh_segment('learners');

-- refused campaigns
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'nope', 'spring_a')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'nope')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'receipt')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', NULL,
       '{"variants": [{"key": "A", "template_key": "spring_a"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', NULL,
       '{"variants": [{"key": "A", "template_key": "spring_a"}, {"key": "A", "template_key": "spring_b"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', NULL,
       '{"variants": [{"key": "A", "template_key": "spring_a"}, {"key": "B", "template": "spring_b"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', NULL,
       '{"variants": [{"key": "A", "template_key": "spring_a"}, {"key": "B", "template_key": "receipt"}]}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'spring_a', '{"holdout_percent": 100}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'spring_a', '{"test_percent": 0}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'spring_a', '{"winner_metric": "open"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'spring_a', '{"send_rate": 0}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'spring_a', '{"colour": "red"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign('c', 'n', 'learners', 'spring_a', '{"test_hours": "soon"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_campaign(E'a\nb', 'n', 'learners', 'spring_a')$$);
SELECT count(*) AS campaigns FROM crm.campaign;

-- scheduling: not in the past; a cancelled campaign stays cancelled
SELECT crm.create_campaign('plain', '春季', 'learners', 'spring_c') AS plain_id;
SELECT * FROM pg_temp.try($$SELECT crm.schedule_campaign('plain', now() - interval '1 minute')$$);
SELECT * FROM pg_temp.try($$SELECT crm.schedule_campaign('plain', NULL)$$);
SELECT * FROM pg_temp.try($$SELECT crm.schedule_campaign('nope', now())$$);
SELECT crm.schedule_campaign('plain', now() + interval '1 day');
SELECT crm.run_campaigns(100) AS done;         -- not yet
SELECT crm.cancel_campaign('plain') AS cancelled, crm.cancel_campaign('plain') AS again;
SELECT * FROM pg_temp.try($$SELECT crm.schedule_campaign('plain', now() + interval '1 day')$$);
SELECT status, finished_at IS NOT NULL AS finished FROM crm.campaign WHERE key = 'plain';

-- an A/B test with a holdout, throttled
SELECT crm.create_campaign('spring', '春季招生', 'learners', NULL, $${
    "variants": [{"key": "A", "template_key": "spring_a"}, {"key": "B", "template_key": "spring_b"}],
    "holdout_percent": 10, "test_percent": 50, "test_hours": 2, "winner_metric": "click", "send_rate": 600}$$) AS spring_id;
SELECT crm.schedule_campaign('spring', now());
-- the start: the audience is snapshotted (only people who may get marketing mail) and split
SELECT crm.run_campaigns(100) AS done;
SELECT status, phase, started_at IS NOT NULL AS started, cursor_key FROM crm.campaign WHERE key = 'spring';
SELECT grp, variant, status, count(*) FROM crm.campaign_recipient GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT count(*) AS ineligible_in_audience FROM crm.campaign_recipient WHERE contact_id > 400;
-- later members of the segment are not in the snapshot
INSERT INTO crm.contact (name, email) VALUES ('新学员', 'late@example.cn');
SELECT crm.grant_consent(404) > 0 AS granted;
SELECT * FROM crm.refresh_segment('learners');
-- throttled: 600 a minute is 10 a second; the bookkeeping is moved back 3 seconds instead of waiting
UPDATE crm.campaign SET throttled_until = now() - interval '3 seconds' WHERE key = 'spring';
SELECT crm.run_campaigns(100) AS done;
SELECT count(*) AS queued, max(contact_id) = (SELECT cursor_key FROM crm.campaign WHERE key = 'spring') AS cursor_at_last
  FROM crm.campaign_recipient WHERE status = 'queued';
-- a batch that rolls back (a crash) leaves the cursor and the outbox as they were
UPDATE crm.campaign SET throttled_until = now() - interval '1 minute' WHERE key = 'spring';
SELECT cursor_key AS cursor_before FROM crm.campaign WHERE key = 'spring' \gset
BEGIN;
SELECT crm.run_campaigns(50) AS done;
SELECT cursor_key > :cursor_before AS moved, (SELECT count(*) FROM crm.email_outbox) AS outbox FROM crm.campaign WHERE key = 'spring';
ROLLBACK;
SELECT cursor_key = :cursor_before AS unchanged, (SELECT count(*) FROM crm.email_outbox) AS outbox FROM crm.campaign WHERE key = 'spring';
-- the rest of the test group, no one twice
UPDATE crm.campaign SET throttled_until = now() - interval '1 minute' WHERE key = 'spring';
SELECT crm.run_campaigns(1000) AS done;
UPDATE crm.campaign SET throttled_until = now() - interval '1 minute' WHERE key = 'spring';
SELECT crm.run_campaigns(1000) AS done;
SELECT grp, variant, status, count(*) FROM crm.campaign_recipient WHERE grp = 'test' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT count(*) AS messages, count(DISTINCT idempotency_key) AS keys, min(subject) LIKE '%春季%' AS subjects
  FROM crm.email_outbox WHERE idempotency_key LIKE 'campaign:%';
SELECT phase, test_sent_at IS NOT NULL AS test_sent, winner FROM crm.campaign WHERE key = 'spring';

-- clicks (tracking on): B's readers click more; the test ends test_hours after its last mail
UPDATE crm.setting SET value = 'https://zx.example.cn/c' WHERE key = 'tracking_url';
UPDATE crm.email_outbox o SET body_html = replace(o.body_html, 'https://zx.example.cn/spring',
           'https://zx.example.cn/c?t=' || crm.sign_token('click', o.idempotency_key || E'\n' || o.contact_id || E'\n'
                                                           || 'https://zx.example.cn/spring', now() + interval '1 day'))
 WHERE o.idempotency_key LIKE 'campaign:%';
SELECT count(crm.record_click(substring(o.body_html from 't=([A-Za-z0-9_.-]+)'))) AS clicks
  FROM crm.campaign_recipient r JOIN crm.email_outbox o ON o.id = r.email_id
 WHERE r.grp = 'test' AND ((r.variant = 'B' AND r.contact_id % 3 = 0) OR (r.variant = 'A' AND r.contact_id % 10 = 0));
UPDATE crm.setting SET value = '' WHERE key = 'tracking_url';
SELECT crm.run_campaigns(1000) AS done;        -- too early
SELECT winner FROM crm.campaign WHERE key = 'spring';
UPDATE crm.campaign SET test_sent_at = now() - interval '2 hours' WHERE key = 'spring';
SELECT crm.run_campaigns(1000) AS done;
SELECT phase, winner, winner_detail -> 'variants' AS variants, round((winner_detail ->> 'z')::numeric, 6) AS z,
       winner_detail -> 'significant' AS significant
  FROM crm.campaign WHERE key = 'spring';
-- the same z by hand: pooled two-proportion z-test of B against A
SELECT round(((xb::float8 / nb - xa::float8 / na)
              / sqrt(p * (1 - p) * (1.0 / na + 1.0 / nb)))::numeric, 6) AS z_by_hand
  FROM (SELECT (v -> 0 ->> 'recipients')::int AS na, (v -> 0 ->> 'successes')::int AS xa,
               (v -> 1 ->> 'recipients')::int AS nb, (v -> 1 ->> 'successes')::int AS xb,
               ((v -> 0 ->> 'successes')::float8 + (v -> 1 ->> 'successes')::float8)
               / ((v -> 0 ->> 'recipients')::float8 + (v -> 1 ->> 'recipients')::float8) AS p
          FROM (SELECT winner_detail -> 'variants' AS v FROM crm.campaign WHERE key = 'spring') d) c;
-- the winner goes to the rest; the frequency cap keeps some of them out
UPDATE crm.setting SET value = '1 per 1 day' WHERE key = 'marketing_cap';
SELECT min(contact_id) AS w1, min(contact_id) FILTER (WHERE contact_id > 100) AS w2
  FROM crm.campaign_recipient WHERE grp = 'winner' \gset
SELECT crm.send_template('spring_c', 'learner' || :w1 || '@example.cn', '{"name": "学员"}') > 0 AS other_marketing_mail;
SELECT crm.send_template('receipt', 'learner' || :w2 || '@example.cn') > 0 AS transactional_mail;
UPDATE crm.campaign SET throttled_until = now() - interval '1 minute' WHERE key = 'spring';
SELECT crm.run_campaigns(1000) AS done;
UPDATE crm.campaign SET throttled_until = now() - interval '1 minute' WHERE key = 'spring';
SELECT crm.run_campaigns(1000) AS done;
SELECT grp, variant, status, count(*) FROM crm.campaign_recipient WHERE grp = 'winner' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT contact_id = :w1 AS had_marketing_mail, status FROM crm.campaign_recipient WHERE contact_id IN (:w1, :w2) ORDER BY 1;
UPDATE crm.setting SET value = '' WHERE key = 'marketing_cap';
SELECT crm.run_campaigns(1000) AS done;
SELECT status, phase, finished_at IS NOT NULL AS finished FROM crm.campaign WHERE key = 'spring';
SELECT * FROM pg_temp.try($$SELECT crm.cancel_campaign('spring')$$);
SELECT * FROM pg_temp.try($$SELECT crm.schedule_campaign('spring', now() + interval '1 day')$$);

-- results: orders after the message (or, for the holdout, after the start) within attribution_window
UPDATE crm.email_outbox SET status = 'sent', sent_at = now() WHERE idempotency_key LIKE 'campaign:%' AND contact_id % 4 <> 0;
INSERT INTO crm.sales_order (contact_id, currency, created_at)
SELECT r.contact_id, 'CNY', now() + interval '1 day'
  FROM crm.campaign_recipient r
 WHERE (r.grp <> 'holdout' AND r.contact_id % 5 = 0) OR (r.grp = 'holdout' AND r.contact_id % 20 = 0);
INSERT INTO crm.sales_order (contact_id, currency, created_at)      -- too late to count
SELECT r.contact_id, 'CNY', now() + interval '30 days' FROM crm.campaign_recipient r WHERE r.contact_id % 7 = 0;
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity) SELECT id, 1, 1 FROM crm.sales_order;
SELECT source, source_key, variant, holdout, recipients, delivered, clicked, converted, revenue,
       round(conversion_rate::numeric, 4) AS rate, round(lift_abs::numeric, 4) AS lift_abs,
       round(lift_lo::numeric, 4) AS lift_lo, round(lift_hi::numeric, 4) AS lift_hi, round(lift_rel::numeric, 4) AS lift_rel
  FROM crm.campaign_results ORDER BY source, source_key, holdout, variant;
-- the interval by hand for variant A
SELECT round((p1 - p0 - 1.959963984540054 * sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0))::numeric, 4) AS lo_by_hand
  FROM (SELECT a.conversion_rate AS p1, a.recipients AS n1, h.conversion_rate AS p0, h.recipients AS n0
          FROM crm.campaign_results a, crm.campaign_results h
         WHERE a.variant = 'A' AND h.holdout AND h.source_key = 'spring') x;
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '1 day' WHERE key = 'attribution_window'$$);
SELECT variant, converted FROM crm.campaign_results WHERE source_key = 'spring' ORDER BY holdout, variant;

-- a campaign without variants goes to everyone not held out; a sending one can be cancelled
SELECT crm.create_campaign('autumn', '秋季', 'learners', 'spring_c', '{"holdout_percent": 20}') AS autumn_id;
SELECT crm.schedule_campaign('autumn', now());
SELECT crm.run_campaigns(10) AS done;
SELECT crm.run_campaigns(10) AS done;
SELECT grp, variant, status, count(*) FROM crm.campaign_recipient
 WHERE campaign_id = (SELECT id FROM crm.campaign WHERE key = 'autumn') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT crm.cancel_campaign('autumn') AS cancelled;
SELECT r.status, o.status AS mail, count(*) FROM crm.campaign_recipient r LEFT JOIN crm.email_outbox o ON o.id = r.email_id
 WHERE r.campaign_id = (SELECT id FROM crm.campaign WHERE key = 'autumn') GROUP BY 1, 2 ORDER BY 1, 2;
SELECT crm.run_campaigns(1000) AS done;
SELECT * FROM pg_temp.try($$SELECT crm.schedule_campaign('autumn', now())$$);

-- another user may not change them
CREATE ROLE regress_campaign_user IN ROLE crm_user;
SET ROLE regress_campaign_user;
SELECT * FROM pg_temp.try($$SELECT crm.cancel_campaign('autumn')$$);
SELECT * FROM pg_temp.try($$SELECT crm.run_campaigns(10)$$);
RESET ROLE;
DROP ROLE regress_campaign_user;

\c :regress_db
DROP DATABASE :test_db;
