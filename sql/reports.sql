-- reports: the BI views over pipelines, on a pipeline of their own.
-- in a database of its own, so ids in messages do not depend on other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_reports TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_reports
CREATE EXTENSION crm;
SET client_min_messages = warning;

SELECT crm.create_pipeline('报表测试', ARRAY['新线索', '潜在客户', '谈判中'], '成交', '流失') > 0 AS created;
UPDATE crm.stage SET label = key WHERE pipeline_id = (SELECT id FROM crm.pipeline WHERE name = '报表测试');

-- five deals with known timings (stage_entered_at imported)
INSERT INTO crm.deal (name, amount, currency, pipeline_id, stage_entered_at)
SELECT 'R' || n, n * 1000, CASE WHEN n = 5 THEN 'USD' ELSE 'CNY' END, p.id,
       timestamptz '2025-01-01 00:00+00' + (n || ' days')::interval
  FROM crm.pipeline p, generate_series(1, 5) n WHERE p.name = '报表测试';
-- R1..R4 reach 潜在客户 after 2, 4, 6, 8 days; R1, R2 reach 谈判中 10 days later; R1 wins
UPDATE crm.deal SET stage = '潜在客户', stage_entered_at = stage_entered_at + ((substr(name, 2)::int * 2) || ' days')::interval
 WHERE name IN ('R1', 'R2', 'R3', 'R4');
UPDATE crm.deal SET stage = '谈判中', stage_entered_at = stage_entered_at + interval '10 days'
 WHERE name IN ('R1', 'R2');
UPDATE crm.deal SET stage = '成交', stage_entered_at = stage_entered_at + interval '1 day' WHERE name = 'R1';
UPDATE crm.deal SET stage = '流失', lost_reason = 'price', stage_entered_at = stage_entered_at + interval '3 days'
 WHERE name = 'R3';
UPDATE crm.deal SET probability = 0.9 WHERE name = 'R2';

SELECT stage, label, position, kind, forecast_category, stage_probability, currency, deals, amount, weighted_amount
  FROM crm.pipeline_summary WHERE pipeline = '报表测试' ORDER BY position, currency;

SELECT stage, label, moves_out, mean_time_in_stage, median_time_in_stage
  FROM crm.stage_velocity WHERE pipeline = '报表测试' ORDER BY position;

SELECT stage, deals_reached, share_of_top, deals_won_after, win_rate_from_here
  FROM crm.funnel_conversion WHERE pipeline = '报表测试' ORDER BY position;

SELECT owner = current_user AS mine, month, won, lost, win_rate, currency, won_amount
  FROM crm.win_rate WHERE pipeline = '报表测试' ORDER BY month;

UPDATE crm.deal SET expected_close_date = '2031-05-20' WHERE name IN ('R4', 'R5');
UPDATE crm.deal SET expected_close_date = '2031-06-01' WHERE name = 'R2';
SELECT close_month, forecast_category, currency, deals, amount, weighted_amount
  FROM crm.weighted_pipeline WHERE pipeline = '报表测试' ORDER BY close_month, forecast_category, currency;

-- stalled: in a stage more than twice its median time (stages with at least 5 moves out);
-- five new deals leave 新线索 after one day, a sixth stays there 30 days
INSERT INTO crm.deal (name, pipeline_id, stage_entered_at)
SELECT 'S' || g, p.id, now() - interval '30 days' FROM crm.pipeline p, generate_series(1, 6) g
 WHERE p.name = '报表测试';
UPDATE crm.deal SET stage = '潜在客户', stage_entered_at = stage_entered_at + interval '1 day'
 WHERE name IN ('S1', 'S2', 'S3', 'S4', 'S5');
SELECT stage, moves_out, median_time_in_stage FROM crm.stage_velocity
 WHERE pipeline = '报表测试' AND stage = '新线索';
SELECT name, stage, time_in_stage > interval '29 days' AS over_29_days, median_time_in_stage,
       times_median BETWEEN 29 AND 31 AS about_30_times
  FROM crm.stalled_deals WHERE pipeline = '报表测试' AND name LIKE 'S_' ORDER BY name;

-- every view and view column is documented
SELECT c.relname AS undocumented_view
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'crm' AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL;
SELECT c.relname, a.attname AS undocumented_column
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = 'crm' AND c.relkind = 'v' AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY 1, 2;

-- BI readers see the views, and cannot write
CREATE ROLE regress_crm_bi LOGIN IN ROLE crm_reader;
SET ROLE regress_crm_bi;
SELECT count(*) > 0 AS can_read FROM crm.pipeline_summary;
SELECT count(*) > 0 AS can_read FROM crm.stage_velocity;
INSERT INTO crm.deal (name) VALUES ('bi write');
RESET ROLE;
DROP ROLE regress_crm_bi;

\c :regress_db
DROP DATABASE crm_regress_reports;
