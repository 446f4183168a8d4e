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
