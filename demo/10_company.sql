-- demo/10_company.sql: the book's case study (chapter 13), an online-education
-- startup selling courses, with a Chinese-labelled pipeline.  Three years of
-- history are imported through the same engine that guards live moves, then
-- one new customer request is walked through the pipeline by hand.
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS crm;

\echo
\echo '=== 智学在线: an online-education startup selling courses ==='

-- The sales funnel from the book: 新线索 → 潜在客户 → 谈判中 → 成交, or 流失.
SELECT crm.create_pipeline('在线教育销售', ARRAY['新线索', '潜在客户', '谈判中'], '成交', '流失') AS pipeline_id \gset
UPDATE crm.pipeline SET is_default = false WHERE is_default;
UPDATE crm.pipeline SET is_default = true WHERE id = :pipeline_id;
-- negotiating needs an expected close date
UPDATE crm.stage SET required_fields = '{expected_close_date}' WHERE pipeline_id = :pipeline_id AND key = '谈判中';

INSERT INTO crm.product (sku, name, unit_price, currency) VALUES
    ('PY-101',  'Python 入门课',    1999, 'CNY'),
    ('DA-201',  '数据分析实战',     2999, 'CNY'),
    ('WEB-301', 'Web 全栈开发',     4999, 'CNY'),
    ('ENT-900', '企业内训套餐',    49800, 'CNY');

INSERT INTO crm.account (name, industry, domain) VALUES
    ('星辰科技有限公司', '软件', 'xingchen.example.cn'),
    ('蓝海数据服务公司', '数据服务', 'lanhai.example.cn'),
    ('华夏制造集团', '制造业', 'huaxia.example.cn'),
    ('云途物流', '物流', 'yuntu.example.cn'),
    ('未来金融科技', '金融', 'weilai.example.cn'),
    ('个人学员', '个人', NULL);
INSERT INTO crm.contact (account_id, name, email, title)
SELECT a.id, c.name, c.email, c.title
  FROM (VALUES ('星辰科技有限公司', '陈静', 'chen.jing@xingchen.example.cn', '人力资源总监'),
               ('蓝海数据服务公司', '刘洋', 'liu.yang@lanhai.example.cn', '技术经理'),
               ('华夏制造集团', '赵敏', 'zhao.min@huaxia.example.cn', '培训主管'),
               ('云途物流', '孙磊', 'sun.lei@yuntu.example.cn', 'CTO'),
               ('未来金融科技', '周婷', 'zhou.ting@weilai.example.cn', '学习发展经理'),
               ('个人学员', '吴昊', 'wu.hao@mail.example.cn', NULL)) AS c(account, name, email, title)
  JOIN crm.account a ON a.name = c.account;

-- Three years of deals: more leads in the spring and autumn terms and around
-- 双十一, fewer at Spring Festival, 2% growth a month.  Timings and outcomes
-- are drawn with a fixed seed; every move goes through the engine.
SELECT setseed(0.2024) AS seeded \gset
CREATE TEMP TABLE history_plan AS
WITH months AS (
    SELECT m, date_trunc('month', now()) - ((36 - m) || ' months')::interval AS month_start
      FROM generate_series(0, 36) m
), leads AS (
    SELECT m, month_start, k
      FROM months,
           generate_series(1, round(22 * (1.02 ^ m) *
               (ARRAY[0.9, 0.6, 1.2, 1.0, 0.9, 1.0, 1.1, 1.3, 1.4, 1.0, 1.2, 0.9])
               [extract(month FROM month_start)::int])::int) k
)
SELECT row_number() OVER (ORDER BY m, k) AS n,
       month_start + (random() * 27)::int * interval '1 day' + (9 + random() * 9) * interval '1 hour' AS created,
       (random() * 5)::int AS account_pick,
       (ARRAY['PY-101', 'DA-201', 'WEB-301', 'ENT-900'])[1 + floor(random() * 4)::int] AS sku,
       1 + floor(random() * 12)::int AS seats,
       (ARRAY['张伟', '李娜', '王强'])[1 + floor(random() * 3)::int] AS rep,
       random() AS fate,
       1 + random() * 5 AS days_new,
       3 + random() * 12 AS days_potential,
       2 + random() * 12 AS days_negotiating
  FROM leads;
DELETE FROM history_plan WHERE created > now() - interval '1 hour';
CREATE TEMP TABLE history_deal AS
SELECT p.*, a.id AS account_id, c.id AS contact_id,
       p.created + days_new * interval '1 day' AS t_potential,
       p.created + (days_new + days_potential) * interval '1 day' AS t_negotiating,
       p.created + (days_new + days_potential + days_negotiating) * interval '1 day' AS t_closed
  FROM history_plan p
  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS pick FROM crm.account) a ON a.pick = p.account_pick
  LEFT JOIN crm.contact c ON c.account_id = a.id;

\echo
\echo '--- importing three years of history through the engine (INSERT, then bulk UPDATE ... FROM) ---'
ALTER TABLE history_deal ADD COLUMN deal_id bigint;
WITH inserted AS (
    INSERT INTO crm.deal (name, account_id, contact_id, currency, owner, stage_entered_at, created_at, attributes)
    SELECT h.sku || ' × ' || h.seats || ' · ' || a.name, h.account_id, h.contact_id, 'CNY', h.rep,
           h.created, h.created, jsonb_build_object('plan', h.n)
      FROM history_deal h JOIN crm.account a ON a.id = h.account_id
    RETURNING id, (attributes ->> 'plan')::bigint AS n
)
UPDATE history_deal h SET deal_id = i.id FROM inserted i WHERE i.n = h.n;
INSERT INTO crm.deal_item (deal_id, product_id, quantity)
SELECT h.deal_id, p.id, CASE WHEN h.sku = 'ENT-900' THEN 1 ELSE h.seats END
  FROM history_deal h JOIN crm.product p ON p.sku = h.sku;
-- 新线索 → 潜在客户 (70%), → 谈判中 (55%), → 成交 (45%); the others are lost on
-- the way, except the last two months' leads, which are still open
UPDATE crm.deal d SET stage = '潜在客户', stage_entered_at = h.t_potential
  FROM history_deal h WHERE d.id = h.deal_id AND h.fate < 0.70 AND h.t_potential < now();
UPDATE crm.deal d SET stage = '谈判中', stage_entered_at = h.t_negotiating,
                      expected_close_date = h.t_closed::date
  FROM history_deal h WHERE d.id = h.deal_id AND h.fate < 0.55 AND h.t_negotiating < now();
UPDATE crm.deal d SET stage = '成交', stage_entered_at = h.t_closed
  FROM history_deal h WHERE d.id = h.deal_id AND h.fate < 0.45 AND h.t_closed < now();
UPDATE crm.deal d SET stage = '流失', stage_entered_at = h.t_closed + interval '2 days',
                      lost_reason = (ARRAY['价格太高', '选择了竞争对手', '预算冻结', '需求变化'])[1 + (h.n % 4)::int]
  FROM history_deal h WHERE d.id = h.deal_id AND h.fate >= 0.45 AND h.created < now() - interval '60 days';
SELECT count(*) AS deals, count(*) FILTER (WHERE s.kind = 'won') AS won, count(*) FILTER (WHERE s.kind = 'lost') AS lost,
       count(*) FILTER (WHERE s.kind = 'open') AS open,
       (SELECT count(*) FROM crm.deal_stage_history) AS history_rows
  FROM crm.deal d JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage;

\echo
\echo '=== A customer request walks through the pipeline (客户请求 → 销售跟进 → 需求分析 → 报价) ==='
INSERT INTO crm.deal (name, account_id, contact_id, currency, owner)
SELECT '星辰科技 · Python 团购 40 人', a.id, c.id, 'CNY', '张伟'
  FROM crm.account a JOIN crm.contact c ON c.account_id = a.id WHERE a.name = '星辰科技有限公司'
RETURNING id AS new_deal, stage, probability \gset
\echo 'new deal' :new_deal 'starts in' :stage 'with probability' :probability
INSERT INTO crm.deal_item (deal_id, product_id, quantity, discount)
SELECT :new_deal, id, 40, 0.10 FROM crm.product WHERE sku = 'PY-101';
INSERT INTO crm.activity (kind, subject, deal_id, contact_id, due_at, owner)
SELECT 'task', '销售跟进：电话了解培训需求', :new_deal, contact_id, now() + interval '1 day', '张伟'
  FROM crm.deal WHERE id = :new_deal;
INSERT INTO crm.activity (kind, subject, deal_id, due_at, owner)
VALUES ('task', '发送课程大纲', :new_deal, now() - interval '3 days', '张伟');
UPDATE crm.deal SET stage = '潜在客户' WHERE id = :new_deal;

\echo
\echo '--- a forbidden move: straight from 潜在客户 to 成交 ---'
\set ON_ERROR_STOP 0
UPDATE crm.deal SET stage = '成交' WHERE id = :new_deal;
\echo
\echo '--- 谈判中 needs an expected close date ---'
UPDATE crm.deal SET stage = '谈判中' WHERE id = :new_deal;
\set ON_ERROR_STOP 1
UPDATE crm.deal SET stage = '谈判中', expected_close_date = current_date + 14 WHERE id = :new_deal;
SELECT name, stage, amount, probability, expected_close_date FROM crm.deal WHERE id = :new_deal;
SELECT coalesce(from_stage, '(new)') AS from_stage, to_stage, changed_by FROM crm.deal_stage_history
 WHERE deal_id = :new_deal ORDER BY id;

\echo
\echo '=== crm.overdue_followups ==='
SELECT subject, owner, date_trunc('hour', overdue_by) AS overdue_by FROM crm.overdue_followups;

\echo
\echo '=== crm.pipeline_summary (在线教育销售) ==='
SELECT label, kind, forecast_category, deals, amount, weighted_amount
  FROM crm.pipeline_summary WHERE pipeline_id = :pipeline_id ORDER BY position;

\echo
\echo '=== crm.stage_velocity (在线教育销售) ==='
SELECT label, moves_out, justify_hours(date_trunc('hour', mean_time_in_stage)) AS mean_time,
       justify_hours(date_trunc('hour', median_time_in_stage)) AS median_time
  FROM crm.stage_velocity WHERE pipeline_id = :pipeline_id AND moves_out > 0 ORDER BY position;

\echo
\echo '=== crm.funnel_conversion (在线教育销售) ==='
SELECT label, deals_reached, share_of_top, win_rate_from_here
  FROM crm.funnel_conversion WHERE pipeline_id = :pipeline_id ORDER BY position;

\echo
\echo '=== crm.win_rate, last six months, per sales rep ==='
SELECT to_char(month, 'YYYY-MM') AS month, owner, won, lost, win_rate
  FROM crm.win_rate WHERE pipeline_id = :pipeline_id AND month >= date_trunc('month', now()) - interval '5 months'
 ORDER BY month, owner;
