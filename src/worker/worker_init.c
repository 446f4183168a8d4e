/*-------------------------------------------------------------------------
 * worker_init.c
 *	  Start-up of the crm worker: its own settings (GUCs), its shared
 *	  memory (one slot per duty) and its registration with the postmaster.
 *
 * The settings are defined in every process that loads crm, so SHOW works
 * everywhere (crm.database, fixed at server start, only when preloaded).
 * (crm.poll_interval and crm.duty_timeout are defined by duty.c.)
 * Only when crm is in shared_preload_libraries does crm_worker_init also
 * request shared memory (PostgreSQL 15's shmem_request_hook) and register
 * the worker: one process, restarted CRM_RESTART_SECONDS after it exits,
 * started once recovery has finished (so never on a standby).  The duties'
 * own settings belong to their features (mail: src/mail/settings.c).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "worker/duty.h"

#define CRM_RESTART_SECONDS 5

CrmWorkerShared *crm_worker_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size worker_shmem_size(void);
static void worker_shmem_request(void);
static void worker_shmem_startup(void);

/*
 * crm_worker_init: called from _PG_init.
 */
void
crm_worker_init(void)
{
	BackgroundWorker worker;

	crm_duty_define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;

	/* A PGC_POSTMASTER setting can only be defined at server start. */
	DefineCustomStringVariable("crm.database",
							   "Database the crm worker serves (delivers its mail, runs its duties).",
							   "crm must be installed in that database. Takes effect at server start.",
							   &crm_worker_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = CRM_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "crm", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "crm_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, CRM_WORKER_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_type, CRM_WORKER_NAME, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

static Size
worker_shmem_size(void)
{
	return add_size(offsetof(CrmWorkerShared, duties),
					mul_size(crm_duty_count, sizeof(CrmDutyShared)));
}

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(worker_shmem_size()));
}

static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	crm_worker_shared = ShmemInitStruct(CRM_WORKER_NAME, worker_shmem_size(), &found);
	if (!found)
	{
		memset(crm_worker_shared, 0, worker_shmem_size());
		SpinLockInit(&crm_worker_shared->mutex);
		for (int i = 0; i < crm_duty_count; i++)
			SpinLockInit(&crm_worker_shared->duties[i].mutex);
		strlcpy(crm_worker_shared->state, "not started", sizeof(crm_worker_shared->state));
	}
	LWLockRelease(AddinShmemInitLock);
}
