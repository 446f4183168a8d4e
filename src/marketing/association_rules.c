/*-------------------------------------------------------------------------
 * association_rules.c
 *	  crm.association_rules(baskets, min_support, min_confidence): "people
 *	  who bought X also bought Y" rules, one item => one item, counted in
 *	  memory rather than by a self-join.
 *
 * Definitions (N = baskets holding at least one item; an item counts once
 * per basket however often it appears; rows with a NULL basket or item are
 * ignored):
 *	 support(X)     = baskets holding X / N
 *	 support(X, Y)  = baskets holding both / N
 *	 confidence     = support(X, Y) / support(X)
 *	 lift           = confidence / support(Y)
 * A rule X => Y is returned when support(X, Y) >= min_support and its
 * confidence >= min_confidence; basket_count is the baskets holding both.
 *
 * Method (the Apriori pair pass).  The caller's query runs, with the
 * caller's privileges, wrapped so that PostgreSQL hands its rows over as
 * text and sorted by basket ("C" collation: byte order, the sort spilling
 * to disk as any sort does).  A DestReceiver reads them as they come: item
 * texts are mapped to small integers through a hash table, each basket's
 * items are sorted and de-duplicated, every item's basket count goes up,
 * and the basket is written to a temporary file as its item numbers.  Once
 * N is known, only items that reach min_support can be part of a rule
 * (support(X, Y) <= support(X)), so the second pass reads the baskets back
 * and counts pairs of those frequent items only: in a dense triangular
 * array of F * (F - 1) / 2 counters when it fits the budget (the usual
 * case: 1,000 frequent items take 2 MB), else in a hash table keyed by the
 * two item numbers.  The budget is work_mem; when the pair counts would
 * need more, the function stops with an error naming the limit and what
 * to change, rather than taking memory the server did not grant.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/buffile.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/tuplestore.h"

#include "spi_util.h"

PG_FUNCTION_INFO_V1(crm_association_rules);

/* The result's columns: antecedent, consequent, support, confidence, lift, basket_count */
#define RULE_COLUMNS 6

/* The dictionary of item texts. */
typedef struct ItemEntry
{
	const char *name;
	int32		index;
	uint32		hash;
	char		status;
} ItemEntry;

#define SH_PREFIX items
#define SH_ELEMENT_TYPE ItemEntry
#define SH_KEY_TYPE const char *
#define SH_KEY name
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), (int) strlen(key))
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Pair counts when the dense triangle does not fit: key = (i << 32) | j, i < j. */
static inline uint32
pair_hash(uint64 key)
{
	/* the finaliser of SplitMix64 */
	key = (key ^ (key >> 30)) * UINT64CONST(0xbf58476d1ce4e5b9);
	key = (key ^ (key >> 27)) * UINT64CONST(0x94d049bb133111eb);
	return (uint32) (key ^ (key >> 31));
}

typedef struct PairEntry
{
	uint64		pair;
	uint32		count;
	char		status;
} PairEntry;

#define SH_PREFIX pairs
#define SH_ELEMENT_TYPE PairEntry
#define SH_KEY_TYPE uint64
#define SH_KEY pair
#define SH_HASH_KEY(tb, key) pair_hash(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Everything one call works with. */
typedef struct RulesState
{
	MemoryContext cxt;			/* all of the below */
	items_hash *items;
	char	  **item_names;		/* by item number */
	int64	   *item_baskets;	/* baskets holding the item */
	int32		n_items;
	int32		cap_items;

	StringInfoData basket;		/* text of the basket being read */
	bool		in_basket;
	int32	   *basket_items;	/* its item numbers */
	int32		n_basket_items;
	int32		cap_basket_items;
	StringInfoData item_text;	/* NUL-terminated copy for lookups */

	BufFile    *baskets_file;	/* each basket: count, then sorted item numbers */
	int64		n_baskets;
	int64		max_basket_size;
} RulesState;

/* One rule to return. */
typedef struct Rule
{
	int32		antecedent;
	int32		consequent;
	double		support;
	double		confidence;
	double		lift;
	int64		count;
} Rule;

typedef struct BasketReceiver
{
	DestReceiver pub;
	RulesState *state;
} BasketReceiver;

static int
compare_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

static int32
item_number(RulesState *st, const char *text, int len)
{
	ItemEntry  *entry;
	bool		found;

	resetStringInfo(&st->item_text);
	appendBinaryStringInfo(&st->item_text, text, len);
	entry = items_insert(st->items, st->item_text.data, &found);
	if (!found)
	{
		if (st->n_items == st->cap_items)
		{
			st->cap_items *= 2;
			st->item_names = repalloc(st->item_names, sizeof(char *) * st->cap_items);
			st->item_baskets = repalloc(st->item_baskets, sizeof(int64) * st->cap_items);
		}
		entry->name = MemoryContextStrdup(st->cxt, st->item_text.data);
		entry->index = st->n_items;
		st->item_names[st->n_items] = (char *) entry->name;
		st->item_baskets[st->n_items] = 0;
		st->n_items++;
	}
	return entry->index;
}

/* Ends the basket being read: de-duplicate, count its items, write it out. */
static void
flush_basket(RulesState *st)
{
	int32		n = 0;
	int32		i;

	if (!st->in_basket)
		return;
	qsort(st->basket_items, st->n_basket_items, sizeof(int32), compare_int32);
	for (i = 0; i < st->n_basket_items; i++)
		if (n == 0 || st->basket_items[n - 1] != st->basket_items[i])
			st->basket_items[n++] = st->basket_items[i];
	for (i = 0; i < n; i++)
		st->item_baskets[st->basket_items[i]]++;
	BufFileWrite(st->baskets_file, &n, sizeof(n));
	BufFileWrite(st->baskets_file, st->basket_items, sizeof(int32) * n);
	st->n_baskets++;
	st->max_basket_size = Max(st->max_basket_size, n);
	st->n_basket_items = 0;
	st->in_basket = false;
}

/* One (basket, item) row, in basket order. */
static bool
receive_row(TupleTableSlot *slot, DestReceiver *self)
{
	RulesState *st = ((BasketReceiver *) self)->state;
	MemoryContext old = MemoryContextSwitchTo(st->cxt);
	text	   *basket;
	text	   *item;

	slot_getallattrs(slot);
	basket = DatumGetTextPP(slot->tts_values[0]);
	item = DatumGetTextPP(slot->tts_values[1]);
	if (!st->in_basket || (int) VARSIZE_ANY_EXHDR(basket) != st->basket.len ||
		memcmp(VARDATA_ANY(basket), st->basket.data, st->basket.len) != 0)
	{
		flush_basket(st);
		resetStringInfo(&st->basket);
		appendBinaryStringInfo(&st->basket, VARDATA_ANY(basket), VARSIZE_ANY_EXHDR(basket));
		st->in_basket = true;
	}
	if (st->n_basket_items == st->cap_basket_items)
	{
		st->cap_basket_items *= 2;
		st->basket_items = repalloc_huge(st->basket_items, sizeof(int32) * st->cap_basket_items);
	}
	st->basket_items[st->n_basket_items++] = item_number(st, VARDATA_ANY(item), VARSIZE_ANY_EXHDR(item));
	if ((Pointer) basket != DatumGetPointer(slot->tts_values[0]))
		pfree(basket);
	if ((Pointer) item != DatumGetPointer(slot->tts_values[1]))
		pfree(item);
	MemoryContextSwitchTo(old);
	return true;
}

static void
receiver_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
receiver_noop(DestReceiver *self)
{
}

static void
read_exactly(BufFile *file, void *ptr, size_t size)
{
	if (BufFileRead(file, ptr, size) != size)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the baskets back from their temporary file")));
}

static void
check_fraction(double value, const char *name, bool isnull)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", name)));
	if (isnan(value) || value < 0.0 || value > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1", name),
				 errdetail("The value given is %g.", value),
				 errhint("It is a share: 0.01 means 1%%.")));
}

/*
 * The caller's query, checked to be one query returning two columns, wrapped
 * to give (basket text, item text) rows without NULLs, sorted by basket.
 */
static char *
wrapped_query(const char *sql)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);
	CachedPlanSource *source;
	int			len = (int) strlen(sql);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (!SPI_is_cursor_plan(plan) ||
		((CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan)))->commandTag != CMDTAG_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("baskets must be one SELECT query"),
				 errhint("Pass a query such as: SELECT sales_order_id, product_id FROM crm.sales_order_item")));
	source = linitial(SPI_plan_get_plan_sources(plan));
	if (source->resultDesc == NULL || source->resultDesc->natts != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("baskets must return two columns, basket and item"),
				 errdetail("The query returns %d columns.", source->resultDesc ? source->resultDesc->natts : 0),
				 errhint("Pass a query such as: SELECT sales_order_id, product_id FROM crm.sales_order_item")));
	SPI_freeplan(plan);
	/* one statement: a trailing semicolon is all that may follow it */
	while (len > 0 && (sql[len - 1] == ';' || isspace((unsigned char) sql[len - 1])))
		len--;
	return psprintf("SELECT q.b::pg_catalog.text COLLATE pg_catalog.\"C\", q.i::pg_catalog.text"
					" FROM (%.*s\n) AS q(b, i)"
					" WHERE q.b IS NOT NULL AND q.i IS NOT NULL ORDER BY 1", len, sql);
}

static void
pairs_over_budget(const RulesState *st, int32 frequent, Size needed)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("crm.association_rules needs more than work_mem (%d kB) to count item pairs", work_mem),
			 errdetail("%d of %d items reach min_support in " INT64_FORMAT " baskets, and counting their pairs "
					   "needs at least %zu kB.", frequent, st->n_items, st->n_baskets, needed / 1024),
			 errhint("Raise min_support, or SET work_mem to a larger value for this query.")));
}

static int
compare_rules(const void *a, const void *b, void *arg)
{
	const Rule *x = a;
	const Rule *y = b;
	char	  **names = arg;
	int			c;

	if (x->support != y->support)
		return x->support > y->support ? -1 : 1;
	if (x->confidence != y->confidence)
		return x->confidence > y->confidence ? -1 : 1;
	c = strcmp(names[x->antecedent], names[y->antecedent]);
	if (c != 0)
		return c;
	return strcmp(names[x->consequent], names[y->consequent]);
}

/* Adds the rules of one pair of items (item numbers a < b) seen together count times. */
static void
add_rules(const RulesState *st, int32 a, int32 b, int64 count, double min_support, double min_confidence,
		  Rule **rules, int64 *n_rules, int64 *cap_rules)
{
	double		n = (double) st->n_baskets;
	double		support = (double) count / n;
	int			side;

	if (support < min_support)
		return;
	for (side = 0; side < 2; side++)
	{
		int32		x = side == 0 ? a : b;
		int32		y = side == 0 ? b : a;
		double		confidence = (double) count / (double) st->item_baskets[x];
		Rule	   *r;

		if (confidence < min_confidence)
			continue;
		if (*n_rules == *cap_rules)
		{
			*cap_rules *= 2;
			*rules = repalloc_huge(*rules, sizeof(Rule) * *cap_rules);
		}
		r = &(*rules)[(*n_rules)++];
		r->antecedent = x;
		r->consequent = y;
		r->support = support;
		r->confidence = confidence;
		r->lift = confidence / ((double) st->item_baskets[y] / n);
		r->count = count;
	}
}

/*
 * Second pass: counts the pairs of frequent items and turns them into rules
 * (returned sorted: support, confidence, then antecedent and consequent).
 */
static Rule *
count_pairs(RulesState *st, double min_support, double min_confidence, int64 *n_rules)
{
	int32	   *frequent_of = palloc(sizeof(int32) * Max(st->n_items, 1));	/* item -> frequent number */
	int32	   *item_of;		/* frequent number -> item */
	int32		n_frequent = 0;
	Size		budget = (Size) work_mem * 1024;
	Size		dense_bytes;
	uint32	   *dense = NULL;
	pairs_hash *sparse = NULL;
	int32	   *basket = palloc(sizeof(int32) * Max(st->max_basket_size, 1));
	int32	   *kept = palloc(sizeof(int32) * Max(st->max_basket_size, 1));
	int64		cap_rules = 1024;
	Rule	   *rules = palloc(sizeof(Rule) * cap_rules);
	int64		b;
	int32		i;

	*n_rules = 0;
	for (i = 0; i < st->n_items; i++)
		frequent_of[i] = ((double) st->item_baskets[i] / (double) st->n_baskets >= min_support)
			? n_frequent++ : -1;
	item_of = palloc(sizeof(int32) * Max(n_frequent, 1));
	for (i = 0; i < st->n_items; i++)
		if (frequent_of[i] >= 0)
			item_of[frequent_of[i]] = i;

	dense_bytes = (Size) n_frequent * (Size) Max(n_frequent - 1, 0) / 2 * sizeof(uint32);
	if (dense_bytes <= budget)
		dense = palloc_extended(Max(dense_bytes, sizeof(uint32)), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	else
		sparse = pairs_create(st->cxt, 1024, NULL);

	if (BufFileSeek(st->baskets_file, 0, 0, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rewind the baskets' temporary file")));
	for (b = 0; b < st->n_baskets; b++)
	{
		int32		n;
		int32		k = 0;
		int32		x;
		int32		y;

		read_exactly(st->baskets_file, &n, sizeof(n));
		read_exactly(st->baskets_file, basket, sizeof(int32) * n);
		for (x = 0; x < n; x++)
			if (frequent_of[basket[x]] >= 0)
				kept[k++] = frequent_of[basket[x]];
		for (x = 0; x < k; x++)
			for (y = x + 1; y < k; y++)
			{
				if (dense != NULL)
					dense[(uint64) kept[x] * (2 * (uint64) n_frequent - kept[x] - 1) / 2 + (kept[y] - kept[x] - 1)]++;
				else
				{
					bool		found;
					PairEntry  *e = pairs_insert(sparse, ((uint64) kept[x] << 32) | (uint32) kept[y], &found);

					e->count = found ? e->count + 1 : 1;
					if ((Size) sparse->size * sizeof(PairEntry) > budget)
						pairs_over_budget(st, n_frequent, (Size) sparse->size * sizeof(PairEntry));
				}
			}
		CHECK_FOR_INTERRUPTS();
	}

	if (dense != NULL)
	{
		uint64		cell = 0;
		int32		x;
		int32		y;

		for (x = 0; x < n_frequent; x++)
			for (y = x + 1; y < n_frequent; y++, cell++)
				if (dense[cell] > 0)
					add_rules(st, item_of[x], item_of[y], dense[cell], min_support, min_confidence,
							  &rules, n_rules, &cap_rules);
	}
	else
	{
		pairs_iterator it;
		PairEntry  *e;

		pairs_start_iterate(sparse, &it);
		while ((e = pairs_iterate(sparse, &it)) != NULL)
			add_rules(st, item_of[e->pair >> 32], item_of[(uint32) e->pair], e->count,
					  min_support, min_confidence, &rules, n_rules, &cap_rules);
	}
	qsort_arg(rules, *n_rules, sizeof(Rule), compare_rules, st->item_names);
	elog(DEBUG1, "crm.association_rules: " INT64_FORMAT " baskets, %d items, %d frequent, pairs counted in %s, "
		 "%zu kB of working memory",
		 st->n_baskets, st->n_items, n_frequent, dense ? "a dense triangle" : "a hash table",
		 MemoryContextMemAllocated(st->cxt, true) / 1024);
	return rules;
}

/*
 * crm.association_rules(baskets text, min_support float8, min_confidence
 * float8) returns (antecedent, consequent, support, confidence, lift,
 * basket_count); see the file comment.
 */
Datum
crm_association_rules(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	double		min_support = PG_ARGISNULL(1) ? 0 : PG_GETARG_FLOAT8(1);
	double		min_confidence = PG_ARGISNULL(2) ? 0 : PG_GETARG_FLOAT8(2);
	MemoryContext caller = CurrentMemoryContext;
	RulesState	st;
	BasketReceiver receiver;
	SPIExecuteOptions options;
	SPIPlanPtr	plan;
	char	   *sql;
	Rule	   *rules;
	int64		n_rules = 0;
	int64		r;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("baskets cannot be null"),
				 errhint("Pass a query returning (basket, item) rows.")));
	check_fraction(min_support, "min_support", PG_ARGISNULL(1));
	check_fraction(min_confidence, "min_confidence", PG_ARGISNULL(2));
	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != RULE_COLUMNS)
		elog(ERROR, "crm.association_rules must return %d columns, not %d", RULE_COLUMNS,
			 rsinfo->setDesc->natts);

	memset(&st, 0, sizeof(st));
	st.cxt = AllocSetContextCreate(caller, "crm.association_rules", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(st.cxt);
	st.items = items_create(st.cxt, 1024, NULL);
	st.cap_items = 1024;
	st.item_names = palloc(sizeof(char *) * st.cap_items);
	st.item_baskets = palloc(sizeof(int64) * st.cap_items);
	st.cap_basket_items = 64;
	st.basket_items = palloc(sizeof(int32) * st.cap_basket_items);
	initStringInfo(&st.basket);
	initStringInfo(&st.item_text);
	st.baskets_file = BufFileCreateTemp(false);

	crm_spi_connect();
	sql = wrapped_query(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = receive_row;
	receiver.pub.rStartup = receiver_startup;
	receiver.pub.rShutdown = receiver_noop;
	receiver.pub.rDestroy = receiver_noop;
	receiver.pub.mydest = DestNone;
	receiver.state = &st;
	memset(&options, 0, sizeof(options));
	options.read_only = true;
	options.dest = (DestReceiver *) &receiver;
	if (SPI_execute_plan_extended(plan, &options) < 0)
		elog(ERROR, "could not read the baskets");
	SPI_finish();

	MemoryContextSwitchTo(st.cxt);
	flush_basket(&st);
	rules = st.n_baskets > 0 ? count_pairs(&st, min_support, min_confidence, &n_rules) : NULL;
	BufFileClose(st.baskets_file);

	MemoryContextSwitchTo(caller);
	for (r = 0; r < n_rules; r++)
	{
		Datum		values[RULE_COLUMNS];
		bool		nulls[RULE_COLUMNS] = {false};

		values[0] = CStringGetTextDatum(st.item_names[rules[r].antecedent]);
		values[1] = CStringGetTextDatum(st.item_names[rules[r].consequent]);
		values[2] = Float8GetDatum(rules[r].support);
		values[3] = Float8GetDatum(rules[r].confidence);
		values[4] = Float8GetDatum(rules[r].lift);
		values[5] = Int64GetDatum(rules[r].count);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(DatumGetPointer(values[0]));
		pfree(DatumGetPointer(values[1]));
	}
	MemoryContextDelete(st.cxt);
	return (Datum) 0;
}
