/*-------------------------------------------------------------------------
 * quality.h
 *	  Shared declarations of the data-quality feature (src/quality): text
 *	  folding into code points, phone and company keys, name grams, and the
 *	  merge state the sales guards consult.
 *
 * Everything here works on UTF-32 code points (pg_wchar) obtained from a
 * text value by crm_fold_text, whatever the database encoding, so the rules
 * (full-width forms, CJK ranges, legal-form words) are written once.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_QUALITY_H
#define CRM_QUALITY_H

#include "crm.h"

#include "mb/pg_wchar.h"

/* A string of code points; len excludes the terminating 0 kept at chars[len]. */
typedef struct CrmCodepoints
{
	pg_wchar   *chars;
	int			len;
} CrmCodepoints;

/*
 * crm_fold_text: the code points of a server-encoded string after NFKC
 * (full-width letters, digits and punctuation become their ASCII forms),
 * with zero-width characters removed, every run of white space made one
 * space, and no space at either end.  With lower_case, letters are also
 * lower-cased (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic).
 */
extern CrmCodepoints crm_fold_text(const char *s, int len, bool lower_case);

/* The server-encoded text value of a string of code points. */
extern text *crm_codepoints_to_text(const pg_wchar *chars, int len);

/* True for Han ideographs, kana and Hangul: the scripts written without spaces. */
extern bool crm_is_cjk(pg_wchar c);

/* True for letters and digits of any script (what keys and grams keep). */
extern bool crm_is_word_char(pg_wchar c);

/* Phone number in E.164 ("+8613800138000"), or NULL when it is not one. */
extern char *crm_phone_e164(const char *phone, int len, const char *region);

/* True when region (ISO 3166 alpha-2, any case) is a region crm knows. */
extern bool crm_phone_region_is_known(const char *region);

/* Matching key of a company name, or NULL when nothing distinctive is left. */
extern CrmCodepoints crm_company_key_codepoints(const char *name, int len);

/*
 * Name grams: CJK characters and their bigrams, and padded trigrams of the
 * words of other scripts, as 64-bit hashes sorted ascending (duplicates
 * kept).  crm_name_similarity_of is the Dice coefficient of two such lists.
 */
extern uint64 *crm_name_gram_hashes(const CrmCodepoints *name, int *ngrams);
extern double crm_name_similarity_of(const char *a, int alen, const char *b, int blen);

#endif							/* CRM_QUALITY_H */
