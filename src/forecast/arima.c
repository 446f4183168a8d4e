/*-------------------------------------------------------------------------
 * arima.c
 *	  crm.arima(y, p, d, q ORDER BY t): the final function of the ARIMA
 *	  aggregate, and the model's jsonb form.
 *
 * Model keys: kind "arima", n, n_used (points after differencing), order
 * [p, d, q], ar, ma, mean (d = 0 only), sigma2, loglik, aic, aicc, bic, and
 * for crm.forecast the filtered state (state, state_cov divided by sigma2,
 * row-major) and tail, the last d points of the series.  A model of a
 * seasonally adjusted series (crm.best_model) also has season and
 * seasonals, the indexes that multiply forecast steps 1..season, and so on.
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
	if (model->has_mean)
		crm_model_json_number(&buf, "mean", model->mean);
	crm_model_json_number(&buf, "sigma2", model->sigma2);
	crm_model_json_number(&buf, "loglik", model->loglik);
	crm_model_json_number(&buf, "aic", model->aic);
	crm_model_json_number(&buf, "aicc", model->aicc);
	crm_model_json_number(&buf, "bic", model->bic);
	crm_model_json_array(&buf, "state", model->state, model->r);
	crm_model_json_array(&buf, "state_cov", model->state_cov, model->r * model->r);
	crm_model_json_array(&buf, "tail", model->tail, model->d);
	if (model->seasonals != NULL)
	{
		crm_model_json_int(&buf, "season", model->season);
		crm_model_json_array(&buf, "seasonals", model->seasonals, model->season);
	}
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
	model->r = Max(model->p, model->q + 1);
	model->has_mean = model->d == 0;
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
	crm_model_get_array(json, "tail", model->tail, model->d);

	for (i = 0; i < model->p; i++)
		require_finite(model->ar[i], "ar");
	for (i = 0; i < model->q; i++)
		require_finite(model->ma[i], "ma");
	require_finite(model->mean, "mean");
	require_finite(model->sigma2, "sigma2");
	if (crm_model_has_key(json, "seasonals"))
	{
		model->season = crm_model_get_int(json, "season");
		if (model->season < 2 || model->season > 100000000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model key \"season\" must be at least 2")));
		model->seasonals = palloc(sizeof(double) * model->season);
		crm_model_get_array(json, "seasonals", model->seasonals, model->season);
		for (i = 0; i < model->season; i++)
			require_finite(model->seasonals[i], "seasonals");
	}
}

/*
 * crm.arima final function: fits the collected series.
 */
Datum
crm_arima_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	ArimaModel	model;
	const char *problem;
	int			p,
				d,
				q;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	p = crm_series_arg_int(state, 0);
	d = crm_series_arg_int(state, 1);
	q = crm_series_arg_int(state, 2);

	if ((problem = crm_arima_check_order(p, d, q)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ARIMA order"),
				 errdetail_internal("%s", problem)));
	if ((problem = crm_arima_fit(state->y, state->n, p, d, q, &model)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit ARIMA(%d,%d,%d) to this series", p, d, q),
				 errdetail_internal("%s", problem)));
	PG_RETURN_DATUM(crm_arima_to_jsonb(&model, NULL));
}
