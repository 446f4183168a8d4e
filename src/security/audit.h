/*-------------------------------------------------------------------------
 * audit.h
 *	  What the audit trail's C files share: where the log is, and how an
 *	  erased value is written in it.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_AUDIT_H
#define CRM_AUDIT_H

#include "crm.h"

/* crm.audit_log, in schema CRM_SCHEMA */
#define CRM_AUDIT_TABLE "audit_log"

/*
 * An erased value in crm.audit_log.changed is an object with this single
 * key, whose value is the hex SHA-256 digest of the value it replaced: the
 * chain hashes per-value digests (audit_chain.c), so it still verifies.
 */
#define CRM_AUDIT_ERASED_KEY "crm_erased_sha256"

/* "schema.table", each part quoted if needed: how crm.audit_log names a table. */
extern char *crm_audit_table_name(Oid relid);

#endif							/* CRM_AUDIT_H */
