-- demo/55_journeys.sql: 智学在线's marketing automation, run by the crm worker.
-- A welcome journey for trial signups (welcome -> wait -> if they have not
-- bought, course recommendations -> wait -> a discount offer; a purchase
-- ends it), with waits of seconds instead of days; a learner who buys
-- mid-journey and leaves at once; one whose mail waits for 09:00 in
-- Asia/Shanghai; and a broadcast with an A/B subject test and a holdout,
-- with its results.
\pset footer off
SET client_min_messages = warning;

-- wait_until(condition, seconds): the demo waits for the worker, at most that long
CREATE FUNCTION pg_temp.wait_until(condition text, seconds int) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE done boolean;
BEGIN
    FOR i IN 1..seconds * 5 LOOP
        EXECUTE 'SELECT ' || condition INTO done;
        IF done THEN RETURN true; END IF;
        PERFORM pg_sleep(0.2);
    END LOOP;
    RETURN false;
END $$;

\echo
\echo '=== Journeys: 智学在线 welcomes its trial learners, run by the crm worker ==='
INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
('trial_welcome', '欢迎试学，{{name}}！',
 E'{{name}}，你好：\n\n欢迎来到智学在线！你的 7 天试学已经开通。\n\n智学在线',
 '<p>{{name}}，你好：</p><p>欢迎来到智学在线！<a href="https://zhixue.example.cn/start">开始学习</a></p>', 'marketing'),
('trial_courses', '{{name}}，这些课程适合你',
 E'{{name}}，你好：\n\n根据大家的选课，推荐你看看：\n{{#courses}}\n  · {{name}}（{{sku}}）\n{{/courses}}\n智学在线',
 '<p>{{name}}，你好：</p><ul>{{#courses}}<li><a href="https://zhixue.example.cn/course/{{sku}}">{{name}}</a></li>{{/courses}}</ul>',
 'marketing'),
('trial_offer', '{{name}}，试学结束前的 {{discount}} 优惠',
 E'{{name}}，你好：\n\n试学即将结束，现在报名任意课程享 {{discount}}。\n\n智学在线',
 '<p>{{name}}，你好：</p><p>现在报名享 <b>{{discount}}</b>：<a href="https://zhixue.example.cn/offer">立即报名</a></p>',
 'marketing');

SELECT crm.create_journey('trial_welcome', '试学欢迎旅程', 'trial_signup', $$[
    {"kind": "send", "template_key": "trial_welcome"},
    {"kind": "wait", "delay": "3 seconds"},
    {"kind": "branch", "condition": "c.orders = 0", "else_position": 7},
    {"kind": "send", "template_key": "trial_courses",
     "vars": "(SELECT jsonb_build_object('courses', coalesce(jsonb_agg(jsonb_build_object('name', r.name, 'sku', r.sku)), '[]')) FROM crm.recommend_products(c.id, 2) r)"},
    {"kind": "wait", "delay": "3 seconds"},
    {"kind": "send", "template_key": "trial_offer", "vars": "jsonb_build_object('discount', '8 折')"},
    {"kind": "exit"}]$$,
    $${"goal_event": "order_confirmed", "exit_events": ["unsubscribed"],
       "trigger_filter": "coalesce(e.properties ->> 'source', '') <> 'staff_test'"}$$) AS journey_id;
SELECT crm.activate_journey('trial_welcome');
SELECT position, kind, coalesce(template_key, delay::text, condition, '') AS what,
       coalesce(then_position::text, '') AS then_to, coalesce(else_position::text, '') AS else_to
  FROM crm.journey_step WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'trial_welcome') ORDER BY position;

\echo
\echo '--- Three new learners sign up for a trial (the app calls crm.track; the journey enrolls them at once) ---'
INSERT INTO crm.contact (name, email, time_zone) VALUES
    ('周小明', 'xiaoming@mail.example.cn', 'Asia/Shanghai'),
    ('郑小红', 'xiaohong@mail.example.cn', 'Asia/Shanghai'),
    ('钱小刚', 'xiaogang@mail.example.cn', 'Asia/Shanghai');
SELECT count(crm.grant_consent(id, 'marketing', 'trial form')) AS consents FROM crm.contact WHERE email LIKE 'xiao%';
SELECT crm.track(email, 'trial_signup', '{"course": "PY-101"}') > 0 AS tracked
  FROM crm.contact WHERE email IN ('xiaoming@mail.example.cn', 'xiaohong@mail.example.cn') ORDER BY id;
SELECT c.name, e.state, e.position, e.version FROM crm.journey_enrollment e JOIN crm.contact c ON c.id = e.contact_id
 WHERE c.email LIKE 'xiao%' ORDER BY c.id;
SELECT pg_temp.wait_until($$(SELECT count(*) = 2 FROM crm.email_outbox WHERE template_key = 'trial_welcome')$$, 30)
       AS welcome_mails_queued;
SELECT to_address, subject, idempotency_key, status FROM crm.email_outbox WHERE template_key = 'trial_welcome' ORDER BY id;

\echo
\echo '--- 郑小红 buys a course during the wait: her enrollment ends in the order''s own transaction ---'
BEGIN;
INSERT INTO crm.sales_order (contact_id, currency) SELECT id, 'CNY' FROM crm.contact WHERE email = 'xiaohong@mail.example.cn';
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
SELECT currval('crm.sales_order_id_seq'), id, 1 FROM crm.product WHERE sku = 'PY-101';
COMMIT;
SELECT c.name, e.state, e.end_reason FROM crm.journey_enrollment e JOIN crm.contact c ON c.id = e.contact_id
 WHERE c.email = 'xiaohong@mail.example.cn';

\echo
\echo '--- The worker walks 周小明 through the journey: recommendations, then the offer ---'
SELECT pg_temp.wait_until($$(SELECT state = 'completed' FROM crm.journey_enrollment e JOIN crm.contact c ON c.id = e.contact_id
                             WHERE c.email = 'xiaoming@mail.example.cn')$$, 60) AS xiaoming_completed;
SELECT to_char(o.created_at, 'HH24:MI:SS') AS queued_at, o.subject, o.status
  FROM crm.email_outbox o JOIN crm.contact c ON c.id = o.contact_id WHERE c.email = 'xiaoming@mail.example.cn' ORDER BY o.id;
SELECT body_text FROM crm.email_outbox o JOIN crm.contact c ON c.id = o.contact_id
 WHERE c.email = 'xiaoming@mail.example.cn' AND o.template_key = 'trial_courses';
\echo 'crm.explain_enrollment: each step, what happened and why'
SELECT to_char(x.at, 'HH24:MI:SS') AS at, x.position AS pos, x.step, x.action, x.outcome, x.detail
  FROM crm.explain_enrollment('trial_welcome', (SELECT id FROM crm.contact WHERE email = 'xiaoming@mail.example.cn')) x;
\echo '郑小红 got only the welcome: the purchase ended her journey before the next step'
SELECT o.subject, o.status FROM crm.email_outbox o JOIN crm.contact c ON c.id = o.contact_id
 WHERE c.email = 'xiaohong@mail.example.cn' ORDER BY o.id;
SELECT to_char(x.at, 'HH24:MI:SS') AS at, x.position AS pos, x.step, x.action, x.outcome, x.detail
  FROM crm.explain_enrollment('trial_welcome', (SELECT id FROM crm.contact WHERE email = 'xiaohong@mail.example.cn')) x;

\echo
\echo '--- 钱小刚''s reminder waits for 09:00 in Asia/Shanghai (quiet hours; for the demo they began a minute ago) ---'
SELECT crm.create_journey('course_reminder', '开课提醒', 'course_reminder',
       '[{"kind": "send", "template_key": "trial_offer", "vars": "jsonb_build_object(''discount'', ''9 折'')"}]',
       jsonb_build_object('quiet_start', CASE WHEN (now() AT TIME ZONE 'Asia/Shanghai')::time BETWEEN '09:00' AND '09:02'
                                               THEN '09:03'::time
                                               ELSE ((now() AT TIME ZONE 'Asia/Shanghai') - interval '1 minute')::time(0) END,
                          'quiet_end', '09:00')) AS reminder_id;
SELECT crm.activate_journey('course_reminder');
SELECT crm.track('xiaogang@mail.example.cn', 'course_reminder') > 0 AS tracked;
SELECT pg_temp.wait_until($$EXISTS (SELECT FROM crm.journey_log WHERE outcome = 'deferred_quiet_hours')$$, 30) AS deferred;
SELECT c.name, c.time_zone, j.quiet_start, j.quiet_end, l.outcome,
       to_char(e.next_run_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') AS runs_at_shanghai_time,
       (SELECT count(*) FROM crm.email_outbox o WHERE o.contact_id = c.id) AS mails_so_far
  FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id JOIN crm.contact c ON c.id = e.contact_id
  JOIN crm.journey_log l ON l.enrollment_id = e.id
 WHERE j.key = 'course_reminder';

\echo
\echo '=== Campaign: a spring broadcast to learners who agreed, with an A/B subject test and a holdout ==='
UPDATE crm.setting SET value = 'https://zhixue.example.cn/c' WHERE key = 'tracking_url';
UPDATE crm.setting SET value = '3 per 7 days' WHERE key = 'marketing_cap';
SELECT key, value FROM crm.setting WHERE key IN ('tracking_url', 'marketing_cap', 'attribution_window') ORDER BY key;
INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
('spring_a', '春季课程 8 折', E'{{name}}，春季课程限时 8 折。', '<p>{{name}}，<a href="https://zhixue.example.cn/spring">春季课程限时 8 折</a></p>', 'marketing'),
('spring_b', '{{name}}，你的春季专属 8 折今晚截止', E'{{name}}，你的专属 8 折今晚截止。',
 '<p>{{name}}，<a href="https://zhixue.example.cn/spring">你的专属 8 折今晚截止</a></p>', 'marketing');
SELECT crm.create_segment('opted_in', '同意接收营销邮件的学员', $$marketing_consent = 'granted' AND email LIKE 'learner%'$$) AS segment_id;
SELECT entered FROM crm.refresh_segment('opted_in');
SELECT crm.create_campaign('spring_2025', '春季招生', 'opted_in', NULL, $${
    "variants": [{"key": "A", "template_key": "spring_a"}, {"key": "B", "template_key": "spring_b"}],
    "holdout_percent": 20, "test_percent": 60, "test_hours": 0.002, "winner_metric": "click"}$$) AS campaign_id;
SELECT crm.schedule_campaign('spring_2025', now());
SELECT pg_temp.wait_until($$(SELECT test_sent_at IS NOT NULL FROM crm.campaign WHERE key = 'spring_2025')$$, 30)
       AS test_sent;
SELECT r.grp, coalesce(r.variant, '-') AS variant, r.status, count(*) AS people FROM crm.campaign_recipient r
  JOIN crm.campaign c ON c.id = r.campaign_id WHERE c.key = 'spring_2025' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
\echo 'links in the HTML part point to the tracking page with a signed token (the text part keeps plain links):'
SELECT regexp_replace(o.body_html, 't=([A-Za-z0-9_-]{12})[A-Za-z0-9_.-]+', 't=\1…') AS html
  FROM crm.email_outbox o WHERE o.template_key = 'spring_b' ORDER BY o.id LIMIT 1;
\echo 'learners click (the tracking page calls crm.record_click and redirects); opens are not tracked'
SELECT count(crm.record_click(substring(o.body_html from 't=([A-Za-z0-9_.-]+)'))) AS clicks
  FROM crm.campaign_recipient r JOIN crm.campaign c ON c.id = r.campaign_id JOIN crm.email_outbox o ON o.id = r.email_id
 WHERE c.key = 'spring_2025' AND r.grp = 'test' AND ((r.variant = 'B' AND r.contact_id % 3 <> 0) OR (r.variant = 'A' AND r.contact_id % 4 = 0));
SELECT pg_temp.wait_until($$(SELECT status = 'sent' FROM crm.campaign WHERE key = 'spring_2025')$$, 60) AS campaign_sent;
\echo 'the winner: the best click rate if a pooled two-proportion z-test against the runner-up is significant (95%), else the first variant'
SELECT winner, v ->> 'key' AS variant, v ->> 'recipients' AS mailed, v ->> 'successes' AS clicked,
       round((v ->> 'rate')::numeric, 3) AS rate, round((winner_detail ->> 'z')::numeric, 3) AS z,
       winner_detail ->> 'significant' AS significant
  FROM crm.campaign, jsonb_array_elements(winner_detail -> 'variants') v WHERE key = 'spring_2025';

\echo
\echo '--- Then orders come in: within the attribution window after the mail, against the holdout ---'
-- some of those mailed buy, and a few of the holdout (who got nothing) buy anyway
SELECT max(id) AS orders_before FROM crm.sales_order \gset
INSERT INTO crm.sales_order (contact_id, currency, created_at)
SELECT r.contact_id, 'CNY', now()
  FROM crm.campaign_recipient r JOIN crm.campaign c ON c.id = r.campaign_id
 WHERE c.key = 'spring_2025' AND ((r.grp <> 'holdout' AND r.contact_id % 3 = 0) OR (r.grp = 'holdout' AND r.contact_id % 5 = 0));
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity)
SELECT o.id, p.id, 1 FROM crm.sales_order o, crm.product p
 WHERE o.id > :orders_before AND p.sku = 'DA-201';
SELECT pg_temp.wait_until($$NOT EXISTS (SELECT FROM crm.email_outbox WHERE status IN ('queued', 'sending')
                                          AND next_attempt_at <= now())$$, 60) AS mail_delivered;
SELECT source, source_key, coalesce(variant, CASE WHEN holdout THEN 'holdout' ELSE '-' END) AS grp, recipients,
       delivered, clicked, converted, revenue, round(conversion_rate::numeric, 3) AS rate,
       round(lift_abs::numeric, 3) AS lift, round(lift_lo::numeric, 3) AS lift_lo, round(lift_hi::numeric, 3) AS lift_hi,
       round(lift_rel::numeric, 2) AS lift_rel
  FROM crm.campaign_results ORDER BY source, source_key, holdout, variant;
\echo '(a handful of learners: the interval shows how little one can conclude from so few people)'
SELECT duty, state, done, backlog FROM crm.worker_duties WHERE duty IN ('mail', 'journeys', 'campaigns');
UPDATE crm.setting SET value = '' WHERE key = 'tracking_url';
