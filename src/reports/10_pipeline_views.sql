-- src/reports/10_pipeline_views.sql: pipeline views for BI tools.
-- Plain views over the deal tables, one row per pipeline and stage, with a
-- comment on every column so tools can show what each one means.

CREATE VIEW crm.pipeline_summary AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       s.key AS stage,
       s.label,
       s.position,
       s.kind,
       s.forecast_category,
       s.probability AS stage_probability,
       d.currency,
       count(d.id) AS deals,
       coalesce(sum(d.amount), 0) AS amount,
       round(coalesce(sum(d.amount * coalesce(d.probability, s.probability)), 0), 2) AS weighted_amount
  FROM crm.pipeline p
  JOIN crm.stage s ON s.pipeline_id = p.id
  LEFT JOIN crm.deal d ON d.pipeline_id = s.pipeline_id AND d.stage = s.key
 WHERE p.object_type = 'deal'
 GROUP BY p.id, p.name, s.key, s.label, s.position, s.kind, s.forecast_category, s.probability, d.currency;
COMMENT ON VIEW crm.pipeline_summary IS
    'Deals per pipeline, stage and currency: how many, their amount and their probability-weighted amount.';
COMMENT ON COLUMN crm.pipeline_summary.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.pipeline_summary.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.pipeline_summary.stage IS 'Stage key.';
COMMENT ON COLUMN crm.pipeline_summary.label IS 'Stage display name.';
COMMENT ON COLUMN crm.pipeline_summary.position IS 'Order of the stage in its pipeline.';
COMMENT ON COLUMN crm.pipeline_summary.kind IS 'open, won or lost.';
COMMENT ON COLUMN crm.pipeline_summary.forecast_category IS 'pipeline, best_case, commit, closed or omitted.';
COMMENT ON COLUMN crm.pipeline_summary.stage_probability IS 'The stage''s default win probability.';
COMMENT ON COLUMN crm.pipeline_summary.currency IS 'Currency of the amounts; NULL on the row of a stage without deals.';
COMMENT ON COLUMN crm.pipeline_summary.deals IS 'Number of deals in the stage (open deals for an open stage).';
COMMENT ON COLUMN crm.pipeline_summary.amount IS 'Sum of the deals'' amounts.';
COMMENT ON COLUMN crm.pipeline_summary.weighted_amount IS
    'Sum of amount × probability (the deal''s own probability, else the stage''s), to the cent.';

CREATE VIEW crm.stage_velocity AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       s.key AS stage,
       s.label,
       s.position,
       count(h.id) AS moves_out,
       avg(h.time_in_from_stage) AS mean_time_in_stage,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY h.time_in_from_stage) AS median_time_in_stage
  FROM crm.pipeline p
  JOIN crm.stage s ON s.pipeline_id = p.id
  LEFT JOIN crm.deal_stage_history h
         ON h.pipeline_id = s.pipeline_id AND h.from_stage = s.key AND h.time_in_from_stage IS NOT NULL
 WHERE p.object_type = 'deal'
 GROUP BY p.id, p.name, s.key, s.label, s.position;
COMMENT ON VIEW crm.stage_velocity IS
    'Time deals spend in each stage before leaving it, from crm.deal_stage_history.';
COMMENT ON COLUMN crm.stage_velocity.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.stage_velocity.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.stage_velocity.stage IS 'Stage key.';
COMMENT ON COLUMN crm.stage_velocity.label IS 'Stage display name.';
COMMENT ON COLUMN crm.stage_velocity.position IS 'Order of the stage in its pipeline.';
COMMENT ON COLUMN crm.stage_velocity.moves_out IS 'How many times a deal left this stage.';
COMMENT ON COLUMN crm.stage_velocity.mean_time_in_stage IS 'Mean time spent in the stage before leaving it.';
COMMENT ON COLUMN crm.stage_velocity.median_time_in_stage IS 'Median time spent in the stage before leaving it.';

GRANT SELECT ON crm.pipeline_summary, crm.stage_velocity TO crm_reader;

CREATE VIEW crm.funnel_conversion AS
WITH reached AS (
    SELECT DISTINCT h.pipeline_id, h.deal_id, h.to_stage AS stage
      FROM crm.deal_stage_history h
), won AS (
    SELECT DISTINCT r.pipeline_id, r.deal_id
      FROM reached r JOIN crm.stage s ON s.pipeline_id = r.pipeline_id AND s.key = r.stage
     WHERE s.kind = 'won'
)
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       s.key AS stage,
       s.label,
       s.position,
       count(r.deal_id) AS deals_reached,
       round(count(r.deal_id)::numeric
             / nullif(max(count(r.deal_id)) OVER (PARTITION BY p.id), 0), 4) AS share_of_top,
       count(w.deal_id) AS deals_won_after,
       round(count(w.deal_id)::numeric / nullif(count(r.deal_id), 0), 4) AS win_rate_from_here
  FROM crm.pipeline p
  JOIN crm.stage s ON s.pipeline_id = p.id AND s.kind = 'open'
  LEFT JOIN reached r ON r.pipeline_id = s.pipeline_id AND r.stage = s.key
  LEFT JOIN won w ON w.pipeline_id = r.pipeline_id AND w.deal_id = r.deal_id
 WHERE p.object_type = 'deal'
 GROUP BY p.id, p.name, s.key, s.label, s.position;
COMMENT ON VIEW crm.funnel_conversion IS
    'The sales funnel from stage history: how many deals reached each open stage and how many of them were won.';
COMMENT ON COLUMN crm.funnel_conversion.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.funnel_conversion.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.funnel_conversion.stage IS 'Stage key (open stages only).';
COMMENT ON COLUMN crm.funnel_conversion.label IS 'Stage display name.';
COMMENT ON COLUMN crm.funnel_conversion.position IS 'Order of the stage in its pipeline.';
COMMENT ON COLUMN crm.funnel_conversion.deals_reached IS 'Deals that entered this stage at least once.';
COMMENT ON COLUMN crm.funnel_conversion.share_of_top IS
    'deals_reached as a fraction of the widest stage of the funnel (usually the first).';
COMMENT ON COLUMN crm.funnel_conversion.deals_won_after IS 'Of those, deals that were later won.';
COMMENT ON COLUMN crm.funnel_conversion.win_rate_from_here IS 'deals_won_after / deals_reached.';

CREATE VIEW crm.win_rate AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       d.owner,
       date_trunc('month', d.closed_at) AS month,
       count(*) FILTER (WHERE s.kind = 'won') AS won,
       count(*) FILTER (WHERE s.kind = 'lost') AS lost,
       round(count(*) FILTER (WHERE s.kind = 'won')::numeric / count(*), 4) AS win_rate,
       d.currency,
       sum(d.amount) FILTER (WHERE s.kind = 'won') AS won_amount
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
  JOIN crm.pipeline p ON p.id = d.pipeline_id
 WHERE s.kind IN ('won', 'lost')
 GROUP BY p.id, p.name, d.owner, date_trunc('month', d.closed_at), d.currency;
COMMENT ON VIEW crm.win_rate IS 'Closed deals per pipeline, owner, month of closing and currency: won, lost and the win rate.';
COMMENT ON COLUMN crm.win_rate.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.win_rate.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.win_rate.owner IS 'The deal owner.';
COMMENT ON COLUMN crm.win_rate.month IS 'Month the deals were closed (first day, in the session time zone).';
COMMENT ON COLUMN crm.win_rate.won IS 'Deals won.';
COMMENT ON COLUMN crm.win_rate.lost IS 'Deals lost.';
COMMENT ON COLUMN crm.win_rate.win_rate IS 'won / (won + lost).';
COMMENT ON COLUMN crm.win_rate.currency IS 'Currency of won_amount.';
COMMENT ON COLUMN crm.win_rate.won_amount IS 'Total amount of the deals won.';

CREATE VIEW crm.weighted_pipeline AS
SELECT p.id AS pipeline_id,
       p.name AS pipeline,
       date_trunc('month', d.expected_close_date)::date AS close_month,
       s.forecast_category,
       d.currency,
       count(*) AS deals,
       sum(d.amount) AS amount,
       round(sum(d.amount * coalesce(d.probability, s.probability)), 2) AS weighted_amount
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
  JOIN crm.pipeline p ON p.id = d.pipeline_id
 WHERE s.kind = 'open'
 GROUP BY p.id, p.name, date_trunc('month', d.expected_close_date)::date, s.forecast_category, d.currency;
COMMENT ON VIEW crm.weighted_pipeline IS
    'Open deals by expected close month and forecast category: amount and probability-weighted amount.';
COMMENT ON COLUMN crm.weighted_pipeline.pipeline_id IS 'The pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.weighted_pipeline.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.weighted_pipeline.close_month IS 'First day of the expected close month; NULL when no date is set.';
COMMENT ON COLUMN crm.weighted_pipeline.forecast_category IS 'pipeline, best_case, commit or omitted (from the stage).';
COMMENT ON COLUMN crm.weighted_pipeline.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.weighted_pipeline.deals IS 'Number of open deals.';
COMMENT ON COLUMN crm.weighted_pipeline.amount IS 'Sum of their amounts.';
COMMENT ON COLUMN crm.weighted_pipeline.weighted_amount IS
    'Sum of amount × probability (the deal''s own, else the stage''s), to the cent.';

CREATE VIEW crm.stalled_deals AS
WITH typical AS (
    SELECT pipeline_id, stage, median_time_in_stage FROM crm.stage_velocity WHERE moves_out >= 5
)
SELECT d.id AS deal_id,
       d.name,
       d.owner,
       p.name AS pipeline,
       d.stage,
       d.amount,
       d.currency,
       now() - d.stage_entered_at AS time_in_stage,
       t.median_time_in_stage,
       round((extract(epoch FROM now() - d.stage_entered_at)
              / nullif(extract(epoch FROM t.median_time_in_stage), 0))::numeric, 1) AS times_median
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage AND s.kind = 'open'
  JOIN crm.pipeline p ON p.id = d.pipeline_id
  JOIN typical t ON t.pipeline_id = d.pipeline_id AND t.stage = d.stage
 WHERE now() - d.stage_entered_at > 2 * t.median_time_in_stage;
COMMENT ON VIEW crm.stalled_deals IS
    'Open deals that have been in their stage more than twice the median time deals spend there '
    '(stages with at least 5 past moves out).';
COMMENT ON COLUMN crm.stalled_deals.deal_id IS 'The deal (crm.deal.id).';
COMMENT ON COLUMN crm.stalled_deals.name IS 'Deal name.';
COMMENT ON COLUMN crm.stalled_deals.owner IS 'Who owns the deal.';
COMMENT ON COLUMN crm.stalled_deals.pipeline IS 'Pipeline name.';
COMMENT ON COLUMN crm.stalled_deals.stage IS 'The stage it is stuck in.';
COMMENT ON COLUMN crm.stalled_deals.amount IS 'Deal amount.';
COMMENT ON COLUMN crm.stalled_deals.currency IS 'Currency of the amount.';
COMMENT ON COLUMN crm.stalled_deals.time_in_stage IS 'How long it has been in the stage.';
COMMENT ON COLUMN crm.stalled_deals.median_time_in_stage IS 'Median time deals spend in that stage.';
COMMENT ON COLUMN crm.stalled_deals.times_median IS 'time_in_stage as a multiple of the median.';

GRANT SELECT ON crm.funnel_conversion, crm.win_rate, crm.weighted_pipeline, crm.stalled_deals TO crm_reader;
