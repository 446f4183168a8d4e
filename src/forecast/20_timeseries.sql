-- src/forecast/20_timeseries.sql: time-series forecasting aggregates.
--
-- crm.arima, crm.holt_winters, crm.ets, crm.theta and crm.best_model are ordinary aggregates
-- called with ORDER BY inside the call, e.g.
--     SELECT crm.arima(revenue, 1, 1, 1 ORDER BY month) FROM monthly;
-- Their state (internal) is the series in that order, bounded by the GUC
-- crm.forecast_max_points; the final function fits the model and returns
-- it as jsonb, which crm.forecast turns into forecasts with intervals.
-- They have no combine function, because PostgreSQL never computes an
-- aggregate with ORDER BY as partial aggregates; they are PARALLEL SAFE, so
-- a parallel plan can still run them above a Gather.

CREATE FUNCTION crm.arima_accum(state internal, y float8, p integer, d integer, q integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.arima_accum(internal, float8, integer, integer, integer) IS
    'Transition function of crm.arima: appends y to the series.';

CREATE FUNCTION crm.arima_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_arima_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.arima_final(internal) IS
    'Final function of crm.arima: fits the ARIMA model by exact maximum likelihood.';

CREATE AGGREGATE crm.arima(y float8, p integer, d integer, q integer) (
    SFUNC = crm.arima_accum,
    STYPE = internal,
    FINALFUNC = crm.arima_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.arima(float8, integer, integer, integer) IS
    'ARIMA(p, d, q) by exact Gaussian maximum likelihood (Kalman filter) of the series differenced d times, '
    'with a mean when d = 0; call with ORDER BY inside, e.g. crm.arima(y, 1, 1, 1 ORDER BY t). Returns a jsonb model.';

CREATE FUNCTION crm.arima_accum(state internal, y float8, p integer, d integer, q integer,
                                seasonal_p integer, seasonal_d integer, seasonal_q integer, season integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.arima_accum(internal, float8, integer, integer, integer, integer, integer, integer, integer) IS
    'Transition function of the seasonal crm.arima: appends y to the series.';

CREATE AGGREGATE crm.arima(y float8, p integer, d integer, q integer,
                           seasonal_p integer, seasonal_d integer, seasonal_q integer, season integer) (
    SFUNC = crm.arima_accum,
    STYPE = internal,
    FINALFUNC = crm.arima_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.arima(float8, integer, integer, integer, integer, integer, integer, integer) IS
    'Seasonal ARIMA(p, d, q)(P, D, Q)[season] by exact Gaussian maximum likelihood (Kalman filter) of the series '
    'differenced d times and D times at the season''s lag, with a mean when it is not differenced; P, Q <= 2, '
    'D <= 1, season 2 to 24. Call with ORDER BY inside. Returns a jsonb model.';

CREATE FUNCTION crm.holt_winters_accum(state internal, y float8, season integer, seasonal text)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_accum(internal, float8, integer, text) IS
    'Transition function of crm.holt_winters: appends y to the series.';

CREATE FUNCTION crm.holt_winters_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_holt_winters_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_final(internal) IS
    'Final function of crm.holt_winters: estimates smoothing parameters and initial states by least squares.';

CREATE AGGREGATE crm.holt_winters(y float8, season integer, seasonal text) (
    SFUNC = crm.holt_winters_accum,
    STYPE = internal,
    FINALFUNC = crm.holt_winters_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.holt_winters(float8, integer, text) IS
    'Holt-Winters with additive trend and ''additive'' or ''multiplicative'' seasonality of season points; '
    'alpha, beta, gamma and the initial states minimise the one-step sum of squared errors. Returns a jsonb model.';

CREATE FUNCTION crm.holt_winters_accum(state internal, y float8, season integer, seasonal text,
                                       alpha float8, beta float8, gamma float8)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_accum(internal, float8, integer, text, float8, float8, float8) IS
    'Transition function of crm.holt_winters with given smoothing parameters: appends y to the series.';

CREATE FUNCTION crm.holt_winters_fixed_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_holt_winters_fixed_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.holt_winters_fixed_final(internal) IS
    'Final function of crm.holt_winters with given smoothing parameters: runs the recursions from heuristic initial states.';

CREATE AGGREGATE crm.holt_winters(y float8, season integer, seasonal text,
                                  alpha float8, beta float8, gamma float8) (
    SFUNC = crm.holt_winters_accum,
    STYPE = internal,
    FINALFUNC = crm.holt_winters_fixed_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.holt_winters(float8, integer, text, float8, float8, float8) IS
    'Holt-Winters with the given alpha, beta, gamma and initial states by statsmodels'' heuristic rule '
    '(Hyndman et al. 2008, 2.6.1); for checking against other implementations. Returns a jsonb model.';

CREATE FUNCTION crm.ets_accum(state internal, y float8, season integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.ets_accum(internal, float8, integer) IS
    'Transition function of crm.ets: appends y to the series.';

CREATE FUNCTION crm.ets_accum(state internal, y float8, season integer, model text)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.ets_accum(internal, float8, integer, text) IS
    'Transition function of crm.ets with a model: appends y to the series.';

CREATE FUNCTION crm.ets_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_ets_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.ets_final(internal) IS
    'Final function of crm.ets: estimates the ETS model (or each of the family) by maximum likelihood.';

CREATE AGGREGATE crm.ets(y float8, season integer) (
    SFUNC = crm.ets_accum,
    STYPE = internal,
    FINALFUNC = crm.ets_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.ets(float8, integer) IS
    'Exponential smoothing state-space model (ETS) chosen by AICc among error A/M, trend N/A/Ad, season N/A/M '
    '(R''s forecast::ets with model ''ZZZ''), by maximum likelihood. Returns a jsonb model.';

CREATE AGGREGATE crm.ets(y float8, season integer, model text) (
    SFUNC = crm.ets_accum,
    STYPE = internal,
    FINALFUNC = crm.ets_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.ets(float8, integer, text) IS
    'ETS model given as error, trend, season letters (e.g. ''MAdM'', ''ANN''), Z choosing that component by AICc; '
    'parameters and initial states by maximum likelihood. Returns a jsonb model.';

CREATE FUNCTION crm.theta_accum(state internal, y float8, season integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.theta_accum(internal, float8, integer) IS
    'Transition function of crm.theta: appends y to the series.';

CREATE FUNCTION crm.theta_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_theta_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.theta_final(internal) IS
    'Final function of crm.theta: seasonal adjustment when the series is seasonal, then SES with drift.';

CREATE AGGREGATE crm.theta(y float8, season integer) (
    SFUNC = crm.theta_accum,
    STYPE = internal,
    FINALFUNC = crm.theta_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.theta(float8, integer) IS
    'The Theta method (as R''s forecast::thetaf): multiplicative seasonal adjustment when a 90% autocorrelation '
    'test finds seasonality, simple exponential smoothing with drift of half the regression slope. Returns a jsonb model.';

CREATE FUNCTION crm.best_model_accum(state internal, y float8, season integer)
RETURNS internal
AS 'MODULE_PATHNAME', 'crm_series_accum'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;
COMMENT ON FUNCTION crm.best_model_accum(internal, float8, integer) IS
    'Transition function of crm.best_model: appends y to the series.';

CREATE FUNCTION crm.best_model_final(state internal)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'crm_best_model_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.best_model_final(internal) IS
    'Final function of crm.best_model: fits ETS, Theta and ARIMA, each chosen automatically, and combines them.';

CREATE AGGREGATE crm.best_model(y float8, season integer) (
    SFUNC = crm.best_model_accum,
    STYPE = internal,
    FINALFUNC = crm.best_model_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.best_model(float8, integer) IS
    'The model crm.forecast should use: the mean of ETS (smallest AICc of R''s family), the Theta method and '
    'ARIMA(p, d, q), p, q <= 2, d <= 1, of the seasonally adjusted series (smallest AICc), for the given season '
    '(1 for none); the jsonb holds each member and says what was combined under "selection".';

CREATE FUNCTION crm.forecast(model jsonb, horizon integer, level float8 DEFAULT 0.95)
RETURNS TABLE (step integer, yhat float8, lo float8, hi float8)
AS 'MODULE_PATHNAME', 'crm_forecast'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
COMMENT ON FUNCTION crm.forecast(jsonb, integer, float8) IS
    'Forecasts of a crm.arima, crm.holt_winters, crm.ets, crm.theta or crm.best_model model for steps 1..horizon, '
    'with the level (default 0.95) prediction interval lo..hi.';
