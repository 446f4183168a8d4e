/*-------------------------------------------------------------------------
 * linalg.c
 *	  Small dense linear algebra for the forecasting and scoring aggregates
 *	  (see linalg.h): Cholesky with a relative rank test, triangular and
 *	  Cholesky solves, inverses.
 *
 * Cholesky without pivoting is backward stable for positive definite
 * matrices, and its error depends on the condition of the matrix scaled to
 * unit diagonal, not on the scale of each column, so callers need not
 * rescale.  Keeping the natural column order lets a caller name the first
 * column that is collinear with the ones before it.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "linalg.h"

int
crm_cholesky(double *a, int n, double tol)
{
	for (int j = 0; j < n; j++)
	{
		double		diag = a[j * n + j];
		double		pivot = diag;

		for (int k = 0; k < j; k++)
			pivot -= a[j * n + k] * a[j * n + k];
		if (!(diag > 0.0) || !(pivot > tol * diag))
			return j;
		pivot = sqrt(pivot);
		a[j * n + j] = pivot;
		for (int i = j + 1; i < n; i++)
		{
			double		s = a[i * n + j];

			for (int k = 0; k < j; k++)
				s -= a[i * n + k] * a[j * n + k];
			a[i * n + j] = s / pivot;
		}
		for (int k = j + 1; k < n; k++)
			a[j * n + k] = 0.0;
	}
	return -1;
}

void
crm_lower_solve(const double *l, int n, double *b)
{
	for (int i = 0; i < n; i++)
	{
		double		s = b[i];

		for (int k = 0; k < i; k++)
			s -= l[i * n + k] * b[k];
		b[i] = s / l[i * n + i];
	}
}

void
crm_cholesky_solve(const double *l, int n, double *b)
{
	crm_lower_solve(l, n, b);
	for (int i = n - 1; i >= 0; i--)
	{
		double		s = b[i];

		for (int k = i + 1; k < n; k++)
			s -= l[k * n + i] * b[k];
		b[i] = s / l[i * n + i];
	}
}

void
crm_cholesky_inverse(const double *l, int n, double *inv, double *work)
{
	/* work = L⁻¹, lower triangular, one column at a time */
	for (int j = 0; j < n; j++)
	{
		for (int i = 0; i < n; i++)
			work[i * n + j] = 0.0;
		work[j * n + j] = 1.0 / l[j * n + j];
		for (int i = j + 1; i < n; i++)
		{
			double		s = 0.0;

			for (int k = j; k < i; k++)
				s -= l[i * n + k] * work[k * n + j];
			work[i * n + j] = s / l[i * n + i];
		}
	}
	/* inv = L⁻ᵀ L⁻¹ */
	for (int i = 0; i < n; i++)
		for (int j = 0; j <= i; j++)
		{
			double		s = 0.0;

			for (int k = i; k < n; k++)
				s += work[k * n + i] * work[k * n + j];
			inv[i * n + j] = s;
			inv[j * n + i] = s;
		}
}

bool
crm_invert(double *a, int n, double *inv, double tol)
{
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			inv[i * n + j] = (i == j) ? 1.0 : 0.0;

	for (int c = 0; c < n; c++)
	{
		int			best = c;
		double		colmax = 0.0;
		double		p;

		for (int r = 0; r < n; r++)
			colmax = fmax(colmax, fabs(a[r * n + c]));
		for (int r = c + 1; r < n; r++)
			if (fabs(a[r * n + c]) > fabs(a[best * n + c]))
				best = r;
		if (!(fabs(a[best * n + c]) > tol * colmax))
			return false;
		if (best != c)
			for (int j = 0; j < n; j++)
			{
				double		t = a[c * n + j];

				a[c * n + j] = a[best * n + j];
				a[best * n + j] = t;
				t = inv[c * n + j];
				inv[c * n + j] = inv[best * n + j];
				inv[best * n + j] = t;
			}
		p = a[c * n + c];
		for (int j = 0; j < n; j++)
		{
			a[c * n + j] /= p;
			inv[c * n + j] /= p;
		}
		for (int r = 0; r < n; r++)
		{
			double		f = a[r * n + c];

			if (r == c || f == 0.0)
				continue;
			for (int j = 0; j < n; j++)
			{
				a[r * n + j] -= f * a[c * n + j];
				inv[r * n + j] -= f * inv[c * n + j];
			}
		}
	}
	return true;
}
