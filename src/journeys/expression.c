/*-------------------------------------------------------------------------
 * expression.c
 *	  The user's SQL of a journey -- trigger_filter, a branch's condition, a
 *	  send step's vars -- checked when the journey is created and evaluated
 *	  as the journey's owner.
 *
 * Each is one SQL expression placed in a query that gives it its names:
 *
 *	 trigger_filter  SELECT (<expr>) FROM (SELECT ($1).*) AS e,
 *	                   crm.contact_profile AS c WHERE c.id = e.contact_id
 *	                 ($1 the new crm.event row)
 *	 condition, vars SELECT (<expr>) FROM (SELECT ($1).*) AS en,
 *	                   crm.contact_profile AS c WHERE c.id = en.contact_id
 *	                 ($1 the crm.journey_enrollment row)
 *
 * Checking (crm._check_journey_sql, from crm.create_journey) works as for
 * segment definitions (src/marketing/segment.c): the expression is parsed
 * alone and must be exactly one expression (42601); the query is prepared
 * as the calling role, who becomes the journey's owner, under crm's pinned
 * search_path for user SQL, which checks names; its one column must be
 * boolean (filter, condition) or jsonb (vars) (42804); volatile functions
 * are refused (22023: evaluation must not change anything); and the query
 * is opened as a cursor, which checks the role's privileges on everything
 * it reads (42501).
 *
 * Evaluating (the event trigger, the runner) prepares the query once per
 * backend -- the plan is kept with the cached journey definition
 * (journey_cache.c) -- and runs it read-only as the owner through
 * crm_run_as_owner (src/marketing/run_as_owner.h): never with the
 * privileges of whoever wrote the event, nor of the worker.  No row (the
 * person was deleted) and NULL both read as NULL: a condition is then not
 * met, vars add nothing, a filter does not enroll.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"

#include "spi_util.h"
#include "marketing/run_as_owner.h"
#include "journeys/journeys.h"

PG_FUNCTION_INFO_V1(crm_check_journey_sql);

/* How each kind of SQL is named in messages, typed, and placed. */
typedef struct SqlShape
{
	const char *name;			/* as in crm.journey / crm.journey_step */
	Oid			result_type;
	const char *row_table;		/* the table whose row is $1 */
	const char *row_alias;
} SqlShape;

static const SqlShape shapes[] = {
	[CRM_JOURNEY_FILTER] = {"trigger_filter", BOOLOID, "event", "e"},
	[CRM_JOURNEY_CONDITION] = {"condition", BOOLOID, "journey_enrollment", "en"},
	[CRM_JOURNEY_VARS] = {"vars", JSONBOID, "journey_enrollment", "en"},
};

#define QUERY_PREFIX "SELECT (\n"
#define QUERY_FORMAT \
	QUERY_PREFIX "%s\n) FROM (SELECT ($1).*) AS %s, crm.contact_profile AS c" \
	" WHERE c.id OPERATOR(pg_catalog.=) %s.contact_id"

/* What is being prepared or evaluated, for errors. */
typedef struct Evaluation
{
	CrmJourneySql what;
	const char *expression;
	const char *origin;			/* e.g. journey "welcome", step 3; NULL when being created */
	bool		check_only;
	int			prefix_len;		/* bytes before the expression in the text parsed */
	SPIPlanPtr	plan;			/* in: kept plan or NULL; out: the plan used */
	Datum		row;			/* $1 */
	bool		row_isnull;
	Datum		result;
	bool		isnull;
	MemoryContext result_context;
} Evaluation;

static void
sql_error_callback(void *arg)
{
	Evaluation *ev = arg;
	int			pos = geterrposition();

	if (pos > ev->prefix_len)
	{
		/* point into the expression, not into the statement that called */
		errposition(0);
		internalerrposition(pos - ev->prefix_len);
		internalerrquery(ev->expression);
	}
	if (ev->origin != NULL)
		errcontext("%s of %s", shapes[ev->what].name, ev->origin);
	else
		errcontext("journey %s", shapes[ev->what].name);
}

static Oid
row_type(CrmJourneySql what)
{
	Oid			nsp = get_namespace_oid(CRM_SCHEMA, false);
	Oid			relid = get_relname_relid(shapes[what].row_table, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "table crm.%s does not exist", shapes[what].row_table);
	return get_rel_type_id(relid);
}

/* Prepares ev's query (as the current user and search_path), checking its shape. */
static SPIPlanPtr
prepare(Evaluation *ev)
{
	const SqlShape *shape = &shapes[ev->what];
	Oid			argtypes[1] = {row_type(ev->what)};
	SPIPlanPtr	plan;
	CachedPlanSource *source;
	Oid			type;

	plan = SPI_prepare(psprintf(QUERY_FORMAT, ev->expression, shape->row_alias, shape->row_alias), 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	crm_refuse_volatile(plan, psprintf("a journey's %s must not call volatile functions", shape->name),
						"Journey SQL is evaluated again and again, by triggers and the worker: it must only read.");
	source = linitial(SPI_plan_get_plan_sources(plan));
	type = TupleDescAttr(source->resultDesc, 0)->atttypid;
	if (type != shape->result_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a journey's %s must be of type %s", shape->name, format_type_be(shape->result_type)),
				 errdetail("It is of type %s.", format_type_be(type)),
				 ev->what == CRM_JOURNEY_VARS
				 ? errhint("Build the variables with jsonb_build_object(...) or a jsonb subquery.")
				 : errhint("Write a condition such as: c.orders = 0")));
	return plan;
}

/* Runs as the owner (crm_run_as_owner): prepares if needed, then checks or evaluates. */
static void
prepare_and_run(void *arg)
{
	Evaluation *ev = arg;
	ErrorContextCallback cb;
	Datum		values[1] = {ev->row};
	char		nulls[1] = {ev->row_isnull ? 'n' : ' '};

	cb.callback = sql_error_callback;
	cb.arg = ev;
	cb.previous = error_context_stack;
	error_context_stack = &cb;

	ev->prefix_len = (int) strlen(QUERY_PREFIX);
	if (ev->plan == NULL)
		ev->plan = prepare(ev);
	if (ev->check_only)
	{
		/* opening it checks the privileges on all it reads */
		Portal		portal = SPI_cursor_open(NULL, ev->plan, values, nulls, true);

		SPI_cursor_close(portal);
	}
	else
	{
		int			rc = SPI_execute_plan(ev->plan, values, nulls, true, 1);

		if (rc != SPI_OK_SELECT)
			elog(ERROR, "journey %s failed: %s", shapes[ev->what].name, SPI_result_code_string(rc));
		ev->isnull = true;
		if (SPI_processed > 0)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &ev->isnull);

			if (!ev->isnull)
			{
				MemoryContext old = MemoryContextSwitchTo(ev->result_context);

				ev->result = ev->what == CRM_JOURNEY_VARS ? datumCopy(d, false, -1) : d;
				MemoryContextSwitchTo(old);
			}
		}
		SPI_freetuptable(SPI_tuptable);
	}
	error_context_stack = cb.previous;
}

/*
 * crm_journey_eval_sql: evaluates the expression as owner with row as $1;
 * *plan_slot keeps its plan (prepared on first use, then kept in
 * keep_in's lifetime).  The caller is connected to SPI.  The result (a
 * boolean, or a jsonb copied into result_context) is NULL when *isnull.
 */
Datum
crm_journey_eval_sql(CrmJourneySql what, const char *expression, const char *origin, SPIPlanPtr *plan_slot,
					 Oid owner, Datum row, bool *isnull, MemoryContext result_context)
{
	Evaluation	ev;

	memset(&ev, 0, sizeof(ev));
	ev.what = what;
	ev.expression = expression;
	ev.origin = origin;
	ev.plan = *plan_slot;
	ev.row = row;
	ev.result_context = result_context;
	crm_run_as_owner(owner, prepare_and_run, &ev);
	if (*plan_slot == NULL)
	{
		SPI_keepplan(ev.plan);
		*plan_slot = ev.plan;
	}
	*isnull = ev.isnull;
	return ev.result;
}

/*
 * crm._check_journey_sql(what, expression): the check described in the
 * file comment, as the session's role (the journey's future owner).
 */
Datum
crm_check_journey_sql(PG_FUNCTION_ARGS)
{
	char	   *what_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Evaluation	ev;
	ErrorContextCallback cb;
	int			i;

	memset(&ev, 0, sizeof(ev));
	ev.what = -1;
	for (i = 0; i < (int) lengthof(shapes); i++)
		if (strcmp(what_name, shapes[i].name) == 0)
			ev.what = i;
	if ((int) ev.what < 0)
		elog(ERROR, "unknown kind of journey SQL \"%s\"", what_name);
	ev.expression = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ev.check_only = true;
	ev.row_isnull = true;
	ev.prefix_len = (int) strlen(CRM_ONE_EXPRESSION_PREFIX);

	cb.callback = sql_error_callback;
	cb.arg = &ev;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	crm_check_one_expression(ev.expression,
							 psprintf("a journey's %s must be one %s expression", shapes[ev.what].name,
									  ev.what == CRM_JOURNEY_VARS ? "jsonb" : "boolean"),
							 ev.what == CRM_JOURNEY_FILTER
							 ? "Write a condition over the event e and the profile c such as: e.properties ->> 'plan' = 'trial'"
							 : ev.what == CRM_JOURNEY_CONDITION
							 ? "Write a condition over the profile c and the enrollment en such as: c.orders = 0"
							 : "Write a jsonb expression over c and en such as: jsonb_build_object('city', c.attributes ->> 'city')");
	error_context_stack = cb.previous;
	crm_spi_connect();
	crm_run_as_owner(GetOuterUserId(), prepare_and_run, &ev);
	SPI_freeplan(ev.plan);
	SPI_finish();
	PG_RETURN_VOID();
}
