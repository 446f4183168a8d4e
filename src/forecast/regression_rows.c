/*-------------------------------------------------------------------------
 * regression_rows.c
 *	  The row store of aggregates that keep their input rows until the
 *	  final step (crm.logreg, crm.revenue_range): a growable row-major array
 *	  of doubles plus an optional byte per row, bounded by
 *	  crm.max_aggregate_rows, and its bytea form for parallel workers.
 *
 * The arrays double in size as rows arrive and may grow past 1 GB (huge
 * allocations); the serialised form is a bytea and so is limited to 1 GB,
 * which is reported as a clear error in the worker that hits it.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "utils/memutils.h"

#include "regression.h"

PG_FUNCTION_INFO_V1(crm_rows_combine);
/* 0.1.0's SQL names these two; they are crm_rows_combine */
PG_FUNCTION_INFO_V1(crm_logreg_combine);
PG_FUNCTION_INFO_V1(crm_revenue_range_combine);

/* Serialised header: n, width, has_flag; then the values, then the flags. */
typedef struct RowsHeader
{
	int64		n;
	int32		width;
	int32		has_flag;
} RowsHeader;

CrmRows *
crm_rows_create(MemoryContext cxt, int width, bool has_flag, const char *fn)
{
	CrmRows    *rows = MemoryContextAllocZero(cxt, sizeof(CrmRows));

	rows->width = width;
	rows->has_flag = has_flag;
	rows->cxt = cxt;
	rows->fn = fn;
	return rows;
}

/* Make room for n rows in total. */
static void
rows_reserve(CrmRows *rows, int64 n)
{
	int64		cap;
	Size		vsize;

	if (n > crm_max_aggregate_rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errcontext("%s", rows->fn),
				 errmsg("more than %d rows in one group", crm_max_aggregate_rows),
				 errdetail("The aggregate keeps its rows in memory until its final step."),
				 errhint("Raise crm.max_aggregate_rows, or aggregate fewer rows per group.")));
	if (n <= rows->cap)
		return;
	cap = Max(rows->cap * 2, 1024);
	cap = Max(cap, n);
	cap = Min(cap, (int64) crm_max_aggregate_rows);
	vsize = (Size) cap * Max(rows->width, 1) * sizeof(double);
	if (rows->values == NULL)
	{
		rows->values = MemoryContextAllocExtended(rows->cxt, vsize, MCXT_ALLOC_HUGE);
		if (rows->has_flag)
			rows->flags = MemoryContextAllocExtended(rows->cxt, (Size) cap, MCXT_ALLOC_HUGE);
	}
	else
	{
		rows->values = repalloc_huge(rows->values, vsize);
		if (rows->has_flag)
			rows->flags = repalloc_huge(rows->flags, (Size) cap);
	}
	rows->cap = cap;
}

void
crm_rows_append(CrmRows *rows, const double *values, uint8 flag)
{
	if (unlikely(rows->n >= rows->cap))
		rows_reserve(rows, rows->n + 1);
	memcpy(rows->values + rows->n * rows->width, values, sizeof(double) * rows->width);
	if (rows->has_flag)
		rows->flags[rows->n] = flag;
	rows->n++;
}

void
crm_rows_append_all(CrmRows *dst, const CrmRows *src)
{
	Assert(dst->width == src->width && dst->has_flag == src->has_flag);
	if (src->n == 0)
		return;
	rows_reserve(dst, dst->n + src->n);
	memcpy(dst->values + dst->n * dst->width, src->values, sizeof(double) * src->width * src->n);
	if (dst->has_flag)
		memcpy(dst->flags + dst->n, src->flags, (Size) src->n);
	dst->n += src->n;
}

bytea *
crm_rows_serialize(const CrmRows *rows)
{
	RowsHeader	header;
	Size		vbytes = (Size) rows->n * rows->width * sizeof(double);
	Size		fbytes = rows->has_flag ? (Size) rows->n : 0;
	Size		total = VARHDRSZ + sizeof(RowsHeader) + vbytes + fbytes;
	bytea	   *result;
	char	   *p;

	if (!AllocSizeIsValid(total))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errcontext("%s", rows->fn),
				 errmsg("the rows of one parallel worker exceed 1 GB"),
				 errhint("Aggregate fewer rows, or SET max_parallel_workers_per_gather = 0 for this query.")));
	result = palloc(total);
	SET_VARSIZE(result, total);
	header.n = rows->n;
	header.width = rows->width;
	header.has_flag = rows->has_flag;
	p = VARDATA(result);
	memcpy(p, &header, sizeof(header));
	p += sizeof(header);
	if (vbytes > 0)
		memcpy(p, rows->values, vbytes);
	p += vbytes;
	if (fbytes > 0)
		memcpy(p, rows->flags, fbytes);
	Assert(p + fbytes == (char *) result + total);
	return result;
}

CrmRows *
crm_rows_deserialize(const bytea *data, MemoryContext cxt, const char *fn)
{
	RowsHeader	header;
	CrmRows    *rows;
	const char *p = VARDATA_ANY(data);
	Size		vbytes;

	if (VARSIZE_ANY_EXHDR(data) < sizeof(header))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("serialised state is truncated"),
				 errcontext("%s", fn)));
	memcpy(&header, p, sizeof(header));
	p += sizeof(header);
	vbytes = (Size) header.n * header.width * sizeof(double);
	if (VARSIZE_ANY_EXHDR(data) != sizeof(header) + vbytes + (header.has_flag ? (Size) header.n : 0))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg_internal("serialised state has the wrong size"),
				 errcontext("%s", fn)));
	rows = crm_rows_create(cxt, header.width, header.has_flag != 0, fn);
	if (header.n > 0)
	{
		rows_reserve(rows, header.n);
		memcpy(rows->values, p, vbytes);
		if (rows->has_flag)
			memcpy(rows->flags, p + vbytes, (Size) header.n);
		rows->n = header.n;
	}
	return rows;
}

/*
 * Combine function of every aggregate that keeps its rows (crm.logreg,
 * crm.revenue_range): appends the second state's rows to the first's.
 */
Datum
crm_rows_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = crm_agg_context(fcinfo, "crm.logreg and crm.revenue_range");
	CrmRows    *rows1 = PG_ARGISNULL(0) ? NULL : (CrmRows *) PG_GETARG_POINTER(0);
	CrmRows    *rows2 = PG_ARGISNULL(1) ? NULL : (CrmRows *) PG_GETARG_POINTER(1);

	if (rows2 == NULL)
	{
		if (rows1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(rows1);
	}
	if (rows1 == NULL)
		rows1 = crm_rows_create(aggcontext, rows2->width, rows2->has_flag, rows2->fn);
	else
		crm_check_feature_count(rows2->width, rows1->width, rows1->fn);
	crm_rows_append_all(rows1, rows2);
	PG_RETURN_POINTER(rows1);
}

Datum
crm_logreg_combine(PG_FUNCTION_ARGS)
{
	return crm_rows_combine(fcinfo);
}

Datum
crm_revenue_range_combine(PG_FUNCTION_ARGS)
{
	return crm_rows_combine(fcinfo);
}
