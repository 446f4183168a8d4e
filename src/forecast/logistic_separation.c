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

CrmSeparation
crm_logreg_separation(const CrmRows *rows, const double *mean, const double *inv_sd)
{
	int			p = rows->width + 1;
	int64		n = rows->n;
	double	   *c = palloc0(sizeof(double) * p);
	double	   *artsign = palloc(sizeof(double) * p);
	double	   *binv = palloc(sizeof(double) * p * p);
	double	   *bmat = palloc(sizeof(double) * p * p);
	double	   *xb = palloc(sizeof(double) * p);
	double	   *y = palloc(sizeof(double) * p);
	double	   *u = palloc(sizeof(double) * p);
	double	   *z = palloc(sizeof(double) * p);
	int64	   *basis = palloc(sizeof(int64) * p);
	int			max_pivots = 100 + 50 * p;
	int			degenerate = 0;
	double		scale = 0.0;
	double		objective;

	/* c = −Σ z_i; artificial r has coefficient sign(c_r), starts at |c_r| */
	for (int64 i = 0; i < n; i++)
	{
		signed_row(rows, i, mean, inv_sd, z);
		for (int r = 0; r < p; r++)
			c[r] -= z[r];
	}
	for (int r = 0; r < p; r++)
	{
		artsign[r] = c[r] < 0 ? -1.0 : 1.0;
		basis[r] = n + r;
		scale += fabs(c[r]);
	}

	for (int pivot = 0;; pivot++)
	{
		int64		enter = -1;
		double		best = -PRICE_TOL;
		int			leave = -1;
		double		theta = 0.0;
		bool		bland = degenerate >= DEGENERATE_RUN;

		if (pivot >= max_pivots)
			return CRM_SEPARATION_UNKNOWN;

		/* the basis inverse and basic solution, recomputed now and then */
		if (pivot % REFACTOR_EVERY == 0)
		{
			for (int r = 0; r < p; r++)
			{
				column(rows, basis[r], mean, inv_sd, artsign, z);
				for (int s = 0; s < p; s++)
					bmat[s * p + r] = z[s];
			}
			if (!crm_invert(bmat, p, binv, 1e-13))
				return CRM_SEPARATION_UNKNOWN;
			for (int r = 0; r < p; r++)
			{
				xb[r] = 0.0;
				for (int s = 0; s < p; s++)
					xb[r] += binv[r * p + s] * c[s];
			}
		}

		/* duals: y = B⁻ᵀ c_B, with cost 1 on artificials, 0 on rows */
		for (int s = 0; s < p; s++)
		{
			y[s] = 0.0;
			for (int r = 0; r < p; r++)
				if (basis[r] >= n)
					y[s] += binv[r * p + s];
		}

		/* price the data columns (artificials never re-enter) */
		for (int64 i = 0; i < n; i++)
		{
			double		d = 0.0;

			signed_row(rows, i, mean, inv_sd, z);
			for (int s = 0; s < p; s++)
				d -= y[s] * z[s];
			if (d < best)
			{
				bool		basic = false;

				for (int r = 0; r < p; r++)
					basic |= (basis[r] == i);
				if (basic)
					continue;
				enter = i;
				if (bland)
					break;
				best = d;
			}
		}
		if (enter < 0)
			break;				/* optimal */

		/* ratio test on u = B⁻¹ z_enter */
		signed_row(rows, enter, mean, inv_sd, z);
		for (int r = 0; r < p; r++)
		{
			u[r] = 0.0;
			for (int s = 0; s < p; s++)
				u[r] += binv[r * p + s] * z[s];
		}
		for (int r = 0; r < p; r++)
		{
			double		t;

			if (u[r] <= PIVOT_TOL)
				continue;
			t = Max(xb[r], 0.0) / u[r];
			if (leave < 0 || t < theta ||
				(t == theta && bland && basis[r] < basis[leave]))
			{
				leave = r;
				theta = t;
			}
		}
		if (leave < 0)
			return CRM_SEPARATION_UNKNOWN;	/* unbounded: cannot happen in phase 1 */
		degenerate = (theta <= PIVOT_TOL) ? degenerate + 1 : 0;

		/* pivot */
		{
			double		ur = u[leave];

			for (int s = 0; s < p; s++)
				binv[leave * p + s] /= ur;
			xb[leave] /= ur;
			for (int r = 0; r < p; r++)
			{
				if (r == leave || u[r] == 0.0)
					continue;
				for (int s = 0; s < p; s++)
					binv[r * p + s] -= u[r] * binv[leave * p + s];
				xb[r] -= u[r] * xb[leave];
			}
			basis[leave] = enter;
		}
	}

	objective = 0.0;
	for (int r = 0; r < p; r++)
		if (basis[r] >= n)
			objective += Max(xb[r], 0.0);
	return objective <= 1e-9 * Max(scale, 1.0) ? CRM_SEPARATION_NONE : CRM_SEPARATION_FOUND;
}
