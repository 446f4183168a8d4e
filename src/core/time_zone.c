/*-------------------------------------------------------------------------
 * time_zone.c
 *	  crm.check_time_zone(text): the check behind the domain
 *	  crm.time_zone_name, used for the company time zone setting and for the
 *	  time zones of contacts and accounts.
 *
 * A time zone is an IANA name the server's time zone database knows
 * ("Asia/Shanghai", "Europe/Berlin", "UTC", "Etc/GMT-8").  POSIX-style
 * specifications such as "EST5EDT" or "UTC+3", which PostgreSQL also
 * accepts, are refused: their sign is the opposite of ISO 8601's and they
 * carry no DST rules, which is how mail ends up going out at 3 a.m.  The
 * lookup goes through pg_tzset(), which caches every zone it loads, so the
 * check is cheap enough for a column constraint.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "pgtime.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_check_time_zone);

/* Letters, digits, '_', '-', '+' in '/'-separated parts; the first part starts with a letter. */
static bool
looks_like_iana_name(const char *name)
{
	const char *p;
	bool		part_start = true;

	if (name[0] == '\0' || strlen(name) > 64)
		return false;
	for (p = name; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '/')
		{
			if (part_start)
				return false;
			part_start = true;
			continue;
		}
		if (part_start && !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return false;
		part_start = false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '+'))
			return false;
	}
	if (part_start)
		return false;
	/* Digits are only in the Etc/GMT±N zones and a few legacy names; refuse POSIX specs. */
	if (strchr(name, '/') == NULL && strpbrk(name, "0123456789+") != NULL)
		return false;
	return true;
}

/*
 * crm_time_zone_is_known: true when name is an IANA time zone name this
 * server knows.
 */
bool
crm_time_zone_is_known(const char *name)
{
	return looks_like_iana_name(name) && pg_tzset(name) != NULL;
}

Datum
crm_check_time_zone(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (!crm_time_zone_is_known(name))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("unknown time zone \"%s\"", name),
				 errdetail("A time zone is an IANA name such as \"Asia/Shanghai\", \"Europe/Berlin\" or \"UTC\"."),
				 errhint("The server's list is in pg_timezone_names.")));
	PG_RETURN_BOOL(true);
}
