-- journeys: crm.create_journey and every way it refuses a journey, versions,
-- activation, enrollment (re-entry, daily limit, holdout, triggers with
-- filters and segments, no loops through a journey's own mail), the runner
-- called by hand (sends, waits, branches, wait_for, quiet hours, the cap,
-- consent, suppression, failures), goal and exit events in the event's
-- transaction, crm.explain_enrollment, click tracking, and the settings.
\set test_db crm_regress_journeys
\i sql/marketing_setup.inc

-- what the runner did, without times
CREATE FUNCTION pg_temp.path(journey text, person bigint)
RETURNS TABLE (enrollment bigint, pos int, visit int, step text, action text, outcome text, mail text)
LANGUAGE sql AS $$
    SELECT x.enrollment_id, x.position, x.visit, x.step, x.action, x.outcome,
           (SELECT o.idempotency_key || ' ' || o.status FROM crm.email_outbox o WHERE o.id = x.email_id)
      FROM crm.explain_enrollment(journey, person) x
$$;

INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
    ('welcome', '欢迎 {{name}}', '{{name}}，欢迎试学！', '<p>{{name}}，<a href="https://zx.example.cn/start?a=1&amp;b=2">开始学习</a></p>', 'marketing'),
    ('courses', '为您推荐', '{{#courses}}{{.}}
{{/courses}}', NULL, 'marketing'),
    ('offer', '限时优惠 {{discount}}', '{{name}}：{{discount}} 优惠', NULL, 'marketing'),
    ('receipt', '收据', '谢谢', NULL, 'transactional');
INSERT INTO crm.contact (name, email, time_zone) VALUES
    ('王芳', 'wang.fang@example.cn', 'Asia/Shanghai'),
    ('李娜', 'li.na@example.cn', 'Europe/Berlin'),
    ('张伟', 'zhang.wei@example.cn', NULL),
    ('赵敏', NULL, NULL),
    ('陈杰', 'chen.jie@example.cn', NULL);
SELECT count(crm.grant_consent(id)) FROM crm.contact WHERE id <> 3;

-- refused journeys
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"kind": "send", "template_key": "nope"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"kind": "send", "template_key": "receipt"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "send", "template_key": "welcome", "then_position": 7}, {"kind": "exit"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "branch", "condition": "c.orders = 0", "else_position": 9}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "send", "template_key": "welcome"}, {"kind": "branch", "condition": "c.orders = 0", "then_position": 1}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "send", "template_key": "welcome", "then_position": 1}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "branch", "condition": "c.orders + 1"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "branch", "condition": "c.orders > "}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "branch", "condition": "true; DELETE FROM crm.event"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "branch", "condition": "random() < 0.5"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "branch", "condition": "c.no_such_column"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "send", "template_key": "welcome", "vars": "c.name"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "send", "template_key": "welcome"}]', '{"trigger_filter": "e.properties"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', NULL,
       '[{"kind": "send", "template_key": "welcome"}]', '{"trigger_filter": "true"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"kind": "jump"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"template_key": "welcome"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"kind": "wait"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"kind": "wait", "delay": "-1 day"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"kind": "wait", "delay": "soon"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[{"kind": "wait_for", "wait_event": "x"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "wait", "delay": "1 day", "template_key": "welcome"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "send", "template_key": "welcome", "colour": "red"}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup',
       '[{"kind": "exit", "position": 2}, {"kind": "exit", "position": 2}]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '{"kind": "exit"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[]', '{"colour": "red"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[]', '{"holdout_percent": 100}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[]', '{"trigger_segment": "nope"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[]', '{"send_days": [0, 8]}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', 'n', 'trial_signup', '[]', '{"quiet_start": "21:00"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey(E'bad\tkey', 'n', 'trial_signup', '[]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('j', ' ', 'trial_signup', '[]')$$);
SELECT count(*) AS journeys FROM crm.journey;
-- a cycle through a wait is fine
SELECT crm.create_journey('loop', 'Weekly tips', NULL, $$[
    {"kind": "send", "template_key": "welcome"},
    {"kind": "wait", "delay": "7 days"},
    {"kind": "branch", "condition": "c.orders = 0", "then_position": 1}]$$) AS loop_id;

-- a journey with no steps cannot start; nor can anyone enroll in a draft
SELECT crm.create_journey('empty', 'No steps yet', 'trial_signup', '[]') AS empty_id;
SELECT * FROM pg_temp.try($$SELECT crm.activate_journey('empty')$$);
SELECT * FROM pg_temp.try($$SELECT crm.enroll('empty', 1)$$);
SELECT * FROM pg_temp.try($$SELECT crm.pause_journey('empty')$$);
SELECT * FROM pg_temp.try($$SELECT crm.activate_journey('nope')$$);

-- the welcome journey (short waits, as in the demo)
SELECT crm.create_journey('welcome', '试学欢迎', 'trial_signup', $$[
    {"kind": "send", "template_key": "welcome"},
    {"kind": "wait", "delay": "2 days"},
    {"kind": "branch", "condition": "c.orders = 0", "else_position": 6},
    {"kind": "send", "template_key": "courses",
     "vars": "jsonb_build_object('courses', jsonb_build_array('Python 入门', '数据分析实战'))"},
    {"kind": "wait", "delay": "3 days"},
    {"kind": "send", "template_key": "offer", "vars": "jsonb_build_object('discount', '8 折')"}]$$,
    '{"goal_event": "order_confirmed", "exit_events": ["unsubscribed"], "trigger_filter": "coalesce(e.properties ->> ''plan'', '''') <> ''staff''"}')
    AS welcome_id;
SELECT key, name, status, version, trigger_event, trigger_filter, goal_event, exit_events, owner = current_user AS mine
  FROM crm.journey WHERE key = 'welcome';
SELECT position, kind, template_key, vars IS NOT NULL AS has_vars, delay, condition, then_position, else_position
  FROM crm.journey_step WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'welcome') ORDER BY position;
SELECT crm.activate_journey('welcome');
SELECT crm.activate_journey('welcome');     -- again: no change

-- events enroll, in their own transaction; the filter is the journey's
SELECT crm.track('wang.fang@example.cn', 'trial_signup') > 0 AS tracked;
SELECT crm.track('li.na@example.cn', 'trial_signup', '{"plan": "staff"}') > 0 AS tracked;
SELECT crm.track('li.na@example.cn', 'course_view') > 0 AS tracked;
SELECT e.id, j.key, e.contact_id, e.state, e.position, e.visit, e.next_run_at <= now() AS due
  FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id ORDER BY e.id;
-- enrolling again gives the active enrollment
SELECT crm.enroll('welcome', 1) AS same_enrollment;

-- the runner: 王芳 gets the welcome mail and waits
SELECT crm.run_journey_steps(10) AS claimed;
SELECT id, to_address, subject, category, contact_id, template_key, idempotency_key, status FROM crm.email_outbox ORDER BY id;
SELECT state, position, visit, waiting_since IS NOT NULL AS waiting,
       next_run_at - now() BETWEEN interval '47 hours' AND interval '48 hours' AS due_in_two_days
  FROM crm.journey_enrollment WHERE id = 1;
SELECT crm.run_journey_steps(10) AS claimed;   -- nothing due
-- two days later (the wait is moved back instead): the branch, the courses, the next wait
UPDATE crm.journey_enrollment SET next_run_at = now(), waiting_since = now() - interval '2 days' WHERE id = 1;
SELECT crm.run_journey_steps(10) AS claimed;
SELECT idempotency_key, subject, body_text FROM crm.email_outbox ORDER BY id;
-- 王芳 buys: the goal ends the enrollment in that transaction, while she waits
BEGIN;
INSERT INTO crm.event (contact_id, kind, properties) VALUES (1, 'order_confirmed', '{"order_id": 1}');
SELECT state, end_reason, next_run_at FROM crm.journey_enrollment WHERE id = 1;
COMMIT;
SELECT * FROM pg_temp.path('welcome', 1);
UPDATE crm.journey_enrollment SET next_run_at = now() WHERE id = 1;     -- not active: never run again
SELECT crm.run_journey_steps(10) AS claimed;
-- no re-entry without reentry_after
SELECT crm.track('wang.fang@example.cn', 'trial_signup') > 0 AS tracked;
SELECT count(*) AS enrollments FROM crm.journey_enrollment WHERE contact_id = 1;
SELECT * FROM pg_temp.try($$SELECT crm.enroll('welcome', 1)$$);

-- a goal while the welcome mail is still queued: the mail is withdrawn
SELECT crm.enroll('welcome', 5) AS chen;
SELECT crm.run_journey_steps(10) AS claimed;
INSERT INTO crm.event (contact_id, kind) VALUES (5, 'order_confirmed');
SELECT * FROM pg_temp.path('welcome', 5);
-- an exit event ends it too; a message the worker is delivering is logged as in flight
SELECT crm.create_journey('welcome', '试学欢迎', 'trial_signup', $$[
    {"kind": "send", "template_key": "welcome"},
    {"kind": "wait", "delay": "2 days"},
    {"kind": "send", "template_key": "offer", "vars": "jsonb_build_object('discount', '9 折')"}]$$,
    '{"goal_event": "order_confirmed", "exit_events": ["unsubscribed"], "reentry_after": "1 second"}') AS new_version;
SELECT version, reentry_after FROM crm.journey WHERE key = 'welcome';
UPDATE crm.journey_enrollment SET enrolled_at = enrolled_at - interval '1 hour' WHERE contact_id = 5;
SELECT crm.enroll('welcome', 5) AS chen_again;
SELECT version FROM crm.journey_enrollment WHERE id = currval('crm.journey_enrollment_id_seq');
SELECT crm.run_journey_steps(10) AS claimed;
UPDATE crm.email_outbox SET status = 'sending' WHERE idempotency_key LIKE 'journey:' || currval('crm.journey_enrollment_id_seq') || ':%';
SELECT crm.unsubscribe('chen.jie@example.cn');
SELECT * FROM pg_temp.path('welcome', 5);

-- people enrolled on version 2 follow it; version 1 enrollments finish on theirs
SELECT * FROM pg_temp.try($$SELECT crm.enroll('loop', 2)$$);
SELECT crm.activate_journey('loop');
SELECT crm.enroll('loop', 2) AS li_loop;
SELECT crm.run_journey_steps(10) AS claimed;
-- the loop: a new visit each time round (2 sends with distinct keys)
UPDATE crm.journey_enrollment SET next_run_at = now() WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'loop');
SELECT crm.run_journey_steps(10) AS claimed;
SELECT * FROM pg_temp.path('loop', 2);

-- no consent, suppressed, no address, a failing step: ended, the others go on
SELECT crm.create_journey('nudge', 'Nudge', 'nudge', $$[
    {"kind": "send", "template_key": "offer", "vars": "jsonb_build_object('discount', (100 / (c.id - 6))::text || '%')"}]$$)
    AS nudge_id;
SELECT crm.activate_journey('nudge');
INSERT INTO crm.contact (name, email) VALUES ('孙丽', 'sun.li@example.cn'), ('周强', 'zhou.qiang@example.cn');
SELECT crm.grant_consent(6), crm.grant_consent(7);
INSERT INTO crm.email_suppression (address, reason) VALUES ('zhou.qiang@example.cn', 'blocked');
INSERT INTO crm.event (contact_id, kind) SELECT id, 'nudge' FROM crm.contact WHERE id IN (2, 3, 4, 6, 7) ORDER BY id;
-- 张伟 (3): no consent; 赵敏 (4): no address; 孙丽 (6): her vars divide by zero; 周强 (7): blocked
SELECT crm.run_journey_steps(10) AS claimed;
SELECT e.contact_id, e.state, e.end_reason, l.outcome, regexp_replace(l.detail, '\d{4}-\d\d-\d\d [0-9:.+-]+', '<time>') AS detail
  FROM crm.journey_enrollment e JOIN crm.journey_log l ON l.enrollment_id = e.id
 WHERE e.journey_id = (SELECT id FROM crm.journey WHERE key = 'nudge') ORDER BY e.contact_id, l.id;

-- wait_for: the awaited event makes the step due at once; a timeout takes else_position
SELECT crm.create_journey('viewed', 'After a course view', 'course_view', $$[
    {"kind": "wait_for", "wait_event": "trial_signup", "timeout": "1 day", "else_position": 3},
    {"kind": "send", "template_key": "welcome", "then_position": 4},
    {"kind": "send", "template_key": "offer", "vars": "'{\"discount\": \"7 折\"}'::jsonb"},
    {"kind": "exit"}]$$, '{"reentry_after": "1 second"}') AS viewed_id;
SELECT crm.activate_journey('viewed');
SELECT crm.track('li.na@example.cn', 'course_view') > 0 AS tracked;
SELECT crm.track('sun.li@example.cn', 'course_view') > 0 AS tracked;
SELECT crm.run_journey_steps(10) AS claimed;
SELECT contact_id, position, next_run_at > now() + interval '23 hours' AS waits_a_day
  FROM crm.journey_enrollment WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'viewed') ORDER BY contact_id;
SELECT crm.track('li.na@example.cn', 'trial_signup') > 0 AS tracked;
SELECT contact_id, next_run_at <= now() AS due FROM crm.journey_enrollment
 WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'viewed') ORDER BY contact_id;
UPDATE crm.journey_enrollment SET next_run_at = now(), waiting_since = now() - interval '1 day'
 WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'viewed') AND contact_id = 6;
SELECT crm.run_journey_steps(10) AS claimed;
SELECT * FROM pg_temp.path('viewed', 2);
SELECT * FROM pg_temp.path('viewed', 6);

-- entering a segment enrolls; a journey's own mail never re-enrolls into it
SELECT crm.create_segment('staff', 'Staff', $$c.attributes ->> 'staff' = 'yes'$$) > 0 AS segment;
SELECT crm.create_journey('staff', 'Staff news', 'email_sent', '[{"kind": "send", "template_key": "welcome"}]',
       '{"trigger_segment": "staff", "reentry_after": "1 second"}') AS staff_id;
SELECT crm.activate_journey('staff');
UPDATE crm.contact SET attributes = '{"staff": "yes"}' WHERE id = 6;
SELECT * FROM crm.refresh_segment('staff');
SELECT crm.run_journey_steps(10) AS claimed;
UPDATE crm.journey_enrollment SET enrolled_at = enrolled_at - interval '1 hour'
 WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'staff');
INSERT INTO crm.event (contact_id, kind, properties)
SELECT 6, 'email_sent', jsonb_build_object('email_id', o.id) FROM crm.email_outbox o
 WHERE o.idempotency_key LIKE 'journey:' || (SELECT max(e.id) FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
                                               WHERE j.key = 'staff') || ':%';
SELECT count(*) AS staff_enrollments FROM crm.journey_enrollment WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'staff');
-- another journey's mail does enroll
INSERT INTO crm.event (contact_id, kind, properties)
SELECT 6, 'email_sent', jsonb_build_object('email_id', min(o.id)) FROM crm.email_outbox o WHERE o.contact_id = 6;
SELECT count(*) AS staff_enrollments FROM crm.journey_enrollment WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'staff');

-- the daily limit on enrollments per person
UPDATE crm.setting SET value = '3' WHERE key = 'journey_daily_enrollments';
SELECT count(*) AS li_today FROM crm.journey_enrollment WHERE contact_id = 2 AND enrolled_at > now() - interval '1 day';
SELECT * FROM pg_temp.try($$SELECT crm.enroll('staff', 2)$$);
UPDATE crm.setting SET value = '20' WHERE key = 'journey_daily_enrollments';

-- the holdout: a fixed share gets nothing
SELECT crm.create_journey('half', 'Half held out', 'half', '[{"kind": "send", "template_key": "welcome"}]',
       '{"holdout_percent": 50}') AS half_id;
SELECT crm.activate_journey('half');
INSERT INTO crm.contact (name, email) SELECT 'h' || g, 'h' || g || '@example.cn' FROM generate_series(1, 200) g;
INSERT INTO crm.event (contact_id, kind) SELECT id, 'half' FROM crm.contact WHERE name LIKE 'h%';
SELECT state, count(*) BETWEEN 70 AND 130 AS about_half FROM crm.journey_enrollment
 WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'half') GROUP BY state ORDER BY state;
SELECT count(*) = count(*) FILTER (WHERE l.outcome = 'held_out') AS all_logged
  FROM crm.journey_enrollment e JOIN crm.journey_log l ON l.enrollment_id = e.id
 WHERE e.journey_id = (SELECT id FROM crm.journey WHERE key = 'half') AND e.state = 'held_out';
SELECT crm.run_journey_steps(1000) AS claimed;

-- quiet hours and send days, in the person's time zone, across daylight-saving changes
SELECT crm.next_send_time('2024-03-10 01:30 America/New_York', 'America/New_York', '21:00', '09:00', NULL)
       AT TIME ZONE 'UTC' AS ny_spring_forward;                         -- 09:00 EDT = 13:00 UTC
SELECT crm.next_send_time('2024-11-02 22:00 America/New_York', 'America/New_York', '21:00', '09:00', NULL)
       AT TIME ZONE 'UTC' AS ny_fall_back;                              -- 09:00 EST = 14:00 UTC
SELECT crm.next_send_time('2024-03-31 01:30 Europe/Berlin', 'Europe/Berlin', '01:00', '02:30', NULL)
       AT TIME ZONE 'UTC' AS berlin_gap;                                -- 02:30 does not exist: the jump to 03:00 CEST
SELECT crm.next_send_time('2024-10-27 00:10 UTC', 'Europe/Berlin', '02:00', '02:30', NULL)
       AT TIME ZONE 'UTC' AS berlin_repeated_hour;                      -- 02:10 CEST: out at the first 02:30
SELECT crm.next_send_time('2024-06-01 12:00 Asia/Shanghai', 'Asia/Shanghai', NULL, NULL, '{1,2,3,4,5}')
       AT TIME ZONE 'Asia/Shanghai' AS after_weekend;                   -- Saturday: Monday 00:00
SELECT crm.next_send_time('2024-06-01 12:00 Asia/Shanghai', 'Asia/Shanghai', '20:00', '09:00', '{1}')
       AT TIME ZONE 'Asia/Shanghai' AS monday_morning;
SELECT crm.next_send_time('2024-06-03 10:00 Asia/Shanghai', 'Asia/Shanghai', '20:00', '09:00', '{1}')
       AT TIME ZONE 'Asia/Shanghai' AS allowed_now;
-- the runner defers a send inside the person's quiet hours and says until when
SELECT crm.create_journey('quiet', 'Quiet hours', 'quiet', '[{"kind": "send", "template_key": "welcome"}]',
       format('{"quiet_start": "%s", "quiet_end": "%s"}',
              ((now() AT TIME ZONE 'Asia/Shanghai') - interval '1 hour')::time(0),
              ((now() AT TIME ZONE 'Asia/Shanghai') + interval '2 hours')::time(0))::jsonb) AS quiet_id;
SELECT crm.activate_journey('quiet');
INSERT INTO crm.event (contact_id, kind) VALUES (1, 'quiet');
SELECT crm.run_journey_steps(10) AS claimed;
SELECT e.next_run_at = crm.next_send_time(now(), 'Asia/Shanghai', j.quiet_start, j.quiet_end, NULL) AS deferred_to_end,
       (e.next_run_at AT TIME ZONE 'Asia/Shanghai')::time = j.quiet_end AS at_quiet_end, l.outcome
  FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
  JOIN crm.journey_log l ON l.enrollment_id = e.id WHERE j.key = 'quiet';

-- the frequency cap, across journeys: 2 marketing mails per day, the third waits
UPDATE crm.setting SET value = '2 per 1 day' WHERE key = 'marketing_cap';
SELECT value FROM crm.setting WHERE key = 'marketing_cap';
INSERT INTO crm.contact (name, email) VALUES ('吴敏', 'wu.min@example.cn');
SELECT crm.grant_consent(208);
SELECT crm.send_template('receipt', 'wu.min@example.cn') > 0 AS transactional_not_counted;
SELECT crm.enroll('nudge', 208), crm.enroll('staff', 208), crm.enroll('welcome', 208);
SELECT crm.run_journey_steps(10) AS claimed;
SELECT j.key, e.state, l.outcome, e.next_run_at > now() + interval '23 hours' AS waits_a_day
  FROM crm.journey_enrollment e JOIN crm.journey j ON j.id = e.journey_id
  JOIN crm.journey_log l ON l.enrollment_id = e.id
 WHERE e.contact_id = 208 ORDER BY e.id, l.id;
UPDATE crm.setting SET value = '' WHERE key = 'marketing_cap';

-- click tracking: off by default, then links in the HTML part point to tracking_url with a signed token
SELECT body_html FROM crm.email_outbox WHERE template_key = 'welcome' ORDER BY id LIMIT 1;
UPDATE crm.setting SET value = 'https://zx.example.cn/c' WHERE key = 'tracking_url';
SELECT crm.create_journey('clicks', 'Tracked', NULL, '[{"kind": "send", "template_key": "welcome"}]') > 0 AS created;
SELECT crm.activate_journey('clicks');
SELECT crm.enroll('clicks', 2) > 0 AS enrolled;
SELECT crm.run_journey_steps(10) AS claimed;
SELECT regexp_replace(body_html, 't=[A-Za-z0-9_.-]+', 't=<token>') AS tracked_html, body_text
  FROM crm.email_outbox WHERE contact_id = 2 AND template_key = 'welcome' AND idempotency_key LIKE 'journey:%' ORDER BY id DESC LIMIT 1;
SELECT substring(body_html from 't=([A-Za-z0-9_.-]+)') AS token
  FROM crm.email_outbox WHERE contact_id = 2 AND template_key = 'welcome' ORDER BY id DESC LIMIT 1 \gset
SELECT crm.record_click(:'token') AS target;
SELECT e.kind, e.properties ->> 'url' AS url, o.idempotency_key, e.source
  FROM crm.event e JOIN crm.email_outbox o ON o.id = (e.properties ->> 'email_id')::bigint
 WHERE e.kind = 'email_click';
SELECT * FROM pg_temp.try(format('SELECT crm.record_click(%L)', overlay(:'token' placing 'x' from 3 for 1)));
SELECT * FROM pg_temp.try($$SELECT crm.record_click('not a token')$$);
SELECT * FROM pg_temp.try(format('SELECT crm.record_click(%L)',
       (SELECT crm.sign_token('opt_in', '2', now() + interval '1 day'))));
UPDATE crm.setting SET value = '' WHERE key = 'tracking_url';

-- settings are validated
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'lots' WHERE key = 'marketing_cap'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '0 per 1 day' WHERE key = 'marketing_cap'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '3 per fortnight' WHERE key = 'marketing_cap'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '3 PER 7 DAYS' WHERE key = 'marketing_cap'$$);
SELECT value FROM crm.setting WHERE key = 'marketing_cap';
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '-1 day' WHERE key = 'attribution_window'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'ftp://x' WHERE key = 'tracking_url'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'https://x.example/c?a=1' WHERE key = 'tracking_url'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '0' WHERE key = 'journey_daily_enrollments'$$);

-- pausing: nothing runs; archiving: the active enrollments exit
SELECT crm.pause_journey('loop');
UPDATE crm.journey_enrollment SET next_run_at = now() WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'loop');
SELECT crm.run_journey_steps(10) AS claimed;
SELECT crm.archive_journey('loop') AS ended;
SELECT * FROM pg_temp.try($$SELECT crm.activate_journey('loop')$$);
SELECT state, end_reason FROM crm.journey_enrollment WHERE journey_id = (SELECT id FROM crm.journey WHERE key = 'loop');

-- another crm_user may not change the journey; its SQL runs as its owner
CREATE ROLE regress_journey_user IN ROLE crm_user;
SET ROLE regress_journey_user;
SELECT * FROM pg_temp.try($$SELECT crm.pause_journey('welcome')$$);
SELECT * FROM pg_temp.try($$SELECT crm.create_journey('mine', 'Mine', 'x', '[{"kind": "branch", "condition": "EXISTS (SELECT FROM crm.signing_secret)"}]')$$);
SELECT crm.create_journey('mine', 'Mine', 'x', '[{"kind": "exit"}]') > 0 AS created;
RESET ROLE;
SELECT owner FROM crm.journey WHERE key = 'mine';
SELECT * FROM pg_temp.try($$SELECT crm.run_journey_steps(0)$$);

-- the runner is the worker's duty; the catalog says what every object is
SELECT has_function_privilege('crm_user', 'crm.run_journey_steps(integer)', 'EXECUTE') AS user_may_run;
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'crm' AND c.relkind IN ('r', 'v') AND c.relname ~ '^(journey|campaign)'
   AND (obj_description(c.oid, 'pg_class') IS NULL
        OR EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                     AND col_description(c.oid, a.attnum) IS NULL));

DROP OWNED BY regress_journey_user;
DROP ROLE regress_journey_user;
\c :regress_db
DROP DATABASE :test_db;
