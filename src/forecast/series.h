/*-------------------------------------------------------------------------
 * series.h
 *	  Ordered time series collected by the crm.arima, crm.holt_winters and
 *	  crm.best_model aggregates, and the small JSON helpers their models use.
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

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* The most extra arguments an ordered-series aggregate takes (HW fixed). */
#define SERIES_MAX_ARGS 5

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
extern int	series_arg_int(SeriesState *state, int i);
extern double series_arg_float8(SeriesState *state, int i);
extern const char *series_arg_text(SeriesState *state, int i);

/*
 * JSON writing: a model is built as JSON text and converted to jsonb once.
 * Non-finite numbers are written as null.
 */
extern void model_json_key(StringInfo buf, const char *key);
extern void model_json_number(StringInfo buf, const char *key, double value);
extern void model_json_int(StringInfo buf, const char *key, int value);
extern void model_json_string(StringInfo buf, const char *key, const char *value);
extern void model_json_array(StringInfo buf, const char *key, const double *values, int count);
extern Datum model_json_to_jsonb(StringInfo buf);

/*
 * Reading a model back.  Each getter raises a clear error naming the key
 * when it is missing or of the wrong type.
 */
extern bool model_has_key(Jsonb *model, const char *key);
extern double model_get_number(Jsonb *model, const char *key);
extern int	model_get_int(Jsonb *model, const char *key);
extern char *model_get_string(Jsonb *model, const char *key);
extern void model_get_array(Jsonb *model, const char *key, double *out, int count);
extern char *model_get_string_element(Jsonb *model, const char *key, int i);

#endif							/* CRM_FORECAST_SERIES_H */
