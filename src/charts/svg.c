/*-------------------------------------------------------------------------
 * svg.c
 *	  The SVG document writer shared by the charts: the opening and the
 *	  closing of the document, escaped text, text measuring and fitting,
 *	  the legend.
 *
 * Text width is estimated, since the server has no fonts: a character the
 * East Asian Width property calls wide (Han, kana, Hangul, full-width
 * forms) takes a full em, any other 0.6 em, which is a little more than
 * Latin letters and digits need in the sans-serif fonts browsers pick.
 * Labels are shortened with "…" to the room they have.  Charts need a
 * UTF-8 database: labels are copied as they are into a UTF-8 document.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include <math.h>

#include "mb/pg_wchar.h"

#define FONT_FAMILY "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', " \
	"'WenQuanYi Micro Hei', 'Helvetica Neue', Arial, sans-serif"

void
crm_svg_escape(StringInfo buf, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '&':
				appendStringInfoString(buf, "&amp;");
				break;
			case '<':
				appendStringInfoString(buf, "&lt;");
				break;
			case '>':
				appendStringInfoString(buf, "&gt;");
				break;
			case '"':
				appendStringInfoString(buf, "&quot;");
				break;
			case '\'':
				appendStringInfoString(buf, "&apos;");
				break;
			case '\t':
			case '\n':
			case '\r':
				appendStringInfoChar(buf, ' ');
				break;
			default:
				if (*p < 0x20)
					break;		/* not allowed in XML 1.0 */
				if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
				{
					p += 2;		/* U+FFFE and U+FFFF, not allowed either */
					break;
				}
				appendStringInfoChar(buf, (char) *p);
		}
	}
}

void
crm_svg_begin(StringInfo buf, const ChartOptions *options, const char *default_title)
{
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("charts need a database in UTF-8"),
				 errdetail("SVG is written in UTF-8, and the labels come from the database as they are.")));
	appendStringInfo(buf,
					 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
					 "viewBox=\"0 0 %d %d\" font-family=\"%s\" font-size=\"12\">\n<title>",
					 options->width, options->height, options->width, options->height, FONT_FAMILY);
	crm_svg_escape(buf, options->title ? options->title : default_title);
	appendStringInfo(buf, "</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
					 options->width, options->height);
	if (options->title)
		crm_svg_text(buf, options->width / 2.0, 24, "middle", 15, "#222222",
				 crm_svg_fit_text(options->title, 15, options->width - 20));
}

void
crm_svg_end(StringInfo buf)
{
	appendStringInfoString(buf, "</svg>\n");
}

void
crm_svg_text(StringInfo buf, double x, double y, const char *anchor, int size, const char *fill, const char *text)
{
	appendStringInfo(buf, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\" fill=\"%s\"%s>",
					 x, y, anchor, size, fill, size >= 15 ? " font-weight=\"bold\"" : "");
	crm_svg_escape(buf, text);
	appendStringInfoString(buf, "</text>\n");
}

/* Width in ems of the character at s (server encoding). */
static double
char_ems(const char *s)
{
	return pg_dsplen(s) >= 2 ? 1.0 : 0.6;
}

double
crm_svg_text_width(const char *text, int size)
{
	double		ems = 0;

	for (const char *p = text; *p; p += pg_mblen(p))
		ems += char_ems(p);
	return ems * size;
}

char *
crm_svg_fit_text(const char *text, int size, double max_width)
{
	double		ellipsis = size * 1.0;
	double		width = 0;
	const char *p;

	if (crm_svg_text_width(text, size) <= max_width)
		return pstrdup(text);
	for (p = text; *p; p += pg_mblen(p))
	{
		double		w = char_ems(p) * size;

		if (width + w + ellipsis > max_width)
			break;
		width += w;
	}
	return psprintf("%.*s…", (int) (p - text), text);
}

void
crm_svg_legend(StringInfo buf, const ChartOptions *options, double top, int n,
		   const char *const *names, const char *const *colors, const LegendSwatch *swatches)
{
	const int	size = 12;
	double		room = options->width - 40;
	double		item_room = n > 0 ? room / n - 30 : room;
	double		total = 0;
	char	  **shown = palloc(sizeof(char *) * Max(n, 1));
	double		x;

	for (int i = 0; i < n; i++)
	{
		shown[i] = crm_svg_fit_text(names[i], size, Max(item_room, 3 * size));
		total += 22 + crm_svg_text_width(shown[i], size) + 14;
	}
	x = options->width - 16 - total;
	for (int i = 0; i < n; i++)
	{
		if (swatches[i] == SWATCH_BOX)
			appendStringInfo(buf, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"10\" fill=\"%s\"/>\n",
							 x, top - 9, colors[i]);
		else
			appendStringInfo(buf, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
							 "stroke-width=\"2.5\"%s/>\n",
							 x, top - 4, x + 16, top - 4, colors[i],
							 swatches[i] == SWATCH_DASHED_LINE ? " stroke-dasharray=\"5 3\"" : "");
		crm_svg_text(buf, x + 22, top, "start", size, "#333333", shown[i]);
		x += 22 + crm_svg_text_width(shown[i], size) + 14;
	}
}

void
crm_chart_check_finite(double v, const char *what)
{
	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number, not %s", what, isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")),
				 errhint("Filter such rows out, or replace them with NULL to leave them out of the chart.")));
}
