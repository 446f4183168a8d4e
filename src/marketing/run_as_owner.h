/*-------------------------------------------------------------------------
 * run_as_owner.h
 *	  Running a user's SQL (segment definitions, journey conditions and
 *	  vars) with the privileges of the role that wrote it, never those of
 *	  whoever triggers it: a user, or the background worker.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MARKETING_RUN_AS_OWNER_H
#define CRM_MARKETING_RUN_AS_OWNER_H

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

#endif							/* CRM_MARKETING_RUN_AS_OWNER_H */
