/*
 * Isolation domains, pool side: a task's domain at submit, and which
 * worker makes room when no live one may take a task (isolation.h has
 * the rules themselves).
 */
#include <stdatomic.h>

#include "src/core/pool_internal.h"
#include "src/core/spares.h"

int pp_iso_domain_of(const struct process_pool *pool, const task_desc_t *d,
		     struct pp_iso_domain *out)
{
	if (d->isolation != 0 && d->isolation != POOL_ISOLATE_TASK)
		return POOL_EINVAL;
	out->key = d->isolation_key;
	out->once = pool->cfg.isolation == POOL_ISOLATE_TASK ||
		    d->isolation == POOL_ISOLATE_TASK;
	return 0;
}

/* The supervisor holds w: its fields are not a lane client's now. */
static int held(struct pp_worker *w)
{
	return atomic_load(&w->lane) == PP_LANE_SUPERVISOR;
}

/* A fresh process is on its way to slot w: none is needed from us. A
 * worker a lane client holds is running a task, so it is not fresh. */
static int fresh_coming(struct pp_worker *w)
{
	switch (w->state) {
	case PP_WORKER_LIVE:
		return held(w) && w->iso.sent == 0;
	case PP_WORKER_DYING:
		return 1; /* respawned once reaped */
	case PP_WORKER_EMPTY:
		return w->respawn_at_ns != 0;
	default:
		return 0;
	}
}

/*
 * Only when nothing fresh is coming (else a key that has its workers
 * would lose them to a burst of another), and only an idle worker the
 * supervisor holds: one at a time, the oldest-bound first in slot order.
 * Spares are not candidates; a live one means the evicted worker is
 * replaced at once, so a slot still on its way to a new process (which
 * will be a spare then) holds nothing back.
 */
struct pp_worker *pp_iso_evict(struct process_pool *pool,
			       const struct pp_iso_domain *d)
{
	struct pp_worker *pick = NULL;
	int i, spare = pp_spares_ready(pool) > 0;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (w->spare)
			continue;
		if (fresh_coming(w) &&
		    (!spare || w->state == PP_WORKER_LIVE))
			return NULL;
		if (!pick && w->state == PP_WORKER_LIVE && held(w) &&
		    !w->in_flight && !pp_iso_may_send(&w->iso, d))
			pick = w;
	}
	return pick;
}
