/*-------------------------------------------------------------------------
 * series_models.h
 *	  The time-series models (ARIMA, Holt-Winters): fitting, forecasting,
 *	  and their jsonb form.  Shared by the aggregates' final functions,
 *	  crm.forecast and crm.best_model.
 *
 * Fitting functions do not raise errors for data that a model cannot fit:
 * they return a sentence saying why (so crm.best_model can skip that
 * candidate), or NULL on success.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_FORECAST_SERIES_MODELS_H
#define CRM_FORECAST_SERIES_MODELS_H

#include "utils/jsonb.h"

#define ARIMA_MAX_P 5
#define ARIMA_MAX_D 2
#define ARIMA_MAX_Q 5
#define ARIMA_MAX_R (Max(ARIMA_MAX_P, ARIMA_MAX_Q + 1))

typedef struct ArimaModel
{
	int			p,
				d,
				q;
	int			n;				/* points in the series */
	int			n_used;			/* points after differencing */
	bool		has_mean;		/* d = 0: the series has a mean */
	double		ar[ARIMA_MAX_P];
	double		ma[ARIMA_MAX_Q];
	double		mean;
	double		sigma2;
	double		loglik;
	double		aic,
				aicc,
				bic;
	/* log density of y[2..n] given y[1], for crm.best_model (d <= 1) */
	double		loglik_after_first;
	/* filtered state a[n|n] and its covariance divided by sigma2 */
	int			r;				/* state dimension max(p, q + 1) */
	double		state[ARIMA_MAX_R];
	double		state_cov[ARIMA_MAX_R * ARIMA_MAX_R];
	double		tail[ARIMA_MAX_D];	/* last d points of the series, oldest first */
} ArimaModel;

typedef enum HwSeasonal
{
	HW_ADDITIVE,
	HW_MULTIPLICATIVE
} HwSeasonal;

typedef struct HwModel
{
	int			n;
	int			m;				/* season length */
	HwSeasonal	seasonal;
	bool		optimized;		/* parameters and initial states estimated */
	double		alpha,
				beta,
				gamma;
	double		sse;
	double		sigma2;			/* for intervals: sse / (n - estimated params) */
	int			nparams;		/* estimated parameters, sigma2 included */
	double		loglik;
	double		aicc;
	double		loglik_after_first;
	double		level,			/* state after the last point */
				trend;
	double	   *seasonals;		/* m factors: seasonals[j] applies to step j+1 */
	double		initial_level,
				initial_trend;
	double	   *initial_seasonals;	/* m factors for points 1..m */
} HwModel;

/* ARIMA: fitting and forecasts in arima_fit.c, jsonb in arima.c */
extern const char *arima_check_order(int p, int d, int q);
extern const char *arima_fit(const double *y, int n, int p, int d, int q, ArimaModel *model);
extern void arima_forecast(const ArimaModel *model, int horizon, double *mean, double *variance);
extern Datum arima_to_jsonb(const ArimaModel *model, const char *extra_json);
extern void arima_from_jsonb(Jsonb *json, ArimaModel *model);
extern char *arima_name(int p, int d, int q);

/* Holt-Winters: fitting and forecasts in holt_winters_fit.c, jsonb in holt_winters.c */
extern bool hw_parse_seasonal(const char *text, HwSeasonal *seasonal);
extern const char *hw_check_data(const double *y, int n, int m, HwSeasonal seasonal, bool optimized);
extern const char *hw_fit(const double *y, int n, int m, HwSeasonal seasonal, HwModel *model);
extern const char *hw_fit_fixed(const double *y, int n, int m, HwSeasonal seasonal,
								double alpha, double beta, double gamma, HwModel *model);
extern void hw_forecast(const HwModel *model, int horizon, double *mean, double *variance);
extern Datum hw_to_jsonb(const HwModel *model, const char *extra_json);
extern void hw_from_jsonb(Jsonb *json, HwModel *model);
extern const char *hw_seasonal_name(HwSeasonal seasonal);

#endif							/* CRM_FORECAST_SERIES_MODELS_H */
