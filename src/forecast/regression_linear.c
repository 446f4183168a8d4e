/*-------------------------------------------------------------------------
 * regression_linear.c
 *	  crm.linreg(y float8, x float8[]) → jsonb: ordinary least squares with
 *	  an intercept, as a one-pass, parallel aggregate.
 *
 * State: a float8[] of sufficient statistics, the float.c pattern
 * (float8_regr_accum) generalised to k features.  With p = k + 1 variables
 * v = (x[1], ..., x[k], y):
 *
 *	  [0] n, [1] k, [2 .. 2+p) the sums S_j, then the co-moments
 *	  C_ij = Σ (v_i − mean_i)(v_j − mean_j), i ≤ j, upper triangle row by row.
 *
 * Rows are added with the Youngs-Cramer update (d_j = v_j·N − S_j with S
 * including the new row,
 * C_ij += d_i d_j / (N (N − 1))), and partial states are merged with Chan's
 * formula, so no large sums are subtracted from each other.  Inside an
 * aggregate the array is updated in place: no allocation per row.  The
 * state array is created at the first row, which fixes k.
 *
 * Final step: the co-moment matrix of (x, y) is factored by Cholesky
 * (linalg.c).  The factor of the x block gives the slopes, the last pivot
 * squared is the residual sum of squares (no cancellation even when r2 is
 * near 1), and the inverse of the x block gives the standard errors.  A
 * feature that is constant, or a linear combination of the intercept and
 * the features before it (1 − R² ≤ 1e-10), is reported as a rank
 * deficient design (22023) rather than given a meaningless coefficient.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "forecast/linalg.h"
#include "regression.h"

PG_FUNCTION_INFO_V1(crm_linreg_accum);
PG_FUNCTION_INFO_V1(crm_linreg_accum1);
PG_FUNCTION_INFO_V1(crm_linreg_combine);
PG_FUNCTION_INFO_V1(crm_linreg_final);

#define LINREG "crm.linreg"

/* Index of C_ij (i ≤ j < p) in the packed upper triangle. */
static inline int
tri_index(int i, int j, int p)
{
	return i * p - i * (i - 1) / 2 + (j - i);
}

static inline int
state_length(int k)
{
	int			p = k + 1;

	return 2 + p + p * (p + 1) / 2;
}

/* The state's values, after checking its shape (a bad one is a bug). */
static inline double *
state_values(ArrayType *state, int *k)
{
	double	   *v = (double *) ((char *) state + ARR_OVERHEAD_NONULLS(1));

	if (unlikely(ARR_NDIM(state) != 1 || ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID ||
				 ARR_DIMS(state)[0] < 2))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("malformed state array"),
				 errcontext("%s", LINREG)));
	*k = (int) v[1];
	if (unlikely(*k < 0 || *k > CRM_MAX_FEATURES || ARR_DIMS(state)[0] != state_length(*k)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("malformed state array"),
				 errcontext("%s", LINREG)));
	return v;
}

static ArrayType *
new_state(int k)
{
	int			len = state_length(k);
	Size		bytes = ARR_OVERHEAD_NONULLS(1) + sizeof(double) * len;
	ArrayType  *state = palloc0(bytes);

	SET_VARSIZE(state, bytes);
	state->ndim = 1;
	state->dataoffset = 0;
	state->elemtype = FLOAT8OID;
	ARR_DIMS(state)[0] = len;
	ARR_LBOUND(state)[0] = 1;
	((double *) ((char *) state + ARR_OVERHEAD_NONULLS(1)))[1] = k;
	return state;
}

/*
 * The state to update: a new one at the first row (nodeAgg copies it into
 * its own context), the aggregate's own array otherwise (updated in place),
 * or a copy when called outside an aggregate.
 */
static inline ArrayType *
state_for_update(FunctionCallInfo fcinfo, int k)
{
	ArrayType  *state;

	if (PG_ARGISNULL(0))
		return new_state(k);
	state = (ArrayType *) DatumGetPointer(PG_GETARG_DATUM(0));
	if (unlikely(VARATT_IS_EXTENDED(state) || !AggCheckCallContext(fcinfo, NULL)))
		state = PG_GETARG_ARRAYTYPE_P_COPY(0);
	return state;
}

/*
 * Add the row (x[0..k), y) to the state's values s: the Youngs-Cramer
 * update with d_j = v_j·N − S_j, S_j including v_j, that is v_j·n − S_j.
 * d is scratch space for k + 1 doubles.
 */
static inline void
add_row(double *s, const double *x, int k, double y, double *d)
{
	int			p = k + 1;
	double	   *sums = s + 2;
	double	   *co = s + 2 + p;
	double		n = s[0];
	double		nonfinite = 0.0;

	for (int j = 0; j < k; j++)
	{
		d[j] = x[j] * n - sums[j];
		nonfinite += x[j] - x[j];	/* NaN unless x[j] is finite */
	}
	d[k] = y * n - sums[k];
	nonfinite += y - y;
	if (unlikely(nonfinite != 0.0))
	{
		crm_check_finite_features(x, k, LINREG);
		crm_check_finite(y, LINREG, "y");
	}

	if (n > 0)
	{
		double		f = 1.0 / ((n + 1.0) * n);
		int			idx = 0;

		for (int i = 0; i < p; i++)
		{
			double		di = d[i] * f;

			for (int j = i; j < p; j++)
				co[idx++] += di * d[j];
		}
	}
	for (int j = 0; j < k; j++)
		sums[j] += x[j];
	sums[k] += y;
	s[0] = n + 1.0;
}

/* crm.linreg(y float8, x float8[]) */
Datum
crm_linreg_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	const double *x;
	int			k;
	int			k0;
	double	   *s;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		(x = crm_features(fcinfo, PG_GETARG_DATUM(2), &k, LINREG)) == NULL)
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	state = state_for_update(fcinfo, k);
	s = state_values(state, &k0);
	crm_check_feature_count(k, k0, LINREG);
	add_row(s, x, k, PG_GETARG_FLOAT8(1), crm_scratch(fcinfo));
	PG_RETURN_ARRAYTYPE_P(state);
}

/* crm.linreg(y float8, x float8): one feature without building an array */
Datum
crm_linreg_accum1(PG_FUNCTION_ARGS)
{
	ArrayType  *state;
	double		x;
	double		d[2];
	int			k0;
	double	   *s;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	x = PG_GETARG_FLOAT8(2);
	state = state_for_update(fcinfo, 1);
	s = state_values(state, &k0);
	crm_check_feature_count(1, k0, LINREG);
	add_row(s, &x, 1, PG_GETARG_FLOAT8(1), d);
	PG_RETURN_ARRAYTYPE_P(state);
}

Datum
crm_linreg_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = AggCheckCallContext(fcinfo, NULL) ? PG_GETARG_ARRAYTYPE_P(0)
		: PG_GETARG_ARRAYTYPE_P_COPY(0);	/* outside an aggregate, do not scribble */
	ArrayType  *state2 = PG_GETARG_ARRAYTYPE_P(1);
	double	   *s1;
	double	   *s2;
	int			k1;
	int			k2;
	int			p;
	double		n1;
	double		n2;
	double		n;
	double		f;
	double		d[CRM_MAX_FEATURES + 1];
	int			idx = 0;

	s1 = state_values(state1, &k1);
	s2 = state_values(state2, &k2);
	crm_check_feature_count(k2, k1, LINREG);
	n1 = s1[0];
	n2 = s2[0];
	if (n2 == 0)
		PG_RETURN_ARRAYTYPE_P(state1);
	if (n1 == 0)
	{
		memcpy(s1, s2, sizeof(double) * state_length(k1));
		PG_RETURN_ARRAYTYPE_P(state1);
	}
	p = k1 + 1;
	n = n1 + n2;
	f = n1 * n2 / n;
	for (int j = 0; j < p; j++)
		d[j] = s1[2 + j] / n1 - s2[2 + j] / n2;
	for (int i = 0; i < p; i++)
		for (int j = i; j < p; j++, idx++)
			s1[2 + p + idx] += s2[2 + p + idx] + f * d[i] * d[j];
	for (int j = 0; j < p; j++)
		s1[2 + j] += s2[2 + j];
	s1[0] = n;
	PG_RETURN_ARRAYTYPE_P(state1);
}

/*
 * The centred cross-products of (x, y) into a (p × p, symmetric), and the
 * means into mean.  A constant feature is an error (it is collinear with
 * the intercept); a constant y fits exactly with zero slopes, and its block
 * is replaced by the identity.  Returns y's centred sum of squares (0 for
 * a constant y).
 */
static double
centred_cross_products(const double *s, int k, double *a, double *mean)
{
	int			p = k + 1;
	double		n = s[0];
	const double *sums = s + 2;
	const double *co = s + 2 + p;
	double		cyy;

	for (int j = 0; j < p; j++)
		mean[j] = sums[j] / n;
	for (int i = 0; i < p; i++)
		for (int j = i; j < p; j++)
			a[i * p + j] = a[j * p + i] = co[tri_index(i, j, p)];
	for (int j = 0; j < k; j++)
		if (!(a[j * p + j] > n * pow(CRM_COLLINEAR_TOL * mean[j], 2)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errcontext("%s", LINREG),
					 errmsg("the design matrix is rank deficient"),
					 errdetail("x[%d] is constant.", j + 1)));
	cyy = a[k * p + k];
	if (!(cyy > n * pow(CRM_COLLINEAR_TOL * mean[k], 2)))
	{
		cyy = 0.0;
		for (int j = 0; j < k; j++)
			a[k * p + j] = a[j * p + k] = 0.0;
		a[k * p + k] = 1.0;
	}
	return cyy;
}

/*
 * Cholesky factor of the cross-products in place (x block, then y's row);
 * a feature that is a combination of the others is an error.  Returns the
 * residual sum of squares: the square of the last pivot.
 */
static double
factor_cross_products(double *a, int k, double cyy)
{
	int			p = k + 1;
	int			bad = crm_cholesky(a, p, CRM_COLLINEAR_TOL);
	double		rss;

	if (bad >= 0 && bad < k)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", LINREG),
				 errmsg("the design matrix is rank deficient"),
				 errdetail("x[%d] is a linear combination of the intercept and x[1..%d].",
						   bad + 1, bad)));
	if (cyy == 0.0)
		return 0.0;
	if (bad != k)
		return a[k * p + k] * a[k * p + k];
	/* an (almost) exact fit: the last pivot, which the test refused */
	rss = cyy;
	for (int j = 0; j < k; j++)
		rss -= a[k * p + j] * a[k * p + j];
	return Max(rss, 0.0);
}

/* Slopes from L_xxᵀ β = l_y (l_y: the factor's last row), then the intercept. */
static void
solve_coefficients(const double *a, int k, const double *mean, double *coef)
{
	int			p = k + 1;

	for (int j = 0; j < k; j++)
		coef[1 + j] = a[k * p + j];
	for (int i = k - 1; i >= 0; i--)
	{
		double		t = coef[1 + i];

		for (int m = i + 1; m < k; m++)
			t -= a[m * p + i] * coef[1 + m];
		coef[1 + i] = t / a[i * p + i];
	}
	coef[0] = mean[k];
	for (int j = 0; j < k; j++)
		coef[0] -= coef[1 + j] * mean[j];
}

/*
 * Standard errors for residual variance sigma2: the slopes' from the
 * inverse of the x block, the intercept's from 1/n + |L⁻¹ x̄|².
 */
static void
standard_errors(const double *a, int k, double n, const double *mean, double sigma2, double *se)
{
	int			p = k + 1;
	double	   *xinv = palloc(sizeof(double) * Max(k * k, 1));
	double	   *work = palloc(sizeof(double) * Max(k * k, 1));
	double	   *u = palloc(sizeof(double) * Max(k, 1));
	double		intercept_var = 1.0 / n;

	if (k > 0)
	{
		double	   *lx = palloc(sizeof(double) * k * k);

		for (int i = 0; i < k; i++)
			for (int j = 0; j < k; j++)
				lx[i * k + j] = a[i * p + j];
		crm_cholesky_inverse(lx, k, xinv, work);
		memcpy(u, mean, sizeof(double) * k);
		crm_lower_solve(lx, k, u);
	}
	for (int j = 0; j < k; j++)
		intercept_var += u[j] * u[j];
	se[0] = sqrt(sigma2 * intercept_var);
	for (int j = 0; j < k; j++)
		se[1 + j] = sqrt(sigma2 * xinv[j * k + j]);
}

Datum
crm_linreg_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			k;
	double	   *s = state_values(state, &k);
	int			p = k + 1;
	double		n = s[0];
	double	   *mean = palloc(sizeof(double) * p);
	double	   *a = palloc(sizeof(double) * p * p);
	double	   *coef = palloc(sizeof(double) * p);
	double	   *se = palloc(sizeof(double) * p);
	double		cyy;
	double		rss;
	double		df;
	double		sigma2;
	double		r2;
	StringInfoData buf;

	if (n < 1)
		PG_RETURN_NULL();
	for (int i = 0; i < 2 + p + p * (p + 1) / 2; i++)
		if (isnan(s[i]) || isinf(s[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errcontext("%s", LINREG),
					 errmsg("value out of range: overflow"),
					 errdetail("The sums of squares of the input do not fit in float8.")));
	if (n < p + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", LINREG),
				 errmsg("%.0f rows are too few for %d coefficients", n, p),
				 errdetail("Estimating standard errors needs more rows than coefficients.")));

	cyy = centred_cross_products(s, k, a, mean);
	rss = factor_cross_products(a, k, cyy);
	solve_coefficients(a, k, mean, coef);
	df = n - p;
	sigma2 = rss / df;
	standard_errors(a, k, n, mean, sigma2, se);
	r2 = (cyy == 0.0) ? NAN : 1.0 - rss / cyy;

	crm_model_json_begin(&buf, "linreg");
	crm_model_json_number(&buf, "n", n);
	crm_model_json_number(&buf, "features", k);
	crm_model_json_array(&buf, "coef", coef, p);
	crm_model_json_array(&buf, "se", se, p);
	crm_model_json_number(&buf, "r2", r2);
	crm_model_json_number(&buf, "adj_r2", (cyy == 0.0) ? NAN : 1.0 - (1.0 - r2) * (n - 1) / df);
	crm_model_json_number(&buf, "sigma", sqrt(sigma2));
	crm_model_json_number(&buf, "rss", rss);
	crm_model_json_number(&buf, "df_resid", df);
	PG_RETURN_DATUM(crm_model_json_end(&buf, NULL));
}
