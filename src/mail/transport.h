/*-------------------------------------------------------------------------
 * transport.h
 *	  The mail transports behind one dispatcher (transport.c): what mail
 *	  delivery calls to send a claimed message whatever crm.mail_transport
 *	  says, and what each transport gives the dispatcher.
 *
 * The file transport writes a message at once; smtp and http hand it to
 * one libcurl multi handle that lives as long as the worker
 * (transport_curl.h), driven by a PostgreSQL WaitEventSet holding the
 * worker's latch, postmaster death and curl's sockets, so SIGTERM and
 * SIGHUP are seen even in the middle of a send.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_TRANSPORT_H
#define CRM_MAIL_TRANSPORT_H

#include "mail/job.h"

/* The dispatcher (transport.c), used by mail delivery. */
extern void crm_transport_init(void);	/* every transport's settings */
extern const char *crm_transport_name(void);	/* crm.mail_transport now */
extern void crm_transport_startup(void);	/* once, in the worker */
extern void crm_transport_configure(void);	/* after a reload */
extern void crm_transport_begin(CrmMailJob *job);
extern void crm_transport_wait(long timeout_ms);
extern int	crm_transport_pending(void);

/* What the transports give the dispatcher. */
extern void crm_file_define_settings(void);
extern void crm_file_deliver(CrmMailJob *job);
extern void crm_smtp_define_settings(void);
extern void crm_http_define_settings(void);

/*
 * For the check hooks of the transports' URL settings (url_secret.c): true
 * when url holds no credentials (user:password@host, a secret-looking
 * query parameter), otherwise false with the error's detail and hint.
 */
extern bool crm_url_setting_ok(const char *url, const char *setting, const char *hint);

#endif							/* CRM_MAIL_TRANSPORT_H */
