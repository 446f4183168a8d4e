/*-------------------------------------------------------------------------
 * outbox.h
 *	  The enqueue path shared by crm.send_email (outbox.c) and
 *	  crm.send_template (outbox_template.c).
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_OUTBOX_H
#define CRM_MAIL_OUTBOX_H

/* One message to queue; strings are in the database encoding (UTF-8). */
typedef struct CrmOutboxRequest
{
	const char *to_address;
	const char *subject;
	const char *body_text;
	const char *body_html;		/* NULL: no HTML part */
	const char *idempotency_key;	/* NULL: none */
	const char *template_key;	/* NULL unless rendered from a template */
} CrmOutboxRequest;

/*
 * Validates the request (raising a clear error for bad input) and queues it
 * in crm.email_outbox.  Returns true with the row's id in *id, or false,
 * queuing nothing, when the address is in crm.email_suppression.  With an
 * idempotency key that is already in the outbox it returns that row's id.
 * The caller runs with the privileges of the outbox's owner.
 */
extern bool crm_outbox_enqueue(const CrmOutboxRequest *req, int64 *id);

#endif							/* CRM_MAIL_OUTBOX_H */
