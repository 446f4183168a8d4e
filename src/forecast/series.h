/*-------------------------------------------------------------------------
 * series.h
 *	  Ordered time series collected by the time-series aggregates (crm.arima,
 *	  crm.holt_winters, crm.ets, crm.theta, crm.best_model).
 *
 * The aggregates are called with ORDER BY inside the call
 * (crm.arima(y, 1, 1, 1 ORDER BY month)); the transition function appends
 * each value to a growing array in the aggregate's memory context, bounded
 * by the GUC crm.forecast_max_points, and records the call's other
 * arguments (the order, the season) from the first row.  The final
 * functions fit the model to the whole series.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_FORECAST_SERIES_H
#define CRM_FORECAST_SERIES_H

#include "fmgr.h"

/* The most extra arguments an ordered-series aggregate takes (seasonal ARIMA). */
#define SERIES_MAX_ARGS 7

typedef struct SeriesState
{
	int			n;				/* values collected */
	int			capacity;		/* allocated length of y */
	double	   *y;				/* values in aggregate order */
	int			nargs;			/* extra arguments after y */
	Oid			argtypes[SERIES_MAX_ARGS];
	Datum		args[SERIES_MAX_ARGS];	/* from the first row */
} SeriesState;

extern int	crm_forecast_max_points;

/* Extra argument i (0-based, after y) as an int, a float8 or a C string. */
extern int	crm_series_arg_int(SeriesState *state, int i);
extern double crm_series_arg_float8(SeriesState *state, int i);
extern const char *crm_series_arg_text(SeriesState *state, int i);

#include "forecast/model_json.h"

#endif							/* CRM_FORECAST_SERIES_H */
