/*-------------------------------------------------------------------------
 * journeys.h
 *	  Journeys and campaigns (src/journeys): what their C files share.
 *
 *	  journey_cache.c  per-backend caches of journey definitions: who
 *	                   listens to which event kinds, and each version's
 *	                   steps (immutable once written)
 *	  expression.c     the user's SQL of a journey (trigger_filter,
 *	                   condition, vars): checked when created, evaluated
 *	                   as the journey's owner through kept plans
 *	  event.c          the trigger on crm.event: goals, exits, awaited
 *	                   events and enrollment, in the event's transaction
 *	  runner.c         crm.run_journey_steps, the worker's journey duty
 *	  send.c           marketing mail of journeys and campaigns: render,
 *	                   track links, queue; crm.record_click
 *-------------------------------------------------------------------------
 */
#ifndef CRM_JOURNEYS_H
#define CRM_JOURNEYS_H

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "utils/jsonb.h"

/* Longest journey key (bytes). */
#define CRM_JOURNEY_KEY_MAX 100

/* What the user's SQL of a journey is, and what it sees. */
typedef enum CrmJourneySql
{
	CRM_JOURNEY_FILTER,			/* trigger_filter: boolean over e (crm.event) and c */
	CRM_JOURNEY_CONDITION,		/* branch condition: boolean over c and en */
	CRM_JOURNEY_VARS			/* send vars: jsonb over c and en */
} CrmJourneySql;

typedef enum CrmStepKind
{
	STEP_SEND, STEP_WAIT, STEP_WAIT_FOR, STEP_BRANCH, STEP_EXIT
} CrmStepKind;

/* One step of a journey version (a crm.journey_step row). */
typedef struct CrmJourneyStep
{
	int32		position;
	CrmStepKind kind;
	char	   *template_key;	/* send */
	char	   *vars;			/* send, may be NULL */
	Interval	delay;			/* wait */
	char	   *wait_event;		/* wait_for */
	Interval	timeout;		/* wait_for */
	char	   *condition;		/* branch */
	int32		then_position;	/* 0: the next position */
	int32		else_position;	/* 0: the next position */
	SPIPlanPtr	plan;			/* vars or condition, prepared on first use */
} CrmJourneyStep;

/* The steps of one version, by position. */
typedef struct CrmJourneyVersion
{
	int64		journey_id;
	int32		version;
	int			n_steps;
	CrmJourneyStep *steps;		/* sorted by position */
} CrmJourneyVersion;

/* A journey as the event trigger sees it. */
typedef struct CrmJourneyListener
{
	int64		id;
	char	   *key;
	char	   *owner;
	bool		active;			/* status active: enrolls */
	char	   *trigger_event;
	char	   *trigger_segment;
	char	   *trigger_filter;
	SPIPlanPtr	filter_plan;	/* prepared on first use */
	char	   *goal_event;
	int			n_exit_events;
	char	  **exit_events;
} CrmJourneyListener;

/* What an event kind means to the journeys (bits). */
#define CRM_EVENT_ENROLLS	0x01	/* some active journey's trigger_event */
#define CRM_EVENT_ENDS		0x02	/* some journey's goal or exit event */
#define CRM_EVENT_AWAITED	0x04	/* some wait_for step's wait_event */

/* journey_cache.c */
extern int	crm_journey_event_interest(const char *kind, bool *segment_triggers);
extern int	crm_journey_listeners(CrmJourneyListener **listeners);
extern CrmJourneyVersion *crm_journey_version(int64 journey_id, int32 version);
extern const CrmJourneyStep *crm_journey_step(const CrmJourneyVersion *v, int32 position);
extern int32 crm_journey_next_position(const CrmJourneyVersion *v, int32 position);
extern MemoryContext crm_journey_cache_context(void);

/* expression.c */
extern Datum crm_journey_eval_sql(CrmJourneySql what, const char *expression, const char *origin,
								  SPIPlanPtr *plan_slot, Oid owner, Datum row, bool *isnull,
								  MemoryContext result_context);

/* send.c */
extern bool crm_marketing_send(const char *template_key, const char *to_address, Jsonb *vars,
							   const char *idempotency_key, int64 contact_id, int64 *email_id);

/* The OID of the extension's owner, whose privileges the journey machinery runs with. */
extern Oid	crm_extension_owner(void);

#endif							/* CRM_JOURNEYS_H */
