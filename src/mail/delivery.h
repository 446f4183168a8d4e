/*-------------------------------------------------------------------------
 * delivery.h
 *	  Declarations shared by the files of mail delivery, the crm worker's
 *	  "mail" duty (src/worker/duty.h): its settings (GUCs), the duty's
 *	  functions, and the queue operations it runs in its short transactions.
 *
 * Each run of the duty records the outcomes of finished deliveries and
 * claims the next batch in one short transaction, commits, then sends
 * outside any transaction (transport.h).  Rows move queued -> sending
 * (with a lease) -> sent | queued (retry) | failed.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_DELIVERY_H
#define CRM_MAIL_DELIVERY_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "worker/duty.h"

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

/* Settings (settings.c) */
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
extern int	crm_mail_retention_s;

/* Rows deleted per retention pass, and the least time between passes. */
#define CRM_RETENTION_BATCH 1000
#define CRM_RETENTION_EVERY_MS 10000

/* The mail duty (delivery.c), one line of src/worker/duties.c. */
extern TimestampTz crm_mail_duty_run(const CrmDuty *duty, bool woken);
extern void crm_mail_duty_start(void);
extern void crm_mail_duty_reload(void);
extern void crm_mail_duty_wait(long timeout_ms);

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

/* delivery_queue.c: each runs inside the caller's transaction, under SPI */
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
extern List *crm_mail_claim(int n, Oid outbox_relid, MemoryContext parent);
extern const char *const crm_mail_claim_sql;
extern TimestampTz crm_mail_next_due(void);
extern void crm_mail_record(List *jobs);
extern int64 crm_mail_due_backlog(void);
extern int	crm_mail_purge_old(void);

#endif							/* CRM_MAIL_DELIVERY_H */
