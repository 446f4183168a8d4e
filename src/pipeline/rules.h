/*-------------------------------------------------------------------------
 * rules.h
 *	  The transition rules as the engine sees them: every workflow
 *	  (crm.pipeline row) with its stages and allowed moves, cached per
 *	  backend.
 *
 * The cache is loaded with three queries the first time a trigger needs it
 * and dropped whenever crm.pipeline, crm.stage or crm.stage_transition
 * change (crm.rules_changed sends a relcache invalidation for the changed
 * table; our relcache callback notices it).  Callers get a pointer that
 * stays valid until the next invalidation is processed, which cannot happen
 * while a trigger runs without acquiring new locks or reading the rules again:
 * take what you need from it, then let go.
 *-------------------------------------------------------------------------
 */
#ifndef CRM_PIPELINE_RULES_H
#define CRM_PIPELINE_RULES_H

#include "crm.h"

typedef enum CrmStageKind
{
	CRM_STAGE_OPEN,
	CRM_STAGE_WON,
	CRM_STAGE_LOST
} CrmStageKind;

typedef struct CrmStage
{
	const char *key;
	int			key_len;
	const char *label;
	CrmStageKind kind;
	Datum		probability;	/* numeric, in the cache's memory */
	int			n_required;
	const char **required_fields;
} CrmStage;

typedef struct CrmWorkflow
{
	int64		id;				/* hash key: crm.pipeline.id */
	const char *name;
	const char *object_type;
	bool		is_default;
	int			n_stages;		/* in position order */
	CrmStage   *stages;
	bool	   *allowed;		/* allowed[from * n_stages + to] */
} CrmWorkflow;

extern CrmWorkflow *crm_workflow_by_id(int64 id);
extern CrmWorkflow *crm_workflow_by_name(const char *name);
extern CrmWorkflow *crm_default_workflow(const char *object_type);
extern int	crm_stage_index(const CrmWorkflow *wf, const char *key, int key_len);

/* Each file's per-backend cache set-up, called by crm_pipeline_init (pipeline.c). */
extern void crm_rules_cache_init(void);
extern void crm_transition_cache_init(void);
extern void crm_history_cache_init(void);

extern bool crm_transition_allowed(const CrmWorkflow *wf, int from, int to);
extern char *crm_describe_stages(const CrmWorkflow *wf, int from, bool open_only);

#endif							/* CRM_PIPELINE_RULES_H */
