/*-------------------------------------------------------------------------
 * logistic_separation.c
 *	  Does the logistic maximum likelihood estimate exist?  An exact test
 *	  for (quasi-)complete separation by linear programming, run by
 *	  crm.logreg when Newton's method fails to converge.
 *
 * With z_i = ±(1, x_i) (+ for a true outcome, − for a false one) and a
 * design of full column rank, the estimate exists if and only if no
 * direction b ≠ 0 has z_i·b ≥ 0 for every row (Albert and Anderson, 1984).
 * By Stiemke's lemma that is the case exactly when some λ > 0 (every
 * λ_i > 0) has Σ λ_i z_i = 0.  Scaling so that λ ≥ 1 and writing
 * λ = 1 + μ, the question becomes whether c = −Σ z_i lies in the cone
 * spanned by the z_i: is there μ ≥ 0 with Σ μ_i z_i = c?  That is phase 1
 * of the simplex method on p equations (p = features + 1) and n columns:
 * minimise the sum of p artificial variables; the minimum is 0 exactly
 * when the estimate exists.
 *
 * Each z_i is computed on the fly from the stored row (features centred
 * and scaled, as Newton's method sees them, then the row normalised to
 * unit length, which leaves the cone unchanged and keeps the pivots well
 * scaled).  The basis inverse is p × p; pricing costs O(n p) per pivot.
 * Dantzig's rule is used, switching to Bland's rule after a run of
 * degenerate pivots so the method cannot cycle; the basis inverse is
 * recomputed every REFACTOR_EVERY pivots to stop rounding errors building
 * up.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "forecast/linalg.h"
#include "logistic.h"

#define REFACTOR_EVERY 25
#define DEGENERATE_RUN 50
#define PRICE_TOL 1e-11
#define PIVOT_TOL 1e-11

/* z_i: the signed, standardised row i with its intercept, of unit length. */
static void
signed_row(const CrmRows *rows, int64 i, const double *mean, const double *inv_sd, double *z)
{
	int			k = rows->width;
	const double *x = rows->values + i * k;
	double		sign = rows->flags[i] ? 1.0 : -1.0;
	double		norm = 1.0;

	z[0] = 1.0;
	for (int j = 0; j < k; j++)
	{
		z[1 + j] = (x[j] - mean[j]) * inv_sd[j];
		norm += z[1 + j] * z[1 + j];
	}
	norm = sign / sqrt(norm);
	for (int j = 0; j <= k; j++)
		z[j] *= norm;
}

/* Column col of the phase-1 matrix: row col of the data, or an artificial. */
static void
column(const CrmRows *rows, int64 col, const double *mean, const double *inv_sd,
	   const double *artsign, double *out)
{
	int			p = rows->width + 1;

	if (col < rows->n)
		signed_row(rows, col, mean, inv_sd, out);
	else
	{
		for (int r = 0; r < p; r++)
			out[r] = 0.0;
		out[col - rows->n] = artsign[col - rows->n];
	}
}

/* The phase-1 problem and the simplex method's state. */
typedef struct Phase1
{
	const CrmRows *rows;
	const double *mean;
	const double *inv_sd;
	int			p;				/* equations: features + 1 */
	int64		n;				/* data columns; artificial r is column n + r */
	double	   *c;				/* right-hand side, −Σ z_i */
	double	   *artsign;		/* the artificials' coefficients, sign(c_r) */
	double	   *binv;			/* basis inverse, p × p */
	double	   *bmat;			/* basis matrix, while refactoring */
	double	   *xb;				/* basic solution B⁻¹ c */
	double	   *y;				/* duals */
	double	   *u;				/* B⁻¹ z of the entering column */
	double	   *z;				/* a column */
	int64	   *basis;			/* the column basic in each row */
	double		scale;			/* Σ |c_r|, the starting objective */
} Phase1;

/* c = −Σ z_i; artificial r has coefficient sign(c_r) and starts basic at |c_r|. */
static void
phase1_start(Phase1 *ph)
{
	int			p = ph->p;

	for (int64 i = 0; i < ph->n; i++)
	{
		signed_row(ph->rows, i, ph->mean, ph->inv_sd, ph->z);
		for (int r = 0; r < p; r++)
			ph->c[r] -= ph->z[r];
	}
	for (int r = 0; r < p; r++)
	{
		ph->artsign[r] = ph->c[r] < 0 ? -1.0 : 1.0;
		ph->basis[r] = ph->n + r;
		ph->scale += fabs(ph->c[r]);
	}
}

/* The basis inverse and basic solution afresh; false when B is singular. */
static bool
phase1_refactor(Phase1 *ph)
{
	int			p = ph->p;

	for (int r = 0; r < p; r++)
	{
		column(ph->rows, ph->basis[r], ph->mean, ph->inv_sd, ph->artsign, ph->z);
		for (int s = 0; s < p; s++)
			ph->bmat[s * p + r] = ph->z[s];
	}
	if (!crm_invert(ph->bmat, p, ph->binv, 1e-13))
		return false;
	for (int r = 0; r < p; r++)
	{
		ph->xb[r] = 0.0;
		for (int s = 0; s < p; s++)
			ph->xb[r] += ph->binv[r * p + s] * ph->c[s];
	}
	return true;
}

/*
 * The entering column: the non-basic data column with the most negative
 * reduced cost (Dantzig), or the first negative one (Bland); -1 when none
 * is negative, i.e. the basis is optimal.  Artificials never re-enter.
 */
static int64
phase1_price(Phase1 *ph, bool bland)
{
	int			p = ph->p;
	int64		enter = -1;
	double		best = -PRICE_TOL;

	/* duals: y = B⁻ᵀ c_B, with cost 1 on artificials, 0 on rows */
	for (int s = 0; s < p; s++)
	{
		ph->y[s] = 0.0;
		for (int r = 0; r < p; r++)
			if (ph->basis[r] >= ph->n)
				ph->y[s] += ph->binv[r * p + s];
	}
	for (int64 i = 0; i < ph->n; i++)
	{
		double		d = 0.0;

		signed_row(ph->rows, i, ph->mean, ph->inv_sd, ph->z);
		for (int s = 0; s < p; s++)
			d -= ph->y[s] * ph->z[s];
		if (d < best)
		{
			bool		basic = false;

			for (int r = 0; r < p; r++)
				basic |= (ph->basis[r] == i);
			if (basic)
				continue;
			enter = i;
			if (bland)
				break;
			best = d;
		}
	}
	return enter;
}

/*
 * The ratio test on u = B⁻¹ z_enter: the row that leaves (ties to the
 * lowest column under Bland's rule), with the step *theta; -1 when the
 * column is unbounded.
 */
static int
phase1_ratio_test(Phase1 *ph, int64 enter, bool bland, double *theta)
{
	int			p = ph->p;
	int			leave = -1;

	signed_row(ph->rows, enter, ph->mean, ph->inv_sd, ph->z);
	for (int r = 0; r < p; r++)
	{
		ph->u[r] = 0.0;
		for (int s = 0; s < p; s++)
			ph->u[r] += ph->binv[r * p + s] * ph->z[s];
	}
	*theta = 0.0;
	for (int r = 0; r < p; r++)
	{
		double		t;

		if (ph->u[r] <= PIVOT_TOL)
			continue;
		t = Max(ph->xb[r], 0.0) / ph->u[r];
		if (leave < 0 || t < *theta ||
			(t == *theta && bland && ph->basis[r] < ph->basis[leave]))
		{
			leave = r;
			*theta = t;
		}
	}
	return leave;
}

/* Column enter replaces row leave's: update B⁻¹ and x_B with u. */
static void
phase1_pivot(Phase1 *ph, int leave, int64 enter)
{
	int			p = ph->p;
	double		ur = ph->u[leave];

	for (int s = 0; s < p; s++)
		ph->binv[leave * p + s] /= ur;
	ph->xb[leave] /= ur;
	for (int r = 0; r < p; r++)
	{
		if (r == leave || ph->u[r] == 0.0)
			continue;
		for (int s = 0; s < p; s++)
			ph->binv[r * p + s] -= ph->u[r] * ph->binv[leave * p + s];
		ph->xb[r] -= ph->u[r] * ph->xb[leave];
	}
	ph->basis[leave] = enter;
}

CrmSeparation
crm_logreg_separation(const CrmRows *rows, const double *mean, const double *inv_sd)
{
	int			p = rows->width + 1;
	Phase1		ph = {
		.rows = rows, .mean = mean, .inv_sd = inv_sd, .p = p, .n = rows->n,
		.c = palloc0(sizeof(double) * p),
		.artsign = palloc(sizeof(double) * p),
		.binv = palloc(sizeof(double) * p * p),
		.bmat = palloc(sizeof(double) * p * p),
		.xb = palloc(sizeof(double) * p),
		.y = palloc(sizeof(double) * p),
		.u = palloc(sizeof(double) * p),
		.z = palloc(sizeof(double) * p),
		.basis = palloc(sizeof(int64) * p),
	};
	int			max_pivots = 100 + 50 * p;
	int			degenerate = 0;
	double		objective = 0.0;

	phase1_start(&ph);
	for (int pivot = 0;; pivot++)
	{
		bool		bland = degenerate >= DEGENERATE_RUN;
		int64		enter;
		int			leave;
		double		theta;

		if (pivot >= max_pivots)
			return CRM_SEPARATION_UNKNOWN;
		if (pivot % REFACTOR_EVERY == 0 && !phase1_refactor(&ph))
			return CRM_SEPARATION_UNKNOWN;
		enter = phase1_price(&ph, bland);
		if (enter < 0)
			break;				/* optimal */
		leave = phase1_ratio_test(&ph, enter, bland, &theta);
		if (leave < 0)
			return CRM_SEPARATION_UNKNOWN;	/* unbounded: cannot happen in phase 1 */
		degenerate = (theta <= PIVOT_TOL) ? degenerate + 1 : 0;
		phase1_pivot(&ph, leave, enter);
	}

	for (int r = 0; r < p; r++)
		if (ph.basis[r] >= ph.n)
			objective += Max(ph.xb[r], 0.0);
	return objective <= 1e-9 * Max(ph.scale, 1.0) ? CRM_SEPARATION_NONE : CRM_SEPARATION_FOUND;
}
