/*-------------------------------------------------------------------------
 * settings.c
 *	  The general settings (GUCs) of mail delivery, the crm worker's "mail"
 *	  duty: concurrency, rate, timeouts, retries and retention.  Each
 *	  transport defines its own (transport_file.c, transport_smtp.c,
 *	  transport_http.c), the dispatcher crm.mail_transport (transport.c),
 *	  and the worker crm.database and crm.poll_interval (src/worker).
 *
 * They are defined in every process that loads crm, so SHOW works
 * everywhere.
 *-------------------------------------------------------------------------
 */
#include "crm.h"

#include <float.h>
#include <limits.h>

#include "mail/settings.h"
#include "utils/guc.h"

int			crm_max_in_flight;
double		crm_send_rate;
int			crm_connect_timeout_ms;
int			crm_send_timeout_ms;
int			crm_max_attempts;
int			crm_retry_delay_ms;
int			crm_retry_max_delay_ms;
int			crm_mail_retention_s;

/*
 * crm_mail_settings_init: define them (from crm_mail_delivery_init).
 */
void
crm_mail_settings_init(void)
{
	DefineCustomIntVariable("crm.max_in_flight",
							"Largest number of messages the crm worker delivers at the same time.",
							"Also the size of its pool of SMTP or HTTP connections.",
							&crm_max_in_flight, 16, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("crm.send_rate",
							 "Largest number of messages per second the crm worker starts; 0 means no limit.",
							 NULL, &crm_send_rate, 0.0, 0.0, 1000000.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.connect_timeout",
							"Time allowed to connect to the SMTP or HTTP server.",
							NULL, &crm_connect_timeout_ms, 10000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.send_timeout",
							"Time allowed for one delivery, connecting included.",
							"A delivery that takes longer is abandoned and retried.",
							&crm_send_timeout_ms, 60000, 100, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.max_attempts",
							"Deliveries tried before a temporarily failing message is marked failed.",
							NULL, &crm_max_attempts, 8, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.retry_delay",
							"Wait before the first retry of a temporarily failed message.",
							"Each further retry waits twice as long, up to crm.retry_max_delay; "
							"the wait is then shortened by a random amount of up to half.",
							&crm_retry_delay_ms, 60000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.retry_max_delay",
							"Longest wait between two deliveries of the same message.",
							NULL, &crm_retry_max_delay_ms, 3600000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("crm.mail_retention",
							"Age after which sent, failed and cancelled messages are deleted; 0 keeps them.",
							"The crm worker deletes them in small batches, with their delivery log.",
							&crm_mail_retention_s, 30 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}
