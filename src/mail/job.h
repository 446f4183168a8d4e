/*-------------------------------------------------------------------------
 * job.h
 *	  One claimed message on its way, from the claim to its recorded
 *	  outcome: what the queue hands the transports, and how a transport
 *	  says what happened (crm_job_done).  Depends on nothing else in
 *	  src/mail.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_JOB_H
#define CRM_MAIL_JOB_H

#include "datatype/timestamp.h"

typedef enum CrmMailOutcome
{
	CRM_OUTCOME_PENDING,		/* still being delivered */
	CRM_OUTCOME_SENT,
	CRM_OUTCOME_RETRY,			/* temporary failure: back to queued */
	CRM_OUTCOME_FAILED			/* permanent failure */
} CrmMailOutcome;

/*
 * A job lives in its own memory context (cxt), which the mail duty deletes
 * once the outcome is committed.
 */
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
	const char *transport;		/* the transport's name (transport.c) */
	TimestampTz started_at;
	TimestampTz finished_at;
	CrmMailOutcome outcome;
	int			response_code;	/* SMTP or HTTP code, 0 when none */
	bool		hard_bounce;	/* 5xx on RCPT: suppress the address */
	char	   *detail;			/* what happened, for the log and last_error */
	void	   *transfer;		/* the transport's state while pending */
} CrmMailJob;

/* Set a job's outcome, response code and detail (once). */
extern void crm_job_done(CrmMailJob *job, CrmMailOutcome outcome, int code,
						 const char *fmt,...) pg_attribute_printf(4, 5);

/* "pending", "sent", "retry" or "failed": the delivery log's words. */
extern const char *crm_job_outcome_name(CrmMailOutcome outcome);

#endif							/* CRM_MAIL_JOB_H */
