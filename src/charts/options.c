/*-------------------------------------------------------------------------
 * options.c
 *	  The options jsonb of the charts, read and checked.
 *
 * Every chart takes {"title": text, "width": 200..4000 (default 600),
 * "height": 150..4000 (default 360), "colors": [up to 16 CSS colours]}.
 * crm.forecast_chart also takes "start" (the date of the first history
 * point) with "step" (day, week, month, quarter or year; default month) to
 * put dates on its axis, and "history_label", "forecast_label" and
 * "interval_label" for its legend.  An unknown key, a value of the wrong
 * type or out of range is a bad argument (22023): a misspelt key would
 * otherwise be silently ignored.  Colours are #rgb, #rrggbb or a CSS colour
 * name, so nothing but a colour reaches the fill attributes.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"

/* Tableau 10: distinguishable, and readable by most colour-blind people. */
static const char *const default_colors[] = {
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
};

static void
bad_option(const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid chart option \"%s\"", key),
			 errdetail("%s", detail)));
}

static char *
string_value(const char *key, JsonbValue *v)
{
	if (v->type != jbvString)
		bad_option(key, "The value must be a string.");
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static int
int_value(const char *key, JsonbValue *v, int min, int max)
{
	double		d;

	if (v->type != jbvNumeric)
		bad_option(key, "The value must be a number.");
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!(d >= min && d <= max))
		bad_option(key, psprintf("The value must be between %d and %d.", min, max));
	return (int) d;
}

static bool
is_color(const char *s)
{
	size_t		len = strlen(s);

	if (s[0] == '#')
	{
		if (len != 4 && len != 7)
			return false;
		for (size_t i = 1; i < len; i++)
			if (!isxdigit((unsigned char) s[i]))
				return false;
		return true;
	}
	if (len < 3 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 'a' || s[i] > 'z')
			return false;
	return true;
}

static void
parse_colors(JsonbValue *v, ChartOptions *out)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken token;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		bad_option("colors", "The value must be an array of colours such as [\"#4e79a7\", \"orange\"].");
	out->ncolors = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		char	   *color;

		if (token != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			bad_option("colors", "Each colour must be a string.");
		color = pnstrdup(elem.val.string.val, elem.val.string.len);
		if (!is_color(color))
			bad_option("colors", psprintf("\"%s\" is not a colour: use #rgb, #rrggbb or a CSS colour name.", color));
		if (out->ncolors == CHART_MAX_COLORS)
			bad_option("colors", psprintf("At most %d colours are used.", CHART_MAX_COLORS));
		out->colors[out->ncolors++] = color;
	}
}

void
crm_chart_options_parse(Jsonb *options, ChartKind kind, ChartOptions *out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;

	memset(out, 0, sizeof(ChartOptions));
	out->width = 600;
	out->height = 360;
	out->step = "month";
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chart options must be a JSON object"),
				 errhint("Pass for example '{\"title\": \"月度收入\", \"width\": 800}'.")));

	it = JsonbIteratorInit(&options->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (token != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		token = JsonbIteratorNext(&it, &v, true);
		Assert(token == WJB_VALUE);
		if (v.type == jbvNull)
			continue;			/* the default */
		if (strcmp(key, "title") == 0)
			out->title = string_value(key, &v);
		else if (strcmp(key, "width") == 0)
			out->width = int_value(key, &v, 200, 4000);
		else if (strcmp(key, "height") == 0)
			out->height = int_value(key, &v, 150, 4000);
		else if (strcmp(key, "colors") == 0)
			parse_colors(&v, out);
		else if (kind == CHART_FORECAST && strcmp(key, "start") == 0)
		{
			out->start_date = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(string_value(key, &v))));
			out->has_start = true;
		}
		else if (kind == CHART_FORECAST && strcmp(key, "step") == 0)
		{
			out->step = string_value(key, &v);
			if (strcmp(out->step, "day") != 0 && strcmp(out->step, "week") != 0 &&
				strcmp(out->step, "month") != 0 && strcmp(out->step, "quarter") != 0 &&
				strcmp(out->step, "year") != 0)
				bad_option(key, "The value must be day, week, month, quarter or year.");
		}
		else if (kind == CHART_FORECAST && strcmp(key, "history_label") == 0)
			out->history_label = string_value(key, &v);
		else if (kind == CHART_FORECAST && strcmp(key, "forecast_label") == 0)
			out->forecast_label = string_value(key, &v);
		else if (kind == CHART_FORECAST && strcmp(key, "interval_label") == 0)
			out->interval_label = string_value(key, &v);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown chart option \"%s\"", key),
					 errhint(kind == CHART_FORECAST
							 ? "The options are title, width, height, colors, start, step, history_label, forecast_label and interval_label."
							 : "The options are title, width, height and colors.")));
	}
}

const char *
crm_chart_color(const ChartOptions *options, int i)
{
	if (options->ncolors > 0)
		return options->colors[i % options->ncolors];
	return default_colors[i % lengthof(default_colors)];
}
