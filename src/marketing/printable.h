/*-------------------------------------------------------------------------
 * printable.h
 *	  The check of names that marketing functions take as arguments (event
 *	  kinds, segment keys): what crm.is_printable() checks in SQL, with an
 *	  error that says which argument and how to fix it.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MARKETING_PRINTABLE_H
#define CRM_MARKETING_PRINTABLE_H

/*
 * Raises 22023 unless value has 1 to max_bytes bytes, is not only spaces
 * and has no control character (C0, DEL or C1); what names it in the
 * message ("event kind") and example is a good value ("course_view").
 */
extern void crm_check_printable_name(const char *value, const char *what, int max_bytes, const char *example);

#endif							/* CRM_MARKETING_PRINTABLE_H */
