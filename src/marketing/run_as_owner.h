/*-------------------------------------------------------------------------
 * run_as_owner.h
 *	  Running a user's SQL (segment definitions, journey conditions and
 *	  vars) with the privileges of the role that wrote it, never those of
 *	  whoever triggers it: a user, or the background worker.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MARKETING_RUN_AS_OWNER_H
#define CRM_MARKETING_RUN_AS_OWNER_H

#include "executor/spi.h"

/* search_path while a user's SQL runs: crm's names resolve, nothing from public or pg_temp shadows them. */
#define CRM_USER_SQL_SEARCH_PATH "pg_catalog, crm, pg_temp"

typedef void (*CrmRunAsOwnerFn) (void *arg);

/*
 * Calls fn(arg) as role owner, the way REFRESH MATERIALIZED VIEW runs a
 * view's query: the current user becomes owner with
 * SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION (no SET
 * ROLE, no temporary objects, no cursors kept open), and search_path is
 * CRM_USER_SQL_SEARCH_PATH until fn returns.  fn runs its SQL through SPI
 * (the caller has connected), preferably read-only.  When fn raises an
 * error, the abort of the (sub)transaction that catches it restores the
 * user and the settings.
 */
extern void crm_run_as_owner(Oid owner, CrmRunAsOwnerFn fn, void *arg);

/*
 * The OID of the role named role_name, which owns what is described by
 * what (e.g. "segment \"vip\""); raises 55000 when the role was dropped.
 */
extern Oid	crm_owner_role(const char *role_name, const char *what);

/*
 * Checking a user's SQL expression before it is stored (segment
 * definitions, journey conditions and vars).  crm_check_one_expression
 * parses it alone, as CRM_ONE_EXPRESSION_PREFIX followed by the expression
 * (error positions count from that prefix), and raises 42601 with message
 * and hint unless it is exactly one expression -- no semicolon, second
 * statement, clause of its own (FROM, WHERE, ...), list or AS name -- so
 * nothing can be smuggled into the query it is later put into.
 * crm_refuse_volatile raises 22023 with message and detail when a prepared
 * plan calls a volatile function.
 */
#define CRM_ONE_EXPRESSION_PREFIX "SELECT "
extern void crm_check_one_expression(const char *expression, const char *message, const char *hint);
extern void crm_refuse_volatile(SPIPlanPtr plan, const char *message, const char *detail);

#endif							/* CRM_MARKETING_RUN_AS_OWNER_H */
