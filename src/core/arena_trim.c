/* Giving back a worker's arena pages once it is idle; see arena_trim.h. */
#include "src/core/arena_trim.h"

#include <stdatomic.h>

#include "src/core/log.h"
#include "src/core/pool_internal.h"

static int beyond_keep(const struct pp_payload_ref *r)
{
	return r && r->length && r->offset + r->length > PP_ARENA_KEEP;
}

void pp_arena_trim_mark(const struct process_pool *pool, struct pp_worker *w)
{
	if (pool->cfg.arena_size > PP_ARENA_KEEP &&
	    !atomic_load_explicit(&w->arena_hot, memory_order_relaxed))
		atomic_store_explicit(&w->arena_hot, 1, memory_order_relaxed);
}

void pp_arena_trim_note(const struct process_pool *pool, struct pp_worker *w,
			const struct pp_payload_ref *in,
			const struct pp_payload_ref *out)
{
	if (beyond_keep(in) || beyond_keep(out))
		pp_arena_trim_mark(pool, w);
}

void pp_arena_trim_check(struct process_pool *pool, struct pp_worker *w,
			 int64_t now)
{
	int hot = atomic_load_explicit(&w->arena_hot, memory_order_relaxed);
	uint64_t done;
	long long punched;

	/* On every turn of the loop, for every slot: nothing more to read
	 * unless a result marked the worker. */
	if (!hot && !w->trim_pending)
		return;
	done = atomic_load_explicit(&w->info_done, memory_order_relaxed);
	if (hot) {
		atomic_store_explicit(&w->arena_hot, 0, memory_order_relaxed);
		w->trim_pending = 1;
		w->trim_done_seen = done;
		w->trim_quiet_ns = now;
		return;
	}
	if (done != w->trim_done_seen) { /* still at work: wait on */
		w->trim_done_seen = done;
		w->trim_quiet_ns = now;
		return;
	}
	if (now - w->trim_quiet_ns < PP_ARENA_TRIM_IDLE_NS)
		return;
	/* Idle long enough; but only the supervisor's own worker, with
	 * nothing on it, is trimmed: no client can place an input or take
	 * a result while the pages go. A task still running (or a worker
	 * lent, or leaving) is looked at again a second later, not on
	 * every turn: pp_arena_trim_due would otherwise be in the past and
	 * the loop would spin until the task ends. */
	if (w->state != PP_WORKER_LIVE || w->in_flight ||
	    atomic_load(&w->lane) != PP_LANE_SUPERVISOR) {
		w->trim_quiet_ns = now;
		return;
	}
	w->trim_pending = 0;
	punched = pp_channel_trim(&w->ch, PP_ARENA_KEEP);
	if (punched < 0)
		pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "arena_trim_failed",
		       "worker=%d pid=%d errno=%lld", w->index, (int)w->pid,
		       -punched);
	else
		pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "arena_trimmed",
		       "worker=%d pid=%d bytes=%lld", w->index, (int)w->pid,
		       punched);
}

int64_t pp_arena_trim_due(const struct pp_worker *w)
{
	return w->trim_pending ? w->trim_quiet_ns + PP_ARENA_TRIM_IDLE_NS : 0;
}
