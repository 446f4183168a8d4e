/*-------------------------------------------------------------------------
 * optimize.h
 *	  Small-dimension minimisers for the time-series models (ARIMA
 *	  likelihood, Holt-Winters SSE, ETS likelihood).
 *
 * Everything works in caller-provided or stack buffers of at most
 * OPT_MAX_PARAMS parameters: nothing allocates per iteration.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_FORECAST_OPTIMIZE_H
#define CRM_FORECAST_OPTIMIZE_H

#include "forecast/linalg.h"

#define OPT_MAX_PARAMS 32

/* Objective value: returns +Inf (never NaN) where x is infeasible. */
typedef double (*opt_value) (const double *x, void *context);

/*
 * Objective for crm_opt_bfgs_box: returns the value at x and, when gradient is
 * not NULL, writes the gradient there.  It is asked for the gradient only at
 * points it was just asked for the value of, so it may cache it.
 */
typedef double (*opt_objective) (const double *x, double *gradient, void *context);

typedef struct OptResult
{
	double		value;			/* objective at the returned x */
	int			evaluations;
	bool		converged;
} OptResult;

/*
 * Projected quasi-Newton (BFGS) minimisation inside the box lo <= x <= hi:
 * variables on a bound whose gradient points out of the box are held
 * there, the others follow the BFGS direction, and the backtracking line
 * search (first trial moving no variable by more than max_step) projects
 * every trial point onto the box.  x holds the start on entry and the
 * minimiser on return.  Stops when an iteration started from a projected
 * steepest descent step improves the objective by less than
 * tol * (|f| + scale).
 */
extern OptResult crm_opt_bfgs_box(opt_objective fn, void *context, int n, double *x,
							  const double *lo, const double *hi, double tol, double scale,
							  double max_step, int max_evaluations);

/*
 * Nelder-Mead simplex minimisation without derivatives, with the settings
 * of R's optim(method = "Nelder-Mead"): reflection 1, contraction 0.5,
 * expansion 2, a first simplex stepping each coordinate by a tenth of the
 * largest |x_i| (0.1 if all are zero), stopping when the simplex's values
 * are within reltol * (|f(x0)| + reltol) of each other, when a shrink no
 * longer shrinks it, or after max_evaluations evaluations.  fn returns
 * +Inf where x is infeasible.  x holds the start on entry and the best
 * vertex on return.
 */
extern OptResult crm_opt_nelder_mead(opt_value fn, void *context, int n, double *x,
								 double reltol, int max_evaluations);

/*
 * Escapes local minima on a bound or in a side valley: from the minimiser
 * x (value *fx), tries each coordinate at each of the nprobe fractions of
 * its range (the others held) with probe, a possibly cheaper evaluation of
 * the same objective, and runs crm_opt_bfgs_box with fn again from the best
 * probe that beats x; repeated up to rounds times.  Updates x and *fx.
 */
extern void crm_opt_probe(opt_value probe, opt_objective fn, void *context, int n, double *x,
					  double *fx, const double *lo, const double *hi, const double *fractions,
					  int nprobe, int rounds, double tol, double scale, double max_step,
					  int max_evaluations);

/*
 * Forward-difference gradient of value at x (backward next to the upper
 * bound of the box), f0 being the value at x.
 */
extern void crm_opt_numeric_gradient(opt_value value, void *context, int n, double *x,
								 const double *lo, const double *hi, double f0,
								 double *gradient);

#endif							/* CRM_FORECAST_OPTIMIZE_H */
