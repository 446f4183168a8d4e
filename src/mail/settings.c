/*-------------------------------------------------------------------------
 * settings.c
 *	  The settings (GUCs) of mail delivery, the crm worker's "mail" duty:
 *	  transport, SMTP and HTTP servers, secrets, concurrency, timeouts,
 *	  retries and retention.
 *
 * They are defined in every process that loads crm, so SHOW works
 * everywhere; secrets (crm.smtp_password, crm.http_auth_header) are
 * GUC_SUPERUSER_ONLY.  The server URLs are readable by every role, so their
 * check hooks refuse a URL with credentials in it: a user-info part
 * (user:password@host) or a query parameter whose name looks like a secret
 * (api_key, token, secret, password, signature, ...).  The worker itself (crm.database, crm.poll_interval)
 * is set up in src/worker/worker_init.c.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <ctype.h>
#include <float.h>
#include <limits.h>

#include "mail/delivery.h"
#include "utils/guc.h"

int			crm_mail_transport = CRM_TRANSPORT_FILE;
char	   *crm_mail_dir;
char	   *crm_smtp_url;
int			crm_smtp_starttls = CRM_STARTTLS_TRY;
char	   *crm_smtp_user;
char	   *crm_smtp_password;
char	   *crm_smtp_ca_file;
char	   *crm_http_url;
char	   *crm_http_auth_header;
int			crm_max_in_flight;
double		crm_send_rate;
int			crm_connect_timeout_ms;
int			crm_send_timeout_ms;
int			crm_max_attempts;
int			crm_retry_delay_ms;
int			crm_retry_max_delay_ms;
int			crm_mail_retention_s;

static const struct config_enum_entry transport_options[] = {
	{"file", CRM_TRANSPORT_FILE, false},
	{"smtp", CRM_TRANSPORT_SMTP, false},
	{"http", CRM_TRANSPORT_HTTP, false},
	{NULL, 0, false}
};

static const struct config_enum_entry starttls_options[] = {
	{"off", CRM_STARTTLS_OFF, false},
	{"try", CRM_STARTTLS_TRY, false},
	{"require", CRM_STARTTLS_REQUIRE, false},
	{NULL, 0, false}
};

static bool check_smtp_url(char **newval, void **extra, GucSource source);
static bool check_http_url(char **newval, void **extra, GucSource source);
static const char *url_secret(const char *url, char **param);
static bool looks_secret(const char *name);

/*
 * crm_mail_delivery_init: called from _PG_init.
 */
void
crm_mail_delivery_init(void)
{
	DefineCustomEnumVariable("crm.mail_transport",
							 "How the crm worker delivers mail.",
							 "file writes .eml files into crm.mail_dir, smtp sends to crm.smtp_url, "
							 "http posts JSON to crm.http_url.",
							 &crm_mail_transport, CRM_TRANSPORT_FILE, transport_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("crm.mail_dir",
							   "Directory the file transport writes messages into.",
							   "A relative path is relative to the data directory.",
							   &crm_mail_dir, "crm_mail",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
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
	DefineCustomIntVariable("crm.max_in_flight",
							"Largest number of messages the crm worker delivers at the same time.",
							"Also the size of its pool of SMTP or HTTP connections.",
							&crm_max_in_flight, 16, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("crm.send_rate",
							 "Largest number of messages per second the crm worker starts; 0 means no limit.",
							 NULL, &crm_send_rate, 0.0, 0.0, 1000000.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.connect_timeout",
							"Time allowed to connect to the SMTP or HTTP server.",
							NULL, &crm_connect_timeout_ms, 10000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.send_timeout",
							"Time allowed for one delivery, connecting included.",
							"A delivery that takes longer is abandoned and retried.",
							&crm_send_timeout_ms, 60000, 100, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.max_attempts",
							"Deliveries tried before a temporarily failing message is marked failed.",
							NULL, &crm_max_attempts, 8, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.retry_delay",
							"Wait before the first retry of a temporarily failed message.",
							"Each further retry waits twice as long, up to crm.retry_max_delay; "
							"the wait is then shortened by a random amount of up to half.",
							&crm_retry_delay_ms, 60000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.retry_max_delay",
							"Longest wait between two deliveries of the same message.",
							NULL, &crm_retry_max_delay_ms, 3600000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.mail_retention",
							"Age after which sent, failed and cancelled messages are deleted; 0 keeps them.",
							"The crm worker deletes them in small batches, with their delivery log.",
							&crm_mail_retention_s, 30 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

/*
 * check_smtp_url, check_http_url: GUC check hooks refusing credentials in
 * the URL (see the header comment).
 */
static bool
check_smtp_url(char **newval, void **extra, GucSource source)
{
	char	   *param;

	if (url_secret(*newval, &param) == NULL)
		return true;
	if (param == NULL)
		GUC_check_errdetail("The URL holds credentials (user:password@), and every role can read crm.smtp_url.");
	else
		GUC_check_errdetail("The URL's query parameter \"%s\" looks like a secret, and every role can read crm.smtp_url.",
							param);
	GUC_check_errhint("Set crm.smtp_user and crm.smtp_password instead; only superusers can read crm.smtp_password.");
	return false;
}

static bool
check_http_url(char **newval, void **extra, GucSource source)
{
	char	   *param;

	if (url_secret(*newval, &param) == NULL)
		return true;
	if (param == NULL)
		GUC_check_errdetail("The URL holds credentials (user:password@), and every role can read crm.http_url.");
	else
		GUC_check_errdetail("The URL's query parameter \"%s\" looks like a secret, and every role can read crm.http_url.",
							param);
	GUC_check_errhint("Send the secret with crm.http_auth_header, which only superusers can read.");
	return false;
}

/*
 * url_secret: NULL when url holds no credentials; otherwise the part that
 * does, with *param the query parameter's name (NULL for user-info; a
 * static buffer, %-decoded, lower-cased, cut at 63 bytes).
 */
static const char *
url_secret(const char *url, char **param)
{
	static char name[64];
	const char *authority;
	const char *end;
	const char *p;

	*param = NULL;
	if (url == NULL)
		return NULL;
	authority = strstr(url, "://");
	authority = authority ? authority + 3 : url;
	end = authority + strcspn(authority, "/?#");
	if (memchr(authority, '@', end - authority) != NULL)
		return authority;

	p = strchr(end, '?');
	if (p == NULL)
		return NULL;
	p++;
	while (*p != '\0' && *p != '#')
	{
		size_t		len = strcspn(p, "=&;#");
		size_t		n = 0;

		for (size_t i = 0; i < len && n < sizeof(name) - 1; i++)
		{
			char		c = p[i];

			if (c == '%' && i + 2 < len && isxdigit((unsigned char) p[i + 1]) &&
				isxdigit((unsigned char) p[i + 2]))
			{
				char		hex[3] = {p[i + 1], p[i + 2], '\0'};

				c = (char) strtol(hex, NULL, 16);
				i += 2;
			}
			name[n++] = pg_tolower((unsigned char) c);
		}
		name[n] = '\0';
		if (looks_secret(name))
		{
			*param = name;
			return p;
		}
		p += strcspn(p, "&;#");
		if (*p == '&' || *p == ';')
			p++;
	}
	return NULL;
}

/*
 * looks_secret: whether a query parameter's name (lower case) names a
 * credential: api_key, apikey, access_token, token, client_secret,
 * password, passwd, pwd, signature, sig, auth, jwt, credentials, ...
 */
static bool
looks_secret(const char *name)
{
	static const char *const parts[] = {"key", "token", "secret", "passw", "pwd", "auth",
	"signature", "credential", "jwt"};
	static const char *const whole[] = {"sig", "pass", "pw"};

	for (size_t i = 0; i < lengthof(parts); i++)
		if (strstr(name, parts[i]) != NULL)
			return true;
	for (size_t i = 0; i < lengthof(whole); i++)
		if (strcmp(name, whole[i]) == 0)
			return true;
	return false;
}
