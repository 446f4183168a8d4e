/*-------------------------------------------------------------------------
 * event.c
 *	  crm.journey_event(): the AFTER INSERT trigger on crm.event through
 *	  which events move journeys, in the transaction that writes the event.
 *
 * Every event anyone writes passes here, so the common case -- a kind no
 * journey cares about -- costs one hash lookup in the cache of journey
 * definitions (journey_cache.c) and no query.  Otherwise, as the
 * extension's owner (the writer of the event may be a crm_user, who cannot
 * change enrollments), in this order:
 *
 *	1. Goal and exit events.  One UPDATE ends the person's active
 *	   enrollments in the journeys whose goal_event (converted) or
 *	   exit_events (exited) is this kind, and logs each; it finds them
 *	   through the index of enrollments by person.  An enrollment the runner has claimed is locked:
 *	   the UPDATE waits for the runner's transaction and then sees what it
 *	   committed.  Then, in separate statements (each with a new snapshot,
 *	   so they see mail the runner queued just before), the enrollments'
 *	   journey mail still queued is cancelled and logged (cancel_mail), and
 *	   mail the worker is already delivering is logged as such
 *	   (mail_in_flight): the person gets nothing more that can be stopped.
 *	2. Awaited events.  Enrollments of the person waiting in a wait_for
 *	   step for this kind are made due now; the runner checks the event.
 *	   (1 and 2 stop after one index probe when the person is in no journey.)
 *	3. Enrollment.  For each active journey triggered by this kind (or, for
 *	   segment_entered, by the segment in its properties) whose
 *	   trigger_filter holds -- evaluated as the journey's owner -- the
 *	   person is enrolled through crm._enroll (re-entry, daily limit,
 *	   holdout, and no enrollment from the journey's own mail).
 *
 * While a dump is restored (crm_restoring()) the trigger does nothing:
 * restored events must not enroll or end anyone again.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "spi_util.h"
#include "marketing/run_as_owner.h"
#include "journeys/journeys.h"

PG_FUNCTION_INFO_V1(crm_journey_event);

/* 1. the end of enrollments */
typedef enum EndArg
{
	END_CONTACT,				/* $1 the person */
	END_JOURNEYS,				/* $2 journeys whose goal or exit event this is */
	END_GOALS,					/* $3 those whose goal it is */
	END_DETAIL,					/* $4 the event, in words */
	END_NARGS
} EndArg;
static const Oid end_types[END_NARGS] = {
	[END_CONTACT] = INT8OID,[END_JOURNEYS] = INT8ARRAYOID,[END_GOALS] = INT8ARRAYOID,[END_DETAIL] = TEXTOID};
static CrmSpiQuery end_query = {
	"WITH ended AS ("
	"  UPDATE crm.journey_enrollment e"
	"     SET state = CASE WHEN e.journey_id OPERATOR(pg_catalog.=) ANY ($3) THEN 'converted' ELSE 'exited' END,"
	"         ended_at = pg_catalog.now(), next_run_at = NULL,"
	"         end_reason = CASE WHEN e.journey_id OPERATOR(pg_catalog.=) ANY ($3) THEN 'goal reached: '"
	"                      ELSE 'exit event: ' END OPERATOR(pg_catalog.||) $4"
	"   WHERE e.contact_id OPERATOR(pg_catalog.=) $1 AND e.state OPERATOR(pg_catalog.=) 'active'"
	"     AND e.journey_id OPERATOR(pg_catalog.=) ANY ($2)"
	"  RETURNING e.id, e.position, e.visit, e.state"
	"), logged AS ("
	"  INSERT INTO crm.journey_log (enrollment_id, position, visit, action, outcome, detail)"
	"  SELECT x.id, x.position, x.visit, 'event',"
	"         CASE x.state WHEN 'converted' THEN 'goal_reached' ELSE 'exited' END, $4 FROM ended x"
	")"
	" SELECT pg_catalog.array_agg(x.id) FROM ended x",
	END_NARGS, end_types};

/* $1 the enrollments just ended */
static const Oid ended_types[1] = {INT8ARRAYOID};
static CrmSpiQuery cancel_query = {
	"WITH cancelled AS ("
	"  UPDATE crm.email_outbox o"
	"     SET status = 'cancelled', sent_at = pg_catalog.now(),"
	"         last_error = 'cancelled: the journey enrollment ended'"
	"    FROM crm.journey_log l"
	"   WHERE l.enrollment_id OPERATOR(pg_catalog.=) ANY ($1) AND l.action OPERATOR(pg_catalog.=) 'send'"
	"     AND o.id OPERATOR(pg_catalog.=) l.email_id AND o.status OPERATOR(pg_catalog.=) 'queued'"
	"  RETURNING l.enrollment_id, l.position, l.visit, o.id"
	")"
	" INSERT INTO crm.journey_log (enrollment_id, position, visit, action, outcome, email_id, detail)"
	" SELECT c.enrollment_id, c.position, c.visit, 'cancel_mail',"
	"        CASE e.state WHEN 'converted' THEN 'goal_reached' ELSE 'exited' END, c.id,"
	"        'queued mail withdrawn: the enrollment ended before it was delivered'"
	"   FROM cancelled c JOIN crm.journey_enrollment e ON e.id OPERATOR(pg_catalog.=) c.enrollment_id",
	1, ended_types};
static CrmSpiQuery in_flight_query = {
	"INSERT INTO crm.journey_log (enrollment_id, position, visit, action, outcome, email_id, detail)"
	" SELECT l.enrollment_id, l.position, l.visit, 'mail_in_flight',"
	"        CASE e.state WHEN 'converted' THEN 'goal_reached' ELSE 'exited' END, o.id,"
	"        'the worker was already delivering this mail when the enrollment ended'"
	"   FROM crm.journey_log l"
	"   JOIN crm.email_outbox o ON o.id OPERATOR(pg_catalog.=) l.email_id"
	"   JOIN crm.journey_enrollment e ON e.id OPERATOR(pg_catalog.=) l.enrollment_id"
	"  WHERE l.enrollment_id OPERATOR(pg_catalog.=) ANY ($1) AND l.action OPERATOR(pg_catalog.=) 'send'"
	"    AND o.status OPERATOR(pg_catalog.=) 'sending'",
	1, ended_types};

/* Whether the person ($1) is in any journey now: when not, 1 and 2 have nothing to do. */
static const Oid person_types[1] = {INT8OID};
static CrmSpiQuery enrolled_query = {
	"SELECT 1 FROM crm.journey_enrollment e"
	" WHERE e.contact_id OPERATOR(pg_catalog.=) $1 AND e.state OPERATOR(pg_catalog.=) 'active' LIMIT 1",
	1, person_types};

/* 2. awaited events: $1 the person, $2 the kind */
static const Oid awaited_types[2] = {INT8OID, TEXTOID};
static CrmSpiQuery awaited_query = {
	"UPDATE crm.journey_enrollment e SET next_run_at = pg_catalog.now()"
	"  FROM crm.journey_step s"
	" WHERE e.contact_id OPERATOR(pg_catalog.=) $1 AND e.state OPERATOR(pg_catalog.=) 'active'"
	"   AND e.waiting_since IS NOT NULL AND e.next_run_at OPERATOR(pg_catalog.>) pg_catalog.now()"
	"   AND s.journey_id OPERATOR(pg_catalog.=) e.journey_id AND s.version OPERATOR(pg_catalog.=) e.version"
	"   AND s.position OPERATOR(pg_catalog.=) e.position AND s.kind OPERATOR(pg_catalog.=) 'wait_for'"
	"   AND s.wait_event OPERATOR(pg_catalog.=) $2",
	2, awaited_types};

/* 3. enrollment */
typedef enum EnrollArg
{
	ENROLL_JOURNEY, ENROLL_CONTACT, ENROLL_EVENT, ENROLL_EMAIL, ENROLL_NARGS
} EnrollArg;
static const Oid enroll_types[ENROLL_NARGS] = {
	[ENROLL_JOURNEY] = INT8OID,[ENROLL_CONTACT] = INT8OID,[ENROLL_EVENT] = INT8OID,[ENROLL_EMAIL] = INT8OID};
static CrmSpiQuery enroll_query = {
	"SELECT r.enrollment_id FROM crm._enroll($1, $2, $3, $4) r", ENROLL_NARGS, enroll_types};

/* The new event, as the trigger reads it. */
typedef struct NewEvent
{
	int64		id;
	int64		contact_id;
	char	   *kind;
	Jsonb	   *properties;
	Datum		row;			/* the whole row, for trigger filters */
} NewEvent;

static Datum
column(HeapTuple tuple, TupleDesc desc, const char *name, bool *isnull)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "crm.event has no column \"%s\"", name);
	return heap_getattr(tuple, attnum, desc, isnull);
}

/* The text value of a top-level key of properties, or NULL. */
static char *
property_text(Jsonb *properties, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = (int) strlen(key);
	v = findJsonbValueFromContainer(&properties->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The email an event is about (email_sent, email_click, ...): properties.email_id, or 0. */
static int64
property_email_id(Jsonb *properties)
{
	JsonbValue	k;
	JsonbValue *v;
	char	   *text;
	char	   *end;
	int64		id;

	k.type = jbvString;
	k.val.string.val = "email_id";
	k.val.string.len = 8;
	v = findJsonbValueFromContainer(&properties->root, JB_FOBJECT, &k);

	if (v == NULL || v->type != jbvNumeric)
		return 0;
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	errno = 0;
	id = strtoi64(text, &end, 10);
	return (errno == 0 && *end == '\0' && id > 0) ? id : 0;
}

static Datum
int8_array(const int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static void
end_enrollments(const NewEvent *ev, CrmJourneyListener *listeners, int n)
{
	int64	   *ending = palloc(sizeof(int64) * Max(n, 1));
	int64	   *goals = palloc(sizeof(int64) * Max(n, 1));
	int			n_ending = 0;
	int			n_goals = 0;
	Datum		values[END_NARGS];
	bool		isnull;
	Datum		ended;

	for (int i = 0; i < n; i++)
	{
		bool		goal = listeners[i].goal_event != NULL && strcmp(listeners[i].goal_event, ev->kind) == 0;
		bool		exit = false;

		for (int k = 0; k < listeners[i].n_exit_events && !exit; k++)
			exit = strcmp(listeners[i].exit_events[k], ev->kind) == 0;
		if (goal || exit)
			ending[n_ending++] = listeners[i].id;
		if (goal)
			goals[n_goals++] = listeners[i].id;
	}
	if (n_ending == 0)
		return;
	values[END_CONTACT] = Int64GetDatum(ev->contact_id);
	values[END_JOURNEYS] = int8_array(ending, n_ending);
	values[END_GOALS] = int8_array(goals, n_goals);
	values[END_DETAIL] = CStringGetTextDatum(psprintf("event %s (" INT64_FORMAT ")", ev->kind, ev->id));
	crm_spi_execute(&end_query, values, NULL, false, 0);
	ended = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;					/* nobody was enrolled */
	crm_spi_execute(&cancel_query, &ended, NULL, false, 0);
	crm_spi_execute(&in_flight_query, &ended, NULL, false, 0);
}

static void
enroll(const NewEvent *ev, CrmJourneyListener *listeners, int n)
{
	char	   *segment = NULL;
	bool		is_segment_entered = strcmp(ev->kind, "segment_entered") == 0;

	if (is_segment_entered)
		segment = property_text(ev->properties, "segment");
	for (int i = 0; i < n; i++)
	{
		CrmJourneyListener *l = &listeners[i];
		Datum		values[ENROLL_NARGS];
		char		nulls[ENROLL_NARGS];
		int64		email_id;

		if (!l->active)
			continue;
		if (!((l->trigger_event != NULL && strcmp(l->trigger_event, ev->kind) == 0) ||
			  (is_segment_entered && segment != NULL && l->trigger_segment != NULL &&
			   strcmp(l->trigger_segment, segment) == 0)))
			continue;
		if (l->trigger_filter != NULL)
		{
			bool		isnull;
			Datum		pass = crm_journey_eval_sql(CRM_JOURNEY_FILTER, l->trigger_filter,
													psprintf("journey \"%s\"", l->key), &l->filter_plan,
													crm_owner_role(l->owner, psprintf("journey \"%s\"", l->key)),
													ev->row, &isnull, CurrentMemoryContext);

			if (isnull || !DatumGetBool(pass))
				continue;
		}
		email_id = property_email_id(ev->properties);
		memset(nulls, ' ', sizeof(nulls));
		values[ENROLL_JOURNEY] = Int64GetDatum(l->id);
		values[ENROLL_CONTACT] = Int64GetDatum(ev->contact_id);
		values[ENROLL_EVENT] = Int64GetDatum(ev->id);
		values[ENROLL_EMAIL] = Int64GetDatum(email_id);
		if (email_id == 0)
			nulls[ENROLL_EMAIL] = 'n';
		crm_spi_execute(&enroll_query, values, nulls, false, 0);
	}
}

/* Whether rel is crm.event (its OID remembered after the first check). */
static bool
is_event_table(Relation rel)
{
	static Oid	event_relid = InvalidOid;

	if (RelationGetRelid(rel) == event_relid)
		return true;
	if (strcmp(RelationGetRelationName(rel), "event") != 0 ||
		strcmp(get_namespace_name(RelationGetNamespace(rel)), CRM_SCHEMA) != 0)
		return false;
	event_relid = RelationGetRelid(rel);
	return true;
}

/*
 * crm_journey_event: the trigger function (see the file comment).
 */
Datum
crm_journey_event(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	NewEvent	ev;
	bool		isnull;
	bool		segments;
	int			interest;
	CrmJourneyListener *listeners;
	int			n;
	Oid			save_user;
	int			save_sec;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.journey_event() must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) || !is_event_table(trigdata->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.journey_event() must be an AFTER INSERT FOR EACH ROW trigger on crm.event")));
	if (crm_restoring())
		return PointerGetDatum(NULL);

	tuple = trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	ev.kind = TextDatumGetCString(column(tuple, desc, "kind", &isnull));
	interest = crm_journey_event_interest(ev.kind, &segments);
	if (segments && strcmp(ev.kind, "segment_entered") == 0)
		interest |= CRM_EVENT_ENROLLS;
	if (interest == 0)
		return PointerGetDatum(NULL);

	ev.id = DatumGetInt64(column(tuple, desc, "id", &isnull));
	ev.contact_id = DatumGetInt64(column(tuple, desc, "contact_id", &isnull));
	ev.properties = DatumGetJsonbP(column(tuple, desc, "properties", &isnull));
	ev.row = heap_copy_tuple_as_datum(tuple, desc);

	/* the journeys' tables are the extension's: change them with its privileges */
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(crm_extension_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	n = crm_journey_listeners(&listeners);
	crm_spi_connect();
	if (interest & (CRM_EVENT_ENDS | CRM_EVENT_AWAITED))
	{
		Datum		person = Int64GetDatum(ev.contact_id);

		if (crm_spi_execute(&enrolled_query, &person, NULL, false, 1) == 0)
			interest &= ~(CRM_EVENT_ENDS | CRM_EVENT_AWAITED);
	}
	if (interest & CRM_EVENT_ENDS)
		end_enrollments(&ev, listeners, n);
	if (interest & CRM_EVENT_AWAITED)
	{
		Datum		values[2] = {Int64GetDatum(ev.contact_id), CStringGetTextDatum(ev.kind)};

		crm_spi_execute(&awaited_query, values, NULL, false, 0);
	}
	if (interest & CRM_EVENT_ENROLLS)
		enroll(&ev, listeners, n);
	SPI_finish();
	SetUserIdAndSecContext(save_user, save_sec);
	return PointerGetDatum(NULL);
}
