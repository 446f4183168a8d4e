-- src/forecast/40_lead_score.sql: a win probability for every open deal,
-- from crm.logreg fitted on the closed (won or lost) deals of its pipeline.
--
-- Features (crm.deal_win_features): ln(1 + amount) and ln(1 + the deal's
-- age in days), the age measured at closing for closed deals and now for
-- open ones (the logarithm keeps an old open deal from being extrapolated
-- far beyond the ages the model has seen).  Both
-- are known for every deal, whatever the user records, so the model works
-- on a fresh CRM; a pipeline needs 10 won and 10 lost deals before it gets
-- a model.  The view fits one model per deal pipeline each time it is read.

CREATE FUNCTION crm.deal_win_features(amount numeric, created_at timestamptz, as_of timestamptz)
RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY[pg_catalog.ln(1 + amount::float8),
             pg_catalog.ln(1 + GREATEST(pg_catalog.date_part('epoch', as_of - created_at), 0) / 86400.0)];
COMMENT ON FUNCTION crm.deal_win_features(numeric, timestamptz, timestamptz) IS
    'Features of the deal win model: ln(1 + amount) and ln(1 + age of the deal in days at as_of).';

CREATE FUNCTION crm.deal_win_model(pipeline_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    won bigint;
    lost bigint;
    model jsonb;
BEGIN
    SELECT count(*) FILTER (WHERE s.kind = 'won'), count(*) FILTER (WHERE s.kind = 'lost'),
           crm.logreg(s.kind = 'won', crm.deal_win_features(d.amount, d.created_at, d.closed_at))
      INTO won, lost, model
      FROM crm.deal d
      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
     WHERE d.pipeline_id = deal_win_model.pipeline_id AND s.kind IN ('won', 'lost')
       AND d.closed_at IS NOT NULL;
    IF won < 10 OR lost < 10 THEN
        RETURN NULL;
    END IF;
    RETURN model;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN NULL;                -- separated or collinear history: no model
END
$$;
COMMENT ON FUNCTION crm.deal_win_model(bigint) IS
    'crm.logreg model of winning on crm.deal_win_features, fitted on the closed deals of a pipeline; NULL '
    'with fewer than 10 won or 10 lost deals, or when they determine no model (separated or collinear).';

CREATE VIEW crm.deal_win_score AS
WITH model AS MATERIALIZED (
    SELECT p.id AS pipeline_id, crm.deal_win_model(p.id) AS model
      FROM crm.pipeline p
     WHERE p.object_type = 'deal'
)
SELECT d.id AS deal_id,
       d.pipeline_id,
       d.name,
       d.stage,
       d.owner,
       d.currency,
       d.amount,
       coalesce(d.probability, s.probability) AS stage_probability,
       crm.predict(m.model, crm.deal_win_features(d.amount, d.created_at, pg_catalog.now()))
           AS win_probability,
       (m.model ->> 'n')::bigint AS model_deals
  FROM crm.deal d
  JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage AND s.kind = 'open'
  LEFT JOIN model m ON m.pipeline_id = d.pipeline_id;
COMMENT ON VIEW crm.deal_win_score IS
    'Open deals with a win probability from crm.logreg fitted on the closed deals of their pipeline '
    '(features: crm.deal_win_features).';
COMMENT ON COLUMN crm.deal_win_score.deal_id IS 'The deal (crm.deal.id).';
COMMENT ON COLUMN crm.deal_win_score.pipeline_id IS 'The deal''s pipeline (crm.pipeline.id).';
COMMENT ON COLUMN crm.deal_win_score.name IS 'Deal name.';
COMMENT ON COLUMN crm.deal_win_score.stage IS 'Stage key (an open stage).';
COMMENT ON COLUMN crm.deal_win_score.owner IS 'Who owns the deal.';
COMMENT ON COLUMN crm.deal_win_score.currency IS 'Currency of the amount.';
COMMENT ON COLUMN crm.deal_win_score.amount IS 'Deal value.';
COMMENT ON COLUMN crm.deal_win_score.stage_probability IS
    'The deal''s probability as recorded (set from its stage unless set by hand).';
COMMENT ON COLUMN crm.deal_win_score.win_probability IS
    'Probability of winning from the pipeline''s logistic model; NULL when the pipeline has no model '
    '(fewer than 10 won or 10 lost deals, or no model fits them).';
COMMENT ON COLUMN crm.deal_win_score.model_deals IS 'Closed deals the model was fitted on.';

GRANT SELECT ON crm.deal_win_score TO crm_reader;
