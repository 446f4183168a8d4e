/*-------------------------------------------------------------------------
 * series.c
 *	  Transition function of the ordered-series aggregates (crm.arima,
 *	  crm.holt_winters, crm.best_model) and the GUC that bounds their state.
 *
 * The state is an array of float8 in aggregate order, grown by doubling in
 * the aggregate's memory context up to crm.forecast_max_points values.  The
 * aggregates have no combine function: their input is ordered (ORDER BY
 * inside the call), and PostgreSQL never splits an ordered aggregate into
 * partial aggregates, so serial/deserial functions would never run.  They
 * are still PARALLEL SAFE: a parallel plan may evaluate them whole above a
 * Gather.
 *
 * The extra arguments (p, d, q; season, seasonal kind, smoothing
 * parameters) are read from the first row and must be the same on every row.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "forecast/series.h"

PG_FUNCTION_INFO_V1(crm_series_accum);

int			crm_forecast_max_points = 1000000;

void
crm_forecast_timeseries_init(void)
{
	DefineCustomIntVariable("crm.forecast_max_points",
							"Largest number of points a time-series aggregate (crm.arima, crm.holt_winters, crm.best_model) collects.",
							"A series with more points is refused with an error; each point takes 8 bytes of memory until the aggregate ends.",
							&crm_forecast_max_points,
							1000000, 10, 100000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

/* Name of argument argno (0-based) of the transition function, for errors. */
static char *
accum_arg_name(FunctionCallInfo fcinfo, int argno)
{
	HeapTuple	tuple;
	Oid		   *types;
	char	  **names;
	char	   *modes;
	char	   *result = NULL;
	int			nargs;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (HeapTupleIsValid(tuple))
	{
		nargs = get_func_arg_info(tuple, &types, &names, &modes);
		if (names != NULL && argno < nargs && names[argno][0] != '\0')
			result = pstrdup(names[argno]);
		ReleaseSysCache(tuple);
	}
	return result ? result : psprintf("argument %d", argno + 1);
}

static SeriesState *
series_create(FunctionCallInfo fcinfo, MemoryContext aggcontext)
{
	SeriesState *state;
	int			i;

	state = MemoryContextAllocZero(aggcontext, sizeof(SeriesState));
	state->nargs = PG_NARGS() - 2;
	if (state->nargs > SERIES_MAX_ARGS)
		elog(ERROR, "crm_series_accum called with %d extra arguments", state->nargs);
	state->capacity = Min(64, crm_forecast_max_points);
	state->y = MemoryContextAlloc(aggcontext, state->capacity * sizeof(double));

	for (i = 0; i < state->nargs; i++)
	{
		int16		typlen;
		bool		typbyval;
		MemoryContext old;

		if (PG_ARGISNULL(i + 2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s cannot be null", accum_arg_name(fcinfo, i + 2))));
		state->argtypes[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 2);
		get_typlenbyval(state->argtypes[i], &typlen, &typbyval);
		old = MemoryContextSwitchTo(aggcontext);
		state->args[i] = datumCopy(PG_GETARG_DATUM(i + 2), typbyval, typlen);
		MemoryContextSwitchTo(old);
	}
	return state;
}

/* The extra arguments of a later row must match the first row's. */
static void
series_check_args(FunctionCallInfo fcinfo, SeriesState *state)
{
	int			i;

	for (i = 0; i < state->nargs; i++)
	{
		bool		same;

		if (PG_ARGISNULL(i + 2))
			same = false;
		else if (state->argtypes[i] == TEXTOID)
			same = strcmp(TextDatumGetCString(PG_GETARG_DATUM(i + 2)),
						  TextDatumGetCString(state->args[i])) == 0;
		else
			same = datumIsEqual(PG_GETARG_DATUM(i + 2), state->args[i], true, sizeof(Datum));
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be the same on every row of a series", accum_arg_name(fcinfo, i + 2)),
					 errdetail("Row %d has a different value than the first row.", state->n + 1)));
	}
}

/*
 * crm_series_accum(state internal, y float8, extra args...) -> internal
 */
Datum
crm_series_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	SeriesState *state;
	double		y;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "crm_series_accum called in non-aggregate context");

	if (PG_ARGISNULL(0))
		state = series_create(fcinfo, aggcontext);
	else
	{
		state = (SeriesState *) PG_GETARG_POINTER(0);
		series_check_args(fcinfo, state);
	}

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("time series values cannot be null"),
				 errdetail("Point %d (in aggregate order) is NULL.", state->n + 1),
				 errhint("Fill gaps, for example with coalesce(value, 0), so that points stay evenly spaced.")));
	y = PG_GETARG_FLOAT8(1);
	if (isnan(y) || isinf(y))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time series values must be finite"),
				 errdetail("Point %d (in aggregate order) is %s.", state->n + 1,
						   isnan(y) ? "NaN" : "infinite")));

	if (state->n >= state->capacity)
	{
		if (state->n >= crm_forecast_max_points)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("time series has more than %d points", crm_forecast_max_points),
					 errhint("Aggregate the series to a coarser period, or raise crm.forecast_max_points.")));
		state->capacity = (int) Min((int64) state->capacity * 2, (int64) crm_forecast_max_points);
		state->y = repalloc(state->y, state->capacity * sizeof(double));
	}
	state->y[state->n++] = y;

	PG_RETURN_POINTER(state);
}

int
crm_series_arg_int(SeriesState *state, int i)
{
	Assert(i < state->nargs && state->argtypes[i] == INT4OID);
	return DatumGetInt32(state->args[i]);
}

double
crm_series_arg_float8(SeriesState *state, int i)
{
	Assert(i < state->nargs && state->argtypes[i] == FLOAT8OID);
	return DatumGetFloat8(state->args[i]);
}

const char *
crm_series_arg_text(SeriesState *state, int i)
{
	Assert(i < state->nargs && state->argtypes[i] == TEXTOID);
	return TextDatumGetCString(state->args[i]);
}
