/*-------------------------------------------------------------------------
 * phone.c
 *	  crm.normalize_phone(phone text, region text DEFAULT 'CN'): a phone
 *	  number as E.164 ("+8613800138000"), or NULL when it is not one.
 *
 * What is accepted, after folding full-width characters (crm_fold_text):
 *   - an optional label ("tel:", "电话：", "手机", ...);
 *   - digits with the usual separators: spaces, - . / ( ) and dashes;
 *   - an international form, "+<country code>" or the region's international
 *     call prefix ("0086", "011 1" from the US), or for China a bare "86"
 *     before a complete number ("86 138 0013 8000");
 *   - an extension after "转", "分机", "ext", "x", "#", "," or ";", or as a
 *     last group of at most 6 digits after a complete number
 *     ("010-6552-9988-801"): it is dropped.
 * Anything else (letters, a number too short or too long for its country,
 * a Chinese fixed line without its area code) gives NULL.
 *
 * China (+86) is checked by its numbering plan: mobile numbers 1[3-9] and
 * 11 digits; fixed lines with a 2-digit area code (10 Beijing, 2x the large
 * cities) and 8-digit subscriber numbers, or a 3-digit area code and 7 or 8
 * digits, written nationally with the trunk 0 (010, 0571); 400 and 800
 * service numbers of 10 digits.  Other countries are checked by country code
 * and the length of the national significant number, from the table below
 * (the common plans; libphonenumber's metadata is the full reference).
 *-------------------------------------------------------------------------
 */
#include "quality.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_normalize_phone);
PG_FUNCTION_INFO_V1(crm_check_phone_region);

#define MAX_PHONE_DIGITS 20		/* more is not a phone number */
#define MAX_EXTENSION_DIGITS 6

typedef struct PhonePlan
{
	const char *region;			/* ISO 3166-1 alpha-2 */
	const char *code;			/* country calling code */
	const char *trunk;			/* national trunk prefix, "" for none */
	const char *idd;			/* international call prefix dialled there */
	int			min_digits;		/* national significant number length */
	int			max_digits;
} PhonePlan;

static const PhonePlan phone_plans[] = {
	{"CN", "86", "0", "00", 10, 11},	/* checked by cn_national_number */
	{"HK", "852", "", "001", 8, 8},
	{"MO", "853", "", "00", 8, 8},
	{"TW", "886", "0", "002", 8, 9},
	{"US", "1", "1", "011", 10, 10},
	{"CA", "1", "1", "011", 10, 10},
	{"GB", "44", "0", "00", 9, 10},
	{"DE", "49", "0", "00", 6, 13},
	{"FR", "33", "0", "00", 9, 9},
	{"IT", "39", "", "00", 6, 11},
	{"ES", "34", "", "00", 9, 9},
	{"PT", "351", "", "00", 9, 9},
	{"NL", "31", "0", "00", 9, 9},
	{"BE", "32", "0", "00", 8, 9},
	{"CH", "41", "0", "00", 9, 9},
	{"AT", "43", "0", "00", 4, 13},
	{"IE", "353", "0", "00", 7, 9},
	{"DK", "45", "", "00", 8, 8},
	{"SE", "46", "0", "00", 7, 10},
	{"NO", "47", "", "00", 8, 8},
	{"FI", "358", "0", "00", 5, 12},
	{"PL", "48", "", "00", 9, 9},
	{"CZ", "420", "", "00", 9, 9},
	{"GR", "30", "", "00", 10, 10},
	{"RU", "7", "8", "810", 10, 10},
	{"UA", "380", "0", "00", 9, 9},
	{"TR", "90", "0", "00", 10, 10},
	{"IL", "972", "0", "00", 8, 9},
	{"AE", "971", "0", "00", 8, 9},
	{"SA", "966", "0", "00", 9, 9},
	{"EG", "20", "0", "00", 8, 10},
	{"ZA", "27", "0", "00", 9, 9},
	{"NG", "234", "0", "009", 8, 10},
	{"KE", "254", "0", "000", 9, 9},
	{"IN", "91", "0", "00", 10, 10},
	{"PK", "92", "0", "00", 9, 10},
	{"BD", "880", "0", "00", 10, 10},
	{"JP", "81", "0", "010", 9, 10},
	{"KR", "82", "0", "001", 8, 10},
	{"SG", "65", "", "000", 8, 8},
	{"MY", "60", "0", "00", 8, 10},
	{"TH", "66", "0", "001", 8, 9},
	{"VN", "84", "0", "00", 9, 10},
	{"PH", "63", "0", "00", 8, 10},
	{"ID", "62", "0", "001", 8, 12},
	{"AU", "61", "0", "0011", 9, 9},
	{"NZ", "64", "0", "00", 8, 10},
	{"MX", "52", "", "00", 10, 10},
	{"BR", "55", "0", "0014", 10, 11},
	{"AR", "54", "0", "00", 10, 10},
	{"CL", "56", "", "00", 9, 9},
	{"CO", "57", "", "009", 10, 10},
	{"PE", "51", "0", "00", 8, 9},
};

/* Prefixes that label a number rather than belong to it (lower case). */
static const char *const phone_labels[] = {
	"telephone", "tel", "phone", "mobile", "mob", "cell", "fax", "联系电话", "电话", "手机",
	"座机", "固话", "传真",
};

/* What introduces an extension (lower case). */
static const char *const extension_markers[] = {
	"extension", "ext", "x", "转", "分机", "#", ",", ";",
};

static const PhonePlan *
plan_for_region(const char *region)
{
	for (size_t i = 0; i < lengthof(phone_plans); i++)
		if (pg_strcasecmp(phone_plans[i].region, region) == 0)
			return &phone_plans[i];
	return NULL;
}

static const PhonePlan *
plan_for_code(const char *digits, int ndigits, int *code_len)
{
	for (int len = 1; len <= 3 && len <= ndigits; len++)
		for (size_t i = 0; i < lengthof(phone_plans); i++)
			if ((int) strlen(phone_plans[i].code) == len &&
				strncmp(phone_plans[i].code, digits, len) == 0)
			{
				*code_len = len;
				return &phone_plans[i];
			}
	return NULL;
}

bool
crm_phone_region_is_known(const char *region)
{
	return plan_for_region(region) != NULL;
}

/* Code points of s starting at pos that spell word (UTF-8), or 0. */
static int
match_word(const CrmCodepoints *s, int pos, const char *word)
{
	const unsigned char *w = (const unsigned char *) word;
	int			n = 0;

	while (*w)
	{
		if (pos + n >= s->len || s->chars[pos + n] != utf8_to_unicode(w))
			return 0;
		w += pg_utf_mblen(w);
		n++;
	}
	return n;
}

static bool
is_separator(pg_wchar c)
{
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' ||
		(c >= 0x2010 && c <= 0x2015);	/* hyphens and dashes */
}

/*
 * True when d[0..n) is a complete Chinese national significant number.
 * area_marked says the digits came after +86 or after the trunk 0 (already
 * removed): only then can they start with an area code, since "10 6552
 * 9988" alone could be a mistyped mobile number.
 */
static bool
cn_national_number(const char *d, int n, bool area_marked)
{
	if (n < 10 || n > 11)
		return false;
	if (n == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9')
		return true;			/* mobile */
	if (n == 10 && (strncmp(d, "400", 3) == 0 || strncmp(d, "800", 3) == 0))
		return true;			/* nationwide service numbers */
	if (!area_marked)
		return false;
	if ((d[0] == '1' && d[1] == '0') || d[0] == '2')
		return n == 10 && d[2] >= '2';	/* 2-digit area code, 8 digits */
	if (d[0] >= '3' && d[0] <= '9')
		return d[3] >= '2';		/* 3-digit area code, 7 or 8 digits */
	return false;
}

/*
 * The national significant number for country plan from digits d[0..n),
 * written internationally or nationally; NULL when they are not one.
 */
static char *
national_number(const PhonePlan *plan, const char *d, int n, bool international)
{
	bool		with_trunk = false;
	int			trunk_len = strlen(plan->trunk);
	char	   *nsn;

	if (trunk_len > 0 && n > trunk_len && strncmp(d, plan->trunk, trunk_len) == 0 &&
		(!international || strcmp(plan->trunk, "0") == 0))
	{
		/* "+44 (0)20 ..." and "+86 010 ..." repeat the trunk prefix */
		d += trunk_len;
		n -= trunk_len;
		with_trunk = true;
	}
	if (strcmp(plan->code, "86") == 0)
	{
		if (!cn_national_number(d, n, with_trunk || international))
			return NULL;
	}
	else
	{
		if (n < plan->min_digits || n > plan->max_digits)
			return NULL;
		if (strcmp(plan->code, "1") == 0 && (d[0] < '2' || d[3] < '2'))
			return NULL;		/* NANP area codes and exchanges start 2-9 */
	}
	if (strlen(plan->code) + n > 15)
		return NULL;			/* E.164's limit */
	nsn = palloc(n + 1);
	memcpy(nsn, d, n);
	nsn[n] = '\0';
	return nsn;
}

/*
 * The E.164 form of digits d[start..) where group_end[] marks where each
 * group of digits ended: the longest run of whole groups that is a complete
 * number, the groups after it (at most MAX_EXTENSION_DIGITS digits) being an
 * extension.
 */
static char *
complete_number(const PhonePlan *plan, const char *d, int start, const int *group_end,
				int ngroups, bool international)
{
	int			total = group_end[ngroups - 1];

	for (int g = ngroups - 1; g >= 0; g--)
	{
		int			end = group_end[g];
		char	   *nsn;

		if (end <= start)
			break;
		if (total - end > MAX_EXTENSION_DIGITS)
			break;
		nsn = national_number(plan, d + start, end - start, international);
		if (nsn != NULL)
			return psprintf("+%s%s", plan->code, nsn);
	}
	return NULL;
}

char *
crm_phone_e164(const char *phone, int len, const char *region)
{
	const PhonePlan *plan = plan_for_region(region);
	CrmCodepoints s = crm_fold_text(phone, len, true);
	char		digits[MAX_PHONE_DIGITS + 1];
	int			group_end[MAX_PHONE_DIGITS];
	int			ndigits = 0;
	int			ngroups = 0;
	int			pos = 0;
	int			end = s.len;
	bool		plus = false;
	bool		in_group = false;

	Assert(plan != NULL);

	/* a label such as "tel:" or "手机：" */
	for (size_t i = 0; i < lengthof(phone_labels); i++)
	{
		int			n = match_word(&s, 0, phone_labels[i]);

		if (n > 0)
		{
			pos = n;
			while (pos < s.len && (s.chars[pos] == ':' || s.chars[pos] == '.' || s.chars[pos] == ' '))
				pos++;
			break;
		}
	}

	/* an extension: cut at its marker; only digits may follow it */
	for (int i = pos + 1; i < s.len && end == s.len; i++)
		for (size_t m = 0; m < lengthof(extension_markers); m++)
		{
			int			n = match_word(&s, i, extension_markers[m]);

			if (n == 0)
				continue;
			for (int j = i + n; j < s.len; j++)
				if (!(s.chars[j] >= '0' && s.chars[j] <= '9') && !is_separator(s.chars[j]) &&
					s.chars[j] != ':')
					return NULL;
			end = i;
			break;
		}

	for (int i = pos; i < end; i++)
	{
		pg_wchar	c = s.chars[i];

		if (c >= '0' && c <= '9')
		{
			if (ndigits == MAX_PHONE_DIGITS)
				return NULL;
			digits[ndigits++] = (char) c;
			in_group = true;
			continue;
		}
		if (in_group)
			group_end[ngroups++] = ndigits;
		in_group = false;
		if (c == '+' && ndigits == 0 && !plus)
			plus = true;
		else if (!is_separator(c))
			return NULL;
	}
	if (in_group)
		group_end[ngroups++] = ndigits;
	if (ndigits == 0)
		return NULL;
	digits[ndigits] = '\0';

	if (!plus && strncmp(digits, plan->idd, strlen(plan->idd)) == 0)
	{
		int			idd_len = strlen(plan->idd);

		/* dialled abroad from the region: the rest is international */
		if (ndigits > idd_len)
		{
			int			code_len;
			const PhonePlan *dest = plan_for_code(digits + idd_len, ndigits - idd_len, &code_len);

			return dest ? complete_number(dest, digits, idd_len + code_len, group_end, ngroups, true) : NULL;
		}
		return NULL;
	}
	if (plus)
	{
		int			code_len;
		const PhonePlan *dest = plan_for_code(digits, ndigits, &code_len);

		return dest ? complete_number(dest, digits, code_len, group_end, ngroups, true) : NULL;
	}
	if (strcmp(plan->code, "86") == 0 && ndigits >= 12 && strncmp(digits, "86", 2) == 0)
	{
		/* "86 138 0013 8000": the country code without "+" */
		char	   *e164 = complete_number(plan, digits, 2, group_end, ngroups, true);

		if (e164 != NULL)
			return e164;
	}
	return complete_number(plan, digits, 0, group_end, ngroups, false);
}

/* The region argument, trimmed and checked: an unknown one is a bad argument. */
static char *
checked_region(text *region_text)
{
	char	   *region = text_to_cstring(region_text);
	char	   *end;

	while (*region == ' ')
		region++;
	for (end = region + strlen(region); end > region && end[-1] == ' '; end--)
		end[-1] = '\0';

	if (!crm_phone_region_is_known(region))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown phone region \"%s\"", region),
				 errdetail("A region is an ISO 3166 country code such as CN, HK, TW, US or DE."),
				 errhint("Numbers written with \"+\" and their country code need no region.")));
	return region;
}

/* crm.normalize_phone(phone text, region text) RETURNS text */
Datum
crm_normalize_phone(PG_FUNCTION_ARGS)
{
	text	   *phone = PG_GETARG_TEXT_PP(0);
	char	   *region = checked_region(PG_GETARG_TEXT_PP(1));
	char	   *e164 = crm_phone_e164(VARDATA_ANY(phone), VARSIZE_ANY_EXHDR(phone), region);

	if (e164 == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(e164));
}

/* crm.check_phone_region(region text) RETURNS text: the region trimmed and upper-cased, or 22023. */
Datum
crm_check_phone_region(PG_FUNCTION_ARGS)
{
	char	   *region = checked_region(PG_GETARG_TEXT_PP(0));

	for (char *p = region; *p; p++)
		*p = pg_toupper((unsigned char) *p);
	PG_RETURN_TEXT_P(cstring_to_text(region));
}
