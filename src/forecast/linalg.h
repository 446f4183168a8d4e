/*-------------------------------------------------------------------------
 * linalg.h
 *	  Small dense linear algebra for the forecasting and scoring aggregates:
 *	  Cholesky factorisation with a rank test, solves, inverses, Gaussian
 *	  elimination and matrix products.
 *
 * Matrices are n × n, row-major, in caller-owned double arrays; nothing
 * here allocates.  Sizes are small (a few to a few hundred), so the code is
 * plain loops, written for accuracy rather than blocking.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_FORECAST_LINALG_H
#define CRM_FORECAST_LINALG_H

/*
 * Factor the symmetric matrix a (only its lower triangle is read) as L Lᵀ,
 * writing L into the lower triangle of a and zeros above it.  Returns -1 on
 * success, or the index j of the first column whose pivot is not above
 * tol × a[j][j] (its original diagonal): then column j is, to within tol, a
 * linear combination of columns 0..j-1 (for a cross-product matrix, 1 − R²
 * of column j on the earlier ones is at most tol).  A non-positive original
 * diagonal also fails.  The pivot test is relative, so it does not depend
 * on the scale of each column.
 */
extern int	crm_cholesky(double *a, int n, double tol);

/* Solve L y = b in place (forward substitution) with L from crm_cholesky. */
extern void crm_lower_solve(const double *l, int n, double *b);

/* Solve L Lᵀ x = b in place. */
extern void crm_cholesky_solve(const double *l, int n, double *b);

/*
 * The inverse (L Lᵀ)⁻¹ into inv (n × n, full symmetric); work holds n × n
 * doubles.
 */
extern void crm_cholesky_inverse(const double *l, int n, double *inv, double *work);

/*
 * Invert a general n × n matrix a (destroyed) into inv by Gauss-Jordan
 * elimination with partial pivoting.  Returns false when a pivot is not
 * above tol × the largest entry of its column.
 */
extern bool crm_invert(double *a, int n, double *inv, double tol);

/*
 * Solves A x = b for a general n x n matrix (row-major, overwritten) by
 * Gaussian elimination with partial pivoting; b is overwritten by x.
 * Returns false when A is singular to working precision.
 */
extern bool crm_dense_solve(int n, double *a, double *b);

/*
 * Solves the symmetric positive semi-definite system A x = b (row-major,
 * only the lower triangle read, A overwritten) by a Cholesky factorisation
 * of the diagonally scaled matrix.  Directions whose pivot is negligible are
 * set to zero (a basic solution of rank-deficient least squares).  work
 * holds 2n doubles.  Returns the number of directions dropped.
 */
extern int	crm_dense_solve_psd(int n, double *a, double *b, double *work);

/*
 * crm_dense_solve_psd in two steps, for many right-hand sides: factor A (and
 * fill work), then solve for b in place with that factor and work.
 */
extern int	crm_dense_factor_psd(int n, double *a, double *work);
extern void crm_dense_solve_factored(int n, const double *a, const double *work, double *b);


/* out = a b for a (r x inner) and b (inner x c); out distinct from both. */
extern void crm_matmul(const double *a, const double *b, double *out, int r, int inner, int c);

/* out = a b' for a (r x inner) and b (c x inner); out distinct from both. */
extern void crm_matmul_bt(const double *a, const double *b, double *out, int r, int inner, int c);

#endif							/* CRM_FORECAST_LINALG_H */
