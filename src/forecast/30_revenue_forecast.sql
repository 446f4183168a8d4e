-- src/forecast/30_revenue_forecast.sql: monthly won revenue and its forecast.
--
-- One row per currency and month: the revenue won in each complete month
-- (deals in a stage of kind 'won', by month of closed_at in the session's
-- time zone, months without a won deal as 0), then the next three months
-- forecast by crm.best_model with 95% intervals.  The current month is
-- incomplete, so it is forecast rather than reported.

CREATE VIEW crm.revenue_forecast AS
WITH won AS (
    SELECT d.currency::text AS currency,
           pg_catalog.date_trunc('month', d.closed_at) AS month,
           sum(d.amount) AS revenue
      FROM crm.deal d
      JOIN crm.stage s ON s.pipeline_id = d.pipeline_id AND s.key = d.stage
     WHERE s.kind = 'won'
       AND d.closed_at < pg_catalog.date_trunc('month', pg_catalog.now())
     GROUP BY 1, 2
), monthly AS (
    SELECT c.currency, m.month, coalesce(w.revenue, 0) AS revenue
      FROM (SELECT currency, min(month) AS first_month FROM won GROUP BY currency) c
     CROSS JOIN LATERAL pg_catalog.generate_series(
               c.first_month,
               pg_catalog.date_trunc('month', pg_catalog.now()) - interval '1 month',
               interval '1 month') AS m(month)
      LEFT JOIN won w ON w.currency = c.currency AND w.month = m.month
), fitted AS (
    -- four months is the least any candidate model needs
    SELECT currency, max(month) AS last_month,
           crm.best_model(revenue::float8, 12 ORDER BY month) AS model
      FROM monthly
     WHERE currency IN (SELECT currency FROM monthly GROUP BY currency HAVING count(*) >= 4)
     GROUP BY currency
)
SELECT currency, month::date AS month, 'actual'::text AS kind, revenue,
       NULL::numeric AS revenue_lo, NULL::numeric AS revenue_hi, NULL::text AS model
  FROM monthly
UNION ALL
SELECT f.currency, (f.last_month + fc.step * interval '1 month')::date, 'forecast',
       round(greatest(fc.yhat, 0)::numeric, 2),
       round(greatest(fc.lo, 0)::numeric, 2),
       round(greatest(fc.hi, 0)::numeric, 2),
       f.model -> 'selection' ->> 'chosen'
  FROM fitted f
 CROSS JOIN LATERAL crm.forecast(f.model, 3, 0.95) AS fc;

COMMENT ON VIEW crm.revenue_forecast IS
    'Won revenue per currency and complete month, then the next three months (the current one first) '
    'forecast by crm.best_model with 95% prediction intervals.';
COMMENT ON COLUMN crm.revenue_forecast.currency IS 'Currency of the deals.';
COMMENT ON COLUMN crm.revenue_forecast.month IS 'First day of the month (session time zone).';
COMMENT ON COLUMN crm.revenue_forecast.kind IS
    'actual: revenue won in that month (0 if none); forecast: a future month.';
COMMENT ON COLUMN crm.revenue_forecast.revenue IS
    'Sum of amount of the deals won that month, or the forecast (floored at 0, to the cent).';
COMMENT ON COLUMN crm.revenue_forecast.revenue_lo IS
    'Lower end of the 95% prediction interval (floored at 0); NULL for actual months.';
COMMENT ON COLUMN crm.revenue_forecast.revenue_hi IS
    'Upper end of the 95% prediction interval; NULL for actual months.';
COMMENT ON COLUMN crm.revenue_forecast.model IS
    'The models crm.best_model combined, e.g. ets(M,Ad,M) + theta + arima(0,1,1); NULL for actual months.';

GRANT SELECT ON crm.revenue_forecast TO crm_reader;
