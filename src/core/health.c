/*
 * Health checks and the pool's health.
 *
 * A worker that holds no task is idle in its loop and answers a PING at
 * once, ahead of any task placed after it (frames are handled in order,
 * and the loop answers PINGs as it drains, before it starts a task). So
 * a PING unanswered after the timeout means a worker that no longer runs
 * its loop: stuck in a lock it inherited across fork, stopped, or taken
 * over. It is replaced. A worker running a task is never pinged: only
 * the task's deadline may end a long task.
 *
 * The PONG is judged by pp_frame_check like every frame: one that does
 * not carry the nonce of the PING owed is a protocol violation.
 */
#include "src/core/health.h"

#include <string.h>

#include "src/core/clock.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"

int pp_health_check(struct process_pool *pool, struct pp_worker *w, int64_t now)
{
	int64_t interval =
	    (int64_t)pool->cfg.health_check_interval_ms * 1000000;
	int64_t timeout = (int64_t)pool->cfg.health_check_timeout_ms * 1000000;

	if (pool->cfg.health_check_interval_ms < 0)
		return 0;
	if (w->ping_nonce)
		return now - w->ping_sent_ns > timeout;
	/* An initializer reads no frames: it has no time limit. */
	if (w->in_flight || w->starting || now - w->heard_ns < interval)
		return 0;
	pp_health_ping(pool, w, now);
	return 0; /* a full ring or a violation: the drain sees it */
}

int pp_health_ping(struct process_pool *pool, struct pp_worker *w, int64_t now)
{
	struct pp_frame f;

	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_PING;
	f.u.ping.nonce = ++pool->ping_next;
	if (pp_channel_send(&w->ch, &f))
		return -1;
	w->ping_nonce = f.u.ping.nonce;
	w->ping_sent_ns = now;
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "health_ping",
	       "worker=%d pid=%d", w->index, (int)w->pid);
	return 0;
}

int64_t pp_health_due(const struct process_pool *pool,
		      const struct pp_worker *w)
{
	if (pool->cfg.health_check_interval_ms < 0)
		return 0;
	if (w->ping_nonce)
		return w->ping_sent_ns +
		       (int64_t)pool->cfg.health_check_timeout_ms * 1000000 + 1;
	if (w->in_flight || w->starting)
		return 0;
	return w->heard_ns +
	       (int64_t)pool->cfg.health_check_interval_ms * 1000000;
}

#define RECENT_NS (60LL * 1000000000)

int pool_health(process_pool_t *pool, pool_health_t *out)
{
	int64_t now = pp_now_ns();
	unsigned r = 0;

	if (!pool || !out)
		return POOL_EINVAL;
	memset(out, 0, sizeof(*out));
	out->workers = atomic_load(&pool->active_workers);
	/* A restart may change min_workers: its atomic copy. */
	out->wanted_workers = atomic_load(&pool->restart.min_workers);
	out->queue_depth = atomic_load(&pool->queued);
	out->queue_size = pool->cfg.queue_size;
	out->unresponsive_total = atomic_load(&pool->unresponsive_total);
	if (atomic_load(&pool->state) != PP_POOL_RUNNING)
		r |= POOL_HEALTH_NOT_RUNNING;
	if (out->workers == 0)
		r |= POOL_HEALTH_NO_WORKERS;
	if (out->workers < out->wanted_workers)
		r |= POOL_HEALTH_BELOW_MIN;
	if (atomic_load(&pool->backoff_until_ns) > now)
		r |= POOL_HEALTH_CRASH_BACKOFF;
	if (out->queue_depth * 10 >= out->queue_size * 9)
		r |= POOL_HEALTH_QUEUE_SATURATED;
	if (atomic_load(&pool->spawn_failing))
		r |= POOL_HEALTH_SPAWN_FAILING;
	if (atomic_load(&pool->init_failing))
		r |= POOL_HEALTH_INIT_FAILING;
	{
		int64_t at = atomic_load(&pool->unresponsive_ns);

		if (at && now - at < RECENT_NS)
			r |= POOL_HEALTH_UNRESPONSIVE;
	}
	out->reasons = r;
	if (r & (POOL_HEALTH_NOT_RUNNING | POOL_HEALTH_NO_WORKERS))
		out->state = POOL_HEALTH_FAILING;
	else if (r)
		out->state = POOL_HEALTH_DEGRADED;
	else
		out->state = POOL_HEALTH_READY;
	return 0;
}
