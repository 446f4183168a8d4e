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

OptResult
crm_opt_bfgs_box(opt_objective fn, void *context, int n, double *x,
			 const double *lo, const double *hi, double tol, double scale,
			 double max_step, int max_evaluations)
{
	double		h[OPT_MAX_PARAMS * OPT_MAX_PARAMS];
	double		g[OPT_MAX_PARAMS],
				gnew[OPT_MAX_PARAMS],
				d[OPT_MAX_PARAMS],
				xnew[OPT_MAX_PARAMS],
				s[OPT_MAX_PARAMS],
				yv[OPT_MAX_PARAMS],
				hy[OPT_MAX_PARAMS];
	bool		held[OPT_MAX_PARAMS];
	OptResult	result = {0};
	double		f;
	bool		fresh = true,	/* h is a multiple of the identity */
				scaled = false; /* ... already scaled since the reset */
	int			i,
				j;

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
	set_identity(n, h, 1.0);

	while (result.evaluations < max_evaluations)
	{
		double		gd = 0.0,
					longest = 0.0,
					step = 1.0,
					fnew = f,
					sy = 0.0,
					ss = 0.0,
					yhy = 0.0;
		bool		accepted = false,
					small;
		int			trial;

		CHECK_FOR_INTERRUPTS();

		/* hold variables on a bound whose gradient points outwards */
		for (i = 0; i < n; i++)
			held[i] = (x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0);
		for (i = 0; i < n; i++)
		{
			d[i] = 0.0;
			if (held[i])
				continue;
			for (j = 0; j < n; j++)
				if (!held[j])
					d[i] -= h[i * n + j] * g[j];
			gd += d[i] * g[i];
			longest = Max(longest, fabs(d[i]));
		}
		if (!(gd < 0.0))
		{
			if (fresh)
			{
				result.converged = true;	/* the projected gradient is zero */
				break;
			}
			set_identity(n, h, 1.0);
			fresh = true;
			scaled = false;
			continue;
		}
		if (longest > max_step)
			step = max_step / longest;

		/* projected backtracking line search */
		for (trial = 0; trial < LINE_SEARCH_TRIALS && result.evaluations < max_evaluations; trial++)
		{
			bool		moved = false;
			double		decrease = 0.0;

			for (i = 0; i < n; i++)
				xnew[i] = x[i] + step * d[i];
			clip(n, xnew, lo, hi);
			for (i = 0; i < n; i++)
			{
				decrease += g[i] * (xnew[i] - x[i]);
				moved = moved || xnew[i] != x[i];
			}
			if (!moved)
				break;
			fnew = fn(xnew, NULL, context);
			result.evaluations++;
			if (isfinite(fnew) && fnew <= f + LINE_SEARCH_ACCEPT * decrease)
			{
				accepted = true;
				break;
			}
			step *= LINE_SEARCH_SHRINK;
		}
		if (!accepted)
		{
			if (fresh)
			{
				result.converged = result.evaluations < max_evaluations;
				break;
			}
			set_identity(n, h, 1.0);
			fresh = true;
			scaled = false;
			continue;
		}

		small = f - fnew <= tol * (fabs(f) + scale);
		fn(xnew, gnew, context);
		for (i = 0; i < n; i++)
		{
			s[i] = xnew[i] - x[i];
			x[i] = xnew[i];
			yv[i] = gnew[i] - g[i];
			g[i] = gnew[i];
			sy += s[i] * yv[i];
			ss += s[i] * s[i];
			yhy += yv[i] * yv[i];
		}
		f = fnew;
		if (small)
		{
			/* converged when even a steepest descent step gains nothing */
			if (fresh)
			{
				result.converged = true;
				break;
			}
			set_identity(n, h, 1.0);
			fresh = true;
			scaled = false;
			continue;
		}
		if (!(sy > 1e-10 * sqrt(ss * yhy)) || !isfinite(sy))
		{
			set_identity(n, h, 1.0);
			fresh = true;
			scaled = false;
			continue;
		}
		/* first update after a reset: scale the identity to the curvature */
		if (fresh && !scaled)
		{
			set_identity(n, h, sy / yhy);
			scaled = true;
		}
		/* BFGS update of the inverse Hessian */
		yhy = 0.0;
		for (i = 0; i < n; i++)
		{
			hy[i] = 0.0;
			for (j = 0; j < n; j++)
				hy[i] += h[i * n + j] * yv[j];
			yhy += yv[i] * hy[i];
		}
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++)
				h[i * n + j] += (sy + yhy) * s[i] * s[j] / (sy * sy) -
					(hy[i] * s[j] + s[i] * hy[j]) / sy;
		fresh = false;
	}
	result.value = f;
	return result;
}

/* Value the simplex gives an infeasible vertex (R's optim does the same). */
#define NM_BIG 1.0e35

OptResult
crm_opt_nelder_mead(opt_value fn, void *context, int n, double *x, double reltol,
				int max_evaluations)
{
	/* vertices: n + 1 points, each n coordinates, then the centroid */
	double		v[(OPT_MAX_PARAMS + 2) * OPT_MAX_PARAMS],
				f[OPT_MAX_PARAMS + 1],
				trial[OPT_MAX_PARAMS],
				step = 0.0,
				size = 0.0,
				tolerance,
				value;
	double	   *centroid = v + (n + 1) * n;
	OptResult	result = {0};
	int			best = 0,
				i,
				j;

	Assert(n > 0 && n <= OPT_MAX_PARAMS);
	value = fn(x, context);
	result.evaluations = 1;
	if (!isfinite(value))
	{
		result.value = INFINITY;
		return result;
	}
	tolerance = reltol * (fabs(value) + reltol);
	for (i = 0; i < n; i++)
		step = Max(step, 0.1 * fabs(x[i]));
	if (step == 0.0)
		step = 0.1;

	/* first simplex: x, and x with one coordinate moved by step */
	memcpy(v, x, sizeof(double) * n);
	f[0] = value;
	for (j = 1; j <= n; j++)
	{
		double		move = step;

		memcpy(v + j * n, x, sizeof(double) * n);
		/* a step lost to rounding against a large coordinate grows */
		while (v[j * n + j - 1] == x[j - 1])
		{
			v[j * n + j - 1] = x[j - 1] + move;
			move *= 10.0;
		}
		size += move;
		value = fn(v + j * n, context);
		f[j] = isfinite(value) ? value : NM_BIG;
		result.evaluations++;
	}

	while (result.evaluations <= max_evaluations)
	{
		int			worst = 0;
		double		reflected,
					contracted;
		bool		replaced = false;

		CHECK_FOR_INTERRUPTS();
		best = 0;
		for (j = 1; j <= n; j++)
		{
			if (f[j] < f[best])
				best = j;
			if (f[j] > f[worst])
				worst = j;
		}
		if (f[worst] <= f[best] + tolerance)
		{
			result.converged = true;
			break;
		}

		/* centroid of all vertices but the worst */
		for (i = 0; i < n; i++)
		{
			double		sum = 0.0;

			for (j = 0; j <= n; j++)
				if (j != worst)
					sum += v[j * n + i];
			centroid[i] = sum / n;
		}

		/* reflect the worst vertex through the centroid */
		for (i = 0; i < n; i++)
			trial[i] = 2.0 * centroid[i] - v[worst * n + i];
		value = fn(trial, context);
		reflected = isfinite(value) ? value : NM_BIG;
		result.evaluations++;

		if (reflected < f[best])
		{
			/* better than the best: try going twice as far */
			double		expanded[OPT_MAX_PARAMS];

			for (i = 0; i < n; i++)
				expanded[i] = 2.0 * trial[i] - centroid[i];
			value = fn(expanded, context);
			value = isfinite(value) ? value : NM_BIG;
			result.evaluations++;
			if (value < reflected)
			{
				memcpy(v + worst * n, expanded, sizeof(double) * n);
				f[worst] = value;
			}
			else
			{
				memcpy(v + worst * n, trial, sizeof(double) * n);
				f[worst] = reflected;
			}
			continue;
		}
		if (reflected < f[worst])
		{
			memcpy(v + worst * n, trial, sizeof(double) * n);
			f[worst] = reflected;
			replaced = true;
		}

		/* contract the (possibly new) worst vertex halfway to the centroid */
		for (i = 0; i < n; i++)
			trial[i] = 0.5 * v[worst * n + i] + 0.5 * centroid[i];
		value = fn(trial, context);
		contracted = isfinite(value) ? value : NM_BIG;
		result.evaluations++;
		if (contracted < f[worst])
		{
			memcpy(v + worst * n, trial, sizeof(double) * n);
			f[worst] = contracted;
		}
		else if (!replaced)
		{
			/* nothing helped: shrink every vertex halfway to the best */
			double		new_size = 0.0;

			for (j = 0; j <= n; j++)
			{
				if (j == best)
					continue;
				for (i = 0; i < n; i++)
				{
					v[j * n + i] = 0.5 * (v[j * n + i] - v[best * n + i]) + v[best * n + i];
					new_size += fabs(v[j * n + i] - v[best * n + i]);
				}
				value = fn(v + j * n, context);
				f[j] = isfinite(value) ? value : NM_BIG;
				result.evaluations++;
			}
			if (!(new_size < size))
				break;
			size = new_size;
		}
	}
	best = 0;
	for (j = 1; j <= n; j++)
		if (f[j] < f[best])
			best = j;
	memcpy(x, v + best * n, sizeof(double) * n);
	result.value = f[best] >= NM_BIG ? INFINITY : f[best];
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
