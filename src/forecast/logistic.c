/*-------------------------------------------------------------------------
 * logistic.c
 *	  crm.logreg(y boolean, x float8[]) → jsonb: unpenalised logistic
 *	  regression with an intercept by maximum likelihood, as a parallel
 *	  aggregate.
 *
 * State: the rows themselves (a CrmRows with k doubles and the outcome
 * byte per row), at most crm.max_aggregate_rows per group, serialised as
 * bytea between parallel workers.  Everything happens in the final step:
 *
 * 1. Checks: both outcomes present, more rows than coefficients, no
 *	  constant feature and no feature that is a linear combination of the
 *	  intercept and the earlier ones (Cholesky of the centred cross
 *	  products, the same test as crm.linreg).
 * 2. Newton's method (IRLS) on the features centred and scaled to unit
 *	  variance, from the intercept-only fit, halving the step until the
 *	  log-likelihood does not decrease.  Converged when no coefficient
 *	  (standardised) moves by more than 1e-10 × (1 + |coefficient|); the
 *	  quadratic convergence of Newton's method leaves the estimate
 *	  accurate to rounding at that point.
 * 3. If Newton's method does not converge in MAX_ITERATIONS steps, or its
 *	  information matrix becomes singular, the exact separation test
 *	  (logistic_separation.c) decides: separated data have no estimate and
 *	  raise 22023; otherwise the model is returned with converged = false.
 * 4. Coefficients and their covariance (the inverse information matrix)
 *	  are mapped back to the original scale of the features.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "utils/jsonb.h"

#include "forecast/linalg.h"
#include "logistic.h"

PG_FUNCTION_INFO_V1(crm_logreg_accum);
PG_FUNCTION_INFO_V1(crm_logreg_serialize);
PG_FUNCTION_INFO_V1(crm_logreg_deserialize);
PG_FUNCTION_INFO_V1(crm_logreg_final);

#define LOGREG "crm.logreg"
#define MAX_ITERATIONS 100
#define MAX_HALVINGS 40
#define STEP_TOL 1e-10

/* The data, seen standardised: z_j = (x_j − mean_j) × inv_sd_j. */
typedef struct Design
{
	const CrmRows *rows;
	int			p;				/* coefficients: features + 1 */
	double	   *mean;
	double	   *inv_sd;
	double	   *z;				/* one standardised row with its intercept */
} Design;

static inline const double *
design_row(const Design *d, int64 i)
{
	const double *x = d->rows->values + i * d->rows->width;

	d->z[0] = 1.0;
	for (int j = 1; j < d->p; j++)
		d->z[j] = (x[j - 1] - d->mean[j - 1]) * d->inv_sd[j - 1];
	return d->z;
}

static inline double
linear(const double *z, const double *beta, int p)
{
	double		eta = 0.0;

	for (int j = 0; j < p; j++)
		eta += z[j] * beta[j];
	return eta;
}

/*
 * log P(y | eta) without overflow, from e = exp(−|eta|):
 * −log(1 + e^(−eta)) for y, −log(1 + e^eta) for not y.
 */
static inline double
row_loglik(bool y, double eta, double e)
{
	return -log1p(e) - Max(y ? -eta : eta, 0.0);
}

static double
loglik(const Design *d, const double *beta)
{
	double		ll = 0.0;

	for (int64 i = 0; i < d->rows->n; i++)
	{
		double		eta = linear(design_row(d, i), beta, d->p);

		ll += row_loglik(d->rows->flags[i], eta, exp(-fabs(eta)));
	}
	return ll;
}

/*
 * Log-likelihood, score g = Σ (y − μ) z and information H = Σ μ(1 − μ) z zᵀ
 * (lower triangle, p × p) at beta.
 */
static double
score_information(const Design *d, const double *beta, double *g, double *h)
{
	int			p = d->p;
	double		ll = 0.0;

	memset(g, 0, sizeof(double) * p);
	memset(h, 0, sizeof(double) * p * p);
	for (int64 i = 0; i < d->rows->n; i++)
	{
		const double *z = design_row(d, i);
		bool		y = d->rows->flags[i];
		double		eta = linear(z, beta, p);
		double		e = exp(-fabs(eta));
		double		mu = eta >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
		double		one_minus_mu = eta >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e);
		double		r = y ? one_minus_mu : -mu;
		double		w = mu * one_minus_mu;

		ll += row_loglik(y, eta, e);
		for (int a = 0; a < p; a++)
		{
			double		wza = w * z[a];

			g[a] += r * z[a];
			for (int b = 0; b <= a; b++)
				h[a * p + b] += wza * z[b];
		}
	}
	return ll;
}

static void
rank_deficient(int feature, bool constant)
{
	if (constant)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", LOGREG),
				 errmsg("the design matrix is rank deficient"),
				 errdetail("x[%d] is constant.", feature)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errcontext("%s", LOGREG),
			 errmsg("the design matrix is rank deficient"),
			 errdetail("x[%d] is a linear combination of the intercept and x[1..%d].",
					   feature, feature - 1)));
}

/*
 * Means and inverse standard deviations of the features, after checking
 * that the design has full column rank.
 */
static void
standardise(const CrmRows *rows, double *mean, double *inv_sd)
{
	int			k = rows->width;
	int64		n = rows->n;
	double	   *cross = palloc0(sizeof(double) * Max(k * k, 1));
	double	   *dev = palloc(sizeof(double) * Max(k, 1));

	for (int j = 0; j < k; j++)
		mean[j] = 0.0;
	for (int64 i = 0; i < n; i++)
		for (int j = 0; j < k; j++)
			mean[j] += rows->values[i * k + j];
	for (int j = 0; j < k; j++)
		mean[j] /= n;
	for (int64 i = 0; i < n; i++)
	{
		for (int j = 0; j < k; j++)
			dev[j] = rows->values[i * k + j] - mean[j];
		for (int a = 0; a < k; a++)
			for (int b = 0; b <= a; b++)
				cross[a * k + b] += dev[a] * dev[b];
	}
	for (int j = 0; j < k; j++)
	{
		if (!(cross[j * k + j] > n * pow(CRM_COLLINEAR_TOL * mean[j], 2)))
			rank_deficient(j + 1, true);
		inv_sd[j] = 1.0 / sqrt(cross[j * k + j] / n);
	}
	if (k > 0)
	{
		int			bad = crm_cholesky(cross, k, CRM_COLLINEAR_TOL);

		if (bad >= 0)
			rank_deficient(bad + 1, false);
	}
}

/* Try to factor the information matrix; false when it is singular. */
static bool
factor_information(const double *h, int p, double *l)
{
	memcpy(l, h, sizeof(double) * p * p);
	return crm_cholesky(l, p, 1e-13) < 0;
}

static void
report_separation(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errcontext("%s", LOGREG),
			 errmsg("the outcome is separated by the features"),
			 errdetail("A linear combination of the features separates the rows by outcome "
					   "(perfect or quasi-complete separation), so the maximum likelihood estimate "
					   "does not exist."),
			 errhint("Remove or merge the features that predict the outcome, or add rows.")));
}

Datum
crm_logreg_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = crm_agg_context(fcinfo, LOGREG);
	CrmRows    *rows = PG_ARGISNULL(0) ? NULL : (CrmRows *) PG_GETARG_POINTER(0);
	const double *x;
	int			k;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		(x = crm_features(fcinfo, PG_GETARG_DATUM(2), &k, LOGREG)) == NULL)
	{
		if (rows == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(rows);
	}
	crm_check_finite_features(x, k, LOGREG);
	if (rows == NULL)
		rows = crm_rows_create(aggcontext, k, true, LOGREG);
	else
		crm_check_feature_count(k, rows->width, LOGREG);
	crm_rows_append(rows, x, PG_GETARG_BOOL(1) ? 1 : 0);
	PG_RETURN_POINTER(rows);
}

Datum
crm_logreg_serialize(PG_FUNCTION_ARGS)
{
	crm_agg_context(fcinfo, LOGREG);
	PG_RETURN_BYTEA_P(crm_rows_serialize((CrmRows *) PG_GETARG_POINTER(0)));
}

Datum
crm_logreg_deserialize(PG_FUNCTION_ARGS)
{
	crm_agg_context(fcinfo, LOGREG);
	PG_RETURN_POINTER(crm_rows_deserialize(PG_GETARG_BYTEA_PP(0), CurrentMemoryContext, LOGREG));
}

/* Refuses outcomes of one kind only, and too few rows for the coefficients. */
static void
check_outcomes(int64 positives, int64 n, int p)
{
	if (positives == 0 || positives == n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", LOGREG),
				 errmsg("y is %s in every row", positives == 0 ? "false" : "true"),
				 errdetail("Logistic regression needs rows of both outcomes.")));
	if (n <= p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", LOGREG),
				 errmsg(INT64_FORMAT " rows are too few for %d coefficients", n, p),
				 errdetail("Estimating standard errors needs more rows than coefficients.")));
}

/* Newton's method: its iterate, score, information and their factor. */
typedef struct Newton
{
	int			p;
	double	   *beta,
			   *g,				/* score at beta */
			   *h,				/* information at beta */
			   *l;				/* Cholesky factor of h */
	double		ll;				/* log-likelihood at beta */
	int			iterations;
	bool		singular;		/* the information could not be factored */
} Newton;

/*
 * Newton's method from the intercept-only fit in nt->beta, halving steps
 * that lower the log-likelihood.  True when the steps became small.
 */
static bool
newton_iterate(const Design *d, Newton *nt)
{
	int			p = nt->p;
	double	   *trial = palloc(sizeof(double) * p),
			   *step = palloc(sizeof(double) * p),
			   *g2 = palloc(sizeof(double) * p),
			   *h2 = palloc(sizeof(double) * p * p);

	nt->ll = score_information(d, nt->beta, nt->g, nt->h);
	while (nt->iterations < MAX_ITERATIONS)
	{
		double		t = 1.0;
		double		trial_ll;
		bool		small = true;
		int			halvings;

		if (!factor_information(nt->h, p, nt->l))
		{
			nt->singular = true;
			return false;
		}
		memcpy(step, nt->g, sizeof(double) * p);
		crm_cholesky_solve(nt->l, p, step);
		/*
		 * The full step usually succeeds: evaluate everything there in one
		 * pass, and only the log-likelihood while halving.
		 */
		for (int j = 0; j < p; j++)
			trial[j] = nt->beta[j] + step[j];
		trial_ll = score_information(d, trial, g2, h2);
		for (halvings = 0; !(trial_ll >= nt->ll - 1e-12 * fabs(nt->ll)) && halvings < MAX_HALVINGS; halvings++)
		{
			t *= 0.5;
			for (int j = 0; j < p; j++)
				trial[j] = nt->beta[j] + t * step[j];
			trial_ll = loglik(d, trial);
		}
		if (!(trial_ll >= nt->ll - 1e-12 * fabs(nt->ll)))
			return false;		/* no step improves: not converged */
		for (int j = 0; j < p; j++)
			small &= fabs(trial[j] - nt->beta[j]) <= STEP_TOL * (1.0 + fabs(nt->beta[j]));
		memcpy(nt->beta, trial, sizeof(double) * p);
		nt->iterations++;
		if (halvings == 0)
		{
			memcpy(nt->g, g2, sizeof(double) * p);
			memcpy(nt->h, h2, sizeof(double) * p * p);
			nt->ll = trial_ll;
		}
		else
			nt->ll = score_information(d, nt->beta, nt->g, nt->h);
		if (small)
			return true;
	}
	return false;
}

/*
 * Newton's method did not converge: says why (separation, or a singular
 * information matrix), or leaves the information factored when neither.
 */
static void
explain_no_convergence(const CrmRows *rows, const Design *d, Newton *nt)
{
	switch (crm_logreg_separation(rows, d->mean, d->inv_sd))
	{
		case CRM_SEPARATION_FOUND:
			report_separation();
			break;
		case CRM_SEPARATION_UNKNOWN:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errcontext("%s", LOGREG),
					 errmsg("Newton's method did not converge in %d iterations", nt->iterations),
					 errdetail("The outcome may be separated by the features.")));
			break;
		case CRM_SEPARATION_NONE:
			if (nt->singular)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errcontext("%s", LOGREG),
						 errmsg("the information matrix is singular"),
						 errdetail("The fitted probabilities are too close to 0 or 1 to estimate "
								   "standard errors.")));
			break;
	}
	if (!factor_information(nt->h, nt->p, nt->l))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("information matrix became singular"),
				 errcontext("%s", LOGREG)));
}

/*
 * Coefficients and standard errors on the original scale of the features
 * from the standardised fit: beta_j = gamma_j / sd_j, beta_0 = gamma_0 -
 * sum beta_j mean_j, and Var(beta_0) = t' Cov t with t = (1, -mean_j / sd_j).
 */
static void
original_scale(const Design *d, const Newton *nt, double *coef, double *se)
{
	int			p = nt->p;
	double	   *cov = palloc(sizeof(double) * p * p),
			   *work = palloc(sizeof(double) * p * p),
				v = 0.0;

	crm_cholesky_inverse(nt->l, p, cov, work);
	coef[0] = nt->beta[0];
	for (int j = 1; j < p; j++)
	{
		coef[j] = nt->beta[j] * d->inv_sd[j - 1];
		coef[0] -= coef[j] * d->mean[j - 1];
		se[j] = sqrt(cov[j * p + j]) * d->inv_sd[j - 1];
	}
	work[0] = 1.0;
	for (int j = 1; j < p; j++)
		work[j] = -d->mean[j - 1] * d->inv_sd[j - 1];
	for (int a = 0; a < p; a++)
		for (int b = 0; b < p; b++)
			v += work[a] * cov[a * p + b] * work[b];
	se[0] = sqrt(Max(v, 0.0));
}

Datum
crm_logreg_final(PG_FUNCTION_ARGS)
{
	CrmRows    *rows = (CrmRows *) PG_GETARG_POINTER(0);
	int			k = rows->width;
	int			p = k + 1;
	int64		n = rows->n;
	int64		positives = 0;
	Design		d;
	Newton		nt;
	double	   *coef = palloc(sizeof(double) * p);
	double	   *se = palloc(sizeof(double) * p);
	double		null_ll;
	double		ybar;
	bool		converged;
	StringInfoData buf;

	crm_agg_context(fcinfo, LOGREG);
	for (int64 i = 0; i < n; i++)
		positives += rows->flags[i];
	check_outcomes(positives, n, p);

	d.rows = rows;
	d.p = p;
	d.mean = palloc(sizeof(double) * Max(k, 1));
	d.inv_sd = palloc(sizeof(double) * Max(k, 1));
	d.z = palloc(sizeof(double) * p);
	standardise(rows, d.mean, d.inv_sd);

	/* Newton's method from the intercept-only fit */
	memset(&nt, 0, sizeof(nt));
	nt.p = p;
	nt.beta = palloc0(sizeof(double) * p);
	nt.g = palloc(sizeof(double) * p);
	nt.h = palloc(sizeof(double) * p * p);
	nt.l = palloc(sizeof(double) * p * p);
	ybar = (double) positives / n;
	nt.beta[0] = log(ybar / (1.0 - ybar));
	null_ll = positives * log(ybar) + (n - positives) * log1p(-ybar);
	converged = newton_iterate(&d, &nt);
	if (converged && !factor_information(nt.h, p, nt.l))
	{
		converged = false;
		nt.singular = true;
	}
	if (!converged)
		explain_no_convergence(rows, &d, &nt);
	original_scale(&d, &nt, coef, se);

	crm_model_json_begin(&buf, "logreg");
	crm_model_json_number(&buf, "n", (double) n);
	crm_model_json_number(&buf, "features", k);
	crm_model_json_array(&buf, "coef", coef, p);
	crm_model_json_array(&buf, "se", se, p);
	crm_model_json_number(&buf, "loglik", nt.ll);
	crm_model_json_number(&buf, "null_loglik", null_ll);
	crm_model_json_number(&buf, "aic", 2.0 * p - 2.0 * nt.ll);
	crm_model_json_number(&buf, "iterations", nt.iterations);
	crm_model_json_bool(&buf, "converged", converged);
	PG_RETURN_DATUM(crm_model_json_end(&buf, NULL));
}
