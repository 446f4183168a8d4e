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
hw_to_jsonb(const HwModel *model, const char *extra_json)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	model_json_string(&buf, "kind", "holt_winters");
	model_json_int(&buf, "n", model->n);
	model_json_int(&buf, "season", model->m);
	model_json_string(&buf, "seasonal", hw_seasonal_name(model->seasonal));
	model_json_number(&buf, "alpha", model->alpha);
	model_json_number(&buf, "beta", model->beta);
	model_json_number(&buf, "gamma", model->gamma);
	model_json_number(&buf, "sse", model->sse);
	model_json_number(&buf, "sigma2", model->sigma2);
	model_json_number(&buf, "loglik", model->loglik);
	model_json_number(&buf, "aicc", model->aicc);
	model_json_key(&buf, "optimized");
	appendStringInfoString(&buf, model->optimized ? "true" : "false");
	model_json_number(&buf, "level", model->level);
	model_json_number(&buf, "trend", model->trend);
	model_json_array(&buf, "seasonals", model->seasonals, model->m);
	model_json_number(&buf, "initial_level", model->initial_level);
	model_json_number(&buf, "initial_trend", model->initial_trend);
	model_json_array(&buf, "initial_seasonals", model->initial_seasonals, model->m);
	if (extra_json != NULL)
	{
		model_json_key(&buf, NULL);
		appendStringInfoString(&buf, extra_json);
	}
	appendStringInfoChar(&buf, '}');
	return model_json_to_jsonb(&buf);
}

void
hw_from_jsonb(Jsonb *json, HwModel *model)
{
	char	   *seasonal;
	int			j;

	memset(model, 0, sizeof(*model));
	model->m = model_get_int(json, "season");
	if (model->m < 2 || model->m > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"season\" must be at least 2")));
	seasonal = model_get_string(json, "seasonal");
	if (!hw_parse_seasonal(seasonal, &model->seasonal))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model key \"seasonal\" must be \"additive\" or \"multiplicative\"")));
	model->n = model_get_int(json, "n");
	model->alpha = model_get_number(json, "alpha");
	model->beta = model_get_number(json, "beta");
	model->gamma = model_get_number(json, "gamma");
	model->sigma2 = model_get_number(json, "sigma2");
	model->level = model_get_number(json, "level");
	model->trend = model_get_number(json, "trend");
	model->seasonals = palloc(sizeof(double) * model->m);
	model_get_array(json, "seasonals", model->seasonals, model->m);
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
	const char *text = series_arg_text(state, 1);

	if (!hw_parse_seasonal(text, seasonal))
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
	m = series_arg_int(state, 0);
	hw_seasonal_arg(state, &seasonal);
	if ((problem = hw_fit(state->y, state->n, m, seasonal, &model)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit %s Holt-Winters with season %d to this series",
						hw_seasonal_name(seasonal), m),
				 errdetail_internal("%s", problem)));
	PG_RETURN_DATUM(hw_to_jsonb(&model, NULL));
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
	m = series_arg_int(state, 0);
	hw_seasonal_arg(state, &seasonal);
	if ((problem = hw_fit_fixed(state->y, state->n, m, seasonal,
								series_arg_float8(state, 2), series_arg_float8(state, 3),
								series_arg_float8(state, 4), &model)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit %s Holt-Winters with season %d to this series",
						hw_seasonal_name(seasonal), m),
				 errdetail_internal("%s", problem)));
	PG_RETURN_DATUM(hw_to_jsonb(&model, NULL));
}
