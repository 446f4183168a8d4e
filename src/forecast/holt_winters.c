/*-------------------------------------------------------------------------
 * holt_winters.c
 *	  crm.holt_winters(y, season, seasonal ORDER BY t) and its overload with
 *	  fixed alpha, beta, gamma: final functions and the model's jsonb form.
 *
 * Model keys: kind "holt_winters", n, season, seasonal, alpha, beta, gamma,
 * sse, sigma2 (the variance used for intervals), loglik, aicc, optimized,
 * the state after the last point (level, trend, seasonals -- seasonals[j]
 * is the factor of forecast step j + 1, j + 1 + season, ...), and the
 * initial states (initial_level, initial_trend, initial_seasonals for
 * points 1..season).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "forecast/series.h"
#include "forecast/series_models.h"

PG_FUNCTION_INFO_V1(crm_holt_winters_final);
PG_FUNCTION_INFO_V1(crm_holt_winters_fixed_final);

Datum
crm_hw_to_jsonb(const HwModel *model, const char *extra_json)
{
	StringInfoData buf;

	crm_model_json_begin(&buf, "holt_winters");
	crm_model_json_int(&buf, "n", model->n);
	crm_model_json_int(&buf, "season", model->m);
	crm_model_json_string(&buf, "seasonal", crm_hw_seasonal_name(model->seasonal));
	crm_model_json_number(&buf, "alpha", model->alpha);
	crm_model_json_number(&buf, "beta", model->beta);
	crm_model_json_number(&buf, "gamma", model->gamma);
	crm_model_json_number(&buf, "sse", model->sse);
	crm_model_json_number(&buf, "sigma2", model->sigma2);
	crm_model_json_number(&buf, "loglik", model->loglik);
	crm_model_json_number(&buf, "aicc", model->aicc);
	crm_model_json_bool(&buf, "optimized", model->optimized);
	crm_model_json_number(&buf, "level", model->level);
	crm_model_json_number(&buf, "trend", model->trend);
	crm_model_json_array(&buf, "seasonals", model->seasonals, model->m);
	crm_model_json_number(&buf, "initial_level", model->initial_level);
	crm_model_json_number(&buf, "initial_trend", model->initial_trend);
	crm_model_json_array(&buf, "initial_seasonals", model->initial_seasonals, model->m);
	return crm_model_json_end(&buf, extra_json);
}

void
crm_hw_from_jsonb(Jsonb *json, HwModel *model)
{
	char	   *seasonal;
	int			j;

	memset(model, 0, sizeof(*model));
	model->m = crm_model_get_int(json, "season");
	if (model->m < 2 || model->m > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"season\" must be at least 2")));
	seasonal = crm_model_get_string(json, "seasonal");
	if (!crm_hw_parse_seasonal(seasonal, &model->seasonal))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"seasonal\" must be \"additive\" or \"multiplicative\"")));
	model->n = crm_model_get_int(json, "n");
	model->alpha = crm_model_get_number(json, "alpha");
	model->beta = crm_model_get_number(json, "beta");
	model->gamma = crm_model_get_number(json, "gamma");
	model->sigma2 = crm_model_get_number(json, "sigma2");
	model->level = crm_model_get_number(json, "level");
	model->trend = crm_model_get_number(json, "trend");
	model->seasonals = palloc(sizeof(double) * model->m);
	crm_model_get_array(json, "seasonals", model->seasonals, model->m);
	if (!(model->sigma2 >= 0.0) || !isfinite(model->sigma2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"sigma2\" must be a finite number, not negative")));
	if (!isfinite(model->alpha) || !isfinite(model->beta) || !isfinite(model->gamma) ||
		!isfinite(model->level) || !isfinite(model->trend))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model keys alpha, beta, gamma, level and trend must be finite")));
	for (j = 0; j < model->m; j++)
		if (!isfinite(model->seasonals[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model key \"seasonals\" must hold finite numbers")));
}

static void
hw_seasonal_arg(SeriesState *state, HwSeasonal *seasonal)
{
	const char *text = crm_series_arg_text(state, 1);

	if (!crm_hw_parse_seasonal(text, seasonal))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seasonal must be 'additive' or 'multiplicative', not '%s'", text)));
}

/*
 * crm.holt_winters(y, season, seasonal) final function: smoothing
 * parameters and initial states estimated.
 */
Datum
crm_holt_winters_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	HwSeasonal	seasonal;
	HwModel		model;
	const char *problem;
	int			m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	m = crm_series_arg_int(state, 0);
	hw_seasonal_arg(state, &seasonal);
	if ((problem = crm_hw_fit(state->y, state->n, m, seasonal, &model)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit %s Holt-Winters with season %d to this series",
						crm_hw_seasonal_name(seasonal), m),
				 errdetail_internal("%s", problem)));
	PG_RETURN_DATUM(crm_hw_to_jsonb(&model, NULL));
}

/*
 * crm.holt_winters(y, season, seasonal, alpha, beta, gamma) final function:
 * given smoothing parameters, initial states by statsmodels' heuristic.
 */
Datum
crm_holt_winters_fixed_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	HwSeasonal	seasonal;
	HwModel		model;
	const char *problem;
	int			m;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	m = crm_series_arg_int(state, 0);
	hw_seasonal_arg(state, &seasonal);
	if ((problem = crm_hw_fit_fixed(state->y, state->n, m, seasonal,
								crm_series_arg_float8(state, 2), crm_series_arg_float8(state, 3),
								crm_series_arg_float8(state, 4), &model)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit %s Holt-Winters with season %d to this series",
						crm_hw_seasonal_name(seasonal), m),
				 errdetail_internal("%s", problem)));
	PG_RETURN_DATUM(crm_hw_to_jsonb(&model, NULL));
}
