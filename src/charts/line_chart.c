/*-------------------------------------------------------------------------
 * line_chart.c
 *	  crm.line_chart(x, y float8 [, series text] [, options jsonb]): lines
 *	  through (x, y) points, one per series, as SVG.
 *
 * x is a date, a timestamp (with or without time zone; shown in the
 * session's time zone) or a number.  The points are sorted by x here, so
 * the result does not depend on the input order; that lets the aggregate
 * run in parallel (combine, serialize and deserialize below).  For the
 * same reason series are drawn in the order of their names (byte order),
 * in the palette's colours, with a legend whenever the series argument is
 * given.  Rows with a NULL x or y
 * are left out.
 *
 * The axes are xy_plot.c's: nice numbers, or date ticks on days, weeks,
 * months or years.  Series of at most 60 points get a dot per point, with
 * the value as a tooltip.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_line_chart_add);
PG_FUNCTION_INFO_V1(crm_line_chart_combine);
PG_FUNCTION_INFO_V1(crm_line_chart_serialize);
PG_FUNCTION_INFO_V1(crm_line_chart_deserialize);
PG_FUNCTION_INFO_V1(crm_line_chart_final);

#define LINE_MAX_POINTS 100000
#define LINE_MAX_SERIES 50
#define LINE_DOTS_UP_TO 60

typedef struct LinePoint
{
	double		x;
	double		y;
	int32		series;
} LinePoint;

typedef struct LineState
{
	MemoryContext context;		/* where the state and its parts live */
	int32		x_kind;
	bool		with_series;
	int32		n;
	int32		size;
	LinePoint  *points;
	int32		nseries;
	char	   *series[LINE_MAX_SERIES];
	Jsonb	   *options;
} LineState;

static LineState *
new_state(MemoryContext context)
{
	LineState  *state = MemoryContextAllocZero(context, sizeof(LineState));

	state->context = context;
	state->size = 64;
	state->points = MemoryContextAlloc(context, sizeof(LinePoint) * state->size);
	return state;
}

/* The index of series name in state, added if new (in the state's context). */
static int
series_index(LineState *state, const char *name)
{
	for (int i = 0; i < state->nseries; i++)
		if (strcmp(state->series[i], name) == 0)
			return i;
	if (state->nseries == LINE_MAX_SERIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a line chart holds at most %d series", LINE_MAX_SERIES),
				 errhint("Chart the largest series, or group the small ones into one.")));
	state->series[state->nseries] = MemoryContextStrdup(state->context, name);
	return state->nseries++;
}

static void
add_point(LineState *state, double x, double y, int series)
{
	if (state->n == LINE_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a line chart holds at most %d points", LINE_MAX_POINTS),
				 errhint("Aggregate the rows first, for example per day or per month.")));
	if (state->n == state->size)
	{
		state->size *= 2;
		state->points = repalloc(state->points, sizeof(LinePoint) * state->size);
	}
	state->points[state->n++] = (LinePoint) {x, y, series};
}

/* x as a number, and which kind of axis its type asks for. */
static double
x_value(Datum d, Oid type, int32 *kind)
{
	switch (type)
	{
		case DATEOID:
			if (DATE_NOT_FINITE(DatumGetDateADT(d)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a line chart cannot place an infinite date")));
			*kind = X_DATE;
			return DatumGetDateADT(d);
		case TIMESTAMPTZOID:
			d = DirectFunctionCall1(timestamptz_timestamp, d);
			/* FALLTHROUGH */
		case TIMESTAMPOID:
			if (TIMESTAMP_NOT_FINITE(DatumGetTimestamp(d)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a line chart cannot place an infinite timestamp")));
			*kind = X_TIMESTAMP;
			return DatumGetTimestamp(d) / (double) USECS_PER_SEC;
		case INT2OID:
			*kind = X_NUMBER;
			return DatumGetInt16(d);
		case INT4OID:
			*kind = X_NUMBER;
			return DatumGetInt32(d);
		case INT8OID:
			*kind = X_NUMBER;
			return (double) DatumGetInt64(d);
		case FLOAT4OID:
			*kind = X_NUMBER;
			return DatumGetFloat4(d);
		case FLOAT8OID:
			*kind = X_NUMBER;
			return DatumGetFloat8(d);
		case NUMERICOID:
			*kind = X_NUMBER;
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the x of a line chart must be a date, a timestamp or a number, not %s",
							format_type_be(type))));
	}
	return 0;					/* keep the compiler quiet */
}

/*
 * crm.line_chart_add(internal, x anyelement, y float8 [, series text]
 * [, options jsonb]) RETURNS internal
 */
Datum
crm_line_chart_add(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	LineState  *state;
	int			series_arg = -1;
	int			options_arg = -1;
	double		x;
	double		y;
	int32		kind;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "crm_line_chart_add called in non-aggregate context");
	state = PG_ARGISNULL(0) ? new_state(aggcontext) : (LineState *) PG_GETARG_POINTER(0);
	if (PG_NARGS() == 5)
	{
		series_arg = 3;
		options_arg = 4;
	}
	else if (PG_NARGS() == 4)
	{
		if (get_fn_expr_argtype(fcinfo->flinfo, 3) == JSONBOID)
			options_arg = 3;
		else
			series_arg = 3;
	}
	state->with_series = series_arg > 0;
	if (options_arg > 0 && !PG_ARGISNULL(options_arg) && state->options == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(aggcontext);

		state->options = DatumGetJsonbPCopy(PG_GETARG_DATUM(options_arg));
		MemoryContextSwitchTo(old);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(state);
	x = x_value(PG_GETARG_DATUM(1), get_fn_expr_argtype(fcinfo->flinfo, 1), &kind);
	y = PG_GETARG_FLOAT8(2);
	crm_chart_check_finite(x, "the x of a line chart");
	crm_chart_check_finite(y, "the y of a line chart");
	state->x_kind = kind;
	add_point(state, x, y,
			  series_arg > 0 ? series_index(state, PG_ARGISNULL(series_arg) ? "—"
											: text_to_cstring(PG_GETARG_TEXT_PP(series_arg))) : 0);
	PG_RETURN_POINTER(state);
}

/* Appends the points of from to into (series matched by name). */
static void
merge_states(LineState *into, const LineState *from)
{
	int			map[LINE_MAX_SERIES];

	for (int i = 0; i < from->nseries; i++)
		map[i] = series_index(into, from->series[i]);
	for (int i = 0; i < from->n; i++)
		add_point(into, from->points[i].x, from->points[i].y,
				  from->nseries > 0 ? map[from->points[i].series] : 0);
	if (into->x_kind == X_UNSET)
		into->x_kind = from->x_kind;
	into->with_series |= from->with_series;
	if (into->options == NULL && from->options != NULL)
	{
		into->options = (Jsonb *) MemoryContextAlloc(into->context, VARSIZE(from->options));
		memcpy(into->options, from->options, VARSIZE(from->options));
	}
}

/* crm.line_chart_combine(internal, internal) RETURNS internal */
Datum
crm_line_chart_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	MemoryContext old;
	LineState  *a;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "crm_line_chart_combine called in non-aggregate context");
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(PG_ARGISNULL(0) ? NULL : PG_GETARG_POINTER(0));
	old = MemoryContextSwitchTo(aggcontext);
	a = PG_ARGISNULL(0) ? new_state(aggcontext) : (LineState *) PG_GETARG_POINTER(0);
	merge_states(a, (LineState *) PG_GETARG_POINTER(1));
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/*
 * crm.line_chart_serialize(internal) RETURNS bytea: x_kind, with_series,
 * n, nseries, the points, the series names (each with its '\0'), then the
 * options jsonb if any.
 */
Datum
crm_line_chart_serialize(PG_FUNCTION_ARGS)
{
	LineState  *state = (LineState *) PG_GETARG_POINTER(0);
	StringInfoData buf;
	int32		header[4] = {state->x_kind, state->with_series, state->n, state->nseries};
	bytea	   *result;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (char *) header, sizeof(header));
	appendBinaryStringInfo(&buf, (char *) state->points, sizeof(LinePoint) * state->n);
	for (int i = 0; i < state->nseries; i++)
		appendBinaryStringInfo(&buf, state->series[i], strlen(state->series[i]) + 1);
	if (state->options != NULL)
		appendBinaryStringInfo(&buf, (char *) state->options, VARSIZE(state->options));
	result = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	PG_RETURN_BYTEA_P(result);
}

/* crm.line_chart_deserialize(bytea, internal) RETURNS internal */
Datum
crm_line_chart_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(data);
	const char *end = p + VARSIZE_ANY_EXHDR(data);
	MemoryContext aggcontext;
	LineState  *state;
	int32		header[4];

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "crm_line_chart_deserialize called in non-aggregate context");
	state = new_state(aggcontext);
	if (end - p < (long) sizeof(header))
		elog(ERROR, "line chart state is truncated");
	memcpy(header, p, sizeof(header));
	p += sizeof(header);
	if (header[2] < 0 || header[2] > LINE_MAX_POINTS || header[3] < 0 || header[3] > LINE_MAX_SERIES ||
		end - p < (long) (sizeof(LinePoint) * header[2]))
		elog(ERROR, "line chart state is corrupt");
	state->x_kind = header[0];
	state->with_series = header[1];
	for (int i = 0; i < header[2]; i++)
	{
		LinePoint	point;

		memcpy(&point, p, sizeof(LinePoint));
		p += sizeof(LinePoint);
		if (point.series < 0 || (header[3] > 0 && point.series >= header[3]))
			elog(ERROR, "line chart state is corrupt");
		add_point(state, point.x, point.y, point.series);
	}
	for (int i = 0; i < header[3]; i++)
	{
		size_t		len = strnlen(p, end - p);

		if (p + len >= end)
			elog(ERROR, "line chart state is corrupt");
		state->series[i] = MemoryContextStrdup(aggcontext, p);
		p += len + 1;
	}
	state->nseries = header[3];
	if (end - p >= (long) VARHDRSZ)
	{
		state->options = MemoryContextAlloc(aggcontext, end - p);
		memcpy(state->options, p, end - p);
		if (VARSIZE(state->options) != (Size) (end - p))
			elog(ERROR, "line chart state is corrupt");
	}
	PG_RETURN_POINTER(state);
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Renumbers the series in the order of their names. */
static void
sort_series(LineState *state)
{
	char	   *sorted[LINE_MAX_SERIES];
	int			rank[LINE_MAX_SERIES];

	if (state->nseries == 0)
		return;					/* no series argument: every point is in series 0 */
	memcpy(sorted, state->series, sizeof(char *) * state->nseries);
	qsort(sorted, state->nseries, sizeof(char *), compare_names);
	for (int i = 0; i < state->nseries; i++)
		for (int j = 0; j < state->nseries; j++)
			if (sorted[j] == state->series[i])
				rank[i] = j;
	for (int i = 0; i < state->n; i++)
		state->points[i].series = rank[state->points[i].series];
	memcpy(state->series, sorted, sizeof(char *) * state->nseries);
}

static int
compare_points(const void *a, const void *b)
{
	const LinePoint *p = a;
	const LinePoint *q = b;

	if (p->series != q->series)
		return p->series - q->series;
	return (p->x > q->x) - (p->x < q->x);
}

/* The label of x on the axis and in tooltips. */
static char *
x_label(int32 kind, double x, int decimals)
{
	if (kind == X_DATE)
		return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum((DateADT) x)));
	if (kind == X_TIMESTAMP)
		return DatumGetCString(DirectFunctionCall1(timestamp_out,
												   TimestampGetDatum((Timestamp) (x * USECS_PER_SEC))));
	return crm_format_number(x, decimals);
}

static void
draw_lines(StringInfo buf, const ChartOptions *o, LineState *state)
{
	double		xmin = INFINITY,
				xmax = -INFINITY,
				ymin = INFINITY,
				ymax = -INFINITY;
	XYPlot		plot;

	sort_series(state);
	qsort(state->points, state->n, sizeof(LinePoint), compare_points);
	for (int i = 0; i < state->n; i++)
	{
		xmin = Min(xmin, state->points[i].x);
		xmax = Max(xmax, state->points[i].x);
		ymin = Min(ymin, state->points[i].y);
		ymax = Max(ymax, state->points[i].y);
	}
	crm_xy_plot_layout(&plot, o, state->with_series, ymin, ymax, state->x_kind, xmin, xmax);
	crm_xy_plot_axes(buf, &plot);
#define PX(v) crm_xy_px(&plot, (v))
#define PY(v) crm_xy_py(&plot, (v))

	for (int s = 0, i = 0; s < Max(state->nseries, 1); s++)
	{
		int			first = i;
		const char *color = crm_chart_color(o, s);

		while (i < state->n && state->points[i].series == s)
			i++;
		if (i == first)
			continue;
		appendStringInfo(buf, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"",
						 color);
		for (int k = first; k < i; k++)
			appendStringInfo(buf, "%s%.1f,%.1f", k > first ? " " : "", PX(state->points[k].x), PY(state->points[k].y));
		appendStringInfoString(buf, "\"/>\n");
		if (i - first <= LINE_DOTS_UP_TO)
			for (int k = first; k < i; k++)
			{
				appendStringInfo(buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>",
								 PX(state->points[k].x), PY(state->points[k].y), color);
				if (state->with_series)
				{
					crm_svg_escape(buf, state->series[s]);
					appendStringInfoString(buf, " ");
				}
				crm_svg_escape(buf, x_label(state->x_kind, state->points[k].x, 2));
				appendStringInfoString(buf, ": ");
				crm_svg_escape(buf, crm_format_value(state->points[k].y));
				appendStringInfoString(buf, "</title></circle>\n");
			}
	}
	if (state->with_series)
	{
		const char **colors = palloc(sizeof(char *) * state->nseries);
		LegendSwatch *swatches = palloc(sizeof(LegendSwatch) * state->nseries);

		for (int s = 0; s < state->nseries; s++)
		{
			colors[s] = crm_chart_color(o, s);
			swatches[s] = SWATCH_LINE;
		}
		crm_svg_legend(buf, o, (o->title ? 44 : 16) + 6, state->nseries, (const char *const *) state->series,
				   colors, swatches);
	}
#undef PX
#undef PY
}

/* crm.line_chart_final(internal) RETURNS text */
Datum
crm_line_chart_final(PG_FUNCTION_ARGS)
{
	LineState  *state = PG_ARGISNULL(0) ? NULL : (LineState *) PG_GETARG_POINTER(0);
	ChartOptions o;
	StringInfoData buf;

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();
	crm_chart_options_parse(state->options, CHART_LINE, &o);
	initStringInfo(&buf);
	crm_svg_begin(&buf, &o, "Line chart");
	draw_lines(&buf, &o, state);
	crm_svg_end(&buf);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
