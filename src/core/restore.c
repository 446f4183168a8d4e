/*-------------------------------------------------------------------------
 * restore.c
 *	  Restore mode: how the extension's triggers recognise rows being loaded
 *	  back from a backup, and the SQL function crm.restoring() that says so.
 *
 * pg_dump registers crm's tables as configuration tables, so a restore
 * first runs CREATE EXTENSION crm (which creates the triggers and seeds the
 * default rows) and then loads every saved row with COPY or INSERT.  Those
 * rows must be taken as they were saved: a won deal is not a new deal
 * entering the pipeline, its history rows are already in the dump, an
 * issued invoice's lines were valid when they were written.  So every crm
 * trigger asks crm_restoring() first and, when it is true, passes the row
 * through untouched.
 *
 * The signal is the one pg_dump and pg_dumpall write at the top of every
 * dump, "SET row_security = off" (unless --enable-row-security), taken
 * together with the privilege to bypass triggers anyway: the session's role
 * is a superuser or owns the extension, and so could equally run
 * ALTER TABLE ... DISABLE TRIGGER.  No other role can enter restore mode,
 * so it opens no hole a client could use.  Ordinary sessions never set
 * row_security off (for a role subject to row-level security it only
 * turns queries into errors), and the check costs one boolean test per row
 * when it is on.
 *
 * The role asked about is the session's (as SET ROLE left it), not the
 * current user: inside a SECURITY DEFINER trigger such as
 * crm.invoice_guard() the current user is the extension's owner, whoever
 * fired it, and any role could otherwise skip it with row_security off.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/rls.h"

PG_FUNCTION_INFO_V1(crm_restoring_sql);

/* The owner of the extension with OID extoid (InvalidOid if it is gone). */
static Oid
extension_owner(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * crm_restoring: true while a dump is being loaded by a role that may bypass
 * crm's triggers (see the file comment).
 */
bool
crm_restoring(void)
{
	Oid			extoid;
	Oid			owner;
	Oid			role;

	if (row_security)
		return false;
	role = GetOuterUserId();
	if (superuser_arg(role))
		return true;
	extoid = get_extension_oid(CRM_SCHEMA, true);
	if (!OidIsValid(extoid))
		return false;
	owner = extension_owner(extoid);
	return OidIsValid(owner) && has_privs_of_role(role, owner);
}

Datum
crm_restoring_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(crm_restoring());
}
