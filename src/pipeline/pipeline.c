/*-------------------------------------------------------------------------
 * pipeline.c
 *	  Initialisation of the transition engine (src/pipeline), called once
 *	  per backend from _PG_init.
 *
 * The engine is three per-backend caches, each owned by its file and each
 * dropped by its own relcache callback:
 *	  rules_cache.c			the workflows, stages and allowed moves;
 *	  enforce_transition.c	the columns each enforce_transition trigger uses;
 *	  record_transition.c	the history table layout of each record_transition
 *							trigger.
 * The dependencies point one way: the triggers read the rules cache, and
 * the rules cache reads nothing of theirs.
 *-------------------------------------------------------------------------
 */
#include "rules.h"

void
crm_pipeline_init(void)
{
	crm_rules_cache_init();
	crm_transition_cache_init();
	crm_history_cache_init();
}
