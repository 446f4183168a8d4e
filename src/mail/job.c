/*-------------------------------------------------------------------------
 * job.c
 *	  A claimed message's outcome (job.h): set once by the transport that
 *	  delivered it, named in the words the delivery log uses.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include "lib/stringinfo.h"
#include "mail/job.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

static const char *const outcome_names[] = {
	[CRM_OUTCOME_PENDING] = "pending",
	[CRM_OUTCOME_SENT] = "sent",
	[CRM_OUTCOME_RETRY] = "retry",
	[CRM_OUTCOME_FAILED] = "failed",
};

/*
 * crm_job_done: set a job's outcome, response code and detail.  The detail
 * is allocated in the job's context; a job finishes only once.  Servers'
 * replies end up in the detail, so it is reduced to printable ASCII (any
 * other byte becomes '?'): it must be storable in a database of any
 * encoding.
 */
void
crm_job_done(CrmMailJob *job, CrmMailOutcome outcome, int code, const char *fmt,...)
{
	int			save_errno = errno;	/* for %m */
	MemoryContext old = MemoryContextSwitchTo(job->cxt);
	StringInfoData buf;

	Assert(job->outcome == CRM_OUTCOME_PENDING);
	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		errno = save_errno;
		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	for (char *c = buf.data; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	job->outcome = outcome;
	job->response_code = code;
	job->detail = buf.data;
	job->finished_at = GetCurrentTimestamp();
	MemoryContextSwitchTo(old);
}

const char *
crm_job_outcome_name(CrmMailOutcome outcome)
{
	Assert(outcome >= 0 && outcome < lengthof(outcome_names));
	return outcome_names[outcome];
}
