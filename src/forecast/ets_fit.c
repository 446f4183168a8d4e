/*-------------------------------------------------------------------------
 * ets_fit.c
 *	  Exponential smoothing state-space models (ETS): recursions,
 *	  likelihood, estimation, selection over the family by AICc, forecasts
 *	  and prediction intervals.
 *
 * The models are those of Hyndman, Koehler, Snyder & Grose (2002) and
 * Hyndman, Koehler, Ord & Snyder (2008), as R's forecast::ets fits them:
 * error A (additive) or M (multiplicative), trend N, A or Ad (additive
 * damped), season N, A or M.  With q = l + phi b (l without a trend) and s
 * the seasonal state of the same season one cycle ago, the one-step
 * forecast is f = q, q + s or q s, and the states move on (component form,
 * the same for both error types):
 *
 *	   l' = q + alpha (p - q),   p = y, y - s or y / s
 *	   b' = phi b + (beta / alpha) (l' - l - phi b)
 *	   s' = s + gamma (u - s),   u = y - q or y / q
 *
 * so beta and gamma are R's beta and gamma (beta <= alpha, gamma <= 1 -
 * alpha).  The error is e = y - f (A) or (y - f) / f (M), and the
 * likelihood, with the error variance concentrated out, is
 *
 *	   -2 loglik = n log(2 pi e'e / n) + n + 2 sum log|f| (M only)
 *
 * Estimation follows R: the smoothing parameters, the initial level and
 * slope and m - 1 initial seasonal states (the last one is implied: the
 * states sum to 0, or to m when multiplicative) are all searched together
 * by Nelder-Mead (optimize.c) from R's starting values -- initial states
 * from a classical decomposition of the first cycles (series_decompose.c)
 * or, with fewer than three cycles, a regression on a line and one
 * harmonic; alpha = 0.2 / m and so on -- inside R's default bounds
 * ("both"): 1e-4 <= alpha <= 0.9999, 1e-4 <= beta <= alpha,
 * 1e-4 <= gamma <= 1 - alpha, 0.8 <= phi <= 0.98, and the admissible
 * region (Hyndman, Akram & Archibald 2008): the characteristic polynomial
 * of the seasonal model has no root outside the unit circle (with a margin
 * of 1e-7), tested with the Schur-Cohn recursion instead of computing the
 * roots.
 *
 * The family searched for a 'Z' component is R's default one: additive
 * errors never with multiplicative seasonality (infinite variances),
 * multiplicative errors only for positive data, no multiplicative trend,
 * a season only when it is 2 to 24 points and shorter than the series; a
 * model is skipped when the series has no more than 4 points beyond its
 * parameters.  The model with the smallest AICc wins.
 *
 * Forecasts are the recursions run forward without errors, except that
 * with multiplicative errors and seasonality the mean carries the sigma2
 * terms of its exact expectation.  Every model of this family has an
 * analytic forecast variance (Hyndman et al. 2008, chapter 6, classes 1 to
 * 3; see crm_ets_forecast), so no interval needs simulating (only the models
 * R's default family leaves out would: multiplicative trends, additive
 * errors with multiplicative seasonality).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/json.h"

#include "forecast/optimize.h"
#include "forecast/series.h"
#include "forecast/series_models.h"

/* R's default bounds ("usual" part of bounds = "both"). */
#define ETS_LOWER 1e-4
#define ETS_UPPER 0.9999
#define ETS_PHI_LOWER 0.8
#define ETS_PHI_UPPER 0.98
/* R's Nelder-Mead settings for ets(). */
#define ETS_RELTOL 1.4901161193847656e-08	/* sqrt(DBL_EPSILON) */
#define ETS_MAX_EVALUATIONS 2000
/* Guards of R's recursions against division by (nearly) zero. */
#define ETS_TOL 1e-10
#define ETS_HUGE 1e10
/*
 * Roots of the characteristic polynomial up to this much outside the unit
 * circle are admitted (R: 1e-10, with its root finder's rounding).  Without
 * damping the polynomial always has the root 1, which the Schur-Cohn test
 * must see inside: the margin keeps rounding from deciding.
 */
#define ETS_ROOT_MARGIN 1e-7

typedef struct EtsWork
{
	const double *y;
	int			n,
				m;				/* season length, 1 without a season */
	EtsSpec		spec;
	bool		sse_criterion;	/* minimise the one-step MSE, not -loglik */
	int			nsmooth;		/* free smoothing parameters */
	int			nparams;		/* all free parameters */
	/* results of the last pass */
	double		sse,
				sum_log_f;
	double		level,
				slope;
	double		seasonal[ETS_MAX_SEASON];	/* circular, see ets_pass */
	int			next;			/* index in seasonal serving the next point */
} EtsWork;

/* Parameters decoded from an optimiser vector. */
typedef struct EtsParams
{
	double		alpha,
				beta,
				gamma,
				phi;
	double		level,
				slope;
	/* R's order: seasonal[0] the latest state, seasonal[m - 1] the oldest */
	double		seasonal[ETS_MAX_SEASON];
} EtsParams;

const char *
crm_ets_parse_spec(const char *text, char *error, char *trend, char *season, char *damped)
{
	int			len = strlen(text),
				pos = 1;

	if (len < 3 || len > 4 || strchr("AMZ", text[0]) == NULL)
		return "The model must be three letters -- error (A, M or Z), trend (N, A, Ad or Z), season (N, A, M or Z) -- such as 'MAdM' or 'ZZZ'.";
	*error = text[0];
	if (strchr("NAZ", text[pos]) == NULL)
		return "The trend must be N, A, Ad or Z.";
	*trend = text[pos++];
	*damped = *trend == 'Z' ? 'z' : 'n';
	if (*trend == 'A' && text[pos] == 'd')
	{
		*damped = 'y';
		pos++;
	}
	if (pos != len - 1 || strchr("NAMZ", text[pos]) == NULL)
		return "The model must be three letters -- error (A, M or Z), trend (N, A, Ad or Z), season (N, A, M or Z) -- such as 'MAdM' or 'ZZZ'.";
	*season = text[pos];
	return NULL;
}

char *
crm_ets_name(const EtsSpec *spec)
{
	return psprintf("ets(%c,%s,%c)", spec->error,
					spec->trend == 'N' ? "N" : spec->damped ? "Ad" : "A", spec->season);
}

/*
 * R's starting states: a classical decomposition of the series (a line
 * and one harmonic when it has fewer than three cycles) gives the seasonal
 * states; a line through the first max(10, 2m) seasonally adjusted points
 * gives the level and slope.
 */
static bool
ets_initial_states(const double *y, int n, int m, const EtsSpec *spec, EtsParams *init)
{
	double	   *adjusted = palloc(sizeof(double) * n);
	int			maxn,
				t,
				j;

	memcpy(adjusted, y, sizeof(double) * n);
	if (spec->season != 'N')
	{
		bool		mult = spec->season == 'M';
		double	   *detrended = palloc(sizeof(double) * n);	/* y.d$seasonal */

		if (n >= 3 * m)
		{
			double		figure[ETS_MAX_SEASON];

			if (!crm_classical_decompose(y, n, m, mult, figure))
				return false;
			for (t = 0; t < n; t++)
				detrended[t] = figure[t % m];
		}
		else
		{
			/* regression on 1, t, sin and cos of 2 pi t / m (no sin for m = 2) */
			int			k = m == 2 ? 3 : 4;
			double		xtx[16] = {0},
						xty[4] = {0};

			for (t = 0; t < n; t++)
			{
				double		x[4] = {1.0, t + 1.0, cos(2.0 * M_PI * (t + 1) / m),
				sin(2.0 * M_PI * (t + 1) / m)};
				int			a,
							b;

				for (a = 0; a < k; a++)
				{
					xty[a] += x[a] * y[t];
					for (b = 0; b < k; b++)
						xtx[a * k + b] += x[a] * x[b];
				}
			}
			if (!crm_dense_solve(k, xtx, xty))
				return false;
			for (t = 0; t < n; t++)
			{
				double		line = xty[0] + xty[1] * (t + 1);

				detrended[t] = mult ? y[t] / line : y[t] - line;
			}
		}
		for (j = 0; j < m - 1; j++)
			init->seasonal[j] = detrended[m - 1 - j];
		if (mult)
		{
			double		sum = 0.0;

			for (j = 0; j < m - 1; j++)
			{
				init->seasonal[j] = Max(init->seasonal[j], 0.01);
				sum += init->seasonal[j];
			}
			if (sum > m)
				for (j = 0; j < m - 1; j++)
					init->seasonal[j] /= sum + 0.01 * (m - 1);
			for (t = 0; t < n; t++)
				adjusted[t] = y[t] / Max(detrended[t], 0.01);
		}
		else
			for (t = 0; t < n; t++)
				adjusted[t] = y[t] - detrended[t];
	}

	maxn = Min(Max(10, 2 * m), n);
	if (spec->trend == 'N')
	{
		init->level = 0.0;
		for (t = 0; t < maxn; t++)
			init->level += adjusted[t] / maxn;
		init->slope = 0.0;
	}
	else
	{
		double		sx = 0,
					sy = 0,
					sxx = 0,
					sxy = 0;

		for (t = 0; t < maxn; t++)
		{
			double		x = t + 1.0;

			sx += x;
			sy += adjusted[t];
			sxx += x * x;
			sxy += x * adjusted[t];
		}
		init->slope = (maxn * sxy - sx * sy) / (maxn * sxx - sx * sx);
		init->level = (sy - init->slope * sx) / maxn;
		if (fabs(init->level + init->slope) < 1e-8)
		{
			init->level *= 1.001;
			init->slope *= 0.999;
		}
	}
	return isfinite(init->level) && isfinite(init->slope);
}

/*
 * Schur-Cohn test: true when every root of sum_i a[i] z^i (degree n,
 * a[n] != 0; a is overwritten) lies strictly inside the unit circle.
 */
static bool
roots_inside_unit_circle(double *a, int n)
{
	double		b[ETS_MAX_SEASON + 2];

	Assert(n < (int) lengthof(b));
	while (n > 0)
	{
		double		k = a[0] / a[n];
		int			i;

		if (!(fabs(k) < 1.0))
			return false;
		/* (p(z) - k z^n p(1/z)) / z has the same roots inside, one fewer */
		for (i = 0; i < n; i++)
			b[i] = a[i + 1] - k * a[n - 1 - i];
		memcpy(a, b, sizeof(double) * n);
		n--;
	}
	return true;
}

/*
 * R's admissible(): the parameters give a forecastable model (Hyndman,
 * Akram & Archibald 2008).
 */
static bool
ets_admissible(const EtsWork *wk, const EtsParams *p)
{
	double		alpha = p->alpha,
				beta = wk->spec.trend != 'N' ? p->beta : 0.0,
				gamma = p->gamma,
				phi = wk->spec.damped ? p->phi : 1.0;
	int			m = wk->m;

	if (wk->spec.season == 'N')
	{
		if (alpha < 1.0 - 1.0 / phi || alpha > 1.0 + 1.0 / phi)
			return false;
		if (wk->spec.trend != 'N' &&
			(beta < alpha * (phi - 1.0) || beta > (1.0 + phi) * (2.0 - alpha)))
			return false;
	}
	else
	{
		double		poly[ETS_MAX_SEASON + 2],
					grow = 1.0 + ETS_ROOT_MARGIN,
					power = 1.0;
		int			i;

		if (gamma < Max(1.0 - 1.0 / phi - alpha, 0.0) || gamma > 1.0 + 1.0 / phi - alpha)
			return false;
		if (alpha < 1.0 - 1.0 / phi - gamma * (1.0 - m + phi + phi * m) / (2.0 * phi * m))
			return false;
		if (beta < -(1.0 - phi) * (gamma / m + alpha))
			return false;
		/* the characteristic polynomial; roots up to 1 + ETS_ROOT_MARGIN pass */
		poly[0] = phi * (1.0 - alpha - gamma);
		poly[1] = alpha + beta - alpha * phi + gamma - 1.0;
		for (i = 2; i < m; i++)
			poly[i] = alpha + beta - alpha * phi;
		poly[m] = alpha + beta - phi;
		poly[m + 1] = 1.0;
		for (i = 0; i <= m + 1; i++)
		{
			poly[i] *= power;
			power *= grow;
		}
		if (!roots_inside_unit_circle(poly, m + 1))
			return false;
	}
	return true;
}

/* R's bounds = "both": the usual box, then admissibility. */
static bool
ets_in_bounds(const EtsWork *wk, const EtsParams *p)
{
	if (p->alpha < ETS_LOWER || p->alpha > ETS_UPPER)
		return false;
	if (wk->spec.trend != 'N' &&
		(p->beta < ETS_LOWER || p->beta > p->alpha || p->beta > ETS_UPPER))
		return false;
	if (wk->spec.damped && (p->phi < ETS_PHI_LOWER || p->phi > ETS_PHI_UPPER))
		return false;
	if (wk->spec.season != 'N' &&
		(p->gamma < ETS_LOWER || p->gamma > 1.0 - p->alpha || p->gamma > ETS_UPPER))
		return false;
	return ets_admissible(wk, p);
}

/*
 * One pass of the recursions over the series from the states in p.  Leaves
 * the SSE of the errors and the sum of log|f| in wk, and the final states
 * (wk->seasonal is circular: wk->seasonal[wk->next] serves the next point,
 * the ones after it the points after that).  False when the recursions
 * leave the finite numbers.
 */
static pg_attribute_always_inline bool
ets_pass_of(EtsWork *wk, const EtsParams *p, char error, char trend, char season)
{
	const double *y = wk->y;
	double		alpha = p->alpha,
				beta_ratio = trend != 'N' ? p->beta / p->alpha : 0.0,
				gamma = p->gamma,
				phi = wk->spec.damped ? p->phi : 1.0,
				l = p->level,
				b = trend != 'N' ? p->slope : 0.0,
				sse = 0.0,
				f_product = 1.0;	/* prod |f| = f_product 2^f_exponent */
	double	   *s = wk->seasonal;
	int			m = wk->m,
				f_exponent = 0,
				j = 0,
				t;

	/* circular buffer: s[0] is R's oldest state, which serves point 1 */
	for (t = 0; t < m; t++)
		s[t] = season != 'N' ? p->seasonal[m - 1 - t] : 0.0;

	for (t = 0; t < wk->n; t++)
	{
		double		phib = phi * b,
					q = l + phib,
					sv = s[j],
					f,
					e,
					level_input,
					lnew;

		f = season == 'N' ? q : season == 'A' ? q + sv : q * sv;
		if (error == 'A')
			e = y[t] - f;
		else
		{
			if (!(fabs(f) > ETS_TOL))
				return false;
			e = (y[t] - f) / f;
			/* sum log|f| as one log of the product, kept in range by frexp */
			f_product *= fabs(f);
			if (f_product > 1e100 || f_product < 1e-100)
			{
				int			exponent;

				f_product = frexp(f_product, &exponent);
				f_exponent += exponent;
			}
		}
		sse += e * e;

		if (season == 'N')
			level_input = y[t];
		else if (season == 'A')
			level_input = y[t] - sv;
		else
			level_input = fabs(sv) < ETS_TOL ? ETS_HUGE : y[t] / sv;
		lnew = q + alpha * (level_input - q);
		if (trend != 'N')
			b = phib + beta_ratio * (lnew - l - phib);
		if (season != 'N')
		{
			double		u;

			if (season == 'A')
				u = y[t] - q;
			else
				u = fabs(q) < ETS_TOL ? ETS_HUGE : y[t] / q;
			s[j] = sv + gamma * (u - sv);
			if (++j == m)
				j = 0;
		}
		l = lnew;
	}
	wk->sse = sse;
	wk->sum_log_f = error == 'M' ? log(f_product) + f_exponent * M_LN2 : 0.0;
	wk->level = l;
	wk->slope = b;
	wk->next = j;
	return isfinite(sse) && isfinite(wk->sum_log_f) && isfinite(l) && isfinite(b);
}

/*
 * ets_pass_of for wk's components: each combination is a call with
 * constant components, so the compiler builds one loop per model without
 * the tests on the components (the likelihood is evaluated up to 2,000
 * times per model).
 */
#define ETS_PASS_SEASONS(e, t) \
	(wk->spec.season == 'N' ? ets_pass_of(wk, p, e, t, 'N') : \
	 wk->spec.season == 'A' ? ets_pass_of(wk, p, e, t, 'A') : ets_pass_of(wk, p, e, t, 'M'))

static bool
ets_pass(EtsWork *wk, const EtsParams *p)
{
	if (wk->spec.error == 'A')
		return wk->spec.trend == 'N' ? ETS_PASS_SEASONS('A', 'N') : ETS_PASS_SEASONS('A', 'A');
	return wk->spec.trend == 'N' ? ETS_PASS_SEASONS('M', 'N') : ETS_PASS_SEASONS('M', 'A');
}

/* Optimiser vector -> parameters, the implied last seasonal state included. */
static void
ets_decode(const EtsWork *wk, const double *x, EtsParams *p)
{
	int			i = 0,
				j;

	p->alpha = x[i++];
	p->beta = wk->spec.trend != 'N' ? x[i++] : 0.0;
	p->gamma = wk->spec.season != 'N' ? x[i++] : 0.0;
	p->phi = wk->spec.damped ? x[i++] : 1.0;
	p->level = x[i++];
	p->slope = wk->spec.trend != 'N' ? x[i++] : 0.0;
	if (wk->spec.season != 'N')
	{
		double		sum = 0.0;

		for (j = 0; j < wk->m - 1; j++)
		{
			p->seasonal[j] = x[i++];
			sum += p->seasonal[j];
		}
		p->seasonal[wk->m - 1] = (wk->spec.season == 'M' ? wk->m : 0.0) - sum;
	}
}

static int
ets_encode(const EtsWork *wk, const EtsParams *p, double *x)
{
	int			i = 0,
				j;

	x[i++] = p->alpha;
	if (wk->spec.trend != 'N')
		x[i++] = p->beta;
	if (wk->spec.season != 'N')
		x[i++] = p->gamma;
	if (wk->spec.damped)
		x[i++] = p->phi;
	x[i++] = p->level;
	if (wk->spec.trend != 'N')
		x[i++] = p->slope;
	if (wk->spec.season != 'N')
		for (j = 0; j < wk->m - 1; j++)
			x[i++] = p->seasonal[j];
	return i;
}

/* R's criterion n log(e'e) (+ 2 sum log|f|), or the one-step MSE. */
static double
ets_objective(const double *x, void *context)
{
	EtsWork    *wk = (EtsWork *) context;
	EtsParams	p;
	double		value;
	int			j;

	ets_decode(wk, x, &p);
	if (!ets_in_bounds(wk, &p))
			return INFINITY;
	if (wk->spec.season == 'M')
		for (j = 0; j < wk->m; j++)
			if (p.seasonal[j] < 0.0)
				return INFINITY;
	if (!ets_pass(wk, &p))
		return INFINITY;
	if (wk->sse_criterion)
		return wk->sse / wk->n;
	value = wk->n * log(wk->sse) + 2.0 * wk->sum_log_f;
	if (isnan(value))
		return INFINITY;
	return Max(value, -1e10);
}

/* Free parameters of a model: smoothing, level, slope, m - 1 seasonal. */
static int
ets_free_parameters(const EtsSpec *spec, int m)
{
	return 2 + (spec->trend != 'N' ? 2 : 0) + (spec->season != 'N' ? m : 0) + (spec->damped ? 1 : 0);
}

const char *
crm_ets_fit(const double *y, int n, int m, const EtsSpec *spec, bool sse_criterion, EtsModel *model)
{
	EtsWork		wk;
	EtsParams	p;
	double		x[ETS_MAX_PARAMS];
	OptResult	result;
	double		lik;
	int			nx,
				j,
				t;

	memset(&wk, 0, sizeof(wk));
	memset(&p, 0, sizeof(p));
	memset(model, 0, sizeof(*model));
	wk.y = y;
	wk.n = n;
	wk.m = spec->season != 'N' ? m : 1;
	wk.spec = *spec;
	wk.sse_criterion = sse_criterion;
	wk.nparams = ets_free_parameters(spec, wk.m);

	if (spec->season != 'N' && (m < 2 || m > ETS_MAX_SEASON))
		return psprintf("A seasonal ETS model needs a season of 2 to %d points, not %d.", ETS_MAX_SEASON, m);
	if (spec->season != 'N' && n < 2 * m)
		return psprintf("The season (%d points) is longer than half the series (%d points).", m, n);
	if (n <= wk.nparams + 4)
		return psprintf("%s estimates %d parameters and needs at least %d points, and the series has %d.",
						crm_ets_name(spec), wk.nparams, wk.nparams + 5, n);
	if (spec->error == 'M' || spec->season == 'M')
		for (t = 0; t < n; t++)
			if (!(y[t] > 0.0))
				return psprintf("%s needs positive data, and point %d is %g.", crm_ets_name(spec), t + 1, y[t]);

	if (!ets_initial_states(y, n, wk.m, spec, &p))
		return pstrdup("The initial states cannot be estimated from this series.");
	/* R's initparam() with its default bounds */
	p.alpha = ETS_LOWER + 0.2 * (ETS_UPPER - ETS_LOWER) / wk.m;
	if (spec->trend != 'N')
	{
		p.beta = ETS_LOWER + 0.1 * (Min(ETS_UPPER, p.alpha) - ETS_LOWER);
		if (p.beta < 0.0 || p.beta > p.alpha)
			p.beta = p.alpha - 0.001;
	}
	if (spec->season != 'N')
		p.gamma = ETS_LOWER + 0.05 * (Min(ETS_UPPER, 1.0 - p.alpha) - ETS_LOWER);
	p.phi = spec->damped ? ETS_PHI_LOWER + 0.99 * (ETS_PHI_UPPER - ETS_PHI_LOWER) : 1.0;

	nx = ets_encode(&wk, &p, x);
	Assert(nx == wk.nparams);
	result = crm_opt_nelder_mead(ets_objective, &wk, nx, x, ETS_RELTOL, ETS_MAX_EVALUATIONS);
	if (!isfinite(result.value))
		return psprintf("%s has no admissible parameters with a finite likelihood for this series.",
						crm_ets_name(spec));

	ets_decode(&wk, x, &p);
	if (!ets_pass(&wk, &p) || !(wk.sse > 0.0))
		return psprintf("%s fits this series exactly, so it has no error variance to model.",
						crm_ets_name(spec));

	model->spec = *spec;
	model->n = n;
	model->m = wk.m;
	model->alpha = p.alpha;
	model->beta = p.beta;
	model->gamma = p.gamma;
	model->phi = p.phi;
	model->nparams = wk.nparams + 1;
	lik = n * log(wk.sse) + (spec->error == 'M' ? 2.0 * wk.sum_log_f : 0.0);
	model->loglik = -0.5 * (lik + n * (log(2.0 * M_PI / n) + 1.0));
	model->aic = -2.0 * model->loglik + 2.0 * model->nparams;
	model->aicc = model->aic + 2.0 * model->nparams * (model->nparams + 1) / (n - model->nparams - 1);
	model->bic = -2.0 * model->loglik + log((double) n) * model->nparams;
	model->mse = wk.sse / n;
	model->sigma2 = wk.sse / (n - model->nparams);
	model->level = wk.level;
	model->slope = wk.slope;
	model->initial_level = p.level;
	model->initial_slope = p.slope;
	for (j = 0; j < wk.m; j++)
	{
		model->seasonal[j] = spec->season != 'N' ? wk.seasonal[(wk.next + j) % wk.m] : 0.0;
		model->initial_seasonal[j] = spec->season != 'N' ? p.seasonal[wk.m - 1 - j] : 0.0;
	}
	return NULL;
}

/* Appends a JSON candidate entry, fitted or skipped, to candidates. */
static void
ets_record(StringInfo candidates, const char *name, const EtsModel *fitted, const char *skipped)
{
	if (candidates == NULL)
		return;
	if (candidates->len > 0)
		appendStringInfoChar(candidates, ',');
	appendStringInfo(candidates, "{\"model\":\"%s\"", name);
	if (skipped != NULL)
	{
		appendStringInfoString(candidates, ",\"skipped\":");
		escape_json(candidates, skipped);
	}
	else
	{
		crm_model_json_number(candidates, "aicc", fitted->aicc);
		crm_model_json_int(candidates, "parameters", fitted->nparams);
	}
	appendStringInfoChar(candidates, '}');
}

const char *
crm_ets_select(const double *y, int n, int m, const char *error, const char *trend,
		   const char *season, const char *damped, EtsModel *model, StringInfo candidates)
{
	bool		positive = true,
				found = false;
	int			e,
				t,
				s,
				d,
				i;

	for (i = 0; i < n; i++)
		positive = positive && y[i] > 0.0;
	for (e = 0; error[e] != '\0'; e++)
		for (t = 0; trend[t] != '\0'; t++)
			for (s = 0; season[s] != '\0'; s++)
				for (d = 0; damped[d] != '\0'; d++)
				{
					EtsSpec		spec = {error[e], trend[t], season[s], damped[d] == 'y'};
					EtsModel	fitted;
					const char *problem = NULL;
					char	   *name;

					if (spec.trend == 'N' && spec.damped)
						continue;
					name = crm_ets_name(&spec);
					if (spec.error == 'A' && spec.season == 'M')
						problem = "Additive errors with multiplicative seasonality can have infinite forecast variances.";
					else if (!positive && (spec.error == 'M' || spec.season == 'M'))
						problem = "Multiplicative components need positive data.";
					else
						problem = crm_ets_fit(y, n, m, &spec, false, &fitted);
					ets_record(candidates, name, &fitted, problem);
					if (problem == NULL && (!found || fitted.aicc < model->aicc))
					{
						*model = fitted;
						found = true;
					}
				}
	if (!found)
		return psprintf("No ETS model of the family can be fitted to this series of %d points.", n);
	return NULL;
}

/* Point forecast h steps ahead (h >= 1) from the states of model. */
static double
ets_point(const EtsModel *model, double level, double slope, const double *seasonal, int j,
		  double phi_sum)
{
	double		f = level + phi_sum * slope;

	if (model->spec.season == 'A')
		f += seasonal[j];
	else if (model->spec.season == 'M')
		f *= seasonal[j];
	return f;
}

/* The Kronecker product a (p x q) (x) b (r x s) into out (pr x qs). */
static void
kronecker(const double *a, int p, int q, const double *b, int r, int s, double *out)
{
	int			i,
				j,
				k,
				l;

	for (i = 0; i < p; i++)
		for (j = 0; j < q; j++)
			for (k = 0; k < r; k++)
				for (l = 0; l < s; l++)
					out[(i * r + k) * (q * s) + j * s + l] = a[i * q + j] * b[k * s + l];
}

/*
 * Class 3 (multiplicative errors and seasonality, trend N, A or Ad):
 * the forecast means and variances of Hyndman et al. (2008, section 6.4,
 * as R's class3()), from the moments of the product of the level-trend
 * states x and the seasonal states z: M = E[x] E[z]' and V, the covariance
 * of vec(x z'), run forward with the Kronecker products of the two
 * transitions.  The mean includes the sigma2 terms, so it differs a little
 * from the point forecast of the recursions.
 */
static void
ets_class3(const EtsModel *model, int horizon, double *mean, double *variance)
{
	int			k = model->spec.trend != 'N' ? 2 : 1,
				m = model->m,
				d = k * m,
				h,
				i,
				j;
	double		sigma2 = model->sigma2,
				f1[4] = {1.0, 1.0, 0.0, model->spec.damped ? model->phi : 1.0},
				g1[4] = {model->alpha, model->alpha, model->beta, model->beta},
				x[2] = {model->level, model->slope};
	double	   *f2 = palloc0(sizeof(double) * m * m),
			   *g2 = palloc0(sizeof(double) * m * m),
			   *mh = palloc(sizeof(double) * k * m),
			   *mnew = palloc(sizeof(double) * k * m),
			   *tmp = palloc(sizeof(double) * k * m),
			   *f21 = palloc(sizeof(double) * d * d),
			   *g21 = palloc(sizeof(double) * d * d),
			   *kk = palloc(sizeof(double) * d * d),
			   *vh = palloc0(sizeof(double) * d * d),
			   *a = palloc(sizeof(double) * d * d),
			   *b = palloc(sizeof(double) * d * d),
			   *c = palloc(sizeof(double) * d * d),
			   *vnew = palloc(sizeof(double) * d * d),
			   *vec = palloc(sizeof(double) * d);

	if (k == 1)
	{
		f1[0] = 1.0;
		g1[0] = model->alpha;
	}
	/* seasonal states newest first (R's s1..sm); F2 rotates, G2 feeds s1 */
	f2[m - 1] = 1.0;
	for (i = 1; i < m; i++)
		f2[i * m + i - 1] = 1.0;
	g2[m - 1] = model->gamma;
	/* M = x z', z in R's order: z_i = the state serving step m - i + 1 */
	for (i = 0; i < k; i++)
		for (j = 0; j < m; j++)
			mh[i * m + j] = x[i] * model->seasonal[m - 1 - j];
	kronecker(f2, m, m, f1, k, k, f21);
	kronecker(g2, m, m, g1, k, k, g21);
	kronecker(g2, m, m, f1, k, k, kk);
	kronecker(f2, m, m, g1, k, k, a);
	for (i = 0; i < d * d; i++)
		kk[i] += a[i];

	for (h = 0; h < horizon; h++)
	{
		double		hvh = 0.0,
					mu = 0.0;

		CHECK_FOR_INTERRUPTS();
		/* H1 M H2' and H21 V H21': the last column of M, rows summed */
		for (i = 0; i < k; i++)
		{
			mu += mh[i * m + m - 1];
			for (j = 0; j < k; j++)
				hvh += vh[((m - 1) * k + i) * d + (m - 1) * k + j];
		}
		mean[h] = mu;
		variance[h] = (1.0 + sigma2) * hvh + sigma2 * mu * mu;

		/* vec(M), column-major, as the Kronecker products index it */
		for (j = 0; j < m; j++)
			for (i = 0; i < k; i++)
				vec[j * k + i] = mh[i * m + j];
		/* V' = F V F' + s2 (F V G' + G V F' + K (V + vv') K' + s2 G (3V + 2vv') G') */
		crm_matmul(f21, vh, a, d, d, d);
		crm_matmul_bt(a, f21, vnew, d, d, d);
		crm_matmul_bt(a, g21, b, d, d, d);
		for (i = 0; i < d; i++)
			for (j = 0; j < d; j++)
				vnew[i * d + j] += sigma2 * (b[i * d + j] + b[j * d + i]);
		for (i = 0; i < d; i++)
			for (j = 0; j < d; j++)
				c[i * d + j] = vh[i * d + j] + vec[i] * vec[j];
		crm_matmul(kk, c, a, d, d, d);
		crm_matmul_bt(a, kk, b, d, d, d);
		for (i = 0; i < d * d; i++)
			vnew[i] += sigma2 * b[i];
		for (i = 0; i < d; i++)
			for (j = 0; j < d; j++)
				c[i * d + j] = 3.0 * vh[i * d + j] + 2.0 * vec[i] * vec[j];
		crm_matmul(g21, c, a, d, d, d);
		crm_matmul_bt(a, g21, b, d, d, d);
		for (i = 0; i < d * d; i++)
			vh[i] = vnew[i] + sigma2 * sigma2 * b[i];

		/* M' = F1 M F2' + s2 G1 M G2' */
		crm_matmul(f1, mh, tmp, k, k, m);
		crm_matmul_bt(tmp, f2, mnew, k, m, m);
		crm_matmul(g1, mh, tmp, k, k, m);
		crm_matmul_bt(tmp, g2, mh, k, m, m);
		for (i = 0; i < k * m; i++)
			mh[i] = mnew[i] + sigma2 * mh[i];
	}
}

/*
 * Forecast means and level intervals.  Every model of the family has an
 * analytic forecast variance (Hyndman et al. 2008, chapter 6):
 *   class 1, additive errors: sigma2 (1 + sum_{j<h} c_j^2);
 *   class 2, multiplicative errors, no multiplicative season: theta_h
 *     = mu_h^2 + sigma2 sum_{j<h} c_j^2 theta_{h-j}, variance
 *     (1 + sigma2) theta_h - mu_h^2;
 *   class 3, multiplicative errors and season: ets_class3;
 * with c_j = alpha + beta phi_j + gamma [m divides j], phi_j = phi + ... +
 * phi^j.  Intervals are normal around the mean, as R's.
 */
void
crm_ets_forecast(const EtsModel *model, int horizon, double level, double *mean, double *lo, double *hi)
{
	int			m = model->m,
				h,
				j;
	double		phi = model->spec.damped ? model->phi : 1.0,
				phi_power = 1.0,
				phi_sum = 0.0;
	double	   *variance = palloc(sizeof(double) * horizon),
			   *c = palloc(sizeof(double) * horizon);

	if (model->spec.error == 'M' && model->spec.season == 'M')
	{
		ets_class3(model, horizon, mean, variance);
		crm_normal_interval(mean, variance, horizon, level, lo, hi);
		return;
	}
	for (h = 1; h <= horizon; h++)
	{
		phi_power *= phi;
		phi_sum += phi_power;
		mean[h - 1] = ets_point(model, model->level, model->slope, model->seasonal, (h - 1) % m,
								model->spec.trend != 'N' ? phi_sum : 0.0);
		c[h - 1] = model->alpha + (model->spec.trend != 'N' ? model->beta * phi_sum : 0.0) +
			(model->spec.season != 'N' && h % m == 0 ? model->gamma : 0.0);
	}
	if (model->spec.error == 'A')
	{
		double		sum_c2 = 0.0;

		for (h = 0; h < horizon; h++)
		{
			variance[h] = model->sigma2 * (1.0 + sum_c2);
			sum_c2 += c[h] * c[h];
		}
	}
	else
	{
		double	   *theta = palloc(sizeof(double) * horizon);

		for (h = 0; h < horizon; h++)
		{
			double		sum = 0.0;

			CHECK_FOR_INTERRUPTS();
			for (j = 0; j < h; j++)
				sum += c[j] * c[j] * theta[h - 1 - j];
			theta[h] = mean[h] * mean[h] + model->sigma2 * sum;
			variance[h] = (1.0 + model->sigma2) * theta[h] - mean[h] * mean[h];
		}
	}
	crm_normal_interval(mean, variance, horizon, level, lo, hi);
}
