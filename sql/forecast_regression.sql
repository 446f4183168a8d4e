-- forecast_regression: crm.linreg, crm.logreg, crm.predict, crm.revenue_range.
-- Accuracy against statsmodels and scikit-learn is checked by
-- test/t/200_regression_accuracy.pl; this suite covers the SQL behaviour,
-- every bad input, NULLs, zero rows and the parallel plans.
\set regress_db :DBNAME
CREATE DATABASE crm_regress_forecast_regression TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_forecast_regression
CREATE EXTENSION crm;
SET client_min_messages = warning;

-- SQLSTATE, message and detail of an error, or 'ok'
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; message text; detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || message || coalesce(' (' || nullif(detail, '') || ')', '');
END $$;

-- a model with every fractional number rounded to 6 decimals, for display
CREATE FUNCTION pg_temp.r(j jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'number' THEN CASE WHEN j::numeric = trunc(j::numeric) THEN j ELSE to_jsonb(round(j::numeric, 6)) END
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(pg_temp.r(e) ORDER BY o), '[]')
                             FROM jsonb_array_elements(j) WITH ORDINALITY a(e, o))
        WHEN 'object' THEN (SELECT jsonb_object_agg(k, pg_temp.r(v)) FROM jsonb_each(j) e(k, v))
        ELSE j END
$$;

-- largest relative difference between the numbers of two models
CREATE FUNCTION pg_temp.reldiff(a jsonb, b jsonb) RETURNS float8 LANGUAGE sql AS $$
    SELECT max(abs(x - y) / greatest(abs(x), abs(y), 1e-300))
      FROM (SELECT (a -> k ->> i)::float8 AS x, (b -> k ->> i)::float8 AS y
              FROM unnest(ARRAY['coef', 'se']) k, generate_series(0, jsonb_array_length(a -> k) - 1) i
            UNION ALL
            SELECT (a ->> k)::float8, (b ->> k)::float8
              FROM unnest(ARRAY['r2', 'rss', 'loglik', 'expected', 'sd', 'p10', 'p50', 'p90']) k
             WHERE a ? k AND jsonb_typeof(a -> k) = 'number') d
$$;

-- ======================================================================
-- crm.linreg
-- ======================================================================
-- y = 1 + 2 x exactly: exact coefficients, zero standard errors, r2 = 1
SELECT pg_temp.r(crm.linreg(1 + 2 * g, ARRAY[g::float8])) FROM generate_series(1, 5) g;
-- a textbook fit (statsmodels OLS: coef 2.2, 1.963636; se 0.586205, 0.094475; r2 0.981818)
SELECT pg_temp.r(crm.linreg(2 * g + 1 + g % 3, ARRAY[g::float8])) FROM generate_series(1, 10) g;
-- the one-feature form gives the same model
SELECT crm.linreg(2 * g + 1 + g % 3, g) = crm.linreg(2 * g + 1 + g % 3, ARRAY[g::float8]) AS same
  FROM generate_series(1, 10) g;
-- two features, and no feature (the mean)
SELECT pg_temp.r(crm.linreg(3 + g - 2 * (g % 4) + (g % 3) * 0.5, ARRAY[g, g % 4]::float8[]))
  FROM generate_series(1, 12) g;
SELECT pg_temp.r(crm.linreg(g, '{}'::float8[])) FROM generate_series(1, 4) g;
-- a constant y fits exactly with zero slopes; r2 is undefined (null)
SELECT pg_temp.r(crm.linreg(7, ARRAY[g::float8])) FROM generate_series(1, 5) g;
-- NULL y, NULL x and NULL elements skip the row; no rows give NULL
SELECT pg_temp.r(crm.linreg(y, x)) FROM (VALUES (1, '{1}'::float8[]), (3, '{2}'), (5, '{3}'), (NULL, '{4}'),
    (100, NULL), (100, '{NULL}'), (8, '{4}')) v(y, x);
SELECT crm.linreg(y, x) IS NULL AS no_rows FROM (VALUES (1::float8, '{1}'::float8[])) v(y, x) WHERE false;
SELECT crm.linreg(y, x) IS NULL AS all_skipped FROM (VALUES (NULL::float8, '{1}'::float8[]), (1, NULL)) v(y, x);
-- GROUP BY: one model per group
SELECT g % 2 AS grp, pg_temp.r(crm.linreg(g * (1 + g % 2), ARRAY[g::float8]) -> 'coef') AS coef
  FROM generate_series(1, 10) g GROUP BY 1 ORDER BY 1;
-- bad input
SELECT pg_temp.try($$SELECT crm.linreg(y, ARRAY[x]) FROM (VALUES (1::float8, 1::float8), ('NaN', 2), (3, 3)) v(y, x)$$);
SELECT pg_temp.try($$SELECT crm.linreg(y, ARRAY[x]) FROM (VALUES (1::float8, 1::float8), (2, 'Infinity'), (3, 3)) v(y, x)$$);
SELECT pg_temp.try($$SELECT crm.linreg(y, x) FROM (VALUES (1, '{1,2}'::float8[]), (2, '{1,-Infinity}')) v(y, x)$$);
SELECT pg_temp.try($$SELECT crm.linreg(y, x) FROM (VALUES (1, '{1,2}'::float8[]), (2, '{3}'), (3, '{4,5}')) v(y, x)$$);
SELECT pg_temp.try($$SELECT crm.linreg(1, '{{1,2},{3,4}}'::float8[])$$);
SELECT pg_temp.try($$SELECT crm.linreg(1, array_fill(1::float8, ARRAY[1001]))$$);
SELECT pg_temp.try($$SELECT crm.linreg(g, ARRAY[g, g * g]::float8[]) FROM generate_series(1, 3) g$$);
SELECT pg_temp.try($$SELECT crm.linreg(g, ARRAY[g, 5]::float8[]) FROM generate_series(1, 10) g$$);
SELECT pg_temp.try($$SELECT crm.linreg(g, ARRAY[g, 2 * g + 1, g % 3]::float8[]) FROM generate_series(1, 10) g$$);
SELECT pg_temp.try($$SELECT crm.linreg(g % 5, ARRAY[g % 3, g % 7, (g % 3) - 2 * (g % 7)]::float8[])
                       FROM generate_series(1, 50) g$$);
SELECT pg_temp.try($$SELECT crm.linreg(1e300 * g, ARRAY[g::float8]) FROM generate_series(1, 10) g$$);
-- the support functions check their state
SELECT crm.linreg_accum(NULL, 2, '{1}'::float8[]) AS first_row_state;
SELECT pg_temp.try($$SELECT crm.linreg_final('{1,2,3}')$$);

-- ======================================================================
-- crm.logreg
-- ======================================================================
-- Spector and Mazzeo (1980), statsmodels' spector data: grade ~ gpa + tuce + psi.
-- statsmodels Logit: coef -13.021347, 2.826113, 0.095158, 2.378688;
-- se 4.931324, 1.262941, 0.141554, 1.064564; loglik -12.889634
CREATE TABLE spector (grade boolean, gpa float8, tuce float8, psi float8);
INSERT INTO spector VALUES
    (false, 2.66, 20.0, 0.0),
    (false, 2.89, 22.0, 0.0),
    (false, 3.28, 24.0, 0.0),
    (false, 2.92, 12.0, 0.0),
    (true, 4.0, 21.0, 0.0),
    (false, 2.86, 17.0, 0.0),
    (false, 2.76, 17.0, 0.0),
    (false, 2.87, 21.0, 0.0),
    (false, 3.03, 25.0, 0.0),
    (true, 3.92, 29.0, 0.0),
    (false, 2.63, 20.0, 0.0),
    (false, 3.32, 23.0, 0.0),
    (false, 3.57, 23.0, 0.0),
    (true, 3.26, 25.0, 0.0),
    (false, 3.53, 26.0, 0.0),
    (false, 2.74, 19.0, 0.0),
    (false, 2.75, 25.0, 0.0),
    (false, 2.83, 19.0, 0.0),
    (false, 3.12, 23.0, 1.0),
    (true, 3.16, 25.0, 1.0),
    (false, 2.06, 22.0, 1.0),
    (true, 3.62, 28.0, 1.0),
    (false, 2.89, 14.0, 1.0),
    (false, 3.51, 26.0, 1.0),
    (true, 3.54, 24.0, 1.0),
    (true, 2.83, 27.0, 1.0),
    (true, 3.39, 17.0, 1.0),
    (false, 2.67, 24.0, 1.0),
    (true, 3.65, 21.0, 1.0),
    (true, 4.0, 23.0, 1.0),
    (false, 3.1, 21.0, 1.0),
    (true, 2.39, 19.0, 1.0);
SELECT pg_temp.r(crm.logreg(grade, ARRAY[gpa, tuce, psi])) FROM spector;
-- intercept only: the log-odds of the share of true outcomes
SELECT pg_temp.r(crm.logreg(grade, '{}')) FROM spector;
-- NULLs skip the row; no rows give NULL
SELECT (crm.logreg(grade, ARRAY[gpa, tuce, psi]) -> 'n') AS n
  FROM (SELECT * FROM spector UNION ALL VALUES (NULL, 1, 1, 1), (true, NULL, 1, 1)) s;
SELECT crm.logreg(grade, ARRAY[gpa]) IS NULL AS no_rows FROM spector WHERE false;
-- bad input, separation and singular designs
SELECT pg_temp.try($$SELECT crm.logreg(g > 10, ARRAY[g::float8]) FROM generate_series(1, 20) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g > 10 OR g % 2 = 0, ARRAY[(g > 10)::int::float8])
                       FROM generate_series(1, 20) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g % 3 = 0 OR g > 15, ARRAY[g::float8, (g > 15)::int::float8])
                       FROM generate_series(1, 30) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(true, ARRAY[g::float8]) FROM generate_series(1, 20) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(false, ARRAY[g::float8]) FROM generate_series(1, 20) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g % 2 = 0, ARRAY[g::float8, 1]) FROM generate_series(1, 20) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g % 2 = 0, ARRAY[g, 3 * g - 1]::float8[]) FROM generate_series(1, 20) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g % 2 = 0, ARRAY[g::float8]) FROM generate_series(1, 2) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g % 2 = 0, ARRAY[g, 'Infinity']::float8[]) FROM generate_series(1, 5) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g % 2 = 0, ARRAY['NaN'::float8]) FROM generate_series(1, 5) g$$);
SELECT pg_temp.try($$SELECT crm.logreg(g % 2 = 0, CASE WHEN g = 3 THEN '{1,2}' ELSE '{1}' END::float8[])
                       FROM generate_series(1, 5) g$$);
-- the row bound
SET crm.max_aggregate_rows = 20;
SELECT pg_temp.try($$SELECT crm.logreg(grade, ARRAY[gpa]) FROM spector$$);
RESET crm.max_aggregate_rows;

-- ======================================================================
-- crm.predict
-- ======================================================================
SELECT crm.predict('{"kind": "linreg", "coef": [1, 2, -0.5]}', '{3, 4}') AS linear,
       round(crm.predict('{"kind": "logreg", "coef": [1, 2]}', '{-0.5}')::numeric, 12) AS half,
       round(crm.predict('{"kind": "logreg", "coef": [0, 1]}', '{2}')::numeric, 12) AS logistic_2,
       crm.predict('{"kind": "logreg", "coef": [0, 1]}', '{-1000}') AS underflow,
       crm.predict('{"kind": "logreg", "coef": [0, 1]}', '{1000}') AS saturates,
       crm.predict('{"kind": "linreg", "coef": [1, 2]}', '{NULL}') IS NULL AS null_feature;
-- a fitted model predicts its own data
SELECT round(crm.predict(m, ARRAY[3.0, 25, 1])::numeric, 6) AS p_pass
  FROM (SELECT crm.logreg(grade, ARRAY[gpa, tuce, psi]) AS m FROM spector) s;
SELECT round(crm.predict(m, ARRAY[11.0])::numeric, 6) AS y_at_11
  FROM (SELECT crm.linreg(2 * g + 1 + g % 3, ARRAY[g::float8]) AS m FROM generate_series(1, 10) g) s;
-- wrong models and wrong x
SELECT pg_temp.try($$SELECT crm.predict('{"kind": "arima", "order": [1, 1, 1]}', '{1}')$$);
SELECT pg_temp.try($$SELECT crm.predict('{"kind": "holt_winters"}', '{1}')$$);
SELECT pg_temp.try($$SELECT crm.predict('{"kind": "revenue_range"}', '{1}')$$);
SELECT pg_temp.try($$SELECT crm.predict('{"coef": [1, 2]}', '{1}')$$);
SELECT pg_temp.try($$SELECT crm.predict('[1, 2]', '{1}')$$);
SELECT pg_temp.try($$SELECT crm.predict('{"kind": "linreg", "coef": 3}', '{1}')$$);
SELECT pg_temp.try($$SELECT crm.predict('{"kind": "linreg", "coef": [1, "a"]}', '{1}')$$);
SELECT pg_temp.try($$SELECT crm.predict('{"kind": "linreg", "coef": [1, 2]}', '{1, 2}')$$);
SELECT pg_temp.try($$SELECT crm.predict('{"kind": "linreg", "coef": [1, 2]}', '{NaN}')$$);

-- ======================================================================
-- crm.revenue_range
-- ======================================================================
-- two deals of 100 and 200 at 50%: 0, 100, 200, 300 with 1/4 each
SELECT pg_temp.r(crm.revenue_range(a, p)) FROM (VALUES (100, 0.5), (200, 0.5)) v(a, p);
-- certain (p = 1) and hopeless (p = 0) deals, cents
SELECT pg_temp.r(crm.revenue_range(a, p))
  FROM (VALUES (100.5, 0.3), (200.25, 0.9), (50, 1), (70, 0), (0, 0.5)) v(a, p);
-- NULLs skip the row; no rows give NULL
SELECT pg_temp.r(crm.revenue_range(a, p)) FROM (VALUES (10, 0.5), (NULL, 0.5), (10, NULL)) v(a, p);
SELECT crm.revenue_range(1, 0.5) IS NULL AS no_rows FROM generate_series(1, 0);
-- many deals: exact on the whole-unit grid, approximate beyond (deterministic amounts)
SELECT r ->> 'method' AS method, round((r ->> 'expected')::numeric, 2) AS expected,
       round((r ->> 'sd')::numeric, 2) AS sd, round((r ->> 'p10')::numeric) AS p10,
       round((r ->> 'p50')::numeric) AS p50, round((r ->> 'p90')::numeric) AS p90
  FROM (SELECT crm.revenue_range(1000 + (g * 7919) % 9000, 0.05 + ((g * 104729) % 90) / 100.0) AS r
          FROM generate_series(1, 40) g
        UNION ALL
        SELECT crm.revenue_range(1000 + (g * 7919) % 9000, 0.05 + ((g * 104729) % 90) / 100.0)
          FROM generate_series(1, 400) g) s;
-- bad input
SELECT pg_temp.try($$SELECT crm.revenue_range(-1, 0.5)$$);
SELECT pg_temp.try($$SELECT crm.revenue_range(100, 1.5)$$);
SELECT pg_temp.try($$SELECT crm.revenue_range(100, -0.1)$$);
SELECT pg_temp.try($$SELECT crm.revenue_range('NaN', 0.5)$$);
SELECT pg_temp.try($$SELECT crm.revenue_range(100, 'NaN')$$);
SELECT pg_temp.try($$SELECT crm.revenue_range('Infinity', 0.5)$$);
SET crm.max_aggregate_rows = 3;
SELECT pg_temp.try($$SELECT crm.revenue_range(g, 0.5) FROM generate_series(1, 4) g$$);
RESET crm.max_aggregate_rows;

-- ======================================================================
-- Parallel plans: partial aggregates in workers, the same answers
-- ======================================================================
CREATE TABLE obs AS
SELECT g, (sin(g) * 10 + (g % 7) * 0.5 + cos(g / 3.0)) AS y,
       ARRAY[sin(g) + 0.1 * (g % 13), (g % 7)::float8, cos(g / 3.0)] AS x,
       (sin(g * 1.7) + (g % 7) * 0.3 + cos(g / 3.0)) > 1.2 AS won,
       (100 + (g * 7919) % 9000)::float8 AS amount, ((g::bigint * 104729) % 97) / 100.0::float8 AS p
  FROM generate_series(1, 60000) g;
ANALYZE obs;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS
SELECT crm.linreg(y, x) AS lin, crm.linreg(y, x[1]) AS lin1, crm.logreg(won, x) AS logit,
       crm.revenue_range(amount, p) AS rr
  FROM obs;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT crm.linreg(y, x), crm.linreg(y, x[1]), crm.logreg(won, x), crm.revenue_range(amount, p)
  FROM obs;
CREATE TEMP TABLE parallel AS
SELECT crm.linreg(y, x) AS lin, crm.linreg(y, x[1]) AS lin1, crm.logreg(won, x) AS logit,
       crm.revenue_range(amount, p) AS rr
  FROM obs;
SELECT pg_temp.r(s.lin) = pg_temp.r(p.lin) AS lin_same, pg_temp.reldiff(s.lin, p.lin) < 1e-10 AS lin_close,
       pg_temp.r(s.lin1) = pg_temp.r(p.lin1) AS lin1_same, pg_temp.reldiff(s.lin1, p.lin1) < 1e-10 AS lin1_close,
       pg_temp.r(s.logit) = pg_temp.r(p.logit) AS logit_same,
       pg_temp.reldiff(s.logit, p.logit) < 1e-10 AS logit_close,
       pg_temp.r(s.rr) = pg_temp.r(p.rr) AS rr_same, pg_temp.reldiff(s.rr, p.rr) < 1e-10 AS rr_close
  FROM serial s, parallel p;
SELECT pg_temp.r(lin) AS lin, pg_temp.r(logit) AS logit, pg_temp.r(rr) AS rr FROM parallel;
RESET max_parallel_workers_per_gather;

-- ======================================================================
-- crm.deal_win_score: open deals scored by crm.logreg on closed ones
-- ======================================================================
SELECT crm.create_pipeline('scoring', ARRAY['open']) AS pid \gset
INSERT INTO crm.account (name) VALUES ('regress score A'), ('regress score B');
-- 58 closed deals, one a day (small ones are won more often, and returning
-- customers of account A too), then 3 open ones
INSERT INTO crm.deal (name, amount, pipeline_id, account_id, stage_entered_at, created_at)
SELECT 'S' || g, 1000 + (g * 7919) % 9000, :pid,
       (SELECT id FROM crm.account WHERE name = CASE WHEN g % 3 = 0 THEN 'regress score B' ELSE 'regress score A' END),
       now() - (200 - 3 * g) * interval '1 day', now() - (200 - 3 * g) * interval '1 day'
  FROM generate_series(1, 61) g;
UPDATE crm.deal SET stage = CASE WHEN (substr(name, 2)::int * 37) % 10
                                      < 2 + (amount < 4000)::int * 4 + (substr(name, 2)::int % 3 <> 0)::int * 2
                                 THEN 'won' ELSE 'lost' END,
       lost_reason = 'price', stage_entered_at = created_at + interval '2 days'
 WHERE pipeline_id = :pid AND substr(name, 2)::int <= 58;
SELECT stage, count(*) FROM crm.deal WHERE pipeline_id = :pid GROUP BY 1 ORDER BY 1;
SELECT pg_temp.r(crm.deal_win_model(:pid) - 'aic' - 'null_loglik') AS model;
SELECT name, stage, amount, stage_probability, round(win_probability::numeric, 4) AS win_probability,
       model_features, model_deals
  FROM crm.deal_win_score WHERE pipeline_id = :pid ORDER BY name;
-- the view scores with the model of the pipeline: crm.predict on the same features
SELECT bool_and(abs(w.win_probability - crm.predict(crm.deal_win_model(:pid), crm.deal_win_features(d)))
                < 1e-12) AS same_as_predict
  FROM crm.deal_win_score w JOIN crm.deal d ON d.id = w.deal_id WHERE w.pipeline_id = :pid;
-- without accounts the second feature is constant: the model uses the amount alone
UPDATE crm.deal SET account_id = NULL WHERE pipeline_id = :pid;
SELECT name, round(win_probability::numeric, 4) AS win_probability, model_features, model_deals
  FROM crm.deal_win_score WHERE pipeline_id = :pid ORDER BY name;
-- a pipeline with too little history, or history that determines no model, has no score
SELECT crm.create_pipeline('young', ARRAY['open']) AS young \gset
INSERT INTO crm.deal (name, amount, pipeline_id) SELECT 'Y' || g, 100 * g, :young FROM generate_series(1, 25) g;
UPDATE crm.deal SET stage = CASE WHEN amount > 1200 THEN 'won' ELSE 'lost' END, lost_reason = 'price'
 WHERE pipeline_id = :young AND amount <= 2400;
SELECT crm.deal_win_model(:young) IS NULL AS separated_history_no_model;
SELECT count(*) AS open_deals, count(win_probability) AS scored FROM crm.deal_win_score WHERE pipeline_id = :young;
DELETE FROM crm.deal WHERE pipeline_id = :young AND amount BETWEEN 100 AND 1000;
SELECT crm.deal_win_model(:young) IS NULL AS too_few_lost;
-- BI readers can read the scores
CREATE ROLE regress_crm_score_reader LOGIN IN ROLE crm_reader;
SET ROLE regress_crm_score_reader;
SELECT count(*) AS visible FROM crm.deal_win_score WHERE pipeline_id = :pid;
RESET ROLE;
DROP ROLE regress_crm_score_reader;

\c :regress_db
DROP DATABASE crm_regress_forecast_regression;
