/*-------------------------------------------------------------------------
 * optimize_dense.c
 *	  Dense linear solvers for the time-series models (the ARIMA
 *	  stationary state covariance, the Holt-Winters initial states) and the
 *	  normal quantile used for prediction intervals.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "forecast/optimize.h"

/* Pivots below this (relative to a unit diagonal) count as zero. */
#define PSD_PIVOT_TOLERANCE 1e-11

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

int
crm_dense_factor_psd(int n, double *a, double *work)
{
	double	   *scale = work,
			   *inverse = work + n;	/* 1 / L[j][j], or 0 for a dropped j */
	int			i,
				j,
				k,
				ndropped = 0;

	/* scale to a unit diagonal */
	for (i = 0; i < n; i++)
		scale[i] = a[i * n + i] > 0.0 ? 1.0 / sqrt(a[i * n + i]) : 0.0;
	for (i = 0; i < n; i++)
		for (j = 0; j <= i; j++)
			a[i * n + j] *= scale[i] * scale[j];

	/* Cholesky, lower triangle in place; a negligible pivot drops its column */
	for (j = 0; j < n; j++)
	{
		double		d = a[j * n + j];

		for (k = 0; k < j; k++)
			d -= a[j * n + k] * a[j * n + k];
		if (!(d > PSD_PIVOT_TOLERANCE))
		{
			ndropped++;
			inverse[j] = 0.0;
			for (i = j; i < n; i++)
				a[i * n + j] = 0.0;
			continue;
		}
		d = sqrt(d);
		a[j * n + j] = d;
		inverse[j] = 1.0 / d;
		for (i = j + 1; i < n; i++)
		{
			double		sum = a[i * n + j];

			for (k = 0; k < j; k++)
				sum -= a[i * n + k] * a[j * n + k];
			a[i * n + j] = sum * inverse[j];
		}
	}
	return ndropped;
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

/*
 * Acklam's rational approximation (relative error 1.15e-9), refined by one
 * Halley step on erfc to full double precision.
 */
double
crm_normal_quantile(double p)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
		-2.759285104469687e+02, 1.383577518672690e+02,
	-3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
		-1.556989798598866e+02, 6.680131188771972e+01,
	-1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
		-2.400758277161838e+00, -2.549732539343734e+00,
	4.374664141464968e+00, 2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
	2.445134137142996e+00, 3.754408661907416e+00};
	double		q,
				r,
				x,
				e,
				u;

	if (p < 0.02425)
	{
		q = sqrt(-2.0 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}
	else if (p <= 1.0 - 0.02425)
	{
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
			(((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
	}
	else
	{
		q = sqrt(-2.0 * log(1.0 - p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
			((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}
	e = 0.5 * erfc(-x / M_SQRT2) - p;
	u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
	return x - u / (1.0 + x * u / 2.0);
}
