-- demo/60_report.sql: 智学在线's sales report as one HTML page of SVG charts
-- drawn by crm itself: the funnel of 在线教育销售, monthly won revenue with
-- the next three months forecast and their 95% band, sales per product, and
-- each rep's win rate and deals won per quarter.  Written to
-- :demo_out/report.html (psql variable demo_out, set by demo/run.sh).
\pset footer off
SET client_min_messages = warning;
SELECT id AS pipeline_id FROM crm.pipeline WHERE name = '在线教育销售' \gset

-- the funnel: deals that ever reached each stage, open stages then won
CREATE TEMP TABLE report_funnel AS
SELECT crm.funnel_chart(label, deals, '{"title": "销售漏斗 · 在线教育销售（到达各阶段的商机数）"}' ORDER BY position) AS svg
  FROM (SELECT s.label, s.position, count(DISTINCT h.deal_id)::float8 AS deals
          FROM crm.stage s
          LEFT JOIN crm.deal_stage_history h ON h.pipeline_id = s.pipeline_id AND h.to_stage = s.key
         WHERE s.pipeline_id = :pipeline_id AND s.kind IN ('open', 'won')
         GROUP BY s.label, s.position) f;

-- monthly won revenue and its forecast: the same model crm.revenue_forecast uses
CREATE TEMP TABLE report_revenue AS
SELECT month, revenue::float8 AS revenue FROM crm.revenue_forecast WHERE currency = 'CNY' AND kind = 'actual';
CREATE TEMP TABLE report_forecast AS
SELECT crm.forecast_chart(array_agg(revenue ORDER BY month),
                          (SELECT crm.best_model(revenue, 12 ORDER BY month) FROM report_revenue), 3, 0.95,
                          jsonb_build_object('title', '月度成交收入（元）与未来三个月预测', 'start', min(month),
                                             'step', 'month', 'history_label', '实际收入',
                                             'forecast_label', '预测', 'interval_label', '95% 预测区间')) AS svg
  FROM report_revenue;

-- what each product sold on won deals
CREATE TEMP TABLE report_products AS
SELECT crm.bar_chart(name, amount, '{"title": "各课程成交金额（元）"}' ORDER BY amount DESC) AS svg
  FROM (SELECT p.name, sum(i.line_total)::float8 AS amount
          FROM crm.deal_item i
          JOIN crm.deal d ON d.id = i.deal_id
          JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
          JOIN crm.product p ON p.id = i.product_id
         WHERE s.kind = 'won'
         GROUP BY p.name) t;

-- win rate per rep over all closed deals, in percent
CREATE TEMP TABLE report_win_rate AS
SELECT crm.bar_chart(owner, rate, '{"title": "各销售赢单率（%，已关闭商机）", "colors": ["#59a14f"]}'
                     ORDER BY rate DESC) AS svg
  FROM (SELECT owner, round(100.0 * sum(won) / sum(won + lost), 1)::float8 AS rate
          FROM crm.win_rate WHERE pipeline_id = :pipeline_id GROUP BY owner) w;

-- deals won per quarter and rep
CREATE TEMP TABLE report_reps AS
SELECT crm.line_chart(quarter, won, owner, '{"title": "各销售每季度成交商机数", "width": 1236, "height": 320}'
                      ORDER BY quarter) AS svg
  FROM (SELECT owner, date_trunc('quarter', month)::date AS quarter, sum(won)::float8 AS won FROM crm.win_rate
         WHERE pipeline_id = :pipeline_id AND month < date_trunc('quarter', now())
         GROUP BY 1, 2) r;

\echo
\echo '=== The sales report: SVG charts drawn in SQL (crm.funnel_chart, crm.forecast_chart, crm.bar_chart, crm.line_chart) ==='
SELECT 'funnel' AS chart, length(svg) AS svg_bytes FROM report_funnel
UNION ALL SELECT 'revenue forecast', length(svg) FROM report_forecast
UNION ALL SELECT 'product sales', length(svg) FROM report_products
UNION ALL SELECT 'win rate', length(svg) FROM report_win_rate
UNION ALL SELECT 'deals per rep and quarter', length(svg) FROM report_reps;

\set report :demo_out/report.html
SELECT format($html$<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>智学在线 · 销售报告</title>
<style>
  body { margin: 0; padding: 24px 32px; background: #f4f5f7; color: #222;
         font-family: 'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', sans-serif; }
  h1 { margin: 0 0 4px; font-size: 24px; }
  p.note { margin: 0 0 20px; color: #666; font-size: 13px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; max-width: 1280px; }
  .card { background: #fff; border-radius: 6px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 10px; }
  .card svg { display: block; width: 100%%; height: auto; }
  .wide { grid-column: 1 / -1; }
</style>
</head>
<body>
<h1>智学在线 · 销售报告</h1>
<p class="note">生成于 %s · 数据来自 crm 扩展的视图，图表由 crm.funnel_chart、crm.forecast_chart、crm.bar_chart 和 crm.line_chart 在数据库中绘制（SVG）。</p>
<div class="grid">
<div class="card">%s</div>
<div class="card">%s</div>
<div class="card">%s</div>
<div class="card">%s</div>
<div class="card wide">%s</div>
</div>
</body>
</html>$html$,
       to_char(now(), 'YYYY-MM-DD HH24:MI'),
       (SELECT svg FROM report_funnel), (SELECT svg FROM report_forecast), (SELECT svg FROM report_products),
       (SELECT svg FROM report_win_rate), (SELECT svg FROM report_reps))
\g (format=unaligned tuples_only=on) :report
\echo 'report written:' :report
