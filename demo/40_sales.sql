-- demo/40_sales.sql: the book's whole sales process for one customer of 智学在线
-- (demo/10_company.sql): 客户请求 → 销售跟进 → 需求分析 → 报价 → 订单 → 发票
-- (email) → 付款 (email) → 交付 → 售后服务, through crm's sales API, with the
-- refusals a user would meet on the way.
\pset footer off
\set SHOW_CONTEXT never
SET client_min_messages = warning;
UPDATE crm.setting SET value = 'Asia/Shanghai' WHERE key = 'time_zone';   -- the company's dates (and invoice years) are China's
SET crm.default_tax_rate = 0.06;                -- 增值税 6% on education services

\echo
\echo '=== 售后全流程 · 华夏制造集团: an in-house training programme, from request to after-sales ==='

-- the company's notices, in Chinese (the templates are ordinary rows)
UPDATE crm.email_template
   SET subject = '【智学在线】发票 {{number}}：应付 {{gross_total}} {{currency}}，{{due_date}} 到期',
       body_text = E'{{contact}} 您好：\n\n'
                   || E'{{customer}} 的发票 {{number}} 已于 {{issue_date}} 开具：\n\n{{lines}}\n\n'
                   || E'净额 {{net_total}} {{currency}}，增值税 {{tax_total}} {{currency}}，'
                   || E'合计 {{gross_total}} {{currency}}，请于 {{due_date}} 前付款。\n\n智学在线 财务部',
       body_html = '<p>{{contact}} 您好：</p><p>{{customer}} 的发票 <b>{{number}}</b> 已于 {{issue_date}} 开具：</p>'
                   || '<pre>{{lines}}</pre><p>合计 <b>{{gross_total}} {{currency}}</b>，请于 {{due_date}} 前付款。</p>'
                   || '<p>智学在线 财务部</p>'
 WHERE key = 'invoice_issued';
UPDATE crm.email_template
   SET subject = '【智学在线】已收到付款 {{amount}} {{currency}}（发票 {{number}}）',
       body_text = E'{{contact}} 您好：\n\n我们已于 {{paid_at}} 收到发票 {{number}} 的付款 {{amount}} {{currency}}'
                   || E'（{{method}}）。\n累计已付 {{amount_paid}} / {{gross_total}} {{currency}}，尚欠 {{balance}} {{currency}}。'
                   || E'\n\n智学在线 财务部',
       body_html = '<p>{{contact}} 您好：</p><p>我们已于 {{paid_at}} 收到发票 {{number}} 的付款 '
                   || '<b>{{amount}} {{currency}}</b>（{{method}}）。</p>'
                   || '<p>累计已付 {{amount_paid}} / {{gross_total}} {{currency}}，尚欠 {{balance}} {{currency}}。</p>'
 WHERE key = 'payment_received';

\echo
\echo '--- 1. 客户请求: 赵敏 (华夏制造集团 培训主管) asks for data-analysis training for 20 engineers ---'
INSERT INTO crm.deal (name, account_id, contact_id, currency, owner)
SELECT '华夏制造集团 · 数据分析企业内训', a.id, c.id, 'CNY', '李娜'
  FROM crm.account a JOIN crm.contact c ON c.account_id = a.id WHERE a.name = '华夏制造集团'
RETURNING id AS deal_id \gset
INSERT INTO crm.activity (kind, subject, deal_id, contact_id, done_at, owner)
SELECT 'call', '来电：询问 20 人数据分析内训', :deal_id, contact_id, now(), '李娜' FROM crm.deal WHERE id = :deal_id;

\echo '--- 2. 销售跟进: a follow-up meeting, the lead qualifies ---'
INSERT INTO crm.activity (kind, subject, deal_id, due_at, done_at, owner)
VALUES ('meeting', '上门拜访：了解团队基础与排期', :deal_id, now(), now(), '李娜');
UPDATE crm.deal SET stage = '潜在客户' WHERE id = :deal_id;

\echo '--- 3. 需求分析: 20 seats of 数据分析实战 at 15% off, plus the in-house package ---'
INSERT INTO crm.deal_item (deal_id, product_id, quantity, discount)
SELECT :deal_id, p.id, v.quantity, v.discount
  FROM (VALUES ('DA-201', 20, 0.15), ('ENT-900', 1, 0)) AS v(sku, quantity, discount)
  JOIN crm.product p ON p.sku = v.sku;
UPDATE crm.deal SET stage = '谈判中', expected_close_date = current_date + 10 WHERE id = :deal_id;
SELECT name, stage, amount, probability, expected_close_date FROM crm.deal WHERE id = :deal_id;

\echo
\echo '--- 4. 报价: crm.create_quote copies the items, prices and discounts; tax is computed per line ---'
SELECT crm.create_quote(:deal_id) AS quote_id \gset
SELECT description, quantity, unit_price, discount, tax_rate, net_amount, tax_amount, gross_amount
  FROM crm.quote_item WHERE quote_id = :quote_id ORDER BY id;
SELECT crm.send_quote(:quote_id) \gset
SELECT id AS quote, status, valid_until, net_total, tax_total, gross_total FROM crm.quote WHERE id = :quote_id;
\set ON_ERROR_STOP 0
\echo '--- a sent quote is what the customer saw: its lines no longer change ---'
UPDATE crm.quote_item SET discount = 0.30 WHERE quote_id = :quote_id;
\set ON_ERROR_STOP 1

\echo
\echo '--- 5. 订单: the customer accepts; the deal is won and the order confirmed ---'
SELECT crm.accept_quote(:quote_id) AS order_id \gset
SELECT d.stage AS deal_stage, d.closed_at IS NOT NULL AS deal_closed, o.id AS sales_order, o.status, o.gross_total
  FROM crm.deal d JOIN crm.sales_order o ON o.deal_id = d.id WHERE d.id = :deal_id;
\set ON_ERROR_STOP 0
\echo '--- accepting it twice is refused ---'
SELECT crm.accept_quote(:quote_id);
\set ON_ERROR_STOP 1

\echo
\echo '--- 6. 发票: issued with a gapless per-year number; the invoice_issued email is queued ---'
SELECT crm.issue_invoice(:order_id) AS invoice_id \gset
SELECT number, status, issue_date, due_date, net_total, tax_total, gross_total FROM crm.invoice WHERE id = :invoice_id;
\set ON_ERROR_STOP 0
\echo '--- an issued invoice is immutable, and never deleted ---'
UPDATE crm.invoice SET gross_total = 50000 WHERE id = :invoice_id;
DELETE FROM crm.invoice WHERE id = :invoice_id;
\echo '--- paying more than is due is refused ---'
SELECT crm.record_payment(:invoice_id, 200000);
\set ON_ERROR_STOP 1

\echo
\echo '--- 7. 付款: half now by bank transfer, the rest by Alipay; each payment queues payment_received ---'
SELECT crm.record_payment(:invoice_id, round(gross_total / 2, 2), method => '银行转账') AS payment_id
  FROM crm.invoice WHERE id = :invoice_id \gset
SELECT number, status, amount_paid, gross_total - amount_paid AS balance FROM crm.invoice WHERE id = :invoice_id;
SELECT crm.record_payment(:invoice_id, gross_total - amount_paid, method => '支付宝') AS payment_id
  FROM crm.invoice WHERE id = :invoice_id \gset
SELECT number, status, amount_paid, closed_at IS NOT NULL AS closed FROM crm.invoice WHERE id = :invoice_id;
\echo '--- the emails queued for 赵敏 ---'
SELECT id, to_address, template_key, subject FROM crm.email_outbox
 WHERE template_key IN ('invoice_issued', 'payment_received') ORDER BY id;
SELECT body_text FROM crm.email_outbox WHERE template_key = 'invoice_issued' ORDER BY id DESC LIMIT 1;

\echo
\echo '--- 8. 交付: the training is delivered; paid and delivered, the order completes ---'
SELECT crm.deliver_order(:order_id) AS order_status;
SELECT coalesce(from_stage, '(new)') AS from_status, to_stage AS to_status FROM crm.sales_order_status_history
 WHERE sales_order_id = :order_id ORDER BY id;

\echo
\echo '--- 9. 售后服务: a ticket once the course runs; priority high: answer within 4 hours, resolve within 2 days ---'
INSERT INTO crm.ticket (subject, account_id, contact_id, sales_order_id, priority, owner, created_at)
SELECT '学员无法下载课程资料', o.account_id, o.contact_id, o.id, 'high', '王强', now() - interval '3 hours 30 minutes'
  FROM crm.sales_order o WHERE o.id = :order_id
RETURNING id AS ticket_id \gset
SELECT ticket_id, subject, priority, status, next_target, date_trunc('minute', time_left) AS time_left, sla_state
  FROM crm.ticket_sla_status WHERE ticket_id = :ticket_id;
SELECT crm.move_ticket(:ticket_id, 'in_progress') \gset
SELECT crm.move_ticket(:ticket_id, 'resolved') \gset
SELECT crm.move_ticket(:ticket_id, 'closed') \gset
SELECT coalesce(from_stage, '(new)') AS from_status, to_stage AS to_status FROM crm.ticket_status_history
 WHERE ticket_id = :ticket_id ORDER BY id;

\echo
\echo '=== crm.monthly_sales, crm.product_sales, crm.receivables_ageing ==='
SELECT to_char(month, 'YYYY-MM') AS month, currency, orders, customers, net_total, tax_total, gross_total
  FROM crm.monthly_sales ORDER BY month;
SELECT sku, name, orders, quantity, net_total, average_discount FROM crm.product_sales ORDER BY net_total DESC;
SELECT account, currency, invoices, not_due, days_0_30, total_due FROM crm.receivables_ageing ORDER BY account;
\echo '(nothing owed: 华夏制造集团 paid in full)'
