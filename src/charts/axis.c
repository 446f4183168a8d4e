/*-------------------------------------------------------------------------
 * axis.c
 *	  Axes of the charts: nice numbers, number labels with thousands
 *	  separators, and ticks for dates and times.
 *
 * Nice numbers (Heckbert, "Nice numbers for graph labels", Graphics Gems,
 * 1990): the tick step is 1, 2 or 5 × 10^k, the smallest such step that
 * gives at most the wanted number of intervals, and the axis runs from the
 * step's multiple at or below the minimum to the one at or above the
 * maximum.  Labels carry as many decimals as the step needs, and thousands
 * separators: 1,200,000.
 *
 * Dates (days since 2000-01-01, PostgreSQL's DateADT) get ticks on whole
 * days, Mondays, the first of a month (every 1, 2, 3, 6 or 12 months) or
 * the first of a year (every 1, 2, 5, 10, ... years), whichever keeps the
 * number of ticks at or under the wanted one; labels are MM-DD, YYYY-MM or
 * YYYY.  Times (seconds since 2000-01-01 in local time) spanning more than
 * three days are ticked as dates, shorter spans on whole hours.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include <math.h>

#include "datatype/timestamp.h"
#include "utils/datetime.h"

NiceScale
crm_nice_scale(double min, double max, int target_ticks)
{
	NiceScale	s;
	double		raw;
	double		magnitude;
	double		r;

	if (max < min)
	{
		double		t = max;

		max = min;
		min = t;
	}
	if (max == min)
	{
		double		pad = (max == 0) ? 1 : fabs(max) * 0.1;

		min = (min >= 0 && min - pad < 0) ? 0 : min - pad;
		max += pad;
	}
	raw = (max - min) / Max(target_ticks, 1);
	magnitude = pow(10, floor(log10(raw)));
	r = raw / magnitude;
	s.step = (r <= 1.0 + 1e-9 ? 1 : r <= 2.0 + 1e-9 ? 2 : r <= 5.0 + 1e-9 ? 5 : 10) * magnitude;
	s.lo = floor(min / s.step + 1e-9) * s.step;
	s.hi = ceil(max / s.step - 1e-9) * s.step;
	s.decimals = s.step >= 1 ? 0 : (int) -floor(log10(s.step) + 1e-9);
	return s;
}

char *
crm_format_number(double v, int decimals)
{
	char		digits[400];
	StringInfoData out;
	char	   *point;
	int			int_len;
	bool		negative;

	snprintf(digits, sizeof(digits), "%.*f", decimals, fabs(v));
	negative = v < 0 && strspn(digits, "0.") != strlen(digits);
	point = strchr(digits, '.');
	int_len = point ? (int) (point - digits) : (int) strlen(digits);
	initStringInfo(&out);
	if (negative)
		appendStringInfoChar(&out, '-');
	for (int i = 0; i < int_len; i++)
	{
		if (i > 0 && (int_len - i) % 3 == 0)
			appendStringInfoChar(&out, ',');
		appendStringInfoChar(&out, digits[i]);
	}
	if (point)
		appendStringInfoString(&out, point);
	return out.data;
}

char *
crm_format_value(double v)
{
	char	   *s = crm_format_number(v, 2);
	char	   *end = s + strlen(s);

	while (end > s && end[-1] == '0')
		*--end = '\0';
	if (end > s && end[-1] == '.')
		*--end = '\0';
	if (strcmp(s, "-0") == 0)
		return pstrdup("0");
	return s;
}

static void
add_tick(AxisTicks *t, int *size, double at, char *label)
{
	if (t->n == *size)
	{
		*size *= 2;
		t->at = repalloc(t->at, sizeof(double) * *size);
		t->labels = repalloc(t->labels, sizeof(char *) * *size);
	}
	t->at[t->n] = at;
	t->labels[t->n] = label;
	t->n++;
}

AxisTicks
crm_scale_ticks(const NiceScale *scale)
{
	AxisTicks	t;
	int			size = 16;

	t.n = 0;
	t.at = palloc(sizeof(double) * size);
	t.labels = palloc(sizeof(char *) * size);
	for (double v = scale->lo; v <= scale->hi + scale->step / 2; v += scale->step)
		add_tick(&t, &size, v, crm_format_number(v, scale->decimals));
	return t;
}

static int
date_to_day(int year, int month, int day)
{
	return date2j(year, month, day) - POSTGRES_EPOCH_JDATE;
}

AxisTicks
crm_date_ticks(double first_day, double last_day, int max_ticks)
{
	static const int month_steps[] = {1, 2, 3, 6, 12};
	static const int year_steps[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
	AxisTicks	t;
	int			size = 16;
	int			first = (int) ceil(first_day - 1e-9);
	int			last = (int) floor(last_day + 1e-9);
	int			span = last - first;
	int			y,
				m,
				d;

	t.n = 0;
	t.at = palloc(sizeof(double) * size);
	t.labels = palloc(sizeof(char *) * size);
	max_ticks = Max(max_ticks, 2);
	j2date(first + POSTGRES_EPOCH_JDATE, &y, &m, &d);

	if (span < max_ticks)
	{
		for (int day = first; day <= last; day++)
		{
			j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
			add_tick(&t, &size, day, psprintf("%02d-%02d", m, d));
		}
		return t;
	}
	if (span / 7 < max_ticks)
	{
		/* j2day: 0 is Sunday; the first Monday on or after first */
		int			monday = first + (8 - j2day(first + POSTGRES_EPOCH_JDATE)) % 7;

		for (int day = monday; day <= last; day += 7)
		{
			j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
			add_tick(&t, &size, day, psprintf("%02d-%02d", m, d));
		}
		return t;
	}
	for (size_t i = 0; i < lengthof(month_steps); i++)
	{
		int			step = month_steps[i];
		int			months = span / 30;

		if (months / step > max_ticks)
			continue;
		/* the first month start at or after first whose month fits the step */
		if (d > 1)
		{
			m++;
			if (m > 12)
			{
				m = 1;
				y++;
			}
		}
		while ((m - 1) % step != 0)
		{
			m++;
			if (m > 12)
			{
				m = 1;
				y++;
			}
		}
		for (int day = date_to_day(y, m, 1); day <= last;)
		{
			add_tick(&t, &size, day, step == 12 ? psprintf("%d", y) : psprintf("%d-%02d", y, m));
			m += step;
			while (m > 12)
			{
				m -= 12;
				y++;
			}
			day = date_to_day(y, m, 1);
		}
		return t;
	}
	for (size_t i = 0; i < lengthof(year_steps); i++)
	{
		int			step = year_steps[i];
		int			last_year;

		j2date(last + POSTGRES_EPOCH_JDATE, &last_year, &m, &d);
		j2date(first + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		if ((last_year - y) / step >= max_ticks && i + 1 < lengthof(year_steps))
			continue;
		if (m > 1 || d > 1)
			y++;
		y = (int) (ceil((double) y / step) * step);
		for (; date_to_day(y, 1, 1) <= last; y += step)
			add_tick(&t, &size, date_to_day(y, 1, 1), psprintf("%d", y));
		return t;
	}
	return t;
}

AxisTicks
crm_timestamp_ticks(double first_second, double last_second, int max_ticks)
{
	static const int hour_steps[] = {1, 2, 3, 6, 12, 24};
	AxisTicks	t;
	int			size = 16;
	double		span = last_second - first_second;

	if (span > 3 * SECS_PER_DAY)
	{
		t = crm_date_ticks(first_second / SECS_PER_DAY, last_second / SECS_PER_DAY, max_ticks);
		for (int i = 0; i < t.n; i++)
			t.at[i] *= SECS_PER_DAY;
		return t;
	}
	t.n = 0;
	t.at = palloc(sizeof(double) * size);
	t.labels = palloc(sizeof(char *) * size);
	for (size_t i = 0; i < lengthof(hour_steps); i++)
	{
		double		step = hour_steps[i] * (double) SECS_PER_HOUR;

		if (span / step >= Max(max_ticks, 2) && i + 1 < lengthof(hour_steps))
			continue;
		for (double at = ceil(first_second / step) * step; at <= last_second; at += step)
		{
			int64		secs = (int64) at;
			int64		day = secs / SECS_PER_DAY - (secs % SECS_PER_DAY < 0 ? 1 : 0);
			int			second_of_day = (int) (secs - day * SECS_PER_DAY);
			int			y,
						m,
						d;

			j2date((int) day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
			add_tick(&t, &size, at, span > SECS_PER_DAY
					 ? psprintf("%02d-%02d %02d:00", m, d, second_of_day / SECS_PER_HOUR)
					 : psprintf("%02d:%02d", second_of_day / SECS_PER_HOUR, second_of_day % SECS_PER_HOUR / 60));
		}
		break;
	}
	return t;
}
