-- forecast_ets_theta: crm.ets and crm.theta -- their SQL behaviour, model
-- keys, forecasts and every bad input.  (Accuracy against R's forecast
-- package is checked by test/t/280_ets_theta_vs_r.pl.)
\i sql/forecast_setup.inc

-- deterministic series
CREATE TEMP TABLE es (series text, t int, y float8);
INSERT INTO es SELECT 'seasonal', t, (100 + 0.8 * t) * (1 + 0.2 * sin(t * pi() / 6)) + 3 * pg_temp.noise(t)
  FROM generate_series(1, 72) t;
INSERT INTO es SELECT 'level', t, 50 + 4 * pg_temp.noise(t) FROM generate_series(1, 40) t;
INSERT INTO es SELECT 'signed', t, 2 * pg_temp.noise(t) + 0.05 * t - 1 FROM generate_series(1, 40) t;

-- the aggregates: internal state, no combine function, parallel safe
SELECT p.oid::regprocedure AS aggregate, a.aggtranstype::regtype AS state, a.aggcombinefn, p.proparallel
  FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
 WHERE p.pronamespace = 'crm'::regnamespace AND p.proname IN ('ets', 'theta')
 ORDER BY 1::text;

-- crm.ets with the whole family: the chosen model, its keys and every candidate
CREATE TEMP TABLE fits AS
SELECT series, crm.ets(y, 12 ORDER BY t) AS e, crm.theta(y, 12 ORDER BY t) AS th
  FROM es WHERE series = 'seasonal' GROUP BY series
UNION ALL
SELECT series, crm.ets(y, 1 ORDER BY t), crm.theta(y, 1 ORDER BY t) FROM es WHERE series <> 'seasonal' GROUP BY series;
SELECT series, e ->> 'kind' AS kind, e -> 'components' AS components, e ->> 'season' AS season,
       jsonb_array_length(e -> 'states') AS states, e -> 'selection' ->> 'chosen' AS chosen,
       jsonb_array_length(e -> 'selection' -> 'candidates') AS candidates,
       (SELECT count(*) FROM jsonb_array_elements(e -> 'selection' -> 'candidates') c WHERE c ? 'skipped') AS skipped
  FROM fits ORDER BY series;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(e) k) AS keys FROM fits WHERE series = 'seasonal';
-- parameters inside R's bounds; AICc = AIC + 2k(k+1)/(n-k-1)
SELECT series, (e ->> 'alpha')::float8 BETWEEN 1e-4 AND 0.9999 AS alpha_ok,
       (e ->> 'beta')::float8 <= (e ->> 'alpha')::float8 AS beta_ok,
       (e ->> 'gamma')::float8 <= 1 - (e ->> 'alpha')::float8 AS gamma_ok,
       abs((e ->> 'aicc')::float8 - (e ->> 'aic')::float8
           - 2.0 * (e ->> 'parameters')::int * ((e ->> 'parameters')::int + 1)
             / ((e ->> 'n')::int - (e ->> 'parameters')::int - 1)) < 1e-9 AS aicc_ok
  FROM fits ORDER BY series;
-- data with zeros or negative values: additive models only
SELECT c ->> 'model' AS model, c ->> 'skipped' AS skipped
  FROM fits, jsonb_array_elements(e -> 'selection' -> 'candidates') c
 WHERE series = 'signed' AND c ? 'skipped';
-- a fixed model is fitted as asked, without "selection"
SELECT m ->> 'components' AS components, m ? 'selection' AS has_selection, (m ->> 'phi')::float8 BETWEEN 0.8 AND 0.98 AS phi_ok
  FROM (SELECT crm.ets(y, 12, 'MAdM' ORDER BY t) AS m FROM es WHERE series = 'seasonal') x;
SELECT m ->> 'components' AS components, m ->> 'phi' AS phi, m ->> 'beta' AS beta, m ->> 'gamma' AS gamma
  FROM (SELECT crm.ets(y, 1, 'ANN' ORDER BY t) AS m FROM es WHERE series = 'level') x;
-- a Z season on a series without one is none
SELECT crm.ets(y, 1, 'AZZ' ORDER BY t) -> 'selection' ->> 'chosen' AS chosen FROM es WHERE series = 'level';

-- forecasts: ANN is flat with widening analytic intervals
SELECT step, round(yhat::numeric, 6) = round(lag(yhat) OVER (ORDER BY step)::numeric, 6) AS flat,
       (hi - lo) > lag(hi - lo) OVER (ORDER BY step) AS widening
  FROM (SELECT crm.ets(y, 1, 'ANN' ORDER BY t) AS m FROM es WHERE series = 'level') x, crm.forecast(m, 3)
 ORDER BY step;
-- multiplicative models simulate their intervals from a fixed seed: the same twice
SELECT count(*) AS steps, bool_and(a.lo = b.lo AND a.hi = b.hi) AS same, bool_and(a.lo < a.yhat AND a.yhat < a.hi) AS inside
  FROM (SELECT crm.ets(y, 12, 'MAM' ORDER BY t) AS m FROM es WHERE series = 'seasonal') x,
       crm.forecast(m, 24) a JOIN crm.forecast(m, 24) b USING (step);
-- a wider level, a wider interval
SELECT bool_and(w.hi - w.lo > n.hi - n.lo) AS wider
  FROM (SELECT crm.ets(y, 12, 'MAM' ORDER BY t) AS m FROM es WHERE series = 'seasonal') x,
       crm.forecast(m, 6, 0.99) w JOIN crm.forecast(m, 6, 0.8) n USING (step);

-- crm.theta: seasonal adjustment only when the test finds a season
SELECT series, th ->> 'kind' AS kind, th ->> 'seasonal' AS seasonal, jsonb_array_length(th -> 'seasonals') AS seasonals,
       (th ->> 'alpha')::float8 BETWEEN 1e-4 AND 0.9999 AS alpha_ok
  FROM fits ORDER BY series;
-- forecasts: SES with drift, multiplied by the season's indexes
SELECT abs(f2.yhat / (th -> 'seasonals' ->> 1)::float8 - f1.yhat / (th -> 'seasonals' ->> 0)::float8
           - (th ->> 'drift')::float8) < 1e-9 AS drift_per_step
  FROM fits, crm.forecast(th, 2) f2, crm.forecast(th, 1) f1 WHERE series = 'seasonal' AND f2.step = 2;
SELECT count(*) AS steps FROM fits, crm.forecast(th, 30) WHERE series = 'level';

-- no rows: NULL
SELECT crm.ets(y, 1 ORDER BY t) IS NULL AS ets_null, crm.theta(y, 1 ORDER BY t) IS NULL AS theta_null
  FROM es WHERE series = 'none';

-- bad input: each a clear error
SELECT pg_temp.try($$SELECT crm.ets(y, 12, 'XYZ' ORDER BY t) FROM es WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 12, 'AAdd' ORDER BY t) FROM es WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 12, 'ANM' ORDER BY t) FROM es WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 1, 'MNN' ORDER BY t) FROM es WHERE series = 'signed'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 1, 'ANA' ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 30, 'ANA' ORDER BY t) FROM es WHERE series = 'seasonal'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 24, 'ANA' ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 2147483647, 'ANA' ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 0 ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 1, NULL ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 1, 'AAdN' ORDER BY t) FROM es WHERE series = 'level' AND t <= 8$$);
SELECT pg_temp.try($$SELECT crm.ets(y, 1 ORDER BY t) FROM es WHERE series = 'level' AND t <= 6$$);
SELECT pg_temp.try($$SELECT crm.ets(v, 1 ORDER BY g) FROM (VALUES (1, 1.0::float8), (2, 'NaN')) s(g, v)$$);
SELECT pg_temp.try($$SELECT crm.theta(y, 0 ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.theta(y, 41 ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.theta(y, 2147483647 ORDER BY t) FROM es WHERE series = 'level'$$);
SELECT pg_temp.try($$SELECT crm.theta(y, 1 ORDER BY t) FROM es WHERE series = 'level' AND t <= 5$$);
-- models edited by hand
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "ets", "n": 10, "season": 1, "components": ["X", "N", "N"]}', 2)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "ets", "n": 10, "season": 4, "components": ["A", "N", "N"]}', 2)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "theta", "n": 10, "season": 1, "alpha": 2, "level": 1, "drift": 0, "sigma2": 1}', 2)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "combination", "members": []}', 2)$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "combination", "members": [{"kind": "combination"}]}', 2)$$);
