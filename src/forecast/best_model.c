/*-------------------------------------------------------------------------
 * best_model.c
 *	  crm.best_model(y, season ORDER BY t): the forecasting model a user
 *	  who knows no statistics should get -- the equal-weight combination of
 *	  three different methods, each chosen automatically.
 *
 * The members:
 *   - ETS: the state-space exponential smoothing model with the smallest
 *     AICc in R's default family (ets_fit.c);
 *   - Theta: R's thetaf (theta.c);
 *   - ARIMA: when the Theta method's 90% autocorrelation test finds the
 *     series seasonal (and the season is 2 to ARIMA_MAX_SEASON points), the
 *     seasonal ARIMA(p, 1, q)(0, 1, 1)[m], p, q <= 1, with the smallest AICc
 *     (the airline model and its neighbours; they model the same
 *     differences, so their AICc compare); otherwise ARIMA(p, d, q),
 *     p, q <= 2, d <= 1, compared by AICc on the same data, the one-step-ahead
 *     Gaussian log density of points 2..n given point 1 (for d = 1 this is
 *     exactly its likelihood; for d = 0 the first point's term is removed),
 *     with k = all estimated parameters and n - 1 observations:
 *     AICc = -2 loglik + 2k + 2k(k + 1) / (n - 1 - k - 1).
 *
 * The forecast is the mean of the members' forecasts, and its interval the
 * mean of their interval ends.  Why a combination rather than the member
 * with the best fit: on the 617 monthly series of the M1 competition, 18
 * months ahead, the combination's mean sMAPE and MASE are below those of
 * every member and of R's ets, auto.arima and thetaf (README "How accurate
 * crm.best_model is"; test/t/290_m1_accuracy.pl keeps it so), while picking
 * one model by in-sample fit is not -- forecast errors of different
 * methods partly cancel, a well-known result of the forecasting
 * competitions (Makridakis & Hibon 2000; Hyndman's "comb" benchmark).
 *
 * A member that cannot be fitted (too few points, say) is left out and
 * listed with the reason; a constant series gets a constant forecast.  The
 * jsonb is kind "combination" with the members' models under "members",
 * and "selection" says what was combined ("rule", "chosen", "members",
 * "skipped") and why ("why").
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "forecast/series.h"
#include "forecast/series_models.h"

PG_FUNCTION_INFO_V1(crm_best_model_final);

#define SELECTION_RULE \
	"The mean of the forecasts of ETS (smallest AICc), Theta and ARIMA (smallest AICc; seasonal when the series is)"
#define SELECTION_WHY \
	"Forecasts of different methods err differently and partly cancel: on the 617 monthly series of the " \
	"M1 competition (18 months ahead) this mean had a lower sMAPE and MASE than each member and than " \
	"R's ets, auto.arima and thetaf, while picking one model by its in-sample fit did not."
#define ARIMA_CRITERION \
	"AICc of the one-step-ahead Gaussian likelihood of points 2..n given point 1"

/* The members, in the order they are fitted. */
typedef struct Combination
{
	StringInfoData members;		/* JSON array body: the members' models */
	StringInfoData names;		/* JSON array body: their names */
	StringInfoData notes;		/* JSON array body: members left out, and why */
	StringInfoData chosen;		/* the names joined by " + " */
	int			count;
} Combination;

static void
json_list_add(StringInfo list, const char *text, bool quote)
{
	if (list->len > 0)
		appendStringInfoChar(list, ',');
	if (quote)
		escape_json(list, text);
	else
		appendStringInfoString(list, text);
}

static void
add_member(Combination *comb, const char *name, Datum model)
{
	json_list_add(&comb->members, DatumGetCString(DirectFunctionCall1(jsonb_out, model)), false);
	json_list_add(&comb->names, name, true);
	appendStringInfo(&comb->chosen, "%s%s", comb->count > 0 ? " + " : "", name);
	comb->count++;
}

static void
leave_out(Combination *comb, const char *name, const char *reason)
{
	StringInfoData note;

	initStringInfo(&note);
	appendStringInfoString(&note, "{\"model\":");
	escape_json(&note, name);
	appendStringInfoString(&note, ",\"skipped\":");
	escape_json(&note, reason);
	appendStringInfoChar(&note, '}');
	json_list_add(&comb->notes, note.data, false);
}

static double
common_aicc(double loglik_after_first, int k, int n)
{
	int			used = n - 1;

	if (!isfinite(loglik_after_first) || used - k - 1 <= 0)
		return NAN;
	return -2.0 * loglik_after_first + 2.0 * k + 2.0 * k * (k + 1) / (used - k - 1);
}

/*
 * The ETS member: the family of R's ets(y, "ZZZ"), with a season when it
 * is 2 to ETS_MAX_SEASON points and the series covers two of them.
 */
static void
ets_member(Combination *comb, const double *y, int n, int m)
{
	EtsModel	model;
	StringInfoData candidates,
				extra;
	bool		seasonal = m >= 2 && m <= ETS_MAX_SEASON && (int64) n >= 2 * (int64) m;
	const char *problem;

	initStringInfo(&candidates);
	problem = crm_ets_select(y, n, m, "AM", "NA", seasonal ? "NAM" : "N", "ny", &model, &candidates);
	if (problem != NULL)
	{
		leave_out(comb, "ets", problem);
		return;
	}
	initStringInfo(&extra);
	appendStringInfo(&extra, "\"selection\":{\"criterion\":\"AICc\",\"chosen\":\"%s\",\"candidates\":[%s]}",
					 crm_ets_name(&model.spec), candidates.data);
	add_member(comb, crm_ets_name(&model.spec), crm_ets_to_jsonb(&model, extra.data));
}

static void
theta_member(Combination *comb, const double *y, int n, int m)
{
	ThetaModel	model;
	const char *problem = crm_theta_fit(y, n, m, &model);

	if (problem != NULL)
	{
		leave_out(comb, "theta", problem);
		return;
	}
	add_member(comb, model.seasonal_on ? "theta(seasonally adjusted)" : "theta",
			   crm_theta_to_jsonb(&model, NULL));
}

/* Appends a candidate's JSON entry, fitted (aicc) or skipped (problem). */
static void
arima_candidate(StringInfo candidates, const char *name, const char *problem, double aicc, int k)
{
	StringInfoData entry;

	initStringInfo(&entry);
	appendStringInfoString(&entry, "{\"model\":");
	escape_json(&entry, name);
	if (problem != NULL || isnan(aicc))
	{
		appendStringInfoString(&entry, ",\"skipped\":");
		escape_json(&entry, problem != NULL ? problem : "Too few points for its parameters.");
	}
	else
	{
		crm_model_json_number(&entry, "aicc", aicc);
		crm_model_json_int(&entry, "parameters", k);
	}
	appendStringInfoChar(&entry, '}');
	json_list_add(candidates, entry.data, false);
}

/*
 * A seasonal series (the Theta method's test): ARIMA(p, 1, q)(0, 1, 1)[m],
 * p, q <= 1 -- the airline model and its neighbours -- by AICc, which is
 * comparable here since all four model the same differences.  False when
 * none can be fitted.
 */
static bool
seasonal_arima(const double *y, int n, int m, ArimaModel *best, StringInfo candidates)
{
	double		best_aicc = INFINITY;
	int			p,
				q;

	for (p = 0; p <= 1; p++)
		for (q = 0; q <= 1; q++)
		{
			ArimaModel	model;
			const char *problem = crm_arima_fit_seasonal(y, n, p, 1, q, 0, 1, 1, m, &model);

			arima_candidate(candidates, psprintf("arima(%d,1,%d)(0,1,1)[%d]", p, q, m), problem,
							problem == NULL ? model.aicc : NAN, p + q + 2);
			if (problem == NULL && model.aicc < best_aicc)
			{
				best_aicc = model.aicc;
				*best = model;
			}
		}
	return isfinite(best_aicc);
}

/*
 * Otherwise: ARIMA(p, d, q), p, q <= 2, d <= 1, compared by AICc on the same
 * data (see the file comment).  False when none can be fitted.
 */
static bool
plain_arima(const double *y, int n, ArimaModel *best, StringInfo candidates)
{
	double		best_aicc = INFINITY;
	int			p,
				d,
				q;

	for (d = 0; d <= 1; d++)
		for (p = 0; p <= 2; p++)
			for (q = 0; q <= 2; q++)
			{
				ArimaModel	model;
				const char *problem = crm_arima_fit(y, n, p, d, q, &model);
				int			k = p + q + (d == 0 ? 1 : 0) + 1;
				double		aicc = problem == NULL ? common_aicc(model.loglik_after_first, k, n) : NAN;

				arima_candidate(candidates, crm_arima_name(p, d, q), problem, aicc, k);
				if (problem == NULL && aicc < best_aicc)
				{
					best_aicc = aicc;
					*best = model;
				}
			}
	return isfinite(best_aicc);
}

static void
arima_member(Combination *comb, const double *y, int n, int m)
{
	ArimaModel	best;
	StringInfoData candidates,
				extra;
	const char *criterion = ARIMA_CRITERION;
	char	   *name;
	bool		found = false;

	initStringInfo(&candidates);
	memset(&best, 0, sizeof(best));
	if (m >= 2 && m <= ARIMA_MAX_SEASON && crm_seasonality_test(y, n, m))
	{
		found = seasonal_arima(y, n, m, &best, &candidates);
		criterion = "AICc (the candidates model the same differences)";
	}
	if (!found)
	{
		resetStringInfo(&candidates);
		criterion = ARIMA_CRITERION;
		found = plain_arima(y, n, &best, &candidates);
	}
	if (!found)
	{
		leave_out(comb, "arima", psprintf("No ARIMA model can be fitted to this series of %d points.", n));
		return;
	}
	name = best.m > 1 ? psprintf("arima(%d,%d,%d)(%d,%d,%d)[%d]", best.p, best.d, best.q, best.sp, best.sd,
								 best.sq, best.m) : crm_arima_name(best.p, best.d, best.q);
	initStringInfo(&extra);
	appendStringInfoString(&extra, "\"selection\":{\"criterion\":");
	escape_json(&extra, criterion);
	appendStringInfo(&extra, ",\"chosen\":\"%s\",\"candidates\":[%s]}", name, candidates.data);
	add_member(comb, name, crm_arima_to_jsonb(&best, extra.data));
}

/*
 * A constant series: every method forecasts the constant, with zero-width
 * intervals.
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
	appendStringInfo(&extra, "\"selection\":{\"rule\":\"%s\",\"chosen\":\"arima(0,0,0)\","
					 "\"note\":\"The series is constant.\"}", SELECTION_RULE);
	return crm_arima_to_jsonb(&model, extra.data);
}

Datum
crm_best_model_final(PG_FUNCTION_ARGS)
{
	SeriesState *state;
	Combination comb;
	StringInfoData buf;
	int			m,
				n,
				i;
	bool		constant = true;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesState *) PG_GETARG_POINTER(0);
	m = crm_series_arg_int(state, 0);
	n = state->n;
	if (m < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("season must be at least 1, not %d", m),
				 errhint("Use 1 for a series without seasonality.")));
	for (i = 1; i < n; i++)
		constant = constant && state->y[i] == state->y[0];
	if (constant && n >= 4)
		PG_RETURN_DATUM(constant_model(state->y, n));

	memset(&comb, 0, sizeof(comb));
	initStringInfo(&comb.members);
	initStringInfo(&comb.names);
	initStringInfo(&comb.notes);
	initStringInfo(&comb.chosen);
	ets_member(&comb, state->y, n, m);
	theta_member(&comb, state->y, n, m);
	arima_member(&comb, state->y, n, m);
	if (comb.count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no forecasting model can be fitted to this series"),
				 errdetail("The series has %d points; the simplest model, ARIMA(0,0,0), needs at least 4.", n)));

	crm_model_json_begin(&buf, "combination");
	crm_model_json_int(&buf, "n", n);
	crm_model_json_int(&buf, "season", m);
	crm_model_json_key(&buf, "members");
	appendStringInfo(&buf, "[%s]", comb.members.data);
	crm_model_json_key(&buf, "selection");
	appendStringInfoString(&buf, "{\"rule\":");
	escape_json(&buf, SELECTION_RULE);
	appendStringInfoString(&buf, ",\"why\":");
	escape_json(&buf, SELECTION_WHY);
	appendStringInfoString(&buf, ",\"chosen\":");
	escape_json(&buf, comb.chosen.data);
	appendStringInfo(&buf, ",\"members\":[%s],\"skipped\":[%s]}", comb.names.data, comb.notes.data);
	PG_RETURN_DATUM(crm_model_json_end(&buf, NULL));
}
