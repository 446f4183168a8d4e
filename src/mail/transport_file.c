/*-------------------------------------------------------------------------
 * transport_file.c
 *	  The file transport (the default, needing no server): each message
 *	  becomes one RFC 5322 file "<message id>.eml" in crm.mail_dir (relative
 *	  to the data directory unless absolute), written atomically: a
 *	  temporary file in the same directory, fsync, rename, fsync of the
 *	  directory.  A reader never sees a partial file; a retry of the same
 *	  message replaces its file, so duplicates cannot appear here.
 *
 * The file name is the Message-ID without its angle brackets, with every
 * character other than letters, digits and ".@+=_-" replaced by "_".
 * Failures (a missing or read-only directory, a full disk) are retried.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "mail/transport.h"
#include "storage/fd.h"
#include "utils/guc.h"
#include "utils/memutils.h"

static char *crm_mail_dir;

static char *file_name_for(const char *message_id);
static bool write_durably(const char *tmp, const char *path, const char *dir,
						  const char *data, size_t len, const char **step);

/*
 * crm_file_define_settings: the file transport's GUC (from _PG_init).
 */
void
crm_file_define_settings(void)
{
	DefineCustomStringVariable("crm.mail_dir",
							   "Directory the file transport writes messages into.",
							   "A relative path is relative to the data directory.",
							   &crm_mail_dir, "crm_mail",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/*
 * crm_file_deliver: write job's message and finish the job.
 */
void
crm_file_deliver(CrmMailJob *job)
{
	MemoryContext old = MemoryContextSwitchTo(job->cxt);
	const char *dir = crm_mail_dir;
	char	   *name = file_name_for(job->message_id);
	char	   *path = psprintf("%s/%s.eml", dir, name);
	char	   *tmp = psprintf("%s/.%s.tmp", dir, name);
	const char *step = NULL;

	MemoryContextSwitchTo(old);
	if (dir == NULL || dir[0] == '\0')
		crm_job_done(job, CRM_OUTCOME_RETRY, 0, "crm.mail_dir is not set.");
	else if (pg_mkdir_p(pstrdup(dir), pg_dir_create_mode) != 0)
		crm_job_done(job, CRM_OUTCOME_RETRY, 0, "could not create directory \"%s\": %m", dir);
	else if (!write_durably(tmp, path, dir, job->raw, job->raw_len, &step))
	{
		int			save_errno = errno;

		unlink(tmp);
		errno = save_errno;
		crm_job_done(job, CRM_OUTCOME_RETRY, 0, "could not %s \"%s\": %m", step, path);
	}
	else
		crm_job_done(job, CRM_OUTCOME_SENT, 0, "written to %s", path);
}

/*
 * write_durably: write data to tmp, fsync it, rename it to path and fsync
 * dir.  On failure returns false with errno set and *step naming what
 * failed.
 */
static bool
write_durably(const char *tmp, const char *path, const char *dir,
			  const char *data, size_t len, const char **step)
{
	int			fd;
	size_t		done = 0;

	*step = "create";
	fd = OpenTransientFile(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		return false;
	*step = "write";
	while (done < len)
	{
		ssize_t		n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			if (n == 0)
				errno = ENOSPC;
			CloseTransientFile(fd);
			return false;
		}
		done += n;
	}
	*step = "fsync";
	if (pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		return false;
	}
	if (CloseTransientFile(fd) != 0)
		return false;
	*step = "rename into";
	if (rename(tmp, path) != 0)
		return false;
	*step = "fsync the directory of";
	fd = OpenTransientFile(dir, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	if (pg_fsync(fd) != 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		return false;
	}
	CloseTransientFile(fd);
	return true;
}

/*
 * file_name_for: a safe file name (without extension) for a Message-ID.
 */
static char *
file_name_for(const char *message_id)
{
	size_t		len = strlen(message_id);
	char	   *name;
	size_t		i;

	if (len >= 2 && message_id[0] == '<' && message_id[len - 1] == '>')
	{
		message_id++;
		len -= 2;
	}
	len = Min(len, 200);
	name = palloc(len + 1);
	for (i = 0; i < len; i++)
	{
		char		c = message_id[i];

		name[i] = isalnum((unsigned char) c) || strchr(".@+=_-", c) != NULL ? c : '_';
	}
	name[len] = '\0';
	if (len == 0 || name[0] == '.')
		return psprintf("m%s", name);
	return name;
}
