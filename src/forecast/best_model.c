/*-------------------------------------------------------------------------
 * best_model.c
 *	  crm.best_model(y, season ORDER BY t): the forecasting model a user
 *	  who knows no statistics should get, chosen by AICc among
 *	  ARIMA(p, d, q) with p, q <= 2, d <= 1, and Holt-Winters (additive;
 *	  multiplicative too when the data are positive).
 *
 * AICc values are only comparable between models of the same data, and
 * these candidates model different data: ARIMA with d = 1 the n - 1
 * differences, ARIMA with d = 0 all n points, Holt-Winters all n points with
 * its initial states as parameters.  So every candidate is scored on the
 * same thing, the one-step-ahead Gaussian log density of points 2..n given
 * point 1 (for d = 1 this is exactly its likelihood; for d = 0 the first
 * point's term is removed; for Holt-Winters the first error is left out of
 * the error variance), with k = all estimated parameters including the
 * variance and the initial states, and n - 1 observations:
 *
 *	   AICc = -2 loglik + 2k + 2k(k + 1) / (n - 1 - k - 1)
 *
 * Candidates that cannot be fitted, or have too many parameters for the
 * data, are listed as skipped with the reason.  The chosen model's jsonb
 * gets a "selection" key with the criterion and every candidate.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/json.h"

#include "forecast/series.h"
#include "forecast/series_models.h"

PG_FUNCTION_INFO_V1(crm_best_model_final);

#define SELECTION_CRITERION \
	"AICc of the one-step-ahead Gaussian likelihood of points 2..n given point 1"

typedef struct Selection
{
	StringInfoData candidates;	/* JSON array body */
	double		best_aicc;
	char	   *best_name;
	bool		best_is_arima;
	ArimaModel	arima;
	HwModel		hw;
} Selection;

static double
common_aicc(double loglik_after_first, int k, int n)
{
	int			used = n - 1;

	if (!isfinite(loglik_after_first) || used - k - 1 <= 0)
		return NAN;
	return -2.0 * loglik_after_first + 2.0 * k + 2.0 * k * (k + 1) / (used - k - 1);
}

static void
record_skipped(Selection *sel, const char *name, const char *reason)
{
	model_json_key(&sel->candidates, NULL);
	appendStringInfo(&sel->candidates, "{\"model\":\"%s\",\"skipped\":", name);
	escape_json(&sel->candidates, reason);
	appendStringInfoChar(&sel->candidates, '}');
}

/* Records a fitted candidate; true when it is the best so far. */
static bool
record_fitted(Selection *sel, const char *name, double aicc, int k)
{
	model_json_key(&sel->candidates, NULL);
	appendStringInfoChar(&sel->candidates, '{');
	model_json_string(&sel->candidates, "model", name);
	model_json_number(&sel->candidates, "aicc", aicc);
	model_json_int(&sel->candidates, "parameters", k);
	appendStringInfoChar(&sel->candidates, '}');
	if (aicc < sel->best_aicc)
	{
		sel->best_aicc = aicc;
		sel->best_name = pstrdup(name);
		return true;
	}
	return false;
}

static void
try_arima(Selection *sel, const double *y, int n, int p, int d, int q)
{
	ArimaModel	model;
	char	   *name = arima_name(p, d, q);
	const char *problem = arima_fit(y, n, p, d, q, &model);
	int			k = p + q + (d == 0 ? 1 : 0) + 1;
	double		aicc;

	if (problem != NULL)
	{
		record_skipped(sel, name, problem);
		return;
	}
	aicc = common_aicc(model.loglik_after_first, k, n);
	if (isnan(aicc))
	{
		record_skipped(sel, name, "Too few points for its parameters.");
		return;
	}
	if (record_fitted(sel, name, aicc, k))
	{
		sel->arima = model;
		sel->best_is_arima = true;
	}
}

static void
try_holt_winters(Selection *sel, const double *y, int n, int m, HwSeasonal seasonal)
{
	HwModel		model;
	char	   *name = psprintf("holt_winters(%s)", hw_seasonal_name(seasonal));
	const char *problem;
	double		aicc;

	if (m < 2)
	{
		record_skipped(sel, name, "A season of 1 point means no seasonality.");
		return;
	}
	if ((problem = hw_fit(y, n, m, seasonal, &model)) != NULL)
	{
		record_skipped(sel, name, problem);
		return;
	}
	aicc = common_aicc(model.loglik_after_first, model.nparams, n);
	if (isnan(aicc))
	{
		record_skipped(sel, name, "Too few points for its parameters.");
		return;
	}
	if (record_fitted(sel, name, aicc, model.nparams))
	{
		sel->hw = model;
		sel->best_is_arima = false;
	}
}

/*
 * A constant series: every candidate fits it perfectly (zero variance), so
 * the forecast is that constant, with zero-width intervals.
 */
static Datum
constant_model(const double *y, int n)
{
	ArimaModel	model;
	StringInfoData extra;

	memset(&model, 0, sizeof(model));
	model.n = model.n_used = n;
	model.has_mean = true;
	model.mean = y[0];
	model.r = 1;
	model.loglik = model.aic = model.aicc = model.bic = INFINITY;
	initStringInfo(&extra);
	appendStringInfo(&extra, "\"selection\":{\"criterion\":\"%s\",\"chosen\":\"arima(0,0,0)\","
					 "\"candidates\":[{\"model\":\"arima(0,0,0)\",\"note\":\"The series is constant.\"}]}",
					 SELECTION_CRITERION);
	return arima_to_jsonb(&model, extra.data);
}

Datum
crm_best_model_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	Selection	sel;
	StringInfoData extra;
	int			m,
				n,
				p,
				d,
				q,
				i;
	bool		positive = true,
				constant = true;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	m = series_arg_int(state, 0);
	n = state->n;
	if (m < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("season must be at least 1, not %d", m),
				 errhint("Use 1 for a series without seasonality.")));
	for (i = 0; i < n; i++)
	{
		positive = positive && state->y[i] > 0.0;
		constant = constant && state->y[i] == state->y[0];
	}
	if (constant && n >= 4)
		PG_RETURN_DATUM(constant_model(state->y, n));

	memset(&sel, 0, sizeof(sel));
	initStringInfo(&sel.candidates);
	sel.best_aicc = INFINITY;
	for (d = 0; d <= 1; d++)
		for (p = 0; p <= 2; p++)
			for (q = 0; q <= 2; q++)
				try_arima(&sel, state->y, n, p, d, q);
	try_holt_winters(&sel, state->y, n, m, HW_ADDITIVE);
	if (positive)
		try_holt_winters(&sel, state->y, n, m, HW_MULTIPLICATIVE);
	else
		record_skipped(&sel, "holt_winters(multiplicative)",
					   "Multiplicative seasonality needs positive data.");

	if (sel.best_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no forecasting model can be fitted to this series"),
				 errdetail("The series has %d points; the simplest model, ARIMA(0,0,0), needs at least 4.", n)));

	initStringInfo(&extra);
	appendStringInfo(&extra, "\"selection\":{\"criterion\":\"%s\",\"chosen\":\"%s\",\"candidates\":[%s]}",
					 SELECTION_CRITERION, sel.best_name, sel.candidates.data);
	if (sel.best_is_arima)
		PG_RETURN_DATUM(arima_to_jsonb(&sel.arima, extra.data));
	PG_RETURN_DATUM(hw_to_jsonb(&sel.hw, extra.data));
}
