-- demo/31_lead_score.sql: lead scores for 智学在线's open deals, from
-- crm.logreg fitted on three years of won and lost deals
-- (crm.deal_win_score), and the range of revenue the open pipeline may
-- bring (crm.revenue_range), by stage probabilities and by lead score.
\pset footer off
SET client_min_messages = warning;
SELECT id AS pipeline_id FROM crm.pipeline WHERE name = '在线教育销售' \gset

\echo
\echo '=== Lead scores: crm.logreg on the closed deals of 在线教育销售 ==='
SELECT (m ->> 'n')::int AS closed_deals,
       round((m -> 'coef' ->> 1)::numeric, 3) AS "ln(1+amount)",
       round((m -> 'coef' ->> 2)::numeric, 3) AS "ln(1+account's earlier wins)",
       round((m ->> 'loglik')::numeric, 1) AS loglik,
       round((m ->> 'null_loglik')::numeric, 1) AS null_loglik,
       m ->> 'converged' AS converged
  FROM (SELECT crm.deal_win_model(:pipeline_id) AS m) s;

\echo 'The demo history drew every outcome at random (45% won), so the model finds next to no signal:'
\echo 'every open deal scores near the base rate, where the stage probabilities are the team''s judgement.'
\echo
\echo '--- crm.deal_win_score: the ten open deals most likely to be won ---'
SELECT name, stage, amount, stage_probability, round(win_probability::numeric, 3) AS win_probability
  FROM crm.deal_win_score
 WHERE pipeline_id = :pipeline_id
 ORDER BY win_probability DESC NULLS LAST, deal_id
 LIMIT 10;

\echo
\echo '--- crm.revenue_range: revenue from the open deals, each won independently ---'
SELECT basis, (r ->> 'n')::int AS deals, round((r ->> 'expected')::numeric) AS expected,
       round((r ->> 'sd')::numeric) AS sd, round((r ->> 'p10')::numeric) AS p10,
       round((r ->> 'p50')::numeric) AS p50, round((r ->> 'p90')::numeric) AS p90, r ->> 'method' AS method
  FROM (SELECT 'stage probability' AS basis, crm.revenue_range(amount::float8, stage_probability::float8) AS r
          FROM crm.deal_win_score WHERE pipeline_id = :pipeline_id
        UNION ALL
        SELECT 'lead score', crm.revenue_range(amount::float8, win_probability)
          FROM crm.deal_win_score WHERE pipeline_id = :pipeline_id) s;
