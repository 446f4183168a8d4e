-- test/upgrade/fill-0.1.0.sql: a crm 0.1.0 database in use, for the upgrade
-- test (test/t/030_upgrade.pl), made through 0.1.0's SQL API as its users
-- called it: seeded rows edited and deleted, a template added, a pipeline
-- of the user's own made the default, deals moved to won and lost (with
-- their history), a quote rejected and others accepted, an order invoiced
-- (one invoice voided, the next paid in two parts) and delivered, an order
-- cancelled and one left confirmed, a ticket worked on and reopened, mail
-- queued, cancelled and failed, an unsubscribed address.  Every 0.1.0
-- table gets rows (the test checks that).
--
-- The test runs it with the 1.0.0 library, as a database is between the
-- package upgrade and ALTER EXTENSION crm UPDATE.  That library queues
-- mail into 1.0.0's outbox (which has a category and a contact), so 0.1.0's
-- crm.send_email and crm.send_template fail here; the mail 0.1.0 queued is
-- written as its library wrote it (pg_temp.queue_0_1_0 below), the sales
-- notices with their triggers off meanwhile.  The worker sends it.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- What 0.1.0's crm_send_email inserted: the row, a Message-ID made of a
-- random part, the id and the sender's domain, nothing for a suppressed address.
CREATE FUNCTION pg_temp.queue_0_1_0(to_address text, subject text, body_text text, body_html text DEFAULT NULL,
                                    template_key text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO crm.email_outbox (id, to_address, subject, body_text, body_html, template_key, message_id)
    OVERRIDING SYSTEM VALUE
    SELECT n.id, to_address, subject, body_text, body_html, template_key,
           format('<%s.%s@localhost.localdomain>', md5(random()::text), n.id)
      FROM (SELECT nextval('crm.email_outbox_id_seq') AS id) AS n
     WHERE NOT EXISTS (SELECT FROM crm.email_suppression s WHERE s.address = lower(to_address))
    RETURNING id
$$;

-- an admin's changes to what CREATE EXTENSION seeded
UPDATE crm.email_template SET subject = '【智学在线】付款确认：{{number}}' WHERE key = 'payment_received';
UPDATE crm.ticket_sla_policy SET resolve_within = '3 days' WHERE priority = 'high';
DELETE FROM crm.ticket_sla_policy WHERE priority = 'low';
UPDATE crm.stage SET label = 'Qualified lead'
 WHERE key = 'qualified' AND pipeline_id = (SELECT id FROM crm.pipeline WHERE name = 'default');
DELETE FROM crm.stage_transition
 WHERE pipeline_id = (SELECT id FROM crm.pipeline WHERE name = 'default')
   AND from_stage = 'lead' AND to_stage = 'lost';
INSERT INTO crm.email_template (key, subject, body_text)
VALUES ('course_reminder', '{{course}} 明天开课', E'{{name}}：\n\n{{course}} 明天上午九点开课。');

-- the company's own pipeline (the book's stages), made the default
SELECT crm.create_pipeline('课程销售', ARRAY['新线索', '潜在客户', '谈判中'], '成交', '流失') AS pipeline_id \gset
UPDATE crm.pipeline SET is_default = (id = :pipeline_id) WHERE object_type = 'deal';

INSERT INTO crm.product (sku, name, unit_price, currency, description) VALUES
    ('WEB-110', '前端开发训练营', 3999, 'CNY', '十二周'),
    ('ML-300', '机器学习进阶', 5999, 'CNY', NULL),
    ('CORP-1', '企业年度培训', 88000, 'CNY', '按年签约');
INSERT INTO crm.account (name, industry, phone) VALUES
    ('蓝海互娱', '游戏', '+86 21 5555 0101'),
    ('北辰能源', '能源', NULL),
    ('青禾农业', '农业', '+86 10 5555 0199');
INSERT INTO crm.contact (account_id, name, email, phone, title)
SELECT a.id, v.name, v.email, v.phone, v.title
  FROM (VALUES ('蓝海互娱', '林晓', 'lin.xiao@lanhai.example.cn', NULL, '技术总监'),
               ('北辰能源', '周航', 'Zhou.Hang@beichen.example.cn', '+86 139 0000 0001', '人事经理'),
               ('青禾农业', '吴桐', 'wu.tong@qinghe.example.cn', NULL, '总经理'),
               ('青禾农业', '郑雪', NULL, '+86 139 0000 0002', '助理')) AS v(account, name, email, phone, title)
  JOIN crm.account a ON a.name = v.account;

-- deals with their lines; the pipeline's stages in order
CREATE FUNCTION pg_temp.new_deal(title text, account text, sku text, quantity numeric) RETURNS bigint
LANGUAGE sql AS $$
    WITH d AS (
        INSERT INTO crm.deal (name, account_id, contact_id, currency, expected_close_date)
        SELECT title, a.id, (SELECT min(c.id) FROM crm.contact c WHERE c.account_id = a.id AND c.email IS NOT NULL),
               'CNY', date '2026-12-31'
          FROM crm.account a WHERE a.name = account
        RETURNING id)
    INSERT INTO crm.deal_item (deal_id, product_id, quantity)
    SELECT d.id, p.id, quantity FROM d, crm.product p WHERE p.sku = new_deal.sku
    RETURNING deal_id
$$;
SELECT pg_temp.new_deal('训练营团报', '蓝海互娱', 'WEB-110', 25) AS won_deal,
       pg_temp.new_deal('算法团队进修', '蓝海互娱', 'ML-300', 8) AS lost_deal,
       pg_temp.new_deal('新员工培训', '北辰能源', 'WEB-110', 12) AS open_deal,
       pg_temp.new_deal('年度培训合同', '青禾农业', 'CORP-1', 1) AS sold_deal,
       pg_temp.new_deal('追加名额', '北辰能源', 'ML-300', 3) AS cancelled_deal,
       pg_temp.new_deal('第二期培训', '青禾农业', 'WEB-110', 30) AS confirmed_deal \gset
UPDATE crm.deal SET stage = '潜在客户' WHERE id IN (:won_deal, :lost_deal, :open_deal);
UPDATE crm.deal SET stage = '谈判中' WHERE id = :won_deal;
UPDATE crm.deal SET stage = '成交' WHERE id = :won_deal;
UPDATE crm.deal SET stage = '流失', lost_reason = '选择了竞争对手' WHERE id = :lost_deal;
INSERT INTO crm.deal (name, account_id, pipeline_id, amount, currency)
SELECT '老流程商机', a.id, p.id, 12000, 'CNY' FROM crm.account a, crm.pipeline p
 WHERE a.name = '北辰能源' AND p.name = 'default';
INSERT INTO crm.activity (kind, subject, body, account_id, contact_id, deal_id, due_at)
SELECT 'meeting', '课程方案演示', '带上案例', d.account_id, d.contact_id, d.id, timestamptz '2026-12-20 10:00+08'
  FROM crm.deal d WHERE d.id = :open_deal;
INSERT INTO crm.activity (kind, subject, account_id, done_at)
SELECT 'note', '客户偏好周末上课', a.id, now() FROM crm.account a WHERE a.name = '青禾农业';

-- quotes and orders: one quote rejected, three accepted
SELECT crm.create_quote(:sold_deal) AS rejected_quote \gset
SELECT crm.send_quote(:rejected_quote);
SELECT crm.reject_quote(:rejected_quote, '需要分期付款');
SELECT crm.create_quote(:sold_deal) AS sold_quote \gset
UPDATE crm.quote_item SET discount = 0.05 WHERE quote_id = :sold_quote;
SELECT crm.send_quote(:sold_quote);
SELECT crm.accept_quote(:sold_quote) AS sold_order \gset
SELECT crm.create_quote(:cancelled_deal) AS cancelled_quote \gset
SELECT crm.send_quote(:cancelled_quote);
SELECT crm.accept_quote(:cancelled_quote) AS cancelled_order \gset
SELECT crm.cancel_order(:cancelled_order, '预算取消');
SELECT crm.create_quote(:confirmed_deal) AS confirmed_quote \gset
SELECT crm.send_quote(:confirmed_quote);
SELECT crm.accept_quote(:confirmed_quote) AS confirmed_order \gset

-- invoices: one voided, the next paid in two parts, the order delivered;
-- the notices 0.1.0 queued for them follow
ALTER TABLE crm.invoice DISABLE TRIGGER invoice_notice;
ALTER TABLE crm.payment DISABLE TRIGGER payment_notice;
SELECT crm.issue_invoice(:sold_order) AS voided_invoice \gset
SELECT crm.void_invoice(:voided_invoice, '税号填错');
SELECT crm.issue_invoice(:sold_order) AS paid_invoice \gset
SELECT crm.record_payment(:paid_invoice, 50000, timestamptz '2026-12-01 09:30+08', '银行转账');
SELECT crm.record_payment(:paid_invoice, gross_total - 50000, timestamptz '2026-12-03 15:00+08', '支付宝')
  FROM crm.invoice WHERE id = :paid_invoice;
SELECT crm.deliver_order(:sold_order);
ALTER TABLE crm.invoice ENABLE TRIGGER invoice_notice;
ALTER TABLE crm.payment ENABLE TRIGGER payment_notice;
SELECT pg_temp.queue_0_1_0(c.email, format('Invoice %s: %s %s due %s', i.number, i.gross_total, i.currency, i.due_date),
                           format(E'Dear %s,\n\nplease find invoice %s.', c.name, i.number), NULL, 'invoice_issued')
  FROM crm.invoice i JOIN crm.contact c ON c.id = i.contact_id
 WHERE i.sales_order_id = :sold_order ORDER BY i.id;
SELECT pg_temp.queue_0_1_0(c.email, format('【智学在线】付款确认：%s', i.number),
                           format(E'%s：\n\n已收到 %s %s。', c.name, p.amount, p.currency), NULL, 'payment_received')
  FROM crm.payment p JOIN crm.invoice i ON i.id = p.invoice_id JOIN crm.contact c ON c.id = i.contact_id
 ORDER BY p.id;

-- after-sales: a ticket taken up, resolved, reopened
INSERT INTO crm.ticket (subject, description, account_id, contact_id, sales_order_id, priority)
SELECT '讲师更换申请', '希望换成上一期的讲师', o.account_id, o.contact_id, o.id, 'high'
  FROM crm.sales_order o WHERE o.id = :sold_order
RETURNING id AS ticket \gset
SELECT crm.move_ticket(:ticket, 'in_progress');
SELECT crm.move_ticket(:ticket, 'resolved');
SELECT crm.move_ticket(:ticket, 'in_progress');

-- more mail: from a template, plain, to an address that then unsubscribed
-- (its queued mail cancelled), one cancelled by its sender, one that
-- failed for good, one waiting for a retry tomorrow
SELECT pg_temp.queue_0_1_0('wu.tong@qinghe.example.cn', '前端开发训练营 明天开课',
                           E'吴桐：\n\n前端开发训练营 明天上午九点开课。', NULL, 'course_reminder');
SELECT pg_temp.queue_0_1_0('Zhou.Hang@beichen.example.cn', '培训名单', '请确认参训名单。', '<p>请确认参训名单。</p>');
SELECT pg_temp.queue_0_1_0('old.customer@mail.example.cn', '课程推荐', '新课上线。') AS unsubscribed_mail \gset
SELECT crm.unsubscribe('Old.Customer@mail.example.cn');
SELECT crm.cancel_email(pg_temp.queue_0_1_0('lin.xiao@lanhai.example.cn', '草稿', '发错了。'));
BEGIN;
SELECT pg_temp.queue_0_1_0('nobody@qinghe.example.cn', '发票', '见附件。') AS failed_mail,
       pg_temp.queue_0_1_0('lin.xiao@lanhai.example.cn', '续约提醒', '课程包下月到期。') AS retried_mail \gset
UPDATE crm.email_outbox SET status = 'failed', attempts = 8, sent_at = now(),
       last_error = 'smtp: 550 mailbox unavailable'
 WHERE id = :failed_mail;
UPDATE crm.email_outbox SET attempts = 1, next_attempt_at = now() + interval '1 day',
       last_error = 'smtp: 451 try again later'
 WHERE id = :retried_mail;
COMMIT;
