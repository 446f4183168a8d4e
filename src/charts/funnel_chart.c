/*-------------------------------------------------------------------------
 * funnel_chart.c
 *	  crm.funnel_chart(stage text, value float8 [, options jsonb]): a sales
 *	  funnel, one centred band per stage in the rows' order (ORDER BY the
 *	  stage's position), as SVG.
 *
 * Each band's width is its value over the largest value; light trapezoids
 * join consecutive bands so the narrowing reads as flow.  Stage names are
 * on the left; on the right each stage shows its value, its share of the
 * first stage and, from the second stage on, the conversion from the stage
 * before it (→ 62.5%).  Values must not be negative.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include <math.h>

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_funnel_chart_final);

static char *
percent(double part, double whole)
{
	return whole > 0 ? psprintf("%.1f%%", 100.0 * part / whole) : pstrdup("–");
}

static void
draw_funnel(StringInfo buf, const ChartOptions *o, const ChartItems *items)
{
	const int	size = 12;
	double		max = 0;
	double		label_room = 0;
	double		note_room = 0;
	char	  **notes = palloc(sizeof(char *) * items->n);
	PlotArea	p;
	double		band;
	double		centre;

	for (int i = 0; i < items->n; i++)
	{
		if (items->values[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("funnel stage values must not be negative"),
					 errdetail("Stage \"%s\" has %g.", items->labels[i], items->values[i])));
		max = Max(max, items->values[i]);
		label_room = Max(label_room, crm_svg_text_width(items->labels[i], size));
		notes[i] = i == 0
			? psprintf("%s · 100%%", crm_format_value(items->values[i]))
			: psprintf("%s · %s · → %s", crm_format_value(items->values[i]), percent(items->values[i], items->values[0]),
					   percent(items->values[i], items->values[i - 1]));
		note_room = Max(note_room, crm_svg_text_width(notes[i], size - 1));
	}
	p.left = 12 + Min(label_room, o->width * 0.25) + 10;
	p.right = o->width - 12 - Min(note_room, o->width * 0.35) - 10;
	p.top = o->title ? 44 : 16;
	p.bottom = o->height - 12;
	if (p.right - p.left < 60)
		p.right = p.left + 60;
	band = (p.bottom - p.top) / items->n;
	centre = (p.left + p.right) / 2;

	for (int i = 0; i < items->n; i++)
	{
		double		w = max > 0 ? Max(2.0, (p.right - p.left) * items->values[i] / max) : 2.0;
		double		h = band * 0.72;
		double		y = p.top + band * i + (band - h) / 2;

		if (i + 1 < items->n)
		{
			double		w2 = max > 0 ? Max(2.0, (p.right - p.left) * items->values[i + 1] / max) : 2.0;
			double		y2 = p.top + band * (i + 1) + (band - h) / 2;

			appendStringInfo(buf, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" fill=\"%s\" "
							 "fill-opacity=\"0.18\"/>\n",
							 centre - w / 2, y + h, centre + w / 2, y + h, centre + w2 / 2, y2,
							 centre - w2 / 2, y2, crm_chart_color(o, i));
		}
		appendStringInfo(buf, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
						 centre - w / 2, y, w, h, crm_chart_color(o, i));
		crm_svg_escape(buf, items->labels[i]);
		appendStringInfoString(buf, ": ");
		crm_svg_escape(buf, notes[i]);
		appendStringInfoString(buf, "</title></rect>\n");
		if (band >= 9)
		{
			crm_svg_text(buf, p.left - 10, y + h / 2 + 4, "end", size, "#333333",
					 crm_svg_fit_text(items->labels[i], size, p.left - 22));
			crm_svg_text(buf, p.right + 10, y + h / 2 + 4, "start", size - 1, "#333333",
					 crm_svg_fit_text(notes[i], size - 1, o->width - p.right - 16));
		}
	}
}

/* crm.funnel_chart_final(internal) RETURNS text */
Datum
crm_funnel_chart_final(PG_FUNCTION_ARGS)
{
	ChartItems *items = PG_ARGISNULL(0) ? NULL : (ChartItems *) PG_GETARG_POINTER(0);
	ChartOptions o;
	StringInfoData buf;

	if (items == NULL || items->n == 0)
		PG_RETURN_NULL();
	crm_chart_options_parse(items->options, CHART_FUNNEL, &o);
	initStringInfo(&buf);
	crm_svg_begin(&buf, &o, "Funnel chart");
	draw_funnel(&buf, &o, items);
	crm_svg_end(&buf);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
