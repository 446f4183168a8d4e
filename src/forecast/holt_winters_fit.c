/*-------------------------------------------------------------------------
 * holt_winters_fit.c
 *	  Holt-Winters exponential smoothing with additive trend and additive
 *	  or multiplicative seasonality: recursions, initial states,
 *	  least-squares fitting and forecasts with prediction intervals.
 *
 * The recursions are those of statsmodels' ExponentialSmoothing (and of
 * Hyndman et al. 2008, section 7.1, component form), for a season of m
 * points:
 *
 *	 additive:       yhat[t] = l + b + s[t-m]
 *	                 l' = alpha (y - s[t-m]) + (1 - alpha)(l + b)
 *	                 s[t] = gamma (y - l - b) + (1 - gamma) s[t-m]
 *	 multiplicative: yhat[t] = (l + b) s[t-m]
 *	                 l' = alpha y / s[t-m] + (1 - alpha)(l + b)
 *	                 s[t] = gamma y / (l + b) + (1 - gamma) s[t-m]
 *	 both:           b' = beta (l' - l) + (1 - beta) b
 *
 * Fitting minimises the one-step sum of squared errors over alpha, beta,
 * gamma and the m + 2 initial states.  The initial states are profiled
 * out: for given smoothing parameters the errors are affine in them
 * (additive) or nearly so (multiplicative), so Gauss-Newton with exact
 * derivatives propagated through the recursions finds them (in one step
 * when additive).  One seasonal state is implied by the others (they sum to
 * zero, or average one), since shifting the level against the seasonals
 * changes nothing.  The three smoothing parameters are then searched in
 * the usual region 0 <= alpha <= 1, 0 <= beta <= 1, 0 <= gamma <= 1 - alpha
 * by a box-constrained quasi-Newton (optimize.c) with the exact gradient of
 * the profiled SSE (the derivatives in alpha, beta, gamma at the optimal
 * initial states, propagated through the recursions), from the best points
 * of a grid, followed by probes across each parameter's range: with few
 * points per parameter the surface has many local minima, often on a
 * bound.
 *
 * Forecasts are the textbook ones: level plus h trends, with the latest
 * seasonal factor of each season at every horizon.  Prediction variances
 * are sigma2 (1 + sum_{j<h} c_j^2): for additive seasonality the exact
 * class-1 formula of Hyndman et al. (2008, ch. 6), c_j = alpha (1 + beta j)
 * + gamma [j mod m = 0]; for multiplicative seasonality its first-order
 * (delta method) version for the model with additive errors, in which each
 * future error's effect is scaled by the seasonal factors and levels it
 * passes through.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "utils/memutils.h"

#include "forecast/optimize.h"
#include "forecast/series_models.h"

/* Quasi-Newton settings for the smoothing parameters. */
#define HW_TOLERANCE 1e-8
#define HW_MAX_EVALUATIONS 500
#define HW_MAX_STEP 0.3
/* Rounds up to even, so that loops can run over pairs. */
#define PAIR_ROUND(x) (((x) + 1) & ~1)

/*
 * Two doubles, for the inner loops of the Jacobian pass: GCC and Clang
 * compile arithmetic on these to SIMD instructions (SSE2 on x86-64) without
 * needing vectorisation flags; other compilers use the scalar loops.
 */
#if defined(__GNUC__)
#define HW_PAIRS 1
typedef double hw_pair __attribute__((vector_size(16)));

static inline hw_pair
pair_load(const double *p)
{
	hw_pair		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
pair_store(double *p, hw_pair v)
{
	memcpy(p, &v, sizeof(v));
}
#endif
/* Points of the start grid (see hw_grid). */
#define HW_GRID_MAX 64
/* Largest n x (m + 1) whose grid Jacobians are cached (about 1 MB). */
#define HW_GRID_CACHE_MAX 3000
/* Quasi-Newton searches from the best points of the start grid. */
#define HW_STARTS 3
/* Rounds of probing each parameter across its range from the best point. */
#define HW_PROBE_ROUNDS 3
/* Gauss-Newton iterations for multiplicative initial states. */
#define HW_GN_ITERATIONS 30
#define HW_GN_RELTOL 1e-12

typedef struct HwWork
{
	const double *y;
	int			n,
				m;
	HwSeasonal	seasonal;
	double		alpha,
				beta,
				gamma;
	double	   *x0;				/* initial states l0, b0, s_0..s_{m-1} */
	double	   *warm;			/* initial states of the best fit so far */
	double		best_sse;
	double	   *trial;
	double	   *s;				/* seasonal states, circular */
	double		level,			/* state after the last pass */
				trend;
	double		first_error;
	double	   *errors;			/* one-step errors of the last pass */
	double	   *rows_out;		/* when set, the Jacobian pass stores J here */
	/* derivatives of the states with respect to the m + 2 initial states */
	double	   *dl,
			   *db,
			   *ds;				/* (m + 2) x m */
	double	   *rowraw;
	/* derivatives of the states and the SSE with respect to alpha, beta, gamma */
	double	   *gs;				/* 3 x m */
	double		pass_gradient[3];
	double		gradient[3];	/* of the SSE at the profiled initial states */
	/* the optimiser's last point, its SSE and gradient in the unit cube */
	bool		cached;
	double		cached_u[3],
				cached_sse,
				cached_gradient[3];
	/* normal equations in the m + 1 free initial states */
	double	   *jtj,
			   *jte,
			   *row,
			   *a,
			   *solve_work;
} HwWork;

bool
crm_hw_parse_seasonal(const char *text, HwSeasonal *seasonal)
{
	if (strcmp(text, "additive") == 0)
		*seasonal = HW_ADDITIVE;
	else if (strcmp(text, "multiplicative") == 0)
		*seasonal = HW_MULTIPLICATIVE;
	else
		return false;
	return true;
}

const char *
crm_hw_seasonal_name(HwSeasonal seasonal)
{
	return seasonal == HW_ADDITIVE ? "additive" : "multiplicative";
}

/* Points the optimised fit needs: two seasons, and 2 more than parameters. */
static int64
hw_min_points(int m, bool optimized)
{
	return optimized ? Max(2 * (int64) m, (int64) m + 7) : 2 * (int64) m;
}

const char *
crm_hw_check_data(const double *y, int n, int m, HwSeasonal seasonal, bool optimized)
{
	int			i;

	if (m < 2)
		return psprintf("The season must be at least 2 points long, not %d.", m);
	/* in 64 bits: a season near INT_MAX must not wrap around */
	if ((int64) n < 2 * (int64) m)
		return psprintf("The season (%d points) is longer than half the series (%d points).", m, n);
	if ((int64) n < hw_min_points(m, optimized))
		return psprintf("Holt-Winters with a season of %d points estimates %d parameters and needs at least %d points, and the series has %d.",
						m, m + 4, (int) hw_min_points(m, optimized), n);
	if (seasonal == HW_MULTIPLICATIVE)
		for (i = 0; i < n; i++)
			if (!(y[i] > 0.0))
				return psprintf("Multiplicative seasonality needs positive data, and point %d is %g.", i + 1, y[i]);
	return NULL;
}

/*
 * Initial states by the rule statsmodels uses for the start of its
 * optimisation and for initialization_method='heuristic': with at least
 * 10 + 2 floor(m/2) points, Hyndman et al. (2008, section 2.6.1) -- a 2 x m
 * centred moving average of up to five seasons, seasonal means of the
 * detrended data (normalised), and a line through the first ten trend
 * values; otherwise the first two seasons' means (statsmodels 'simple').
 */
static void
hw_initial_states(const double *y, int n, int m, HwSeasonal seasonal, double *x0)
{
	double	   *s0 = x0 + 2;
	int			min_obs = 10 + 2 * (m / 2),
				i,
				j;

	if (n >= min_obs)
	{
		int			cycles = Max(Min(5, n / m), (min_obs + m - 1) / m);
		int			len = Min(n, cycles * m);
		int			offset = (m - 1) / 2;
		double	   *ma = palloc(sizeof(double) * len);
		double	   *trend = palloc(sizeof(double) * len);
		double	   *count = palloc0(sizeof(double) * m);
		double		mean = 0.0,
					sx = 0.0,
					sxx = 0.0,
					sy = 0.0,
					sxy = 0.0;
		int			used = 0;

		/* rolling(m, center=True).mean(), then for even m the 2-average */
		for (i = 0; i < len; i++)
		{
			int			last = i + offset,
						first = last - m + 1;

			ma[i] = NAN;
			if (first >= 0 && last < len)
			{
				double		sum = 0.0;

				for (j = first; j <= last; j++)
					sum += y[j];
				ma[i] = sum / m;
			}
		}
		for (i = 0; i < len; i++)
			trend[i] = (m % 2 == 1) ? ma[i] :
				(i + 1 < len ? 0.5 * (ma[i] + ma[i + 1]) : NAN);

		memset(s0, 0, sizeof(double) * m);
		for (i = 0; i < len; i++)
		{
			if (isnan(trend[i]))
				continue;
			s0[i % m] += seasonal == HW_ADDITIVE ? y[i] - trend[i] : y[i] / trend[i];
			count[i % m] += 1.0;
		}
		for (j = 0; j < m; j++)
		{
			s0[j] /= count[j];
			mean += s0[j] / m;
		}
		for (j = 0; j < m; j++)
			s0[j] = seasonal == HW_ADDITIVE ? s0[j] - mean : s0[j] / mean;

		/* least-squares line through the first ten trend values, x = 1..10 */
		for (i = 0; i < len && used < 10; i++)
		{
			double		x;

			if (isnan(trend[i]))
				continue;
			x = ++used;
			sx += x;
			sxx += x * x;
			sy += trend[i];
			sxy += x * trend[i];
		}
		x0[1] = (used * sxy - sx * sy) / (used * sxx - sx * sx);
		x0[0] = (sy - x0[1] * sx) / used;
		pfree(ma);
		pfree(trend);
		pfree(count);
	}
	else
	{
		double		level = 0.0,
					slope = 0.0;

		for (i = 0; i < m; i++)
		{
			level += y[i] / m;
			slope += (y[m + i] - y[i]) / ((double) m * m);
		}
		x0[0] = level;
		x0[1] = slope;
		for (i = 0; i < m; i++)
			s0[i] = seasonal == HW_ADDITIVE ? y[i] - level : y[i] / level;
	}
}

static void
hw_work_init(HwWork *wk, const double *y, int n, int m, HwSeasonal seasonal)
{
	int			k = m + 2,
				nf = m + 1,
				kp = PAIR_ROUND(k),
				nfp = PAIR_ROUND(nf);

	memset(wk, 0, sizeof(*wk));
	wk->y = y;
	wk->n = n;
	wk->m = m;
	wk->seasonal = seasonal;
	wk->x0 = palloc(sizeof(double) * k);
	wk->warm = palloc(sizeof(double) * k);
	wk->trial = palloc(sizeof(double) * k);
	wk->s = palloc(sizeof(double) * m);
	wk->dl = palloc(sizeof(double) * kp);
	wk->db = palloc(sizeof(double) * kp);
	wk->ds = palloc(sizeof(double) * kp * m);
	wk->rowraw = palloc(sizeof(double) * kp);
	wk->errors = palloc(sizeof(double) * n);
	wk->gs = palloc(sizeof(double) * 3 * m);
	wk->jtj = palloc(sizeof(double) * nf * nfp);
	wk->jte = palloc(sizeof(double) * nf);
	wk->row = palloc0(sizeof(double) * nfp);
	wk->a = palloc(sizeof(double) * nf * nf);
	wk->solve_work = palloc(sizeof(double) * 2 * nf);
	wk->best_sse = INFINITY;
}

/*
 * The derivatives of every state in every initial state, carried one point
 * further (point t, seasonal index j, the point's level plus trend lb,
 * seasonal state sj, value yt and error e), and the point's row of the
 * Jacobian added to the normal equations J'J and J'e in the free initial
 * states.
 */
static inline void
hw_jacobian_step(HwWork *wk, int t, int j, double lb, double sj, double yt, double e)
{
	int			m = wk->m,
				k = m + 2,
				nf = m + 1,
				kp = PAIR_ROUND(k),
				nfp = PAIR_ROUND(nf),
				c,
				i;
	double		alpha = wk->alpha,
				beta = wk->beta,
				gamma = wk->gamma;
	double	   *dl = wk->dl,
			   *db = wk->db,
			   *ds = wk->ds,
			   *rowraw = wk->rowraw,
			   *row = wk->row,
			   *jtj = wk->jtj,
			   *jte = wk->jte,
			   *dsj = ds + j * kp;
	bool		additive = wk->seasonal == HW_ADDITIVE;

	/*
	 * Derivatives of every state in every initial state, two columns
	 * at a time (the arrays are padded to even length).
	 */
	if (additive)
	{
#ifdef HW_PAIRS
		hw_pair		va = {alpha, alpha},
					vb = {beta, beta},
					vb1 = {1.0 - beta, 1.0 - beta},
					vg = {gamma, gamma};

		for (c = 0; c < kp; c += 2)
		{
			hw_pair		vl = pair_load(dl + c),
						vlb = vl + pair_load(db + c),
						vy = vlb + pair_load(dsj + c),
						vln = vlb - va * vy;

			pair_store(dsj + c, pair_load(dsj + c) - vg * vy);
			pair_store(db + c, vb * (vln - vl) + vb1 * pair_load(db + c));
			pair_store(dl + c, vln);
			pair_store(rowraw + c, -vy);
		}
#else
		for (c = 0; c < kp; c++)
		{
			double		dlb = dl[c] + db[c],
						dy = dlb + dsj[c],
						dln = dlb - alpha * dy;

			dsj[c] -= gamma * dy;
			db[c] = beta * (dln - dl[c]) + (1.0 - beta) * db[c];
			dl[c] = dln;
			rowraw[c] = -dy;
		}
#endif
	}
	else
	{
		double		ly = alpha * yt / (sj * sj),
					gy = gamma * yt / (lb * lb);

		for (c = 0; c < kp; c += 2)
		{
			double		dlb0 = dl[c] + db[c],
						dlb1 = dl[c + 1] + db[c + 1],
						dy0 = dlb0 * sj + lb * dsj[c],
						dy1 = dlb1 * sj + lb * dsj[c + 1],
						dln0 = (1.0 - alpha) * dlb0 - ly * dsj[c],
						dln1 = (1.0 - alpha) * dlb1 - ly * dsj[c + 1];

			dsj[c] = (1.0 - gamma) * dsj[c] - gy * dlb0;
			dsj[c + 1] = (1.0 - gamma) * dsj[c + 1] - gy * dlb1;
			db[c] = beta * (dln0 - dl[c]) + (1.0 - beta) * db[c];
			db[c + 1] = beta * (dln1 - dl[c + 1]) + (1.0 - beta) * db[c + 1];
			dl[c] = dln0;
			dl[c + 1] = dln1;
			rowraw[c] = -dy0;
			rowraw[c + 1] = -dy1;
		}
	}
	/* free coordinates: the last seasonal moves against the others */
	row[0] = rowraw[0];
	row[1] = rowraw[1];
	for (i = 0; i < m - 1; i++)
		row[2 + i] = rowraw[2 + i] - rowraw[k - 1];
	if (wk->rows_out != NULL)
		memcpy(wk->rows_out + t * nf, row, sizeof(double) * nf);
	/* lower triangle of J'J (rounded up to pairs) and J'e */
	for (i = 0; i < nf; i++)
	{
		double	   *jrow = jtj + i * nfp;
		double		ri = row[i];
		int			len = PAIR_ROUND(i + 1);
#ifdef HW_PAIRS
		hw_pair		vr = {ri, ri};

		for (c = 0; c < len; c += 2)
			pair_store(jrow + c, pair_load(jrow + c) + vr * pair_load(row + c));
#else
		for (c = 0; c < len; c++)
			jrow[c] += ri * row[c];
#endif
		jte[i] += ri * e;
	}
}

/* The derivatives of the level, trend and SSE in alpha, beta and gamma. */
typedef struct HwGradient
{
	double		level[3],
				trend[3],
				sse[3];
} HwGradient;

/*
 * The derivatives of the states and of the SSE in alpha, beta and gamma
 * (initial states held) carried over point t: l and b are the states
 * before it, lnew the new level; lb, sj, yt, e as in hw_jacobian_step.
 */
static inline void
hw_gradient_step(HwWork *wk, HwGradient *g, int j, double l, double b, double lb, double sj,
				 double yt, double e, double lnew)
{
	int			m = wk->m;
	double		alpha = wk->alpha,
				beta = wk->beta,
				gamma = wk->gamma;
	double	   *gs = wk->gs,
			   *gl = g->level,
			   *gb = g->trend,
			   *gsse = g->sse;
	bool		additive = wk->seasonal == HW_ADDITIVE;

	/* derivatives in alpha (p = 0), beta (1), gamma (2) */
	int			p;

	for (p = 0; p < 3; p++)
	{
		double		dlb = gl[p] + gb[p],
					dsj = gs[p * m + j],
					dy,
					dlnew;

		if (additive)
		{
			dy = dlb + dsj;
			dlnew = dlb - alpha * dy + (p == 0 ? e : 0.0);
			gs[p * m + j] = dsj - gamma * dy + (p == 2 ? e : 0.0);
		}
		else
		{
			dy = dlb * sj + lb * dsj;
			dlnew = (1.0 - alpha) * dlb - alpha * yt * dsj / (sj * sj) +
				(p == 0 ? yt / sj - lb : 0.0);
			gs[p * m + j] = (1.0 - gamma) * dsj - gamma * yt * dlb / (lb * lb) +
				(p == 2 ? yt / lb - sj : 0.0);
		}
		gb[p] = beta * (dlnew - gl[p]) + (1.0 - beta) * gb[p] +
			(p == 1 ? lnew - l - b : 0.0);
		gl[p] = dlnew;
		gsse[p] -= 2.0 * e * dy;
	}
}

/*
 * One pass of the recursions from initial states x0 with wk's smoothing
 * parameters.  Returns the SSE (INFINITY if not finite) and leaves the final
 * state in wk->level, wk->trend, wk->s.  With jacobian, also accumulates
 * the normal equations J'J and J'e of the errors in the free initial states
 * (hw_jacobian_step); with gradient, the SSE's derivatives in alpha, beta,
 * gamma (initial states held) in wk->pass_gradient (hw_gradient_step).
 */
static double
hw_pass(HwWork *wk, const double *x0, bool jacobian, bool gradient)
{
	const double *y = wk->y;
	int			n = wk->n,
				m = wk->m,
				kp = PAIR_ROUND(m + 2),
				nf = m + 1,
				nfp = PAIR_ROUND(nf),
				t,
				i,
				j = 0;
	double		alpha = wk->alpha,
				beta = wk->beta,
				gamma = wk->gamma;
	double		l = x0[0],
				b = x0[1],
				sse = 0.0;
	HwGradient	g;
	double	   *s = wk->s;
	bool		additive = wk->seasonal == HW_ADDITIVE;

	memcpy(s, x0 + 2, sizeof(double) * m);
	if (jacobian)
	{
		memset(wk->dl, 0, sizeof(double) * kp);
		memset(wk->db, 0, sizeof(double) * kp);
		memset(wk->ds, 0, sizeof(double) * kp * m);
		wk->dl[0] = 1.0;
		wk->db[1] = 1.0;
		for (i = 0; i < m; i++)
			wk->ds[i * kp + i + 2] = 1.0;
		memset(wk->jtj, 0, sizeof(double) * nf * nfp);
		memset(wk->jte, 0, sizeof(double) * nf);
	}
	if (gradient)
	{
		memset(&g, 0, sizeof(g));
		memset(wk->gs, 0, sizeof(double) * 3 * m);
	}

	for (t = 0; t < n; t++)
	{
		double		lb = l + b,
					sj = s[j],
					yt = y[t],
					e,
					lnew;

		e = yt - (additive ? lb + sj : lb * sj);
		sse += e * e;
		wk->errors[t] = e;
		if (t == 0)
			wk->first_error = e;
		if (jacobian)
			hw_jacobian_step(wk, t, j, lb, sj, yt, e);

		if (additive)
		{
			lnew = lb + alpha * e;
			s[j] = sj + gamma * e;
		}
		else
		{
			lnew = alpha * yt / sj + (1.0 - alpha) * lb;
			s[j] = gamma * yt / lb + (1.0 - gamma) * sj;
		}
		if (gradient)
			hw_gradient_step(wk, &g, j, l, b, lb, sj, yt, e, lnew);
		b = beta * (lnew - l) + (1.0 - beta) * b;
		l = lnew;
		if (++j == m)
			j = 0;
	}
	wk->level = l;
	wk->trend = b;
	if (gradient)
		memcpy(wk->pass_gradient, g.sse, sizeof(g.sse));
	return isfinite(sse) ? sse : INFINITY;
}

/*
 * Best initial states for wk's smoothing parameters, by Gauss-Newton from
 * wk->x0 (updated in place).  Returns their SSE and, with gradient, puts
 * the SSE's derivatives in alpha, beta, gamma at those initial states in
 * wk->gradient (the derivatives of the profiled SSE, the initial states
 * being optimal).
 */
static double
hw_profile(HwWork *wk, bool gradient)
{
	int			m = wk->m,
				nf = m + 1,
				nfp = PAIR_ROUND(nf),
				iter,
				i;
	double		sse = hw_pass(wk, wk->x0, true, false);
	bool		have_gradient = false;

	if (!isfinite(sse))
		return INFINITY;
	for (iter = 0; iter < HW_GN_ITERATIONS; iter++)
	{
		double		step = 1.0,
					trial_sse = INFINITY;
		int			halvings;

		for (i = 0; i < nf; i++)
		{
			memcpy(wk->a + i * nf, wk->jtj + i * nfp, sizeof(double) * (i + 1));
			wk->row[i] = -wk->jte[i];
		}
		crm_dense_solve_psd(nf, wk->a, wk->row, wk->solve_work);

		/*
		 * Additive errors are linear in the initial states, so the SSE at
		 * the solution is known without another pass: e'e + delta'J'e.
		 */
		if (wk->seasonal == HW_ADDITIVE && !gradient)
		{
			double		drop = 0.0;

			for (i = 0; i < nf; i++)
				drop += wk->row[i] * wk->jte[i];
			wk->x0[0] += wk->row[0];
			wk->x0[1] += wk->row[1];
			for (i = 0; i < m - 1; i++)
			{
				wk->x0[2 + i] += wk->row[2 + i];
				wk->x0[m + 1] -= wk->row[2 + i];
			}
			return Max(sse + drop, 0.0);
		}
		for (halvings = 0; halvings < 20; halvings++)
		{
			wk->trial[0] = wk->x0[0] + step * wk->row[0];
			wk->trial[1] = wk->x0[1] + step * wk->row[1];
			wk->trial[m + 1] = wk->x0[m + 1];
			for (i = 0; i < m - 1; i++)
			{
				wk->trial[2 + i] = wk->x0[2 + i] + step * wk->row[2 + i];
				wk->trial[m + 1] -= step * wk->row[2 + i];
			}
			trial_sse = hw_pass(wk, wk->trial, false, gradient);
			if (trial_sse <= sse)
				break;
			step *= 0.5;
		}
		if (!(trial_sse <= sse))
			break;
		memcpy(wk->x0, wk->trial, sizeof(double) * (m + 2));
		if (gradient)
		{
			memcpy(wk->gradient, wk->pass_gradient, sizeof(wk->gradient));
			have_gradient = true;
		}
		if (wk->seasonal == HW_ADDITIVE || sse - trial_sse <= HW_GN_RELTOL * sse)
		{
			sse = trial_sse;
			break;
		}
		sse = hw_pass(wk, wk->x0, true, false);
	}
	if (gradient && !have_gradient)
	{
		sse = hw_pass(wk, wk->x0, false, true);
		memcpy(wk->gradient, wk->pass_gradient, sizeof(wk->gradient));
	}
	return sse;
}

/* Maps the unit cube to (alpha, beta, gamma) with gamma <= 1 - alpha. */
static void
hw_set_smoothing(HwWork *wk, const double *u)
{
	wk->alpha = u[0];
	wk->beta = u[1];
	wk->gamma = u[2] * (1.0 - u[0]);
}

/* The profiled SSE at the unit-cube point u (see hw_objective), alone. */
static double
hw_value(const double *u, void *context)
{
	HwWork	   *wk = (HwWork *) context;

	hw_set_smoothing(wk, u);
	memcpy(wk->x0, wk->warm, sizeof(double) * (wk->m + 2));
	return hw_profile(wk, false);
}

/*
 * The profiled SSE as a function of the unit cube (u0, u1, u2) = (alpha,
 * beta, gamma / (1 - alpha)).  Its gradient comes out of the same pass, so
 * it is kept for the optimiser's request that follows.
 */
static double
hw_objective(const double *u, double *gradient, void *context)
{
	HwWork	   *wk = (HwWork *) context;
	double		sse;

	if (gradient != NULL && wk->cached && memcmp(u, wk->cached_u, sizeof(wk->cached_u)) == 0)
	{
		memcpy(gradient, wk->cached_gradient, sizeof(wk->cached_gradient));
		return wk->cached_sse;
	}
	hw_set_smoothing(wk, u);
	memcpy(wk->x0, wk->warm, sizeof(double) * (wk->m + 2));
	sse = hw_profile(wk, true);
	wk->cached = true;
	wk->cached_sse = sse;
	memcpy(wk->cached_u, u, sizeof(wk->cached_u));
	wk->cached_gradient[0] = wk->gradient[0] - u[2] * wk->gradient[2];
	wk->cached_gradient[1] = wk->gradient[1];
	wk->cached_gradient[2] = (1.0 - u[0]) * wk->gradient[2];
	if (gradient != NULL)
		memcpy(gradient, wk->cached_gradient, sizeof(wk->cached_gradient));
	if (sse < wk->best_sse)
	{
		wk->best_sse = sse;
		memcpy(wk->warm, wk->x0, sizeof(double) * (wk->m + 2));
	}
	return sse;
}

/* Sums the seasonal initial states to zero (or averages them to one). */
static void
hw_normalise(HwWork *wk, double *x0)
{
	double		mean = 0.0;
	int			i;

	for (i = 0; i < wk->m; i++)
		mean += x0[2 + i] / wk->m;
	if (wk->seasonal == HW_ADDITIVE)
	{
		for (i = 0; i < wk->m; i++)
			x0[2 + i] -= mean;
		x0[0] += mean;
	}
	else if (mean > 0.0)
	{
		for (i = 0; i < wk->m; i++)
			x0[2 + i] /= mean;
		x0[0] *= mean;
		x0[1] *= mean;
	}
}

/* Fills the model from a final pass at wk's parameters and initial states x0. */
static void
hw_finish(HwWork *wk, const double *x0, bool optimized, HwModel *model)
{
	int			m = wk->m,
				n = wk->n,
				estimated = optimized ? m + 4 : 0,
				j;
	double		sse_after_first;

	model->n = n;
	model->m = m;
	model->seasonal = wk->seasonal;
	model->optimized = optimized;
	model->alpha = wk->alpha;
	model->beta = wk->beta;
	model->gamma = wk->gamma;
	model->sse = hw_pass(wk, x0, false, false);
	model->level = wk->level;
	model->trend = wk->trend;
	model->seasonals = palloc(sizeof(double) * m);
	for (j = 0; j < m; j++)
		model->seasonals[j] = wk->s[(n + j) % m];
	model->initial_level = x0[0];
	model->initial_trend = x0[1];
	model->initial_seasonals = palloc(sizeof(double) * m);
	memcpy(model->initial_seasonals, x0 + 2, sizeof(double) * m);

	model->nparams = estimated + 1;
	model->sigma2 = model->sse / (n - estimated);
	model->loglik = -0.5 * n * (log(2.0 * M_PI * model->sse / n) + 1.0);
	model->aicc = n - model->nparams - 1 > 0 ?
		-2.0 * model->loglik + 2.0 * model->nparams +
		2.0 * model->nparams * (model->nparams + 1) / (n - model->nparams - 1) : INFINITY;
	sse_after_first = model->sse - wk->first_error * wk->first_error;
	model->loglik_after_first =
		-0.5 * (n - 1) * (log(2.0 * M_PI * Max(sse_after_first, 0.0) / (n - 1)) + 1.0);
}

/*
 * The start grid, in unit-cube coordinates, bounds included (optima often
 * lie on them); beta does nothing when alpha = 0, nor gamma when alpha = 1,
 * so those points are left out.  Returns the number of points.
 */
static int
hw_grid(double points[HW_GRID_MAX][3])
{
	static const double grid_alpha[] = {0.0, 0.3, 0.7, 1.0};
	static const double grid_beta[] = {0.0, 0.05, 0.25, 1.0};
	static const double grid_gamma[] = {0.0, 0.1, 0.4, 1.0};
	int			a,
				b,
				g,
				count = 0;

	for (a = 0; a < (int) lengthof(grid_alpha); a++)
		for (b = 0; b < (int) lengthof(grid_beta); b++)
			for (g = 0; g < (int) lengthof(grid_gamma); g++)
			{
				if ((grid_alpha[a] == 0.0 && b > 0) || (grid_alpha[a] == 1.0 && g > 0))
					continue;
				Assert(count < HW_GRID_MAX);
				points[count][0] = grid_alpha[a];
				points[count][1] = grid_beta[b];
				points[count][2] = grid_gamma[g];
				count++;
			}
	return count;
}

/*
 * With additive seasonality the errors are affine in the initial states,
 * with a Jacobian J that depends on the smoothing parameters, the length n
 * and the season m, but not on the data.  At the start-grid points J and the
 * factored J'J are therefore the same for every series of one shape: they
 * are kept per backend for the last (n, m) seen (if small), so a GROUP BY
 * over many series of one length -- the usual case, one series per product
 * or account over the same months -- computes them once.  Scoring a grid
 * point is then one plain pass, J'e and two triangular solves.
 */
typedef struct HwGridCache
{
	int			n,
				m;				/* shape cached; 0 when none */
	int			count;			/* grid points */
	double	   *block;			/* one allocation in TopMemoryContext */
	double	   *rows[HW_GRID_MAX];	/* J, n x (m + 1) */
	double	   *factor[HW_GRID_MAX];	/* factored J'J, (m + 1) x (m + 1) */
	double	   *work[HW_GRID_MAX];	/* its scaling, 2 (m + 1) */
} HwGridCache;

static HwGridCache hw_grid_cache;

/* The cache for wk's shape, built if needed; NULL when it does not apply. */
static HwGridCache *
hw_grid_cache_for(HwWork *wk, double points[HW_GRID_MAX][3], int count)
{
	HwGridCache *cache = &hw_grid_cache;
	int			n = wk->n,
				nf = wk->m + 1,
				nfp = PAIR_ROUND(nf),
				p,
				i;
	double	   *block;

	if (wk->seasonal != HW_ADDITIVE || (Size) n * nf > HW_GRID_CACHE_MAX)
		return NULL;
	if (cache->n == n && cache->m == wk->m)
		return cache;

	/* (a build cut short by an error leaves n = 0 and is freed here) */
	cache->n = 0;
	if (cache->block != NULL)
		pfree(cache->block);
	cache->block = block =
		MemoryContextAlloc(TopMemoryContext,
						   sizeof(double) * count * ((Size) n * nf + nf * nf + 2 * nf));
	for (p = 0; p < count; p++)
	{
		cache->rows[p] = block;
		cache->factor[p] = block + (Size) n * nf;
		cache->work[p] = cache->factor[p] + nf * nf;
		block = cache->work[p] + 2 * nf;

		hw_set_smoothing(wk, points[p]);
		wk->rows_out = cache->rows[p];
		hw_pass(wk, wk->warm, true, false);
		wk->rows_out = NULL;
		for (i = 0; i < nf; i++)
			memcpy(cache->factor[p] + i * nf, wk->jtj + i * nfp, sizeof(double) * (i + 1));
		crm_dense_factor_psd(nf, cache->factor[p], cache->work[p]);
	}
	cache->n = n;
	cache->m = wk->m;
	cache->count = count;
	return cache;
}

/* The profiled SSE at grid point p from the cache: e'e + delta'J'e. */
static double
hw_grid_value(HwWork *wk, HwGridCache *cache, int p, const double *u)
{
	int			n = wk->n,
				nf = wk->m + 1,
				t,
				i;
	const double *rows = cache->rows[p];
	double	   *jte = wk->jte,
			   *delta = wk->row,
				sse,
				drop = 0.0;

	hw_set_smoothing(wk, u);
	sse = hw_pass(wk, wk->warm, false, false);
	if (!isfinite(sse))
		return INFINITY;
	memset(jte, 0, sizeof(double) * nf);
	for (t = 0; t < n; t++)
		for (i = 0; i < nf; i++)
			jte[i] += rows[t * nf + i] * wk->errors[t];
	for (i = 0; i < nf; i++)
		delta[i] = -jte[i];
	crm_dense_solve_factored(nf, cache->factor[p], cache->work[p], delta);
	for (i = 0; i < nf; i++)
		drop += delta[i] * jte[i];
	return Max(sse + drop, 0.0);
}

/* Keeps the HW_STARTS best grid points, best first, skipping ties. */
static void
hw_keep_start(double starts[][3], double *start_sse, const double *u, double sse)
{
	int			i,
				j;

	for (i = 0; i < HW_STARTS; i++)
	{
		/* a point exactly as good as a kept one probably leads to it */
		if (fabs(sse - start_sse[i]) <= 1e-9 * sse)
			return;
		if (sse < start_sse[i])
		{
			for (j = HW_STARTS - 1; j > i; j--)
			{
				start_sse[j] = start_sse[j - 1];
				memcpy(starts[j], starts[j - 1], sizeof(starts[j]));
			}
			start_sse[i] = sse;
			memcpy(starts[i], u, sizeof(starts[i]));
			return;
		}
	}
}

const char *
crm_hw_fit(const double *y, int n, int m, HwSeasonal seasonal, HwModel *model)
{
	static const double probes[] = {0.03, 0.1, 0.25, 0.5, 0.8};
	HwWork		wk;
	const char *problem;
	double		lo[3] = {0.0, 0.0, 0.0},
				hi[3] = {1.0, 1.0, 1.0};
	double		grid[HW_GRID_MAX][3],
				starts[HW_STARTS][3],
				start_sse[HW_STARTS],
				best_u[3] = {0.5, 0.1, 0.1},
				best = INFINITY;
	HwGridCache *cache;
	int			count,
				p,
				s;

	if ((problem = crm_hw_check_data(y, n, m, seasonal, true)) != NULL)
		return problem;
	hw_work_init(&wk, y, n, m, seasonal);
	hw_initial_states(y, n, m, seasonal, wk.warm);

	/* the best points of a coarse grid start the quasi-Newton searches */
	count = hw_grid(grid);
	cache = hw_grid_cache_for(&wk, grid, count);
	for (s = 0; s < HW_STARTS; s++)
		start_sse[s] = INFINITY;
	for (p = 0; p < count; p++)
		hw_keep_start(starts, start_sse, grid[p],
					  cache ? hw_grid_value(&wk, cache, p, grid[p]) : hw_value(grid[p], &wk));
	for (s = 0; s < HW_STARTS; s++)
	{
		OptResult	result;

		if (!isfinite(start_sse[s]))
			continue;
		result = crm_opt_bfgs_box(hw_objective, &wk, 3, starts[s], lo, hi,
							  HW_TOLERANCE, 0.0, HW_MAX_STEP, HW_MAX_EVALUATIONS);
		if (result.value < best)
		{
			best = result.value;
			memcpy(best_u, starts[s], sizeof(best_u));
		}
	}

	/*
	 * A search often stops on a bound (beta = 0, say) where the surface
	 * dips again further in: probe each parameter across its range.
	 */
	crm_opt_probe(hw_value, hw_objective, &wk, 3, best_u, &best, lo, hi, probes, lengthof(probes),
			  HW_PROBE_ROUNDS, HW_TOLERANCE, 0.0, HW_MAX_STEP, HW_MAX_EVALUATIONS);
	if (!isfinite(best))
		return pstrdup("No Holt-Winters model has a finite sum of squared errors for this series.");

	hw_set_smoothing(&wk, best_u);
	memcpy(wk.x0, wk.warm, sizeof(double) * (m + 2));
	hw_profile(&wk, false);
	hw_normalise(&wk, wk.x0);
	hw_finish(&wk, wk.x0, true, model);
	if (!isfinite(model->sse))
		return pstrdup("No Holt-Winters model has a finite sum of squared errors for this series.");
	return NULL;
}

const char *
crm_hw_fit_fixed(const double *y, int n, int m, HwSeasonal seasonal,
			 double alpha, double beta, double gamma, HwModel *model)
{
	HwWork		wk;
	const char *problem;

	if (!(alpha >= 0.0 && alpha <= 1.0 && beta >= 0.0 && beta <= 1.0 &&
		  gamma >= 0.0 && gamma <= 1.0 - alpha))
		return psprintf("The smoothing parameters must satisfy 0 <= alpha <= 1, 0 <= beta <= 1 and 0 <= gamma <= 1 - alpha; they are %g, %g and %g.",
						alpha, beta, gamma);
	if ((problem = crm_hw_check_data(y, n, m, seasonal, false)) != NULL)
		return problem;
	hw_work_init(&wk, y, n, m, seasonal);
	hw_initial_states(y, n, m, seasonal, wk.x0);
	wk.alpha = alpha;
	wk.beta = beta;
	wk.gamma = gamma;
	hw_finish(&wk, wk.x0, false, model);
	if (!isfinite(model->sse))
		return pstrdup("The Holt-Winters recursions overflow for this series and these parameters.");
	return NULL;
}

void
crm_hw_forecast(const HwModel *model, int horizon, double *mean, double *variance)
{
	int			m = model->m,
				h,
				j;
	double		alpha = model->alpha,
				beta = model->beta,
				gamma = model->gamma,
				sum = 0.0;

	for (h = 1; h <= horizon; h++)
	{
		double		base = model->level + h * model->trend,
					season = model->seasonals[(h - 1) % m];

		if (model->seasonal == HW_ADDITIVE)
		{
			/* class 1: sum_{j<h} c_j^2 grows by one term per step */
			if (h > 1)
			{
				double		c = alpha * (1.0 + beta * (h - 1)) + ((h - 1) % m == 0 ? gamma : 0.0);

				sum += c * c;
			}
			mean[h - 1] = base + season;
		}
		else
		{
			sum = 0.0;
			for (j = 1; j < h; j++)
			{
				double		c = season * alpha * (1.0 + beta * (h - j)) / model->seasonals[(j - 1) % m];

				if ((h - j) % m == 0)
					c += gamma * base / (model->level + j * model->trend);
				sum += c * c;
			}
			mean[h - 1] = base * season;
		}
		variance[h - 1] = model->sigma2 * (1.0 + sum);
	}
}
