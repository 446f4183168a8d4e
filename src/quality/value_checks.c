/*-------------------------------------------------------------------------
 * value_checks.c
 *	  Checks that say what is wrong with a stored value instead of raising,
 *	  for counting invalid values in crm.data_quality:
 *	  crm.email_problem(address) and crm.is_time_zone(name).
 *
 * They reuse the rules the columns are written with (src/core/
 * email_address.c and time_zone.c), so a value crm.data_quality counts as
 * invalid is exactly one a new row could not hold: rows written before a
 * rule existed, or through a column without it.
 *-------------------------------------------------------------------------
 */
#include "quality.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_email_problem);
PG_FUNCTION_INFO_V1(crm_is_time_zone);

/* crm.email_problem(address text) RETURNS text: NULL for a valid address, else why not. */
Datum
crm_email_problem(PG_FUNCTION_ARGS)
{
	const char *problem = crm_email_address_problem(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/* crm.is_time_zone(name text) RETURNS boolean: an IANA name the server knows. */
Datum
crm_is_time_zone(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(crm_time_zone_is_known(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
