/*-------------------------------------------------------------------------
 * printable.c
 *	  Printable names for marketing's arguments (see printable.h).
 *
 * The same rule as crm.is_printable() in SQL: no C0 control (below 0x20),
 * no DEL, and no C1 control (U+0080..U+009F, in UTF-8 the bytes 0xC2 0x80
 * to 0xC2 0x9F).  Checking in C as well as in the table's CHECK gives an
 * error naming the argument instead of a failing row.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "marketing/printable.h"

void
crm_check_printable_name(const char *value, const char *what, int max_bytes, const char *example)
{
	const unsigned char *p;
	bool		blank = true;

	for (p = (const unsigned char *) value; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s contains a control character", what),
					 errhint("Use printable text such as \"%s\".", example)));
		if (*p != ' ')
			blank = false;
	}
	if (blank || strlen(value) > (size_t) max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have 1 to %d bytes of printable text", what, max_bytes),
				 errhint("Use printable text such as \"%s\".", example)));
}
