/*-------------------------------------------------------------------------
 * restore_hold.h
 *	  The restore hold, a duty of the crm worker (src/worker/duty.h): after
 *	  a restore to a point in time, delivery waits for crm.resume_delivery().
 *-------------------------------------------------------------------------
 */
#ifndef CRM_OPS_RESTORE_HOLD_H
#define CRM_OPS_RESTORE_HOLD_H

#include "worker/duty.h"

extern void crm_restore_hold_start(void);
extern TimestampTz crm_restore_hold_run(const CrmDuty *duty, bool woken);

#endif							/* CRM_OPS_RESTORE_HOLD_H */
