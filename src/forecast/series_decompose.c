/*-------------------------------------------------------------------------
 * series_decompose.c
 *	  Classical seasonal decomposition and the seasonality test of the
 *	  Theta method, shared by crm.ets (its initial seasonal states) and
 *	  crm.theta (its seasonal adjustment).
 *
 * Classical decomposition (R's decompose(), Kendall & Stuart): the trend is
 * the centred moving average over one season (a 2 x m average for even m),
 * the detrended series y - trend (additive) or y / trend (multiplicative)
 * is averaged per position in the season, counting positions from the
 * first point, and the m averages are centred to sum to zero or to average
 * one.
 *
 * The seasonality test is the one of R's thetaf() (Hyndman & Billah 2003;
 * Assimakopoulos & Nikolopoulos 2000): the autocorrelation at lag m is
 * compared with its standard error under the hypothesis that the
 * autocorrelations beyond the first m - 1 lags are zero (Bartlett),
 * sqrt((1 + 2 sum_{k<m} r_k^2) / n); the series is seasonal when
 * |r_m| exceeds 1.645 of them (a one-sided 90% test, as in R).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "forecast/series_models.h"

/* qnorm(0.95) */
#define SEASONAL_TEST_Z 1.6448536269514722

bool
crm_classical_decompose(const double *y, int n, int m, bool multiplicative, double *figure)
{
	double	   *sum = palloc0(sizeof(double) * m);
	int		   *count = palloc0(sizeof(int) * m);
	int			half = m / 2,
				t,
				i;
	double		centre = 0.0;
	bool		ok = true;

	Assert(m >= 2 && n >= 2 * m);
	for (t = half; t < n - half; t++)
	{
		double		trend = 0.0,
					detrended;

		if (m % 2 == 0)
		{
			/* weights 1/2, 1, ..., 1, 1/2 over m + 1 points */
			trend = 0.5 * (y[t - half] + y[t + half]);
			for (i = t - half + 1; i < t + half; i++)
				trend += y[i];
		}
		else
			for (i = t - half; i <= t + half; i++)
				trend += y[i];
		trend /= m;
		if (multiplicative)
		{
			if (trend == 0.0)
			{
				ok = false;
				break;
			}
			detrended = y[t] / trend;
		}
		else
			detrended = y[t] - trend;
		sum[t % m] += detrended;
		count[t % m]++;
	}
	for (i = 0; i < m && ok; i++)
	{
		figure[i] = sum[i] / count[i];
		centre += figure[i] / m;
	}
	if (ok && multiplicative && !(centre != 0.0))
		ok = false;
	for (i = 0; i < m && ok; i++)
		figure[i] = multiplicative ? figure[i] / centre : figure[i] - centre;
	for (i = 0; i < m && ok; i++)
		ok = isfinite(figure[i]);
	pfree(sum);
	pfree(count);
	return ok;
}

bool
crm_seasonality_test(const double *y, int n, int m)
{
	double		mean = 0.0,
				denom = 0.0,
				sum_sq = 0.0,
				r_m = 0.0,
				stat;
	int			t,
				k;

	if (m < 2 || (int64) n <= 2 * (int64) m)
		return false;
	for (t = 0; t < n; t++)
		mean += y[t] / n;
	for (t = 0; t < n; t++)
		denom += (y[t] - mean) * (y[t] - mean);
	if (!(denom > 0.0))
		return false;
	for (k = 1; k <= m; k++)
	{
		double		r = 0.0;

		for (t = 0; t + k < n; t++)
			r += (y[t] - mean) * (y[t + k] - mean);
		r /= denom;
		if (k < m)
			sum_sq += r * r;
		else
			r_m = r;
	}
	stat = sqrt((1.0 + 2.0 * sum_sq) / n);
	return fabs(r_m) / stat > SEASONAL_TEST_Z;
}
