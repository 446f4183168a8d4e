/*-------------------------------------------------------------------------
 * runner.c
 *	  crm.run_journey_steps(max_steps): the crm worker's "journeys" duty
 *	  (src/worker/duties.c), which runs the steps that are due.
 *
 * One call is one transaction of the worker (or of whoever calls it):
 *
 *	1. Claim.  One query locks up to max_steps due enrollments of active
 *	   journeys, oldest first, FOR UPDATE SKIP LOCKED -- so concurrent
 *	   runners never take the same enrollment, and an enrollment an event
 *	   is ending right now (its row locked by the event's transaction) is
 *	   left for later -- with what the steps need: the person's name,
 *	   address and time zone, the first instant outside the journey's quiet
 *	   hours and send days (crm.next_send_time), and, when the marketing_cap
 *	   setting is on, the times of the person's latest marketing messages.
 *	2. Run.  Each enrollment goes through steps until it must wait:
 *	     send      deferred (logged deferred_quiet_hours, due again at the
 *	               allowed time) inside quiet hours or off the send days;
 *	               capped (logged, due again when the oldest counted message
 *	               leaves the window) when the person has had the cap's
 *	               number of marketing messages, counting those queued
 *	               earlier in this batch; otherwise vars are evaluated as
 *	               the journey's owner and the mail queued (send.c) with the
 *	               idempotency key journey:<enrollment>:<position>:<visit>;
 *	               no consent or a suppressed address ends the enrollment
 *	               (exited), no address fails it;
 *	     wait      on entry: due again after delay; when due: go on;
 *	     wait_for  on entry: due again after timeout (an awaited event makes
 *	               it due at once, src/journeys/event.c); when due: go on if
 *	               the event happened since, else after the timeout take
 *	               else_position, else keep waiting;
 *	     branch    the condition, as the owner, picks then or else;
 *	     exit      completed; past the last step: completed too.
 *	   Moving to a position at or before the current one starts the next
 *	   visit (a loop, which must pass a wait), so the key
 *	   journey:<enrollment>:<position>:<visit> names each send exactly once.
 *	3. Record.  Every log row and every enrollment's new position, state and
 *	   due time are written by two array statements in the same transaction
 *	   as the mail.  So if the worker is killed at any instant, either all
 *	   of the batch happened -- mail queued, logged, advanced -- or none of
 *	   it did and the next run does it again: no step is queued twice and
 *	   none is skipped.
 *
 * Errors.  The batch runs in one subtransaction.  If a step fails because
 * of what a user wrote (a template with a missing variable, a condition
 * that divides by zero, an owner role that was dropped), the batch is
 * rolled back and run again one enrollment per subtransaction; the failing
 * enrollment is marked failed with the error logged, the others go on.
 * Errors that are not the enrollment's fault (cancellation, the duty's time
 * budget, deadlocks, lack of resources, internal errors) abort the call, to
 * be retried.  The subtransactions write nothing outside themselves, so a
 * batch uses one subtransaction id in the common case.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "marketing/run_as_owner.h"
#include "worker/duty.h"
#include "journeys/journeys.h"

PG_FUNCTION_INFO_V1(crm_run_journey_steps);
PG_FUNCTION_INFO_V1(crm_wake_journey_runner);
PG_FUNCTION_INFO_V1(crm_run_duty_again_at);

/* How often the worker counts the backlog it shows in crm.worker_duties. */
#define BACKLOG_EVERY_MS 5000

typedef enum ClaimArg
{
	CLAIM_MAX,					/* $1 how many */
	CLAIM_CAP_MESSAGES,			/* $2 the cap's messages, 0: no cap */
	CLAIM_CAP_PERIOD,			/* $3 the cap's period */
	CLAIM_TIME_ZONE,			/* $4 the company's time zone */
	CLAIM_NARGS
} ClaimArg;
static const Oid claim_types[CLAIM_NARGS] = {
	[CLAIM_MAX] = INT4OID,[CLAIM_CAP_MESSAGES] = INT4OID,[CLAIM_CAP_PERIOD] = INTERVALOID,
	[CLAIM_TIME_ZONE] = TEXTOID};

enum ClaimColumn
{
	COL_ID = 1, COL_JOURNEY, COL_VERSION, COL_CONTACT, COL_POSITION, COL_VISIT, COL_WAITING, COL_ROW,
	COL_KEY, COL_OWNER, COL_NAME, COL_EMAIL, COL_TIME_ZONE, COL_SEND_AT, COL_RECENT
};

static CrmSpiQuery claim_query = {
	"SELECT e.id, e.journey_id, e.version, e.contact_id, e.position, e.visit, e.waiting_since, e,"
	"       j.key, j.owner::pg_catalog.text, c.name, c.email::pg_catalog.text, z.tz,"
	"       CASE WHEN j.quiet_start IS NOT NULL OR j.send_days IS NOT NULL"
	"            THEN crm.next_send_time(pg_catalog.now(), z.tz, j.quiet_start, j.quiet_end, j.send_days) END,"
	"       CASE WHEN $2 OPERATOR(pg_catalog.>) 0 THEN"
	"            (SELECT pg_catalog.array_agg(r.created_at ORDER BY r.created_at DESC)"
	"               FROM (SELECT o.created_at FROM crm.email_outbox o"
	"                      WHERE o.contact_id OPERATOR(pg_catalog.=) e.contact_id"
	"                        AND o.category OPERATOR(pg_catalog.=) 'marketing'"
	"                        AND o.status OPERATOR(pg_catalog.<>) 'cancelled'"
	"                        AND o.created_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) $3)"
	"                      ORDER BY o.created_at DESC LIMIT $2) r) END"
	"  FROM crm.journey_enrollment e"
	"  JOIN crm.journey j ON j.id OPERATOR(pg_catalog.=) e.journey_id"
	"  JOIN crm.contact c ON c.id OPERATOR(pg_catalog.=) e.contact_id"
	"  LEFT JOIN crm.account a ON a.id OPERATOR(pg_catalog.=) c.account_id"
	"  CROSS JOIN LATERAL (SELECT COALESCE(c.time_zone::pg_catalog.text, a.time_zone::pg_catalog.text, $4) AS tz) z"
	" WHERE e.state OPERATOR(pg_catalog.=) 'active' AND e.next_run_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	"   AND j.status OPERATOR(pg_catalog.=) 'active'"
	" ORDER BY e.next_run_at, e.id"
	" LIMIT $1"
	" FOR UPDATE OF e SKIP LOCKED",
	CLAIM_NARGS, claim_types};

static CrmSpiQuery cap_query = {"SELECT m.messages, m.per FROM crm.marketing_cap_limit() m"};

static CrmSpiQuery backlog_query = {
	"SELECT pg_catalog.count(*) FROM crm.journey_enrollment e JOIN crm.journey j ON j.id OPERATOR(pg_catalog.=) e.journey_id"
	" WHERE e.state OPERATOR(pg_catalog.=) 'active' AND e.next_run_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	"   AND j.status OPERATOR(pg_catalog.=) 'active'"};

/* The next step due later, for the worker's schedule. */
static CrmSpiQuery next_due_query = {
	"SELECT e.next_run_at FROM crm.journey_enrollment e JOIN crm.journey j ON j.id OPERATOR(pg_catalog.=) e.journey_id"
	" WHERE e.state OPERATOR(pg_catalog.=) 'active' AND e.next_run_at OPERATOR(pg_catalog.>) pg_catalog.now()"
	"   AND j.status OPERATOR(pg_catalog.=) 'active'"
	" ORDER BY e.next_run_at LIMIT 1"};

/* $1 contact, $2 kind, $3 since */
static const Oid event_since_types[3] = {INT8OID, TEXTOID, TIMESTAMPTZOID};
static CrmSpiQuery event_since_query = {
	"SELECT 1 FROM crm.event ev WHERE ev.contact_id OPERATOR(pg_catalog.=) $1 AND ev.kind OPERATOR(pg_catalog.=) $2"
	" AND ev.occurred_at OPERATOR(pg_catalog.>=) $3 LIMIT 1",
	3, event_since_types};

/* $1 an address */
static const Oid address_types[1] = {TEXTOID};
static CrmSpiQuery suppressed_query = {
	"SELECT 1 FROM crm.email_suppression s WHERE s.address OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
	1, address_types};

typedef enum UpdateArg
{
	UPD_ID, UPD_STATE, UPD_POSITION, UPD_VISIT, UPD_NEXT_RUN, UPD_WAITING, UPD_REASON, UPD_NARGS
} UpdateArg;
static const Oid update_types[UPD_NARGS] = {
	[UPD_ID] = INT8ARRAYOID,[UPD_STATE] = TEXTARRAYOID,[UPD_POSITION] = INT4ARRAYOID,[UPD_VISIT] = INT4ARRAYOID,
	[UPD_NEXT_RUN] = TIMESTAMPTZARRAYOID,[UPD_WAITING] = TIMESTAMPTZARRAYOID,[UPD_REASON] = TEXTARRAYOID};
static CrmSpiQuery update_query = {
	"UPDATE crm.journey_enrollment e"
	"   SET state = u.state, position = u.position, visit = u.visit, next_run_at = u.next_run_at,"
	"       waiting_since = u.waiting_since, end_reason = u.end_reason,"
	"       ended_at = CASE WHEN u.state OPERATOR(pg_catalog.=) 'active' THEN NULL ELSE pg_catalog.now() END"
	"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),"
	"                 pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7))"
	"       AS u(id, state, position, visit, next_run_at, waiting_since, end_reason)"
	" WHERE e.id OPERATOR(pg_catalog.=) u.id",
	UPD_NARGS, update_types};

typedef enum LogArg
{
	LOG_ENROLLMENT, LOG_POSITION, LOG_VISIT, LOG_ACTION, LOG_OUTCOME, LOG_EMAIL, LOG_DETAIL, LOG_NARGS
} LogArg;
static const Oid log_types[LOG_NARGS] = {
	[LOG_ENROLLMENT] = INT8ARRAYOID,[LOG_POSITION] = INT4ARRAYOID,[LOG_VISIT] = INT4ARRAYOID,
	[LOG_ACTION] = TEXTARRAYOID,[LOG_OUTCOME] = TEXTARRAYOID,[LOG_EMAIL] = INT8ARRAYOID,
	[LOG_DETAIL] = TEXTARRAYOID};
static CrmSpiQuery log_query = {
	"INSERT INTO crm.journey_log (enrollment_id, position, visit, action, outcome, email_id, detail)"
	" SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
	"                         pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7))",
	LOG_NARGS, log_types};

/* One claimed enrollment, copied out of the claim's result. */
typedef struct Claim
{
	int64		id;
	int64		journey_id;
	int32		version;
	int64		contact_id;
	int32		position;
	int32		visit;
	TimestampTz waiting_since;	/* 0: not waiting */
	Datum		row;			/* the crm.journey_enrollment row, for conditions and vars */
	char	   *key;
	char	   *owner;
	char	   *name;
	char	   *email;			/* NULL: none */
	char	   *time_zone;
	TimestampTz send_at;		/* 0: no quiet hours or send days */
	int			n_recent;		/* latest marketing messages, newest first */
	TimestampTz *recent;
} Claim;

/* What becomes of an enrollment. */
typedef struct Update
{
	int64		id;
	const char *state;
	int32		position;
	int32		visit;
	TimestampTz next_run_at;	/* 0: NULL */
	TimestampTz waiting_since;	/* 0: NULL */
	char	   *end_reason;
} Update;

typedef struct LogRow
{
	int64		enrollment_id;
	int32		position;
	int32		visit;
	const char *action;
	const char *outcome;
	int64		email_id;		/* 0: NULL */
	char	   *detail;			/* NULL: NULL */
} LogRow;

typedef struct TallyEntry
{
	int64		contact_id;
	int			sent;
} TallyEntry;

typedef struct Batch
{
	TimestampTz now;
	int			cap_messages;	/* 0: no cap */
	Interval	cap_period;
	HTAB	   *tally;			/* contact -> marketing mail queued in this transaction */
	Update	   *updates;
	int			n_updates;
	int			max_updates;
	LogRow	   *log;
	int			n_log;
	int			max_log;
} Batch;

/* How a step ends the pass over an enrollment. */
typedef enum Flow
{
	FLOW_NEXT,					/* go on to *next */
	FLOW_WAIT,					/* stays at the step, due at next_run_at */
	FLOW_END					/* the enrollment ended */
} Flow;

/* The enrollment as it moves. */
typedef struct Walk
{
	const Claim *claim;
	const CrmJourneyVersion *version;
	Update		u;
	int32		next;			/* FLOW_NEXT: where to (0: past the last step) */
} Walk;

static TimestampTz
plus_interval(TimestampTz t, const Interval *i)
{
	return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(t),
												   IntervalPGetDatum(i)));
}

static void
add_log(Batch *b, const Walk *w, const char *action, const char *outcome, int64 email_id, char *detail)
{
	LogRow	   *row;

	if (b->n_log == b->max_log)
	{
		b->max_log *= 2;
		b->log = repalloc(b->log, sizeof(LogRow) * b->max_log);
	}
	row = &b->log[b->n_log++];
	row->enrollment_id = w->u.id;
	row->position = w->u.position;
	row->visit = w->u.visit;
	row->action = action;
	row->outcome = outcome;
	row->email_id = email_id;
	row->detail = detail;
}

static void
add_update(Batch *b, const Update *u)
{
	if (b->n_updates == b->max_updates)
	{
		b->max_updates *= 2;
		b->updates = repalloc(b->updates, sizeof(Update) * b->max_updates);
	}
	b->updates[b->n_updates++] = *u;
}

static Flow
end_walk(Walk *w, const char *state, char *reason)
{
	w->u.state = state;
	w->u.end_reason = reason;
	w->u.next_run_at = 0;
	w->u.waiting_since = 0;
	return FLOW_END;
}

static Flow
wait_until(Walk *w, TimestampTz at)
{
	w->u.next_run_at = at;
	return FLOW_WAIT;
}

static char *
format_time(TimestampTz t)
{
	return pstrdup(timestamptz_to_str(t));
}

/* The number of marketing messages the person had in the cap's window, and when the cap lets the next one go. */
static bool
capped(Batch *b, const Claim *c, TimestampTz *release)
{
	TallyEntry *entry;
	int			in_batch;
	int			nth;

	if (b->cap_messages <= 0)
		return false;
	entry = hash_search(b->tally, &c->contact_id, HASH_FIND, NULL);
	in_batch = entry ? entry->sent : 0;
	if (in_batch + c->n_recent < b->cap_messages)
		return false;
	/* the cap_messages-th newest message counted: this batch's (now), then the earlier ones */
	nth = b->cap_messages - 1;
	*release = plus_interval(nth < in_batch ? b->now : c->recent[nth - in_batch], &b->cap_period);
	return true;
}

/* {"contact_id": .., "email": .., "name": ..} and, over them, the step's vars. */
static Jsonb *
send_vars(Walk *w, const CrmJourneyStep *step)
{
	const Claim *c = w->claim;
	JsonbParseState *state = NULL;
	JsonbValue	k;
	JsonbValue	v;
	Jsonb	   *base;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "contact_id";
	k.val.string.len = 10;
	pushJsonbValue(&state, WJB_KEY, &k);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(c->contact_id)));
	pushJsonbValue(&state, WJB_VALUE, &v);
	k.val.string.val = "email";
	k.val.string.len = 5;
	pushJsonbValue(&state, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = c->email;
	v.val.string.len = (int) strlen(c->email);
	pushJsonbValue(&state, WJB_VALUE, &v);
	k.val.string.val = "name";
	k.val.string.len = 4;
	pushJsonbValue(&state, WJB_KEY, &k);
	v.val.string.val = c->name;
	v.val.string.len = (int) strlen(c->name);
	pushJsonbValue(&state, WJB_VALUE, &v);
	base = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));

	if (step->vars != NULL)
	{
		bool		isnull;
		CrmJourneyStep *cached = (CrmJourneyStep *) step;
		Datum		vars = crm_journey_eval_sql(CRM_JOURNEY_VARS, step->vars,
												psprintf("journey \"%s\", step %d", c->key, step->position),
												&cached->plan, crm_owner_role(c->owner, psprintf("journey \"%s\"", c->key)),
												c->row, &isnull, CurrentMemoryContext);

		if (!isnull)
		{
			Jsonb	   *extra = DatumGetJsonbP(vars);

			if (!JB_ROOT_IS_OBJECT(extra) || JB_ROOT_IS_SCALAR(extra))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the vars of step %d of journey \"%s\" are not a JSON object", step->position, c->key),
						 errhint("Build them with jsonb_build_object(...).")));
			base = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(base), JsonbPGetDatum(extra)));
		}
	}
	return base;
}

static Flow
run_send(Batch *b, Walk *w, const CrmJourneyStep *step)
{
	const Claim *c = w->claim;
	TimestampTz release;
	int64		email_id = 0;
	TallyEntry *entry;
	bool		found;

	if (c->send_at > b->now)
	{
		add_log(b, w, "send", "deferred_quiet_hours", 0,
				psprintf("deferred to %s (quiet hours or send days in %s)", format_time(c->send_at), c->time_zone));
		return wait_until(w, c->send_at);
	}
	if (capped(b, c, &release))
	{
		add_log(b, w, "send", "capped", 0,
				psprintf("marketing_cap %d per %s reached; waits until %s", b->cap_messages,
						 DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&b->cap_period))),
						 format_time(release)));
		return wait_until(w, release);
	}
	if (c->email == NULL)
	{
		add_log(b, w, "send", "failed", 0, pstrdup("the contact has no email address"));
		return end_walk(w, "failed", "the contact has no email address");
	}
	if (!crm_marketing_send(step->template_key, c->email, send_vars(w, step),
							psprintf("journey:" INT64_FORMAT ":%d:%d", c->id, w->u.position, w->u.visit),
							c->contact_id, &email_id))
	{
		Datum		address = CStringGetTextDatum(c->email);
		bool		suppressed = crm_spi_execute(&suppressed_query, &address, NULL, true, 1) > 0;

		add_log(b, w, "send", suppressed ? "suppressed" : "no_consent", 0,
				psprintf("template %s not sent: %s", step->template_key,
						 suppressed ? "the address is suppressed" : "no marketing consent"));
		return end_walk(w, "exited", suppressed ? "the address is suppressed" : "no marketing consent");
	}
	add_log(b, w, "send", "sent", email_id, psprintf("template %s", step->template_key));
	entry = hash_search(b->tally, &c->contact_id, HASH_ENTER, &found);
	entry->sent = found ? entry->sent + 1 : 1;
	w->next = step->then_position;
	return FLOW_NEXT;
}

static Flow
run_wait_for(Batch *b, Walk *w, const CrmJourneyStep *step)
{
	const Claim *c = w->claim;
	TimestampTz deadline;
	Datum		values[3];

	if (w->u.waiting_since == 0)
	{
		w->u.waiting_since = b->now;
		deadline = plus_interval(b->now, &step->timeout);
		add_log(b, w, "wait_for", "waiting", 0,
				psprintf("for event %s until %s", step->wait_event, format_time(deadline)));
		return wait_until(w, deadline);
	}
	values[0] = Int64GetDatum(c->contact_id);
	values[1] = CStringGetTextDatum(step->wait_event);
	values[2] = TimestampTzGetDatum(w->u.waiting_since);
	if (crm_spi_execute(&event_since_query, values, NULL, true, 1) > 0)
	{
		add_log(b, w, "wait_for", "branch_then", 0, psprintf("event %s happened", step->wait_event));
		w->next = step->then_position;
		return FLOW_NEXT;
	}
	deadline = plus_interval(w->u.waiting_since, &step->timeout);
	if (b->now < deadline)
		return wait_until(w, deadline);
	add_log(b, w, "wait_for", "timeout", 0, psprintf("no event %s by %s", step->wait_event, format_time(deadline)));
	w->next = step->else_position;
	return FLOW_NEXT;
}

static Flow
run_branch(Batch *b, Walk *w, const CrmJourneyStep *step)
{
	const Claim *c = w->claim;
	bool		isnull;
	CrmJourneyStep *cached = (CrmJourneyStep *) step;
	Datum		holds = crm_journey_eval_sql(CRM_JOURNEY_CONDITION, step->condition,
											 psprintf("journey \"%s\", step %d", c->key, step->position),
											 &cached->plan, crm_owner_role(c->owner, psprintf("journey \"%s\"", c->key)),
											 c->row, &isnull, CurrentMemoryContext);

	if (!isnull && DatumGetBool(holds))
	{
		add_log(b, w, "branch", "branch_then", 0, NULL);
		w->next = step->then_position;
	}
	else
	{
		add_log(b, w, "branch", "branch_else", 0, isnull ? pstrdup("the condition is null") : NULL);
		w->next = step->else_position;
	}
	return FLOW_NEXT;
}

/* Runs one enrollment's steps until it waits or ends; queues its update. */
static void
run_enrollment(Batch *b, const Claim *c)
{
	Walk		w;

	memset(&w, 0, sizeof(w));
	w.claim = c;
	w.version = crm_journey_version(c->journey_id, c->version);
	w.u.id = c->id;
	w.u.state = "active";
	w.u.position = c->position;
	w.u.visit = c->visit;
	w.u.waiting_since = c->waiting_since;

	/* no cycle without a wait (checked when created): at most every step once, then a wait or the end */
	for (int hops = 0; hops <= w.version->n_steps + 1; hops++)
	{
		const CrmJourneyStep *step = crm_journey_step(w.version, w.u.position);
		Flow		flow = FLOW_NEXT;

		w.next = 0;
		if (step == NULL)
		{
			add_log(b, &w, "end", "completed", 0, pstrdup("past the last step"));
			flow = end_walk(&w, "completed", "completed");
		}
		else
			switch (step->kind)
			{
				case STEP_SEND:
					flow = run_send(b, &w, step);
					break;
				case STEP_WAIT:
					if (w.u.waiting_since == 0)
					{
						TimestampTz until = plus_interval(b->now, &step->delay);

						w.u.waiting_since = b->now;
						add_log(b, &w, "wait", "waiting", 0, psprintf("until %s", format_time(until)));
						flow = wait_until(&w, until);
					}
					else
						w.next = step->then_position;
					break;
				case STEP_WAIT_FOR:
					flow = run_wait_for(b, &w, step);
					break;
				case STEP_BRANCH:
					flow = run_branch(b, &w, step);
					break;
				case STEP_EXIT:
					add_log(b, &w, "exit", "completed", 0, NULL);
					flow = end_walk(&w, "completed", "exit step");
					break;
			}
		if (flow != FLOW_NEXT)
		{
			add_update(b, &w.u);
			return;
		}
		/* on to the next step: a position at or before this one starts a new visit */
		if (w.next == 0)
			w.next = crm_journey_next_position(w.version, w.u.position);
		if (w.next == 0)
		{
			add_log(b, &w, "end", "completed", 0, pstrdup("past the last step"));
			end_walk(&w, "completed", "completed");
			add_update(b, &w.u);
			return;
		}
		if (w.next <= w.u.position)
			w.u.visit++;
		w.u.position = w.next;
		w.u.waiting_since = 0;
	}
	elog(ERROR, "journey \"%s\" version %d goes round without a wait", c->key, c->version);
}

static Datum
build_array(Datum *values, bool *nulls, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, type, typlen, typbyval, typalign));
}

/* Writes the batch's log rows and enrollment updates, and forgets them. */
static void
flush(Batch *b)
{
	int			n = Max(b->n_updates, b->n_log);
	Datum	   *v = palloc(sizeof(Datum) * Max(n, 1) * 7);
	bool	   *isnull = palloc0(sizeof(bool) * Max(n, 1) * 7);
	Datum		args[7];

	if (b->n_log > 0)
	{
		int			m = b->n_log;

		for (int i = 0; i < m; i++)
		{
			LogRow	   *r = &b->log[i];

			v[LOG_ENROLLMENT * m + i] = Int64GetDatum(r->enrollment_id);
			v[LOG_POSITION * m + i] = Int32GetDatum(r->position);
			v[LOG_VISIT * m + i] = Int32GetDatum(r->visit);
			v[LOG_ACTION * m + i] = CStringGetTextDatum(r->action);
			v[LOG_OUTCOME * m + i] = CStringGetTextDatum(r->outcome);
			v[LOG_EMAIL * m + i] = Int64GetDatum(r->email_id);
			isnull[LOG_EMAIL * m + i] = r->email_id == 0;
			v[LOG_DETAIL * m + i] = r->detail ? CStringGetTextDatum(r->detail) : (Datum) 0;
			isnull[LOG_DETAIL * m + i] = r->detail == NULL;
		}
		for (int a = 0; a < LOG_NARGS; a++)
			args[a] = build_array(&v[a * m], &isnull[a * m], m, get_element_type(log_types[a]));
		crm_spi_execute(&log_query, args, NULL, false, 0);
		memset(isnull, 0, sizeof(bool) * Max(n, 1) * 7);
	}
	if (b->n_updates > 0)
	{
		int			m = b->n_updates;

		for (int i = 0; i < m; i++)
		{
			Update	   *u = &b->updates[i];

			v[UPD_ID * m + i] = Int64GetDatum(u->id);
			v[UPD_STATE * m + i] = CStringGetTextDatum(u->state);
			v[UPD_POSITION * m + i] = Int32GetDatum(u->position);
			v[UPD_VISIT * m + i] = Int32GetDatum(u->visit);
			v[UPD_NEXT_RUN * m + i] = TimestampTzGetDatum(u->next_run_at);
			isnull[UPD_NEXT_RUN * m + i] = u->next_run_at == 0;
			v[UPD_WAITING * m + i] = TimestampTzGetDatum(u->waiting_since);
			isnull[UPD_WAITING * m + i] = u->waiting_since == 0;
			v[UPD_REASON * m + i] = u->end_reason ? CStringGetTextDatum(u->end_reason) : (Datum) 0;
			isnull[UPD_REASON * m + i] = u->end_reason == NULL;
		}
		for (int a = 0; a < UPD_NARGS; a++)
			args[a] = build_array(&v[a * m], &isnull[a * m], m, get_element_type(update_types[a]));
		crm_spi_execute(&update_query, args, NULL, false, 0);
	}
	b->n_log = 0;
	b->n_updates = 0;
}

static HTAB *
new_tally(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(TallyEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("crm journey sends", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Errors that are not an enrollment's fault: the call fails and is retried. */
static bool
retry_later(const ErrorData *e)
{
	int			category = ERRCODE_TO_CATEGORY(e->sqlerrcode);

	return category == ERRCODE_OPERATOR_INTERVENTION || category == ERRCODE_INSUFFICIENT_RESOURCES ||
		category == ERRCODE_TRANSACTION_ROLLBACK || category == ERRCODE_SYSTEM_ERROR ||
		category == ERRCODE_INTERNAL_ERROR || e->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
}

/*
 * Runs claims[from..to) and flushes, in a subtransaction; returns NULL, or
 * the error of an enrollment's fault after rolling back (others are
 * re-thrown).
 */
static ErrorData *
run_in_subtransaction(Batch *b, Claim *claims, int from, int to)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (int i = from; i < to; i++)
			run_enrollment(b, &claims[i]);
		flush(b);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (retry_later(e))
			ReThrowError(e);
		error = e;
		b->n_log = 0;
		b->n_updates = 0;
	}
	PG_END_TRY();
	return error;
}

static TimestampTz
timestamp_column(HeapTuple row, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, column, &isnull);

	return isnull ? 0 : DatumGetTimestampTz(d);
}

static void
copy_claim(HeapTuple row, TupleDesc desc, Claim *c)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		isnull;
	Datum		recent;

	c->id = DatumGetInt64(SPI_getbinval(row, desc, COL_ID, &isnull));
	c->journey_id = DatumGetInt64(SPI_getbinval(row, desc, COL_JOURNEY, &isnull));
	c->version = DatumGetInt32(SPI_getbinval(row, desc, COL_VERSION, &isnull));
	c->contact_id = DatumGetInt64(SPI_getbinval(row, desc, COL_CONTACT, &isnull));
	c->position = DatumGetInt32(SPI_getbinval(row, desc, COL_POSITION, &isnull));
	c->visit = DatumGetInt32(SPI_getbinval(row, desc, COL_VISIT, &isnull));
	c->waiting_since = timestamp_column(row, desc, COL_WAITING);
	c->row = datumCopy(SPI_getbinval(row, desc, COL_ROW, &isnull), false, -1);
	c->key = crm_spi_text(row, desc, COL_KEY, cxt);
	c->owner = crm_spi_text(row, desc, COL_OWNER, cxt);
	c->name = crm_spi_text(row, desc, COL_NAME, cxt);
	c->email = crm_spi_text(row, desc, COL_EMAIL, cxt);
	c->time_zone = crm_spi_text(row, desc, COL_TIME_ZONE, cxt);
	c->send_at = timestamp_column(row, desc, COL_SEND_AT);
	recent = SPI_getbinval(row, desc, COL_RECENT, &isnull);
	c->n_recent = 0;
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(DatumGetArrayTypeP(recent), TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL,
						  TYPALIGN_DOUBLE, &elems, &nulls, &c->n_recent);
		c->recent = palloc(sizeof(TimestampTz) * Max(c->n_recent, 1));
		for (int i = 0; i < c->n_recent; i++)
			c->recent[i] = DatumGetTimestampTz(elems[i]);
	}
}

/*
 * In the worker: when the next step is due (so the duty runs then, not
 * after crm.poll_interval), and now and then how many are due, for
 * crm.worker_duties.
 */
static void
report_schedule(void)
{
	static TimestampTz counted_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	bool		isnull;

	if (crm_worker_shared == NULL || crm_worker_shared->pid != MyProcPid)
		return;
	/* not read-only: the query must see the updates this call made */
	if (crm_spi_execute(&next_due_query, NULL, NULL, false, 1) > 0)
		crm_duty_run_again_at(DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
																1, &isnull)));
	if (!TimestampDifferenceExceeds(counted_at, now, BACKLOG_EVERY_MS))
		return;
	counted_at = now;
	crm_spi_execute(&backlog_query, NULL, NULL, false, 1);
	crm_duty_set_backlog(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
}

/*
 * crm.run_journey_steps(max_steps): see the file comment; returns how many
 * enrollments it claimed.
 */
Datum
crm_run_journey_steps(PG_FUNCTION_ARGS)
{
	int32		max_steps = PG_GETARG_INT32(0);
	Datum		values[CLAIM_NARGS];
	char		nulls[CLAIM_NARGS];
	char	   *company_zone = crm_setting_value("time_zone");
	Batch		b;
	Claim	   *claims;
	int			n;
	bool		isnull;

	if (max_steps < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_steps must be at least 1")));
	crm_spi_connect();
	memset(&b, 0, sizeof(b));
	b.now = GetCurrentTransactionStartTimestamp();
	crm_spi_execute(&cap_query, NULL, NULL, true, 1);
	b.cap_messages = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		b.cap_messages = 0;
	else
		b.cap_period = *DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	memset(nulls, ' ', sizeof(nulls));
	values[CLAIM_MAX] = Int32GetDatum(max_steps);
	values[CLAIM_CAP_MESSAGES] = Int32GetDatum(b.cap_messages);
	values[CLAIM_CAP_PERIOD] = IntervalPGetDatum(&b.cap_period);
	if (b.cap_messages == 0)
		nulls[CLAIM_CAP_PERIOD] = 'n';
	values[CLAIM_TIME_ZONE] = CStringGetTextDatum(company_zone ? company_zone : "UTC");
	n = (int) crm_spi_execute(&claim_query, values, nulls, false, max_steps);
	claims = palloc(sizeof(Claim) * Max(n, 1));
	for (int i = 0; i < n; i++)
		copy_claim(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &claims[i]);
	SPI_freetuptable(SPI_tuptable);

	if (n > 0)
	{
		b.max_updates = n;
		b.updates = palloc(sizeof(Update) * n);
		b.max_log = 2 * n;
		b.log = palloc(sizeof(LogRow) * b.max_log);
		b.tally = new_tally();
		if (run_in_subtransaction(&b, claims, 0, n) != NULL)
		{
			/* one enrollment's fault: again one by one, failing only the faulty */
			for (int i = 0; i < n; i++)
			{
				ErrorData  *e;

				hash_destroy(b.tally);
				b.tally = new_tally();
				e = run_in_subtransaction(&b, claims, i, i + 1);
				if (e != NULL)
				{
					Walk		w;

					memset(&w, 0, sizeof(w));
					w.claim = &claims[i];
					w.u.id = claims[i].id;
					w.u.position = claims[i].position;
					w.u.visit = claims[i].visit;
					add_log(&b, &w, "end", "failed", 0, psprintf("%s", e->message));
					end_walk(&w, "failed", psprintf("step %d failed: %s", claims[i].position, e->message));
					add_update(&b, &w.u);
					flush(&b);
				}
			}
		}
	}
	report_schedule();
	SPI_finish();
	PG_RETURN_INT32(n);
}

/*
 * crm_wake_journey_runner: statement trigger on crm.journey_enrollment
 * (new or rescheduled enrollments) and crm.journey (a status change); the
 * worker's journey duty runs as soon as the transaction commits.
 */
Datum
crm_wake_journey_runner(PG_FUNCTION_ARGS)
{
	static int	duty = -2;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.wake_journey_runner() must be called as a trigger")));
	if (crm_restoring())
		return PointerGetDatum(NULL);
	if (duty == -2)
		duty = crm_duty_index("journeys");
	crm_worker_wake_at_commit(duty);
	return PointerGetDatum(NULL);
}

/*
 * crm._run_duty_again_at(at): in the crm worker, the SQL duty running now
 * (the campaigns) runs again by at instead of after crm.poll_interval;
 * elsewhere nothing.
 */
Datum
crm_run_duty_again_at(PG_FUNCTION_ARGS)
{
	crm_duty_run_again_at(PG_GETARG_TIMESTAMPTZ(0));
	PG_RETURN_VOID();
}
