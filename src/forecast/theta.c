/*-------------------------------------------------------------------------
 * theta.c
 *	  crm.theta(y, season ORDER BY t): the Theta method of Assimakopoulos &
 *	  Nikolopoulos (2000), the winner of the M3 competition, in the form of
 *	  Hyndman & Billah (2003) and R's forecast::thetaf; its fit, forecasts
 *	  and jsonb form.
 *
 * When the series is seasonal by the 90% autocorrelation test
 * (series_decompose.c), it is divided by the seasonal indexes of a
 * classical multiplicative decomposition (unless an index is near zero).
 * The adjusted series x is forecast by simple exponential smoothing --
 * ETS(A,N,N), alpha and the initial level minimising the one-step MSE
 * (ets_fit.c) -- plus a drift of half the slope b of the least-squares
 * line through x, which is SES with drift (Hyndman & Billah):
 *
 *	   yhat[n + h] = l[n] + (b / 2) (h - 1 + (1 - (1 - alpha)^n) / alpha)
 *
 * then multiplied back by the seasonal index of step h.  The interval is
 * R's: yhat -/+ z sigma sqrt(1 + (h - 1) alpha^2), sigma2 being the
 * smoothing's residual variance.
 *
 * Model keys: kind "theta", n, season, seasonal (whether the series was
 * adjusted), alpha, level, drift, sigma2, loglik (of the smoothing, on the
 * adjusted series, constants included) and seasonals (the season indexes,
 * the one of forecast step 1 first; only when seasonal).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "forecast/series.h"
#include "forecast/series_models.h"

PG_FUNCTION_INFO_V1(crm_theta_final);

/* Simple exponential smoothing estimates 2 parameters and needs 7 points. */
#define THETA_MIN_POINTS 7
/* Seasonal indexes below this make the adjustment unusable (R's check). */
#define THETA_SMALLEST_INDEX 1e-4

const char *
crm_theta_fit(const double *y, int n, int m, ThetaModel *model)
{
	static const EtsSpec ses = {'A', 'N', 'N', false};
	EtsModel	smoothing;
	double	   *x = palloc(sizeof(double) * n),
			   *figure = NULL;
	double		sx = 0,
				sy = 0,
				sxx = 0,
				sxy = 0;
	bool		constant = true;
	const char *problem;
	int			t,
				j;

	memset(model, 0, sizeof(*model));
	model->n = n;
	model->m = m;
	if (n < THETA_MIN_POINTS)
		return psprintf("The Theta method needs at least %d points, and the series has %d.", THETA_MIN_POINTS, n);
	memcpy(x, y, sizeof(double) * n);
	for (t = 1; t < n; t++)
		constant = constant && y[t] == y[0];
	if (m > 1 && !constant && crm_seasonality_test(y, n, m))
	{
		figure = palloc(sizeof(double) * m);
		model->seasonal_on = crm_classical_decompose(y, n, m, true, figure);
		for (j = 0; j < m && model->seasonal_on; j++)
			model->seasonal_on = fabs(figure[j]) >= THETA_SMALLEST_INDEX;
		if (model->seasonal_on)
		{
			for (t = 0; t < n; t++)
				x[t] = y[t] / figure[t % m];
			/* the index of forecast step j + 1 */
			model->seasonal = palloc(sizeof(double) * m);
			for (j = 0; j < m; j++)
				model->seasonal[j] = figure[(n + j) % m];
		}
	}

	if ((problem = crm_ets_fit(x, n, 1, &ses, true, &smoothing)) != NULL)
		return problem;
	for (t = 0; t < n; t++)
	{
		sx += t;
		sy += x[t];
		sxx += (double) t * t;
		sxy += t * x[t];
	}
	model->alpha = Max(1e-10, smoothing.alpha);
	model->level = smoothing.level;
	model->drift = 0.5 * (n * sxy - sx * sy) / (n * sxx - sx * sx);
	model->sigma2 = smoothing.sigma2;
	model->loglik = smoothing.loglik;
	if (!isfinite(model->drift))
		return pstrdup("The Theta method cannot fit a line to this series.");
	return NULL;
}

void
crm_theta_forecast(const ThetaModel *model, int horizon, double level, double *mean, double *lo,
			   double *hi)
{
	double	   *variance = palloc(sizeof(double) * horizon);
	double		start = (1.0 - pow(1.0 - model->alpha, model->n)) / model->alpha;
	int			h;

	for (h = 0; h < horizon; h++)
	{
		mean[h] = model->level + model->drift * (h + start);
		if (model->seasonal_on)
			mean[h] *= model->seasonal[h % model->m];
		variance[h] = model->sigma2 * (1.0 + h * model->alpha * model->alpha);
	}
	crm_normal_interval(mean, variance, horizon, level, lo, hi);
}

Datum
crm_theta_to_jsonb(const ThetaModel *model, const char *extra_json)
{
	StringInfoData buf;

	crm_model_json_begin(&buf, "theta");
	crm_model_json_int(&buf, "n", model->n);
	crm_model_json_int(&buf, "season", model->m);
	crm_model_json_bool(&buf, "seasonal", model->seasonal_on);
	crm_model_json_number(&buf, "alpha", model->alpha);
	crm_model_json_number(&buf, "level", model->level);
	crm_model_json_number(&buf, "drift", model->drift);
	crm_model_json_number(&buf, "sigma2", model->sigma2);
	crm_model_json_number(&buf, "loglik", model->loglik);
	if (model->seasonal_on)
		crm_model_json_array(&buf, "seasonals", model->seasonal, model->m);
	return crm_model_json_end(&buf, extra_json);
}

void
crm_theta_from_jsonb(Jsonb *json, ThetaModel *model)
{
	int			j;

	memset(model, 0, sizeof(*model));
	model->n = crm_model_get_int(json, "n");
	model->m = crm_model_get_int(json, "season");
	model->alpha = crm_model_get_number(json, "alpha");
	model->level = crm_model_get_number(json, "level");
	model->drift = crm_model_get_number(json, "drift");
	model->sigma2 = crm_model_get_number(json, "sigma2");
	model->seasonal_on = crm_model_has_key(json, "seasonals");
	if (model->n < 1 || model->m < 1 || model->m > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model keys \"n\" and \"season\" must be positive")));
	if (!(model->alpha > 0.0 && model->alpha <= 1.0) || !isfinite(model->level) ||
		!isfinite(model->drift) || !(model->sigma2 >= 0.0) || !isfinite(model->sigma2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model keys alpha (in (0, 1]), level, drift and sigma2 (not negative) must be finite")));
	if (model->seasonal_on)
	{
		model->seasonal = palloc(sizeof(double) * model->m);
		crm_model_get_array(json, "seasonals", model->seasonal, model->m);
		for (j = 0; j < model->m; j++)
			if (!isfinite(model->seasonal[j]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("model key \"seasonals\" must hold finite numbers")));
	}
}

/*
 * crm.theta(y, season) final function.
 */
Datum
crm_theta_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	ThetaModel	model;
	const char *problem;
	int			m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	m = crm_series_arg_int(state, 0);
	if (m < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("season must be at least 1, not %d", m),
				 errhint("Use 1 for a series without seasonality.")));
	if (m > state->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the season (%d points) is longer than the series (%d points)", m, state->n)));
	if ((problem = crm_theta_fit(state->y, state->n, m, &model)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit the Theta method to this series"),
				 errdetail_internal("%s", problem)));
	PG_RETURN_DATUM(crm_theta_to_jsonb(&model, NULL));
}
