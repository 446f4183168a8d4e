/*-------------------------------------------------------------------------
 * delivery.h
 *	  Mail delivery, the crm worker's "mail" duty (src/worker/duty.h): the
 *	  duty's functions (delivery.c) and the queue operations it runs in its
 *	  short transactions (delivery_queue.c).
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
#include "mail/job.h"
#include "mail/settings.h"
#include "nodes/pg_list.h"
#include "spi_util.h"
#include "worker/duty.h"

/* Rows deleted per retention pass, and the least time between passes. */
#define CRM_RETENTION_BATCH 1000
#define CRM_RETENTION_EVERY_MS 10000

/* The mail duty (delivery.c), one line of src/worker/duties.c. */
extern void crm_mail_delivery_init(void);	/* its settings, from _PG_init */
extern TimestampTz crm_mail_duty_run(const CrmDuty *duty, bool woken);
extern void crm_mail_duty_start(void);
extern void crm_mail_duty_reload(void);
extern void crm_mail_duty_wait(long timeout_ms);

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

/*
 * The claim statement, also run by crm._claim_emails: $1 how many rows,
 * $2 the lease; it returns CRM_CLAIM_COLUMNS columns (id, attempts,
 * to_address, subject, body_text, body_html, message_id, created_at).
 */
enum
{
	CRM_CLAIM_COUNT,
	CRM_CLAIM_LEASE,
	CRM_CLAIM_NARGS
};
#define CRM_CLAIM_COLUMNS 8
extern CrmSpiQuery crm_mail_claim_query;

extern TimestampTz crm_mail_next_due(void);
extern void crm_mail_record(List *jobs);
extern int64 crm_mail_due_backlog(void);
extern int	crm_mail_purge_old(void);

#endif							/* CRM_MAIL_DELIVERY_H */
