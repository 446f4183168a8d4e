-- demo/30_forecast.sql: the company's won revenue, month by month, and the
-- next three months forecast in SQL -- crm.best_model's combination of
-- ETS, Theta and ARIMA -- then two models picked by hand.
\pset footer off
SET client_min_messages = warning;

\echo
\echo '=== crm.revenue_forecast: won revenue per month (CNY), then the next three months with 95% intervals ==='
SELECT month, kind, revenue, revenue_lo, revenue_hi, model
  FROM crm.revenue_forecast WHERE currency = 'CNY' ORDER BY month;

\echo
\echo '--- how crm.best_model forecasts: the mean of three members, each chosen by AICc among its own candidates ---'
CREATE TEMP TABLE won_monthly AS
SELECT month, revenue::float8 AS revenue FROM crm.revenue_forecast WHERE currency = 'CNY' AND kind = 'actual';
SELECT e ->> 'kind' AS member, b.m -> 'selection' -> 'members' ->> (o - 1)::int AS chosen,
       jsonb_array_length(e -> 'selection' -> 'candidates') AS candidates
  FROM (SELECT crm.best_model(revenue, 12 ORDER BY month) AS m FROM won_monthly) b,
       jsonb_array_elements(b.m -> 'members') WITH ORDINALITY x(e, o)
 ORDER BY o;

\echo
\echo '--- models picked by hand: ARIMA(1,1,1) and multiplicative Holt-Winters, next six months (80% intervals) ---'
SELECT f.step, round(f.yhat) AS arima_111, round(f.lo) AS arima_lo, round(f.hi) AS arima_hi,
       round(h.yhat) AS hw_mult, round(h.lo) AS hw_lo, round(h.hi) AS hw_hi
  FROM (SELECT crm.arima(revenue, 1, 1, 1 ORDER BY month) AS a,
               crm.holt_winters(revenue, 12, 'multiplicative' ORDER BY month) AS w
          FROM won_monthly) m,
       crm.forecast(m.a, 6, 0.8) f
  JOIN crm.forecast(m.w, 6, 0.8) h USING (step)
 ORDER BY f.step;
SELECT round((w ->> 'alpha')::numeric, 3) AS alpha, round((w ->> 'beta')::numeric, 3) AS beta,
       round((w ->> 'gamma')::numeric, 3) AS gamma,
       (SELECT string_agg(round(s::numeric, 2)::text, ' ') FROM jsonb_array_elements_text(w -> 'seasonals') s)
         AS seasonal_factors_next_12_months
  FROM (SELECT crm.holt_winters(revenue, 12, 'multiplicative' ORDER BY month) AS w FROM won_monthly) m;
