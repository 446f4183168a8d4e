/*-------------------------------------------------------------------------
 * segment.c
 *	  crm.create_segment and crm.refresh_segment: audiences defined by one
 *	  boolean SQL expression over crm.contact_profile, evaluated as their
 *	  owner and kept by difference.
 *
 * Checking a definition.  It must be exactly one expression: it is parsed
 * alone as "SELECT <definition>", and anything but one statement made of
 * one unnamed target with no other clause is refused (42601) -- so a
 * semicolon, a second statement, a FROM or a trailing comment that would
 * swallow what follows cannot get through.  Then the query the segment will
 * run, "SELECT c.id FROM crm.contact_profile AS c WHERE (<definition>)", is
 * prepared as the owner, which checks names and that the expression is
 * boolean (42804); volatile functions are refused (a membership rule must
 * not change anything or depend on chance), and opening it as a cursor
 * checks the owner's privileges on every table it reads, subqueries
 * included (42501).  A data-modifying WITH cannot appear below the top level
 * of a query, which here is always the SELECT above.
 *
 * Refreshing.  The segment row is locked FOR UPDATE, so refreshes of one
 * segment run one at a time; the definition is then evaluated in a snapshot
 * taken after the lock was granted, so each sees the membership and the
 * data the previous one committed.  The definition is evaluated as the owner
 * (crm_run_as_owner), the matching ids are collected and sorted, and merged
 * with the current members (read in contact_id order from the unique
 * index): only the difference is written, by one statement run as the
 * extension that inserts the people who entered, deletes those who left, and
 * writes a segment_entered or segment_exited event for each.  Rows of people
 * who stay are not touched, so their entered_at and anything keyed on their
 * membership survive, and a refresh that changes 1% of a large segment
 * writes 1% of it.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "spi_util.h"
#include "marketing/printable.h"
#include "marketing/run_as_owner.h"

PG_FUNCTION_INFO_V1(crm_create_segment);
PG_FUNCTION_INFO_V1(crm_refresh_segment);

/* The query a segment runs: the definition goes between these. */
#define QUERY_PREFIX "SELECT c.id FROM crm.contact_profile AS c WHERE (\n"
#define QUERY_SUFFIX "\n)"
/* Rows fetched from the evaluation cursor at a time. */
#define FETCH_ROWS 10000
/* Longest segment key (bytes). */
#define KEY_MAX 100

/* $1 a segment key */
static const Oid key_types[1] = {TEXTOID};
static CrmSpiQuery exists_query = {
	"SELECT 1 FROM crm.segment WHERE key OPERATOR(pg_catalog.=) $1", 1, key_types};
static CrmSpiQuery lock_query = {
	"SELECT id, definition, owner FROM crm.segment WHERE key OPERATOR(pg_catalog.=) $1 FOR UPDATE", 1, key_types};

enum
{
	INSERT_KEY,					/* $1, also exists_query's */
	INSERT_NAME,
	INSERT_DEFINITION,
	INSERT_OWNER,
	INSERT_NARGS
};
static const Oid insert_types[INSERT_NARGS] = {
	[INSERT_KEY] = TEXTOID, [INSERT_NAME] = TEXTOID, [INSERT_DEFINITION] = TEXTOID, [INSERT_OWNER] = NAMEOID};
static CrmSpiQuery insert_query = {
	"INSERT INTO crm.segment (key, name, definition, owner) VALUES ($1, $2, $3, $4) RETURNING id",
	INSERT_NARGS, insert_types};

/* $1 a segment id */
static const Oid id_types[1] = {INT8OID};
static CrmSpiQuery members_query = {
	"SELECT contact_id FROM crm.segment_member WHERE segment_id OPERATOR(pg_catalog.=) $1 ORDER BY contact_id",
	1, id_types};
static CrmSpiQuery refreshed_query = {
	"UPDATE crm.segment SET refreshed_at = pg_catalog.now() WHERE id OPERATOR(pg_catalog.=) $1", 1, id_types};

/* A definition being checked or evaluated. */
typedef struct Evaluation
{
	const char *key;
	const char *definition;
	bool		check_only;		/* create: check, fetch nothing */
	int64	   *ids;			/* refresh: the matching contacts */
	int			n_ids;
	int			cap_ids;
} Evaluation;

/* Error context: where in the definition, and which segment. */
typedef struct DefinitionContext
{
	const char *key;
	const char *definition;
	int			prefix_len;		/* bytes before the definition in the parsed text */
} DefinitionContext;

static void
definition_error_callback(void *arg)
{
	DefinitionContext *dc = arg;
	int			pos = geterrposition();

	if (pos > dc->prefix_len)
	{
		errposition(0);
		internalerrposition(pos - dc->prefix_len);
		internalerrquery(dc->definition);
	}
	errcontext("definition of segment \"%s\"", dc->key);
}

static void
push_context(ErrorContextCallback *cb, DefinitionContext *dc, const Evaluation *ev, int prefix_len)
{
	dc->key = ev->key;
	dc->definition = ev->definition;
	dc->prefix_len = prefix_len;
	cb->callback = definition_error_callback;
	cb->arg = dc;
	cb->previous = error_context_stack;
	error_context_stack = cb;
}

/* Parses the definition alone and refuses anything but one expression. */
static void
check_one_expression(const Evaluation *ev)
{
	ErrorContextCallback cb;
	DefinitionContext dc;

	push_context(&cb, &dc, ev, (int) strlen(CRM_ONE_EXPRESSION_PREFIX));
	crm_check_one_expression(ev->definition, "a segment definition must be one boolean expression",
							 "Write a condition over crm.contact_profile such as: r_score >= 4 AND 'DA-201' <> ALL (skus_bought)");
	error_context_stack = cb.previous;
}

static void
add_id(Evaluation *ev, int64 id)
{
	if (ev->n_ids == ev->cap_ids)
	{
		ev->cap_ids = ev->cap_ids ? ev->cap_ids * 2 : 1024;
		if ((Size) ev->cap_ids * sizeof(int64) > MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("segment \"%s\" matches too many people", ev->key)));
		ev->ids = ev->ids ? repalloc(ev->ids, ev->cap_ids * sizeof(int64))
			: palloc(ev->cap_ids * sizeof(int64));
	}
	ev->ids[ev->n_ids++] = id;
}

/*
 * Runs as the segment's owner (crm_run_as_owner): prepares the segment's
 * query, refuses volatile functions, opens it read-only (the privilege
 * check) and, unless only checking, collects the matching ids.
 */
static void
evaluate(void *arg)
{
	Evaluation *ev = arg;
	ErrorContextCallback cb;
	DefinitionContext dc;
	SPIPlanPtr	plan;
	Portal		portal;

	push_context(&cb, &dc, ev, (int) strlen(QUERY_PREFIX));
	plan = SPI_prepare(psprintf(QUERY_PREFIX "%s" QUERY_SUFFIX, ev->definition), 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	crm_refuse_volatile(plan, "a segment definition must not call volatile functions",
						"Membership must depend only on the data: a volatile function could change "
						"something or give another answer each time it is evaluated.");
	/*
	 * Not read-only: that would evaluate in the snapshot of the statement
	 * that called crm.refresh_segment, taken before the segment's lock was
	 * granted, and miss what a refresh committed while this one waited.
	 */
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, false);
	while (!ev->check_only)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			add_id(ev, DatumGetInt64(id));
		}
		SPI_freetuptable(SPI_tuptable);
		if (SPI_processed < FETCH_ROWS)
			break;
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	error_context_stack = cb.previous;
}

static char *
required_text(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * crm.create_segment(key, name, definition) returns the new segment's id; the
 * calling role (the session's, not the function's definer) becomes its owner.
 */
Datum
crm_create_segment(PG_FUNCTION_ARGS)
{
	Evaluation	ev;
	char	   *name = required_text(fcinfo, 1, "name");
	Oid			owner = GetOuterUserId();
	Datum		values[INSERT_NARGS];
	bool		isnull;
	int64		id;
	const char *p;

	memset(&ev, 0, sizeof(ev));
	ev.key = required_text(fcinfo, 0, "key");
	ev.definition = required_text(fcinfo, 2, "definition");
	ev.check_only = true;
	crm_check_printable_name(ev.key, "segment key", KEY_MAX, "python_buyers");
	for (p = name; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment name cannot be blank")));
	check_one_expression(&ev);

	crm_spi_connect();
	crm_run_as_owner(owner, evaluate, &ev);

	values[INSERT_KEY] = CStringGetTextDatum(ev.key);
	values[INSERT_NAME] = CStringGetTextDatum(name);
	values[INSERT_DEFINITION] = CStringGetTextDatum(ev.definition);
	values[INSERT_OWNER] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(owner, false)));
	if (crm_spi_execute(&exists_query, values, NULL, false, 1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("segment \"%s\" already exists", ev.key),
				 errhint("Choose another key, or delete the old segment from crm.segment first.")));
	crm_spi_execute(&insert_query, values, NULL, false, 0);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/*
 * Applies a difference: inserts the entered people, deletes the exited
 * ones, and writes an event for each; returns the counts.
 */
typedef enum ApplyArg
{
	APPLY_SEGMENT,				/* $1 the segment's id */
	APPLY_ENTERED,				/* $2 ids of the people who entered */
	APPLY_EXITED,				/* $3 ids of those who left */
	APPLY_KEY,					/* $4 the segment's key, for the events */
	APPLY_NARGS
} ApplyArg;

static const Oid apply_types[APPLY_NARGS] = {
	[APPLY_SEGMENT] = INT8OID,
	[APPLY_ENTERED] = INT8ARRAYOID,
	[APPLY_EXITED] = INT8ARRAYOID,
	[APPLY_KEY] = TEXTOID,
};

static CrmSpiQuery apply_query = {
"WITH entered AS ("
"   INSERT INTO crm.segment_member (segment_id, contact_id)"
"   SELECT $1, u.id FROM pg_catalog.unnest($2::pg_catalog.int8[]) AS u(id)"
"   ON CONFLICT DO NOTHING"
"   RETURNING contact_id"
" ), exited AS ("
"   DELETE FROM crm.segment_member m"
"    WHERE m.segment_id OPERATOR(pg_catalog.=) $1"
"      AND m.contact_id OPERATOR(pg_catalog.=) ANY ($3::pg_catalog.int8[])"
"   RETURNING m.contact_id"
" ), events AS ("
"   INSERT INTO crm.event (contact_id, kind, properties, source)"
"   SELECT x.contact_id, x.kind, pg_catalog.jsonb_build_object('segment', $4::pg_catalog.text), 'segment'"
"     FROM (SELECT e.contact_id, 'segment_entered' AS kind FROM entered e"
"           UNION ALL SELECT x.contact_id, 'segment_exited' FROM exited x) x"
"    ORDER BY x.kind, x.contact_id"
" )"
" SELECT (SELECT pg_catalog.count(*) FROM entered)::pg_catalog.int4,"
"        (SELECT pg_catalog.count(*) FROM exited)::pg_catalog.int4",
	APPLY_NARGS, apply_types};

static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Sorts ids and drops repeats; returns the new count. */
static int
sort_unique(int64 *ids, int n)
{
	int			kept = 0;
	int			i;

	if (n == 0)
		return 0;
	qsort(ids, n, sizeof(int64), compare_int64);
	for (i = 0; i < n; i++)
		if (kept == 0 || ids[kept - 1] != ids[i])
			ids[kept++] = ids[i];
	return kept;
}

/* The current members of the segment, in contact_id order (they are unique). */
static void
read_members(int64 segment_id, Evaluation *members)
{
	Datum		values[1] = {Int64GetDatum(segment_id)};
	Portal		portal = SPI_cursor_open(NULL, crm_spi_plan(&members_query), values, NULL, false);

	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			add_id(members, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
		}
		SPI_freetuptable(SPI_tuptable);
		if (SPI_processed < FETCH_ROWS)
			break;
	}
	SPI_cursor_close(portal);
}

static Datum
int8_array(const int64 *ids, int n)
{
	Datum	   *datums = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		datums[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(datums, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * crm.refresh_segment(key, OUT entered, OUT exited): evaluates the segment
 * as its owner, merges the sorted result with the sorted current members,
 * and applies only the difference (see the file comment).
 */
Datum
crm_refresh_segment(PG_FUNCTION_ARGS)
{
	Evaluation	ev;
	Evaluation	members;
	Datum		lock_values[1];
	Datum		apply_values[APPLY_NARGS];
	HeapTuple	row;
	TupleDesc	desc;
	TupleDesc	result_desc;
	bool		isnull;
	int64		segment_id;
	char	   *owner_name;
	Oid			owner;
	Datum		result[2] = {Int32GetDatum(0), Int32GetDatum(0)};
	bool		result_nulls[2] = {false, false};
	int64	   *entered;
	int64	   *exited;
	int			n_entered = 0;
	int			n_exited = 0;
	int			i = 0;
	int			j = 0;

	memset(&ev, 0, sizeof(ev));
	memset(&members, 0, sizeof(members));
	ev.key = required_text(fcinfo, 0, "key");
	members.key = ev.key;
	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE ||
		result_desc->natts != lengthof(result))
		elog(ERROR, "return type must be a row type of %d columns", (int) lengthof(result));

	crm_spi_connect();
	lock_values[0] = CStringGetTextDatum(ev.key);
	if (crm_spi_execute(&lock_query, lock_values, NULL, false, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment \"%s\" does not exist", ev.key),
				 errhint("The segments are the rows of crm.segment.")));
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	segment_id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
	ev.definition = crm_spi_text(row, desc, 2, CurrentMemoryContext);
	owner_name = SPI_getvalue(row, desc, 3);

	check_one_expression(&ev);
	owner = crm_owner_role(owner_name, psprintf("segment \"%s\"", ev.key));
	crm_run_as_owner(owner, evaluate, &ev);
	ev.n_ids = sort_unique(ev.ids, ev.n_ids);
	read_members(segment_id, &members);

	/* merge the two sorted lists */
	entered = palloc(sizeof(int64) * Max(ev.n_ids, 1));
	exited = palloc(sizeof(int64) * Max(members.n_ids, 1));
	while (i < ev.n_ids || j < members.n_ids)
	{
		if (j == members.n_ids || (i < ev.n_ids && ev.ids[i] < members.ids[j]))
			entered[n_entered++] = ev.ids[i++];
		else if (i == ev.n_ids || members.ids[j] < ev.ids[i])
			exited[n_exited++] = members.ids[j++];
		else
			i++, j++;
	}

	if (n_entered > 0 || n_exited > 0)
	{
		apply_values[APPLY_SEGMENT] = Int64GetDatum(segment_id);
		apply_values[APPLY_ENTERED] = int8_array(entered, n_entered);
		apply_values[APPLY_EXITED] = int8_array(exited, n_exited);
		apply_values[APPLY_KEY] = CStringGetTextDatum(ev.key);
		if (crm_spi_execute(&apply_query, apply_values, NULL, false, 0) != 1)
			elog(ERROR, "could not apply the membership of segment \"%s\"", ev.key);
		result[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		result[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	}

	apply_values[APPLY_SEGMENT] = Int64GetDatum(segment_id);
	crm_spi_execute(&refreshed_query, &apply_values[APPLY_SEGMENT], NULL, false, 0);
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(result_desc), result, result_nulls)));
}
