/*-------------------------------------------------------------------------
 * restore_hold.c
 *	  The restore hold: the crm worker's duty that holds delivery after a
 *	  restore to a point in time, until an operator calls
 *	  crm.resume_delivery().
 *
 * Why.  Mail the worker sent after the recovery point is still 'queued' or
 * 'sending' in the restored outbox, and would go out a second time; journey
 * steps and campaigns would queue again what they already sent.  Only the
 * operator can say when the outbox has been looked at.
 *
 * How a restore is told apart.  Every time PostgreSQL ends archive recovery
 * or promotes a standby it starts a new timeline and writes its history
 * file, pg_wal/<timeline>.history: one line per switch, "parent timeline,
 * switch point, reason".  The reason is "no recovery target specified" for
 * a promotion or for archive recovery run to the end of the WAL, and names
 * the target when recovery stopped at one: "before 2024-05-01 10:00:00+00",
 * "after transaction 1234", "at restore point \"x\"", "before LSN 0/5000000",
 * "reached consistency".  Crash recovery and restarts start no timeline.
 * So when the worker runs on a timeline this database has not recorded yet,
 * the duty reads that file and crm._check_timeline() (src/ops/10_restore_hold.sql)
 * records the timeline in crm.timeline_check -- a row restored with the
 * data, so the hold survives restarts, and a restored database still
 * remembers the timeline it was last checked on -- holding delivery when a
 * switch since then stopped at a target.
 *
 * The duty holds delivery from the worker's start until its first check
 * has been made (so mail never runs ahead of it), then every
 * crm.poll_interval, and when crm.resume_delivery() commits (the trigger
 * crm.wake_restore_hold() wakes it), reads whether a hold is still open.
 * Without crm (or before this feature is installed) there is nothing to
 * hold.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <sys/stat.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "ops/restore_hold.h"
#include "parser/parse_func.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(crm_wake_restore_hold);

/* When the extension is locked by DDL, look again after this long. */
#define BUSY_RETRY_MS 1000

/* The longest history file read: one line per timeline switch. */
#define MAX_HISTORY_BYTES (1024 * 1024)

enum
{
	CHECK_CLUSTER,
	CHECK_TIMELINE,
	CHECK_HISTORY,
	CHECK_NARGS
};

static char *read_history(TimeLineID tli);

/*
 * crm_restore_hold_start: until the first check, delivery is held.
 */
void
crm_restore_hold_start(void)
{
	crm_worker_hold("checking how the server's timeline began");
	crm_duty_set_state("checking");
}

/*
 * crm_restore_hold_run: record this timeline if it is new, and hold or
 * release delivery as crm.timeline_check says.
 */
TimestampTz
crm_restore_hold_run(const CrmDuty *duty, bool woken)
{
	MemoryContext caller = CurrentMemoryContext;
	TimeLineID	tli = GetWALInsertionTimeLine();
	Oid			ext;
	Oid			argtypes[CHECK_NARGS] = {
		[CHECK_CLUSTER] = INT8OID, [CHECK_TIMELINE] = INT4OID, [CHECK_HISTORY] = TEXTOID
	};
	char	   *reason = NULL;
	enum
	{
		ABSENT, BUSY, CHECKED
	}			outcome = ABSENT;

	crm_duty_begin();
	ext = get_extension_oid("crm", true);
	if (OidIsValid(ext) &&
		!ConditionalLockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock))
		outcome = BUSY;			/* being created, updated or dropped */
	else if (OidIsValid(ext) && OidIsValid(get_extension_oid("crm", true)) &&
			 OidIsValid(LookupFuncName(list_make2(makeString(CRM_SCHEMA), makeString("_check_timeline")),
									   CHECK_NARGS, argtypes, true)))
	{
		char	   *history = read_history(tli);
		Datum		values[CHECK_NARGS] = {
			[CHECK_CLUSTER] = Int64GetDatum((int64) GetSystemIdentifier()),
			[CHECK_TIMELINE] = Int32GetDatum((int32) tli),
			[CHECK_HISTORY] = history != NULL ? CStringGetTextDatum(history) : (Datum) 0
		};
		char		nulls[CHECK_NARGS] = {
			[CHECK_CLUSTER] = ' ', [CHECK_TIMELINE] = ' ', [CHECK_HISTORY] = history != NULL ? ' ' : 'n'
		};
		bool		isnull;
		Datum		result;

		if (SPI_execute_with_args("SELECT crm._check_timeline($1, $2, $3)", CHECK_NARGS, argtypes,
								  values, nulls, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not check the timeline");
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			reason = MemoryContextStrdup(caller, TextDatumGetCString(result));
		outcome = CHECKED;
	}
	crm_duty_commit();

	switch (outcome)
	{
		case BUSY:
			/* whatever was decided stands; look again soon */
			crm_duty_set_state("waiting for a lock");
			return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), BUSY_RETRY_MS);
		case ABSENT:
			/* no crm, or one without this feature: nothing to hold */
			crm_worker_release();
			crm_duty_set_state("absent");
			break;
		case CHECKED:
			if (reason != NULL)
			{
				crm_worker_hold(reason);
				crm_duty_set_state("holding delivery");
			}
			else
			{
				crm_worker_release();
				crm_duty_set_state("idle");
			}
			break;
	}
	return DT_NOEND;
}

/*
 * read_history: the text of pg_wal/<tli>.history, or NULL when there is
 * none (timeline 1 has none; an operator may have removed it).
 */
static char *
read_history(TimeLineID tli)
{
	char		path[MAXPGPATH];
	FILE	   *file;
	struct stat st;
	char	   *text;
	size_t		len;

	if (tli <= 1)
		return NULL;
	TLHistoryFilePath(path, tli);
	file = AllocateFile(path, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	if (fstat(fileno(file), &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (st.st_size > MAX_HISTORY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("timeline history file \"%s\" is larger than %d bytes", path, MAX_HISTORY_BYTES)));
	text = palloc((size_t) st.st_size + 1);
	len = fread(text, 1, (size_t) st.st_size, file);
	if (ferror(file))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	FreeFile(file);
	text[len] = '\0';
	return text;
}

/*
 * crm_wake_restore_hold: statement trigger on crm.timeline_check; when the
 * transaction commits (crm.resume_delivery()), the duty looks again at once.
 */
Datum
crm_wake_restore_hold(PG_FUNCTION_ARGS)
{
	static int	duty = -2;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.wake_restore_hold() must be called as a trigger")));
	/* Restoring a dump: rows are loaded as saved, nobody is woken (the poll sees them). */
	if (crm_restoring())
		return PointerGetDatum(NULL);
	if (duty == -2)
		duty = crm_duty_index("restore hold");
	crm_worker_wake_at_commit(duty);
	return PointerGetDatum(NULL);
}
