/*-------------------------------------------------------------------------
 * outbox.h
 *	  The enqueue path shared by crm.send_email (outbox.c) and
 *	  crm.send_template (outbox_template.c).
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_OUTBOX_H
#define CRM_MAIL_OUTBOX_H

#include "utils/jsonb.h"

/* One message to queue; strings are in the database encoding (UTF-8). */
typedef struct CrmOutboxRequest
{
	const char *to_address;
	const char *subject;
	const char *body_text;
	const char *body_html;		/* NULL: no HTML part */
	const char *idempotency_key;	/* NULL: none */
	const char *template_key;	/* NULL unless rendered from a template */
	const char *category;		/* CRM_MAIL_TRANSACTIONAL or CRM_MAIL_MARKETING */
} CrmOutboxRequest;

/* crm.max_message_size: the largest message queued, in bytes. */
extern int	crm_max_message_size;

/* The values of crm.email_outbox.category. */
#define CRM_MAIL_TRANSACTIONAL "transactional"
#define CRM_MAIL_MARKETING "marketing"

/*
 * Validates the request (raising a clear error for bad input) and queues it
 * in crm.email_outbox, with contact_id set when the address is a contact's.
 * Returns true with the row's id in *id, or false, queuing nothing, when the
 * address is suppressed for the request's category (crm.email_suppression)
 * or, for marketing email, when consent does not allow it
 * (crm.marketing_allowed).  With an idempotency key that is already in the
 * outbox it returns that row's id.  The caller runs with the privileges of
 * the outbox's owner.
 */
extern bool crm_outbox_enqueue(const CrmOutboxRequest *req, int64 *id);

/*
 * Renders template_key with vars (a jsonb object; Mustache, see
 * outbox_template.c) and queues it like crm_outbox_enqueue, in the
 * template's category; idempotency_key may be NULL.  For callers in C such
 * as a journey runner; crm.send_template is the SQL face.
 */
extern bool crm_template_enqueue(const char *template_key, const char *to_address,
								 Jsonb *vars, const char *idempotency_key, int64 *id);

/*
 * Renders template_key with vars into req (subject, bodies, template_key,
 * category; the caller fills in the rest) without queuing it, for callers
 * that change the message before crm_outbox_enqueue (journeys and
 * campaigns: their category, tracked links).
 */
extern void crm_template_render(const char *template_key, Jsonb *vars, CrmOutboxRequest *req);

#endif							/* CRM_MAIL_OUTBOX_H */
