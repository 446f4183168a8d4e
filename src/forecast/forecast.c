/*-------------------------------------------------------------------------
 * forecast.c
 *	  crm.forecast(model jsonb, horizon int, level float8 DEFAULT 0.95):
 *	  point forecasts and prediction intervals of a time-series model.
 *
 * Takes the jsonb of crm.arima, crm.holt_winters, crm.ets, crm.theta or
 * crm.best_model and returns one row per step: the forecast mean and the
 * level prediction interval.  The interval is normal, mean -/+ z sd with z
 * the (1 + level) / 2 normal quantile, wherever the model has a forecast
 * variance (arima_fit.c, holt_winters_fit.c, theta.c, ETS with additive
 * errors); ETS models with multiplicative parts simulate it (ets_fit.c).
 * A combination (crm.best_model) forecasts the mean of its members' means
 * and interval ends.
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

/* crm.forecast's columns: step, yhat, lo, hi */
#define FORECAST_COLUMNS 4

/*
 * The quantile function of the standard normal distribution, 0 < p < 1:
 * Acklam's rational approximation (relative error 1.15e-9), refined by one
 * Halley step on erfc to full double precision.
 */
static double
normal_quantile(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
		-2.759285104469687e+02, 1.383577518672690e+02,
	-3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
		-1.556989798598866e+02, 6.680131188771972e+01,
	-1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
		-2.400758277161838e+00, -2.549732539343734e+00,
	4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
	2.445134137142996e+00, 3.754408661907416e+00};
	double		q,
				r,
				x,
				e,
				u;

	if (p < 0.02425)
	{
		q = sqrt(-2.0 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}
	else if (p <= 1.0 - 0.02425)
	{
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
			(((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
	}
	else
	{
		q = sqrt(-2.0 * log(1.0 - p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}
	e = 0.5 * erfc(-x / M_SQRT2) - p;
	u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
	return x - u / (1.0 + x * u / 2.0);
}

void
crm_normal_interval(const double *mean, const double *variance, int horizon, double level,
					double *lo, double *hi)
{
	double		z = normal_quantile(0.5 + level / 2.0);
	int			h;

	for (h = 0; h < horizon; h++)
	{
		double		half = z * sqrt(variance[h]);

		lo[h] = mean[h] - half;
		hi[h] = mean[h] + half;
	}
}

/*
 * The forecasts of a combination: the mean of its members' means, and of
 * their interval ends.
 */
static void
combination_forecast(Jsonb *json, int horizon, double level, double *mean, double *lo, double *hi)
{
	JsonbValue	key,
			   *members;
	JsonbContainer *array;
	double	   *m = palloc(sizeof(double) * horizon),
			   *l = palloc(sizeof(double) * horizon),
			   *u = palloc(sizeof(double) * horizon);
	int			count,
				i,
				h;

	key.type = jbvString;
	key.val.string.val = "members";
	key.val.string.len = strlen("members");
	members = findJsonbValueFromContainer(&json->root, JB_FOBJECT, &key);
	if (members == NULL || members->type != jbvBinary || !JsonContainerIsArray(members->val.binary.data) ||
		JsonContainerIsScalar(members->val.binary.data) ||
		(count = JsonContainerSize(members->val.binary.data)) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"members\" must be an array of models"),
				 errhint("Pass a model made by crm.best_model.")));
	array = members->val.binary.data;
	memset(mean, 0, sizeof(double) * horizon);
	memset(lo, 0, sizeof(double) * horizon);
	memset(hi, 0, sizeof(double) * horizon);
	for (i = 0; i < count; i++)
	{
		JsonbValue *member = getIthJsonbValueFromContainer(array, i);
		Jsonb	   *model;
		char	   *kind;

		if (member->type != jbvBinary || !JsonContainerIsObject(member->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model key \"members\" must be an array of models")));
		model = JsonbValueToJsonb(member);
		kind = crm_model_get_string(model, "kind");
		if (strcmp(kind, "combination") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a combination cannot contain a combination")));
		crm_model_forecast(model, kind, horizon, level, m, l, u);
		for (h = 0; h < horizon; h++)
		{
			mean[h] += m[h] / count;
			lo[h] += l[h] / count;
			hi[h] += u[h] / count;
		}
	}
}

void
crm_model_forecast(Jsonb *json, const char *kind, int horizon, double level, double *mean,
				   double *lo, double *hi)
{
	double	   *variance = palloc(sizeof(double) * horizon);

	if (strcmp(kind, "arima") == 0)
	{
		ArimaModel	model;

		crm_arima_from_jsonb(json, &model);
		crm_arima_forecast(&model, horizon, mean, variance);
		crm_normal_interval(mean, variance, horizon, level, lo, hi);
	}
	else if (strcmp(kind, "holt_winters") == 0)
	{
		HwModel		model;

		crm_hw_from_jsonb(json, &model);
		crm_hw_forecast(&model, horizon, mean, variance);
		crm_normal_interval(mean, variance, horizon, level, lo, hi);
	}
	else if (strcmp(kind, "ets") == 0)
	{
		EtsModel	model;

		crm_ets_from_jsonb(json, &model);
		crm_ets_forecast(&model, horizon, level, mean, lo, hi);
	}
	else if (strcmp(kind, "theta") == 0)
	{
		ThetaModel	model;

		crm_theta_from_jsonb(json, &model);
		crm_theta_forecast(&model, horizon, level, mean, lo, hi);
	}
	else if (strcmp(kind, "combination") == 0)
		combination_forecast(json, horizon, level, mean, lo, hi);
	else if (strcmp(kind, "linreg") == 0 || strcmp(kind, "logreg") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("crm.forecast needs a time-series model, not a %s model", kind),
				 errhint("Use crm.predict for linreg and logreg models.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown model kind \"%s\"", kind),
				 errhint("Pass a model made by crm.arima, crm.holt_winters, crm.ets, crm.theta or crm.best_model.")));
}

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
			   *lo,
			   *hi;
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
	if (!crm_model_has_key(json, "kind"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model has no \"kind\" key"),
				 errhint("Pass a model made by crm.arima, crm.holt_winters or crm.best_model.")));
	kind = crm_model_get_string(json, "kind");

	mean = palloc(sizeof(double) * horizon);
	lo = palloc(sizeof(double) * horizon);
	hi = palloc(sizeof(double) * horizon);
	crm_model_forecast(json, kind, horizon, level, mean, lo, hi);

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != FORECAST_COLUMNS)
		elog(ERROR, "crm.forecast must return %d columns, not %d", FORECAST_COLUMNS, rsinfo->setDesc->natts);
	for (h = 0; h < horizon; h++)
	{
		Datum		values[FORECAST_COLUMNS];
		bool		nulls[FORECAST_COLUMNS] = {false};

		values[0] = Int32GetDatum(h + 1);
		values[1] = Float8GetDatum(mean[h]);
		values[2] = Float8GetDatum(lo[h]);
		values[3] = Float8GetDatum(hi[h]);
		nulls[1] = !isfinite(mean[h]);
		nulls[2] = nulls[3] = !isfinite(lo[h]) || !isfinite(hi[h]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
