/*-------------------------------------------------------------------------
 * worker.h
 *	  Declarations shared by the crm mail worker's files: its settings
 *	  (GUCs), the shared-memory block other backends read and signal, and
 *	  the queue operations the main loop runs in its short transactions.
 *
 * The worker is one background process serving the database named by
 * crm.database.  Each pass of its loop records the outcomes of finished
 * deliveries and claims the next batch in one short transaction, commits,
 * then sends outside any transaction (transport.h).  Rows move
 * queued -> sending (with a lease) -> sent | queued (retry) | failed.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_WORKER_H
#define CRM_MAIL_WORKER_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "storage/latch.h"
#include "storage/spin.h"

#define CRM_MAIL_WORKER_NAME "crm mail worker"

/* crm.mail_transport values */
typedef enum CrmMailTransportKind
{
	CRM_TRANSPORT_FILE,
	CRM_TRANSPORT_SMTP,
	CRM_TRANSPORT_HTTP
} CrmMailTransportKind;

/* crm.smtp_starttls values */
typedef enum CrmStartTls
{
	CRM_STARTTLS_OFF,
	CRM_STARTTLS_TRY,
	CRM_STARTTLS_REQUIRE
} CrmStartTls;

/* Settings (worker_init.c) */
extern char *crm_mail_database;
extern int	crm_mail_transport;
extern char *crm_mail_dir;
extern char *crm_smtp_url;
extern int	crm_smtp_starttls;
extern char *crm_smtp_user;
extern char *crm_smtp_password;
extern char *crm_smtp_ca_file;
extern char *crm_http_url;
extern char *crm_http_auth_header;
extern int	crm_max_in_flight;
extern double crm_send_rate;
extern int	crm_connect_timeout_ms;
extern int	crm_send_timeout_ms;
extern int	crm_max_attempts;
extern int	crm_retry_delay_ms;
extern int	crm_retry_max_delay_ms;
extern int	crm_poll_interval_ms;
extern int	crm_mail_retention_s;

/* Rows deleted per retention pass, and the least time between passes. */
#define CRM_RETENTION_BATCH 1000
#define CRM_RETENTION_EVERY_MS 10000

/*
 * What other processes see of the worker.  pid and latch are set while it
 * runs (latch is its process latch, in shared memory, so any backend may
 * set it); the rest feeds crm.worker_status.  All fields are protected by
 * mutex.
 */
typedef struct CrmMailWorkerShared
{
	slock_t		mutex;
	pid_t		pid;
	Latch	   *latch;
	Oid			database_id;
	TimestampTz started_at;
	TimestampTz last_activity;
	TimestampTz last_error_at;
	char		state[48];
	char		last_error[256];
	int			in_flight;
	uint64		sent;
	uint64		failed;
	uint64		retried;
} CrmMailWorkerShared;

/* NULL unless crm is in shared_preload_libraries. */
extern CrmMailWorkerShared *crm_mail_shared;

extern PGDLLEXPORT void crm_mail_worker_main(Datum main_arg);

/* worker_main.c: report state and errors in crm_mail_shared */
extern void crm_mail_set_state(const char *state);
extern void crm_mail_note_error(const char *error);

/*
 * One claimed message, from the claim to its recorded outcome.  Lives in
 * its own memory context (cxt), which the loop deletes after recording.
 */
typedef enum CrmMailOutcome
{
	CRM_OUTCOME_PENDING,		/* still being delivered */
	CRM_OUTCOME_SENT,
	CRM_OUTCOME_RETRY,			/* temporary failure: back to queued */
	CRM_OUTCOME_FAILED			/* permanent failure */
} CrmMailOutcome;

typedef struct CrmMailJob
{
	MemoryContext cxt;
	Oid			outbox_relid;	/* crm.email_outbox when claimed */
	int64		id;
	int			attempt;
	char	   *to_address;
	char	   *subject;
	char	   *body_text;
	char	   *body_html;		/* NULL when absent */
	char	   *message_id;
	TimestampTz created_at;
	char	   *raw;			/* the RFC 5322 message */
	size_t		raw_len;
	/* delivery */
	const char *transport;		/* "file", "smtp", "http" */
	TimestampTz started_at;
	TimestampTz finished_at;
	CrmMailOutcome outcome;
	int			response_code;	/* SMTP or HTTP code, 0 when none */
	bool		hard_bounce;	/* 5xx on RCPT: suppress the address */
	char	   *detail;			/* what happened, for the log and last_error */
	void	   *transfer;		/* transport's state while pending */
} CrmMailJob;

/* worker_queue.c: each runs inside the caller's transaction, under SPI */
typedef struct CrmMailTables
{
	Oid			outbox;
	Oid			delivery_log;
	Oid			suppression;
} CrmMailTables;

typedef enum CrmQueueState
{
	CRM_QUEUE_READY,			/* tables found and locked */
	CRM_QUEUE_MISSING,			/* crm is not installed */
	CRM_QUEUE_BUSY				/* being created or dropped, or locked */
} CrmQueueState;

extern CrmQueueState crm_mail_lock_tables(CrmMailTables *tables);
extern int	crm_mail_requeue_leases(bool all);
extern List *crm_mail_claim(int n, Oid outbox_relid, MemoryContext job_parent,
							 MemoryContext list_cxt);
extern const char *const crm_mail_claim_sql;
extern TimestampTz crm_mail_next_due(void);
extern void crm_mail_record(List *jobs);
extern int	crm_mail_purge_old(void);

#endif							/* CRM_MAIL_WORKER_H */
