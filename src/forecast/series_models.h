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

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define ARIMA_MAX_P 5
#define ARIMA_MAX_D 2
#define ARIMA_MAX_Q 5
/* seasonal orders (P, D, Q) and the longest season of a seasonal ARIMA */
#define ARIMA_MAX_SP 2
#define ARIMA_MAX_SD 1
#define ARIMA_MAX_SQ 2
#define ARIMA_MAX_SEASON 24
/* the state: max(p + P m, q + Q m + 1) */
#define ARIMA_MAX_R (ARIMA_MAX_Q + ARIMA_MAX_SQ * ARIMA_MAX_SEASON + 1)
/* points the differencing (1 - B)^d (1 - B^m)^D reaches back */
#define ARIMA_MAX_LAGS (ARIMA_MAX_D + ARIMA_MAX_SD * ARIMA_MAX_SEASON)

typedef struct ArimaModel
{
	int			p,
				d,
				q;
	/* seasonal orders and season; sp = sd = sq = 0 and m = 1 without */
	int			sp,
				sd,
				sq,
				m;
	int			n;				/* points in the series */
	int			n_used;			/* points after differencing */
	bool		has_mean;		/* d = 0: the series has a mean */
	double		ar[ARIMA_MAX_P];
	double		ma[ARIMA_MAX_Q];
	double		sar[ARIMA_MAX_SP];
	double		sma[ARIMA_MAX_SQ];
	double		mean;
	double		sigma2;
	double		loglik;
	double		aic,
				aicc,
				bic;
	/* log density of y[2..n] given y[1], for crm.best_model (d <= 1, no season) */
	double		loglik_after_first;
	/* filtered state a[n|n] and its covariance divided by sigma2 */
	int			r;				/* state dimension max(p + sp m, q + sq m + 1) */
	double		state[ARIMA_MAX_R];
	double		state_cov[ARIMA_MAX_R * ARIMA_MAX_R];
	double		tail[ARIMA_MAX_LAGS];	/* last d + sd m points, oldest first */
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
extern const char *crm_arima_check_order(int p, int d, int q);
extern const char *crm_arima_check_seasonal_order(int sp, int sd, int sq, int m);
extern const char *crm_arima_fit(const double *y, int n, int p, int d, int q, ArimaModel *model);
extern const char *crm_arima_fit_seasonal(const double *y, int n, int p, int d, int q, int sp, int sd,
										  int sq, int m, ArimaModel *model);
extern void crm_arima_forecast(const ArimaModel *model, int horizon, double *mean, double *variance);
extern Datum crm_arima_to_jsonb(const ArimaModel *model, const char *extra_json);
extern void crm_arima_from_jsonb(Jsonb *json, ArimaModel *model);
extern char *crm_arima_name(int p, int d, int q);
extern char *crm_arima_display_name(int p, int d, int q, int sp, int sd, int sq, int m);

/* Holt-Winters: fitting and forecasts in holt_winters_fit.c, jsonb in holt_winters.c */
extern bool crm_hw_parse_seasonal(const char *text, HwSeasonal *seasonal);
extern const char *crm_hw_check_data(const double *y, int n, int m, HwSeasonal seasonal, bool optimized);
extern const char *crm_hw_fit(const double *y, int n, int m, HwSeasonal seasonal, HwModel *model);
extern const char *crm_hw_fit_fixed(const double *y, int n, int m, HwSeasonal seasonal,
								double alpha, double beta, double gamma, HwModel *model);
extern void crm_hw_forecast(const HwModel *model, int horizon, double *mean, double *variance);
extern Datum crm_hw_to_jsonb(const HwModel *model, const char *extra_json);
extern void crm_hw_from_jsonb(Jsonb *json, HwModel *model);
extern const char *crm_hw_seasonal_name(HwSeasonal seasonal);

/*
 * ETS: exponential smoothing state-space models (ets_fit.c, jsonb in ets.c).
 * Components are 'N' (none), 'A' (additive) or 'M' (multiplicative); a
 * damped additive trend is trend 'A' with damped set.
 */
#define ETS_MAX_SEASON 24
/* smoothing parameters, level, trend and season - 1 seasonal states */
#define ETS_MAX_PARAMS (4 + 2 + ETS_MAX_SEASON - 1)

typedef struct EtsSpec
{
	char		error,
				trend,
				season;
	bool		damped;
} EtsSpec;

typedef struct EtsModel
{
	EtsSpec		spec;
	int			n;
	int			m;				/* season length (1 without a season) */
	double		alpha,
				beta,			/* 0 without a trend */
				gamma,			/* 0 without a season */
				phi;			/* 1 unless damped */
	int			nparams;		/* estimated, the variance included */
	double		sigma2;			/* residual variance, SSE / (n - nparams) */
	double		loglik;			/* Gaussian, constants included */
	double		aic,
				aicc,
				bic;
	double		mse;			/* mean squared one-step error */
	/* states after the last point: seasonal[j] serves forecast step j + 1 */
	double		level,
				slope;
	double		seasonal[ETS_MAX_SEASON];
	/* initial states: seasonal for points 1..m */
	double		initial_level,
				initial_slope;
	double		initial_seasonal[ETS_MAX_SEASON];
} EtsModel;

extern const char *crm_ets_parse_spec(const char *text, char *error, char *trend, char *season,
								  char *damped);
extern char *crm_ets_name(const EtsSpec *spec);
extern const char *crm_ets_fit(const double *y, int n, int m, const EtsSpec *spec, bool sse_criterion,
						   EtsModel *model);
extern const char *crm_ets_select(const double *y, int n, int m, const char *error, const char *trend,
							  const char *season, const char *damped, EtsModel *model,
							  StringInfo candidates);
extern void crm_ets_forecast(const EtsModel *model, int horizon, double level, double *mean,
						 double *lo, double *hi);
extern Datum crm_ets_to_jsonb(const EtsModel *model, const char *extra_json);
extern void crm_ets_from_jsonb(Jsonb *json, EtsModel *model);

/* Theta method (theta.c) */
typedef struct ThetaModel
{
	int			n;
	int			m;
	bool		seasonal_on;	/* adjusted by a classical decomposition */
	double		alpha;			/* simple exponential smoothing */
	double		level;			/* its final level */
	double		drift;			/* half the slope of the regression on time */
	double		sigma2;			/* of the smoothing's one-step errors */
	double		loglik;			/* of the smoothing, on the adjusted series */
	double	   *seasonal;		/* m factors: seasonal[j] serves step j + 1 */
} ThetaModel;

extern const char *crm_theta_fit(const double *y, int n, int m, ThetaModel *model);
extern void crm_theta_forecast(const ThetaModel *model, int horizon, double level, double *mean,
						   double *lo, double *hi);
extern Datum crm_theta_to_jsonb(const ThetaModel *model, const char *extra_json);
extern void crm_theta_from_jsonb(Jsonb *json, ThetaModel *model);

/* Classical decomposition and the Theta seasonality test (series_decompose.c) */
extern bool crm_classical_decompose(const double *y, int n, int m, bool multiplicative,
									double *figure);
extern bool crm_seasonality_test(const double *y, int n, int m);

/*
 * Forecast means and level intervals of a model of the given kind (arima,
 * holt_winters, ets, theta or combination), in forecast.c.
 */
extern void crm_model_forecast(Jsonb *json, const char *kind, int horizon, double level,
							   double *mean, double *lo, double *hi);

/* Normal intervals mean -/+ z sd from variances, for level in (0, 1). */
extern void crm_normal_interval(const double *mean, const double *variance, int horizon,
								double level, double *lo, double *hi);

#endif							/* CRM_FORECAST_SERIES_MODELS_H */
