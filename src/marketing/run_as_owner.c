/*-------------------------------------------------------------------------
 * run_as_owner.c
 *	  Run a user's SQL with its owner's privileges (see run_as_owner.h).
 *
 * Segment definitions (and journey conditions) are SQL written by one role
 * and evaluated later by another: a user refreshing a segment, or the
 * background worker, which runs as a superuser.  Evaluating them as the
 * caller would let a crm_user read, through a definition, what only the
 * worker may read.  So the evaluation switches the current user to the
 * definition's owner, exactly as REFRESH MATERIALIZED VIEW switches to the
 * view's owner: SetUserIdAndSecContext with SECURITY_LOCAL_USERID_CHANGE
 * (SET ROLE and SET SESSION AUTHORIZATION are refused meanwhile) and
 * SECURITY_RESTRICTED_OPERATION (no temporary objects, no cursors or
 * prepared statements that would outlive the switch).  search_path is
 * pinned for the duration through a GUC nest level, so neither the
 * caller's nor the worker's settings change what the names mean.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "optimizer/optimizer.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/plancache.h"

#include "marketing/run_as_owner.h"

PG_FUNCTION_INFO_V1(crm_acting_role);

void
crm_run_as_owner(Oid owner, CrmRunAsOwnerFn fn, void *arg)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", CRM_USER_SQL_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	fn(arg);

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

Oid
crm_owner_role(const char *role_name, const char *what)
{
	Oid			role = get_role_oid(role_name, true);

	if (!OidIsValid(role))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the owner of %s, role \"%s\", does not exist", what, role_name),
				 errdetail("Its SQL runs with its owner's privileges, so it cannot run without that role."),
				 errhint("Create it again as an existing role.")));
	return role;
}

/*
 * crm.acting_role(): the role the session acts as (SET ROLE's, or the login
 * role), also inside SECURITY DEFINER functions, where current_user is the
 * function's owner.  What crm records as "who did it".
 */
Datum
crm_acting_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false))));
}

static void
not_one_expression(const char *message, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_SYNTAX_ERROR),
			 errmsg("%s", message),
			 errdetail("%s", detail),
			 errhint("%s", hint)));
}

void
crm_check_one_expression(const char *expression, const char *message, const char *hint)
{
	List	   *stmts = raw_parser(psprintf(CRM_ONE_EXPRESSION_PREFIX "%s", expression), RAW_PARSE_DEFAULT);
	RawStmt    *raw;
	SelectStmt *select;
	ResTarget  *target;

	if (list_length(stmts) != 1)
		not_one_expression(message, "It holds more than one statement.", hint);
	raw = linitial_node(RawStmt, stmts);
	if (raw->stmt_len != 0)
		not_one_expression(message, "It contains a semicolon.", hint);
	if (!IsA(raw->stmt, SelectStmt))
		not_one_expression(message, "It is not an expression.", hint);
	select = (SelectStmt *) raw->stmt;
	if (select->op != SETOP_NONE || select->valuesLists != NIL)
		not_one_expression(message, "It continues with UNION, INTERSECT, EXCEPT or VALUES.", hint);
	if (select->fromClause != NIL || select->whereClause != NULL || select->groupClause != NIL ||
		select->havingClause != NULL || select->windowClause != NIL || select->withClause != NULL ||
		select->distinctClause != NIL || select->intoClause != NULL || select->sortClause != NIL ||
		select->limitOffset != NULL || select->limitCount != NULL || select->lockingClause != NIL)
		not_one_expression(message, "It continues with a clause of its own (FROM, WHERE, GROUP BY, ORDER BY, LIMIT, ...).",
						   hint);
	if (select->targetList == NIL)
		not_one_expression(message, "It is empty.", hint);
	if (list_length(select->targetList) != 1)
		not_one_expression(message, "It is a list of expressions.", hint);
	target = linitial_node(ResTarget, select->targetList);
	if (target->name != NULL)
		not_one_expression(message, "It names its value with AS.", hint);
	if (IsA(target->val, ColumnRef) && IsA(llast(((ColumnRef *) target->val)->fields), A_Star))
		not_one_expression(message, "It is a * column list.", hint);
}

void
crm_refuse_volatile(SPIPlanPtr plan, const char *message, const char *detail)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *source = lfirst(lc);
		ListCell   *lq;

		foreach(lq, source->query_list)
			if (contain_volatile_functions((Node *) lfirst(lq)))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s", message),
						 errdetail("%s", detail),
						 errhint("Use stable functions such as now(); for a sample, use a hash of the id.")));
	}
}
