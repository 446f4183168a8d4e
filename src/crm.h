/*-------------------------------------------------------------------------
 * crm.h
 *	  Shared declarations of the crm extension: every PostgreSQL version
 *	  shim, the per-feature init functions called from _PG_init, and the
 *	  helpers more than one feature uses.
 *
 * Only this header may test PG_VERSION_NUM; feature code uses the shims.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_H
#define CRM_H

#include "postgres.h"
#include "fmgr.h"

/* Version policy: the majors crm supports (as the Makefile's PG_SUPPORTED_MAJORS). */
#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 160000
#error "crm supports PostgreSQL 15 only: build it with that server's pg_config (see README, Supported PostgreSQL versions)"
#endif

/* The release (EXTVERSION in the Makefile, which passes it). */
#ifndef CRM_VERSION
#error "CRM_VERSION is not defined: build crm with its Makefile"
#endif

/*
 * The shims: names feature code uses where PostgreSQL majors differ.  With
 * 15 the only supported major they are PostgreSQL 15's own; a port adds its
 * #if branches here and nowhere else.
 */
#define CRM_MODULE_MAGIC PG_MODULE_MAGIC

#define CRM_SCHEMA "crm"

/* Ownership of an extension (object_ownercheck from PostgreSQL 16 on). */
#include "utils/acl.h"
#define crm_extension_ownercheck(extoid, role) pg_extension_ownercheck((extoid), (role))

/* Per-feature initialisation, each called once from _PG_init. */
extern void crm_pipeline_init(void);
extern void crm_mail_queue_init(void);
extern void crm_forecast_regression_init(void);
extern void crm_forecast_timeseries_init(void);
extern void crm_worker_init(void);
extern void crm_mail_delivery_init(void);
extern void crm_sales_init(void);
extern void crm_drop_guard_init(void);
extern void crm_setting_cache_init(void);

/* crm.max_aggregate_rows: rows one group of crm.logreg or crm.revenue_range may hold. */
extern int	crm_max_aggregate_rows;

/*
 * Email address syntax (src/core/email_address.c).  Returns NULL when the
 * address is acceptable, otherwise a sentence saying what is wrong with it.
 */
extern const char *crm_email_address_problem(const char *address);

/*
 * Restore mode (src/core/restore.c): true while a dump is being loaded by a
 * role allowed to bypass triggers; crm's triggers then pass rows through.
 */
extern bool crm_restoring(void);

/*
 * A business setting (a row of crm.setting, src/core/setting_cache.c), read
 * from a per-backend cache that changes to the table invalidate: a palloc'd
 * copy of its value, or NULL when the key (or the table) does not exist.
 */
extern char *crm_setting_value(const char *key);

/* True when name is an IANA time zone name the server knows (src/core/time_zone.c). */
extern bool crm_time_zone_is_known(const char *name);

#endif							/* CRM_H */
