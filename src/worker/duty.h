/*-------------------------------------------------------------------------
 * duty.h
 *	  The crm worker's duties: what a duty is, and the services the worker
 *	  offers a duty while it runs.
 *
 * One background process, "crm worker", serves the database named by
 * crm.database (src/worker/worker_main.c).  It does several jobs for
 * several features -- delivering mail, refreshing segments, sealing the
 * audit chain -- each a *duty*: a line in the table of duties
 * (src/worker/duties.c) naming the feature's own code.  The loop visits
 * the duties round robin; each visit runs ONE bounded batch and the duty
 * says when it wants to run next.  So adding a duty is one line in that
 * table plus the feature's function, and no duty can starve another.
 *
 * A duty is one of two kinds:
 *
 *	- a SQL duty (CRM_SQL_DUTY): a function crm.<function>(max integer)
 *	  RETURNS integer that does at most max items of work and returns how
 *	  many it did.  The worker calls it schema-qualified in one short
 *	  transaction of its own, as the function's owner (the extension's),
 *	  under search_path pg_catalog, pg_temp (a session setting, so the
 *	  function's own SET search_path applies).  A result equal to max means
 *	  more work is pending: it runs again at the next round (after the other
 *	  due duties); otherwise after crm.poll_interval.  While the function does
 *	  not exist (crm not installed yet, an older version during an upgrade,
 *	  a feature not merged yet) or the extension is being dropped, the duty
 *	  is skipped quietly and shown as "absent".  A function that knows when
 *	  its next work is due (a journey's next step) calls
 *	  crm_duty_run_again_at, and runs again then instead of after the poll.  Features written in SQL
 *	  need no C in the worker.
 *
 *	- a C duty: run(duty, woken) does one bounded batch -- its own short
 *	  transactions through crm_duty_begin()/crm_duty_commit() -- and returns
 *	  when it wants to run next (a time <= now: more work is pending,
 *	  DT_NOEND: nothing to do until woken).  Optional hooks: start() once when the
 *	  worker starts, reload() after SIGHUP.  At most one duty may own I/O
 *	  the worker must wait on between runs (the mail duty: libcurl's
 *	  sockets); it gives wait(timeout_ms), which must return when the
 *	  worker's latch is set, and is run after every wait.  Whatever a duty
 *	  asks, it runs again after crm.poll_interval at the latest.
 *
 * Bounds.  Every duty transaction has a time budget, crm.duty_timeout
 * (statement timeout); an error or a timeout aborts that transaction only:
 * the duty shows the error and is retried with a backoff (1 s doubling up
 * to crm.poll_interval) while the other duties go on.  Work stays bounded
 * by each duty's batch (max for SQL duties).
 *
 * Delivery hold.  A duty that sends mail or queues it (mail delivery,
 * journey steps, campaigns) is marked "delivers".  While the worker holds
 * delivery -- after a restore to a point in time, until an operator calls
 * crm.resume_delivery() (src/ops/restore_hold.c calls crm_worker_hold and
 * crm_worker_release) -- the loop does not run those duties: they show
 * "held", and crm.worker_status says why.  The other duties go on.
 *
 * Wake-on-commit.  crm_worker_wake_at_commit(duty) (src/worker/wake.c)
 * makes a duty due as soon as the calling transaction commits (the mail
 * outbox's trigger uses it); otherwise each duty runs when it asked to,
 * or after crm.poll_interval at the latest.
 *
 * What each duty reports (crm_duty_set_state, crm_duty_tally, ...) lives
 * in shared memory, one slot per duty, and is shown by the view
 * crm.worker_duties; crm.worker_status keeps the mail duty's columns.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_WORKER_DUTY_H
#define CRM_WORKER_DUTY_H

#include "datatype/timestamp.h"
#include "utils/backend_status.h"
#include "storage/latch.h"
#include "storage/spin.h"

#define CRM_WORKER_NAME "crm worker"

typedef struct CrmDuty CrmDuty;

/* One bounded batch; returns when to run next (<= now: more is pending). */
typedef TimestampTz (*CrmDutyRun) (const CrmDuty *duty, bool woken);

struct CrmDuty
{
	const char *name;			/* shown in crm.worker_duties */
	CrmDutyRun	run;
	void		(*start) (void);	/* optional, once per worker */
	void		(*reload) (void);	/* optional, after SIGHUP */
	void		(*wait) (long timeout_ms);	/* optional, see above */
	const char *sql_function;	/* SQL duty: crm.<sql_function>(max integer) */
	int			sql_max;		/* SQL duty: its max argument */
	bool		delivers;		/* sends or queues mail: held with delivery */
};

/* A SQL duty: name, function in schema crm, items per transaction. */
#define CRM_SQL_DUTY(name, function, max) \
	{(name), crm_sql_duty_run, NULL, NULL, NULL, (function), (max), false}
/* The same, for a duty that queues mail (journey steps, campaigns). */
#define CRM_SQL_DELIVERY_DUTY(name, function, max) \
	{(name), crm_sql_duty_run, NULL, NULL, NULL, (function), (max), true}

/* The table of duties (duties.c) and the runner of SQL duties (sql_duty.c). */
#define CRM_MAX_DUTIES 64
extern const CrmDuty crm_duties[];
extern const int crm_duty_count;
extern TimestampTz crm_sql_duty_run(const CrmDuty *duty, bool woken);

/* Index of the duty called name in crm_duties, or -1 (duties.c). */
extern int	crm_duty_index(const char *name);

/* The scheduling settings every duty is subject to (duty.c). */
extern int	crm_poll_interval_ms;
extern int	crm_duty_timeout_ms;

/* The database the worker serves, crm.database (defined by worker_init.c). */
extern char *crm_worker_database;

/*
 * Shared memory: the worker and each duty's slot.  Written by the worker,
 * read by crm.worker_status / crm.worker_duties; wake is set by any backend
 * (wake.c).  A slot's fields are protected by its mutex, the worker's by
 * the worker's.
 */
typedef struct CrmDutyShared
{
	slock_t		mutex;
	char		state[48];		/* what the duty is doing or waiting for */
	TimestampTz last_run_at;	/* when its latest transaction began */
	TimestampTz next_run_at;	/* when the worker will run it next */
	int64		backlog;		/* work waiting, -1 when unknown */
	int			in_progress;	/* items started and not finished */
	uint64		done;			/* items done since the worker started */
	uint64		failed;			/* items that failed for good */
	uint64		retried;		/* items that failed and will be retried */
	uint64		errors;			/* runs that ended in an error */
	char		last_error[256];
	TimestampTz last_error_at;
	bool		wake;			/* a commit asked for a run now */
} CrmDutyShared;

typedef struct CrmWorkerShared
{
	slock_t		mutex;
	pid_t		pid;			/* 0 when not running */
	Latch	   *latch;			/* its process latch, while running */
	Oid			database_id;
	TimestampTz started_at;
	char		state[48];		/* not started, starting, running, standby, stopped */
	char		hold_reason[256];	/* why delivery is held; "" when it is not */
	CrmDutyShared duties[FLEXIBLE_ARRAY_MEMBER];
} CrmWorkerShared;

/* NULL unless crm is in shared_preload_libraries (worker_init.c). */
extern CrmWorkerShared *crm_worker_shared;

/*
 * Services for the running duty (duty.c).  They act on the duty the loop
 * entered, and report nothing when it gave no slot.
 */
extern void crm_duty_begin(void);	/* transaction + snapshot + SPI + budget */
extern void crm_duty_commit(void);
extern void crm_duty_set_state(const char *state);
extern void crm_duty_set_in_progress(int n);
extern void crm_duty_set_backlog(int64 backlog);
extern void crm_duty_tally(uint64 done, uint64 failed, uint64 retried);
extern void crm_duty_note_error(const char *error);
extern void crm_duty_run_again_at(TimestampTz t);	/* run again by t (earliest wins) */
extern TimestampTz crm_duty_run_again_requested(void);

/*
 * The delivery hold (duty.c): while held, the loop runs no duty marked
 * "delivers".  Called by the duty that decides (src/ops/restore_hold.c).
 */
extern void crm_worker_hold(const char *reason);
extern void crm_worker_release(void);
extern bool crm_worker_held(void);

/* The loop's side of the services (duty.c). */
extern void crm_duty_define_settings(void);
extern void crm_duty_enter(const CrmDuty *duty, CrmDutyShared *slot);
extern bool crm_duty_states_changed(void);
extern bool crm_worker_hold_lifted(void);
extern void crm_worker_report_activity(BackendState state, const char *text);

/* Wake-on-commit (wake.c). */
extern void crm_worker_wake_at_commit(int duty_index);

#endif							/* CRM_WORKER_DUTY_H */
