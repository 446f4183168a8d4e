-- forecast_limits: numeric edge cases of the forecasting aggregates -- a
-- season near INT_MAX or longer than the series, amounts near the top of
-- the float8 range -- each a clear error, never an allocation failure or a
-- silent NULL.
\i sql/forecast_setup.inc

CREATE TEMP TABLE lim (t int, y float8);
INSERT INTO lim SELECT t, 100 + 10 * sin(t * pi() / 6) + t FROM generate_series(1, 40) t;

-- a season near INT_MAX (2 * season used to wrap around to a negative size)
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 2147483647, 'additive' ORDER BY t) FROM lim$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 2147483647, 'multiplicative', 0.1, 0.1, 0.1 ORDER BY t) FROM lim$$);
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 1073741824, 'additive' ORDER BY t) FROM lim$$);
-- a season longer than the series
SELECT pg_temp.try($$SELECT crm.holt_winters(y, 41, 'additive' ORDER BY t) FROM lim$$);
-- crm.best_model with a season longer than the series models it without
-- seasonality (crm.revenue_forecast asks for season 12 from four months on)
SELECT m -> 'selection' ->> 'chosen' IS NOT NULL AS chosen
  FROM (SELECT crm.best_model(y, 2147483647 ORDER BY t) AS m FROM lim) x;
SELECT count(*) AS steps
  FROM (SELECT crm.best_model(y, 12 ORDER BY t) AS m FROM lim WHERE t <= 6) x, crm.forecast(m, 3);

-- crm.revenue_range: amounts whose squares overflow, but not their sum, still work
SELECT r ->> 'method' AS method, (r ->> 'expected')::float8 = 1e300 AS expected,
       (r ->> 'sd')::float8 / 7.0710678118654752e299 BETWEEN 0.999999 AND 1.000001 AS sd,
       (r ->> 'p90')::float8 = 2e300 AS p90
  FROM (SELECT crm.revenue_range(a, 0.5) AS r FROM (VALUES (1e300::float8), (1e300)) v(a)) x;
SELECT (r ->> 'p10')::float8 >= 0 AND (r ->> 'p90')::float8 <= 1e306 AS in_range
  FROM (SELECT crm.revenue_range(1e303 * (1 + g / 1000.0), 0.3) AS r FROM generate_series(1, 500) g) x;
-- a total beyond float8: numeric overflow, not a NULL percentile
SELECT pg_temp.try($$SELECT crm.revenue_range(a, 0.5) FROM (VALUES (1e308::float8), (1e308)) v(a)$$);
SELECT pg_temp.try($$SELECT crm.revenue_range(1.7e308, 1.0) FROM generate_series(1, 2)$$);

-- seasonal ARIMA: the seasonal order and season are checked like the order
CREATE TEMP TABLE sea AS
SELECT t, 100 + 0.5 * t + 10 * sin(t * pi() / 6) + ((t * 7919 + 13) % 101) / 50.0 AS y FROM generate_series(1, 72) t;
SELECT m ->> 'kind' AS kind, m -> 'order' AS "order", m -> 'seasonal_order' AS seasonal_order,
       jsonb_array_length(m -> 'sma') AS sma, jsonb_array_length(m -> 'tail') AS tail,
       jsonb_array_length(m -> 'state') AS state
  FROM (SELECT crm.arima(y, 0, 1, 1, 0, 1, 1, 12 ORDER BY t) AS m FROM sea) x;
SELECT count(*) AS steps, bool_and(lo < yhat AND yhat < hi) AS inside
  FROM (SELECT crm.arima(y, 1, 0, 0, 1, 1, 0, 12 ORDER BY t) AS m FROM sea) x, crm.forecast(m, 24);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 1, 1, 3, 1, 1, 12 ORDER BY t) FROM sea$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 1, 1, 0, 2, 1, 12 ORDER BY t) FROM sea$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 1, 1, -1, 1, 1, 12 ORDER BY t) FROM sea$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 1, 1, 0, 1, 1, 1 ORDER BY t) FROM sea$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 1, 1, 0, 1, 1, 2147483647 ORDER BY t) FROM sea$$);
SELECT pg_temp.try($$SELECT crm.arima(y, 0, 1, 1, 2, 1, 1, 12 ORDER BY t) FROM sea WHERE t <= 30$$);
SELECT pg_temp.try($$SELECT * FROM crm.forecast('{"kind": "arima", "n": 10, "order": [0, 1, 1], "ma": [0.1], "seasonal_order": [0, 1, 1, 99], "sar": [], "sma": [0.1]}', 2)$$);
