/*-------------------------------------------------------------------------
 * chart_items.c
 *	  The transition function of crm.bar_chart and crm.funnel_chart: it
 *	  collects (label, value) pairs and the options.
 *
 * Bars and funnel stages are drawn in the order the rows arrive, which is
 * the point of writing crm.bar_chart(name, revenue ORDER BY revenue DESC):
 * so these aggregates have no combine function (partial states could only
 * be joined in an arbitrary order).  A NULL value leaves its row out; a
 * NULL label is drawn as "—"; NaN and infinities are refused.  At most
 * CHART_MAX_ITEMS items: more would not be readable anyway.
 *-------------------------------------------------------------------------
 */
#include "charts/svg.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_chart_items_add);

ChartItems *
crm_chart_items_state(FunctionCallInfo fcinfo)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "chart transition function called in non-aggregate context");
	if (PG_ARGISNULL(0))
	{
		ChartItems *items = MemoryContextAllocZero(aggcontext, sizeof(ChartItems));

		items->size = 16;
		items->labels = MemoryContextAlloc(aggcontext, sizeof(char *) * items->size);
		items->values = MemoryContextAlloc(aggcontext, sizeof(double) * items->size);
		return items;
	}
	return (ChartItems *) PG_GETARG_POINTER(0);
}

/* crm.chart_items_add(internal, label text, value float8 [, options jsonb]) RETURNS internal */
Datum
crm_chart_items_add(PG_FUNCTION_ARGS)
{
	ChartItems *items = crm_chart_items_state(fcinfo);
	MemoryContext aggcontext;
	MemoryContext old;
	double		value;

	(void) AggCheckCallContext(fcinfo, &aggcontext);
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3) && items->options == NULL)
	{
		old = MemoryContextSwitchTo(aggcontext);
		items->options = DatumGetJsonbPCopy(PG_GETARG_DATUM(3));
		MemoryContextSwitchTo(old);
	}
	if (PG_ARGISNULL(2))
		PG_RETURN_POINTER(items);
	value = PG_GETARG_FLOAT8(2);
	crm_chart_check_finite(value, "a chart value");
	if (items->n == CHART_MAX_ITEMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a chart holds at most %d bars or stages", CHART_MAX_ITEMS),
				 errhint("Aggregate the rows first, or keep the largest with ORDER BY ... LIMIT in a subquery.")));
	if (items->n == items->size)
	{
		items->size *= 2;
		items->labels = repalloc(items->labels, sizeof(char *) * items->size);
		items->values = repalloc(items->values, sizeof(double) * items->size);
	}
	old = MemoryContextSwitchTo(aggcontext);
	items->labels[items->n] = PG_ARGISNULL(1) ? pstrdup("—")
		: text_to_cstring(PG_GETARG_TEXT_PP(1));
	MemoryContextSwitchTo(old);
	items->values[items->n] = value;
	items->n++;
	PG_RETURN_POINTER(items);
}
