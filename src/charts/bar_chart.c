/*-------------------------------------------------------------------------
 * bar_chart.c
 *	  crm.bar_chart(label text, value float8 [, options jsonb]): one
 *	  horizontal bar per row, in the rows' order, as SVG.
 *
 * Horizontal bars leave room for long labels (product names in Chinese
 * read left to right, unrotated).  Labels sit left of the axis, shortened
 * with "…" to at most 40% of the width; each bar carries its value at its
 * end.  The value axis is a nice scale that always includes 0, so bar
 * lengths compare honestly, with vertical grid lines and thousands
 * separators; negative values extend left of 0.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include <math.h>

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_bar_chart_final);

static void
draw_bars(StringInfo buf, const ChartOptions *o, const ChartItems *items)
{
	const int	size = 12;
	double		min = 0;
	double		max = 0;
	double		label_room = 0;
	double		value_room = 0;
	PlotArea	p;
	NiceScale	s;
	double		band;

	for (int i = 0; i < items->n; i++)
	{
		min = Min(min, items->values[i]);
		max = Max(max, items->values[i]);
		label_room = Max(label_room, crm_svg_text_width(items->labels[i], size));
		value_room = Max(value_room, crm_svg_text_width(crm_format_value(items->values[i]), size - 1));
	}
	s = crm_nice_scale(min, max, Max(2, (o->width - 200) / 90));
	p.left = 12 + Min(label_room, o->width * 0.4) + 8;
	p.right = o->width - 16 - value_room - 6;
	p.top = o->title ? 44 : 16;
	p.bottom = o->height - 30;
	if (p.right - p.left < 60)
		p.right = p.left + 60;
	band = (p.bottom - p.top) / items->n;

	/* grid and value axis */
	for (double v = s.lo; v <= s.hi + s.step / 2; v += s.step)
	{
		double		x = p.left + (v - s.lo) / (s.hi - s.lo) * (p.right - p.left);

		appendStringInfo(buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n",
						 x, p.top, x, p.bottom, fabs(v) < s.step / 2 ? "#888888" : "#e3e3e3");
		crm_svg_text(buf, x, p.bottom + 16, "middle", 11, "#555555", crm_format_number(v, s.decimals));
	}

	for (int i = 0; i < items->n; i++)
	{
		double		zero = p.left + (0 - s.lo) / (s.hi - s.lo) * (p.right - p.left);
		double		end = p.left + (items->values[i] - s.lo) / (s.hi - s.lo) * (p.right - p.left);
		double		y = p.top + band * i;
		double		h = Max(1.0, band * 0.7);
		double		mid = y + band / 2;
		char	   *value = crm_format_value(items->values[i]);

		appendStringInfo(buf, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
						 Min(zero, end), mid - h / 2, Max(fabs(end - zero), 0.5), h, crm_chart_color(o, 0));
		crm_svg_escape(buf, items->labels[i]);
		appendStringInfoString(buf, ": ");
		crm_svg_escape(buf, value);
		appendStringInfoString(buf, "</title></rect>\n");
		if (band >= 9)
		{
			crm_svg_text(buf, p.left - 8, mid + 4, "end", size, "#333333",
					 crm_svg_fit_text(items->labels[i], size, p.left - 20));
			crm_svg_text(buf, items->values[i] >= 0 ? Max(end, zero) + 4 : Min(end, zero) - 4, mid + 4,
					 items->values[i] >= 0 ? "start" : "end", size - 1, "#333333", value);
		}
	}
}

/* crm.bar_chart_final(internal) RETURNS text */
Datum
crm_bar_chart_final(PG_FUNCTION_ARGS)
{
	ChartItems *items = PG_ARGISNULL(0) ? NULL : (ChartItems *) PG_GETARG_POINTER(0);
	ChartOptions o;
	StringInfoData buf;

	if (items == NULL || items->n == 0)
		PG_RETURN_NULL();
	crm_chart_options_parse(items->options, CHART_BAR, &o);
	initStringInfo(&buf);
	crm_svg_begin(&buf, &o, "Bar chart");
	draw_bars(&buf, &o, items);
	crm_svg_end(&buf);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
