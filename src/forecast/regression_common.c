/*-------------------------------------------------------------------------
 * regression_common.c
 *	  Helpers of the regression and scoring aggregates: the
 *	  crm.max_aggregate_rows setting, reading feature arrays, input checks
 *	  and the aggregate memory context.
 *
 * crm.max_aggregate_rows bounds the aggregates that keep their input rows
 * (crm.logreg, crm.revenue_range), so a query over a huge table fails with
 * a clear error instead of exhausting memory.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <limits.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "regression.h"

int			crm_max_aggregate_rows = 10000000;

void
crm_forecast_regression_init(void)
{
	DefineCustomIntVariable("crm.max_aggregate_rows",
							"Largest number of rows one group of an aggregate that keeps its rows may hold.",
							"Applies to crm.logreg and crm.revenue_range, which keep their input rows "
							"in memory until the final step.",
							&crm_max_aggregate_rows,
							10000000, 1, INT_MAX,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

bool
crm_read_features(Datum x, double *buf, int *k, const char *fn)
{
	struct varlena *v = (struct varlena *) PG_DETOAST_DATUM_PACKED(x);

	/*
	 * A short (packed) array has a 1-byte header, so its fields are not
	 * aligned: read them with memcpy at their offsets from the data start.
	 */
	const char *data = VARDATA_ANY(v) - VARHDRSZ;
	int32		ndim;
	int32		dataoffset;
	Oid			elemtype;
	int32		nitems;
	const char *elems;

	memcpy(&ndim, data + offsetof(ArrayType, ndim), sizeof(int32));
	memcpy(&dataoffset, data + offsetof(ArrayType, dataoffset), sizeof(int32));
	memcpy(&elemtype, data + offsetof(ArrayType, elemtype), sizeof(Oid));
	if (elemtype != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("expected a float8[] argument"),
				 errcontext("%s", fn)));
	if (ndim == 0)
	{
		*k = 0;
		return true;
	}
	if (ndim != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", fn),
				 errmsg("x must be a one-dimensional array")));
	memcpy(&nitems, data + sizeof(ArrayType), sizeof(int32));
	if (nitems > CRM_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", fn),
				 errmsg("x has %d elements, at most %d are allowed", nitems,
						CRM_MAX_FEATURES)));
	if (dataoffset != 0)
	{
		const uint8 *bitmap = (const uint8 *) data + sizeof(ArrayType) + 2 * sizeof(int32);

		for (int i = 0; i < nitems; i++)
			if (!(bitmap[i / 8] & (1 << (i % 8))))
				return false;
		elems = data + dataoffset;
	}
	else
		elems = data + ARR_OVERHEAD_NONULLS(1);
	memcpy(buf, elems, sizeof(double) * nitems);
	*k = nitems;
	return true;
}

double *
crm_scratch(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt,
													  sizeof(double) * 2 * (CRM_MAX_FEATURES + 1));
	return (double *) fcinfo->flinfo->fn_extra + CRM_MAX_FEATURES + 1;
}

const double *
crm_read_features_cached(FunctionCallInfo fcinfo, Datum x, int *k, const char *fn)
{
	double	   *buf = crm_scratch(fcinfo) - (CRM_MAX_FEATURES + 1);

	return crm_read_features(x, buf, k, fn) ? buf : NULL;
}

void
crm_check_finite(double v, const char *fn, const char *what)
{
	if (unlikely(isnan(v) || isinf(v)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", fn),
				 errmsg("input must be finite"),
				 errdetail("%s is %s.", what, isnan(v) ? "NaN" : v > 0 ? "infinity" : "-infinity")));
}

void
crm_check_finite_features(const double *x, int k, const char *fn)
{
	for (int i = 0; i < k; i++)
		if (unlikely(isnan(x[i]) || isinf(x[i])))
		{
			char		what[32];

			snprintf(what, sizeof(what), "x[%d]", i + 1);
			crm_check_finite(x[i], fn, what);
		}
}

void
crm_check_feature_count(int k, int k0, const char *fn)
{
	if (unlikely(k != k0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errcontext("%s", fn),
				 errmsg_plural("x has %d element, earlier rows had %d",
							   "x has %d elements, earlier rows had %d", k, k, k0),
				 errdetail("Every row of one group must have the same number of features.")));
}

MemoryContext
crm_agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s support functions can only be called by the aggregate", fn)));
	return aggcontext;
}
