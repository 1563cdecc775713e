/*
 * Spare workers: started ahead of need, promoted when an active worker
 * goes (spares.h).
 */
#include "src/core/spares.h"

#include <stdatomic.h>

#include "src/core/log.h"
#include "src/core/pool_internal.h"

void pp_spares_publish(struct process_pool *pool)
{
	atomic_store(&pool->active_workers,
		     pool->live_workers - pool->live_spares);
	atomic_store(&pool->spare_workers, pool->live_spares);
}

int pp_spares_spawn(struct process_pool *pool, struct pp_worker *w)
{
	int err = pp_supervisor_spawn(pool, w);

	if (err)
		return err;
	w->spare = 1;
	atomic_store(&w->info_spare, 1);
	pool->live_spares++;
	pp_spares_publish(pool);
	return 0;
}

/* A spare that can take an active worker's place: live and held by the
 * supervisor (a spare is never lent, so only a stop or a kill changes
 * that). */
static int promotable(const struct pp_worker *w)
{
	return w->spare && w->state == PP_WORKER_LIVE &&
	       atomic_load(&w->lane) == PP_LANE_SUPERVISOR;
}

int pp_spares_ready(const struct process_pool *pool)
{
	int i, n = 0;

	for (i = 0; i < pool->n_slots; i++)
		n += promotable(&pool->workers[i]);
	return n;
}

/* One whose initializer is done (it takes tasks at once) before one
 * still starting; among those, the oldest, the most likely to be
 * waiting in its loop already. */
static int better(const struct pp_worker *a, const struct pp_worker *b)
{
	if (a->starting != b->starting)
		return !a->starting;
	return a->spawned_ns < b->spawned_ns;
}

struct pp_worker *pp_spares_promote(struct process_pool *pool)
{
	struct pp_worker *pick = NULL;
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (promotable(w) && (!pick || better(w, pick)))
			pick = w;
	}
	if (!pick)
		return NULL;
	pick->spare = 0;
	atomic_store(&pick->info_spare, 0);
	pool->live_spares--;
	atomic_fetch_add(&pool->spares_used, 1);
	pp_spares_publish(pool);
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "spare_promoted",
	       "worker=%d pid=%d", pick->index, (int)pick->pid);
	return pick;
}

void pp_spares_gone(struct process_pool *pool, struct pp_worker *w)
{
	if (!w->spare)
		return;
	w->spare = 0;
	atomic_store(&w->info_spare, 0);
	pool->live_spares--;
}
