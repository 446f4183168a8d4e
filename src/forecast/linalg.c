/*-------------------------------------------------------------------------
 * linalg.c
 *	  Small dense linear algebra for the forecasting and scoring aggregates
 *	  (see linalg.h): one Cholesky factorisation (stopping at, or dropping,
 *	  a column collinear with the earlier ones), triangular and Cholesky
 *	  solves, inverses, Gaussian elimination, matrix products.
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

#include "forecast/linalg.h"

/* Pivots below this (relative to a unit diagonal) count as zero. */
#define PSD_PIVOT_TOLERANCE 1e-11

/*
 * The Cholesky factorisation of both crm_cholesky and crm_dense_factor_psd:
 * column j fails when its original diagonal is not positive or its pivot is
 * not above tol times it.  With inverse NULL the first failing column is
 * returned (-1 when none); otherwise a failing column is dropped -- set to
 * zero, its inverse pivot to 0 -- and the count of dropped columns is
 * returned.  Zeros are written above the diagonal.
 */
static int
cholesky_kernel(double *a, int n, double tol, double *inverse)
{
	int			dropped = 0;

	for (int j = 0; j < n; j++)
	{
		double		diag = a[j * n + j];
		double		pivot = diag;

		for (int k = 0; k < j; k++)
			pivot -= a[j * n + k] * a[j * n + k];
		for (int k = j + 1; k < n; k++)
			a[j * n + k] = 0.0;
		if (!(diag > 0.0) || !(pivot > tol * diag))
		{
			if (inverse == NULL)
				return j;
			dropped++;
			inverse[j] = 0.0;
			for (int i = j; i < n; i++)
				a[i * n + j] = 0.0;
			continue;
		}
		pivot = sqrt(pivot);
		a[j * n + j] = pivot;
		if (inverse != NULL)
			inverse[j] = 1.0 / pivot;
		for (int i = j + 1; i < n; i++)
		{
			double		s = a[i * n + j];

			for (int k = 0; k < j; k++)
				s -= a[i * n + k] * a[j * n + k];
			a[i * n + j] = s / pivot;
		}
	}
	return inverse == NULL ? -1 : dropped;
}

int
crm_cholesky(double *a, int n, double tol)
{
	return cholesky_kernel(a, n, tol, NULL);
}

int
crm_dense_factor_psd(int n, double *a, double *work)
{
	double	   *scale = work,
			   *inverse = work + n;	/* 1 / L[j][j], or 0 for a dropped j */

	/* scale to a unit diagonal, then factor dropping negligible pivots */
	for (int i = 0; i < n; i++)
		scale[i] = a[i * n + i] > 0.0 ? 1.0 / sqrt(a[i * n + i]) : 0.0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j <= i; j++)
			a[i * n + j] *= scale[i] * scale[j];
	return cholesky_kernel(a, n, PSD_PIVOT_TOLERANCE, inverse);
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

bool
crm_dense_solve(int n, double *a, double *b)
{
	int			i,
				j,
				k;
	double		scale = 0.0;

	for (i = 0; i < n * n; i++)
		scale = Max(scale, fabs(a[i]));
	if (!(scale > 0.0) || !isfinite(scale))
		return false;

	for (k = 0; k < n; k++)
	{
		int			pivot = k;

		for (i = k + 1; i < n; i++)
			if (fabs(a[i * n + k]) > fabs(a[pivot * n + k]))
				pivot = i;
		if (fabs(a[pivot * n + k]) <= 1e-14 * scale)
			return false;
		if (pivot != k)
		{
			double		t;

			for (j = k; j < n; j++)
			{
				t = a[k * n + j];
				a[k * n + j] = a[pivot * n + j];
				a[pivot * n + j] = t;
			}
			t = b[k];
			b[k] = b[pivot];
			b[pivot] = t;
		}
		for (i = k + 1; i < n; i++)
		{
			double		factor = a[i * n + k] / a[k * n + k];

			if (factor == 0.0)
				continue;
			for (j = k + 1; j < n; j++)
				a[i * n + j] -= factor * a[k * n + j];
			b[i] -= factor * b[k];
		}
	}
	for (i = n - 1; i >= 0; i--)
	{
		double		sum = b[i];

		for (j = i + 1; j < n; j++)
			sum -= a[i * n + j] * b[j];
		b[i] = sum / a[i * n + i];
	}
	return true;
}

void
crm_dense_solve_factored(int n, const double *a, const double *work, double *b)
{
	const double *scale = work,
			   *inverse = work + n;
	int			i,
				k;

	/* L z = S b, then L' x = z, x scaled back; dropped directions get zero */
	for (i = 0; i < n; i++)
	{
		double		sum = b[i] * scale[i];

		for (k = 0; k < i; k++)
			sum -= a[i * n + k] * b[k];
		b[i] = sum * inverse[i];
	}
	for (i = n - 1; i >= 0; i--)
	{
		double		sum = b[i];

		for (k = i + 1; k < n; k++)
			sum -= a[k * n + i] * b[k];
		b[i] = sum * inverse[i];
	}
	for (i = 0; i < n; i++)
		b[i] *= scale[i];
}

int
crm_dense_solve_psd(int n, double *a, double *b, double *work)
{
	int			ndropped = crm_dense_factor_psd(n, a, work);

	crm_dense_solve_factored(n, a, work, b);
	return ndropped;
}

void
crm_matmul(const double *a, const double *b, double *out, int r, int inner, int c)
{
	for (int i = 0; i < r; i++)
		for (int j = 0; j < c; j++)
		{
			double		sum = 0.0;

			for (int k = 0; k < inner; k++)
				sum += a[i * inner + k] * b[k * c + j];
			out[i * c + j] = sum;
		}
}

void
crm_matmul_bt(const double *a, const double *b, double *out, int r, int inner, int c)
{
	for (int i = 0; i < r; i++)
		for (int j = 0; j < c; j++)
		{
			double		sum = 0.0;

			for (int k = 0; k < inner; k++)
				sum += a[i * inner + k] * b[j * inner + k];
			out[i * c + j] = sum;
		}
}
