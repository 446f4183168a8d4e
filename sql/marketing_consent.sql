-- marketing_consent: time zones of people and accounts, the consent ledger,
-- the marketing settings, double opt-in with signed tokens (forged and
-- expired ones refused), unsubscription, privileges, restore mode.
\set test_db crm_regress_marketing_consent
\i sql/marketing_setup.inc

-- time zones: IANA names on people and accounts, resolved person, account, company
INSERT INTO crm.account (name, time_zone) VALUES ('华夏教育', 'Asia/Shanghai'), ('Berlin GmbH', NULL);
INSERT INTO crm.contact (name, email, account_id, time_zone) VALUES
    ('王芳', 'wang.fang@example.com', 1, NULL),
    ('Jonas', 'jonas@example.com', 2, 'Europe/Berlin'),
    ('Anna', 'anna@example.com', 2, NULL),
    ('无邮箱', NULL, NULL, NULL);
SELECT id, name, crm.contact_time_zone(id) AS resolved FROM crm.contact ORDER BY id;
UPDATE crm.setting SET value = ' America/New_York ' WHERE key = 'time_zone';
SELECT id, crm.contact_time_zone(id) AS resolved FROM crm.contact ORDER BY id;
SELECT crm.contact_time_zone(999) AS unknown_person_gets_company_zone;
UPDATE crm.setting SET value = 'UTC' WHERE key = 'time_zone';
SELECT * FROM pg_temp.try($$UPDATE crm.contact SET time_zone = 'Mars/Olympus' WHERE id = 1$$);
SELECT * FROM pg_temp.try($$UPDATE crm.contact SET time_zone = 'EST5EDT' WHERE id = 1$$);
SELECT * FROM pg_temp.try($$INSERT INTO crm.account (name, time_zone) VALUES ('x', 'UTC+8')$$);

-- settings: validated (22023) and normalised when written
SELECT key, value, validator FROM crm.setting WHERE key IN ('marketing_consent', 'opt_in_url', 'opt_in_ttl') ORDER BY key;
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'sometimes' WHERE key = 'marketing_consent'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'ftp://example.com/x' WHERE key = 'opt_in_url'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'https://example.com/a b' WHERE key = 'opt_in_url'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'https://example.com/#x' WHERE key = 'opt_in_url'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'soon' WHERE key = 'opt_in_ttl'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '-1 day' WHERE key = 'opt_in_ttl'$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = '2 years' WHERE key = 'opt_in_ttl'$$);
UPDATE crm.setting SET value = ' Unless_Withdrawn ' WHERE key = 'marketing_consent';
UPDATE crm.setting SET value = '48 hours' WHERE key = 'opt_in_ttl';
SELECT key, value FROM crm.setting WHERE key IN ('marketing_consent', 'opt_in_ttl') ORDER BY key;

-- the ledger: grants and withdrawals; the view shows the latest per purpose
SELECT crm.marketing_consent_status(1) AS before, crm.marketing_allowed(1) AS allowed_unless_withdrawn,
       crm.marketing_allowed(NULL) AS stranger_allowed;
SELECT crm.grant_consent(1, source => 'signup form', proof => '{"ip": "203.0.113.7"}') AS c1;
SELECT crm.grant_consent(2, 'newsletter') AS c2;
SELECT crm.withdraw_consent(2, 'newsletter', 'preference centre') AS c3;
SELECT crm.grant_consent(2) AS c4;
SELECT crm.withdraw_consent(3, source => 'phone call') AS c5;
SELECT id, contact_id, purpose, status, source, proof, recorded_by = current_user AS by_me FROM crm.consent ORDER BY id;
SELECT contact_id, purpose, status, source, consent_id FROM crm.contact_consent ORDER BY contact_id, purpose;
SELECT id, crm.marketing_consent_status(id) AS status, crm.marketing_allowed(id) AS allowed FROM crm.contact ORDER BY id;
UPDATE crm.setting SET value = 'required' WHERE key = 'marketing_consent';
SELECT id, crm.marketing_allowed(id) AS allowed_when_required FROM crm.contact ORDER BY id;
SELECT crm.marketing_allowed(NULL) AS stranger_allowed_when_required;
SELECT * FROM pg_temp.try($$SELECT crm.grant_consent(999)$$);
SELECT * FROM pg_temp.try($$SELECT crm.grant_consent(NULL)$$);
SELECT * FROM pg_temp.try($$SELECT crm.grant_consent(1, 'Bad Purpose')$$);
SELECT * FROM pg_temp.try($$SELECT crm.grant_consent(1, NULL)$$);
SELECT * FROM pg_temp.try($$SELECT crm.grant_consent(1, 'marketing', NULL, '[1]')$$);

-- marketing email goes only where consent allows; transactional always
INSERT INTO crm.email_template (key, subject, body_text, category) VALUES
    ('spring_sale', '春季课程优惠', '{{name}}，春季课程八折。', 'marketing');
SELECT crm.send_template('spring_sale', 'wang.fang@example.com', '{"name": "王芳"}') IS NOT NULL AS granted_gets_it,
       crm.send_template('spring_sale', 'anna@example.com', '{"name": "Anna"}') IS NULL AS withdrawn_gets_nothing,
       crm.send_template('spring_sale', 'stranger@example.com', '{"name": "?"}') IS NULL AS unknown_gets_nothing,
       crm.send_email('anna@example.com', '发票', '发票已开具') IS NOT NULL AS transactional_goes;
SELECT to_address, category, contact_id FROM crm.email_outbox ORDER BY id;

-- double opt-in: needs the URL setting and an address
SELECT * FROM pg_temp.try($$SELECT crm.request_opt_in(3)$$);
UPDATE crm.setting SET value = 'https://zhixue.example.cn/confirm?list=news' WHERE key = 'opt_in_url';
SELECT * FROM pg_temp.try($$SELECT crm.request_opt_in(4)$$);
SELECT * FROM pg_temp.try($$SELECT crm.request_opt_in(999)$$);
SELECT crm.request_opt_in(3) AS opt_in_mail \gset
SELECT to_address, category, template_key, subject,
       body_text ~ 'https://zhixue\.example\.cn/confirm\?list=news&token=[A-Za-z0-9_-]+\.[0-9]+\.[A-Za-z0-9_-]{43}\M' AS has_link,
       body_html ~ 'href="https://zhixue\.example\.cn/confirm\?list=news&amp;token=' AS html_link_escaped
  FROM crm.email_outbox WHERE id = :opt_in_mail;
SELECT substring(body_text from 'token=([A-Za-z0-9_.-]+)') AS token FROM crm.email_outbox WHERE id = :opt_in_mail \gset
-- the link is valid for opt_in_ttl (48 hours here)
SELECT split_part(:'token', '.', 2)::bigint - extract(epoch FROM now())::bigint BETWEEN 48 * 3600 - 5 AND 48 * 3600 + 5
       AS expires_in_48_hours;
-- confirming grants consent with the token as proof; opening it again changes nothing
SELECT crm.confirm_opt_in(:'token') AS granted \gset
SELECT crm.confirm_opt_in(:'token') = :granted AS same_entry;
SELECT contact_id, status, source, proof ? 'token' AS token_kept, proof->>'token' = :'token' AS is_the_token
  FROM crm.consent WHERE id = :granted;
SELECT crm.marketing_allowed(3) AS anna_allowed_now;
-- forged, tampered, foreign and expired tokens: 22023
SELECT * FROM pg_temp.try(format($$SELECT crm.confirm_opt_in(%L)$$,
       'Mg' || substr(:'token', strpos(:'token', '.'))));
SELECT * FROM pg_temp.try(format($$SELECT crm.confirm_opt_in(%L)$$,
       regexp_replace(:'token', '\.([0-9]+)\.', '.9' || '\1.')));
SELECT * FROM pg_temp.try(format($$SELECT crm.confirm_opt_in(%L)$$,
       left(:'token', -10) || CASE substr(:'token', length(:'token') - 9, 1) WHEN 'A' THEN 'B' ELSE 'A' END
       || right(:'token', 9)));
-- a second spelling of the same signature bytes (the unused low bits of the last character)
SELECT * FROM pg_temp.try(format($$SELECT crm.confirm_opt_in(%L)$$,
       left(:'token', -1) || translate(right(:'token', 1), 'AEIMQUYcgkosw048BFJNRVZdhlptx159', 'BFJNRVZdhlptx159AEIMQUYcgkosw048')));
SELECT * FROM pg_temp.try($$SELECT crm.confirm_opt_in('not-a-token')$$);
SELECT * FROM pg_temp.try($$SELECT crm.confirm_opt_in('a.b.c')$$);
SELECT * FROM pg_temp.try($$SELECT crm.confirm_opt_in('')$$);
SELECT * FROM pg_temp.try(format($$SELECT crm.confirm_opt_in(%L)$$,
       crm.sign_token('click', '3', now() + interval '1 hour')));
SELECT * FROM pg_temp.try(format($$SELECT crm.confirm_opt_in(%L)$$,
       crm.sign_token('opt_in', '3', now() - interval '1 second')));
SELECT crm.confirm_opt_in(NULL) IS NULL AS null_in_null_out;
SELECT crm.verify_token('opt_in', crm.sign_token('opt_in', '一二三', now() + interval '1 minute')) AS round_trip;

-- unsubscribe: withdraws marketing consent, suppresses marketing email only,
-- cancels queued marketing email, records an unsubscribed event
SELECT crm.send_template('spring_sale', 'Wang.Fang@example.com', '{"name": "王芳"}') AS queued_promo \gset
SELECT crm.unsubscribe('WANG.FANG@example.com') AS newly_suppressed;
SELECT crm.unsubscribe('wang.fang@example.com') AS newly_suppressed;
SELECT status, last_error FROM crm.email_outbox WHERE id = :queued_promo;
SELECT address, reason FROM crm.email_suppression;
SELECT status, source FROM crm.contact_consent WHERE contact_id = 1 AND purpose = 'marketing';
SELECT count(*) AS withdrawals FROM crm.consent WHERE contact_id = 1 AND status = 'withdrawn';
SELECT kind, source, properties FROM crm.event WHERE contact_id = 1 ORDER BY id;
SELECT crm.send_template('spring_sale', 'wang.fang@example.com', '{"name": "王芳"}') IS NULL AS marketing_stopped,
       crm.send_email('wang.fang@example.com', '付款确认', '已收到') IS NOT NULL AS transactional_goes;
-- a new marketing consent lifts the unsubscription; a block stays
SELECT crm.grant_consent(1, source => 're-subscribed') > 0 AS granted;
SELECT count(*) AS suppressions FROM crm.email_suppression;
SELECT crm.send_template('spring_sale', 'wang.fang@example.com', '{"name": "王芳"}') IS NOT NULL AS marketing_again;
INSERT INTO crm.email_suppression (address, reason) VALUES ('jonas@example.com', 'blocked');
SELECT crm.grant_consent(2) > 0 AS granted;
SELECT address, reason FROM crm.email_suppression;
SELECT crm.send_email('jonas@example.com', 's', 'b') IS NULL AS blocked_gets_nothing;
SELECT * FROM pg_temp.try($$SELECT crm.unsubscribe('not an address')$$);

-- privileges: crm_user through the API only; the secret is the owner's alone
CREATE ROLE regress_consent_rep LOGIN IN ROLE crm_user;
CREATE ROLE regress_consent_bi LOGIN IN ROLE crm_reader;
SET ROLE regress_consent_rep;
SELECT crm.grant_consent(4, source => 'rep') > 0 AS granted;
SELECT recorded_by FROM crm.consent WHERE source = 'rep';
SELECT * FROM pg_temp.try($$INSERT INTO crm.consent (contact_id, status) VALUES (1, 'granted')$$);
SELECT * FROM pg_temp.try($$UPDATE crm.consent SET status = 'granted'$$);
SELECT * FROM pg_temp.try($$DELETE FROM crm.consent$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.signing_secret$$);
SELECT * FROM pg_temp.try($$SELECT crm.sign_token('opt_in', '1', now() + interval '1 day')$$);
SELECT * FROM pg_temp.try($$SELECT crm.verify_token('opt_in', 'x.1.y')$$);
SELECT * FROM pg_temp.try($$SELECT crm._new_signing_secret()$$);
SELECT * FROM pg_temp.try($$UPDATE crm.setting SET value = 'unless_withdrawn' WHERE key = 'marketing_consent'$$);
RESET ROLE;
SET ROLE regress_consent_bi;
SELECT count(*) > 0 AS reads_consent FROM crm.consent;
SELECT count(*) > 0 AS reads_view FROM crm.contact_consent;
SELECT * FROM pg_temp.try($$SELECT crm.grant_consent(1)$$);
SELECT * FROM pg_temp.try($$SELECT * FROM crm.signing_secret$$);
RESET ROLE;
DROP ROLE regress_consent_rep, regress_consent_bi;

-- the secret: 32 random bytes made at CREATE EXTENSION, kept by backups; a
-- restore puts the saved secret in place of the fresh one
SELECT count(*) AS secrets, octet_length(secret) AS bytes FROM crm.signing_secret GROUP BY 2;
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'crm' AND c.relname IN ('consent', 'consent_id_seq', 'signing_secret', 'signing_secret_id_seq')
 ORDER BY 1;
SELECT crm.sign_token('opt_in', '3', '2100-01-01') AS old_token \gset
SET row_security = off;
INSERT INTO crm.signing_secret (id, secret, created_at) OVERRIDING SYSTEM VALUE
VALUES (1, decode(repeat('ab', 32), 'hex'), '2020-01-01');
RESET row_security;
SELECT count(*) AS secrets, encode(secret, 'hex') = repeat('ab', 32) AS restored FROM crm.signing_secret GROUP BY 2;
SELECT * FROM pg_temp.try(format($$SELECT crm.confirm_opt_in(%L)$$, :'old_token'));

\c :regress_db
DROP DATABASE :test_db;
