/*-------------------------------------------------------------------------
 * transport.h
 *	  How mail delivery (the crm worker's mail duty) sends a claimed message: the file
 *	  transport writes it at once; smtp and http hand it to one libcurl multi
 *	  handle that lives as long as the worker, driven by a PostgreSQL
 *	  WaitEventSet holding the worker's latch, postmaster death and curl's
 *	  sockets, so SIGTERM and SIGHUP are seen even in the middle of a send.
 *
 * libcurl callbacks never call into PostgreSQL code that can raise an
 * error (a longjmp through libcurl would corrupt it); they copy into
 * fixed buffers or use malloc, freeing what they allocate.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_TRANSPORT_H
#define CRM_MAIL_TRANSPORT_H

#include <curl/curl.h>

#include "lib/stringinfo.h"
#include "mail/delivery.h"

/* CURLOPT_PROTOCOLS_STR needs 7.85.0. */
#if LIBCURL_VERSION_NUM < 0x075500
#error "crm needs libcurl 7.85.0 or later"
#endif

/* Bytes of a server's reply kept for the delivery log. */
#define CRM_REPLY_KEEP 300

/* Where an SMTP conversation was when it ended (from the protocol trace). */
typedef enum CrmSmtpPhase
{
	CRM_SMTP_SESSION,			/* connect, greeting, EHLO, STARTTLS, AUTH */
	CRM_SMTP_MAIL,
	CRM_SMTP_RCPT,
	CRM_SMTP_DATA
} CrmSmtpPhase;

/* One message in the hands of libcurl (allocated in its job's context). */
typedef struct CrmCurlTransfer
{
	CURL	   *easy;
	CrmMailJob *job;
	struct curl_slist *list;	/* SMTP recipients or HTTP headers */
	const char *upload;			/* bytes to send and how far we got */
	size_t		upload_len;
	size_t		upload_off;
	char	   *body;			/* HTTP request body */
	bool		fresh;			/* on a new connection, not a pooled one */
	CrmSmtpPhase phase;
	bool		quitting;		/* QUIT sent: later replies are not news */
	char		reply[CRM_REPLY_KEEP];	/* last server reply line or body */
	char		errbuf[CURL_ERROR_SIZE];
} CrmCurlTransfer;

/* transport_curl.c: lifetime, configuration, the wait */
extern void crm_transport_startup(void);
extern void crm_transport_configure(void);
extern void crm_transport_begin(CrmMailJob *job);
extern bool crm_transport_wait(long timeout_ms);
extern int	crm_transport_pending(void);
extern void crm_transport_set_common(CrmCurlTransfer *t, const char *protocols);

/* transport_file.c */
extern void crm_file_deliver(CrmMailJob *job);

/* transport_smtp.c */
extern const char *crm_smtp_prepare(CrmCurlTransfer *t);
extern void crm_smtp_finish(CrmCurlTransfer *t, CURLcode rc);
extern bool crm_smtp_stale(CrmCurlTransfer *t, CURLcode rc);

/* transport_http.c */
extern const char *crm_http_prepare(CrmCurlTransfer *t);
extern void crm_http_finish(CrmCurlTransfer *t, CURLcode rc);

/* transport_curl.c: record an outcome on a job (job context) */
extern void crm_job_done(CrmMailJob *job, CrmMailOutcome outcome, int code,
						 const char *fmt,...) pg_attribute_printf(4, 5);

#endif							/* CRM_MAIL_TRANSPORT_H */
