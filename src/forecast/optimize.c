/*-------------------------------------------------------------------------
 * optimize.c
 *	  Box-constrained quasi-Newton minimiser for the time-series models:
 *	  the ARIMA likelihood over partial autocorrelations in (-1, 1), with
 *	  numerical gradients, and the Holt-Winters SSE over its smoothing
 *	  parameters in the unit cube, with analytic gradients.  Optima on a
 *	  bound are common in both (a unit-root MA, beta = 0), so bounds are
 *	  handled directly rather than by a transformation whose flat tails
 *	  would stall the search.
 *
 * crm_opt_probe restarts the search from the best of a few trial points along
 * each coordinate, to leave a local minimum on a bound.  Everything works
 * on at most OPT_MAX_PARAMS parameters in stack buffers and calls
 * CHECK_FOR_INTERRUPTS every iteration, so a long fit can be cancelled.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "miscadmin.h"

#include "forecast/optimize.h"

/* Armijo constant and backtracking factor of the line search. */
#define LINE_SEARCH_ACCEPT 1e-4
#define LINE_SEARCH_SHRINK 0.2
#define LINE_SEARCH_TRIALS 30
/* Step of the forward-difference gradient (error about 1e-8 here). */
#define GRADIENT_STEP 1e-7

static void
set_identity(int n, double *h, double scale)
{
	int			i;

	memset(h, 0, sizeof(double) * n * n);
	for (i = 0; i < n; i++)
		h[i * n + i] = scale;
}

static void
clip(int n, double *x, const double *lo, const double *hi)
{
	int			i;

	for (i = 0; i < n; i++)
		x[i] = Min(hi[i], Max(lo[i], x[i]));
}

void
crm_opt_numeric_gradient(opt_value value, void *context, int n, double *x,
					 const double *lo, const double *hi, double f0, double *gradient)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		double		xi = x[i],
					h = xi + GRADIENT_STEP <= hi[i] ? GRADIENT_STEP : -GRADIENT_STEP,
					f;

		x[i] = xi + h;
		f = value(x, context);
		x[i] = xi;
		gradient[i] = isfinite(f) ? (f - f0) / h : 0.0;
	}
}

/*
 * The BFGS approximation of the inverse Hessian.  After a reset it is the
 * identity (fresh), scaled to the curvature at the first update.
 */
typedef struct BfgsMetric
{
	int			n;
	double		h[OPT_MAX_PARAMS * OPT_MAX_PARAMS];
	bool		fresh;			/* h is a multiple of the identity */
	bool		scaled;			/* ... already scaled since the reset */
} BfgsMetric;

static void
metric_reset(BfgsMetric *m)
{
	set_identity(m->n, m->h, 1.0);
	m->fresh = true;
	m->scaled = false;
}

/*
 * The search direction d = -H g over the free variables; a variable on a
 * bound whose gradient points out of the box is held there (d_i = 0).
 * Returns g'd, negative for a descent direction; *longest is max |d_i|.
 */
static double
projected_direction(const BfgsMetric *m, const double *x, const double *g,
					const double *lo, const double *hi, double *d, double *longest)
{
	int			n = m->n;
	bool		held[OPT_MAX_PARAMS];
	double		gd = 0.0;

	*longest = 0.0;
	for (int i = 0; i < n; i++)
		held[i] = (x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0);
	for (int i = 0; i < n; i++)
	{
		d[i] = 0.0;
		if (held[i])
			continue;
		for (int j = 0; j < n; j++)
			if (!held[j])
				d[i] -= m->h[i * n + j] * g[j];
		gd += d[i] * g[i];
		*longest = Max(*longest, fabs(d[i]));
	}
	return gd;
}

/*
 * Projected backtracking line search from x (value f, gradient g) along d,
 * first trying step: each trial point is clipped into the box, and the
 * first one that lowers f enough (Armijo) is taken.  Returns true with
 * xnew and *fnew set; false when the trials or the evaluations run out, or
 * the clipped point no longer moves.
 */
static bool
line_search(opt_objective fn, void *context, int n, const double *x, double f, const double *g,
			const double *d, double step, const double *lo, const double *hi,
			int max_evaluations, int *evaluations, double *xnew, double *fnew)
{
	for (int trial = 0; trial < LINE_SEARCH_TRIALS && *evaluations < max_evaluations; trial++)
	{
		bool		moved = false;
		double		decrease = 0.0;

		for (int i = 0; i < n; i++)
			xnew[i] = x[i] + step * d[i];
		clip(n, xnew, lo, hi);
		for (int i = 0; i < n; i++)
		{
			decrease += g[i] * (xnew[i] - x[i]);
			moved = moved || xnew[i] != x[i];
		}
		if (!moved)
			return false;
		*fnew = fn(xnew, NULL, context);
		(*evaluations)++;
		if (isfinite(*fnew) && *fnew <= f + LINE_SEARCH_ACCEPT * decrease)
			return true;
		step *= LINE_SEARCH_SHRINK;
	}
	return false;
}

/*
 * BFGS update of the inverse Hessian for the step s and gradient change y,
 * given s'y (positive) and y'y; the first update after a reset scales the
 * identity to the curvature first.
 */
static void
metric_update(BfgsMetric *m, const double *s, const double *y, double sy, double yy)
{
	int			n = m->n;
	double		hy[OPT_MAX_PARAMS];
	double		yhy = 0.0;

	if (m->fresh && !m->scaled)
	{
		set_identity(n, m->h, sy / yy);
		m->scaled = true;
	}
	for (int i = 0; i < n; i++)
	{
		hy[i] = 0.0;
		for (int j = 0; j < n; j++)
			hy[i] += m->h[i * n + j] * y[j];
		yhy += y[i] * hy[i];
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			m->h[i * n + j] += (sy + yhy) * s[i] * s[j] / (sy * sy) -
				(hy[i] * s[j] + s[i] * hy[j]) / sy;
	m->fresh = false;
}

OptResult
crm_opt_bfgs_box(opt_objective fn, void *context, int n, double *x,
			 const double *lo, const double *hi, double tol, double scale,
			 double max_step, int max_evaluations)
{
	BfgsMetric	metric = {.n = n};
	double		g[OPT_MAX_PARAMS],
				gnew[OPT_MAX_PARAMS],
				d[OPT_MAX_PARAMS],
				xnew[OPT_MAX_PARAMS],
				s[OPT_MAX_PARAMS],
				y[OPT_MAX_PARAMS];
	OptResult	result = {0};
	double		f;

	Assert(n > 0 && n <= OPT_MAX_PARAMS);
	clip(n, x, lo, hi);
	f = fn(x, NULL, context);
	result.evaluations = 1;
	if (!isfinite(f))
	{
		result.value = f;
		return result;
	}
	fn(x, g, context);
	metric_reset(&metric);

	/*
	 * Each time the BFGS direction stops helping (no descent, no acceptable
	 * step, a step that gains too little, or curvature that would break the
	 * update), the metric is reset and the iteration retried as a projected
	 * steepest descent step; when that one stops helping too, x is the
	 * minimiser.
	 */
	while (result.evaluations < max_evaluations)
	{
		double		longest,
					gd,
					step = 1.0,
					fnew = f,
					sy = 0.0,
					ss = 0.0,
					yy = 0.0;
		bool		small;

		CHECK_FOR_INTERRUPTS();
		gd = projected_direction(&metric, x, g, lo, hi, d, &longest);
		if (!(gd < 0.0))
		{
			if (metric.fresh)
			{
				result.converged = true;	/* the projected gradient is zero */
				break;
			}
			metric_reset(&metric);
			continue;
		}
		if (longest > max_step)
			step = max_step / longest;
		if (!line_search(fn, context, n, x, f, g, d, step, lo, hi, max_evaluations, &result.evaluations,
						 xnew, &fnew))
		{
			if (metric.fresh)
			{
				result.converged = result.evaluations < max_evaluations;
				break;
			}
			metric_reset(&metric);
			continue;
		}

		small = f - fnew <= tol * (fabs(f) + scale);
		fn(xnew, gnew, context);
		for (int i = 0; i < n; i++)
		{
			s[i] = xnew[i] - x[i];
			x[i] = xnew[i];
			y[i] = gnew[i] - g[i];
			g[i] = gnew[i];
			sy += s[i] * y[i];
			ss += s[i] * s[i];
			yy += y[i] * y[i];
		}
		f = fnew;
		if (small)
		{
			/* converged when even a steepest descent step gains nothing */
			if (metric.fresh)
			{
				result.converged = true;
				break;
			}
			metric_reset(&metric);
			continue;
		}
		if (!(sy > 1e-10 * sqrt(ss * yy)) || !isfinite(sy))
		{
			metric_reset(&metric);
			continue;
		}
		metric_update(&metric, s, y, sy, yy);
	}
	result.value = f;
	return result;
}

/* Value the simplex gives an infeasible vertex (R's optim does the same). */
#define NM_BIG 1.0e35

/* n + 1 vertices of n coordinates each, their values, and a centroid. */
typedef struct Simplex
{
	int			n;
	double		v[(OPT_MAX_PARAMS + 1) * OPT_MAX_PARAMS];
	double		f[OPT_MAX_PARAMS + 1];
	double		centroid[OPT_MAX_PARAMS];
} Simplex;

#define VERTEX(s, j) ((s)->v + (j) * (s)->n)

/* fn at x, NM_BIG where it is not finite; counts the evaluation. */
static double
nm_value(opt_value fn, void *context, const double *x, int *evaluations)
{
	double		value = fn(x, context);

	(*evaluations)++;
	return isfinite(value) ? value : NM_BIG;
}

/*
 * The first simplex: x (value fx), and x with coordinate j moved by step,
 * a step lost to rounding against a large coordinate growing tenfold until
 * it moves.  Returns the simplex's size (the sum of the moves).
 */
static double
simplex_start(Simplex *s, opt_value fn, void *context, const double *x, double fx, double step,
			  int *evaluations)
{
	int			n = s->n;
	double		size = 0.0;

	memcpy(VERTEX(s, 0), x, sizeof(double) * n);
	s->f[0] = fx;
	for (int j = 1; j <= n; j++)
	{
		double	   *vertex = VERTEX(s, j);
		double		move = step;

		memcpy(vertex, x, sizeof(double) * n);
		while (vertex[j - 1] == x[j - 1])
		{
			vertex[j - 1] = x[j - 1] + move;
			move *= 10.0;
		}
		size += move;
		s->f[j] = nm_value(fn, context, vertex, evaluations);
	}
	return size;
}

static void
simplex_best_worst(const Simplex *s, int *best, int *worst)
{
	*best = 0;
	*worst = 0;
	for (int j = 1; j <= s->n; j++)
	{
		if (s->f[j] < s->f[*best])
			*best = j;
		if (s->f[j] > s->f[*worst])
			*worst = j;
	}
}

/* The centroid of every vertex but the worst. */
static void
simplex_centroid(Simplex *s, int worst)
{
	int			n = s->n;

	for (int i = 0; i < n; i++)
	{
		double		sum = 0.0;

		for (int j = 0; j <= n; j++)
			if (j != worst)
				sum += VERTEX(s, j)[i];
		s->centroid[i] = sum / n;
	}
}

static void
simplex_replace(Simplex *s, int j, const double *point, double value)
{
	memcpy(VERTEX(s, j), point, sizeof(double) * s->n);
	s->f[j] = value;
}

/* Every vertex moved halfway to the best; returns the new size. */
static double
simplex_shrink(Simplex *s, int best, opt_value fn, void *context, int *evaluations)
{
	int			n = s->n;
	const double *b = VERTEX(s, best);
	double		size = 0.0;

	for (int j = 0; j <= n; j++)
	{
		double	   *vertex = VERTEX(s, j);

		if (j == best)
			continue;
		for (int i = 0; i < n; i++)
		{
			vertex[i] = 0.5 * (vertex[i] - b[i]) + b[i];
			size += fabs(vertex[i] - b[i]);
		}
		s->f[j] = nm_value(fn, context, vertex, evaluations);
	}
	return size;
}

OptResult
crm_opt_nelder_mead(opt_value fn, void *context, int n, double *x, double reltol,
				int max_evaluations)
{
	Simplex		s = {.n = n};
	double		trial[OPT_MAX_PARAMS],
				step = 0.0,
				size,
				tolerance,
				value;
	OptResult	result = {0};
	int			best,
				worst;

	Assert(n > 0 && n <= OPT_MAX_PARAMS);
	value = fn(x, context);
	result.evaluations = 1;
	if (!isfinite(value))
	{
		result.value = INFINITY;
		return result;
	}
	tolerance = reltol * (fabs(value) + reltol);
	for (int i = 0; i < n; i++)
		step = Max(step, 0.1 * fabs(x[i]));
	if (step == 0.0)
		step = 0.1;
	size = simplex_start(&s, fn, context, x, value, step, &result.evaluations);

	while (result.evaluations <= max_evaluations)
	{
		double		reflected,
					contracted;
		bool		replaced = false;

		CHECK_FOR_INTERRUPTS();
		simplex_best_worst(&s, &best, &worst);
		if (s.f[worst] <= s.f[best] + tolerance)
		{
			result.converged = true;
			break;
		}
		simplex_centroid(&s, worst);

		/* reflect the worst vertex through the centroid */
		for (int i = 0; i < n; i++)
			trial[i] = 2.0 * s.centroid[i] - VERTEX(&s, worst)[i];
		reflected = nm_value(fn, context, trial, &result.evaluations);
		if (reflected < s.f[best])
		{
			/* better than the best: try going twice as far */
			double		expanded[OPT_MAX_PARAMS];

			for (int i = 0; i < n; i++)
				expanded[i] = 2.0 * trial[i] - s.centroid[i];
			value = nm_value(fn, context, expanded, &result.evaluations);
			if (value < reflected)
				simplex_replace(&s, worst, expanded, value);
			else
				simplex_replace(&s, worst, trial, reflected);
			continue;
		}
		if (reflected < s.f[worst])
		{
			simplex_replace(&s, worst, trial, reflected);
			replaced = true;
		}

		/* contract the (possibly new) worst vertex halfway to the centroid */
		for (int i = 0; i < n; i++)
			trial[i] = 0.5 * VERTEX(&s, worst)[i] + 0.5 * s.centroid[i];
		contracted = nm_value(fn, context, trial, &result.evaluations);
		if (contracted < s.f[worst])
			simplex_replace(&s, worst, trial, contracted);
		else if (!replaced)
		{
			/* nothing helped: shrink, and stop once that no longer shrinks it */
			double		new_size = simplex_shrink(&s, best, fn, context, &result.evaluations);

			if (!(new_size < size))
				break;
			size = new_size;
		}
	}
	simplex_best_worst(&s, &best, &worst);
	memcpy(x, VERTEX(&s, best), sizeof(double) * n);
	result.value = s.f[best] >= NM_BIG ? INFINITY : s.f[best];
	return result;
}

void
crm_opt_probe(opt_value probe, opt_objective fn, void *context, int n, double *x, double *fx,
		  const double *lo, const double *hi, const double *fractions, int nprobe,
		  int rounds, double tol, double scale, double max_step, int max_evaluations)
{
	double		trial[OPT_MAX_PARAMS],
				start[OPT_MAX_PARAMS];
	int			round,
				i,
				p;

	for (round = 0; round < rounds && isfinite(*fx); round++)
	{
		double		best = *fx;
		OptResult	result;

		for (i = 0; i < n; i++)
			for (p = 0; p < nprobe; p++)
			{
				double		value;

				memcpy(trial, x, sizeof(double) * n);
				trial[i] = lo[i] + fractions[p] * (hi[i] - lo[i]);
				value = probe(trial, context);
				if (value < best)
				{
					best = value;
					memcpy(start, trial, sizeof(double) * n);
				}
			}
		if (!(best < *fx - tol * (fabs(*fx) + scale)))
			return;
		result = crm_opt_bfgs_box(fn, context, n, start, lo, hi, tol, scale, max_step, max_evaluations);
		if (!(result.value < *fx))
			return;
		*fx = result.value;
		memcpy(x, start, sizeof(double) * n);
	}
}
