/*-------------------------------------------------------------------------
 * crm.c
 *	  Module entry point of the crm extension.
 *
 * _PG_init runs when the library is loaded: at server start when crm is in
 * shared_preload_libraries, or on first use in a backend otherwise.  It asks
 * each feature to register its GUCs, caches and (when preloaded) background
 * workers, then reserves the "crm." GUC prefix.  Triggers and aggregates work
 * without preloading; only the crm worker (mail delivery and the other
 * duties, src/worker) needs it.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "utils/guc.h"

CRM_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	crm_pipeline_init();
	crm_mail_queue_init();
	crm_forecast_regression_init();
	crm_forecast_timeseries_init();
	crm_worker_init();
	crm_mail_delivery_init();
	crm_sales_init();
	crm_drop_guard_init();
	crm_setting_cache_init();

	MarkGUCPrefixReserved("crm");
}
