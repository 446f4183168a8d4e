/*-------------------------------------------------------------------------
 * similarity.c
 *	  Name similarity for finding duplicates: crm.name_similarity(a, b)
 *	  and the blocking grams crm.name_grams(name) that choose which pairs
 *	  are compared at all.
 *
 * Word trigrams (pg_trgm's model) see nothing in a Chinese name: 王晓明 is
 * one "word" of three characters, and 王晓明 / 王小明 share no trigram.  Here
 * a name is folded (NFKC, lower case, text_fold.c) and cut into runs of CJK
 * characters (spaces between them ignored: 陈 静 is 陈静) and words of other
 * scripts.  Its grams are:
 *   - for a CJK run, every character and every pair of neighbours
 *     (王晓明: 王 晓 明 王晓 晓明), since a Chinese given name is one or two
 *     characters and a typo changes one of them;
 *   - for another word, pg_trgm's padded trigrams ("  w", " we", "wei",
 *     "ei "), so the order of words does not matter (Zhang Wei, Wei Zhang).
 * The similarity is the Dice coefficient of the two gram multisets,
 * 2·|A∩B| / (|A|+|B|), in [0, 1]: 王晓明/王小明 0.4, 陈静/陈 静 1, Zhang
 * Wei/Wei Zhang 1.  Grams are compared as 64-bit hashes of their code points.
 *
 * Blocking keys are the grams that are rare enough to matter: CJK pairs
 * (or the lone character of a one-character run) and the unpadded trigrams
 * of words (the whole word when shorter), as text.
 *-------------------------------------------------------------------------
 */
#include "quality.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(crm_name_similarity);
PG_FUNCTION_INFO_V1(crm_name_grams);

/* What a gram is used for. */
typedef enum GramUse
{
	GRAM_SCORE,					/* similarity only (too common to block on) */
	GRAM_BLOCK,					/* blocking only (a short word as a whole) */
	GRAM_BOTH
} GramUse;

/* Calls back with each gram of s (n code points at chars) and its use. */
typedef void (*GramVisitor) (const pg_wchar *chars, int n, GramUse use, void *arg);

static void
visit_grams(const CrmCodepoints *s, GramVisitor visit, void *arg)
{
	pg_wchar   *run = palloc((s->len + 3) * sizeof(pg_wchar));
	int			i = 0;

	while (i < s->len)
	{
		int			n = 0;

		if (!crm_is_word_char(s->chars[i]))
		{
			i++;
			continue;
		}
		if (crm_is_cjk(s->chars[i]))
		{
			while (i < s->len && (crm_is_cjk(s->chars[i]) ||
								  (s->chars[i] == ' ' && i + 1 < s->len && crm_is_cjk(s->chars[i + 1]))))
			{
				if (s->chars[i] != ' ')
					run[n++] = s->chars[i];
				i++;
			}
			for (int k = 0; k < n; k++)
			{
				visit(run + k, 1, n == 1 ? GRAM_BOTH : GRAM_SCORE, arg);
				if (k + 1 < n)
					visit(run + k, 2, GRAM_BOTH, arg);
			}
		}
		else
		{
			run[n++] = ' ';
			run[n++] = ' ';
			while (i < s->len && crm_is_word_char(s->chars[i]) && !crm_is_cjk(s->chars[i]))
				run[n++] = s->chars[i++];
			run[n++] = ' ';
			for (int k = 0; k + 3 <= n; k++)
			{
				bool		padded = k < 2 || k + 3 == n;

				visit(run + k, 3, padded ? GRAM_SCORE : GRAM_BOTH, arg);
			}
			if (n - 3 < 3)		/* a word of one or two letters blocks as itself */
				visit(run + 2, n - 3, GRAM_BLOCK, arg);
		}
	}
	pfree(run);
}

typedef struct GramHashes
{
	uint64	   *hashes;
	int			n;
	int			size;
} GramHashes;

static void
add_hash(const pg_wchar *chars, int n, GramUse use, void *arg)
{
	GramHashes *g = (GramHashes *) arg;

	if (use != GRAM_BLOCK)
	{
		if (g->n == g->size)
		{
			g->size *= 2;
			g->hashes = repalloc(g->hashes, g->size * sizeof(uint64));
		}
		g->hashes[g->n++] = hash_bytes_extended((const unsigned char *) chars, n * sizeof(pg_wchar), n);
	}
}

static int
compare_uint64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

uint64 *
crm_name_gram_hashes(const CrmCodepoints *name, int *ngrams)
{
	GramHashes	g;

	g.size = 16;
	g.n = 0;
	g.hashes = palloc(g.size * sizeof(uint64));
	visit_grams(name, add_hash, &g);
	qsort(g.hashes, g.n, sizeof(uint64), compare_uint64);
	*ngrams = g.n;
	return g.hashes;
}

double
crm_name_similarity_of(const char *a, int alen, const char *b, int blen)
{
	CrmCodepoints fa = crm_fold_text(a, alen, true);
	CrmCodepoints fb = crm_fold_text(b, blen, true);
	int			na;
	int			nb;
	uint64	   *ga = crm_name_gram_hashes(&fa, &na);
	uint64	   *gb = crm_name_gram_hashes(&fb, &nb);
	int			i = 0;
	int			j = 0;
	int			common = 0;

	if (na + nb == 0)
		return 0.0;
	while (i < na && j < nb)
	{
		if (ga[i] == gb[j])
		{
			common++;
			i++;
			j++;
		}
		else if (ga[i] < gb[j])
			i++;
		else
			j++;
	}
	return 2.0 * common / (na + nb);
}

/* crm.name_similarity(a text, b text) RETURNS float8 */
Datum
crm_name_similarity(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);

	PG_RETURN_FLOAT8(crm_name_similarity_of(VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a),
											VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b)));
}

typedef struct GramTexts
{
	Datum	   *texts;
	int			n;
	int			size;
} GramTexts;

static void
add_text(const pg_wchar *chars, int n, GramUse use, void *arg)
{
	GramTexts  *g = (GramTexts *) arg;
	text	   *t;

	if (use == GRAM_SCORE)
		return;
	t = crm_codepoints_to_text(chars, n);
	for (int i = 0; i < g->n; i++)
		if (VARSIZE(DatumGetPointer(g->texts[i])) == VARSIZE(t) &&
			memcmp(VARDATA(DatumGetPointer(g->texts[i])), VARDATA(t), VARSIZE(t) - VARHDRSZ) == 0)
			return;				/* already there */
	if (g->n == g->size)
	{
		g->size *= 2;
		g->texts = repalloc(g->texts, g->size * sizeof(Datum));
	}
	g->texts[g->n++] = PointerGetDatum(t);
}

/* crm.name_grams(name text) RETURNS text[]: the distinct blocking grams. */
Datum
crm_name_grams(PG_FUNCTION_ARGS)
{
	text	   *name = PG_GETARG_TEXT_PP(0);
	CrmCodepoints folded = crm_fold_text(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name), true);
	GramTexts	g;

	g.size = 8;
	g.n = 0;
	g.texts = palloc(g.size * sizeof(Datum));
	visit_grams(&folded, add_text, &g);
	PG_RETURN_ARRAYTYPE_P(construct_array(g.texts, g.n, TEXTOID, -1, false, TYPALIGN_INT));
}
