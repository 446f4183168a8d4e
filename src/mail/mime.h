/*-------------------------------------------------------------------------
 * mime.h
 *	  The RFC 5322/MIME message builder shared by the outbox (enqueue-time
 *	  size check, crm.render_message) and mail delivery (what the worker sends).
 *
 * crm_mime_build is pure: no catalog or SPI access and no ereport except
 * for running out of memory, so the worker can call it outside any
 * transaction.  The settings it needs are in the message, except
 * crm.mail_from_name (the display name in From), which it reads by name;
 * src/mail/outbox.c defines them in crm_mail_queue_init.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_MIME_H
#define CRM_MAIL_MIME_H

#include "datatype/timestamp.h"

typedef struct CrmMailMessage
{
	const char *from;			/* crm.mail_from */
	const char *to;
	const char *subject;		/* UTF-8 */
	const char *body_text;		/* UTF-8 */
	const char *body_html;		/* UTF-8 or NULL */
	const char *message_id;		/* as stored in the outbox */
	TimestampTz date;
	const char *unsubscribe_url;	/* NULL or "" when crm.unsubscribe_url is
									 * unset */
} CrmMailMessage;

/* The RFC 5322/MIME message, CRLF line endings, palloc'd in CurrentMemoryContext. */
extern char *crm_mime_build(const CrmMailMessage *msg, size_t *len);

/* GUC values the worker needs: */
extern char *crm_mail_from;
extern char *crm_unsubscribe_url;

#endif							/* CRM_MAIL_MIME_H */
