-- src/forecast/40_lead_score.sql: a win probability for every open deal,
-- from crm.logreg fitted on the closed (won or lost) deals of its pipeline.
--
-- Features (crm.deal_win_features), both known when a deal is created and
-- so measured the same way for closed and open deals (the age of a deal,
-- say, is not: a closed deal's age stops at closing, an open one's is
-- still growing, and a model of it would call every young lead a sure
-- win):
--   1. ln(1 + amount)
--   2. ln(1 + deals of the same account won before this one was created)
-- When the second feature does not vary in a pipeline's history (no
-- accounts, or no repeat business yet) the model uses the first alone.
-- A pipeline needs 10 won and 10 lost deals before it gets a model.  The
-- view fits one model per deal pipeline each time it is read.

CREATE FUNCTION crm.deal_win_features(deal crm.deal) RETURNS float8[]
LANGUAGE sql STABLE PARALLEL SAFE
RETURN ARRAY[pg_catalog.ln(1 + deal.amount::float8),
             pg_catalog.ln(1 + (SELECT count(*)
                                  FROM crm.deal p
                                  JOIN crm.stage s ON s.pipeline_id = p.pipeline_id AND s.key = p.stage
                                 WHERE p.account_id = deal.account_id AND s.kind = 'won'
                                   AND p.closed_at < deal.created_at)::float8)];
COMMENT ON FUNCTION crm.deal_win_features(crm.deal) IS
    'Features of the deal win model: ln(1 + amount), ln(1 + deals of the same account won before the deal '
    'was created).';

CREATE FUNCTION crm.deal_win_model(pipeline_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    won bigint;
    lost bigint;
    features integer;
BEGIN
    SELECT count(*) FILTER (WHERE s.kind = 'won'), count(*) FILTER (WHERE s.kind = 'lost') INTO won, lost
      FROM crm.deal d
      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
     WHERE d.pipeline_id = deal_win_model.pipeline_id;
    IF won < 10 OR lost < 10 THEN
        RETURN NULL;
    END IF;
    -- both features, else the first alone (no repeat business yet, say)
    FOR features IN REVERSE 2 .. 1 LOOP
        BEGIN
            RETURN (SELECT crm.logreg(s.kind = 'won', (crm.deal_win_features(d))[1:features])
                      FROM crm.deal d
                      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
                     WHERE d.pipeline_id = deal_win_model.pipeline_id AND s.kind IN ('won', 'lost'));
        EXCEPTION WHEN invalid_parameter_value THEN
            NULL;               -- separated or constant history: try fewer features
        END;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.deal_win_model(bigint) IS
    'crm.logreg model of winning on crm.deal_win_features (or its first feature alone when the history does '
    'not determine both), fitted on the closed deals of a pipeline; NULL with fewer than 10 won or 10 lost '
    'deals, or when they determine no model.';

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
       crm.predict(m.model, (crm.deal_win_features(d))[1:(m.model ->> 'features')::int]) AS win_probability,
       (m.model ->> 'features')::int AS model_features,
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
COMMENT ON COLUMN crm.deal_win_score.model_features IS
    'How many of crm.deal_win_features the model uses: 2, or 1 (the amount) when the history does not '
    'determine both.';
COMMENT ON COLUMN crm.deal_win_score.model_deals IS 'Closed deals the model was fitted on.';

GRANT SELECT ON crm.deal_win_score TO crm_reader;
