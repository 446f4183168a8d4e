/*-------------------------------------------------------------------------
 * company_key.c
 *	  crm.company_key(name text): the key two spellings of one company
 *	  share, so that 北京星辰科技有限公司, 星辰科技（北京）有限公司 and 星辰科技 all
 *	  give 星辰科技, and "Xingchen Technology Co., Ltd." and "XINGCHEN
 *	  TECHNOLOGY LIMITED" both give xingchentechnology.
 *
 * Steps, on the folded name (NFKC, lower case, see text_fold.c):
 *   1. bracketed parts go, brackets and content: they hold a seat or branch,
 *      （北京）, (Beijing), 【旗舰店】; an unmatched bracket is just dropped;
 *   2. the name is cut into tokens: runs of Han/kana/Hangul (spaces between
 *      them ignored) and words of other scripts (dots inside a word dropped,
 *      so "Co." is co and "S.A." is sa); all other punctuation separates;
 *   3. a branch office name (…有限公司上海分公司) is cut at its company;
 *   4. legal forms go from the end, repeatedly: 股份有限公司, 有限责任公司,
 *      有限公司, 集团, 控股, … and co, ltd, limited, inc, llc, gmbh, ag, …;
 *   5. a leading province or city (北京, 上海市, 广东省, …) goes when at least
 *      two characters follow that are not just a trade (北京银行 stays);
 *   6. the tokens are joined without spaces.
 * A name with nothing left (such as 有限公司 alone) has no key: NULL.
 *-------------------------------------------------------------------------
 */
#include "quality.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_company_key);

#define MAX_TOKENS 64

/* Legal forms at the end of Chinese names, longest first where one ends another. */
static const char *const cjk_legal_forms[] = {
	"股份有限公司", "有限责任公司", "有限公司", "股份公司", "总公司", "分公司", "公司",
	"集团", "控股", "股份", "有限合伙", "合伙企业",
};

/* Endings of a branch office's name. */
static const char *const cjk_branch_endings[] = {"分公司", "办事处", "分部", "分店", "分厂"};

/* Legal-form words of other languages (after dots are removed). */
static const char *const latin_legal_forms[] = {
	"co", "company", "corp", "corporation", "inc", "incorporated", "ltd", "limited",
	"llc", "llp", "lp", "plc", "gmbh", "mbh", "ag", "kg", "ug", "se", "sa", "sas", "sarl",
	"srl", "spa", "bv", "nv", "oy", "oyj", "ab", "as", "aps", "asa", "kk", "pty", "pte",
	"bhd", "sdn", "tbk", "pvt", "group", "holding", "holdings",
};

/* Provinces, regions and large cities that lead Chinese company names. */
static const char *const cjk_places[] = {
	"黑龙江", "内蒙古", "石家庄", "哈尔滨", "北京", "上海", "天津", "重庆", "河北", "山西",
	"辽宁", "吉林", "江苏", "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南",
	"广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾", "广西", "西藏",
	"宁夏", "新疆", "香港", "澳门", "广州", "深圳", "杭州", "南京", "武汉", "成都", "西安",
	"苏州", "厦门", "青岛", "大连", "宁波", "沈阳", "长沙", "郑州", "济南", "合肥", "福州",
	"昆明", "长春", "太原", "南昌", "南宁", "贵阳", "兰州", "海口", "珠海", "佛山", "东莞",
	"无锡", "常州", "温州", "烟台", "中山", "惠州", "泉州", "绍兴", "嘉兴", "徐州", "南通",
	"扬州", "潍坊", "洛阳", "银川", "西宁", "拉萨", "乌鲁木齐", "呼和浩特",
};
static const char *const cjk_place_suffixes[] = {"特别行政区", "自治区", "市", "省"};

/* What may not be all that is left after a place: the name would lose its owner. */
static const char *const cjk_trades[] = {
	"银行", "证券", "保险", "大学", "医院", "电力", "电信", "移动", "联通", "地铁", "机场",
	"日报", "晚报", "电视台", "公交", "水务", "燃气", "科技", "银行股份",
};

typedef struct Token
{
	pg_wchar   *chars;
	int			len;
	bool		cjk;
} Token;

static bool
is_open_bracket(pg_wchar c)
{
	return c == '(' || c == '[' || c == '{' || c == 0x3010 || c == 0x3014 || c == 0x3016;
}

static bool
is_close_bracket(pg_wchar c)
{
	return c == ')' || c == ']' || c == '}' || c == 0x3011 || c == 0x3015 || c == 0x3017;
}

/* Step 1: remove bracketed parts in place; returns the new length. */
static int
remove_brackets(pg_wchar *s, int len)
{
	int		   *open = palloc(len * sizeof(int));
	bool	   *drop = palloc0(len * sizeof(bool));
	int			depth = 0;
	int			out = 0;

	for (int i = 0; i < len; i++)
	{
		if (is_open_bracket(s[i]))
			open[depth++] = i;
		else if (is_close_bracket(s[i]))
		{
			if (depth == 0)
				drop[i] = true; /* unmatched ")" */
			else
			{
				depth--;
				for (int j = open[depth]; j <= i; j++)
					drop[j] = true;
			}
		}
	}
	while (depth > 0)
		drop[open[--depth]] = true; /* unmatched "(": the bracket only */
	for (int i = 0; i < len; i++)
		if (!drop[i])
			s[out++] = s[i];
	pfree(open);
	pfree(drop);
	return out;
}

/* Step 2: cut the name into tokens; returns how many. */
static int
tokenize(pg_wchar *s, int len, Token *tokens)
{
	int			ntokens = 0;
	int			i = 0;

	while (i < len && ntokens < MAX_TOKENS)
	{
		pg_wchar   *start;
		int			n = 0;

		if (!crm_is_word_char(s[i]))
		{
			i++;
			continue;
		}
		start = s + i;
		if (crm_is_cjk(s[i]))
		{
			/* a run of CJK characters; spaces inside it are ignored */
			while (i < len && (crm_is_cjk(s[i]) || (s[i] == ' ' && i + 1 < len && crm_is_cjk(s[i + 1]))))
			{
				if (s[i] != ' ')
					start[n++] = s[i];
				i++;
			}
			tokens[ntokens++] = (Token) {start, n, true};
		}
		else
		{
			while (i < len && ((crm_is_word_char(s[i]) && !crm_is_cjk(s[i])) ||
							   s[i] == '.' || s[i] == '\''))
			{
				if (s[i] != '.' && s[i] != '\'')
					start[n++] = s[i];
				i++;
			}
			if (n > 0)
				tokens[ntokens++] = (Token) {start, n, false};
		}
	}
	return ntokens;
}

/* Length in code points of word (UTF-8) if chars[at..] starts with it, else 0. */
static int
starts_with(const pg_wchar *chars, int len, int at, const char *word)
{
	const unsigned char *w = (const unsigned char *) word;
	int			n = 0;

	while (*w)
	{
		if (at + n >= len || chars[at + n] != utf8_to_unicode(w))
			return 0;
		w += pg_utf_mblen(w);
		n++;
	}
	return n;
}

static bool
ends_with(const Token *t, const char *word, int *n)
{
	const unsigned char *w = (const unsigned char *) word;
	int			count = 0;

	for (const unsigned char *p = w; *p; p += pg_utf_mblen(p))
		count++;
	if (count > t->len)
		return false;
	if (starts_with(t->chars, t->len, t->len - count, word) != count)
		return false;
	*n = count;
	return true;
}

static bool
token_is(const Token *t, const char *word)
{
	int			n;

	return ends_with(t, word, &n) && n == t->len;
}

/* Step 3: "星辰科技有限公司上海分公司" is cut to "星辰科技有限公司". */
static void
cut_branch(Token *t)
{
	int			n;

	for (size_t b = 0; b < lengthof(cjk_branch_endings); b++)
	{
		if (!ends_with(t, cjk_branch_endings[b], &n))
			continue;
		for (int at = 1; at < t->len - n; at++)
			for (size_t f = 0; f < lengthof(cjk_legal_forms); f++)
			{
				int			m = starts_with(t->chars, t->len - n, at, cjk_legal_forms[f]);

				if (m > 0)
				{
					t->len = at + m;
					return;
				}
			}
		return;
	}
}

/* Step 4: legal forms off the end; returns how many tokens are left. */
static int
strip_legal_forms(Token *tokens, int ntokens)
{
	bool		changed = true;

	while (changed && ntokens > 0)
	{
		Token	   *last = &tokens[ntokens - 1];

		changed = false;
		if (last->cjk)
		{
			for (size_t f = 0; f < lengthof(cjk_legal_forms); f++)
			{
				int			n;

				if (ends_with(last, cjk_legal_forms[f], &n))
				{
					last->len -= n;
					changed = true;
					break;
				}
			}
			if (last->len == 0)
				ntokens--;
		}
		else
		{
			for (size_t f = 0; f < lengthof(latin_legal_forms); f++)
				if (token_is(last, latin_legal_forms[f]))
				{
					ntokens--;
					changed = true;
					break;
				}
		}
	}
	return ntokens;
}

/* Step 5: a leading place off the first token, when enough is left. */
static void
strip_place(Token *t)
{
	for (size_t p = 0; p < lengthof(cjk_places); p++)
	{
		int			n = starts_with(t->chars, t->len, 0, cjk_places[p]);
		Token		rest;

		if (n == 0)
			continue;
		for (size_t s = 0; s < lengthof(cjk_place_suffixes); s++)
		{
			int			m = starts_with(t->chars, t->len, n, cjk_place_suffixes[s]);

			if (m > 0)
			{
				n += m;
				break;
			}
		}
		rest = (Token) {t->chars + n, t->len - n, true};
		if (rest.len < 2)
			return;
		for (size_t r = 0; r < lengthof(cjk_trades); r++)
			if (token_is(&rest, cjk_trades[r]))
				return;
		*t = rest;
		return;
	}
}

CrmCodepoints
crm_company_key_codepoints(const char *name, int len)
{
	CrmCodepoints s = crm_fold_text(name, len, true);
	Token		tokens[MAX_TOKENS];
	int			ntokens;
	CrmCodepoints key;

	s.len = remove_brackets(s.chars, s.len);
	ntokens = tokenize(s.chars, s.len, tokens);
	if (ntokens > 0 && tokens[ntokens - 1].cjk)
		cut_branch(&tokens[ntokens - 1]);
	ntokens = strip_legal_forms(tokens, ntokens);
	if (ntokens > 1 && !tokens[0].cjk && token_is(&tokens[0], "the"))
	{
		ntokens--;
		memmove(tokens, tokens + 1, ntokens * sizeof(Token));
	}
	if (ntokens > 0 && tokens[0].cjk)
		strip_place(&tokens[0]);

	key.chars = palloc((s.len + 1) * sizeof(pg_wchar));
	key.len = 0;
	for (int i = 0; i < ntokens; i++)
	{
		memmove(key.chars + key.len, tokens[i].chars, tokens[i].len * sizeof(pg_wchar));
		key.len += tokens[i].len;
	}
	key.chars[key.len] = 0;
	return key;
}

/* crm.company_key(name text) RETURNS text */
Datum
crm_company_key(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	CrmCodepoints key = crm_company_key_codepoints(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));

	if (key.len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(crm_codepoints_to_text(key.chars, key.len));
}
