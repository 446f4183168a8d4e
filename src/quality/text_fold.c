/*-------------------------------------------------------------------------
 * text_fold.c
 *	  crm.normalize_text(text) and crm.email_key(text), and the folding
 *	  every other data-quality function starts from.
 *
 * Chinese data arrives with full-width digits and letters typed through an
 * input method (１３８００１３８０００, ＡＢＣ, ＠), ideographic spaces, no-break
 * spaces pasted from web pages and zero-width characters from spreadsheets.
 * Folding is Unicode NFKC (PostgreSQL's own tables, the same as
 * normalize(text, NFKC)), which maps every full-width form to its ASCII
 * twin and every compatibility space to U+0020, then:
 *   - zero-width characters (U+200B..U+200D, U+2060, U+FEFF) are removed;
 *   - every run of white space becomes one space, none at either end;
 *   - optionally letters are lower-cased.  PostgreSQL 15 has no Unicode case
 *     table, and the database's collation may be C, so case folding is done
 *     here for the scripts CRM names use: ASCII, Latin-1, Latin Extended-A,
 *     Greek and Cyrillic.  Han, kana and Hangul have no case.
 * ASCII input is already NFKC, so it skips the normalisation tables.
 * Databases in another encoding than UTF-8 are converted to UTF-8 and back.
 *-------------------------------------------------------------------------
 */
#include "quality.h"

#include "common/unicode_norm.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_normalize_text);
PG_FUNCTION_INFO_V1(crm_email_key);

/* Characters that are formatting, not content. */
static bool
is_zero_width(pg_wchar c)
{
	return (c >= 0x200B && c <= 0x200D) || c == 0x2060 || c == 0xFEFF;
}

/* White space after NFKC (which already made most spaces U+0020). */
static bool
is_space(pg_wchar c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 ||
		c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
		c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Lower case of c for the scripts listed in the file comment. */
static pg_wchar
fold_case(pg_wchar c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if ((c >= 0xC0 && c <= 0xDE && c != 0xD7))	/* Latin-1 capitals but × */
		return c + 32;
	if (c >= 0x100 && c <= 0x17F)	/* Latin Extended-A: pairs, capital even */
	{
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
			return (c % 2 == 1) ? c + 1 : c;
		if (c == 0x178)			/* Ÿ */
			return 0xFF;
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F)
			return c;
		return (c % 2 == 0) ? c + 1 : c;
	}
	if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)	/* Greek capitals */
		return c + 32;
	if (c >= 0x410 && c <= 0x42F)	/* Cyrillic А..Я */
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)	/* Cyrillic Ѐ..Џ */
		return c + 80;
	return c;
}

bool
crm_is_cjk(pg_wchar c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) ||	/* CJK Unified Ideographs */
		(c >= 0x3400 && c <= 0x4DBF) || /* Extension A */
		(c >= 0x20000 && c <= 0x3134F) ||	/* Extensions B..G */
		(c >= 0xF900 && c <= 0xFAFF) || /* Compatibility Ideographs */
		(c >= 0x3040 && c <= 0x30FF) || /* Hiragana, Katakana */
		(c >= 0xAC00 && c <= 0xD7AF) || /* Hangul syllables */
		c == 0x3007;			/* 〇, the ideographic zero */
}

bool
crm_is_word_char(pg_wchar c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (crm_is_cjk(c))
		return true;
	/* letters of the other alphabets; not punctuation, symbols or spaces */
	if (c < 0xC0 || c == 0xD7 || c == 0xF7)
		return false;
	if ((c >= 0x2000 && c <= 0x2BFF) ||	/* punctuation, arrows, maths, boxes */
		(c >= 0x3000 && c <= 0x303F) ||	/* CJK symbols and punctuation */
		(c >= 0xFE30 && c <= 0xFE4F) ||	/* CJK compatibility forms */
		(c >= 0xFF00 && c <= 0xFFEF) ||	/* what NFKC left of the full-width block */
		(c >= 0x1F000 && c <= 0x1FAFF)) /* emoji and pictographs */
		return false;
	return true;
}

/* The code points of a UTF-8 string (len bytes, already verified). */
static pg_wchar *
utf8_codepoints(const unsigned char *s, int len, int *count)
{
	pg_wchar   *out = palloc((len + 1) * sizeof(pg_wchar));
	int			n = 0;
	int			i = 0;

	while (i < len)
	{
		int			l = pg_utf_mblen(s + i);

		if (i + l > len)
			break;
		out[n++] = utf8_to_unicode(s + i);
		i += l;
	}
	out[n] = 0;
	*count = n;
	return out;
}

CrmCodepoints
crm_fold_text(const char *s, int len, bool lower_case)
{
	const char *utf8 = s;
	pg_wchar   *chars;
	pg_wchar   *normal;
	bool		ascii = true;
	int			n;
	int			out = 0;
	bool		pending_space = false;
	CrmCodepoints result;

	if (GetDatabaseEncoding() != PG_UTF8)
	{
		utf8 = pg_server_to_any(s, len, PG_UTF8);
		if (utf8 != s)
			len = strlen(utf8);
	}
	for (int i = 0; i < len && ascii; i++)
		ascii = !IS_HIGHBIT_SET(utf8[i]);
	chars = utf8_codepoints((const unsigned char *) utf8, len, &n);
	if (ascii)
		normal = chars;
	else
	{
		normal = unicode_normalize(UNICODE_NFKC, chars);
		if (normal == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		pfree(chars);
		for (n = 0; normal[n] != 0; n++)
			;
	}

	/* Compact in place: drop zero-width characters, collapse spaces. */
	for (int i = 0; i < n; i++)
	{
		pg_wchar	c = normal[i];

		if (is_zero_width(c))
			continue;
		if (is_space(c))
		{
			pending_space = out > 0;
			continue;
		}
		if (pending_space)
		{
			normal[out++] = ' ';
			pending_space = false;
		}
		normal[out++] = lower_case ? fold_case(c) : c;
	}
	normal[out] = 0;
	result.chars = normal;
	result.len = out;
	return result;
}

text *
crm_codepoints_to_text(const pg_wchar *chars, int len)
{
	unsigned char *utf8 = palloc(len * 4 + 1);
	unsigned char *p = utf8;
	char	   *server;

	for (int i = 0; i < len; i++)
	{
		unicode_to_utf8(chars[i], p);
		p += pg_utf_mblen(p);
	}
	*p = '\0';
	server = pg_any_to_server((const char *) utf8, p - utf8, PG_UTF8);
	return cstring_to_text(server);
}

/*
 * crm.normalize_text(value text) RETURNS text: NFKC, zero-width characters
 * removed, white space collapsed and trimmed.  Case is kept.
 */
Datum
crm_normalize_text(PG_FUNCTION_ARGS)
{
	text	   *value = PG_GETARG_TEXT_PP(0);
	CrmCodepoints folded = crm_fold_text(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), false);

	PG_RETURN_TEXT_P(crm_codepoints_to_text(folded.chars, folded.len));
}

/*
 * crm.email_key(address text) RETURNS text: the address as people mean it,
 * for matching: folded, lower case, without spaces, and without a "+tag"
 * after the mailbox name (chen+crm@example.cn is chen@example.cn).
 */
Datum
crm_email_key(PG_FUNCTION_ARGS)
{
	text	   *address = PG_GETARG_TEXT_PP(0);
	CrmCodepoints s = crm_fold_text(VARDATA_ANY(address), VARSIZE_ANY_EXHDR(address), true);
	int			out = 0;
	bool		in_tag = false;
	bool		in_domain = false;

	for (int i = 0; i < s.len; i++)
	{
		pg_wchar	c = s.chars[i];

		if (c == '@')
		{
			in_domain = true;
			in_tag = false;
		}
		else if (c == '+' && !in_domain && out > 0)
			in_tag = true;
		if (in_tag || c == ' ')
			continue;
		s.chars[out++] = c;
	}
	if (out == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(crm_codepoints_to_text(s.chars, out));
}
