/*-------------------------------------------------------------------------
 * transport.c
 *	  The dispatcher of mail transports: the one table of transports (the
 *	  values of crm.mail_transport), and delivery of a job through the
 *	  configured one: the file transport at once, smtp and http through the
 *	  libcurl engine with their protocol table.
 *
 * Dependencies in src/mail run one way, top to bottom (a file uses only
 * files below it):
 *
 *	  delivery.c            the worker's mail duty; crm_mail_delivery_init
 *	  delivery_sql.c        crm._mail_worker_state, crm._claim_emails
 *	  delivery_queue.c      the duty's SQL (claim, record, re-queue, purge)
 *	  transport.c           this dispatcher
 *	  transport_smtp.c, transport_http.c   curl protocols {name, prepare, finish, stale}
 *	  transport_curl.c      the libcurl engine
 *	  transport_file.c      .eml files
 *	  url_secret.c          credentials in a URL setting
 *	  settings.c            delivery settings (concurrency, timeouts, retries)
 *	  job.c                 a claimed message and its outcome
 *	  outbox.c, outbox_template.c   the enqueue API (crm.send_email, ...)
 *	  mime.c                the RFC 5322/MIME builder
 *
 * mime.c reads crm.mail_from_name by name (outbox.c defines it with the
 * other enqueue settings), so it depends on nothing here.  The worker
 * (src/worker) sits above delivery.c through its table of duties, and
 * delivery*.c use only its services (src/worker/duty.c), which use nothing
 * else of the worker.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "mail/transport.h"
#include "mail/transport_curl.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

/* A transport: delivers at once, or through the curl engine. */
typedef struct CrmTransport
{
	const char *name;
	void		(*deliver) (CrmMailJob *job);
	const CrmCurlProtocol *curl;
} CrmTransport;

/* crm.mail_transport is an index into this table; the first is the default. */
static const CrmTransport transports[] = {
	{"file", crm_file_deliver, NULL},
	{"smtp", NULL, &crm_smtp_protocol},
	{"http", NULL, &crm_http_protocol},
};

static int	mail_transport = 0;
static struct config_enum_entry transport_options[lengthof(transports) + 1];

/*
 * crm_transport_init: define crm.mail_transport (its values from the
 * table) and every transport's settings.  Called from _PG_init.
 */
void
crm_transport_init(void)
{
	for (int i = 0; i < (int) lengthof(transports); i++)
	{
		transport_options[i].name = transports[i].name;
		transport_options[i].val = i;
		transport_options[i].hidden = false;
	}
	DefineCustomEnumVariable("crm.mail_transport",
							 "How the crm worker delivers mail.",
							 "file writes .eml files into crm.mail_dir, smtp sends to crm.smtp_url, "
							 "http posts JSON to crm.http_url.",
							 &mail_transport, 0, transport_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	crm_file_define_settings();
	crm_smtp_define_settings();
	crm_http_define_settings();
}

/* crm_transport_name: the name of the transport crm.mail_transport names. */
const char *
crm_transport_name(void)
{
	return transports[mail_transport].name;
}

void
crm_transport_startup(void)
{
	crm_curl_startup();
}

void
crm_transport_configure(void)
{
	crm_curl_configure();
}

/*
 * crm_transport_begin: start delivering a job with the configured
 * transport; the job's outcome is set when it is done (at once for file).
 */
void
crm_transport_begin(CrmMailJob *job)
{
	const CrmTransport *transport = &transports[mail_transport];

	job->transport = transport->name;
	job->started_at = GetCurrentTimestamp();
	if (transport->deliver != NULL)
		transport->deliver(job);
	else
		crm_curl_begin(job, transport->curl);
}

void
crm_transport_wait(long timeout_ms)
{
	crm_curl_wait(timeout_ms);
}

int
crm_transport_pending(void)
{
	return crm_curl_pending();
}
