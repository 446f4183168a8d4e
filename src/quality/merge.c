/*-------------------------------------------------------------------------
 * merge.c
 *	  crm.merge_contacts(keep, merge) and crm.merge_accounts(keep, merge):
 *	  one duplicate folded into the row that stays; and the trigger that
 *	  makes a write racing with a merge land on the row that stays.
 *
 * A merge, in one transaction:
 *   1. takes the merge locks (below), then, as the caller, locks the kept
 *      row FOR NO KEY UPDATE and the merged row FOR UPDATE: the caller needs
 *      UPDATE on the table and must see both rows under row-level security,
 *      and DELETE on the table for the merged one;
 *   2. as the extension's owner (tables such as the consent ledger are not
 *      writable by crm_user), with search_path pinned, moves every
 *      reference listed in crm.personal_data from the merged row to the
 *      kept one (and, as the caller, the references in users' own tables:
 *      single-column foreign keys from outside schema crm), deletes the
 *      merged row, fills the kept row's empty columns from it (NULL or
 *      blank; jsonb objects are merged, the kept keys winning), and records
 *      both in crm.merge_log;
 *   3. returns the crm.merge_log id.
 * Moves and the delete read the newest committed rows with the
 * transaction's snapshot as a cross-check, as foreign keys do: under
 * REPEATABLE READ a row another transaction added after ours began is a
 * serialization failure (40001), never a row left pointing at the deleted
 * one.  While a merge runs, crm_merge_moves() tells the sales guards that a
 * document's customer changing from the merged row to the kept one is the
 * merge, not an edit (an issued invoice keeps its number and amounts; the
 * log keeps the old id).
 *
 * Racing writes.  Every table in the list gets a BEFORE INSERT OR UPDATE OF
 * <column> trigger, crm.follow_merge(kind, column), named zz_… so it runs
 * after the other BEFORE triggers, which may fill the column.  It takes a
 * share lock on the merge lock of the id it writes and keeps it to the end
 * of its transaction; a merge takes that lock exclusively.  So either the
 * writer came first and the merge waits for it to commit, then moves its
 * row; or the merge came first and the writer waits, then finds the id in
 * crm.merge_log and writes the kept id instead.  Merge locks are advisory
 * locks (database, kind, id mod 64, field4 17234 in pg_locks): 64 per kind,
 * so a bulk load of a million rows holds at most 128 locks, and a merge
 * waits for open transactions that wrote an id in its bucket.  The writer
 * knows which ids were merged from a per-backend cache of crm.merge_log's
 * last day, reloaded when a merge commits (relcache invalidation of
 * crm.merge_log); an id merged longer ago than that is just a missing row.
 *-------------------------------------------------------------------------
 */
#include "quality.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "spi_util.h"

PG_FUNCTION_INFO_V1(crm_merge_contacts);
PG_FUNCTION_INFO_V1(crm_merge_accounts);
PG_FUNCTION_INFO_V1(crm_merge_moves);
PG_FUNCTION_INFO_V1(crm_follow_merge);

#define MERGE_LOCK_BUCKETS 64
#define MERGE_LOCK_FIELD4 0x4352	/* "CR", to tell crm's locks apart in pg_locks */
#define MERGE_CHAIN_LIMIT 16	/* merged into a row merged into ... */

typedef struct MergeKind
{
	const char *name;			/* "contact": messages, crm.merge_log.kind */
	const char *table;			/* crm.<table> */
	const char *list_column;	/* column of crm.personal_data */
	const char *log_column;		/* column of crm.merge_log holding the kept id */
	uint32		lock_space;
} MergeKind;

static const MergeKind merge_kinds[] = {
	{"contact", "contact", "contact_column", "contact_id", 1},
	{"account", "account", "account_column", "account_id", 2},
};

/* Who called the merge, to switch back to for users' own tables. */
typedef struct MergeCaller
{
	Oid			user;
	int			sec_context;
	Oid			owner;			/* the extension's owner, who runs the rest */
} MergeCaller;

/* The merge this backend is running, for crm_merge_moves(). */
static struct
{
	bool		active;
	const char *column;			/* the column being moved now */
	int64		from;
	int64		to;
}			current_merge;

static const MergeKind *
kind_named(const char *name)
{
	for (size_t i = 0; i < lengthof(merge_kinds); i++)
		if (strcmp(merge_kinds[i].name, name) == 0)
			return &merge_kinds[i];
	elog(ERROR, "unknown merge kind \"%s\"", name);
	return NULL;				/* keep the compiler quiet */
}

/* The merge lock of id: one of MERGE_LOCK_BUCKETS per kind. */
static LockAcquireResult
lock_merge_bucket(const MergeKind *kind, int64 id, LOCKMODE mode, bool dont_wait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, kind->lock_space,
						 (uint32) (id % MERGE_LOCK_BUCKETS + MERGE_LOCK_BUCKETS) % MERGE_LOCK_BUCKETS,
						 MERGE_LOCK_FIELD4);
	return LockAcquire(&tag, mode, false, dont_wait);
}

static Oid
crm_relation(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid(CRM_SCHEMA, false));

	if (!OidIsValid(relid))
		elog(ERROR, "relation crm.%s does not exist", name);
	return relid;
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Runs SQL with the newest committed rows, cross-checked against the
 * transaction's snapshot under REPEATABLE READ and SERIALIZABLE (see the
 * file comment).  Returns the number of rows processed.
 */
static uint64
execute_latest(const char *sql, int nargs, const Oid *types, Datum *values, int expected)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) types);
	int			rc;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	CommandCounterIncrement();
	rc = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
							  IsolationUsesXactSnapshot() ? GetTransactionSnapshot() : InvalidSnapshot,
							  false, true, 0);
	if (rc != expected)
		elog(ERROR, "SPI_execute_snapshot failed for \"%s\": %s", sql, SPI_result_code_string(rc));
	SPI_freeplan(plan);
	return SPI_processed;
}

/* The kept id of an id merged away, looked up in crm.merge_log; 0 if none. */
enum
{
	MERGED_KIND,
	MERGED_ID,
	MERGED_NARGS
};
static const Oid merged_types[MERGED_NARGS] = {[MERGED_KIND] = TEXTOID, [MERGED_ID] = INT8OID};
static CrmSpiQuery merged_query = {
	"SELECT COALESCE(m.contact_id, m.account_id) FROM crm.merge_log m"
	" WHERE m.kind OPERATOR(pg_catalog.=) $1 AND m.merged_id OPERATOR(pg_catalog.=) $2",
	MERGED_NARGS, merged_types
};

static int64
merged_into(const MergeKind *kind, int64 id)
{
	Datum		values[MERGED_NARGS] = {[MERGED_KIND] = CStringGetTextDatum(kind->name),
	[MERGED_ID] = Int64GetDatum(id)};
	bool		isnull;
	Datum		kept;

	CommandCounterIncrement();
	if (crm_spi_execute_snapshot(&merged_query, values, NULL, GetLatestSnapshot(), 1) == 0)
		return 0;
	kept = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(kept);
}

/*
 * Step 1: lock the two rows as the caller.  A row missing (or hidden from
 * the caller) is a bad argument; the detail says where a merged one went.
 */
static const Oid id_types[1] = {INT8OID};
static CrmSpiQuery lock_queries[lengthof(merge_kinds)][2] = {
	{
		{"SELECT 1 FROM crm.contact c WHERE c.id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE", 1, id_types},
		{"SELECT 1 FROM crm.contact c WHERE c.id OPERATOR(pg_catalog.=) $1 FOR UPDATE", 1, id_types},
	},
	{
		{"SELECT 1 FROM crm.account a WHERE a.id OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE", 1, id_types},
		{"SELECT 1 FROM crm.account a WHERE a.id OPERATOR(pg_catalog.=) $1 FOR UPDATE", 1, id_types},
	},
};

static void
lock_rows_as_caller(const MergeKind *kind, int64 keep, int64 merge)
{
	int64		ids[2] = {keep, merge};

	for (int i = 0; i < 2; i++)
	{
		Datum		values[1] = {Int64GetDatum(ids[i])};
		int64		kept;

		if (crm_spi_execute(&lock_queries[kind - merge_kinds][i], values, NULL, false, 0) == 1)
			continue;
		kept = merged_into(kind, ids[i]);
		if (kept != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s " INT64_FORMAT " does not exist", kind->name, ids[i]),
					 errdetail("It was merged into %s " INT64_FORMAT ".", kind->name, kept),
					 errhint("Use %s " INT64_FORMAT " instead.", kind->name, kept)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s " INT64_FORMAT " does not exist", kind->name, ids[i])));
	}
	if (pg_class_aclcheck(crm_relation(kind->table), GetUserId(), ACL_DELETE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to merge %ss", kind->name),
				 errdetail("Merging deletes the merged %s, which needs DELETE on crm.%s.",
						   kind->name, kind->table)));
}

/*
 * In a PG_CATCH block: the error, if it is a unique violation (the caller
 * goes on); any other error is thrown again.
 */
static ErrorData *
caught_unique_violation(MemoryContext context)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
		PG_RE_THROW();
	FlushErrorState();
	return edata;
}

/* The statement moving column of table from $2 to $1 (both quoted already). */
enum
{
	MOVE_TO,					/* $1 the kept id */
	MOVE_FROM,					/* $2 the merged id */
	MOVE_NARGS
};
static const Oid move_types[MOVE_NARGS] = {[MOVE_TO] = INT8OID, [MOVE_FROM] = INT8OID};

static char *
move_statement(const char *table, const char *column)
{
	return psprintf("UPDATE %s SET %s = $1 WHERE %s OPERATOR(pg_catalog.=) $2", table, column, column);
}

/* A unique violation while moving: which table, and what to do. */
static void
report_duplicate(const MergeKind *kind, const char *table, int64 keep, int64 merge, ErrorData *edata)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("cannot merge %s " INT64_FORMAT " into %s " INT64_FORMAT,
					kind->name, merge, kind->name, keep),
			 errdetail("Both have a row in %s that may exist only once (%s).", table, edata->message),
			 errhint("Delete one of the two rows first, or list %s as move_or_delete in crm.personal_data.",
					 table)));
}

/*
 * move_or_delete: each row of the merged id moves on its own, and one that
 * would duplicate a row of the kept id is deleted instead.  Returns the
 * rows moved; *deleted counts the others.
 */
static uint64
move_rows_one_by_one(const char *table, const char *column, int64 keep, int64 merge, uint64 *deleted)
{
	/* select: $1 the merged id; update: $1 the kept id, $2 a row; delete: $1 a row */
	enum
	{
		ROW_ID, ROW_CTID, ROW_NARGS
	};
	char	   *select = psprintf("SELECT ctid FROM %s WHERE %s OPERATOR(pg_catalog.=) $1 FOR UPDATE",
								  table, column);
	char	   *update = psprintf("UPDATE %s SET %s = $1 WHERE ctid OPERATOR(pg_catalog.=) $2", table, column);
	char	   *delete = psprintf("DELETE FROM %s WHERE ctid OPERATOR(pg_catalog.=) $1", table);
	Oid			types[ROW_NARGS] = {[ROW_ID] = INT8OID, [ROW_CTID] = TIDOID};
	Datum		values[ROW_NARGS] = {[ROW_ID] = Int64GetDatum(merge), [ROW_CTID] = (Datum) 0};
	SPITupleTable *rows;
	uint64		nrows;
	uint64		moved = 0;

	execute_latest(select, 1, &types[ROW_ID], &values[ROW_ID], SPI_OK_SELECT);
	rows = SPI_tuptable;
	nrows = SPI_processed;
	values[ROW_ID] = Int64GetDatum(keep);
	for (uint64 i = 0; i < nrows; i++)
	{
		MemoryContext context = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;
		bool		isnull;
		Datum		ctid = SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull);

		values[ROW_CTID] = ctid;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(context);
		PG_TRY();
		{
			execute_latest(update, ROW_NARGS, types, values, SPI_OK_UPDATE);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(context);
			CurrentResourceOwner = owner;
			moved++;
		}
		PG_CATCH();
		{
			(void) caught_unique_violation(context);
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(context);
			CurrentResourceOwner = owner;
			execute_latest(delete, 1, &types[ROW_CTID], &values[ROW_CTID], SPI_OK_DELETE);
			(*deleted)++;
		}
		PG_END_TRY();
	}
	return moved;
}

/* Adds "table": count to the inside of the JSON object being built in moved. */
static void
note_moved(StringInfo moved, const char *table, uint64 count)
{
	if (moved->len > 1)
		appendStringInfoString(moved, ", ");
	escape_json(moved, table);
	appendStringInfo(moved, ": " UINT64_FORMAT, count);
}

/*
 * Step 2a: move every reference crm.personal_data lists.  Appends
 * "table": rows pairs to moved (a JSON object's inside).
 */
static CrmSpiQuery list_query = {
	"SELECT c.oid, n.nspname::text, c.relname::text, p.contact_column::text, p.account_column::text, p.on_merge"
	" FROM crm.personal_data p"
	" JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.table_name"
	" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
	" ORDER BY n.nspname, c.relname", 0, NULL
};

static void
move_references(const MergeKind *kind, int64 keep, int64 merge, StringInfo moved)
{
	Oid			subject = crm_relation(kind->table);
	int			column_of_kind = strcmp(kind->name, "contact") == 0 ? 4 : 5;
	SPITupleTable *targets;
	uint64		ntargets;

	ntargets = crm_spi_execute(&list_query, NULL, NULL, true, 0);
	targets = SPI_tuptable;

	for (uint64 i = 0; i < ntargets; i++)
	{
		HeapTuple	row = targets->vals[i];
		TupleDesc	desc = targets->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
		char	   *table = quote_qualified_identifier(crm_spi_text(row, desc, 2, CurrentMemoryContext),
													   crm_spi_text(row, desc, 3, CurrentMemoryContext));
		char	   *column = crm_spi_text(row, desc, column_of_kind, CurrentMemoryContext);
		char	   *on_merge = crm_spi_text(row, desc, 6, CurrentMemoryContext);
		uint64		count;
		uint64		deleted = 0;

		if (column == NULL)
			continue;			/* no column for this kind */
		if (relid == subject && strcmp(column, "id") == 0)
			continue;			/* the row being merged itself */
		current_merge.column = column;
		if (strcmp(on_merge, "move_or_delete") == 0)
			count = move_rows_one_by_one(table, quote_identifier(column), keep, merge, &deleted);
		else if (strcmp(on_merge, "move") == 0)
		{
			Datum		values[MOVE_NARGS] = {[MOVE_TO] = Int64GetDatum(keep), [MOVE_FROM] = Int64GetDatum(merge)};
			MemoryContext context = CurrentMemoryContext;

			PG_TRY();
			{
				count = execute_latest(move_statement(table, quote_identifier(column)), MOVE_NARGS,
									   move_types, values, SPI_OK_UPDATE);
			}
			PG_CATCH();
			{
				report_duplicate(kind, table, keep, merge, caught_unique_violation(context));
			}
			PG_END_TRY();
		}
		else
			elog(ERROR, "crm.personal_data lists %s with unknown on_merge \"%s\"", table, on_merge);
		current_merge.column = NULL;
		if (count > 0 || deleted > 0)
			note_moved(moved, table, count);
		if (deleted > 0)
			note_moved(moved, psprintf("%s (duplicates deleted)", table), deleted);
	}
}

/*
 * Step 2a, continued: users' own tables.  Every single-column foreign key
 * to the merged row's table from outside schema crm (and not in the list)
 * is moved too, as the caller, with the caller's privileges: left alone,
 * ON DELETE CASCADE would silently delete the user's rows.
 */
static const Oid relid_types[1] = {OIDOID};
static CrmSpiQuery user_references_query = {
	"SELECT n.nspname::text, r.relname::text, a.attname::text"
	" FROM pg_catalog.pg_constraint c"
	" JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.conrelid"
	" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace"
	" JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid"
	"  AND a.attnum OPERATOR(pg_catalog.=) c.conkey[1]"
	" WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1"
	" AND pg_catalog.cardinality(c.conkey) OPERATOR(pg_catalog.=) 1"
	" AND n.nspname OPERATOR(pg_catalog.<>) 'crm'"
	" AND NOT EXISTS (SELECT FROM crm.personal_data p WHERE p.table_name OPERATOR(pg_catalog.=) c.conrelid)"
	" ORDER BY 1, 2, 3", 1, relid_types
};

static void
move_user_references(const MergeKind *kind, int64 keep, int64 merge, const MergeCaller *caller,
					 StringInfo moved)
{
	Datum		list_values[1] = {ObjectIdGetDatum(crm_relation(kind->table))};
	SPITupleTable *targets;
	uint64		ntargets;

	ntargets = crm_spi_execute(&user_references_query, list_values, NULL, true, 0);
	targets = SPI_tuptable;
	for (uint64 i = 0; i < ntargets; i++)
	{
		HeapTuple	row = targets->vals[i];
		char	   *table = quote_qualified_identifier(crm_spi_text(row, targets->tupdesc, 1, CurrentMemoryContext),
													   crm_spi_text(row, targets->tupdesc, 2, CurrentMemoryContext));
		const char *column = quote_identifier(crm_spi_text(row, targets->tupdesc, 3, CurrentMemoryContext));
		Datum		values[MOVE_NARGS] = {[MOVE_TO] = Int64GetDatum(keep), [MOVE_FROM] = Int64GetDatum(merge)};
		uint64		count;

		SetUserIdAndSecContext(caller->user, caller->sec_context);
		count = execute_latest(move_statement(table, column), MOVE_NARGS, move_types, values,
							   SPI_OK_UPDATE);
		SetUserIdAndSecContext(caller->owner,
							   caller->sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
		if (count > 0)
			note_moved(moved, table, count);
	}
}

/*
 * Step 2b: the kept row's empty columns filled from the merged row (as
 * jsonb, taken before it was deleted).  Returns the columns filled.
 */
static Datum
fill_kept_row(const MergeKind *kind, int64 keep, Datum merged_row)
{
	Oid			relid = crm_relation(kind->table);
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData targets;
	StringInfoData sources;
	/* $1 the kept id, $2 a row as jsonb (the merged one, then the kept one before) */
	enum
	{
		FILL_KEEP, FILL_ROW, FILL_NARGS
	};
	Oid			types[FILL_NARGS] = {[FILL_KEEP] = INT8OID, [FILL_ROW] = JSONBOID};
	Datum		values[FILL_NARGS] = {[FILL_KEEP] = Int64GetDatum(keep), [FILL_ROW] = merged_row};
	char	   *before_sql = psprintf("SELECT pg_catalog.to_jsonb(k) FROM crm.%s k WHERE k.id OPERATOR(pg_catalog.=) $1",
									  kind->table);
	Datum		before;
	bool		isnull;

	initStringInfo(&targets);
	initStringInfo(&sources);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		const char *q = quote_identifier(name);
		Oid			base = getBaseType(att->atttypid);

		if (att->attisdropped || att->attidentity || att->attgenerated ||
			strcmp(name, "id") == 0 || strcmp(name, "created_at") == 0 ||
			strcmp(name, "updated_at") == 0 || strcmp(name, "owner") == 0)
			continue;
		appendStringInfo(&targets, "%s%s", targets.len > 0 ? ", " : "", q);
		if (base == JSONBOID)
			appendStringInfo(&sources, "%sCASE WHEN pg_catalog.jsonb_typeof(k.%s) OPERATOR(pg_catalog.=) 'object' "
							 "AND pg_catalog.jsonb_typeof(m.%s) OPERATOR(pg_catalog.=) 'object' "
							 "THEN m.%s OPERATOR(pg_catalog.||) k.%s ELSE COALESCE(k.%s, m.%s) END",
							 sources.len > 0 ? ", " : "", q, q, q, q, q, q);
		else if (TypeCategory(base) == TYPCATEGORY_STRING)
			appendStringInfo(&sources, "%sCASE WHEN k.%s IS NULL OR pg_catalog.btrim(k.%s::text) OPERATOR(pg_catalog.=) '' "
							 "THEN m.%s ELSE k.%s END",
							 sources.len > 0 ? ", " : "", q, q, q, q);
		else
			appendStringInfo(&sources, "%sCOALESCE(k.%s, m.%s)", sources.len > 0 ? ", " : "", q, q);
	}
	table_close(rel, AccessShareLock);

	execute_latest(before_sql, 1, &types[FILL_KEEP], &values[FILL_KEEP], SPI_OK_SELECT);
	before = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), false, -1);
	execute_latest(psprintf("UPDATE crm.%s k SET (%s) = (SELECT %s FROM pg_catalog.jsonb_populate_record(NULL::crm.%s, $2) m) "
							"WHERE k.id OPERATOR(pg_catalog.=) $1",
							kind->table, targets.data, sources.data, kind->table),
				   FILL_NARGS, types, values, SPI_OK_UPDATE);
	values[FILL_ROW] = before;
	execute_latest(psprintf("SELECT COALESCE(pg_catalog.array_agg(a.key ORDER BY a.key), '{}') "
							"FROM crm.%s k, pg_catalog.jsonb_each(pg_catalog.to_jsonb(k)) a "
							"WHERE k.id OPERATOR(pg_catalog.=) $1 AND a.key OPERATOR(pg_catalog.<>) 'updated_at' "
							"AND a.value IS DISTINCT FROM $2 OPERATOR(pg_catalog.->) a.key",
							kind->table),
				   FILL_NARGS, types, values, SPI_OK_SELECT);
	return SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull), false, -1);
}

/* Steps 2 and 3 as the extension's owner; returns the crm.merge_log id. */
static int64
merge_as_owner(const MergeKind *kind, int64 keep, int64 merge, const MergeCaller *caller)
{
	/* the crm.merge_log row; the statements before it use only $1, the merged id */
	enum
	{
		LOG_KEEP, LOG_MERGE, LOG_KIND, LOG_ROW, LOG_FILLED, LOG_MOVED, LOG_NARGS
	};
	Oid			types[LOG_NARGS] = {
		[LOG_KEEP] = INT8OID, [LOG_MERGE] = INT8OID, [LOG_KIND] = TEXTOID, [LOG_ROW] = JSONBOID,
		[LOG_FILLED] = TEXTARRAYOID, [LOG_MOVED] = TEXTOID
	};
	Datum		values[LOG_NARGS];
	StringInfoData moved;
	Datum		merged_row;
	Datum		filled;
	bool		isnull;

	values[LOG_MERGE] = Int64GetDatum(merge);
	execute_latest(psprintf("SELECT pg_catalog.to_jsonb(m) FROM crm.%s m WHERE m.id OPERATOR(pg_catalog.=) $1",
							kind->table), 1, &types[LOG_MERGE], &values[LOG_MERGE], SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "%s " INT64_FORMAT " vanished while locked", kind->name, merge);
	merged_row = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
								   false, -1);

	initStringInfo(&moved);
	appendStringInfoChar(&moved, '{');
	move_references(kind, keep, merge, &moved);
	move_user_references(kind, keep, merge, caller, &moved);
	appendStringInfoChar(&moved, '}');

	execute_latest(psprintf("DELETE FROM crm.%s WHERE id OPERATOR(pg_catalog.=) $1", kind->table),
				   1, &types[LOG_MERGE], &values[LOG_MERGE], SPI_OK_DELETE);
	filled = fill_kept_row(kind, keep, merged_row);

	values[LOG_KEEP] = Int64GetDatum(keep);
	values[LOG_KIND] = CStringGetTextDatum(kind->name);
	values[LOG_ROW] = merged_row;
	values[LOG_FILLED] = filled;
	values[LOG_MOVED] = CStringGetTextDatum(moved.data);
	execute_latest(psprintf("INSERT INTO crm.merge_log (kind, %s, merged_id, merged_row, filled, moved, merged_by) "
							"VALUES ($3, $1, $2, $4, $5, $6::pg_catalog.jsonb, %s) RETURNING id",
							kind->log_column, quote_literal_cstr(GetUserNameFromId(caller->user, false))),
				   LOG_NARGS, types, values, SPI_OK_INSERT_RETURNING);
	CacheInvalidateRelcacheByRelid(crm_relation("merge_log"));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static Datum
merge_rows(FunctionCallInfo fcinfo, const MergeKind *kind)
{
	int64		keep = PG_GETARG_INT64(0);
	int64		merge = PG_GETARG_INT64(1);
	MergeCaller caller;
	int			nestlevel;
	int64		log_id;

	if (keep == merge)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge %s " INT64_FORMAT " into itself", kind->name, keep),
				 errhint("Pass the id of the %s to keep, then the id of its duplicate.", kind->name)));

	/* merge locks first (in id order, so two merges cannot deadlock on them) */
	if (keep < merge)
	{
		lock_merge_bucket(kind, keep, ShareLock, false);
		lock_merge_bucket(kind, merge, ExclusiveLock, false);
	}
	else
	{
		lock_merge_bucket(kind, merge, ExclusiveLock, false);
		lock_merge_bucket(kind, keep, ShareLock, false);
	}

	crm_spi_connect();
	lock_rows_as_caller(kind, keep, merge);

	GetUserIdAndSecContext(&caller.user, &caller.sec_context);
	caller.owner = relation_owner(crm_relation("merge_log"));
	SetUserIdAndSecContext(caller.owner, caller.sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	current_merge.active = true;
	current_merge.from = merge;
	current_merge.to = keep;
	PG_TRY();
	{
		log_id = merge_as_owner(kind, keep, merge, &caller);
	}
	PG_FINALLY();
	{
		current_merge.active = false;
		current_merge.column = NULL;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nestlevel);
	SetUserIdAndSecContext(caller.user, caller.sec_context);
	SPI_finish();
	PG_RETURN_INT64(log_id);
}

/* crm.merge_contacts(keep bigint, merge bigint) RETURNS bigint */
Datum
crm_merge_contacts(PG_FUNCTION_ARGS)
{
	return merge_rows(fcinfo, kind_named("contact"));
}

/* crm.merge_accounts(keep bigint, merge bigint) RETURNS bigint */
Datum
crm_merge_accounts(PG_FUNCTION_ARGS)
{
	return merge_rows(fcinfo, kind_named("account"));
}

/*
 * crm.merge_moves(column_name text, old_value jsonb, new_value jsonb)
 * RETURNS boolean: true while this backend's merge is moving column from
 * the merged id to the kept one.  Guards of documents that otherwise keep
 * their customer let exactly that change through.
 */
Datum
crm_merge_moves(PG_FUNCTION_ARGS)
{
	char	   *column;
	Jsonb	   *old_jsonb;
	Jsonb	   *new_jsonb;
	char	   *old_value;
	char	   *new_value;

	if (!current_merge.active || current_merge.column == NULL ||
		PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	column = text_to_cstring(PG_GETARG_TEXT_PP(0));
	old_jsonb = PG_GETARG_JSONB_P(1);
	new_jsonb = PG_GETARG_JSONB_P(2);
	old_value = JsonbToCString(NULL, &old_jsonb->root, VARSIZE(old_jsonb));
	new_value = JsonbToCString(NULL, &new_jsonb->root, VARSIZE(new_jsonb));
	PG_RETURN_BOOL(strcmp(column, current_merge.column) == 0 &&
				   strcmp(old_value, psprintf(INT64_FORMAT, current_merge.from)) == 0 &&
				   strcmp(new_value, psprintf(INT64_FORMAT, current_merge.to)) == 0);
}

/*
 * The per-backend map of recently merged ids (kind, merged id) -> kept id,
 * valid until a merge commits anywhere.
 */
typedef struct MergedKey
{
	int64		lock_space;		/* int64: no padding bytes for HASH_BLOBS to hash */
	int64		merged;
} MergedKey;

typedef struct MergedEntry
{
	MergedKey	key;
	int64		kept;
} MergedEntry;

static HTAB *merged_ids = NULL;
static bool merged_ids_valid = false;
static Oid	merged_ids_source = InvalidOid;

static void
merge_log_changed(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == merged_ids_source)
		merged_ids_valid = false;
}

static CrmSpiQuery recent_merges_query = {
	"SELECT m.kind, COALESCE(m.contact_id, m.account_id), m.merged_id FROM crm.merge_log m"
	" WHERE m.merged_at OPERATOR(pg_catalog.>)"
	" (pg_catalog.now() OPERATOR(pg_catalog.-) '1 day'::pg_catalog.interval)"
	" AND COALESCE(m.contact_id, m.account_id) IS NOT NULL", 0, NULL
};

static void
load_merged_ids(void)
{
	static bool callback_registered = false;
	HASHCTL		ctl;
	Oid			source = crm_relation("merge_log");
	Oid			caller;
	int			sec_context;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(merge_log_changed, (Datum) 0);
		callback_registered = true;
	}
	if (merged_ids != NULL)
		hash_destroy(merged_ids);
	ctl.keysize = sizeof(MergedKey);
	ctl.entrysize = sizeof(MergedEntry);
	ctl.hcxt = TopMemoryContext;
	merged_ids = hash_create("crm merged ids", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	merged_ids_source = source;
	merged_ids_valid = true;	/* an invalidation arriving from here on redoes this */

	GetUserIdAndSecContext(&caller, &sec_context);
	SetUserIdAndSecContext(relation_owner(source),
						   sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	PG_TRY();
	{
		crm_spi_connect();
		CommandCounterIncrement();
		crm_spi_execute_snapshot(&recent_merges_query, NULL, NULL, GetLatestSnapshot(), 0);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			MergedKey	key;
			MergedEntry *entry;

			key.lock_space = kind_named(crm_spi_text(row, desc, 1, CurrentMemoryContext))->lock_space;
			key.merged = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
			entry = hash_search(merged_ids, &key, HASH_ENTER, NULL);
			entry->kept = DatumGetInt64(SPI_getbinval(row, desc, 2, &isnull));
		}
		SPI_finish();
	}
	PG_CATCH();
	{
		merged_ids_valid = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	SetUserIdAndSecContext(caller, sec_context);
}

/* Where a write of id should go: id, or the row it was merged into. */
static int64
follow_merges(const MergeKind *kind, int64 id)
{
	for (int hop = 0; hop < MERGE_CHAIN_LIMIT; hop++)
	{
		MergedKey	key;
		MergedEntry *entry;

		if (lock_merge_bucket(kind, id, ShareLock, true) == LOCKACQUIRE_NOT_AVAIL)
			lock_merge_bucket(kind, id, ShareLock, false);	/* a merge is running */
		AcceptInvalidationMessages();
		if (!merged_ids_valid)
			load_merged_ids();
		key.lock_space = kind->lock_space;
		key.merged = id;
		entry = hash_search(merged_ids, &key, HASH_FIND, NULL);
		if (entry == NULL)
			return id;
		id = entry->kept;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s merges chain more than %d times", kind->name, MERGE_CHAIN_LIMIT)));
	return id;					/* keep the compiler quiet */
}

/*
 * crm.follow_merge(kind, column): BEFORE INSERT OR UPDATE OF column row
 * trigger keeping the column off merged rows (see the file comment).
 */
Datum
crm_follow_merge(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	const MergeKind *kind;
	int			attnum;
	bool		isnull;
	Datum		value;
	int64		id;
	int64		target;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.follow_merge() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.follow_merge() must be a BEFORE row trigger with a kind and a column")));
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (crm_restoring())
		return PointerGetDatum(tuple);

	kind = kind_named(trigdata->tg_trigger->tgargs[0]);
	desc = RelationGetDescr(trigdata->tg_relation);
	attnum = SPI_fnumber(desc, trigdata->tg_trigger->tgargs[1]);
	if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->atttypid != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("\"%s\" is not a bigint column of %s",
						trigdata->tg_trigger->tgargs[1], RelationGetRelationName(trigdata->tg_relation)),
				 errcontext("trigger %s of crm.follow_merge()", trigdata->tg_trigger->tgname)));
	value = heap_getattr(tuple, attnum, desc, &isnull);
	if (isnull)
		return PointerGetDatum(tuple);
	id = DatumGetInt64(value);
	target = follow_merges(kind, id);
	if (target == id)
		return PointerGetDatum(tuple);
	value = Int64GetDatum(target);
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1, &attnum, &value, &isnull));
}
