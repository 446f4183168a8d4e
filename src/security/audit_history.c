/*-------------------------------------------------------------------------
 * audit_history.c
 *	  crm.audit_history(table_name regclass, row_id bigint): who changed a
 *	  row, when, and what, oldest first.
 *
 * crm.audit_log is readable in full by crm_admin and readers only (its
 * policy); a crm_user asks through this function about a row they can see.
 * So it first looks the row up as the caller -- with the caller's
 * privileges and row-level security, "SELECT FROM <table> WHERE id = $1" --
 * and, when the row is there, reads the row's log entries as the log's
 * owner.  A row the caller cannot see (or one deleted since) is looked up
 * in the log with the caller's own rights: crm_admin and readers still get
 * its history, a crm_user gets nothing.
 *
 * Both queries are schema-qualified, with pg_catalog's operators, so the
 * caller's search_path changes nothing.
 *-------------------------------------------------------------------------
 */
#include "audit.h"
#include "spi_util.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(crm_audit_history);

enum
{
	LOG_TABLE_NAME, LOG_ROW_ID, LOG_NARGS
};
static const Oid log_types[LOG_NARGS] = {[LOG_TABLE_NAME] = TEXTOID,[LOG_ROW_ID] = INT8OID};
static CrmSpiQuery log_query = {
	"SELECT l.* FROM crm.audit_log l"
	" WHERE l.table_name OPERATOR(pg_catalog.=) $1 AND l.row_id OPERATOR(pg_catalog.=) $2 ORDER BY l.id",
	LOG_NARGS, log_types};

/* True when the caller can see row id of the table. */
static bool
row_is_visible(Oid relid, const char *table_name, int64 id)
{
	AttrNumber	id_att = get_attnum(relid, "id");
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};
	char	   *query;
	int			rc;

	if (id_att == InvalidAttrNumber || get_atttype(relid, id_att) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table %s has no bigint column \"id\"", table_name),
				 errhint("Look rows of tables without an id up in crm.audit_log by table_name.")));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for table %s", table_name)));
	query = psprintf("SELECT FROM %s WHERE id OPERATOR(pg_catalog.=) $1", table_name);
	rc = SPI_execute_with_args(query, 1, argtypes, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/* The owner of crm.audit_log. */
static Oid
log_owner(void)
{
	Oid			relid = get_relname_relid(CRM_AUDIT_TABLE, get_namespace_oid(CRM_SCHEMA, false));
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %s.%s", CRM_SCHEMA, CRM_AUDIT_TABLE);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

Datum
crm_audit_history(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		id = PG_GETARG_INT64(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *table_name;
	Datum		args[LOG_NARGS];
	Oid			saved_user;
	int			saved_context;
	bool		as_owner;
	uint64		i;

	InitMaterializedSRF(fcinfo, 0);
	if (!OidIsValid(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	table_name = crm_audit_table_name(relid);
	args[LOG_TABLE_NAME] = CStringGetTextDatum(table_name);
	args[LOG_ROW_ID] = Int64GetDatum(id);

	crm_spi_connect();
	as_owner = row_is_visible(relid, table_name, id);

	GetUserIdAndSecContext(&saved_user, &saved_context);
	if (as_owner)
		SetUserIdAndSecContext(log_owner(), saved_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		crm_spi_execute(&log_query, args, NULL, true, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_context);
	}
	PG_END_TRY();

	for (i = 0; i < SPI_processed; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	SPI_finish();
	return (Datum) 0;
}
