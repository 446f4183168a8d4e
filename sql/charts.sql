-- charts: SVG charts from SQL.  Shapes are checked through PostgreSQL's
-- XML functions (every chart must be a well-formed document), labels must
-- come back escaped, axes must use nice numbers, and bad input must be
-- refused with 22023.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- the elements of an SVG document matching an XPath (namespace s)
CREATE FUNCTION pg_temp.x(svg text, path text) RETURNS text[] LANGUAGE sql AS $$
    SELECT array_agg(v::text) FROM unnest(xpath(path, svg::xml, ARRAY[ARRAY['s', 'http://www.w3.org/2000/svg']])) v $$;
CREATE FUNCTION pg_temp.n(svg text, path text) RETURNS int LANGUAGE sql AS $$
    SELECT coalesce(cardinality(pg_temp.x(svg, path)), 0) $$;
CREATE FUNCTION pg_temp.try(sql text) RETURNS TABLE (field text, value text) LANGUAGE plpgsql AS $$
DECLARE state text; msg text; det text; hnt text;
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT 'ok', NULL::text;
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hnt = PG_EXCEPTION_HINT;
    RETURN QUERY SELECT f, v FROM (VALUES (1, 'sqlstate', state), (2, 'message', msg),
                                          (3, 'detail', nullif(det, '')), (4, 'hint', nullif(hnt, ''))) AS e(n, f, v)
                  WHERE v IS NOT NULL ORDER BY n;
END $$;

CREATE TEMP TABLE sales (product text, revenue float8, rep text, month date, stage_position int);
INSERT INTO sales VALUES
    ('Python 入门课', 123456.5, '张伟', '2024-01-01', 1), ('数据分析实战', 98765, '李娜', '2024-01-01', 2),
    ('Web 全栈开发 <script>alert("x")</script> & "co"', 45000, '王强', '2024-02-01', 3),
    ('企业内训套餐', 249000, '张伟', '2024-02-01', 4);

-- a whole small chart, to see what the SVG looks like
SELECT crm.bar_chart(label, value ORDER BY value DESC)
  FROM (VALUES ('甲', 3.0), ('乙', 1.5)) AS t (label, value);

-- bar chart: one bar per row in order, labels escaped, a nice axis from 0
CREATE TEMP TABLE bar AS
SELECT crm.bar_chart(product, revenue, '{"title": "产品销售 <2024> & 收入", "width": 700, "height": 400}'
                     ORDER BY revenue DESC) AS svg
  FROM sales;
SELECT xml_is_well_formed_document(svg) AS well_formed,
       pg_temp.x(svg, '/s:svg/@width') AS width, pg_temp.x(svg, '/s:svg/@height') AS height,
       pg_temp.x(svg, '/s:svg/s:title/text()') AS title,
       pg_temp.n(svg, '//s:rect[s:title]') AS bars,
       pg_temp.x(svg, '//s:rect/s:title/text()') AS bar_titles,
       pg_temp.x(svg, '//s:text[@font-size="11"]/text()') AS axis_labels,
       position('<script' IN svg) = 0 AS no_script_element,
       position('&lt;script&gt;' IN svg) > 0 AS script_text_escaped,
       position('xlink' IN svg) + position('@import' IN svg) + position('url(' IN svg) = 0 AS nothing_external
  FROM bar;
-- negative values extend left of 0; a NULL value leaves its row out; a NULL label is drawn as —
SELECT pg_temp.x(svg, '//s:text[@font-size="11"]/text()') AS axis_labels,
       pg_temp.x(svg, '//s:rect/s:title/text()') AS bar_titles
  FROM (SELECT crm.bar_chart(l, v) AS svg FROM (VALUES ('盈利', 1200.0), ('亏损', -800.0), ('未知', NULL), (NULL, 5.25)) t (l, v)) c;
-- no rows, no chart
SELECT crm.bar_chart(product, revenue) IS NULL AS no_rows FROM sales WHERE false;

-- funnel: one band per stage, share of the first and conversion from the one before
SELECT xml_is_well_formed_document(svg) AS well_formed,
       pg_temp.n(svg, '//s:rect[s:title]') AS stages,
       pg_temp.x(svg, '//s:rect/s:title/text()') AS stage_titles,
       pg_temp.n(svg, '//s:polygon') AS connectors
  FROM (SELECT crm.funnel_chart(stage, deals, '{"title": "在线教育销售"}' ORDER BY position) AS svg
          FROM (VALUES (1, '新线索', 800), (2, '潜在客户', 560), (3, '谈判中', 440), (4, '成交', 360)) t (position, stage, deals)) f;

-- line chart over dates: one line per series, a legend, month ticks
CREATE TEMP TABLE monthly AS
SELECT m::date AS month, rep, 1000 + 100 * extract(month FROM m) + length(rep) * 7 AS revenue
  FROM generate_series('2023-01-01'::date, '2024-12-01', '1 month') m, (VALUES ('张伟'), ('李娜'), ('王强')) r (rep);
CREATE TEMP TABLE line AS
SELECT crm.line_chart(month, revenue, rep ORDER BY month) AS svg FROM monthly;
SELECT xml_is_well_formed_document(svg) AS well_formed,
       pg_temp.n(svg, '//s:polyline') AS lines,
       pg_temp.n(svg, '//s:circle') AS dots,
       pg_temp.x(svg, '//s:text[@font-size="12"]/text()') AS legend,
       pg_temp.x(svg, '//s:text[@font-size="11"]/text()') AS axis_labels
  FROM line;
-- the points are sorted by x whatever the input order
SELECT (SELECT crm.line_chart(month, revenue, rep) FROM (SELECT * FROM monthly ORDER BY random()) s) = svg AS order_free
  FROM line;
-- and the aggregate runs in parallel with the same result
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE TABLE public.chart_points AS SELECT * FROM monthly, generate_series(1, 200) g;
ANALYZE public.chart_points;
CREATE FUNCTION pg_temp.plan(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP plan := plan || line || E'\n'; END LOOP;
    RETURN plan;
END $$;
SELECT pg_temp.plan('SELECT crm.line_chart(month, revenue, rep) FROM public.chart_points') LIKE '%Partial Aggregate%'
       AS partial_aggregate;
SELECT (SELECT crm.line_chart(month, revenue, rep) FROM public.chart_points) =
       (SELECT crm.line_chart(month, revenue, rep) FROM monthly, generate_series(1, 200) g) AS same_as_serial;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE public.chart_points;

-- numbers and timestamps on the x axis; one point; no series, no legend
SELECT pg_temp.x(svg, '//s:text[@font-size="11"]/text()') AS axis_labels, pg_temp.n(svg, '//s:polyline') AS lines
  FROM (SELECT crm.line_chart(x, x * x) AS svg FROM generate_series(-3, 7) x) c;
SELECT pg_temp.x(svg, '//s:text[@font-size="11" and @text-anchor="middle"]/text()') AS hours
  FROM (SELECT crm.line_chart(t, 1.0) AS svg
          FROM generate_series('2024-03-01 08:00'::timestamp, '2024-03-01 20:00', '30 minutes') t) c;
SELECT pg_temp.x(svg, '//s:text[@font-size="11" and @text-anchor="middle"]/text()') AS days
  FROM (SELECT crm.line_chart(d::date, 1.0) AS svg FROM generate_series('2024-03-01'::date, '2024-03-06', '1 day') d) c;
SELECT pg_temp.x(svg, '//s:text[@font-size="11" and @text-anchor="middle"]/text()') AS years
  FROM (SELECT crm.line_chart(d::date, 1.0) AS svg FROM generate_series('2001-01-01'::date, '2024-03-06', '1 month') d) c;
SELECT pg_temp.n(svg, '//s:circle') AS one_point FROM (SELECT crm.line_chart(1, 2.0) AS svg) c;

-- forecast chart: the history line, the dashed forecast, the band, a legend
CREATE TEMP TABLE revenue AS
SELECT i, 100 + 3 * i + 10 * sin(i) AS y FROM generate_series(1, 36) i;
CREATE TEMP TABLE fc AS
SELECT crm.forecast_chart(array_agg(y ORDER BY i), (SELECT crm.arima(y, 1, 1, 0 ORDER BY i) FROM revenue), 6, 0.8,
                          '{"start": "2022-01-01", "step": "month", "history_label": "实际", "forecast_label": "预测"}') AS svg
  FROM revenue;
SELECT xml_is_well_formed_document(svg) AS well_formed,
       pg_temp.n(svg, '//s:polyline') AS lines,
       pg_temp.n(svg, '//s:polyline[@stroke-dasharray]') AS dashed,
       pg_temp.x(svg, '//s:polygon/@fill') AS band,
       pg_temp.n(svg, '//s:circle') AS forecast_points,
       pg_temp.x(svg, '//s:text[@font-size="12"]/text()') AS legend,
       pg_temp.x(svg, '//s:text[@font-size="11" and @text-anchor="middle"]/text()') AS months
  FROM fc;
-- the forecast points are crm.forecast's
SELECT array_agg(round(f.yhat::numeric, 2) ORDER BY f.step) =
       (SELECT array_agg(round(replace(split_part(t::text, ' ', 1), ',', '')::numeric, 2))
          FROM unnest(pg_temp.x(svg, '//s:circle/s:title/text()')) t) AS same_as_crm_forecast
  FROM fc, crm.forecast((SELECT crm.arima(y, 1, 1, 0 ORDER BY i) FROM revenue), 6, 0.8) f
 GROUP BY svg;

-- errors
SELECT * FROM pg_temp.try($$SELECT crm.bar_chart('a', 'NaN'::float8)$$);
SELECT * FROM pg_temp.try($$SELECT crm.bar_chart('a', 1, '{"titel": "typo"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.bar_chart('a', 1, '[1, 2]')$$);
SELECT * FROM pg_temp.try($$SELECT crm.bar_chart('a', 1, '{"width": 50}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.bar_chart('a', 1, '{"colors": ["red", "url(#x)"]}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.bar_chart('a', 1, '{"colors": "red"}')$$);
SELECT * FROM pg_temp.try($$SELECT crm.funnel_chart('a', -1)$$);
SELECT * FROM pg_temp.try($$SELECT crm.line_chart('x'::text, 1)$$);
SELECT * FROM pg_temp.try($$SELECT crm.line_chart('infinity'::date, 1)$$);
SELECT * FROM pg_temp.try($$SELECT crm.bar_chart(g::text, g) FROM generate_series(1, 1001) g$$);
SELECT * FROM pg_temp.try($$SELECT crm.forecast_chart('{1, NULL}', '{"kind": "arima"}', 3)$$);
SELECT * FROM pg_temp.try($$SELECT crm.forecast_chart('{}', '{"kind": "arima"}', 3)$$);
SELECT * FROM pg_temp.try($$SELECT crm.forecast_chart('{1, 2}', '{"kind": "arima"}', 0)$$);
SELECT * FROM pg_temp.try($$SELECT crm.forecast_chart('{1, 2}', '{}', 3)$$);
SELECT * FROM pg_temp.try($$SELECT crm.forecast_chart('{1, 2}', '{"kind": "arima"}', 3, 0.95, '{"step": "fortnight"}')$$);
