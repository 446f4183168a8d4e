/*-------------------------------------------------------------------------
 * duties.c
 *	  The crm worker's table of duties: one line per duty (duty.h says what
 *	  a duty is).  The loop runs them round robin, in this order when
 *	  several are due at once.
 *
 * To add a duty, add a line: CRM_SQL_DUTY(name, function, max) for a SQL
 * function crm.<function>(max integer) RETURNS integer
 * (CRM_SQL_DELIVERY_DUTY when it queues mail, so a delivery hold holds it),
 * or a C duty's {name, run, start, reload, wait, NULL, 0, delivers} from
 * the feature's header.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "mail/delivery.h"
#include "ops/restore_hold.h"
#include "worker/duty.h"

const CrmDuty crm_duties[] = {
	/* holds delivery after a restore to a point in time (src/ops); first, so it decides before mail runs */
	{"restore hold", crm_restore_hold_run, crm_restore_hold_start, NULL, NULL, NULL, 0, false},
	/* outbox -> SMTP/HTTP/files (src/mail/delivery.c) */
	{"mail", crm_mail_duty_run, crm_mail_duty_start, crm_mail_duty_reload, crm_mail_duty_wait, NULL, 0, true},
	/* segments whose refresh_interval has elapsed, one per transaction (src/marketing) */
	CRM_SQL_DUTY("segments", "refresh_due_segments", 1),
	/* the audit log's hash chain (src/security) */
	CRM_SQL_DUTY("audit seal", "seal_audit", 10000),
	/* journey steps that are due, several per transaction (src/journeys/runner.c) */
	CRM_SQL_DELIVERY_DUTY("journeys", "run_journey_steps", 500),
	/* campaigns: audience snapshots, throttled sending, A/B winners (src/journeys) */
	CRM_SQL_DELIVERY_DUTY("campaigns", "run_campaigns", 500),
};

const int	crm_duty_count = lengthof(crm_duties);

/* A transaction's wake-ups are a bit mask (wake.c). */
StaticAssertDecl(lengthof(crm_duties) <= CRM_MAX_DUTIES, "too many duties");

/*
 * crm_duty_index: the index of the duty named name, or -1.
 */
int
crm_duty_index(const char *name)
{
	for (int i = 0; i < crm_duty_count; i++)
		if (strcmp(crm_duties[i].name, name) == 0)
			return i;
	return -1;
}
