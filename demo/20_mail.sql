-- demo/20_mail.sql: 智学在线's email.  Templates with Chinese subjects, a
-- trigger (a demo of what an application adds; not part of the extension)
-- that queues a templated email when a deal enters 谈判中 or 成交, deals
-- moved so that emails are queued, then the crm worker delivers them with
-- the default file transport (one .eml file each in crm.mail_dir).
\pset footer off
SET client_min_messages = warning;
SELECT id AS pipeline_id FROM crm.pipeline WHERE name = '在线教育销售' \gset

\echo
\echo '=== Email: sender, one-click unsubscribe, templates ==='
ALTER SYSTEM SET crm.mail_from = 'service@zhixue.example.cn';
ALTER SYSTEM SET crm.mail_from_name = '智学在线';
ALTER SYSTEM SET crm.unsubscribe_url = 'https://zhixue.example.cn/unsubscribe?address={{address}}';
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
SHOW crm.mail_from;

INSERT INTO crm.email_template (key, subject, body_text, body_html) VALUES
('deal_negotiating',
 '{{contact}}，您的培训方案「{{deal}}」报价已准备好',
 E'{{contact}}，您好：\n\n感谢您对智学在线的信任。我们已为{{account}}准备好「{{deal}}」的报价，'
 '合计 {{amount}} 元，有效期至 {{close_date}}。\n负责顾问{{owner}}会在两个工作日内与您联系。\n\n'
 '智学在线 企业培训部\n',
 '<p>{{contact}}，您好：</p><p>感谢您对智学在线的信任。我们已为<b>{{account}}</b>准备好'
 '「{{deal}}」的报价，合计 <b>{{amount}} 元</b>，有效期至 {{close_date}}。</p>'
 '<p>负责顾问{{owner}}会在两个工作日内与您联系。</p><p>智学在线 企业培训部</p>'),
('deal_won',
 '🎉 欢迎加入智学在线，{{contact}}！课程已开通',
 E'{{contact}}，您好：\n\n「{{deal}}」已签约，课程账号已开通。开课前一周我们会发送学习指南。\n\n'
 '智学在线 学员服务中心\n',
 '<p>{{contact}}，您好：</p><p>「{{deal}}」已签约，课程账号已开通。开课前一周我们会发送学习指南。</p>'
 '<p>智学在线 学员服务中心</p>');
SELECT key, subject FROM crm.email_template ORDER BY key;

-- The application's part: email the deal's contact when a deal enters
-- 谈判中 (quote ready) or 成交 (welcome).  crm.send_template validates and
-- queues inside the deal's own transaction, so a rolled-back move sends nothing.
CREATE FUNCTION public.demo_email_on_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c record;
BEGIN
    SELECT ct.name, ct.email, coalesce(a.name, ct.name) AS account INTO c
      FROM crm.contact ct LEFT JOIN crm.account a ON a.id = ct.account_id
     WHERE ct.id = NEW.contact_id;
    IF c.email IS NOT NULL THEN
        PERFORM crm.send_template(CASE NEW.stage WHEN '成交' THEN 'deal_won' ELSE 'deal_negotiating' END,
                                  c.email,
                                  jsonb_build_object('contact', c.name, 'account', c.account, 'deal', NEW.name,
                                                     'amount', to_char(NEW.amount, 'FM999,999,990.00'),
                                                     'close_date', NEW.expected_close_date, 'owner', NEW.owner));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER demo_email_on_stage AFTER UPDATE OF stage ON crm.deal
    FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage AND NEW.stage IN ('谈判中', '成交'))
    EXECUTE FUNCTION public.demo_email_on_stage();

\echo
\echo '--- 吴昊 unsubscribed last week: his address is suppressed, so his deal below queues nothing ---'
SELECT crm.unsubscribe(email) AS unsubscribed FROM crm.contact WHERE name = '吴昊';
INSERT INTO crm.deal (name, account_id, contact_id, currency, owner)
SELECT '个人学员 · 数据分析实战', c.account_id, c.id, 'CNY', '李娜' FROM crm.contact c WHERE c.name = '吴昊'
RETURNING id AS wu_deal \gset
INSERT INTO crm.deal_item (deal_id, product_id, quantity) SELECT :wu_deal, id, 1 FROM crm.product WHERE sku = 'DA-201';
UPDATE crm.deal SET stage = '潜在客户' WHERE id = :wu_deal;

\echo
\echo '--- deals move: the four newest deals at 潜在客户 (吴昊''s among them) enter 谈判中; the 星辰科技 deal is won ---'
UPDATE crm.deal d SET stage = '谈判中', expected_close_date = current_date + 21
 WHERE d.id IN (SELECT id FROM crm.deal
                 WHERE pipeline_id = :pipeline_id AND stage = '潜在客户' AND contact_id IS NOT NULL
                 ORDER BY created_at DESC, id DESC LIMIT 4)
RETURNING d.name AS entered_谈判中;
UPDATE crm.deal SET stage = '成交' WHERE name = '星辰科技 · Python 团购 40 人';
SELECT o.id, o.to_address, o.template_key, o.subject, o.status FROM crm.email_outbox o ORDER BY o.id;

\echo
\echo '--- waiting for the worker to deliver (polling crm.email_outbox) ---'
DO $$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '15 seconds';
BEGIN
    WHILE EXISTS (SELECT FROM crm.email_outbox WHERE status IN ('queued', 'sending'))
          AND clock_timestamp() < deadline LOOP
        PERFORM pg_sleep(0.2);
    END LOOP;
END
$$;
SELECT o.id, o.to_address, o.status, o.attempts, o.sent_at IS NOT NULL AS has_sent_at, l.transport
  FROM crm.email_outbox o LEFT JOIN crm.email_delivery_log l ON l.outbox_id = o.id
 ORDER BY o.id;

\echo
\echo '=== crm.worker_status ==='
\x on
SELECT pid IS NOT NULL AS running, state, database, queued, sending, sent, failed, sent_since_start, last_error
  FROM crm.worker_status;
\x off
\echo '=== crm.worker_duties: what else the same worker does (a SQL duty is absent until its feature is installed) ==='
SELECT duty, state, coalesce(sql_function, '(C)') AS runs, backlog, done, errors FROM crm.worker_duties;

\echo
\echo '--- the first delivered .eml file (headers), next to its outbox row ---'
SELECT current_setting('crm.mail_dir') AS mail_dir,
       (SELECT count(*) FROM pg_ls_dir(current_setting('crm.mail_dir')) f WHERE f LIKE '%.eml') AS eml_files;
SELECT subject AS outbox_subject, message_id FROM crm.email_outbox WHERE status = 'sent' ORDER BY id LIMIT 1;
-- the file is named after the Message-ID (without its angle brackets)
SELECT line AS eml_headers
  FROM crm.email_outbox o,
       LATERAL regexp_split_to_table(
           split_part(pg_read_file(current_setting('crm.mail_dir') || '/' || trim(both '<>' from o.message_id) || '.eml'),
                      E'\r\n\r\n', 1), E'\r\n') WITH ORDINALITY AS h(line, n)
 WHERE o.id = (SELECT min(id) FROM crm.email_outbox WHERE status = 'sent')
 ORDER BY n;
