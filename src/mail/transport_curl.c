/*-------------------------------------------------------------------------
 * transport_curl.c
 *	  The libcurl engine of mail delivery: one multi handle for the
 *	  worker's life (so connections are reused), driven with
 *	  curl_multi_socket_action from a PostgreSQL WaitEventSet that also
 *	  holds the worker's latch and postmaster death.  It runs the protocols
 *	  of transport_curl.h (smtp, http) through their tables.
 *
 * Design notes:
 *	- curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 *	  when to call it back without I/O (CURLMOPT_TIMERFUNCTION).  The
 *	  callbacks only update a malloc'd socket table and a deadline; the wait
 *	  set is rebuilt before the next wait when a socket came or went (a
 *	  WaitEventSet cannot drop a socket) and modified in place when only the
 *	  direction changed, both outside the callbacks.
 *	- crm_curl_wait returns as soon as the latch is set (a commit
 *	  woke us, SIGTERM, SIGHUP), so the main loop's CHECK_FOR_INTERRUPTS and
 *	  config reload happen even while a transfer is stalled.  A worker that
 *	  dies mid-send leaves its rows in 'sending'; the next one re-queues them.
 *	- libcurl waits for the reply to the end of an SMTP message in a
 *	  blocking poll() of its own (its SMTP "done" phase is not multi-aware, a
 *	  known libcurl limitation).  A progress callback, which libcurl calls in
 *	  that wait too, aborts every transfer once SIGTERM has arrived, so the
 *	  worker still stops at once; a reload waits for the reply, at most
 *	  crm.send_timeout.
 *	- Nothing is cleaned up at exit: closing a cached SMTP connection sends
 *	  QUIT and waits for the reply, which a stalled server never gives.  The
 *	  kernel closes the sockets.
 *	- crm.max_in_flight bounds both the transfers the worker starts and
 *	  libcurl's connection pool (CURLMOPT_MAX_TOTAL_CONNECTIONS).
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <stdlib.h>

#include "mail/settings.h"
#include "mail/transport_curl.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

/* A socket curl asked us to watch. */
typedef struct CurlSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
	int			set_what;		/* what the wait set watches for it */
	int			pos;			/* its position in the wait set, or -1 */
} CurlSocket;

static CURLM *multi;
static int	pending;			/* transfers added to multi, not finished */

/* Socket table, maintained by socket_cb (malloc'd: callbacks may not ereport). */
static CurlSocket *sockets;
static int	nsockets;
static int	socket_capacity;
static bool sockets_changed;	/* added or removed since the set was built */
static bool sockets_modified;	/* a direction changed since the last wait */

/* curl's timer: when to call socket_action(CURL_SOCKET_TIMEOUT), or -1 */
static TimestampTz curl_deadline = -1;
static bool curl_timer_set;

static WaitEventSet *wait_set;
static int	wait_set_size;
static MemoryContext wait_cxt;

static int	socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int	progress_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow,
						curl_off_t ultotal, curl_off_t ulnow);
static int	timer_cb(CURLM *m, long timeout_ms, void *userp);
static void prepare_wait_set(void);
static uint32 wait_events_for(int what);
static void drain_finished(void);
static void start_transfer(CrmMailJob *job, const CrmCurlProtocol *protocol, bool fresh);
static void set_common(CrmCurlTransfer *t);

/*
 * crm_curl_startup: initialise libcurl and create the multi handle.
 * Called once, in the worker, after its connection is set up.
 */
void
crm_curl_startup(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(FATAL,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl")));
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	wait_cxt = AllocSetContextCreate(TopMemoryContext, "crm mail wait set",
									 ALLOCSET_SMALL_SIZES);
	sockets_changed = true;
	crm_curl_configure();
}

/*
 * crm_curl_configure: apply settings that belong to the multi handle.
 * Called at startup and after every configuration reload.
 */
void
crm_curl_configure(void)
{
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) crm_max_in_flight);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) crm_max_in_flight);
}

int
crm_curl_pending(void)
{
	return pending;
}

/*
 * set_common: options every curl transfer gets: our callbacks' context,
 * timeouts, the protocol's libcurl protocols only, no signals.
 */
static void
set_common(CrmCurlTransfer *t)
{
	CURL	   *e = t->easy;

	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, t->protocol->protocols);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) crm_connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) crm_send_timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
}

/*
 * progress_cb: libcurl's CURLOPT_XFERINFOFUNCTION.  Non-zero aborts the
 * transfer: done once SIGTERM has arrived (see the header comment).
 */
static int
progress_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	return ProcDiePending ? 1 : 0;
}

/*
 * crm_curl_begin: start delivering a job with a curl protocol: add it to
 * the multi handle, or finish it with a retry when it cannot be started.
 */
void
crm_curl_begin(CrmMailJob *job, const CrmCurlProtocol *protocol)
{
	start_transfer(job, protocol, false);
}

/*
 * start_transfer: a new easy handle for the job, on a new connection when
 * fresh is true, added to the multi handle.
 */
static void
start_transfer(CrmMailJob *job, const CrmCurlProtocol *protocol, bool fresh)
{
	MemoryContext old;
	CrmCurlTransfer *t;
	const char *problem;
	CURLMcode	mc;

	old = MemoryContextSwitchTo(job->cxt);
	t = palloc0(sizeof(CrmCurlTransfer));
	t->job = job;
	t->protocol = protocol;
	t->fresh = fresh;
	t->easy = curl_easy_init();
	MemoryContextSwitchTo(old);
	if (t->easy == NULL)
	{
		crm_job_done(job, CRM_OUTCOME_RETRY, 0, "could not create a libcurl handle");
		return;
	}
	set_common(t);
	problem = protocol->prepare(t);
	if (fresh)
		curl_easy_setopt(t->easy, CURLOPT_FRESH_CONNECT, 1L);
	if (problem == NULL &&
		(mc = curl_multi_add_handle(multi, t->easy)) != CURLM_OK)
		problem = curl_multi_strerror(mc);
	if (problem != NULL)
	{
		curl_easy_cleanup(t->easy);
		curl_slist_free_all(t->list);
		crm_job_done(job, CRM_OUTCOME_RETRY, 0, "%s", problem);
		return;
	}
	job->transfer = t;
	pending++;
}

/*
 * crm_curl_wait: wait up to timeout_ms (-1: no limit) for the latch,
 * postmaster death (which exits), or curl's sockets and timer, and let curl
 * make progress.  Returns early when the latch was set (it is reset);
 * finished transfers have their job's outcome set.
 */
void
crm_curl_wait(long timeout_ms)
{
	WaitEvent	events[16];
	int			nevents;
	int			i;
	bool		timer_due;
	int			running;

	if (curl_timer_set)
	{
		long		secs;
		int			usecs;
		long		curl_ms;

		TimestampDifference(GetCurrentTimestamp(), curl_deadline, &secs, &usecs);
		curl_ms = secs * 1000 + (usecs + 999) / 1000;
		if (timeout_ms < 0 || curl_ms < timeout_ms)
			timeout_ms = curl_ms;
	}

	prepare_wait_set();
	nevents = WaitEventSetWait(wait_set, timeout_ms, events, lengthof(events),
							   PG_WAIT_EXTENSION);
	for (i = 0; i < nevents; i++)
	{
		WaitEvent  *ev = &events[i];
		int			flags = 0;

		if (ev->events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			continue;
		}
		if (ev->events & WL_SOCKET_READABLE)
			flags |= CURL_CSELECT_IN;
		if (ev->events & WL_SOCKET_WRITEABLE)
			flags |= CURL_CSELECT_OUT;
		if (flags != 0)
			curl_multi_socket_action(multi, ev->fd, flags, &running);
	}

	timer_due = curl_timer_set && GetCurrentTimestamp() >= curl_deadline;
	if (timer_due)
	{
		curl_timer_set = false;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	drain_finished();
}

/*
 * drain_finished: hand every transfer curl has finished to its protocol's
 * finish function, which sets the job's outcome, and release the handle.
 * A message that met a pooled connection the server had closed (the
 * protocol's stale function says so) is sent again at once on a new
 * connection.
 */
static void
drain_finished(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		CrmCurlTransfer *t;
		CrmMailJob *job;
		CURLcode	rc;
		bool		again = false;

		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		job = t->job;
		curl_multi_remove_handle(multi, t->easy);
		if (!t->fresh && t->protocol->stale != NULL && t->protocol->stale(t, rc))
			again = true;
		else
			t->protocol->finish(t, rc);
		curl_easy_cleanup(t->easy);
		curl_slist_free_all(t->list);
		t->easy = NULL;
		t->list = NULL;
		job->transfer = NULL;
		pending--;
		if (again)
			start_transfer(job, t->protocol, true);
	}
}

/*
 * wait_events_for: the WaitEventSet events for a curl CURL_POLL_* value.
 */
static uint32
wait_events_for(int what)
{
	uint32		ev = 0;

	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= WL_SOCKET_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= WL_SOCKET_WRITEABLE;
	return ev;
}

/*
 * prepare_wait_set: make the wait set match the socket table: a fresh set
 * with the latch, postmaster death and every socket when sockets came or
 * went, otherwise the changed directions applied in place.
 */
static void
prepare_wait_set(void)
{
	int			i;

	if (!sockets_changed)
	{
		if (sockets_modified)
		{
			for (i = 0; i < nsockets; i++)
				if (sockets[i].set_what != sockets[i].what)
				{
					ModifyWaitEvent(wait_set, sockets[i].pos,
									wait_events_for(sockets[i].what), NULL);
					sockets[i].set_what = sockets[i].what;
				}
			sockets_modified = false;
		}
		return;
	}
	if (wait_set != NULL)
		FreeWaitEventSet(wait_set);
	MemoryContextReset(wait_cxt);
	wait_set_size = nsockets + 2;
	wait_set = CreateWaitEventSet(wait_cxt, wait_set_size);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < nsockets; i++)
	{
		sockets[i].pos = AddWaitEventToSet(wait_set, wait_events_for(sockets[i].what),
										   sockets[i].fd, NULL, NULL);
		sockets[i].set_what = sockets[i].what;
	}
	sockets_changed = false;
	sockets_modified = false;
}

/*
 * socket_cb: curl's CURLMOPT_SOCKETFUNCTION.  Keeps the socket table and
 * notes what the wait set must catch up with.  Returns -1 (which fails the
 * transfer) only when the table cannot grow.
 */
static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < nsockets; i++)
		if (sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < nsockets)
		{
			sockets[i] = sockets[nsockets - 1];
			nsockets--;
			sockets_changed = true;
		}
		return 0;
	}

	if (i == nsockets)
	{
		if (nsockets == socket_capacity)
		{
			int			cap = socket_capacity == 0 ? 16 : socket_capacity * 2;
			CurlSocket *grown = realloc(sockets, cap * sizeof(CurlSocket));

			if (grown == NULL)
				return -1;
			sockets = grown;
			socket_capacity = cap;
		}
		sockets[i].fd = fd;
		sockets[i].pos = -1;
		nsockets++;
		sockets_changed = true;
	}
	else if (sockets[i].what != what)
		sockets_modified = true;
	sockets[i].what = what;
	return 0;
}

/*
 * timer_cb: curl's CURLMOPT_TIMERFUNCTION.  -1 removes the timer; 0 means
 * "as soon as possible", which the next wait does with a zero timeout.
 */
static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		curl_timer_set = false;
	else
	{
		curl_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
		curl_timer_set = true;
	}
	return 0;
}
