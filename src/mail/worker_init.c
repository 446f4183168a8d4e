/*-------------------------------------------------------------------------
 * worker_init.c
 *	  Start-up of the crm mail worker: its settings (GUCs), its shared
 *	  memory and its registration with the postmaster.
 *
 * The settings are defined in every process that loads crm, so SHOW works
 * everywhere (crm.database, fixed at server start, only when preloaded);
 * secrets (crm.smtp_password, crm.http_auth_header) are
 * GUC_SUPERUSER_ONLY.  Only when crm is in shared_preload_libraries does
 * crm_mail_worker_init also request shared memory (PostgreSQL 15's
 * shmem_request_hook) and register the worker: one process, restarted
 * CRM_RESTART_SECONDS after it exits, started once recovery has finished
 * (so never on a standby).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <float.h>
#include <limits.h>

#include "mail/worker.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#define CRM_RESTART_SECONDS 5

char	   *crm_mail_database;
int			crm_mail_transport = CRM_TRANSPORT_FILE;
char	   *crm_mail_dir;
char	   *crm_smtp_url;
int			crm_smtp_starttls = CRM_STARTTLS_TRY;
char	   *crm_smtp_user;
char	   *crm_smtp_password;
char	   *crm_smtp_ca_file;
char	   *crm_http_url;
char	   *crm_http_auth_header;
int			crm_max_in_flight;
double		crm_send_rate;
int			crm_connect_timeout_ms;
int			crm_send_timeout_ms;
int			crm_max_attempts;
int			crm_retry_delay_ms;
int			crm_retry_max_delay_ms;
int			crm_poll_interval_ms;
int			crm_mail_retention_s;

CrmMailWorkerShared *crm_mail_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static const struct config_enum_entry transport_options[] = {
	{"file", CRM_TRANSPORT_FILE, false},
	{"smtp", CRM_TRANSPORT_SMTP, false},
	{"http", CRM_TRANSPORT_HTTP, false},
	{NULL, 0, false}
};

static const struct config_enum_entry starttls_options[] = {
	{"off", CRM_STARTTLS_OFF, false},
	{"try", CRM_STARTTLS_TRY, false},
	{"require", CRM_STARTTLS_REQUIRE, false},
	{NULL, 0, false}
};

static void define_settings(void);
static void mail_shmem_request(void);
static void mail_shmem_startup(void);

/*
 * crm_mail_worker_init: called from _PG_init.
 */
void
crm_mail_worker_init(void)
{
	BackgroundWorker worker;

	define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;

	/* A PGC_POSTMASTER setting can only be defined at server start. */
	DefineCustomStringVariable("crm.database",
							   "Database whose email outbox the mail worker delivers.",
							   "crm must be installed in that database. Takes effect at server start.",
							   &crm_mail_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mail_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mail_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = CRM_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "crm", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "crm_mail_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, CRM_MAIL_WORKER_NAME, BGW_MAXLEN);
	strlcpy(worker.bgw_type, CRM_MAIL_WORKER_NAME, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

static void
mail_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(CrmMailWorkerShared)));
}

static void
mail_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	crm_mail_shared = ShmemInitStruct("crm mail worker", sizeof(CrmMailWorkerShared), &found);
	if (!found)
	{
		memset(crm_mail_shared, 0, sizeof(CrmMailWorkerShared));
		SpinLockInit(&crm_mail_shared->mutex);
		strlcpy(crm_mail_shared->state, "not started", sizeof(crm_mail_shared->state));
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
define_settings(void)
{
	DefineCustomEnumVariable("crm.mail_transport",
							 "How the mail worker delivers messages.",
							 "file writes .eml files into crm.mail_dir, smtp sends to crm.smtp_url, "
							 "http posts JSON to crm.http_url.",
							 &crm_mail_transport, CRM_TRANSPORT_FILE, transport_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.mail_dir",
							   "Directory the file transport writes messages into.",
							   "A relative path is relative to the data directory.",
							   &crm_mail_dir, "crm_mail",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.smtp_url",
							   "SMTP server of the smtp transport, as smtp://host:port or smtps://host:port.",
							   "smtps:// uses TLS from the start; smtp:// upgrades with STARTTLS as "
							   "crm.smtp_starttls says.",
							   &crm_smtp_url, "smtp://localhost:25",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("crm.smtp_starttls",
							 "Whether an smtp:// connection must be upgraded to TLS with STARTTLS.",
							 "require refuses to send without TLS, try uses it when the server "
							 "offers it, off never uses it.",
							 &crm_smtp_starttls, CRM_STARTTLS_TRY, starttls_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.smtp_user",
							   "User name for SMTP AUTH; empty means no authentication.",
							   NULL, &crm_smtp_user, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.smtp_password",
							   "Password for SMTP AUTH.",
							   "Only superusers can read this setting.",
							   &crm_smtp_password, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.smtp_ca_file",
							   "File of CA certificates that verify the SMTP server's certificate.",
							   "Empty means the system's CA certificates.",
							   &crm_smtp_ca_file, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.http_url",
							   "URL the http transport posts each message to as JSON.",
							   NULL, &crm_http_url, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.http_auth_header",
							   "Header line the http transport sends with each request, such as "
							   "\"Authorization: Bearer <token>\".",
							   "A value without a colon is sent as \"Authorization: <value>\". "
							   "Only superusers can read this setting.",
							   &crm_http_auth_header, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.max_in_flight",
							"Largest number of messages the mail worker delivers at the same time.",
							"Also the size of its pool of SMTP or HTTP connections.",
							&crm_max_in_flight, 16, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("crm.send_rate",
							 "Largest number of messages per second the mail worker starts; 0 means no limit.",
							 NULL, &crm_send_rate, 0.0, 0.0, 1000000.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.connect_timeout",
							"Time allowed to connect to the SMTP or HTTP server.",
							NULL, &crm_connect_timeout_ms, 10000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.send_timeout",
							"Time allowed for one delivery, connecting included.",
							"A delivery that takes longer is abandoned and retried.",
							&crm_send_timeout_ms, 60000, 100, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.max_attempts",
							"Deliveries tried before a temporarily failing message is marked failed.",
							NULL, &crm_max_attempts, 8, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.retry_delay",
							"Wait before the first retry of a temporarily failed message.",
							"Each further retry waits twice as long, up to crm.retry_max_delay; "
							"the wait is then shortened by a random amount of up to half.",
							&crm_retry_delay_ms, 60000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.retry_max_delay",
							"Longest wait between two deliveries of the same message.",
							NULL, &crm_retry_max_delay_ms, 3600000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.poll_interval",
							"Longest time the idle mail worker sleeps before looking at the queue.",
							"Commits that queue mail wake it at once; the poll catches anything else, "
							"such as prepared transactions.",
							&crm_poll_interval_ms, 30000, 10, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.mail_retention",
							"Age after which sent, failed and cancelled messages are deleted; 0 keeps them.",
							"The mail worker deletes them in small batches, with their delivery log.",
							&crm_mail_retention_s, 30 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}
