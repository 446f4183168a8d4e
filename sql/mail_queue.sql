-- mail_queue: the email outbox API (send_email, send_template, unsubscribe,
-- cancel_email, render_message), every bad input, suppression, idempotency,
-- templates, settings and privileges.  Ids, timestamps, Message-IDs and
-- boundaries vary between runs, so they are compared, never printed.
SET client_min_messages = warning;

-- the tables, their indexes, and a comment on every table and function
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) LIKE '% WHERE %' AS partial
  FROM pg_index WHERE indrelid IN ('crm.email_outbox'::regclass, 'crm.email_delivery_log'::regclass,
                                   'crm.email_suppression'::regclass, 'crm.email_template'::regclass)
 ORDER BY 1::text;
SELECT pg_get_indexdef('crm.email_outbox_claim_idx'::regclass) AS claim,
       pg_get_indexdef('crm.email_outbox_lease_idx'::regclass) AS lease;
SELECT pg_get_indexdef('crm.email_outbox_finished_idx'::regclass) AS retention;
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'crm'::regnamespace AND c.relname LIKE 'email\_%' AND c.relkind = 'r'
   AND (obj_description(c.oid, 'pg_class') IS NULL OR c.relpersistence <> 'p');
SELECT p.proname, p.prosecdef, p.proconfig, obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'crm'::regnamespace
   AND p.proname IN ('send_email', 'send_template', 'unsubscribe', 'cancel_email', 'render_message')
 ORDER BY 1;

-- a message is queued with a Message-ID fixed at enqueue
SELECT crm.send_email('Wang.Fang@Zhixue.example.cn', '欢迎加入智学在线', E'你好，王芳：\n欢迎！') AS first_id \gset
SELECT to_address, subject, body_text, body_html, status, attempts, next_attempt_at <= now() AS due,
       lease_until, last_error, sent_at, idempotency_key, template_key,
       message_id ~ ('^<[0-9a-f]{24}\.' || id || '@localhost\.localdomain>$') AS message_id_ok,
       created_by = current_user AS created_by_me
  FROM crm.email_outbox WHERE id = :first_id;
SELECT crm.send_email('li.lei@example.com', 'Your course', 'Plain text', '<p>HTML</p>') AS html_id \gset
SELECT body_html, message_id <> (SELECT message_id FROM crm.email_outbox WHERE id = :first_id) AS distinct_ids
  FROM crm.email_outbox WHERE id = :html_id;

-- settings and their defaults
SHOW crm.mail_from;
SHOW crm.max_message_size;
SHOW crm.unsubscribe_url;
SHOW crm.message_id_domain;
SHOW crm.mail_from_name;

-- the Message-ID domain: crm.message_id_domain, else crm.mail_from's domain
SET crm.mail_from = 'sales@zhixue.example.cn';
SELECT crm.send_email('a@example.com', 's', 'b') AS id \gset
SELECT message_id ~ '@zhixue\.example\.cn>$' AS from_mail_from FROM crm.email_outbox WHERE id = :id;
SET crm.message_id_domain = 'mail.zhixue.example.cn';
SELECT crm.send_email('a@example.com', 's', 'b') AS id \gset
SELECT message_id ~ '@mail\.zhixue\.example\.cn>$' AS from_message_id_domain FROM crm.email_outbox WHERE id = :id;
RESET crm.message_id_domain;
RESET crm.mail_from;

-- bad settings are refused with the reason
SET crm.mail_from = 'not an address';
SET crm.mail_from = '发件人@example.com';
SET crm.mail_from_name = E'two\nlines';
SET crm.message_id_domain = 'localhost';
SET crm.unsubscribe_url = 'http://zhixue.example.cn/unsubscribe';
SET crm.unsubscribe_url = 'https://zhixue.example.cn/u?a={{address}}&b={{address}}';
SET crm.unsubscribe_url = 'https://zhixue.example.cn/u#{{address}}';
SET crm.max_message_size = 100;

-- every bad input is an error naming the problem, and nothing is queued
SELECT count(*) AS queued_before FROM crm.email_outbox \gset
SELECT crm.send_email('not-an-address', 'subject', 'body');
SELECT crm.send_email(E'x@example.com\r\nBcc: victim@example.com', 'subject', 'body');
SELECT crm.send_email('x@example.com, y@example.com', 'subject', 'body');
SELECT crm.send_email('王芳@例子.中国', 'subject', 'body');
SELECT crm.send_email('a@example.com', E'Hello\r\nBcc: victim@example.com', 'body');
SELECT crm.send_email('a@example.com', E'Hello\nthere', 'body');
SELECT crm.send_email('a@example.com', E'bell\x07', 'body');
SELECT crm.send_email('a@example.com', '', 'body');
SELECT crm.send_email('a@example.com', E' \t ', 'body');
SELECT crm.send_email('a@example.com', 'subject', E' \r\n ');
SELECT crm.send_email('a@example.com', 'subject', 'body', '');
SELECT crm.send_email(NULL, 'subject', 'body');
SELECT crm.send_email('a@example.com', NULL, 'body');
SELECT crm.send_email('a@example.com', 'subject', NULL);
SELECT crm.send_email('a@example.com', 'subject', 'body', NULL, '');
SELECT crm.send_email('a@example.com', 'subject', 'body', NULL, repeat('k', 256));
-- size: the limit counts the message as sent (headers, encoding)
SET crm.max_message_size = '4kB';
SELECT crm.send_email('a@example.com', 'subject', repeat('x', 5000));
SELECT crm.send_email('a@example.com', 'subject', repeat('长', 1200));
SELECT count(*) = :queued_before AS nothing_queued FROM crm.email_outbox;
SELECT crm.send_email('a@example.com', 'subject', repeat('长', 700)) AS near_limit \gset
SELECT octet_length(crm.render_message(:near_limit)) BETWEEN 3000 AND 4096 AS within_limit;
RESET crm.max_message_size;
SELECT crm.send_email('a@example.com', 'subject', repeat('长', 1200)) IS NOT NULL AS fits_default_limit;

-- suppression: an unsubscription (case-insensitive, idempotent) stops marketing
-- email only, and cancels what is queued of it; transactional email still goes
INSERT INTO crm.email_template (key, subject, body_text, category) VALUES ('news', '本月新课', '新课上线', 'marketing');
UPDATE crm.setting SET value = 'unless_withdrawn' WHERE key = 'marketing_consent';
SELECT crm.send_email('Zhao.Min@Huaxia.example.cn', 'queued before unsubscribing', 'b') AS zhao_id \gset
SELECT crm.send_template('news', 'Zhao.Min@Huaxia.example.cn') AS zhao_news \gset
SELECT crm.unsubscribe('ZHAO.MIN@huaxia.example.cn') AS newly_suppressed;
SELECT crm.unsubscribe('zhao.min@HUAXIA.example.cn') AS newly_suppressed;
SELECT address, reason FROM crm.email_suppression;
SELECT id = :zhao_news AS marketing, status, last_error, sent_at IS NOT NULL AS finished
  FROM crm.email_outbox WHERE id IN (:zhao_id, :zhao_news) ORDER BY id;
SELECT crm.send_template('news', 'zhao.min@huaxia.example.cn') IS NULL AS marketing_suppressed;
SELECT crm.send_email('zhao.min@huaxia.example.cn', 'subject', 'body') IS NOT NULL AS transactional_queued;
-- a block (or a hard bounce) stops all email: NULL, nothing queued
INSERT INTO crm.email_suppression (address, reason) VALUES ('blocked@example.com', 'blocked');
SELECT count(*) AS queued_before FROM crm.email_outbox \gset
SELECT crm.send_email('blocked@example.com', 'subject', 'body') IS NULL AS suppressed_null;
SELECT crm.send_email('Blocked@Example.COM', 'subject', 'body', '<p>x</p>', 'key-z') IS NULL AS suppressed_null;
SELECT crm.send_template('news', 'blocked@example.com') IS NULL AS suppressed_null;
SELECT count(*) = :queued_before AS nothing_queued FROM crm.email_outbox;
UPDATE crm.setting SET value = 'required' WHERE key = 'marketing_consent';
SELECT crm.unsubscribe('no-at-sign');
SELECT crm.unsubscribe(NULL) IS NULL AS null_in_null_out;

-- idempotency: a known key returns its row, whatever the other arguments
SELECT crm.send_email('chen.jing@example.com', '发票 INV-2024-000001', 'first', NULL, 'invoice-1-issued') AS k1 \gset
SELECT crm.send_email('chen.jing@example.com', 'changed', 'second', NULL, 'invoice-1-issued') AS k2 \gset
SELECT :k1 = :k2 AS same_id, subject, body_text
  FROM crm.email_outbox WHERE idempotency_key = 'invoice-1-issued';
-- ... even after the address is suppressed or the message cancelled
SELECT crm.cancel_email(:k1) AS cancelled;
INSERT INTO crm.email_suppression (address, reason) VALUES ('chen.jing@example.com', 'blocked');
SELECT crm.send_email('chen.jing@example.com', 'again', 'third', NULL, 'invoice-1-issued') = :k1 AS same_id;
SELECT count(*) AS rows_with_key FROM crm.email_outbox WHERE idempotency_key = 'invoice-1-issued';
DELETE FROM crm.email_suppression WHERE address = 'chen.jing@example.com';

-- cancellation: only while queued (ids from here on are fixed, for the error messages)
ALTER TABLE crm.email_outbox ALTER COLUMN id RESTART WITH 900000001;
SELECT crm.send_email('sun.lei@example.com', 'to cancel', 'b') AS c_id \gset
SELECT crm.cancel_email(:c_id) AS cancelled;
SELECT crm.cancel_email(:c_id) AS cancelled_again;
SELECT status, last_error = 'cancelled by ' || session_user AS says_who, sent_at IS NOT NULL AS finished
  FROM crm.email_outbox WHERE id = :c_id;
SELECT crm.send_email('sun.lei@example.com', 'being sent', 'b') AS c_id \gset
UPDATE crm.email_outbox SET status = 'sending', attempts = 1, lease_until = now() + interval '1 minute' WHERE id = :c_id;
SELECT crm.cancel_email(:c_id);
UPDATE crm.email_outbox SET status = 'sent', lease_until = NULL, sent_at = now() WHERE id = :c_id;
SELECT crm.cancel_email(:c_id);
UPDATE crm.email_outbox SET status = 'failed' WHERE id = :c_id;
SELECT crm.cancel_email(:c_id);
SELECT crm.cancel_email(-1);
SELECT crm.cancel_email(NULL) IS NULL AS null_in_null_out;

-- the table's own constraints hold for every writer, the worker included
\set VERBOSITY terse
UPDATE crm.email_outbox SET status = 'lost' WHERE id = :c_id;
UPDATE crm.email_outbox SET attempts = -1 WHERE id = :c_id;
UPDATE crm.email_outbox SET subject = E'x\r\nBcc: victim@example.com' WHERE id = :c_id;
UPDATE crm.email_outbox SET to_address = E'victim@example.com\nBcc: x@example.com' WHERE id = :c_id;
\set VERBOSITY default

-- templates: {{name}} placeholders, HTML-escaped in the HTML part; {{{name}}} raw
INSERT INTO crm.email_template (key, subject, body_text, body_html) VALUES
    ('welcome', '{{name}}，欢迎加入{{ company }}！',
     E'你好 {{name}}：\n课程「{{course}}」已开通，金额 {{amount}} 元，已付 {{paid}}。{{note}}\n'
     '字面量：{{{name}}} {{not a name}} {{ }} {{}} {{name} {{unterminated',
     '<p>你好 {{name}}</p><p>{{course}}</p><p>{{tags}}</p>');
SELECT crm.send_template('welcome', 'wu.hao@example.com',
       '{"name": "吴昊", "company": "智学在线", "course": "<Python & \"数据\"> 入门", "amount": 1999.50,
         "paid": true, "note": null, "tags": ["a", "<b>"]}') AS t1 \gset
SELECT subject, body_text, body_html, template_key FROM crm.email_outbox WHERE id = :t1;
-- a value is never scanned for placeholders
SELECT crm.send_template('welcome', 'wu.hao@example.com',
       '{"name": "{{company}}", "company": "x", "course": "c", "amount": 1, "paid": false, "note": "", "tags": {}}') AS t2 \gset
SELECT subject FROM crm.email_outbox WHERE id = :t2;
-- errors
SELECT crm.send_template('welcome', 'wu.hao@example.com', '{"name": "吴昊"}');
SELECT crm.send_template('welcome', 'wu.hao@example.com', '{"name": "吴昊", "company": "智学在线", "course": "c",
       "amount": 1, "paid": true, "note": "", "tags": []}'::jsonb - 'tags');
SELECT crm.send_template('welcome', 'wu.hao@example.com', '{"name": "line\r\nBcc: victim@example.com",
       "company": "x", "course": "c", "amount": 1, "paid": true, "note": "", "tags": []}');
SELECT crm.send_template('no_such_template', 'wu.hao@example.com', '{}');
SELECT crm.send_template('welcome', 'wu.hao@example.com', '["name"]');
SELECT crm.send_template(NULL, 'wu.hao@example.com', '{}');
SELECT crm.send_template('welcome', NULL, '{}');
-- vars may be omitted or NULL when the template has no placeholders
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('ping', '测试 ✅', 'pong');
SELECT crm.send_template('ping', 'not-an-address');
SELECT crm.send_template('ping', 'wu.hao@example.com') IS NOT NULL AS queued,
       crm.send_template('ping', 'wu.hao@example.com', NULL) IS NOT NULL AS queued_null_vars;
SELECT crm.send_template('ping', 'blocked@example.com') IS NULL AS suppressed_null;
\set VERBOSITY terse
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('ping', 'dup', 'dup');
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('bad1', E'two\nlines', 'b');
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('bad2', 's', '  ');
INSERT INTO crm.email_template (key, subject, body_text, body_html) VALUES ('bad3', 's', 'b', '');
INSERT INTO crm.email_template (key, subject, body_text) VALUES (' ', 's', 'b');
INSERT INTO crm.email_suppression (address, reason) VALUES ('Upper@Example.com', 'manual');
\set VERBOSITY default

-- render_message: what the worker sends.  CRLF line endings (checked, then
-- shown as LF); Date, random Message-ID part and boundary masked.
CREATE FUNCTION pg_temp.shown(id bigint) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(replace(crm.render_message(id), E'\r\n', E'\n'),
           'Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000', 'Date: <date>'),
           '<[0-9a-f]{24}\.\d+@', '<<random>.<id>@'),
           '=_crm_[0-9A-F]{32}', '=_crm_<boundary>', 'g')
$$;
SELECT crm.render_message(id) ~ '(^|[^\r])\n' AS has_bare_lf, crm.render_message(id) ~ '\r($|[^\n])' AS has_bare_cr,
       right(crm.render_message(id), 2) = E'\r\n' AS ends_with_crlf
  FROM crm.email_outbox WHERE id IN (:first_id, :html_id, :t1) ORDER BY id;
SELECT pg_temp.shown(:first_id);
SELECT pg_temp.shown(:t1);
SELECT crm.send_email('ascii@example.com',
       'A plain ASCII subject stays readable and is folded at spaces when it is longer than one line',
       E'Line one\n.starts with a dot\nFrom the start\ntrailing space \nno final break') AS a_id \gset
SET crm.unsubscribe_url = 'https://zhixue.example.cn/unsubscribe?list=news';
SET crm.mail_from_name = '智学在线';
SELECT pg_temp.shown(:a_id);
SET crm.unsubscribe_url = 'https://zhixue.example.cn/u/{{address}}/confirm';
SET crm.mail_from_name = 'Zhixue Online (CRM)';
SELECT line FROM regexp_split_to_table(pg_temp.shown(:a_id), E'\n') AS line
 WHERE line ~ '^(From|List-Unsubscribe)';
RESET crm.unsubscribe_url;
RESET crm.mail_from_name;
SELECT crm.render_message(-1);

-- privileges
CREATE ROLE regress_mail_nobody LOGIN;
CREATE ROLE regress_mail_bi LOGIN IN ROLE crm_reader;
CREATE ROLE regress_mail_rep LOGIN IN ROLE crm_user;
CREATE ROLE regress_mail_boss LOGIN IN ROLE crm_admin;
-- a role outside the crm groups reaches nothing
SET ROLE regress_mail_nobody;
SELECT crm.send_email('a@example.com', 's', 'b');
SELECT count(*) FROM crm.email_outbox;
SET crm.max_message_size = '1GB';
SET crm.mail_from = 'spoof@example.com';
RESET ROLE;
-- a BI reader reads the queue's metadata, not the messages, and cannot send or change it
SET ROLE regress_mail_bi;
SELECT count(*) > 0 AS reads_outbox FROM crm.email_outbox;
SELECT count(*) > 0 AS reads_metadata FROM crm.email_outbox
 WHERE to_address LIKE '%@%' AND subject IS NOT NULL AND status IS NOT NULL AND created_by IS NOT NULL;
SELECT count(*) >= 0 AS reads_log FROM crm.email_delivery_log;
SELECT body_text FROM crm.email_outbox LIMIT 1;
SELECT body_html FROM crm.email_outbox LIMIT 1;
SELECT * FROM crm.email_outbox LIMIT 1;
SELECT * FROM crm.email_body LIMIT 1;
SELECT crm.send_email('a@example.com', 's', 'b');
SELECT crm.unsubscribe('a@example.com');
RESET ROLE;
-- a crm_user sends, cancels and unsubscribes through the API only
SET ROLE regress_mail_boss;
SELECT crm.send_email('boss@example.com', 'from the boss', 'the boss''s body') AS boss_id \gset
RESET ROLE;
SET ROLE regress_mail_rep;
SELECT crm.send_email('rep@example.com', 'from the rep', 'the rep''s body') AS rep_id \gset
SELECT crm.send_template('ping', 'rep@example.com') IS NOT NULL AS template_sent;
-- ... reads the bodies of the mail they queued, and only those
SELECT count(*) AS own_bodies, bool_and(o.created_by = current_user) AS all_own
  FROM crm.email_body b JOIN crm.email_outbox o USING (id);
SELECT body_text FROM crm.email_body WHERE id = :rep_id;
SELECT count(*) AS boss_body_seen FROM crm.email_body WHERE id = :boss_id;
SELECT body_text FROM crm.email_outbox WHERE id = :rep_id;
-- ... cancels only the mail they queued
SELECT crm.cancel_email(:boss_id);
SELECT crm.cancel_email(:rep_id) AS cancelled;
SELECT last_error FROM crm.email_outbox WHERE id = :rep_id;
SELECT crm.unsubscribe('rep-unsub@example.com') AS unsubscribed;
INSERT INTO crm.email_outbox (to_address, subject, body_text, message_id) VALUES ('a@example.com', 's', 'b', '<x@y>');
UPDATE crm.email_outbox SET status = 'queued' WHERE id = :rep_id;
DELETE FROM crm.email_outbox WHERE id = :rep_id;
DELETE FROM crm.email_suppression;
INSERT INTO crm.email_template (key, subject, body_text) VALUES ('rep', 's', 'b');
INSERT INTO crm.email_delivery_log (outbox_id, attempt, started_at, outcome) VALUES (:rep_id, 1, now(), 'sent');
SELECT crm.render_message(:rep_id);
SET crm.max_message_size = '1GB';
-- the URLs every role can read hold no credentials (check hooks, as superuser)
RESET ROLE;
ALTER SYSTEM SET crm.smtp_url = 'smtp://alice:s3cret@mail.example.com:587';
ALTER SYSTEM SET crm.smtp_url = 'smtps://alice@mail.example.com';
ALTER SYSTEM SET crm.http_url = 'https://api.example.com/v3/mail/send?api_key=KEY';
ALTER SYSTEM SET crm.http_url = 'https://api.example.com/send?region=eu&Access%5fToken=T';
ALTER SYSTEM SET crm.http_url = 'https://api.example.com/send?client_secret=S';
ALTER SYSTEM SET crm.http_url = 'https://api.example.com/send?sig=S';
ALTER SYSTEM SET crm.http_url = 'https://user:pw@api.example.com/send';
-- URLs without credentials are fine
ALTER SYSTEM SET crm.http_url = 'https://api.example.com:8443/v3/mail/send?region=eu&format=json#part';
ALTER SYSTEM SET crm.smtp_url = 'smtp://mail.example.com:587';
ALTER SYSTEM RESET crm.http_url;
ALTER SYSTEM RESET crm.smtp_url;
SET ROLE regress_mail_rep;
-- the pinned search_path ignores the caller's objects
CREATE TEMP TABLE email_outbox (id bigint);
SET search_path = pg_temp, crm, public;
SELECT crm.send_email('rep@example.com', 'search path', 'b') IS NOT NULL AS queued;
SELECT count(*) AS temp_rows FROM pg_temp.email_outbox;
DROP TABLE pg_temp.email_outbox;
RESET search_path;
RESET ROLE;
SELECT created_by, subject, status FROM crm.email_outbox WHERE created_by = 'regress_mail_rep' ORDER BY id;
-- a crm_admin edits templates and the suppression list, renders messages,
-- reads every body and cancels anyone's mail
SET ROLE regress_mail_boss;
SELECT count(*) > 2 AS every_body, count(*) FILTER (WHERE id = :rep_id) AS reps
  FROM crm.email_body;
SELECT body_text FROM crm.email_outbox WHERE id = :boss_id;
SELECT crm.send_email('rep2@example.com', 'for the boss to cancel', 'b') AS other_id \gset
RESET ROLE;
UPDATE crm.email_outbox SET created_by = 'regress_mail_rep' WHERE id = :other_id;
SET ROLE regress_mail_boss;
SELECT crm.cancel_email(:other_id) AS admin_cancels_any;
UPDATE crm.email_template SET subject = '测试 ✅ (edited)' WHERE key = 'ping';
DELETE FROM crm.email_suppression WHERE address = 'rep-unsub@example.com';
INSERT INTO crm.email_suppression (address, reason) VALUES ('bounced@example.com', 'manual');
SELECT crm.render_message(:rep_id) LIKE '%Subject: from the rep%' AS renders;
UPDATE crm.email_outbox SET status = 'queued' WHERE id = :rep_id;
RESET ROLE;
DROP ROLE regress_mail_nobody, regress_mail_bi, regress_mail_rep, regress_mail_boss;

-- leave the queue empty for the suites that follow
DELETE FROM crm.email_outbox;
DELETE FROM crm.email_suppression;
DELETE FROM crm.email_template;
