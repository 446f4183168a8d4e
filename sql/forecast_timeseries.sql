-- forecast_timeseries: crm.arima, crm.holt_winters, crm.best_model, crm.forecast
-- and crm.revenue_forecast -- their SQL behaviour and every bad input.
-- (Accuracy against statsmodels is checked by test/t/250-270_timeseries_*.pl.)
-- in a database of its own, so deals here do not mix with other suites
\set regress_db :DBNAME
CREATE DATABASE crm_regress_forecast_ts TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
\c crm_regress_forecast_ts
CREATE EXTENSION crm;
\i sql/forecast_setup.inc

-- deterministic series: a seasonal one with trend, a random walk, a stationary one
CREATE TABLE ts (series text, t int, y float8);
INSERT INTO ts SELECT 'seasonal', t, 50 + 0.3 * t + 8 * sin(t * pi() / 6) + 2 * pg_temp.noise(t)
  FROM generate_series(1, 60) t;
INSERT INTO ts SELECT 'walk', t, 100 + sum(pg_temp.noise(t)) OVER (ORDER BY t)
  FROM generate_series(1, 80) t;
INSERT INTO ts SELECT 'level', t, 10 + pg_temp.noise(t) + 0.5 * pg_temp.noise(t - 1)
  FROM generate_series(1, 50) t;

-- the aggregates: no combine function (ordered input is never partially
-- aggregated), parallel safe, internal state
SELECT p.oid::regprocedure AS aggregate, a.aggtranstype::regtype AS state, a.aggcombinefn, p.proparallel
  FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
 WHERE p.pronamespace = 'crm'::regnamespace AND p.proname IN ('arima', 'holt_winters', 'best_model')
 ORDER BY 1::text;

-- ARIMA: the model's keys and estimates
SELECT jsonb_object_keys(crm.arima(y, 1, 1, 1 ORDER BY t)) AS key FROM ts WHERE series = 'walk' ORDER BY 1;
SELECT m -> 'order' AS "order", m -> 'n' AS n, m -> 'n_used' AS n_used,
       round((m -> 'ar' ->> 0)::numeric, 4) AS ar1, round((m -> 'ma' ->> 0)::numeric, 4) AS ma1,
       m ? 'mean' AS has_mean, round((m ->> 'sigma2')::numeric, 4) AS sigma2,
       round((m ->> 'loglik')::numeric, 3) AS loglik,
       abs((m ->> 'aic')::float8 - (-2 * (m ->> 'loglik')::float8 + 2 * 3)) < 1e-9 AS aic_counts_3,
       abs((m ->> 'bic')::float8 - (-2 * (m ->> 'loglik')::float8 + 3 * ln(79))) < 1e-9 AS bic_counts_3
  FROM (SELECT crm.arima(y, 1, 1, 1 ORDER BY t) AS m FROM ts WHERE series = 'walk') x;
-- with d = 0 the series has a mean, and ar/ma hold p and q coefficients
SELECT round((m ->> 'mean')::numeric, 4) AS mean, jsonb_array_length(m -> 'ar') AS p,
       jsonb_array_length(m -> 'ma') AS q, m -> 'tail' AS tail
  FROM (SELECT crm.arima(y, 2, 0, 1 ORDER BY t) AS m FROM ts WHERE series = 'level') x;
-- one model per group, in one query
SELECT series, (crm.arima(y, 0, 1, 1 ORDER BY t) -> 'n')::int AS n FROM ts GROUP BY series ORDER BY series;
-- aggregate order matters: the same values in reverse make another model
SELECT (SELECT crm.arima(y, 1, 1, 0 ORDER BY t) ->> 'ar' FROM ts WHERE series = 'walk') <>
       (SELECT crm.arima(y, 1, 1, 0 ORDER BY t DESC) ->> 'ar' FROM ts WHERE series = 'walk') AS order_matters;

-- forecasts: the random walk's intervals widen, a lower level is narrower
CREATE TEMP TABLE walk_model AS SELECT crm.arima(y, 1, 1, 1 ORDER BY t) AS m FROM ts WHERE series = 'walk';
SELECT step, round(yhat::numeric, 3) AS yhat, round((hi - lo)::numeric, 3) AS width,
       abs((hi + lo) / 2 - yhat) < 1e-9 AS symmetric
  FROM walk_model, crm.forecast(m, 4);
SELECT bool_and(f80.hi - f80.lo < f95.hi - f95.lo) AS narrower_at_80
  FROM walk_model, crm.forecast(m, 4) f95 JOIN crm.forecast(m, 4, 0.8) f80 USING (step);
SELECT count(*) AS rows, min(step), max(step) FROM walk_model, crm.forecast(m, 10000);

-- Holt-Winters: estimated parameters in the usual region, the state for forecasting
CREATE TEMP TABLE hw AS
SELECT crm.holt_winters(y, 12, 'additive' ORDER BY t) AS a,
       crm.holt_winters(y, 12, 'multiplicative' ORDER BY t) AS m,
       crm.holt_winters(y, 12, 'additive', 0.3, 0.1, 0.2 ORDER BY t) AS f
  FROM ts WHERE series = 'seasonal';
SELECT jsonb_object_keys(a) AS key FROM hw ORDER BY 1;
SELECT k AS model, x ->> 'seasonal' AS seasonal, x -> 'season' AS season, x -> 'optimized' AS optimized,
       (x ->> 'alpha')::float8 BETWEEN 0 AND 1 AND (x ->> 'beta')::float8 BETWEEN 0 AND 1
       AND (x ->> 'gamma')::float8 BETWEEN 0 AND 1 - (x ->> 'alpha')::float8 AS usual_region,
       jsonb_array_length(x -> 'seasonals') AS seasonals, round((x ->> 'sse')::numeric, 2) AS sse
  FROM hw, LATERAL (VALUES ('a', a), ('m', m), ('f', f)) AS v(k, x) ORDER BY 1;
-- optimising beats the fixed parameters; the fixed ones are kept
SELECT (a ->> 'sse')::float8 < (f ->> 'sse')::float8 AS estimated_better,
       f -> 'alpha' AS alpha, f -> 'beta' AS beta, f -> 'gamma' AS gamma FROM hw;
-- the textbook forecast: the latest seasonal factor at every horizon, one season apart by 12 trends
SELECT step, round(yhat::numeric, 3) AS yhat, round((hi - lo)::numeric, 3) AS width FROM hw, crm.forecast(a, 3);
SELECT abs(f13.yhat - f1.yhat - 12 * (a ->> 'trend')::float8) < 1e-9 AS same_season_next_year
  FROM hw, crm.forecast(a, 13) f13, crm.forecast(a, 1) f1 WHERE f13.step = 13;
SELECT abs(f13.yhat / f1.yhat - ((m ->> 'level')::float8 + 13 * (m ->> 'trend')::float8)
                                / ((m ->> 'level')::float8 + (m ->> 'trend')::float8)) < 1e-9 AS multiplicative_scales
  FROM hw, crm.forecast(m, 13) f13, crm.forecast(m, 1) f1 WHERE f13.step = 13;

-- best_model: the mean of ETS, Theta and ARIMA, each chosen automatically
CREATE TEMP TABLE best AS
SELECT series, crm.best_model(y, CASE series WHEN 'seasonal' THEN 12 ELSE 1 END ORDER BY t) AS m
  FROM ts GROUP BY series;
SELECT series, m ->> 'kind' AS kind, m -> 'selection' ->> 'chosen' AS chosen,
       jsonb_array_length(m -> 'members') AS members,
       jsonb_array_length(m -> 'selection' -> 'skipped') AS skipped,
       (SELECT array_agg(e ->> 'kind' ORDER BY o) FROM jsonb_array_elements(m -> 'members') WITH ORDINALITY a(e, o)) AS kinds
  FROM best ORDER BY series;
-- each member's own choice lists its candidates; the chosen one has the smallest AICc
SELECT series, e ->> 'kind' AS member, jsonb_array_length(e -> 'selection' -> 'candidates') AS candidates,
       (SELECT min((c ->> 'aicc')::float8) FROM jsonb_array_elements(e -> 'selection' -> 'candidates') c)
         = (SELECT (c ->> 'aicc')::float8 FROM jsonb_array_elements(e -> 'selection' -> 'candidates') c
             WHERE c ->> 'model' = e -> 'selection' ->> 'chosen') AS smallest_aicc
  FROM best, jsonb_array_elements(m -> 'members') e
 WHERE e ? 'selection' ORDER BY 1, 2;
-- the ETS member is what crm.ets chooses, the Theta member what crm.theta fits
SELECT b.series, b.m -> 'members' -> 0 -> 'selection' ->> 'chosen' = e.m -> 'selection' ->> 'chosen' AS same_ets,
       b.m -> 'members' -> 1 = t.m AS same_theta
  FROM best b
  JOIN (SELECT series, crm.ets(y, CASE series WHEN 'seasonal' THEN 12 ELSE 1 END ORDER BY t) AS m FROM ts GROUP BY series) e USING (series)
  JOIN (SELECT series, crm.theta(y, CASE series WHEN 'seasonal' THEN 12 ELSE 1 END ORDER BY t) AS m FROM ts GROUP BY series) t USING (series)
 ORDER BY 1;
-- a d = 1 ARIMA candidate's AICc is its own model's AICc (the same data; 'walk' is not seasonal)
SELECT abs((c ->> 'aicc')::float8 - (SELECT (crm.arima(y, 1, 1, 1 ORDER BY t) ->> 'aicc')::float8
                                       FROM ts WHERE series = 'walk')) < 1e-6 AS same_aicc
  FROM best, jsonb_array_elements(m -> 'members' -> 2 -> 'selection' -> 'candidates') c
 WHERE series = 'walk' AND c ->> 'model' = 'arima(1,1,1)';
-- the forecast and its interval are the means of the members'
SELECT series, count(*) AS steps,
       max(abs(f.yhat - (SELECT avg(g.yhat) FROM jsonb_array_elements(m -> 'members') e, crm.forecast(e, 3) g WHERE g.step = f.step))) < 1e-9 AS mean_of_members,
       max(abs(f.lo - (SELECT avg(g.lo) FROM jsonb_array_elements(m -> 'members') e, crm.forecast(e, 3) g WHERE g.step = f.step))) < 1e-9 AS lo_mean,
       bool_and(f.lo < f.yhat AND f.yhat < f.hi) AS inside
  FROM best, crm.forecast(m, 3) f GROUP BY series ORDER BY series;
-- a constant series gets a constant forecast with zero-width intervals
SELECT step, yhat, lo, hi
  FROM (SELECT crm.best_model(5.0::float8, 1 ORDER BY g) AS m FROM generate_series(1, 10) g) x, crm.forecast(m, 2);

-- no rows: NULL, as for other aggregates
SELECT crm.arima(y, 1, 0, 0 ORDER BY t) IS NULL AS arima_null, crm.holt_winters(y, 4, 'additive' ORDER BY t) IS NULL AS hw_null,
       crm.best_model(y, 4 ORDER BY t) IS NULL AS best_null
  FROM ts WHERE series = 'none';
-- a NULL model forecasts nothing (crm.forecast is strict)
SELECT count(*) FROM crm.forecast(NULL, 3);

-- bad input: each a clear error
-- values: NULL, NaN, infinity
SELECT pg_temp.try($$SELECT crm.arima(v, 0, 1, 1 ORDER BY g) FROM (VALUES (1, 1.0), (2, NULL), (3, 2.0)) s(g, v)$$);
SELECT pg_temp.try($$SELECT crm.arima(v, 0, 1, 1 ORDER BY g) FROM (VALUES (1, 1.0::float8), (2, 'NaN')) s(g, v)$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(v, 2, 'additive' ORDER BY g) FROM (VALUES (1, 1.0::float8), (2, '-Infinity')) s(g, v)$$);
SELECT pg_temp.try($$SELECT crm.best_model(v, 1 ORDER BY g) FROM (VALUES (1, 1.0::float8), (2, 'Infinity')) s(g, v)$$);
-- the order: negative, too large, NULL, changing between rows
SELECT pg_temp.try($$SELECT crm.arima(y, -1, 0, 0 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, -1, 0 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 0, -2 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 6, 1, 0 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 1, 3, 0 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT pg_temp.try($$SELECT crm.arima(y, NULL, 1, 0 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT pg_temp.try($$SELECT crm.arima(y, t % 2, 1, 0 ORDER BY t) FROM ts WHERE series = 'walk'$$);
-- too few points for the order
SELECT pg_temp.try($$SELECT crm.arima(y, 2, 1, 2 ORDER BY t) FROM ts WHERE series = 'walk' AND t <= 7$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 2, 1, 2 ORDER BY t) FROM ts WHERE series = 'walk' AND t <= 8$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 1, 0, 0 ORDER BY t) FROM ts WHERE series = 'walk' AND t <= 4$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 1, 0, 0 ORDER BY t) FROM ts WHERE series = 'walk' AND t <= 5$$);
-- nothing to model
SELECT pg_temp.try($$SELECT crm.arima(3.0::float8, 1, 0, 0 ORDER BY g) FROM generate_series(1, 20) g$$);
SELECT pg_temp.try($$SELECT crm.arima(g::float8, 0, 2, 1 ORDER BY g) FROM generate_series(1, 20) g$$);
-- Holt-Winters: season too short or longer than half the series, too few points, seasonal kind
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 1, 'additive' ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 31, 'additive' ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 4, 'additive' ORDER BY t) FROM ts WHERE series = 'seasonal' AND t <= 10$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 12, 'additive' ORDER BY t) FROM ts WHERE series = 'seasonal' AND t <= 23$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 12, 'add' ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 12, NULL ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
-- multiplicative seasonality needs positive data
SELECT pg_temp.try($$SELECT crm.holt_winters(y - 60, 12, 'multiplicative' ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y * (t <> 7)::int, 12, 'multiplicative', 0.3, 0.1, 0.2 ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
-- fixed smoothing parameters outside 0 <= alpha, beta <= 1, 0 <= gamma <= 1 - alpha
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 12, 'additive', 1.2, 0.1, 0.0 ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 12, 'additive', 0.5, -0.1, 0.2 ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 12, 'additive', 0.7, 0.1, 0.4 ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 12, 'additive', 'NaN', 0.1, 0.1 ORDER BY t) FROM ts WHERE series = 'seasonal'$$);
-- best_model: season below 1, too few points
SELECT pg_temp.try($$SELECT crm.best_model(y, 0 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT pg_temp.try($$SELECT crm.best_model(y, 1 ORDER BY t) FROM ts WHERE series = 'walk' AND t <= 3$$);
-- crm.forecast: horizon, level, the model's kind and keys
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m, 0)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m, -3)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m, 10001)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m, 3, 0)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m, 3, 1)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m, 3, 95)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m, 3, 'NaN')$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "linreg", "n": 10, "coef": [1, 2], "se": [0.1, 0.1], "r2": 0.9}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "logreg", "n": 10, "coef": [1, 2]}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "prophet"}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"n": 10}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('[1, 2, 3]', 3)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('42', 3)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": 7}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m - 'state', 3)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m || '{"order": [1, 1]}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m || '{"order": [1, -1, 1]}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m || '{"sigma2": "big"}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM walk_model, crm.forecast(m || '{"sigma2": -1}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM hw, crm.forecast(a || '{"seasonal": "cubic"}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM hw, crm.forecast(a || '{"seasonals": [1, 2]}', 3)$$);
SELECT pg_temp.try($$SELECT * FROM hw, crm.forecast(a || '{"season": 1}', 3)$$);

-- the GUC bounding the collected points
SHOW crm.forecast_max_points;
SET crm.forecast_max_points = 50;
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 1, 1 ORDER BY t) FROM ts WHERE series = 'walk'$$);
SELECT (crm.arima(y, 0, 1, 1 ORDER BY t) -> 'n')::int AS n FROM ts WHERE series = 'walk' AND t <= 50;
SELECT pg_temp.try($$SET crm.forecast_max_points = 5$$);
RESET crm.forecast_max_points;

-- crm.revenue_forecast: won deals only, by month of closing, missing months as 0,
-- the current month and the next two forecast.  Months are shown relative to now.
INSERT INTO crm.deal (name, amount, currency, stage_entered_at, created_at)
SELECT 'deal ' || m || '/' || k,
       round((1000 + 20 * m + 300 * sin(m * pi() / 6) + 40 * pg_temp.noise(m * 3 + k))::numeric, 2),
       CASE WHEN k = 3 THEN 'USD' ELSE 'CNY' END,
       date_trunc('month', now()) - (30 - m) * interval '1 month' + interval '2 days',
       date_trunc('month', now()) - (30 - m) * interval '1 month' + interval '2 days'
  FROM generate_series(0, 29) m, generate_series(1, 3) k
 WHERE NOT (k = 3 AND m IN (12, 13));
UPDATE crm.deal SET stage = 'qualified', stage_entered_at = created_at + interval '1 day';
UPDATE crm.deal SET stage = 'negotiation', stage_entered_at = created_at + interval '2 days';
UPDATE crm.deal SET stage = 'won', stage_entered_at = created_at + interval '3 days' WHERE name NOT LIKE '%/2';
UPDATE crm.deal SET stage = 'lost', lost_reason = 'budget', stage_entered_at = created_at + interval '3 days'
 WHERE name LIKE '%/2';
-- a deal won this month is not reported yet; an open deal never counts
INSERT INTO crm.deal (name, amount, currency) VALUES ('this month', 99999, 'CNY');
UPDATE crm.deal SET stage = 'qualified' WHERE name = 'this month';
UPDATE crm.deal SET stage = 'negotiation' WHERE name = 'this month';
UPDATE crm.deal SET stage = 'won' WHERE name = 'this month';
INSERT INTO crm.deal (name, amount, currency) VALUES ('still open', 77777, 'CNY');
SELECT currency, kind, count(*) AS months, sum(revenue) AS revenue, max(revenue) < 10000 AS no_current_or_open
  FROM crm.revenue_forecast WHERE kind = 'actual' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT currency,
       (extract(year FROM age(month, date_trunc('month', now())::date)) * 12
        + extract(month FROM age(month, date_trunc('month', now())::date)))::int AS months_from_now,
       kind, round(revenue) AS revenue, revenue_lo <= revenue AND revenue <= revenue_hi AS inside, model
  FROM crm.revenue_forecast
 WHERE month >= date_trunc('month', now()) - interval '3 months' OR revenue = 0
 ORDER BY 1, 2;
-- BI tools read it as crm_reader
SET ROLE crm_reader;
SELECT count(*) > 0 AS readable FROM crm.revenue_forecast;
RESET ROLE;
SELECT c.column_name, d.description IS NOT NULL AS commented
  FROM information_schema.columns c
  LEFT JOIN pg_description d ON d.objoid = 'crm.revenue_forecast'::regclass AND d.objsubid = c.ordinal_position
 WHERE c.table_schema = 'crm' AND c.table_name = 'revenue_forecast' ORDER BY c.ordinal_position;

\c :regress_db
DROP DATABASE crm_regress_forecast_ts;
