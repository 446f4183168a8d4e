-- src/charts/10_charts.sql: SVG charts straight from SQL (src/charts/*.c).
--
--   SELECT crm.bar_chart(name, revenue ORDER BY revenue DESC) FROM ...;
--   SELECT crm.line_chart(month, revenue, currency ORDER BY month) FROM ...;
--   SELECT crm.funnel_chart(label, deals ORDER BY position) FROM ...;
--   SELECT crm.forecast_chart(array_agg(revenue ORDER BY month), model, 3) FROM ...;
--
-- Each returns one standalone SVG 1.1 document as text (a <title>, no
-- scripts, no external fonts), or NULL when there are no rows.  The
-- aggregates also take a trailing options jsonb: title, width, height,
-- colors (see src/charts/options.c).  Bars and funnel stages follow the
-- rows' order, so they have no combine function; line charts sort their
-- points and can be aggregated in parallel.

CREATE FUNCTION crm.chart_items_add(internal, text, float8) RETURNS internal
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_chart_items_add';
CREATE FUNCTION crm.chart_items_add(internal, text, float8, jsonb) RETURNS internal
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_chart_items_add';
COMMENT ON FUNCTION crm.chart_items_add(internal, text, float8) IS
    'Transition function of crm.bar_chart and crm.funnel_chart: collects labelled values in order.';
COMMENT ON FUNCTION crm.chart_items_add(internal, text, float8, jsonb) IS
    'Transition function of crm.bar_chart and crm.funnel_chart with options: collects labelled values in order.';

CREATE FUNCTION crm.bar_chart_final(internal) RETURNS text
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_bar_chart_final';
COMMENT ON FUNCTION crm.bar_chart_final(internal) IS 'Final function of crm.bar_chart: draws the SVG.';

CREATE AGGREGATE crm.bar_chart(label text, value float8) (
    SFUNC = crm.chart_items_add, STYPE = internal, FINALFUNC = crm.bar_chart_final, PARALLEL = SAFE);
CREATE AGGREGATE crm.bar_chart(label text, value float8, options jsonb) (
    SFUNC = crm.chart_items_add, STYPE = internal, FINALFUNC = crm.bar_chart_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE crm.bar_chart(text, float8) IS
    'Horizontal bar chart as SVG: one bar per row in the rows'' order (use ORDER BY), values on a nice axis from 0.';
COMMENT ON AGGREGATE crm.bar_chart(text, float8, jsonb) IS
    'Horizontal bar chart as SVG, with options {title, width, height, colors}.';

CREATE FUNCTION crm.funnel_chart_final(internal) RETURNS text
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_funnel_chart_final';
COMMENT ON FUNCTION crm.funnel_chart_final(internal) IS 'Final function of crm.funnel_chart: draws the SVG.';

CREATE AGGREGATE crm.funnel_chart(stage text, value float8) (
    SFUNC = crm.chart_items_add, STYPE = internal, FINALFUNC = crm.funnel_chart_final, PARALLEL = SAFE);
CREATE AGGREGATE crm.funnel_chart(stage text, value float8, options jsonb) (
    SFUNC = crm.chart_items_add, STYPE = internal, FINALFUNC = crm.funnel_chart_final, PARALLEL = SAFE);
COMMENT ON AGGREGATE crm.funnel_chart(text, float8) IS
    'Sales funnel as SVG: one centred band per stage in the rows'' order (ORDER BY the stage position), with each '
    'stage''s share of the first and conversion from the one before.';
COMMENT ON AGGREGATE crm.funnel_chart(text, float8, jsonb) IS
    'Sales funnel as SVG, with options {title, width, height, colors}.';

CREATE FUNCTION crm.line_chart_add(internal, anyelement, float8) RETURNS internal
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_add';
CREATE FUNCTION crm.line_chart_add(internal, anyelement, float8, text) RETURNS internal
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_add';
CREATE FUNCTION crm.line_chart_add(internal, anyelement, float8, jsonb) RETURNS internal
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_add';
CREATE FUNCTION crm.line_chart_add(internal, anyelement, float8, text, jsonb) RETURNS internal
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_add';
COMMENT ON FUNCTION crm.line_chart_add(internal, anyelement, float8) IS
    'Transition function of crm.line_chart: collects (x, y) points.';
COMMENT ON FUNCTION crm.line_chart_add(internal, anyelement, float8, text) IS
    'Transition function of crm.line_chart with series: collects (x, y, series) points.';
COMMENT ON FUNCTION crm.line_chart_add(internal, anyelement, float8, jsonb) IS
    'Transition function of crm.line_chart with options: collects (x, y) points.';
COMMENT ON FUNCTION crm.line_chart_add(internal, anyelement, float8, text, jsonb) IS
    'Transition function of crm.line_chart with series and options: collects (x, y, series) points.';

CREATE FUNCTION crm.line_chart_combine(internal, internal) RETURNS internal
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_combine';
CREATE FUNCTION crm.line_chart_serialize(internal) RETURNS bytea
    LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_serialize';
CREATE FUNCTION crm.line_chart_deserialize(bytea, internal) RETURNS internal
    LANGUAGE c STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_deserialize';
CREATE FUNCTION crm.line_chart_final(internal) RETURNS text
    LANGUAGE c PARALLEL SAFE AS 'MODULE_PATHNAME', 'crm_line_chart_final';
COMMENT ON FUNCTION crm.line_chart_combine(internal, internal) IS
    'Combine function of crm.line_chart: joins the points of two partial states.';
COMMENT ON FUNCTION crm.line_chart_serialize(internal) IS 'Serialize function of crm.line_chart.';
COMMENT ON FUNCTION crm.line_chart_deserialize(bytea, internal) IS 'Deserialize function of crm.line_chart.';
COMMENT ON FUNCTION crm.line_chart_final(internal) IS
    'Final function of crm.line_chart: sorts the points by x and draws the SVG.';

CREATE AGGREGATE crm.line_chart(x anyelement, y float8) (
    SFUNC = crm.line_chart_add, STYPE = internal, FINALFUNC = crm.line_chart_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = crm.line_chart_combine, SERIALFUNC = crm.line_chart_serialize,
    DESERIALFUNC = crm.line_chart_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE crm.line_chart(x anyelement, y float8, series text) (
    SFUNC = crm.line_chart_add, STYPE = internal, FINALFUNC = crm.line_chart_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = crm.line_chart_combine, SERIALFUNC = crm.line_chart_serialize,
    DESERIALFUNC = crm.line_chart_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE crm.line_chart(x anyelement, y float8, options jsonb) (
    SFUNC = crm.line_chart_add, STYPE = internal, FINALFUNC = crm.line_chart_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = crm.line_chart_combine, SERIALFUNC = crm.line_chart_serialize,
    DESERIALFUNC = crm.line_chart_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE crm.line_chart(x anyelement, y float8, series text, options jsonb) (
    SFUNC = crm.line_chart_add, STYPE = internal, FINALFUNC = crm.line_chart_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = crm.line_chart_combine, SERIALFUNC = crm.line_chart_serialize,
    DESERIALFUNC = crm.line_chart_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE crm.line_chart(anyelement, float8) IS
    'Line chart as SVG: x a date, timestamp or number (date axes ticked on days, weeks, months or years), y on a nice axis.';
COMMENT ON AGGREGATE crm.line_chart(anyelement, float8, text) IS
    'Line chart as SVG with one line per series (in the order of their names) and a legend.';
COMMENT ON AGGREGATE crm.line_chart(anyelement, float8, jsonb) IS
    'Line chart as SVG, with options {title, width, height, colors}.';
COMMENT ON AGGREGATE crm.line_chart(anyelement, float8, text, jsonb) IS
    'Line chart as SVG with one line per series and a legend, with options {title, width, height, colors}.';

CREATE FUNCTION crm.forecast_chart(history float8[], model jsonb, horizon integer, level float8 DEFAULT 0.95,
                                   options jsonb DEFAULT '{}') RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'crm_forecast_chart';
COMMENT ON FUNCTION crm.forecast_chart(float8[], jsonb, integer, float8, jsonb) IS
    'The history as a line, then crm.forecast(model, horizon, level) dashed with its interval band, as SVG; options '
    '{title, width, height, colors [history, forecast, band], start (date of the first value), step (day, week, '
    'month, quarter, year), history_label, forecast_label, interval_label}.';

GRANT EXECUTE ON FUNCTION crm.chart_items_add(internal, text, float8), crm.chart_items_add(internal, text, float8, jsonb),
    crm.bar_chart_final(internal), crm.funnel_chart_final(internal),
    crm.line_chart_add(internal, anyelement, float8), crm.line_chart_add(internal, anyelement, float8, text),
    crm.line_chart_add(internal, anyelement, float8, jsonb), crm.line_chart_add(internal, anyelement, float8, text, jsonb),
    crm.line_chart_combine(internal, internal), crm.line_chart_serialize(internal),
    crm.line_chart_deserialize(bytea, internal), crm.line_chart_final(internal),
    crm.bar_chart(text, float8), crm.bar_chart(text, float8, jsonb), crm.funnel_chart(text, float8),
    crm.funnel_chart(text, float8, jsonb), crm.line_chart(anyelement, float8), crm.line_chart(anyelement, float8, text),
    crm.line_chart(anyelement, float8, jsonb), crm.line_chart(anyelement, float8, text, jsonb),
    crm.forecast_chart(float8[], jsonb, integer, float8, jsonb)
    TO crm_reader;
