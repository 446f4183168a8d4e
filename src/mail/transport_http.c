/*-------------------------------------------------------------------------
 * transport_http.c
 *	  The http transport: POST a JSON document describing the message to
 *	  crm.http_url, for mail services with an HTTP API (or a relay of your
 *	  own).  The body is
 *	    {"from", "to", "subject", "text", "html" (or null), "message_id",
 *	     "raw" (the complete RFC 5322 message)}
 *	  with the header line in crm.http_auth_header (a bare value becomes
 *	  "Authorization: <value>") and "Idempotency-Key: <message id>", so a
 *	  service that honours it drops the duplicates at-least-once delivery
 *	  can cause.
 *
 * The settings crm.http_url (which refuses credentials in the URL) and
 * crm.http_auth_header (superuser-only) are defined here.
 *
 * Outcomes: 2xx sent; 401, 403, 404, 407, 408, 425, 429, 3xx and 5xx (our
 * settings, throttling or the service's trouble), network errors and
 * timeouts retried; any other 4xx (the service refuses this message)
 * failed.  Only the first bytes of a response are kept.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "mail/mime.h"
#include "mail/transport.h"
#include "mail/transport_curl.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"

static char *crm_http_url;
static char *crm_http_auth_header;

static const char *http_prepare(CrmCurlTransfer *t);
static void http_finish(CrmCurlTransfer *t, CURLcode rc);
static bool check_http_url(char **newval, void **extra, GucSource source);
static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp);
static void append_field(StringInfo buf, const char *name, const char *value, bool last);

const CrmCurlProtocol crm_http_protocol = {
	.name = "http",
	.protocols = "http,https",
	.prepare = http_prepare,
	.finish = http_finish,
	.stale = NULL,
};

/*
 * crm_http_define_settings: the http transport's GUCs (from _PG_init).
 */
void
crm_http_define_settings(void)
{
	DefineCustomStringVariable("crm.http_url",
							   "URL the http transport posts each message to as JSON.",
							   "Credentials belong in crm.http_auth_header, not in the URL.",
							   &crm_http_url, "",
							   PGC_SIGHUP, 0, check_http_url, NULL, NULL);
	DefineCustomStringVariable("crm.http_auth_header",
							   "Header line the http transport sends with each request, such as "
							   "\"Authorization: Bearer <token>\".",
							   "A value without a colon is sent as \"Authorization: <value>\". "
							   "Only superusers can read this setting.",
							   &crm_http_auth_header, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

/*
 * check_http_url: crm.http_url's check hook, refusing credentials in the
 * URL (url_secret.c).
 */
static bool
check_http_url(char **newval, void **extra, GucSource source)
{
	return crm_url_setting_ok(*newval, "crm.http_url",
							  "Send the secret with crm.http_auth_header, which only superusers can read.");
}

/*
 * http_prepare: set up t->easy to post t->job's message.  Returns NULL,
 * or a sentence saying why the message cannot be sent now.
 */
static const char *
http_prepare(CrmCurlTransfer *t)
{
	CrmMailJob *job = t->job;
	CURL	   *e = t->easy;
	MemoryContext old;
	StringInfoData body;
	struct curl_slist *list = NULL;
	const char *auth = crm_http_auth_header;

	if (crm_http_url == NULL || crm_http_url[0] == '\0')
		return "crm.http_url is not set.";

	old = MemoryContextSwitchTo(job->cxt);
	initStringInfo(&body);
	appendStringInfoChar(&body, '{');
	append_field(&body, "from", crm_mail_from, false);
	append_field(&body, "to", job->to_address, false);
	append_field(&body, "subject", job->subject, false);
	append_field(&body, "text", job->body_text, false);
	append_field(&body, "html", job->body_html, false);
	append_field(&body, "message_id", job->message_id, false);
	append_field(&body, "raw", job->raw, true);
	appendStringInfoChar(&body, '}');
	t->body = body.data;

	list = curl_slist_append(list, "Content-Type: application/json; charset=utf-8");
	if (list != NULL)
		list = curl_slist_append(list, "Expect:");
	if (list != NULL)
		list = curl_slist_append(list, psprintf("Idempotency-Key: %s", job->message_id));
	if (list != NULL && auth != NULL && auth[0] != '\0')
		list = curl_slist_append(list, strchr(auth, ':') ? auth : psprintf("Authorization: %s", auth));
	MemoryContextSwitchTo(old);
	t->list = list;
	if (list == NULL)
		return "out of memory";

	curl_easy_setopt(e, CURLOPT_URL, crm_http_url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body.len);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "crm-mail/" CRM_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	return NULL;
}

/*
 * http_finish: turn libcurl's result for a finished transfer into the
 * job's outcome (see the header comment).
 */
static void
http_finish(CrmCurlTransfer *t, CURLcode rc)
{
	CrmMailJob *job = t->job;
	long		code = 0;

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK)
		crm_job_done(job, CRM_OUTCOME_RETRY, 0, "%s: %s",
					 curl_easy_strerror(rc), t->errbuf[0] ? t->errbuf : "no detail");
	else if (code >= 200 && code < 300)
		crm_job_done(job, CRM_OUTCOME_SENT, (int) code, "HTTP %ld %s", code, t->reply);
	else if (code >= 400 && code < 500 && code != 401 && code != 403 && code != 404 &&
			 code != 407 && code != 408 && code != 425 && code != 429)
		crm_job_done(job, CRM_OUTCOME_FAILED, (int) code, "HTTP %ld %s", code, t->reply);
	else
		crm_job_done(job, CRM_OUTCOME_RETRY, (int) code, "HTTP %ld %s", code, t->reply);
}

/*
 * append_field: "name": value (a JSON string, or null), and a comma unless
 * it is the last field.
 */
static void
append_field(StringInfo buf, const char *name, const char *value, bool last)
{
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
	if (!last)
		appendStringInfoChar(buf, ',');
}

/*
 * write_cb: libcurl's CURLOPT_WRITEFUNCTION.  Keeps the start of the
 * response for the delivery log and discards the rest.
 */
static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	CrmCurlTransfer *t = userp;
	size_t		have = strlen(t->reply);
	size_t		n = Min(size * nmemb, sizeof(t->reply) - 1 - have);

	memcpy(t->reply + have, data, n);
	t->reply[have + n] = '\0';
	return size * nmemb;
}
