/*-------------------------------------------------------------------------
 * ets.c
 *	  crm.ets(y, season [, model] ORDER BY t): the final function of the
 *	  ETS aggregate, and the model's jsonb form.
 *
 * The model argument names the components as R's ets() does: three
 * letters, error (A, M or Z), trend (N, A, Ad or Z) and season (N, A, M or
 * Z), Z meaning "choose by AICc" (ets_fit.c lists the family); the default
 * is 'ZZZ'.  A letter other than Z is taken as asked, so a model the data
 * cannot carry (multiplicative parts on data with zeros, a season on a
 * series shorter than two seasons) is an error rather than a quiet change.
 *
 * Model keys: kind "ets", n, season, components [error, trend, season]
 * (trend "Ad" when damped), damped, alpha, beta, gamma, phi (1 when not
 * damped), sigma2 (the one-step error variance used for intervals; of
 * relative errors when the error is multiplicative), loglik, aic, aicc,
 * bic, mse, parameters (estimated ones, the variance included), states
 * [level, slope, then the season seasonal states: the one serving forecast
 * step 1 first] after the last point, and initial_states in the same
 * layout for the first point; crm.ets with a Z adds "selection" (every
 * candidate's AICc).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "forecast/series.h"
#include "forecast/series_models.h"

PG_FUNCTION_INFO_V1(crm_ets_final);

static void
ets_json_states(StringInfo buf, const char *key, const EtsModel *model, double level,
				double slope, const double *seasonal)
{
	double		states[2 + ETS_MAX_SEASON];
	int			count = model->spec.season != 'N' ? 2 + model->m : 2;

	states[0] = level;
	states[1] = slope;
	memcpy(states + 2, seasonal, sizeof(double) * (count - 2));
	crm_model_json_array(buf, key, states, count);
}

Datum
crm_ets_to_jsonb(const EtsModel *model, const char *extra_json)
{
	StringInfoData buf;
	char		error[2] = {model->spec.error, '\0'},
				season[2] = {model->spec.season, '\0'};
	const char *trend = model->spec.trend == 'N' ? "N" : model->spec.damped ? "Ad" : "A";

	crm_model_json_begin(&buf, "ets");
	crm_model_json_int(&buf, "n", model->n);
	crm_model_json_int(&buf, "season", model->m);
	crm_model_json_key(&buf, "components");
	appendStringInfo(&buf, "[\"%s\",\"%s\",\"%s\"]", error, trend, season);
	crm_model_json_bool(&buf, "damped", model->spec.damped);
	crm_model_json_number(&buf, "alpha", model->alpha);
	crm_model_json_number(&buf, "beta", model->beta);
	crm_model_json_number(&buf, "gamma", model->gamma);
	crm_model_json_number(&buf, "phi", model->phi);
	crm_model_json_number(&buf, "sigma2", model->sigma2);
	crm_model_json_number(&buf, "loglik", model->loglik);
	crm_model_json_number(&buf, "aic", model->aic);
	crm_model_json_number(&buf, "aicc", model->aicc);
	crm_model_json_number(&buf, "bic", model->bic);
	crm_model_json_number(&buf, "mse", model->mse);
	crm_model_json_int(&buf, "parameters", model->nparams);
	ets_json_states(&buf, "states", model, model->level, model->slope, model->seasonal);
	ets_json_states(&buf, "initial_states", model, model->initial_level, model->initial_slope,
					model->initial_seasonal);
	return crm_model_json_end(&buf, extra_json);
}

static void
ets_bad_model(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid ETS model: %s", what),
			 errhint("Pass a model made by crm.ets or crm.best_model.")));
}

void
crm_ets_from_jsonb(Jsonb *json, EtsModel *model)
{
	char	   *components[3];
	double		states[2 + ETS_MAX_SEASON];
	int			i;

	memset(model, 0, sizeof(*model));
	model->n = crm_model_get_int(json, "n");
	model->m = crm_model_get_int(json, "season");
	for (i = 0; i < 3; i++)
		components[i] = crm_model_get_string_element(json, "components", i);
	if (strlen(components[0]) != 1 || strchr("AM", components[0][0]) == NULL)
		ets_bad_model("the error component must be \"A\" or \"M\"");
	if (strcmp(components[1], "N") != 0 && strcmp(components[1], "A") != 0 &&
		strcmp(components[1], "Ad") != 0)
		ets_bad_model("the trend component must be \"N\", \"A\" or \"Ad\"");
	if (strlen(components[2]) != 1 || strchr("NAM", components[2][0]) == NULL)
		ets_bad_model("the season component must be \"N\", \"A\" or \"M\"");
	model->spec.error = components[0][0];
	model->spec.trend = components[1][0];
	model->spec.damped = components[1][1] == 'd';
	model->spec.season = components[2][0];
	if (model->spec.season == 'N' ? model->m != 1 : (model->m < 2 || model->m > ETS_MAX_SEASON))
		ets_bad_model("\"season\" does not fit the season component");
	model->alpha = crm_model_get_number(json, "alpha");
	model->beta = crm_model_get_number(json, "beta");
	model->gamma = crm_model_get_number(json, "gamma");
	model->phi = crm_model_get_number(json, "phi");
	model->sigma2 = crm_model_get_number(json, "sigma2");
	crm_model_get_array(json, "states", states, model->spec.season != 'N' ? 2 + model->m : 2);
	model->level = states[0];
	model->slope = states[1];
	if (model->spec.season != 'N')
		memcpy(model->seasonal, states + 2, sizeof(double) * model->m);
	if (!(model->sigma2 >= 0.0) || !isfinite(model->sigma2))
		ets_bad_model("\"sigma2\" must be a finite number, not negative");
	if (!isfinite(model->alpha) || !isfinite(model->beta) || !isfinite(model->gamma) ||
		!isfinite(model->phi) || !(model->alpha > 0.0))
		ets_bad_model("alpha must be positive, and alpha, beta, gamma and phi finite");
	for (i = 0; i < (model->spec.season != 'N' ? 2 + model->m : 2); i++)
		if (!isfinite(states[i]))
			ets_bad_model("\"states\" must hold finite numbers");
}

/*
 * crm.ets(y, season [, model]) final function.
 */
Datum
crm_ets_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	EtsModel	model;
	StringInfoData candidates,
				extra;
	const char *spec_text = "ZZZ",
			   *problem;
	char		error,
				trend,
				season,
				damped;
	int			m,
				n,
				i;
	bool		positive = true,
				automatic;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	m = crm_series_arg_int(state, 0);
	n = state->n;
	if (state->nargs > 1)
		spec_text = crm_series_arg_text(state, 1);
	if (m < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("season must be at least 1, not %d", m),
				 errhint("Use 1 for a series without seasonality.")));
	if ((problem = crm_ets_parse_spec(spec_text, &error, &trend, &season, &damped)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ETS model \"%s\"", spec_text),
				 errdetail_internal("%s", problem)));
	if (error == 'A' && season == 'M')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ETS model \"%s\" is not allowed", spec_text),
				 errdetail("Additive errors with multiplicative seasonality can have infinite forecast variances."),
				 errhint("Use multiplicative errors (\"M\") with multiplicative seasonality.")));
	for (i = 0; i < n; i++)
		positive = positive && state->y[i] > 0.0;
	if ((error == 'M' || season == 'M') && !positive)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ETS model \"%s\" needs positive data", spec_text),
				 errhint("Use additive components (\"A\") for data with zeros or negative values.")));
	if (season == 'A' || season == 'M')
	{
		if (m < 2 || m > ETS_MAX_SEASON)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a seasonal ETS model needs a season of 2 to %d points, not %d", ETS_MAX_SEASON, m)));
		if ((int64) n < 2 * (int64) m)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the season (%d points) is longer than half the series (%d points)", m, n)));
	}
	/* a Z season is none when the data cannot show one (as R does) */
	if (season == 'Z' && (m < 2 || m > ETS_MAX_SEASON || (int64) n < 2 * (int64) m))
		season = 'N';
	automatic = error == 'Z' || trend == 'Z' || season == 'Z';

	if (!automatic)
	{
		EtsSpec		spec = {error, trend, season, damped == 'y'};

		if ((problem = crm_ets_fit(state->y, n, m, &spec, false, &model)) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot fit ETS model \"%s\" to this series", spec_text),
					 errdetail_internal("%s", problem)));
		PG_RETURN_DATUM(crm_ets_to_jsonb(&model, NULL));
	}

	initStringInfo(&candidates);
	problem = crm_ets_select(state->y, n, m, error == 'Z' ? "AM" : (char[]) {error, '\0'},
						 trend == 'Z' ? "NA" : (char[]) {trend, '\0'},
						 season == 'Z' ? "NAM" : (char[]) {season, '\0'},
						 damped == 'z' ? "ny" : (char[]) {damped, '\0'},
						 &model, &candidates);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot fit ETS model \"%s\" to this series", spec_text),
				 errdetail_internal("%s", problem)));
	initStringInfo(&extra);
	appendStringInfo(&extra, "\"selection\":{\"criterion\":\"AICc\",\"chosen\":\"%s\",\"candidates\":[%s]}",
					 crm_ets_name(&model.spec), candidates.data);
	PG_RETURN_DATUM(crm_ets_to_jsonb(&model, extra.data));
}
