/*-------------------------------------------------------------------------
 * arima_fit.c
 *	  Exact Gaussian maximum likelihood ARIMA(p, d, q) and its forecasts.
 *
 * The series is differenced d times; the ARMA(p, q) of the differences
 * (with a mean when d = 0, none when d >= 1) is cast in the state-space
 * form R's arima() uses (Harvey 1989; Gardner, Harvey & Phillips 1980):
 *
 *	   w[t] - mean = Z a[t],  a[t] = T a[t-1] + R e[t],  r = max(p, q + 1)
 *
 * with T holding the AR coefficients in its first column and ones on the
 * superdiagonal, R = (1, theta_1, ..., theta_{r-1}), Z = (1, 0, ..., 0), and
 * the state started from its stationary distribution (the covariance Q0
 * solving Q0 = T Q0 T' + R R').  A Kalman filter gives the one-step
 * innovations v[t] and their variances sigma2 F[t]; sigma2 is concentrated
 * out (sigma2 = sum v^2/F / N), and so is the mean, by generalised least
 * squares on the same filter run over a column of ones.  Once the filtered
 * covariance has vanished (it does geometrically for an invertible MA) the
 * filter continues with the exact steady-state recursion, which is cheaper.
 *
 * The likelihood is maximised over partial autocorrelations, mapped to
 * coefficients by the Durbin-Levinson recursion (Barndorff-Nielsen &
 * Schou 1973; Jones 1980; Monahan 1984), separately for the AR polynomial
 * and, with a sign change, for the MA polynomial: every point of the box
 * (-1, 1)^(p+q) is a stationary and invertible model.  The search is a
 * box-constrained quasi-Newton (optimize.c) rather than an unconstrained one
 * after a tanh transformation as in R, whose flat tails stall searches near
 * a unit root.  It runs from a Hannan-Rissanen estimate, from the
 * conditional-sum-of-squares estimate (R's default start) and from zero;
 * the best optimum is kept.
 *
 * Forecasts run the same state space forward with the last d points of the
 * series appended to the state, so the mean and variance of the
 * undifferenced series come out exactly (the psi-weight variance in the
 * limit), including the uncertainty of the final filtered state.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "forecast/optimize.h"
#include "forecast/series_models.h"

/*
 * States up to this size get their stationary covariance from the
 * Lyapunov equation (a dense system of r(r + 1)/2 unknowns); larger ones,
 * those of seasonal models, from the autocovariances (see
 * stationary_covariance_acvf).
 */
#define ARIMA_LYAP_MAX_R (Max(ARIMA_MAX_P, ARIMA_MAX_Q + 1))
#define LYAP_MAX (ARIMA_LYAP_MAX_R * (ARIMA_LYAP_MAX_R + 1) / 2)
/* Partial autocorrelations searched: p + q + P + Q. */
#define ARIMA_MAX_PACF (ARIMA_MAX_P + ARIMA_MAX_Q + ARIMA_MAX_SP + ARIMA_MAX_SQ)
StaticAssertDecl(ARIMA_MAX_PACF <= OPT_MAX_PARAMS, "the optimiser must hold every partial autocorrelation");
StaticAssertDecl(ARIMA_MAX_P + ARIMA_MAX_SP * ARIMA_MAX_SEASON <= ARIMA_MAX_R,
				 "the state must hold the expanded AR polynomial");
/* A filtered covariance below this is treated as zero (steady state). */
#define STEADY_STATE_TOLERANCE 1e-13
/* Stopping tolerance on the objective, -loglik / N up to a constant. */
#define ARIMA_TOLERANCE 1e-12
/* Longest first step of a line search, in partial autocorrelations. */
#define ARIMA_MAX_STEP 0.5
/*
 * Partial autocorrelations are searched in [-bound, bound]: the AR part
 * stays stationary and the MA part invertible, up to a unit root.
 */
#define ARIMA_PACF_BOUND (1.0 - 1e-7)
#define ARIMA_MAX_EVALUATIONS 4000
/* Searches from: Hannan-Rissanen, CSS, zero. */
#define ARIMA_STARTS 3

typedef struct ArimaWork
{
	int			p,
				q,
				sp,
				sq,
				m,				/* season (1 without) */
				p_full,			/* degrees of the expanded polynomials: */
				q_full,			/* p + sp m and q + sq m */
				k,				/* partial autocorrelations: p + q + sp + sq */
				r,
				n;				/* length of w */
	bool		has_mean;
	const double *w;			/* differenced series, centred when has_mean */
	double	   *resid;			/* conditional residuals (CSS) */
	double		lo[ARIMA_MAX_PACF],	/* box of the partial */
				hi[ARIMA_MAX_PACF];	/* autocorrelations */
	double		center;			/* the mean removed from w */
	/* the model being evaluated */
	double		phi[ARIMA_MAX_R];	/* AR coefficients (expanded), zero beyond p_full */
	double		rvec[ARIMA_MAX_R];	/* (1, theta_1, ..., theta_{r-1}), expanded */
	/* filter buffers */
	double		a[ARIMA_MAX_R],
				a1[ARIMA_MAX_R];
	double		pm[ARIMA_MAX_R * ARIMA_MAX_R],
				pnew[ARIMA_MAX_R * ARIMA_MAX_R];
	double		lyap[LYAP_MAX * LYAP_MAX],
				rhs[LYAP_MAX];
	/* results of the last filter run */
	double		ssq;			/* sum v^2/F at the GLS mean */
	double		sumlog;			/* sum log F */
	double		mean_shift;		/* GLS mean minus center */
	double		v1,
				f1;				/* first innovation and its F */
} ArimaWork;

const char *
crm_arima_check_order(int p, int d, int q)
{
	if (p < 0 || d < 0 || q < 0)
		return psprintf("The order (p, d, q) = (%d, %d, %d) has a negative term.", p, d, q);
	if (p > ARIMA_MAX_P || q > ARIMA_MAX_Q || d > ARIMA_MAX_D)
		return psprintf("The order (p, d, q) = (%d, %d, %d) is too large; p and q can be at most %d and d at most %d.",
						p, d, q, ARIMA_MAX_P, ARIMA_MAX_D);
	return NULL;
}

const char *
crm_arima_check_seasonal_order(int sp, int sd, int sq, int m)
{
	if (sp < 0 || sd < 0 || sq < 0)
		return psprintf("The seasonal order (P, D, Q) = (%d, %d, %d) has a negative term.", sp, sd, sq);
	if (sp > ARIMA_MAX_SP || sd > ARIMA_MAX_SD || sq > ARIMA_MAX_SQ)
		return psprintf("The seasonal order (P, D, Q) = (%d, %d, %d) is too large; P and Q can be at most %d and D at most %d.",
						sp, sd, sq, ARIMA_MAX_SP, ARIMA_MAX_SD);
	if (m < 2 || m > ARIMA_MAX_SEASON)
		return psprintf("The season must be 2 to %d points, not %d.", ARIMA_MAX_SEASON, m);
	return NULL;
}

char *
crm_arima_name(int p, int d, int q)
{
	return psprintf("arima(%d,%d,%d)", p, d, q);
}

/*
 * Maps partial autocorrelations pacf[0..k-1] in (-1, 1) to the
 * coefficients of the stationary polynomial 1 - c_1 z - ... - c_k z^k
 * (Durbin-Levinson).
 */
static void
partial_to_coefficients(int k, const double *pacf, double *c)
{
	double		work[ARIMA_MAX_R];
	int			i,
				j;

	for (j = 0; j < k; j++)
		work[j] = c[j] = pacf[j];
	for (j = 1; j < k; j++)
	{
		double		a = c[j];

		for (i = 0; i < j; i++)
			work[i] -= a * c[j - i - 1];
		for (i = 0; i < j; i++)
			c[i] = work[i];
	}
}

/*
 * The inverse of partial_to_coefficients; false when the polynomial is not
 * stationary with partial autocorrelations below 0.999 in size.
 */
static bool
coefficients_to_partial(int k, const double *c, double *pacf)
{
	double		work[ARIMA_MAX_R] = {0},
				cur[ARIMA_MAX_R] = {0};
	int			i,
				j;

	for (j = 0; j < k; j++)
		cur[j] = work[j] = c[j];
	for (j = k - 1; j > 0; j--)
	{
		double		a = cur[j];

		if (!(fabs(a) < 0.999))
			return false;
		for (i = 0; i < j; i++)
			work[i] = (cur[i] + a * cur[j - i - 1]) / (1.0 - a * a);
		for (i = 0; i < j; i++)
			cur[i] = work[i];
	}
	for (j = 0; j < k; j++)
	{
		if (!(fabs(cur[j]) < 0.999))
			return false;
		pacf[j] = cur[j];
	}
	return true;
}

/*
 * phi and rvec, the coefficients of the products
 *   1 - sum phi_k B^k = (1 - ar_1 B - ...)(1 - sar_1 B^m - ...)
 *   1 + sum theta_k B^k = (1 + ma_1 B + ...)(1 + sma_1 B^m + ...),
 * rvec = (1, theta_1, ..., theta_{r-1}).
 */
static void
expand_polynomials(ArimaWork *wk, const double *ar, const double *ma, const double *sar,
				   const double *sma)
{
	int			i,
				j,
				m = wk->m;

	memset(wk->phi, 0, sizeof(double) * wk->r);
	memset(wk->rvec, 0, sizeof(double) * wk->r);
	for (i = 0; i < wk->p; i++)
		wk->phi[i] = ar[i];
	for (j = 0; j < wk->sp; j++)
	{
		wk->phi[(j + 1) * m - 1] += sar[j];
		for (i = 0; i < wk->p; i++)
			wk->phi[(j + 1) * m + i] -= ar[i] * sar[j];
	}
	wk->rvec[0] = 1.0;
	for (i = 0; i < wk->q; i++)
		wk->rvec[i + 1] = ma[i];
	for (j = 0; j < wk->sq; j++)
	{
		wk->rvec[(j + 1) * m] += sma[j];
		for (i = 0; i < wk->q; i++)
			wk->rvec[(j + 1) * m + i + 1] += ma[i] * sma[j];
	}
}

/*
 * The factors' coefficients from partial autocorrelations (AR, MA,
 * seasonal AR, seasonal MA; the MA ones with a sign change, so that every
 * point of the box is invertible).
 */
static void
factors_from_partial(const ArimaWork *wk, const double *pacf, double *ar, double *ma, double *sar,
					 double *sma)
{
	int			i;

	partial_to_coefficients(wk->p, pacf, ar);
	partial_to_coefficients(wk->q, pacf + wk->p, ma);
	partial_to_coefficients(wk->sp, pacf + wk->p + wk->q, sar);
	partial_to_coefficients(wk->sq, pacf + wk->p + wk->q + wk->sp, sma);
	for (i = 0; i < wk->q; i++)
		ma[i] = -ma[i];
	for (i = 0; i < wk->sq; i++)
		sma[i] = -sma[i];
}

/* The model at partial autocorrelations pacf into phi and rvec. */
static void
set_model(ArimaWork *wk, const double *pacf)
{
	double		ar[ARIMA_MAX_P],
				ma[ARIMA_MAX_Q],
				sar[ARIMA_MAX_SP],
				sma[ARIMA_MAX_SQ];

	factors_from_partial(wk, pacf, ar, ma, sar, sma);
	expand_polynomials(wk, ar, ma, sar, sma);
}

static inline int
sym_index(int r, int i, int j)
{
	if (i > j)
	{
		int			t = i;

		i = j;
		j = t;
	}
	/* row-major upper triangle: rows before i hold r + (r-1) + ... */
	return i * r - i * (i - 1) / 2 + (j - i);
}

/*
 * The stationary covariance of the state from the autocovariances, for the
 * large sparse states of seasonal models, where the Lyapunov system (of
 * r(r + 1)/2 unknowns) would cost O(r^6).  Unrolling a = T a + R e gives
 *
 *	   a_t[i] = sum_{j >= 0} (phi[i + j] y_{t-1-j} + rvec[i + j] e_{t-j}),
 *
 * so Cov(a[i], a[l]) needs only the autocovariances g(h) of the ARMA
 * process y and Cov(y_s, e_u) = psi_{s-u} (its psi weights), sigma2 = 1.
 * g(0..p_full) solve g(h) - sum_i phi_i g(|h - i|) = sum_{j >= h} theta_j
 * psi_{j-h} (theta_0 = 1), and later lags follow by the same recursion.
 * The sums run over the nonzero coefficients only.
 */
static bool
stationary_covariance_acvf(ArimaWork *wk)
{
	int			r = wk->r,
				pf = wk->p_full,
				nphi = 0,
				nrv = 0,
				i,
				j,
				l,
				x,
				z;
	const double *phi = wk->phi,
			   *rv = wk->rvec;
	int			phi_at[ARIMA_MAX_R],
				rv_at[ARIMA_MAX_R];
	double		psi[ARIMA_MAX_R + 1],
				gamma[ARIMA_MAX_R + 1],
			   *system = palloc0(sizeof(double) * (pf + 1) * (pf + 1));

	Assert(r <= ARIMA_MAX_R);
	for (i = 0; i < r; i++)
	{
		if (phi[i] != 0.0)
			phi_at[nphi++] = i;
		if (rv[i] != 0.0)
			rv_at[nrv++] = i;
	}
	/* psi weights: psi_h = theta_h + sum_i phi_i psi_{h-i} */
	for (i = 0; i <= r; i++)
	{
		psi[i] = i < r ? rv[i] : 0.0;
		for (j = 1; j <= Min(i, pf); j++)
			psi[i] += phi[j - 1] * psi[i - j];
	}
	/* g(0..pf) from their linear system, then the recursion */
	for (i = 0; i <= pf; i++)
	{
		system[i * (pf + 1) + i] += 1.0;
		for (j = 1; j <= pf; j++)
			system[i * (pf + 1) + abs(i - j)] -= phi[j - 1];
		gamma[i] = 0.0;
		for (j = i; j < r; j++)
			gamma[i] += rv[j] * psi[j - i];
	}
	if (!crm_dense_solve(pf + 1, system, gamma))
		return false;
	pfree(system);
	for (i = pf + 1; i <= r; i++)
	{
		gamma[i] = 0.0;
		for (j = 1; j <= pf; j++)
			gamma[i] += phi[j - 1] * gamma[i - j];
		for (j = i; j < r; j++)
			gamma[i] += rv[j] * psi[j - i];
	}

	for (i = 0; i < r; i++)
		for (l = i; l < r; l++)
		{
			double		c = 0.0;

			/* phi[a] y_{t-1-(a-i)} with phi[b] y_{t-1-(b-l)} */
			for (x = 0; x < nphi; x++)
				for (z = 0; z < nphi; z++)
					if (phi_at[x] >= i && phi_at[z] >= l)
						c += phi[phi_at[x]] * phi[phi_at[z]] *
							gamma[abs((phi_at[x] - i) - (phi_at[z] - l))];
			/* y against e in both orders: psi_{k-1-j} when k > j */
			for (x = 0; x < nphi; x++)
				for (z = 0; z < nrv; z++)
				{
					int			ja = phi_at[x] - i,
								kb = rv_at[z] - l,
								jb = phi_at[x] - l,
								ka = rv_at[z] - i;

					if (ja >= 0 && kb > ja)
						c += phi[phi_at[x]] * rv[rv_at[z]] * psi[kb - 1 - ja];
					if (jb >= 0 && ka > jb)
						c += phi[phi_at[x]] * rv[rv_at[z]] * psi[ka - 1 - jb];
				}
			/* e with e at the same time */
			for (z = 0; z < nrv; z++)
				if (rv_at[z] >= i && rv_at[z] - i + l < r)
					c += rv[rv_at[z]] * rv[rv_at[z] - i + l];
			wk->pm[i * r + l] = wk->pm[l * r + i] = c;
		}
	for (i = 0; i < r; i++)
		if (!(wk->pm[i * r + i] >= 0.0) || !isfinite(wk->pm[i * r + i]))
			return false;
	return wk->pm[0] > 0.0;
}

/*
 * The stationary covariance Q0 = T Q0 T' + R R' of the state, into wk->pm:
 * for small states by solving the linear system for its upper triangle.
 */
static bool
stationary_covariance(ArimaWork *wk)
{
	int			r = wk->r,
				m = r * (r + 1) / 2,
				i,
				j;
	const double *phi = wk->phi,
			   *rv = wk->rvec;

	if (r > ARIMA_LYAP_MAX_R)
		return stationary_covariance_acvf(wk);
	memset(wk->lyap, 0, sizeof(double) * m * m);
	for (i = 0; i < r; i++)
		for (j = i; j < r; j++)
		{
			int			row = sym_index(r, i, j);
			double	   *eq = wk->lyap + row * m;

			eq[row] += 1.0;
			eq[sym_index(r, 0, 0)] -= phi[i] * phi[j];
			if (j + 1 < r)
				eq[sym_index(r, 0, j + 1)] -= phi[i];
			if (i + 1 < r)
				eq[sym_index(r, 0, i + 1)] -= phi[j];
			if (i + 1 < r && j + 1 < r)
				eq[sym_index(r, i + 1, j + 1)] -= 1.0;
			wk->rhs[row] = rv[i] * rv[j];
		}
	if (!crm_dense_solve(m, wk->lyap, wk->rhs))
		return false;
	for (i = 0; i < r; i++)
		for (j = 0; j < r; j++)
			wk->pm[i * r + j] = wk->rhs[sym_index(r, i, j)];
	for (i = 0; i < r; i++)
		if (!(wk->pm[i * r + i] >= 0.0) || !isfinite(wk->pm[i * r + i]))
			return false;
	return wk->pm[0] > 0.0;
}

/* The state prediction a = T a, for the series and the column of ones. */
static inline void
predict_state(const ArimaWork *wk, double *a, double *a1)
{
	const double *phi = wk->phi;
	double		a0 = a[0],
				a10 = a1[0];
	int			r = wk->r,
				i;

	/* in place, ascending: T has phi in its first column, ones above the diagonal */
	for (i = 0; i < r - 1; i++)
	{
		a[i] = phi[i] * a0 + a[i + 1];
		a1[i] = phi[i] * a10 + a1[i + 1];
	}
	a[r - 1] = phi[r - 1] * a0;
	a1[r - 1] = phi[r - 1] * a10;
}

/* The covariance prediction pn = T pm T' + R R' (symmetric, r x r). */
static inline void
predict_covariance(const ArimaWork *wk, const double *pm, double *pn)
{
	const double *phi = wk->phi,
			   *rv = wk->rvec;
	int			r = wk->r,
				i,
				j;

	for (i = 0; i < r; i++)
		for (j = i; j < r; j++)
		{
			double		x = phi[i] * phi[j] * pm[0] + rv[i] * rv[j];

			if (j + 1 < r)
				x += phi[i] * pm[j + 1];
			if (i + 1 < r)
				x += phi[j] * pm[(i + 1) * r];
			if (i + 1 < r && j + 1 < r)
				x += pm[(i + 1) * r + j + 1];
			pn[i * r + j] = pn[j * r + i] = x;
		}
}

/*
 * The measurement update with innovations v (series) and v1 (ones) of
 * variance f: a += P Z' v / F, P -= P Z' Z P / F.  Returns the largest
 * entry of the new P in size.
 */
static inline double
update_state(const ArimaWork *wk, double *a, double *a1, double *pm, double v, double v1, double f)
{
	double		k[ARIMA_MAX_R],
				pmax = 0.0;
	int			r = wk->r,
				i,
				j;

	for (i = 0; i < r; i++)
		k[i] = pm[i * r] / f;
	for (i = 0; i < r; i++)
	{
		a[i] += k[i] * v;
		a1[i] += k[i] * v1;
	}
	for (i = 0; i < r; i++)
		for (j = i; j < r; j++)
		{
			double		x = pm[i * r + j] - k[i] * k[j] * f;

			pm[i * r + j] = pm[j * r + i] = x;
			pmax = Max(pmax, fabs(x));
		}
	return pmax;
}

/*
 * The mean concentrated out (GLS from the sums over the filter run, when
 * the model has one), the innovations' sum of squares and the final state
 * shifted to the GLS mean.
 */
static bool
finish_filter(ArimaWork *wk, double syy, double s1y, double s11, double sumlog)
{
	int			i;

	if (wk->has_mean)
	{
		if (!(s11 > 0.0))
			return false;
		wk->mean_shift = s1y / s11;
		wk->ssq = syy - s1y * wk->mean_shift;
		for (i = 0; i < wk->r; i++)
			wk->a[i] -= wk->mean_shift * wk->a1[i];
		wk->v1 -= wk->mean_shift;
	}
	else
	{
		wk->mean_shift = 0.0;
		wk->ssq = syy;
	}
	wk->sumlog = sumlog;
	return wk->ssq > 0.0 && isfinite(wk->ssq);
}

/*
 * Runs the Kalman filter for the model in wk (phi, rvec) over w, in
 * parallel for a column of ones (to concentrate the mean out).  Fills
 * ssq, sumlog, mean_shift, v1, f1; leaves a[n|n] (for the series minus the
 * GLS mean) in wk->a and P[n|n] in wk->pm.  Returns false when the model
 * has no finite likelihood.
 */
static bool
kalman_filter(ArimaWork *wk)
{
	int			r = wk->r,
				n = wk->n,
				t,
				i;
	const double *rv = wk->rvec;
	double	   *a = wk->a,
			   *a1 = wk->a1,
			   *pm = wk->pm,
			   *pn = wk->pnew;
	double		syy = 0.0,
				s1y = 0.0,
				s11 = 0.0,
				sumlog = 0.0,
				fprod = 1.0;	/* product of F since the last log */
	bool		steady = false;

	if (!stationary_covariance(wk))
		return false;
	memset(a, 0, sizeof(double) * r);
	memset(a1, 0, sizeof(double) * r);

	for (t = 0; t < n; t++)
	{
		double		v,
					v1,
					f;

		if (t > 0)
		{
			predict_state(wk, a, a1);
			if (steady)
			{
				/* P[t|t-1] = R R', F = 1, gain R: P[t|t] stays zero */
				v = wk->w[t] - a[0];
				v1 = 1.0 - a1[0];
				syy += v * v;
				s1y += v * v1;
				s11 += v1 * v1;
				for (i = 0; i < r; i++)
				{
					a[i] += rv[i] * v;
					a1[i] += rv[i] * v1;
				}
				continue;
			}
			predict_covariance(wk, pm, pn);
			/* the new covariance becomes the current one */
			{
				double	   *swap = pm;

				pm = pn;
				pn = swap;
			}
		}

		f = pm[0];
		if (!(f > 0.0) || !isfinite(f))
			return false;
		v = wk->w[t] - a[0];
		v1 = 1.0 - a1[0];
		if (t == 0)
		{
			wk->v1 = v;
			wk->f1 = f;
		}
		syy += v * v / f;
		s1y += v * v1 / f;
		s11 += v1 * v1 / f;
		/* F >= 1 after the first step; take logs only before overflow */
		fprod *= f;
		if (fprod > 1e250 || fprod < 1e-250)
		{
			sumlog += log(fprod);
			fprod = 1.0;
		}
		if (update_state(wk, a, a1, pm, v, v1, f) < STEADY_STATE_TOLERANCE)
		{
			steady = true;
			memset(pm, 0, sizeof(double) * r * r);
		}
	}
	sumlog += log(fprod);
	if (pm != wk->pm)
		memcpy(wk->pm, pm, sizeof(double) * r * r);
	return finish_filter(wk, syy, s1y, s11, sumlog);
}

/* Concentrated objective: -loglik / n up to a constant. */
static double
arima_value(const double *pacf, void *context)
{
	ArimaWork  *wk = (ArimaWork *) context;

	set_model(wk, pacf);
	if (!kalman_filter(wk))
		return INFINITY;
	return 0.5 * log(wk->ssq / wk->n) + 0.5 * wk->sumlog / wk->n;
}

/* value at pacf, with its forward-difference gradient when one is asked for */
static double
with_numeric_gradient(opt_value value, const double *pacf, double *gradient, void *context)
{
	ArimaWork  *wk = (ArimaWork *) context;
	double		f = value(pacf, context);

	if (gradient != NULL)
		crm_opt_numeric_gradient(value, context, wk->k, (double *) pacf, wk->lo, wk->hi, f, gradient);
	return f;
}

static double
arima_objective(const double *pacf, double *gradient, void *context)
{
	return with_numeric_gradient(arima_value, pacf, gradient, context);
}

/*
 * Conditional sum of squares (R's method "CSS"): the ARMA recursion for
 * the innovations, started at zero after the first p points.  Minimised
 * first, its estimate is the usual start for maximum likelihood.
 */
static double
css_value(const double *pacf, void *context)
{
	ArimaWork  *wk = (ArimaWork *) context;
	const double *w = wk->w;
	double	   *e = wk->resid;
	double		ssq = 0.0;
	int			t,
				i;

	set_model(wk, pacf);
	for (t = 0; t < wk->n; t++)
	{
		double		v = w[t];

		if (t < wk->p_full)
		{
			e[t] = 0.0;
			continue;
		}
		for (i = 0; i < wk->p_full; i++)
			v -= wk->phi[i] * w[t - 1 - i];
		for (i = 0; i < wk->q_full && i < t; i++)
			v -= wk->rvec[i + 1] * e[t - 1 - i];
		e[t] = v;
		ssq += v * v;
	}
	if (!(ssq > 0.0) || !isfinite(ssq))
		return INFINITY;
	return 0.5 * log(ssq / (wk->n - wk->p_full));
}

static double
css_objective(const double *pacf, double *gradient, void *context)
{
	return with_numeric_gradient(css_value, pacf, gradient, context);
}

/*
 * Scales the coefficients of 1 - c_1 z - ... - c_k z^k towards zero (roots
 * outwards) until it is stationary, then returns its partial
 * autocorrelations.
 */
static void
shrink_to_partial(int k, double *c, double *pacf)
{
	int			attempt,
				i;

	for (attempt = 0; attempt < 100; attempt++)
	{
		if (coefficients_to_partial(k, c, pacf))
			return;
		for (i = 0; i < k; i++)
			c[i] *= pow(0.9, i + 1);
	}
	memset(pacf, 0, sizeof(double) * k);
}

/*
 * Hannan-Rissanen start: a long autoregression (Yule-Walker) estimates the
 * innovations, then least squares of w on its lags and the lagged
 * innovations gives the ARMA coefficients.  False when the series is too
 * short for it.
 */
static bool
hannan_rissanen(ArimaWork *wk, double *pacf)
{
	int			p = wk->p,
				q = wk->q,
				k = p + q,
				n = wk->n,
				order = p,
				first,
				t,
				i,
				j;
	double		acov[2 * ARIMA_MAX_R + 8] = {0},
				ar[2 * ARIMA_MAX_R + 8] = {0},
				prev[2 * ARIMA_MAX_R + 8] = {0};
	double		xtx[2 * ARIMA_MAX_R * 2 * ARIMA_MAX_R],
				xty[2 * ARIMA_MAX_R];
	double		coef[2 * ARIMA_MAX_R];
	double	   *e;
	double		v;

	/* the long autoregression: 2(p + q) lags, at most a third of the data */
	if (q > 0)
		order = Max(Min(Min(Max(2 * k, 4), (n - 1) / 3), (int) lengthof(acov) - 1), Max(p, 1));
	first = Max(p, order + q);
	if (n - first < 2 * k + 2)
		return false;

	/* Yule-Walker AR(order) by Durbin-Levinson */
	for (j = 0; j <= order; j++)
	{
		acov[j] = 0.0;
		for (t = j; t < n; t++)
			acov[j] += wk->w[t] * wk->w[t - j];
		acov[j] /= n;
	}
	if (!(acov[0] > 0.0))
		return false;
	v = acov[0];
	for (j = 0; j < order; j++)
	{
		double		kappa = acov[j + 1];

		for (i = 0; i < j; i++)
			kappa -= ar[i] * acov[j - i];
		kappa /= v;
		memcpy(prev, ar, sizeof(double) * j);
		for (i = 0; i < j; i++)
			ar[i] = prev[i] - kappa * prev[j - 1 - i];
		ar[j] = kappa;
		v *= 1.0 - kappa * kappa;
	}

	if (q == 0)
	{
		memcpy(coef, ar, sizeof(double) * p);
		shrink_to_partial(p, coef, pacf);
		return true;
	}

	e = palloc0(sizeof(double) * n);
	for (t = order; t < n; t++)
	{
		e[t] = wk->w[t];
		for (i = 0; i < order; i++)
			e[t] -= ar[i] * wk->w[t - 1 - i];
	}

	memset(xtx, 0, sizeof(double) * k * k);
	memset(xty, 0, sizeof(double) * k);
	for (t = first; t < n; t++)
	{
		double		x[2 * ARIMA_MAX_R];

		for (i = 0; i < p; i++)
			x[i] = wk->w[t - 1 - i];
		for (i = 0; i < q; i++)
			x[p + i] = e[t - 1 - i];
		for (i = 0; i < k; i++)
		{
			xty[i] += x[i] * wk->w[t];
			for (j = 0; j < k; j++)
				xtx[i * k + j] += x[i] * x[j];
		}
	}
	pfree(e);
	if (!crm_dense_solve(k, xtx, xty))
		return false;

	memcpy(coef, xty, sizeof(double) * p);
	shrink_to_partial(p, coef, pacf);
	for (i = 0; i < q; i++)
		coef[i] = -xty[p + i];
	shrink_to_partial(q, coef, pacf + p);
	return true;
}

/*
 * Differences y d times and then sd times at lag m, into a new array of
 * n - d - sd m points.
 */
static double *
difference(const double *y, int n, int d, int sd, int m)
{
	double	   *w = palloc(sizeof(double) * n);
	int			i,
				k,
				len = n;

	memcpy(w, y, sizeof(double) * n);
	for (k = 0; k < d; k++, len--)
		for (i = 0; i < len - 1; i++)
			w[i] = w[i + 1] - w[i];
	for (k = 0; k < sd; k++, len -= m)
		for (i = 0; i < len - m; i++)
			w[i] = w[i + m] - w[i];
	return w;
}

/* The model's name in messages: ARIMA(p,d,q), or ARIMA(p,d,q)(P,D,Q)[m]. */
char *
crm_arima_display_name(int p, int d, int q, int sp, int sd, int sq, int m)
{
	if (m <= 1)
		return psprintf("ARIMA(%d,%d,%d)", p, d, q);
	return psprintf("ARIMA(%d,%d,%d)(%d,%d,%d)[%d]", p, d, q, sp, sd, sq, m);
}

const char *
crm_arima_fit(const double *y, int n, int p, int d, int q, ArimaModel *model)
{
	return crm_arima_fit_seasonal(y, n, p, d, q, 0, 0, 0, 1, model);
}

/*
 * The series the model sees: y differenced d times and sd times at lag m,
 * centred when the model has a mean.  Returns why it cannot be modelled,
 * or NULL.
 */
static const char *
prepare_series(ArimaWork *wk, const double *y, int n, int d, int sd)
{
	double	   *w = difference(y, n, d, sd, wk->m);
	double		lo = w[0],
				hi = w[0];

	wk->w = w;
	for (int i = 1; i < wk->n; i++)
	{
		lo = Min(lo, w[i]);
		hi = Max(hi, w[i]);
	}
	if (wk->has_mean && lo == hi)
		return pstrdup("The series is constant, so it has no variance to model.");
	if (!wk->has_mean && lo == 0.0 && hi == 0.0)
		return psprintf("The series differenced %d times is all zero, so it has no variance to model.", d);
	if (wk->has_mean)
	{
		for (int i = 0; i < wk->n; i++)
			wk->center += w[i];
		wk->center /= wk->n;
		for (int i = 0; i < wk->n; i++)
			w[i] -= wk->center;
	}
	return NULL;
}

/*
 * The partial autocorrelations of highest likelihood, into best_pacf; returns
 * the objective there (+Inf when no start gives a finite one).  Starts: a
 * Hannan-Rissanen estimate, the conditional-sum-of-squares estimate searched
 * from it (R's usual start), and zero; the best likelihood wins.
 */
static double
search_partials(ArimaWork *wk, bool seasonal, double *best_pacf)
{
	double		pacf[ARIMA_MAX_PACF];
	double		best = INFINITY;
	int			k = wk->k;

	for (int i = 0; i < k; i++)
	{
		wk->lo[i] = -ARIMA_PACF_BOUND;
		wk->hi[i] = ARIMA_PACF_BOUND;
	}
	memset(best_pacf, 0, sizeof(double) * ARIMA_MAX_PACF);
	if (k == 0)
		return arima_value(best_pacf, wk);
	wk->resid = palloc(sizeof(double) * wk->n);
	for (int start = 0; start < ARIMA_STARTS; start++)
	{
		OptResult	result;

		memset(pacf, 0, sizeof(pacf));
		/* Hannan-Rissanen for plain ARMA; seasonal models start from zero */
		if (start < 2 && (seasonal || !hannan_rissanen(wk, pacf)))
			continue;
		if (start == 1)
		{
			result = crm_opt_bfgs_box(css_objective, wk, k, pacf, wk->lo, wk->hi, ARIMA_TOLERANCE,
								  1.0, ARIMA_MAX_STEP, ARIMA_MAX_EVALUATIONS);
			if (!isfinite(result.value))
				continue;
		}
		result = crm_opt_bfgs_box(arima_objective, wk, k, pacf, wk->lo, wk->hi, ARIMA_TOLERANCE,
							  1.0, ARIMA_MAX_STEP, ARIMA_MAX_EVALUATIONS);
		if (result.value < best)
		{
			best = result.value;
			memcpy(best_pacf, pacf, sizeof(pacf));
		}
	}
	return best;
}

/*
 * The fitted model from the filter run at the optimum: coefficients,
 * variance, likelihood and information criteria, and the state forecasts
 * start from.
 */
static void
describe_fit(const ArimaWork *wk, const double *best_pacf, const double *y, int n, int d, int sd,
			 ArimaModel *model)
{
	int			lags = d + sd * wk->m;
	int			nparams = wk->k + (wk->has_mean ? 1 : 0) + 1;

	model->d = d;
	model->sd = sd;
	model->m = wk->m;
	model->n = n;
	model->n_used = wk->n;
	model->has_mean = wk->has_mean;
	model->r = wk->r;
	factors_from_partial(wk, best_pacf, model->ar, model->ma, model->sar, model->sma);
	model->mean = wk->has_mean ? wk->center + wk->mean_shift : 0.0;
	model->sigma2 = wk->ssq / wk->n;
	model->loglik = -0.5 * wk->n * (log(2.0 * M_PI) + 1.0 + log(model->sigma2)) - 0.5 * wk->sumlog;
	model->aic = -2.0 * model->loglik + 2.0 * nparams;
	model->bic = -2.0 * model->loglik + nparams * log((double) wk->n);
	model->aicc = wk->n - nparams - 1 > 0 ?
		model->aic + 2.0 * nparams * (nparams + 1) / (wk->n - nparams - 1) : INFINITY;
	if (wk->m > 1)
		model->loglik_after_first = NAN;
	else if (d == 0)
		model->loglik_after_first = model->loglik +
			0.5 * (log(2.0 * M_PI * model->sigma2 * wk->f1) + wk->v1 * wk->v1 / (model->sigma2 * wk->f1));
	else if (d == 1)
		model->loglik_after_first = model->loglik;
	else
		model->loglik_after_first = NAN;
	memcpy(model->state, wk->a, sizeof(double) * wk->r);
	memcpy(model->state_cov, wk->pm, sizeof(double) * wk->r * wk->r);
	for (int i = 0; i < lags; i++)
		model->tail[i] = y[n - lags + i];
}

/*
 * ARIMA(p, d, q)(sp, sd, sq)[m] by exact maximum likelihood; m = 1 with
 * sp = sd = sq = 0 is the plain ARIMA(p, d, q).
 */
const char *
crm_arima_fit_seasonal(const double *y, int n, int p, int d, int q, int sp, int sd, int sq, int m,
					   ArimaModel *model)
{
	ArimaWork	wk;
	double		best_pacf[ARIMA_MAX_PACF];
	const char *problem;
	int			k = p + q + sp + sq,
				lags = d + sd * m,
				needed;
	bool		seasonal = m > 1;
	bool		fitted = false;

	if ((problem = crm_arima_check_order(p, d, q)) != NULL)
		return problem;
	if (seasonal && (problem = crm_arima_check_seasonal_order(sp, sd, sq, m)) != NULL)
		return problem;
	needed = k + (lags == 0 ? 1 : 0) + 3 + (seasonal ? sp * m : 0);
	if (n - lags < needed)
		return psprintf("%s needs at least %d points after differencing, and the series has %d.",
						crm_arima_display_name(p, d, q, sp, sd, sq, m), needed, Max(n - lags, 0));

	memset(&wk, 0, sizeof(wk));
	memset(model, 0, sizeof(*model));
	wk.p = p;
	wk.q = q;
	wk.sp = sp;
	wk.sq = sq;
	wk.m = seasonal ? m : 1;
	wk.p_full = p + sp * wk.m;
	wk.q_full = q + sq * wk.m;
	wk.k = k;
	wk.r = Max(wk.p_full, wk.q_full + 1);
	Assert(wk.r <= ARIMA_MAX_R && wk.k <= ARIMA_MAX_PACF);
	wk.n = n - lags;
	wk.has_mean = lags == 0;
	if ((problem = prepare_series(&wk, y, n, d, sd)) != NULL)
		return problem;

	if (isfinite(search_partials(&wk, seasonal, best_pacf)))
	{
		/* the model at the optimum, with the filter's final state */
		set_model(&wk, best_pacf);
		fitted = kalman_filter(&wk);
	}
	if (!fitted)
		return psprintf("No stationary and invertible %s has a finite likelihood for this series.",
						crm_arima_display_name(p, d, q, sp, sd, sq, m));

	model->p = p;
	model->q = q;
	model->sp = sp;
	model->sq = sq;
	describe_fit(&wk, best_pacf, y, n, d, sd, model);
	pfree(unconstify(double *, wk.w));
	return NULL;
}

/*
 * Forecast means and variances of the series (undifferenced) for steps
 * 1..horizon.  The state is the ARMA state (expanded over the seasonal
 * lags) followed by the last d + sd m points of the series; those are
 * known, so their covariance starts at zero.
 */
void
crm_arima_forecast(const ArimaModel *model, int horizon, double *mean, double *variance)
{
	ArimaWork	wk;
	int			r = model->r,
				m = model->m,
				lags = model->d + model->sd * m,
				dim = r + lags,
				h,
				i,
				j;
	double	   *c = palloc0(sizeof(double) * (lags + 1)),
			   *g = palloc0(sizeof(double) * dim * dim),
			   *hv = palloc0(sizeof(double) * dim),
			   *s = palloc0(sizeof(double) * dim),
			   *snew = palloc(sizeof(double) * dim),
			   *cov = palloc0(sizeof(double) * dim * dim),
			   *tmp = palloc(sizeof(double) * dim * dim);
	const double *phi,
			   *rv;

	/* the expanded coefficients, from the model's factors */
	memset(&wk, 0, sizeof(wk));
	wk.p = model->p;
	wk.q = model->q;
	wk.sp = model->sp;
	wk.sq = model->sq;
	wk.m = m;
	wk.r = r;
	Assert(r <= ARIMA_MAX_R && lags <= ARIMA_MAX_LAGS);
	expand_polynomials(&wk, model->ar, model->ma, model->sar, model->sma);
	phi = wk.phi;
	rv = wk.rvec;

	/* y[t] = w[t] + sum c_i y[t-i]: (1 - B)^d (1 - B^m)^sd expanded */
	c[0] = 1.0;
	{
		int			degree = 0,
					k;

		for (k = 0; k < model->d; k++, degree++)
			for (i = degree + 1; i >= 1; i--)
				c[i] -= c[i - 1];
		for (k = 0; k < model->sd; k++, degree += m)
			for (i = degree + m; i >= m; i--)
				c[i] -= c[i - m];
		for (i = 1; i <= lags; i++)
			c[i] = -c[i];
	}

	/*
	 * Transition G of s = (a, y[t-1], ..., y[t-lags]) and loading hv of the
	 * shock: a' = T a + R e; y' = Z a' + sum c y[t-i]; lags shift.
	 */
	for (i = 0; i < r; i++)
	{
		g[i * dim] = phi[i];
		if (i + 1 < r)
			g[i * dim + i + 1] = 1.0;
		hv[i] = rv[i];
	}
	if (lags > 0)
	{
		/* Z T a = phi_1 a_1 + a_2 */
		g[r * dim] = phi[0];
		if (r > 1)
			g[r * dim + 1] = 1.0;
		for (i = 0; i < lags; i++)
			g[r * dim + r + i] = c[i + 1];
		hv[r] = rv[0];
		for (i = 1; i < lags; i++)
			g[(r + i) * dim + r + i - 1] = 1.0;
	}

	for (i = 0; i < r; i++)
	{
		s[i] = model->state[i];
		for (j = 0; j < r; j++)
			cov[i * dim + j] = model->state_cov[i * r + j];
	}
	for (i = 0; i < lags; i++)
		s[r + i] = model->tail[lags - 1 - i];	/* most recent first */

	for (h = 0; h < horizon; h++)
	{
		int			out = lags > 0 ? r : 0;

		crm_matmul(g, s, snew, dim, dim, 1);
		memcpy(s, snew, sizeof(double) * dim);
		/* cov = G cov G' + hv hv' */
		crm_matmul(g, cov, tmp, dim, dim, dim);
		crm_matmul_bt(tmp, g, cov, dim, dim, dim);
		for (i = 0; i < dim; i++)
			for (j = 0; j < dim; j++)
				cov[i * dim + j] += hv[i] * hv[j];
		mean[h] = s[out] + (lags == 0 ? model->mean : 0.0);
		variance[h] = model->sigma2 * cov[out * dim + out];
	}
}
