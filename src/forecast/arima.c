/*-------------------------------------------------------------------------
 * arima.c
 *	  crm.arima(y, p, d, q ORDER BY t): the final function of the ARIMA
 *	  aggregate, and the model's jsonb form.
 *
 * Model keys: kind "arima", n, n_used (points after differencing), order
 * [p, d, q], ar, ma, for a seasonal model seasonal_order [P, D, Q, m], sar
 * and sma (the seasonal factors' coefficients), mean (no differencing
 * only), sigma2, loglik, aic, aicc, bic, and
 * for crm.forecast the filtered state (state, state_cov divided by sigma2,
 * row-major) and tail, the last d + D m points of the series.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "forecast/series.h"
#include "forecast/series_models.h"

PG_FUNCTION_INFO_V1(crm_arima_final);

Datum
crm_arima_to_jsonb(const ArimaModel *model, const char *extra_json)
{
	StringInfoData buf;
	double		order[3] = {model->p, model->d, model->q};

	crm_model_json_begin(&buf, "arima");
	crm_model_json_int(&buf, "n", model->n);
	crm_model_json_int(&buf, "n_used", model->n_used);
	crm_model_json_array(&buf, "order", order, 3);
	crm_model_json_array(&buf, "ar", model->ar, model->p);
	crm_model_json_array(&buf, "ma", model->ma, model->q);
	if (model->m > 1)
	{
		double		seasonal_order[4] = {model->sp, model->sd, model->sq, model->m};

		crm_model_json_array(&buf, "seasonal_order", seasonal_order, 4);
		crm_model_json_array(&buf, "sar", model->sar, model->sp);
		crm_model_json_array(&buf, "sma", model->sma, model->sq);
	}
	if (model->has_mean)
		crm_model_json_number(&buf, "mean", model->mean);
	crm_model_json_number(&buf, "sigma2", model->sigma2);
	crm_model_json_number(&buf, "loglik", model->loglik);
	crm_model_json_number(&buf, "aic", model->aic);
	crm_model_json_number(&buf, "aicc", model->aicc);
	crm_model_json_number(&buf, "bic", model->bic);
	crm_model_json_array(&buf, "state", model->state, model->r);
	crm_model_json_array(&buf, "state_cov", model->state_cov, model->r * model->r);
	crm_model_json_array(&buf, "tail", model->tail, model->d + model->sd * model->m);
	return crm_model_json_end(&buf, extra_json);
}

static void
require_finite(double value, const char *key)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"%s\" must be finite", key)));
}

void
crm_arima_from_jsonb(Jsonb *json, ArimaModel *model)
{
	double		order[3];
	const char *problem;
	int			i;

	memset(model, 0, sizeof(*model));
	crm_model_get_array(json, "order", order, 3);
	for (i = 0; i < 3; i++)
		if (order[i] != rint(order[i]) || fabs(order[i]) > 100)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model key \"order\" must hold three small integers")));
	model->p = (int) order[0];
	model->d = (int) order[1];
	model->q = (int) order[2];
	if ((problem = crm_arima_check_order(model->p, model->d, model->q)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ARIMA order in model"),
				 errdetail_internal("%s", problem)));
	model->m = 1;
	if (crm_model_has_key(json, "seasonal_order"))
	{
		double		seasonal_order[4];

		crm_model_get_array(json, "seasonal_order", seasonal_order, 4);
		for (i = 0; i < 4; i++)
			if (seasonal_order[i] != rint(seasonal_order[i]) || fabs(seasonal_order[i]) > 1000)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("model key \"seasonal_order\" must hold four small integers")));
		model->sp = (int) seasonal_order[0];
		model->sd = (int) seasonal_order[1];
		model->sq = (int) seasonal_order[2];
		model->m = (int) seasonal_order[3];
		if ((problem = crm_arima_check_seasonal_order(model->sp, model->sd, model->sq, model->m)) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid seasonal ARIMA order in model"),
					 errdetail_internal("%s", problem)));
		crm_model_get_array(json, "sar", model->sar, model->sp);
		crm_model_get_array(json, "sma", model->sma, model->sq);
		for (i = 0; i < model->sp; i++)
			require_finite(model->sar[i], "sar");
		for (i = 0; i < model->sq; i++)
			require_finite(model->sma[i], "sma");
	}
	model->r = Max(model->p + model->sp * model->m, model->q + model->sq * model->m + 1);
	model->has_mean = model->d == 0 && model->sd == 0;
	model->n = crm_model_get_int(json, "n");
	crm_model_get_array(json, "ar", model->ar, model->p);
	crm_model_get_array(json, "ma", model->ma, model->q);
	if (model->has_mean)
		model->mean = crm_model_get_number(json, "mean");
	model->sigma2 = crm_model_get_number(json, "sigma2");
	if (!(model->sigma2 >= 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"sigma2\" must not be negative")));
	crm_model_get_array(json, "state", model->state, model->r);
	crm_model_get_array(json, "state_cov", model->state_cov, model->r * model->r);
	crm_model_get_array(json, "tail", model->tail, model->d + model->sd * model->m);

	for (i = 0; i < model->p; i++)
		require_finite(model->ar[i], "ar");
	for (i = 0; i < model->q; i++)
		require_finite(model->ma[i], "ma");
	require_finite(model->mean, "mean");
	require_finite(model->sigma2, "sigma2");
}

/*
 * crm.arima final function: fits the collected series, with the seasonal
 * order and season when the aggregate has them.
 */
Datum
crm_arima_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	ArimaModel	model;
	const char *problem;
	int			p,
				d,
				q,
				sp = 0,
				sd = 0,
				sq = 0,
				m = 1;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	p = crm_series_arg_int(state, 0);
	d = crm_series_arg_int(state, 1);
	q = crm_series_arg_int(state, 2);
	if (state->nargs > 3)
	{
		sp = crm_series_arg_int(state, 3);
		sd = crm_series_arg_int(state, 4);
		sq = crm_series_arg_int(state, 5);
		m = crm_series_arg_int(state, 6);
	}

	if ((problem = crm_arima_check_order(p, d, q)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ARIMA order"),
				 errdetail_internal("%s", problem)));
	if (state->nargs > 3 && (problem = crm_arima_check_seasonal_order(sp, sd, sq, m)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid seasonal ARIMA order"),
				 errdetail_internal("%s", problem)));
	if ((problem = crm_arima_fit_seasonal(state->y, state->n, p, d, q, sp, sd, sq, m, &model)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit %s to this series", crm_arima_display_name(p, d, q, sp, sd, sq, m)),
				 errdetail_internal("%s", problem)));
	PG_RETURN_DATUM(crm_arima_to_jsonb(&model, NULL));
}
