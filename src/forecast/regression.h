/*-------------------------------------------------------------------------
 * regression.h
 *	  Declarations shared by the regression and scoring aggregates
 *	  (crm.linreg, crm.logreg, crm.predict, crm.revenue_range): reading
 *	  feature arrays, input checks and the row store of aggregates that keep
 *	  their rows (models are written by model_json.h).
 *-------------------------------------------------------------------------
 */
#ifndef CRM_FORECAST_REGRESSION_H
#define CRM_FORECAST_REGRESSION_H

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"

#include "forecast/model_json.h"

/* The most features (elements of x) a model may have. */
#define CRM_MAX_FEATURES 1000

/*
 * Tolerance of the rank tests: a feature whose variance not explained by
 * the intercept and the earlier features is at most this fraction of its
 * own (1 − R² ≤ 1e-10), or whose standard deviation is at most this
 * fraction of its mean, makes the design rank deficient.
 */
#define CRM_COLLINEAR_TOL 1e-10

/*
 * Copy the elements of the float8[] x into buf (room for CRM_MAX_FEATURES)
 * and set *k to their number.  Returns false, leaving buf undefined, when
 * an element is NULL.  Raises 22023 for a multi-dimensional array or too
 * many elements.  Works on short-header (packed) arrays without copying
 * them first.
 */
extern bool crm_read_features(Datum x, double *buf, int *k, const char *fn);

/*
 * crm_read_features with a buffer kept in fn_extra (allocated on first
 * use, 2 × (CRM_MAX_FEATURES + 1) doubles: the second half is scratch
 * space for the caller, see crm_scratch).  NULL when an element is NULL.
 */
extern const double *crm_read_features_cached(FunctionCallInfo fcinfo, Datum x, int *k,
											  const char *fn);

/* The per-call scratch space: CRM_MAX_FEATURES + 1 doubles. */
extern double *crm_scratch(FunctionCallInfo fcinfo);

/*
 * The elements of the float8[] x: a pointer into the array itself when it
 * is a plain one-dimensional array without NULLs (the common case, no
 * copy), else a copy made by crm_read_features_cached.  NULL when an
 * element is NULL.
 */
static inline const double *
crm_features(FunctionCallInfo fcinfo, Datum x, int *k, const char *fn)
{
	ArrayType  *a = (ArrayType *) DatumGetPointer(x);

	if (!VARATT_IS_EXTENDED(a) && ARR_NDIM(a) == 1 && !ARR_HASNULL(a) &&
		ARR_DIMS(a)[0] <= CRM_MAX_FEATURES && ARR_ELEMTYPE(a) == FLOAT8OID)
	{
		*k = ARR_DIMS(a)[0];
		return (const double *) ((const char *) a + ARR_OVERHEAD_NONULLS(1));
	}
	return crm_read_features_cached(fcinfo, x, k, fn);
}

/* Raise 22023 unless v is finite; what names it ("y", "x[2]", ...). */
extern void crm_check_finite(double v, const char *fn, const char *what);

/* Raise 22023 unless every x[i] is finite. */
extern void crm_check_finite_features(const double *x, int k, const char *fn);

/* Raise 22023 when x's length k differs from the first row's k0. */
extern void crm_check_feature_count(int k, int k0, const char *fn);

/*
 * Rows kept by an aggregate (crm.logreg, crm.revenue_range): width doubles
 * per row, and one byte per row when has_flag.  At most
 * crm.max_aggregate_rows rows per group; the arrays may exceed 1 GB.
 */
typedef struct CrmRows
{
	int64		n;				/* rows held */
	int64		cap;			/* rows allocated */
	int32		width;			/* doubles per row */
	bool		has_flag;		/* a byte per row besides the doubles */
	double	   *values;			/* n × width, row-major */
	uint8	   *flags;			/* n bytes when has_flag, else NULL */
	MemoryContext cxt;			/* where the arrays live */
	const char *fn;				/* SQL name of the aggregate, for errors */
} CrmRows;

extern CrmRows *crm_rows_create(MemoryContext cxt, int width, bool has_flag, const char *fn);
extern void crm_rows_append(CrmRows *rows, const double *values, uint8 flag);
extern void crm_rows_append_all(CrmRows *dst, const CrmRows *src);
extern bytea *crm_rows_serialize(const CrmRows *rows);
extern CrmRows *crm_rows_deserialize(const bytea *data, MemoryContext cxt, const char *fn);

/*
 * The aggregate's memory context, or an error when fcinfo is not an
 * aggregate call (the support functions are visible in SQL).
 */
extern MemoryContext crm_agg_context(FunctionCallInfo fcinfo, const char *fn);

#endif							/* CRM_FORECAST_REGRESSION_H */
