/*-------------------------------------------------------------------------
 * transport_curl.h
 *	  The libcurl engine (transport_curl.c) and the protocols it drives
 *	  (transport_smtp.c, transport_http.c).
 *
 * A protocol is a table {name, protocols, prepare, finish, stale}: the
 * engine creates an easy handle with the options every transfer gets,
 * calls prepare to set up the protocol's part, and when libcurl has
 * finished the transfer, calls stale (if any) to ask whether it died on a
 * pooled connection the server had closed (then it is sent again at once
 * on a new connection), else finish, which sets the job's outcome.  The
 * protocols never call the engine.
 *
 * libcurl callbacks never call into PostgreSQL code that can raise an
 * error (a longjmp through libcurl would corrupt it); they copy into
 * fixed buffers or use malloc, freeing what they allocate.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_TRANSPORT_CURL_H
#define CRM_MAIL_TRANSPORT_CURL_H

#include <curl/curl.h>

#include "mail/job.h"

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

typedef struct CrmCurlProtocol CrmCurlProtocol;

/* One message in the hands of libcurl (allocated in its job's context). */
typedef struct CrmCurlTransfer
{
	CURL	   *easy;
	CrmMailJob *job;
	const CrmCurlProtocol *protocol;
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

struct CrmCurlProtocol
{
	const char *name;			/* the transport's name */
	const char *protocols;		/* CURLOPT_PROTOCOLS_STR */
	/* set up t->easy for t->job: NULL, or a sentence saying why not now */
	const char *(*prepare) (CrmCurlTransfer *t);
	/* turn libcurl's result into the job's outcome */
	void		(*finish) (CrmCurlTransfer *t, CURLcode rc);
	/* optional: did it fail on a pooled connection the server had closed? */
	bool		(*stale) (CrmCurlTransfer *t, CURLcode rc);
};

/* The protocols. */
extern const CrmCurlProtocol crm_smtp_protocol;
extern const CrmCurlProtocol crm_http_protocol;

/* The engine, used by the dispatcher. */
extern void crm_curl_startup(void);
extern void crm_curl_configure(void);
extern void crm_curl_begin(CrmMailJob *job, const CrmCurlProtocol *protocol);
extern void crm_curl_wait(long timeout_ms);
extern int	crm_curl_pending(void);

#endif							/* CRM_MAIL_TRANSPORT_CURL_H */
