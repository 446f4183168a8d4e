-- src/forecast/10_regression.sql: regression and scoring aggregates in C.
--
--   crm.linreg(y, x[])                  least squares → jsonb model
--   crm.logreg(won, x[])                logistic maximum likelihood → jsonb model
--   crm.predict(model, x[])             prediction from either model
--   crm.revenue_range(amount, p)        distribution of won revenue → jsonb
--
-- All are parallel safe: linreg keeps sufficient statistics in a float8[];
-- logreg and revenue_range keep their rows (at most crm.max_aggregate_rows
-- per group) in an internal state that parallel workers pass as bytea.
-- Support functions (*_accum, *_combine, ...) are for the aggregates only.

-- crm.linreg ---------------------------------------------------------------
CREATE FUNCTION crm.linreg_accum(state float8[], y float8, x float8[]) RETURNS float8[]
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_accum';
COMMENT ON FUNCTION crm.linreg_accum(float8[], float8, float8[]) IS
    'Transition function of crm.linreg: adds a row to the sums and co-moments (Youngs-Cramer).';
CREATE FUNCTION crm.linreg_accum(state float8[], y float8, x float8) RETURNS float8[]
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_accum1';
COMMENT ON FUNCTION crm.linreg_accum(float8[], float8, float8) IS
    'Transition function of crm.linreg with one feature: adds a row to the sums and co-moments.';
CREATE FUNCTION crm.linreg_combine(state1 float8[], state2 float8[]) RETURNS float8[]
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_combine';
COMMENT ON FUNCTION crm.linreg_combine(float8[], float8[]) IS
    'Combine function of crm.linreg: merges two partial states (Chan''s formula).';
CREATE FUNCTION crm.linreg_final(state float8[]) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_linreg_final';
COMMENT ON FUNCTION crm.linreg_final(float8[]) IS
    'Final function of crm.linreg: solves the normal equations by Cholesky and writes the model.';
CREATE AGGREGATE crm.linreg(y float8, x float8[]) (
    SFUNC = crm.linreg_accum,
    STYPE = float8[],
    COMBINEFUNC = crm.linreg_combine,
    FINALFUNC = crm.linreg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.linreg(float8, float8[]) IS
    'Ordinary least squares of y on the features x with an intercept: jsonb {kind: linreg, n, features, '
    'coef (intercept first), se, r2, adj_r2, sigma, rss, df_resid}.  Rows with a NULL skipped; '
    'NULL without rows.';
CREATE AGGREGATE crm.linreg(y float8, x float8) (
    SFUNC = crm.linreg_accum,
    STYPE = float8[],
    COMBINEFUNC = crm.linreg_combine,
    FINALFUNC = crm.linreg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.linreg(float8, float8) IS
    'crm.linreg(y, ARRAY[x]) for one feature, without building an array per row: the same model.';

-- crm.logreg ---------------------------------------------------------------
CREATE FUNCTION crm.logreg_accum(state internal, y boolean, x float8[]) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_accum';
COMMENT ON FUNCTION crm.logreg_accum(internal, boolean, float8[]) IS
    'Transition function of crm.logreg: keeps the row.';
CREATE FUNCTION crm.logreg_combine(state1 internal, state2 internal) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_rows_combine';
COMMENT ON FUNCTION crm.logreg_combine(internal, internal) IS
    'Combine function of crm.logreg: appends the rows of a partial state.';
CREATE FUNCTION crm.logreg_serialize(state internal) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_serialize';
COMMENT ON FUNCTION crm.logreg_serialize(internal) IS
    'Serialisation function of crm.logreg: the rows as bytea for parallel workers.';
CREATE FUNCTION crm.logreg_deserialize(data bytea, unused internal) RETURNS internal
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_deserialize';
COMMENT ON FUNCTION crm.logreg_deserialize(bytea, internal) IS
    'Deserialisation function of crm.logreg.';
CREATE FUNCTION crm.logreg_final(state internal) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_logreg_final';
COMMENT ON FUNCTION crm.logreg_final(internal) IS
    'Final function of crm.logreg: Newton''s method with step halving, separation test, model.';
CREATE AGGREGATE crm.logreg(y boolean, x float8[]) (
    SFUNC = crm.logreg_accum,
    STYPE = internal,
    COMBINEFUNC = crm.logreg_combine,
    SERIALFUNC = crm.logreg_serialize,
    DESERIALFUNC = crm.logreg_deserialize,
    FINALFUNC = crm.logreg_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.logreg(boolean, float8[]) IS
    'Logistic regression of y on the features x with an intercept, unpenalised maximum likelihood: '
    'jsonb {kind: logreg, n, features, coef (intercept first), se, loglik, null_loglik, aic, iterations, '
    'converged}.  Rows with a NULL skipped; NULL without rows; separated data raise an error.';

-- crm.predict --------------------------------------------------------------
CREATE FUNCTION crm.predict(model jsonb, x float8[]) RETURNS float8
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_predict';
COMMENT ON FUNCTION crm.predict(jsonb, float8[]) IS
    'Prediction of a crm.linreg model (intercept + coef · x) or win probability of a crm.logreg model; '
    'NULL when an element of x is NULL.';

-- crm.revenue_range --------------------------------------------------------
CREATE FUNCTION crm.revenue_range_accum(state internal, amount float8, win_probability float8)
    RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_accum';
COMMENT ON FUNCTION crm.revenue_range_accum(internal, float8, float8) IS
    'Transition function of crm.revenue_range: checks and keeps the deal.';
CREATE FUNCTION crm.revenue_range_combine(state1 internal, state2 internal) RETURNS internal
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_rows_combine';
COMMENT ON FUNCTION crm.revenue_range_combine(internal, internal) IS
    'Combine function of crm.revenue_range: appends the deals of a partial state.';
CREATE FUNCTION crm.revenue_range_serialize(state internal) RETURNS bytea
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_serialize';
COMMENT ON FUNCTION crm.revenue_range_serialize(internal) IS
    'Serialisation function of crm.revenue_range: the deals as bytea for parallel workers.';
CREATE FUNCTION crm.revenue_range_deserialize(data bytea, unused internal) RETURNS internal
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_deserialize';
COMMENT ON FUNCTION crm.revenue_range_deserialize(bytea, internal) IS
    'Deserialisation function of crm.revenue_range.';
CREATE FUNCTION crm.revenue_range_final(state internal) RETURNS jsonb
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_revenue_range_final';
COMMENT ON FUNCTION crm.revenue_range_final(internal) IS
    'Final function of crm.revenue_range: exact distribution when cheap, else exact large deals '
    'and an Edgeworth expansion for the rest.';
CREATE AGGREGATE crm.revenue_range(amount float8, win_probability float8) (
    SFUNC = crm.revenue_range_accum,
    STYPE = internal,
    COMBINEFUNC = crm.revenue_range_combine,
    SERIALFUNC = crm.revenue_range_serialize,
    DESERIALFUNC = crm.revenue_range_deserialize,
    FINALFUNC = crm.revenue_range_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.revenue_range(float8, float8) IS
    'Total won revenue when each deal is won independently with its probability: jsonb {kind: '
    'revenue_range, n, expected, sd, p10, p50, p90, min, max, method (exact or approximate)}.  Rows with '
    'a NULL skipped; NULL without rows.';
