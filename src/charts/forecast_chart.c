/*-------------------------------------------------------------------------
 * forecast_chart.c
 *	  crm.forecast_chart(history float8[], model jsonb, horizon int,
 *	  level float8 DEFAULT 0.95, options jsonb DEFAULT '{}'): a series, its
 *	  forecast by crm.forecast and the prediction interval, as SVG.
 *
 * The forecast comes from crm.forecast(model, horizon, level) itself (run
 * through SPI, schema-qualified), so the chart shows exactly what the SQL
 * returns.  The history is a solid line, the forecast a dashed line going
 * on from the last observed point, and the interval a filled band from
 * that point to the lower and upper bounds; a thin vertical line marks
 * where the forecast starts.  The band is opaque (light orange unless a
 * third colour is given) and drawn under the lines.  With options "start"
 * (the date of the first history point) and "step" (day, week, month,
 * quarter, year) the x axis shows dates, otherwise period numbers 1..n+h.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include <math.h>

#include "spi_util.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

PG_FUNCTION_INFO_V1(crm_forecast_chart);

#define FORECAST_CHART_MAX_POINTS 10000
#define BAND_COLOR "#fcd5ae"

/* The date of period k (0 = start) when each period is one step. */
static double
period_date(const ChartOptions *o, int k)
{
	int			months = strcmp(o->step, "month") == 0 ? 1 : strcmp(o->step, "quarter") == 0 ? 3
		: strcmp(o->step, "year") == 0 ? 12 : 0;
	int			y,
				m,
				d;
	static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			last;

	if (months == 0)
		return o->start_date + k * (strcmp(o->step, "week") == 0 ? 7 : 1);
	j2date(o->start_date + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	m += k * months;
	y += (m - 1) / 12;
	m = (m - 1) % 12 + 1;
	last = month_days[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	return date2j(y, m, Min(d, last)) - POSTGRES_EPOCH_JDATE;
}

typedef struct ForecastRows
{
	int			h;
	double	   *yhat;
	double	   *lo;
	double	   *hi;
} ForecastRows;

enum
{
	FORECAST_MODEL,
	FORECAST_HORIZON,
	FORECAST_LEVEL,
	FORECAST_NARGS
};
static const Oid forecast_types[FORECAST_NARGS] = {
	[FORECAST_MODEL] = JSONBOID, [FORECAST_HORIZON] = INT4OID, [FORECAST_LEVEL] = FLOAT8OID
};
static CrmSpiQuery forecast_query = {
	"SELECT f.yhat, f.lo, f.hi FROM crm.forecast($1, $2, $3) AS f ORDER BY f.step",
	FORECAST_NARGS, forecast_types
};

static ForecastRows
run_forecast(Datum model, int horizon, double level)
{
	Datum		values[FORECAST_NARGS] = {
		[FORECAST_MODEL] = model, [FORECAST_HORIZON] = Int32GetDatum(horizon),
		[FORECAST_LEVEL] = Float8GetDatum(level)
	};
	ForecastRows r;
	MemoryContext caller = CurrentMemoryContext;

	crm_spi_connect();
	r.h = crm_spi_execute(&forecast_query, values, NULL, true, 0);
	r.yhat = MemoryContextAlloc(caller, sizeof(double) * Max(r.h, 1));
	r.lo = MemoryContextAlloc(caller, sizeof(double) * Max(r.h, 1));
	r.hi = MemoryContextAlloc(caller, sizeof(double) * Max(r.h, 1));
	for (int i = 0; i < r.h; i++)
	{
		bool		isnull[3];
		HeapTuple	row = SPI_tuptable->vals[i];

		for (int c = 0; c < 3; c++)
		{
			Datum		d = SPI_getbinval(row, SPI_tuptable->tupdesc, c + 1, &isnull[c]);
			double		v = isnull[c] ? NAN : DatumGetFloat8(d);

			(c == 0 ? r.yhat : c == 1 ? r.lo : r.hi)[i] = v;
		}
	}
	SPI_finish();
	return r;
}

static void
draw_forecast(StringInfo buf, const ChartOptions *o, const double *y, int n, const ForecastRows *f,
			  double level)
{
	int			total = n + f->h;
	double	   *x = palloc(sizeof(double) * total);
	double		ymin = INFINITY,
				ymax = -INFINITY;
	const char *colors[3] = {crm_chart_color(o, 0), crm_chart_color(o, 1), o->ncolors >= 3 ? o->colors[2] : BAND_COLOR};
	const char *names[3];
	LegendSwatch swatches[3] = {SWATCH_LINE, SWATCH_DASHED_LINE, SWATCH_BOX};
	XYPlot		plot;
	const PlotArea *p = &plot.area;

	for (int i = 0; i < total; i++)
		x[i] = o->has_start ? period_date(o, i) : i + 1;
	for (int i = 0; i < n; i++)
	{
		ymin = Min(ymin, y[i]);
		ymax = Max(ymax, y[i]);
	}
	for (int i = 0; i < f->h; i++)
	{
		double		v[3] = {f->yhat[i], f->lo[i], f->hi[i]};

		for (int c = 0; c < 3; c++)
			if (!isnan(v[c]) && !isinf(v[c]))
			{
				ymin = Min(ymin, v[c]);
				ymax = Max(ymax, v[c]);
			}
	}
	crm_xy_plot_layout(&plot, o, true, ymin, ymax, o->has_start ? X_DATE : X_NUMBER, x[0], x[total - 1]);
	crm_xy_plot_axes(buf, &plot);
#define PX(v) crm_xy_px(&plot, (v))
#define PY(v) crm_xy_py(&plot, (v))

	/* the interval band: from the last observation along hi, back along lo */
	appendStringInfo(buf, "<polygon fill=\"%s\" stroke=\"none\" points=\"%.1f,%.1f", colors[2], PX(x[n - 1]), PY(y[n - 1]));
	for (int i = 0; i < f->h; i++)
		if (!isnan(f->hi[i]))
			appendStringInfo(buf, " %.1f,%.1f", PX(x[n + i]), PY(f->hi[i]));
	for (int i = f->h - 1; i >= 0; i--)
		if (!isnan(f->lo[i]))
			appendStringInfo(buf, " %.1f,%.1f", PX(x[n + i]), PY(f->lo[i]));
	appendStringInfoString(buf, "\"/>\n");
	appendStringInfo(buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#aaaaaa\" stroke-dasharray=\"2 3\"/>\n",
					 PX(x[n - 1]), p->top, PX(x[n - 1]), p->bottom);

	/* history, then the forecast from the last observation */
	appendStringInfo(buf, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"",
					 colors[0]);
	for (int i = 0; i < n; i++)
		appendStringInfo(buf, "%s%.1f,%.1f", i > 0 ? " " : "", PX(x[i]), PY(y[i]));
	appendStringInfoString(buf, "\"/>\n");
	appendStringInfo(buf, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 4\" "
					 "stroke-linejoin=\"round\" points=\"%.1f,%.1f", colors[1], PX(x[n - 1]), PY(y[n - 1]));
	for (int i = 0; i < f->h; i++)
		if (!isnan(f->yhat[i]))
			appendStringInfo(buf, " %.1f,%.1f", PX(x[n + i]), PY(f->yhat[i]));
	appendStringInfoString(buf, "\"/>\n");
	for (int i = 0; i < f->h; i++)
	{
		if (isnan(f->yhat[i]))
			continue;
		appendStringInfo(buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"><title>", PX(x[n + i]),
						 PY(f->yhat[i]), colors[1]);
		crm_svg_escape(buf, psprintf("%s [%s, %s]", crm_format_value(f->yhat[i]), crm_format_value(f->lo[i]),
								 crm_format_value(f->hi[i])));
		appendStringInfoString(buf, "</title></circle>\n");
	}
#undef PX
#undef PY

	names[0] = o->history_label ? o->history_label : "history";
	names[1] = o->forecast_label ? o->forecast_label : "forecast";
	names[2] = o->interval_label ? o->interval_label : psprintf("%s%% interval", crm_format_value(level * 100));
	crm_svg_legend(buf, o, (o->title ? 44 : 16) + 6, 3, names, colors, swatches);
}

/*
 * crm.forecast_chart(history float8[], model jsonb, horizon int,
 * level float8, options jsonb) RETURNS text
 */
Datum
crm_forecast_chart(PG_FUNCTION_ARGS)
{
	ArrayType  *history = PG_GETARG_ARRAYTYPE_P(0);
	int			horizon = PG_GETARG_INT32(2);
	double		level = PG_GETARG_FLOAT8(3);
	ChartOptions o;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	double	   *y;
	ForecastRows f;
	StringInfoData buf;

	crm_chart_options_parse(PG_GETARG_JSONB_P(4), CHART_FORECAST, &o);
	if (ARR_NDIM(history) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history must be a one-dimensional array")));
	deconstruct_array(history, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("history must hold at least one value")));
	if (horizon < 1 || n + horizon > FORECAST_CHART_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be between 1 and %d for a history of %d values, not %d",
						FORECAST_CHART_MAX_POINTS - n, n, horizon)));
	y = palloc(sizeof(double) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("history values cannot be null"),
					 errdetail("Value %d is NULL.", i + 1)));
		y[i] = DatumGetFloat8(elems[i]);
		crm_chart_check_finite(y[i], "a history value");
	}
	f = run_forecast(PG_GETARG_DATUM(1), horizon, level);

	initStringInfo(&buf);
	crm_svg_begin(&buf, &o, "Forecast");
	draw_forecast(&buf, &o, y, n, &f, level);
	crm_svg_end(&buf);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
