/*-------------------------------------------------------------------------
 * xy_plot.c
 *	  The frame the line and forecast charts draw in: margins, the y axis
 *	  (a nice scale with horizontal grid lines and labels), the x axis
 *	  (nice numbers, or date and time ticks, axis.c), and the mapping from
 *	  data to pixels.
 *
 * The y axis starts at 0 when every value is positive and the smallest is
 * under half the largest (and ends at 0 in the mirror case), so a small
 * change does not look like a collapse, while a series far from 0 keeps
 * its detail.  The left margin is as wide as the longest y label; the top
 * leaves room for the title and a legend row.  A single x value gets a day,
 * an hour or a nice unit of room on each side.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include <math.h>

#include "datatype/timestamp.h"

void
crm_xy_plot_layout(XYPlot *plot, const ChartOptions *o, bool legend, double ymin, double ymax,
			   XKind x_kind, double xmin, double xmax)
{
	PlotArea   *p = &plot->area;
	AxisTicks	y_ticks;
	double		label_room = 0;
	int			max_x_ticks;

	if (ymin > 0 && ymin < ymax * 0.5)
		ymin = 0;
	if (ymax < 0 && ymax > ymin * 0.5)
		ymax = 0;
	plot->y = crm_nice_scale(ymin, ymax, Max(3, (o->height - 100) / 50));
	y_ticks = crm_scale_ticks(&plot->y);
	for (int i = 0; i < y_ticks.n; i++)
		label_room = Max(label_room, crm_svg_text_width(y_ticks.labels[i], 11));

	p->left = 14 + label_room + 6;
	p->right = o->width - 20;
	p->top = (o->title ? 44 : 16) + (legend ? 22 : 0);
	p->bottom = o->height - 32;
	max_x_ticks = Max(2, (int) ((p->right - p->left) / (x_kind == X_TIMESTAMP ? 90 : x_kind == X_DATE ? 75 : 80)));

	if (x_kind == X_NUMBER)
	{
		NiceScale	xs = crm_nice_scale(xmin, xmax, max_x_ticks);

		plot->x_lo = xs.lo;
		plot->x_hi = xs.hi;
		plot->x_ticks = crm_scale_ticks(&xs);
		return;
	}
	if (xmin == xmax)
	{
		double		pad = x_kind == X_DATE ? 1 : SECS_PER_HOUR;

		xmin -= pad;
		xmax += pad;
	}
	plot->x_lo = xmin;
	plot->x_hi = xmax;
	plot->x_ticks = x_kind == X_DATE ? crm_date_ticks(xmin, xmax, max_x_ticks) : crm_timestamp_ticks(xmin, xmax, max_x_ticks);
}

double
crm_xy_px(const XYPlot *plot, double x)
{
	const PlotArea *p = &plot->area;

	return p->left + (x - plot->x_lo) / (plot->x_hi - plot->x_lo) * (p->right - p->left);
}

/* y in pixels, clamped to the plot (interval bounds may run off the scale). */
double
crm_xy_py(const XYPlot *plot, double y)
{
	const PlotArea *p = &plot->area;
	double		v = Max(Min(y, plot->y.hi), plot->y.lo);

	return p->bottom - (v - plot->y.lo) / (plot->y.hi - plot->y.lo) * (p->bottom - p->top);
}

void
crm_xy_plot_axes(StringInfo buf, const XYPlot *plot)
{
	const PlotArea *p = &plot->area;
	AxisTicks	y_ticks = crm_scale_ticks(&plot->y);

	for (int i = 0; i < y_ticks.n; i++)
	{
		double		y = crm_xy_py(plot, y_ticks.at[i]);

		appendStringInfo(buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n",
						 p->left, y, p->right, y, fabs(y_ticks.at[i]) < plot->y.step / 2 ? "#888888" : "#e3e3e3");
		crm_svg_text(buf, p->left - 6, y + 4, "end", 11, "#555555", y_ticks.labels[i]);
	}
	appendStringInfo(buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\" stroke-width=\"1\"/>\n",
					 p->left, p->bottom, p->right, p->bottom);
	for (int i = 0; i < plot->x_ticks.n; i++)
	{
		double		x = crm_xy_px(plot, plot->x_ticks.at[i]);

		appendStringInfo(buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\"/>\n",
						 x, p->bottom, x, p->bottom + 4);
		crm_svg_text(buf, x, p->bottom + 17, "middle", 11, "#555555", plot->x_ticks.labels[i]);
	}
}
