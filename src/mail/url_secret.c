/*-------------------------------------------------------------------------
 * url_secret.c
 *	  Whether a URL setting holds credentials: a user-info part
 *	  (user:password@host), or a query parameter whose name looks like a
 *	  secret (api_key, token, secret, password, signature, ...).  The smtp
 *	  and http transports' check hooks refuse such URLs, because every role
 *	  can read crm.smtp_url and crm.http_url; the secrets have settings of
 *	  their own that only superusers can read.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <ctype.h>

#include "mail/transport.h"
#include "utils/guc.h"

static const char *url_secret(const char *url, const char **param);
static bool looks_secret(const char *name);

/*
 * crm_url_setting_ok: for the check hook of setting: true when url holds
 * no credentials, otherwise false with the GUC error's detail and hint.
 */
bool
crm_url_setting_ok(const char *url, const char *setting, const char *hint)
{
	const char *param;

	if (url_secret(url, &param) == NULL)
		return true;
	if (param == NULL)
		GUC_check_errdetail("The URL holds credentials (user:password@), and every role can read %s.",
							setting);
	else
		GUC_check_errdetail("The URL's query parameter \"%s\" looks like a secret, and every role can read %s.",
							param, setting);
	GUC_check_errhint("%s", hint);
	return false;
}

/*
 * url_secret: NULL when url holds no credentials; otherwise the part that
 * does, with *param the query parameter's name (NULL for user-info; a
 * static buffer, %-decoded, lower-cased, cut at 63 bytes).
 */
static const char *
url_secret(const char *url, const char **param)
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
