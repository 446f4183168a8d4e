/*-------------------------------------------------------------------------
 * settings.h
 *	  The general settings of mail delivery (settings.c), read by the
 *	  delivery duty, its queue SQL and the libcurl engine.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_MAIL_SETTINGS_H
#define CRM_MAIL_SETTINGS_H

extern int	crm_max_in_flight;
extern double crm_send_rate;
extern int	crm_connect_timeout_ms;
extern int	crm_send_timeout_ms;
extern int	crm_max_attempts;
extern int	crm_retry_delay_ms;
extern int	crm_retry_max_delay_ms;
extern int	crm_mail_retention_s;

extern void crm_mail_settings_init(void);

#endif							/* CRM_MAIL_SETTINGS_H */
