/*-------------------------------------------------------------------------
 * forecast.c
 *	  crm.forecast(model jsonb, horizon int, level float8 DEFAULT 0.95):
 *	  point forecasts and prediction intervals of a time-series model.
 *
 * Takes the jsonb of crm.arima, crm.holt_winters or crm.best_model and
 * returns one row per step: the forecast mean and the normal interval
 * mean -/+ z sd, where z is the (1 + level) / 2 normal quantile and sd
 * comes from the model's own forecast variance (see arima_fit.c and
 * holt_winters_fit.c).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "funcapi.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "forecast/optimize.h"
#include "forecast/series.h"
#include "forecast/series_models.h"

PG_FUNCTION_INFO_V1(crm_forecast);

/* Longest horizon crm.forecast computes. */
#define FORECAST_MAX_HORIZON 10000

Datum
crm_forecast(PG_FUNCTION_ARGS)
{
	Jsonb	   *json = PG_GETARG_JSONB_P(0);
	int			horizon = PG_GETARG_INT32(1);
	double		level = PG_GETARG_FLOAT8(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *kind;
	double	   *mean,
			   *variance,
				z;
	int			h;

	if (horizon < 1 || horizon > FORECAST_MAX_HORIZON)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be between 1 and %d, not %d", FORECAST_MAX_HORIZON, horizon)));
	if (!(level > 0.0 && level < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("level must be between 0 and 1 (exclusive), not %g", level),
				 errhint("Use 0.95 for a 95%% prediction interval.")));
	if (!model_has_key(json, "kind"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model has no \"kind\" key"),
				 errhint("Pass a model made by crm.arima, crm.holt_winters or crm.best_model.")));
	kind = model_get_string(json, "kind");

	mean = palloc(sizeof(double) * horizon);
	variance = palloc(sizeof(double) * horizon);
	if (strcmp(kind, "arima") == 0)
	{
		ArimaModel	model;

		arima_from_jsonb(json, &model);
		arima_forecast(&model, horizon, mean, variance);
	}
	else if (strcmp(kind, "holt_winters") == 0)
	{
		HwModel		model;

		hw_from_jsonb(json, &model);
		hw_forecast(&model, horizon, mean, variance);
	}
	else if (strcmp(kind, "linreg") == 0 || strcmp(kind, "logreg") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.forecast needs a time-series model, not a %s model", kind),
				 errhint("Use crm.predict for linreg and logreg models.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown model kind \"%s\"", kind),
				 errhint("Pass a model made by crm.arima, crm.holt_winters or crm.best_model.")));

	InitMaterializedSRF(fcinfo, 0);
	z = normal_quantile(0.5 + level / 2.0);
	for (h = 0; h < horizon; h++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		double		half = z * sqrt(variance[h]);

		values[0] = Int32GetDatum(h + 1);
		values[1] = Float8GetDatum(mean[h]);
		values[2] = Float8GetDatum(mean[h] - half);
		values[3] = Float8GetDatum(mean[h] + half);
		nulls[1] = !isfinite(mean[h]);
		nulls[2] = nulls[3] = !isfinite(mean[h] - half) || !isfinite(mean[h] + half);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
