/*-------------------------------------------------------------------------
 * sql_duty.c
 *	  Running a SQL duty (duty.h): one call of crm.<function>(max integer)
 *	  RETURNS integer in one short transaction.
 *
 * The call is skipped quietly, and the duty shown as "absent", while the
 * extension or the function does not exist; "waiting for a lock" while
 * the extension is being dropped (the duty holds a share lock on the
 * extension during its call, taken without waiting, so DROP EXTENSION
 * never removes the function under it and never waits long for it).  The
 * function runs as its owner (the extension's owner), not as the worker's
 * superuser role, under the worker's pinned search_path.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/htup_details.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "worker/duty.h"

static Oid	find_function(const char *name, Oid *owner);

/*
 * crm_sql_duty_run: the run function of every SQL duty.
 */
TimestampTz
crm_sql_duty_run(const CrmDuty *duty, bool woken)
{
	Oid			ext;
	Oid			fn = InvalidOid;
	Oid			owner = InvalidOid;
	const char *state;
	int			done = 0;

	crm_duty_begin();
	ext = get_extension_oid("crm", true);
	if (!OidIsValid(ext))
		state = "absent";
	else if (!ConditionalLockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock))
		state = "waiting for a lock";
	else if (!OidIsValid(get_extension_oid("crm", true)) ||
			 !OidIsValid(fn = find_function(duty->sql_function, &owner)))
		state = "absent";		/* dropped meanwhile, or not there yet */
	else
	{
		Oid			save_user;
		int			save_sec;
		enum
		{
			DUTY_MAX,			/* $1: the most rows one batch may do */
			DUTY_NARGS
		};
		Oid			argtypes[DUTY_NARGS] = {[DUTY_MAX] = INT4OID};
		Datum		args[DUTY_NARGS] = {[DUTY_MAX] = Int32GetDatum(duty->sql_max)};
		bool		isnull;
		char	   *sql = psprintf("SELECT %s.%s($1)", quote_identifier(CRM_SCHEMA),
								   quote_identifier(duty->sql_function));

		GetUserIdAndSecContext(&save_user, &save_sec);
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_execute_with_args(sql, DUTY_NARGS, argtypes, args, NULL, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not run %s", sql);
		done = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			done = 0;
		SetUserIdAndSecContext(save_user, save_sec);
		state = done >= duty->sql_max ? "more pending" : "idle";
	}
	crm_duty_commit();

	crm_duty_set_state(state);
	if (done > 0)
		crm_duty_tally((uint64) done, 0, 0);
	/* More pending: at the next round; otherwise when it asked, or after crm.poll_interval. */
	return done >= duty->sql_max ? GetCurrentTimestamp() : crm_duty_run_again_requested();
}

/*
 * find_function: crm.<name>(integer) and its owner, or InvalidOid when
 * there is no such function.  One that does not return a single integer
 * is an error, shown as the duty's last error.
 */
static Oid
find_function(const char *name, Oid *owner)
{
	Oid			argtypes[1] = {INT4OID};
	Oid			fn = LookupFuncName(list_make2(makeString(CRM_SCHEMA), makeString(pstrdup(name))),
									1, argtypes, true);
	HeapTuple	tuple;
	Form_pg_proc proc;

	if (!OidIsValid(fn))
		return InvalidOid;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (proc->prorettype != INT4OID || proc->proretset || proc->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("function %s.%s(integer) cannot be run as a worker duty", CRM_SCHEMA, name),
				 errdetail("A worker duty must be a function returning one integer.")));
	*owner = proc->proowner;
	ReleaseSysCache(tuple);
	return fn;
}
