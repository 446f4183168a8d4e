/*-------------------------------------------------------------------------
 * logistic.h
 *	  Declarations shared by crm.logreg's aggregate (logistic.c) and its
 *	  separation test (logistic_separation.c).
 *-------------------------------------------------------------------------
 */
#ifndef CRM_FORECAST_LOGISTIC_H
#define CRM_FORECAST_LOGISTIC_H

#include "regression.h"

typedef enum CrmSeparation
{
	CRM_SEPARATION_NONE,		/* the maximum likelihood estimate exists */
	CRM_SEPARATION_FOUND,		/* (quasi-)complete separation: it does not */
	CRM_SEPARATION_UNKNOWN		/* the linear program did not settle it */
} CrmSeparation;

/*
 * Test the rows of crm.logreg (features in values, outcome in flags) for
 * separation, with features seen as (x_j − mean_j) × inv_sd_j.  The design
 * must have full column rank.
 */
extern CrmSeparation crm_logreg_separation(const CrmRows *rows, const double *mean,
										   const double *inv_sd);

#endif							/* CRM_FORECAST_LOGISTIC_H */
