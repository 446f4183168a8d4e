/*-------------------------------------------------------------------------
 * transport_smtp.c
 *	  The smtp transport: one message per libcurl easy handle to
 *	  crm.smtp_url (smtp:// with optional or required STARTTLS, or smtps://),
 *	  AUTH with crm.smtp_user and crm.smtp_password, connections reused from
 *	  the multi handle's pool.  Credentials never cross an unencrypted
 *	  connection: with a user or password set, crm.smtp_starttls = try acts
 *	  as require (a server without STARTTLS gets no AUTH, the message is
 *	  retried), and off refuses to send.  The settings crm.smtp_* are
 *	  defined here; crm.smtp_url refuses credentials in the URL.
 *
 * How a reply maps to an outcome: libcurl reports only the last response
 * code, so a debug callback follows the conversation and remembers which
 * command the server was answering and its reply line.
 *	- success: sent;
 *	- 5xx to MAIL, RCPT or DATA: failed (the message or its recipient is
 *	  refused for good); 5xx to RCPT is a hard bounce: the address is
 *	  suppressed;
 *	- 4xx anywhere, 5xx before MAIL (greeting, EHLO, STARTTLS, AUTH: a
 *	  problem with the server or our settings, not with this message),
 *	  network errors and timeouts: retried with backoff.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "mail/mime.h"
#include "mail/transport.h"
#include "mail/transport_curl.h"
#include "utils/guc.h"
#include "utils/memutils.h"

/* crm.smtp_starttls values */
typedef enum CrmStartTls
{
	CRM_STARTTLS_OFF,
	CRM_STARTTLS_TRY,
	CRM_STARTTLS_REQUIRE
} CrmStartTls;

static const struct config_enum_entry starttls_options[] = {
	{"off", CRM_STARTTLS_OFF, false},
	{"try", CRM_STARTTLS_TRY, false},
	{"require", CRM_STARTTLS_REQUIRE, false},
	{NULL, 0, false}
};

static char *crm_smtp_url;
static int	crm_smtp_starttls = CRM_STARTTLS_TRY;
static char *crm_smtp_user;
static char *crm_smtp_password;
static char *crm_smtp_ca_file;

static const char *smtp_prepare(CrmCurlTransfer *t);
static void smtp_finish(CrmCurlTransfer *t, CURLcode rc);
static bool smtp_stale(CrmCurlTransfer *t, CURLcode rc);
static bool check_smtp_url(char **newval, void **extra, GucSource source);
static size_t read_cb(char *buffer, size_t size, size_t nitems, void *userp);
static int	debug_cb(CURL *easy, curl_infotype type, char *data, size_t size, void *userp);
static char *envelope_address(const char *mailbox);

const CrmCurlProtocol crm_smtp_protocol = {
	.name = "smtp",
	.protocols = "smtp,smtps",
	.prepare = smtp_prepare,
	.finish = smtp_finish,
	.stale = smtp_stale,
};

/*
 * crm_smtp_define_settings: the smtp transport's GUCs (from _PG_init).
 */
void
crm_smtp_define_settings(void)
{
	DefineCustomStringVariable("crm.smtp_url",
							   "SMTP server of the smtp transport, as smtp://host:port or smtps://host:port.",
							   "smtps:// uses TLS from the start; smtp:// upgrades with STARTTLS as "
							   "crm.smtp_starttls says.",
							   &crm_smtp_url, "smtp://localhost:25",
							   PGC_SIGHUP, 0, check_smtp_url, NULL, NULL);
	DefineCustomEnumVariable("crm.smtp_starttls",
							 "Whether an smtp:// connection must be upgraded to TLS with STARTTLS.",
							 "require refuses to send without TLS, try uses it when the server "
							 "offers it, off never uses it.",
							 &crm_smtp_starttls, CRM_STARTTLS_TRY, starttls_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.smtp_user",
							   "User name for SMTP AUTH; empty means no authentication.",
							   NULL, &crm_smtp_user, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.smtp_password",
							   "Password for SMTP AUTH.",
							   "Only superusers can read this setting.",
							   &crm_smtp_password, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.smtp_ca_file",
							   "File of CA certificates that verify the SMTP server's certificate.",
							   "Empty means the system's CA certificates.",
							   &crm_smtp_ca_file, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/*
 * check_smtp_url: crm.smtp_url's check hook, refusing credentials in the
 * URL (url_secret.c).
 */
static bool
check_smtp_url(char **newval, void **extra, GucSource source)
{
	return crm_url_setting_ok(*newval, "crm.smtp_url",
							  "Set crm.smtp_user and crm.smtp_password instead; only superusers can read crm.smtp_password.");
}

/*
 * smtp_prepare: set up t->easy to send t->job's message.  Returns NULL,
 * or a sentence saying why the message cannot be sent now.
 */
static const char *
smtp_prepare(CrmCurlTransfer *t)
{
	CrmMailJob *job = t->job;
	CURL	   *e = t->easy;
	MemoryContext old;
	long		use_ssl;
	bool		credentials;

	if (crm_smtp_url == NULL || crm_smtp_url[0] == '\0')
		return "crm.smtp_url is not set.";
	if (crm_mail_from == NULL || crm_mail_from[0] == '\0')
		return "crm.mail_from is not set.";

	/* Credentials never cross an unencrypted connection. */
	credentials = (crm_smtp_user != NULL && crm_smtp_user[0] != '\0') ||
		(crm_smtp_password != NULL && crm_smtp_password[0] != '\0');
	if (pg_strncasecmp(crm_smtp_url, "smtps://", 8) == 0)
		use_ssl = CURLUSESSL_ALL;
	else if (crm_smtp_starttls == CRM_STARTTLS_REQUIRE ||
			 (crm_smtp_starttls == CRM_STARTTLS_TRY && credentials))
		use_ssl = CURLUSESSL_ALL;
	else if (crm_smtp_starttls == CRM_STARTTLS_TRY)
		use_ssl = CURLUSESSL_TRY;
	else if (credentials)
		return "crm.smtp_starttls is off, but crm.smtp_user or crm.smtp_password is set: "
			"credentials are never sent over an unencrypted connection.";
	else
		use_ssl = CURLUSESSL_NONE;

	curl_easy_setopt(e, CURLOPT_URL, crm_smtp_url);
	curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl);
	if (crm_smtp_ca_file != NULL && crm_smtp_ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, crm_smtp_ca_file);
	if (crm_smtp_user != NULL && crm_smtp_user[0] != '\0')
	{
		curl_easy_setopt(e, CURLOPT_USERNAME, crm_smtp_user);
		curl_easy_setopt(e, CURLOPT_PASSWORD, crm_smtp_password ? crm_smtp_password : "");
	}

	old = MemoryContextSwitchTo(job->cxt);
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, envelope_address(crm_mail_from));
	t->list = curl_slist_append(NULL, envelope_address(job->to_address));
	MemoryContextSwitchTo(old);
	if (t->list == NULL)
		return "out of memory";
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->list);

	t->upload = job->raw;
	t->upload_len = job->raw_len;
	t->upload_off = 0;
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(e, CURLOPT_READDATA, t);
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t) job->raw_len);

	t->phase = CRM_SMTP_SESSION;
	curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(e, CURLOPT_DEBUGDATA, t);
	return NULL;
}

/*
 * smtp_finish: turn libcurl's result for a finished transfer into the
 * job's outcome (see the header comment).
 */
static void
smtp_finish(CrmCurlTransfer *t, CURLcode rc)
{
	CrmMailJob *job = t->job;
	long		code = 0;
	static const char *const phase_names[] = {"session", "MAIL FROM", "RCPT TO", "DATA"};

	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK)
		crm_job_done(job, CRM_OUTCOME_SENT, (int) code, "%s", t->reply);
	else if (code >= 500 && code < 600 && t->phase != CRM_SMTP_SESSION)
	{
		job->hard_bounce = (t->phase == CRM_SMTP_RCPT);
		crm_job_done(job, CRM_OUTCOME_FAILED, (int) code, "%s refused: %s",
					 phase_names[t->phase], t->reply);
	}
	else if (code >= 400 && code < 600)
		crm_job_done(job, CRM_OUTCOME_RETRY, (int) code, "%s: %s",
					 phase_names[t->phase], t->reply);
	else
		crm_job_done(job, CRM_OUTCOME_RETRY, 0, "%s: %s",
					 curl_easy_strerror(rc), t->errbuf[0] ? t->errbuf : "no detail");
}

/*
 * smtp_stale: true when the transfer failed because it was given a
 * pooled connection the server had closed meanwhile (libcurl does not
 * always notice): it reused a connection, and MAIL FROM, the first command
 * on a reused connection, got no reply at all.  The server has then seen
 * nothing of the message, and it can be sent again at once on a new
 * connection without counting an attempt.
 */
static bool
smtp_stale(CrmCurlTransfer *t, CURLcode rc)
{
	long		connects = 1;

	if (rc == CURLE_OK || t->phase != CRM_SMTP_MAIL || t->reply[0] != '\0')
		return false;
	curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects);
	return connects == 0;
}

/*
 * envelope_address: the addr-spec inside "Name <addr>", or the whole
 * string, wrapped in angle brackets as MAIL FROM and RCPT TO want it.
 */
static char *
envelope_address(const char *mailbox)
{
	const char *lt = strrchr(mailbox, '<');
	const char *gt = lt ? strchr(lt, '>') : NULL;

	if (lt != NULL && gt != NULL)
		return psprintf("%.*s", (int) (gt - lt + 1), lt);
	return psprintf("<%s>", mailbox);
}

/*
 * read_cb: libcurl's CURLOPT_READFUNCTION, feeding the message.
 */
static size_t
read_cb(char *buffer, size_t size, size_t nitems, void *userp)
{
	CrmCurlTransfer *t = userp;
	size_t		n = Min(size * nitems, t->upload_len - t->upload_off);

	memcpy(buffer, t->upload + t->upload_off, n);
	t->upload_off += n;
	return n;
}

/*
 * debug_cb: libcurl's CURLOPT_DEBUGFUNCTION.  Notes which command was sent
 * last (its verb only: AUTH lines carry credentials) and keeps the server's
 * last reply line before QUIT (after a refusal libcurl says goodbye, and
 * "221 Bye" is not what the log should show).
 */
static int
debug_cb(CURL *easy, curl_infotype type, char *data, size_t size, void *userp)
{
	CrmCurlTransfer *t = userp;

	if (type == CURLINFO_HEADER_OUT)
	{
		if (size >= 9 && pg_strncasecmp(data, "MAIL FROM", 9) == 0)
		{
			t->phase = CRM_SMTP_MAIL;
			t->reply[0] = '\0';
		}
		else if (size >= 7 && pg_strncasecmp(data, "RCPT TO", 7) == 0)
			t->phase = CRM_SMTP_RCPT;
		else if (size >= 4 && pg_strncasecmp(data, "DATA", 4) == 0)
			t->phase = CRM_SMTP_DATA;
		else if (size >= 4 && pg_strncasecmp(data, "QUIT", 4) == 0)
			t->quitting = true;
		else if (size >= 4 && (pg_strncasecmp(data, "EHLO", 4) == 0 ||
							   pg_strncasecmp(data, "HELO", 4) == 0 ||
							   pg_strncasecmp(data, "AUTH", 4) == 0 ||
							   pg_strncasecmp(data, "STAR", 4) == 0))
			t->phase = CRM_SMTP_SESSION;
	}
	else if (type == CURLINFO_HEADER_IN && !t->quitting)
	{
		size_t		n = Min(size, sizeof(t->reply) - 1);

		while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
			n--;
		memcpy(t->reply, data, n);
		t->reply[n] = '\0';
	}
	return 0;
}
