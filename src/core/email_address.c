/*-------------------------------------------------------------------------
 * email_address.c
 *	  Syntax check of email addresses, shared by contacts (the
 *	  crm.email_address domain) and the mail outbox.
 *
 * The accepted form is the one mail servers deliver to in practice: a
 * dot-atom local part (RFC 5322 §3.2.3, at most 64 bytes), "@", and a domain
 * of at least two dot-separated labels made of letters, digits and hyphens
 * (RFC 1035; UTF-8 letters are allowed for internationalised domains), at
 * most 254 bytes in all (RFC 5321 §4.5.3.1).  Quoted local parts, comments
 * and address literals are refused: they are legal but almost always typos,
 * and they are where header-injection tricks hide.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_check_email_address);

/* RFC 5322 atext, less nothing: letters, digits and these specials. */
static bool
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return true;			/* UTF-8 local parts (RFC 6531) */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

static bool
is_label_char(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '-';
}

const char *
crm_email_address_problem(const char *address)
{
	const char *at = strrchr(address, '@');
	size_t		len = strlen(address);
	size_t		local_len;
	const char *p;
	const char *label_start;
	int			labels = 0;

	for (p = address; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return "Email addresses cannot contain control characters such as line breaks.";
		if (*p == ' ')
			return "Email addresses cannot contain spaces.";
	}
	if (at == NULL)
		return "An email address needs an \"@\" between the mailbox and the domain.";
	if (len > 254)
		return "Email addresses are limited to 254 bytes.";
	if (strchr(address, '@') != at)
		return "An email address has exactly one \"@\".";

	local_len = at - address;
	if (local_len == 0)
		return "The part before \"@\" is empty.";
	if (local_len > 64)
		return "The part before \"@\" is limited to 64 bytes.";
	if (address[0] == '.' || at[-1] == '.')
		return "The part before \"@\" cannot start or end with a dot.";
	for (p = address; p < at; p++)
	{
		if (*p == '.')
		{
			if (p[1] == '.')
				return "The part before \"@\" cannot contain two dots in a row.";
		}
		else if (!is_atext((unsigned char) *p))
			return "The part before \"@\" contains a character that is not allowed.";
	}

	label_start = at + 1;
	if (*label_start == '\0')
		return "The domain after \"@\" is empty.";
	for (p = label_start;; p++)
	{
		if (*p == '.' || *p == '\0')
		{
			size_t		label_len = p - label_start;

			if (label_len == 0)
				return "The domain contains an empty label.";
			if (label_len > 63)
				return "Each label of the domain is limited to 63 bytes.";
			if (*label_start == '-' || p[-1] == '-')
				return "Domain labels cannot start or end with a hyphen.";
			labels++;
			if (*p == '\0')
				break;
			label_start = p + 1;
		}
		else if (!is_label_char((unsigned char) *p))
			return "The domain contains a character that is not allowed.";
	}
	if (labels < 2)
		return "The domain needs at least one dot, as in \"example.com\".";
	return NULL;
}

/*
 * crm.check_email_address(text) returns true for a well-formed address and
 * raises check_violation naming the address otherwise.  It backs the
 * crm.email_address domain, so the error says what is wrong rather than only
 * which constraint failed.
 */
Datum
crm_check_email_address(PG_FUNCTION_ARGS)
{
	char	   *address = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *problem = crm_email_address_problem(address);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("invalid email address \"%s\"", address),
				 errdetail("%s", problem)));
	PG_RETURN_BOOL(true);
}
