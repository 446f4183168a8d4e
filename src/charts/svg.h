/*-------------------------------------------------------------------------
 * svg.h
 *	  Shared parts of the SVG charts (src/charts): the document writer,
 *	  chart options, axes with nice numbers, and text measuring.
 *
 * A chart is written into one StringInfo as standalone SVG 1.1: no
 * scripts, no external fonts, stylesheets or images; text is drawn with
 * the viewer's sans-serif fonts (CJK fonts named first) and every string
 * that came from data or options is XML-escaped.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_SVG_H
#define CRM_SVG_H

#include "crm.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define CHART_MAX_COLORS 16

/* Options every chart takes (options jsonb), and the forecast's own. */
typedef struct ChartOptions
{
	char	   *title;			/* NULL: no visible title */
	int			width;
	int			height;
	int			ncolors;
	char	   *colors[CHART_MAX_COLORS];
	/* forecast_chart only */
	bool		has_start;
	int32		start_date;		/* DateADT of the first history point */
	char	   *step;			/* day, week, month, quarter, year */
	char	   *history_label;
	char	   *forecast_label;
	char	   *interval_label;
} ChartOptions;

/* Which option keys a chart accepts beyond title, width, height, colors. */
typedef enum ChartKind
{
	CHART_BAR,
	CHART_LINE,
	CHART_FUNNEL,
	CHART_FORECAST
} ChartKind;

extern void crm_chart_options_parse(Jsonb *options, ChartKind kind, ChartOptions *out);
extern const char *crm_chart_color(const ChartOptions *options, int i);

/* The plot area inside the margins. */
typedef struct PlotArea
{
	double		left;
	double		top;
	double		right;
	double		bottom;
} PlotArea;

/* Opens the document: <svg>, <title>, background and the visible title. */
extern void crm_svg_begin(StringInfo buf, const ChartOptions *options, const char *default_title);
extern void crm_svg_end(StringInfo buf);
/* Appends s XML-escaped (control characters dropped). */
extern void crm_svg_escape(StringInfo buf, const char *s);
/* <text> at (x, y); anchor is start, middle or end. */
extern void crm_svg_text(StringInfo buf, double x, double y, const char *anchor, int size,
					 const char *fill, const char *text);
/* Width in pixels of text at font size (CJK characters are a full em). */
extern double crm_svg_text_width(const char *text, int size);
/* text shortened with "…" to fit max_width pixels (palloc'd). */
extern char *crm_svg_fit_text(const char *text, int size, double max_width);
/* How a legend item is drawn: a filled box, a line, a dashed line. */
typedef enum LegendSwatch
{
	SWATCH_BOX,
	SWATCH_LINE,
	SWATCH_DASHED_LINE
} LegendSwatch;

/* A legend row of swatches and names, right-aligned at top. */
extern void crm_svg_legend(StringInfo buf, const ChartOptions *options, double top, int n,
					   const char *const *names, const char *const *colors, const LegendSwatch *swatches);

/* Axis ticks: lo, lo + step, ..., hi, with step 1, 2 or 5 × 10^k. */
typedef struct NiceScale
{
	double		lo;
	double		hi;
	double		step;
	int			decimals;		/* digits after the point the labels need */
} NiceScale;

extern NiceScale crm_nice_scale(double min, double max, int target_ticks);
/* v with thousands separators and the given decimals (palloc'd). */
extern char *crm_format_number(double v, int decimals);
/* v for a data label: separators, at most two decimals, no trailing zeros. */
extern char *crm_format_value(double v);

/* Tick positions (in data units) and labels of an axis. */
typedef struct AxisTicks
{
	int			n;
	double	   *at;
	char	  **labels;
} AxisTicks;

extern AxisTicks crm_scale_ticks(const NiceScale *scale);
extern AxisTicks crm_date_ticks(double first_day, double last_day, int max_ticks);
extern AxisTicks crm_timestamp_ticks(double first_second, double last_second, int max_ticks);

/*
 * An x-y plot (xy_plot.c): the line and forecast charts.  The y axis is a
 * nice scale with horizontal grid lines; the x axis holds numbers, dates
 * (days since 2000-01-01) or times (seconds since 2000-01-01, local).
 */
typedef enum XKind
{
	X_UNSET = 0,
	X_NUMBER,
	X_DATE,
	X_TIMESTAMP
} XKind;

typedef struct XYPlot
{
	PlotArea	area;
	NiceScale	y;
	double		x_lo;
	double		x_hi;
	AxisTicks	x_ticks;
} XYPlot;

extern void crm_xy_plot_layout(XYPlot *plot, const ChartOptions *o, bool legend, double ymin, double ymax,
						   XKind x_kind, double xmin, double xmax);
extern double crm_xy_px(const XYPlot *plot, double x);
extern double crm_xy_py(const XYPlot *plot, double y);
extern void crm_xy_plot_axes(StringInfo buf, const XYPlot *plot);

/* Checks a data value: NaN and infinities are refused with 22023. */
extern void crm_chart_check_finite(double v, const char *what);

/*
 * The state of crm.bar_chart and crm.funnel_chart: labelled values in the
 * order they arrived (the order of the aggregate's ORDER BY), and the
 * options of the first row that had any.
 */
#define CHART_MAX_ITEMS 1000

typedef struct ChartItems
{
	int			n;
	int			size;
	char	  **labels;
	double	   *values;
	Jsonb	   *options;
} ChartItems;

extern ChartItems *crm_chart_items_state(FunctionCallInfo fcinfo);

#endif							/* CRM_SVG_H */
