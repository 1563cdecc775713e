/*
 * The one verdict on a frame a worker sent. The supervisor and a client on
 * the direct lane both take frames off a worker's channel; both ask
 * pp_frame_check, so a frame is refused (and its worker replaced) the same
 * way whichever thread read it.
 *
 * The channel has already checked what it can without the pool: the
 * frame's encoding, that its type may come from a worker, its sequence,
 * and that a payload lies in the worker's part of the arena. Here the
 * frame is checked against what the parent itself knows: which tasks are
 * on that worker, what it told the worker, and so what an honest worker
 * could say now.
 */
#include "src/core/frame_check.h"

#include "src/core/arena_trim.h"
#include "src/core/bulk.h"
#include "src/core/clock.h"
#include "src/core/pool_internal.h"

/* The task a RESULT or LEARNED frame names, if it is on w. */
static struct task_future *task_named(const struct process_pool *pool,
				      const struct pp_worker *w, uint64_t wire)
{
	unsigned slot = (unsigned)(wire & 0xffff);
	struct task_future *t;

	if (slot >= (unsigned)pool->cfg.max_in_flight)
		return NULL;
	t = w->slots[slot];
	return t && t->id == wire >> 16 ? t : NULL;
}

/*
 * An honest worker hands a task back (DEFERRED) only when the word the
 * parent publishes says a higher priority waits than the task's. Each
 * time the parent gives such a cause (publishing the word, or placing a
 * task below what the word says) it credits the worker one deferral per
 * task concerned; a deferral without credit is a lie, and a worker that
 * bounced tasks back at will would keep the supervisor busy requeueing
 * them.
 */
static unsigned credit_cap(const struct process_pool *pool)
{
	return 2u * (unsigned)pool->cfg.max_in_flight;
}

static void credit(const struct process_pool *pool, struct pp_worker *w,
		   unsigned n)
{
	unsigned cap = credit_cap(pool);

	w->defer_credit = w->defer_credit + n > cap ? cap : w->defer_credit + n;
}

void pp_frame_note_waiting(const struct process_pool *pool, struct pp_worker *w,
			   uint32_t waiting)
{
	unsigned n = 0;
	int p;

	w->waiting_published = waiting;
	/* Deferrable: placed below waiting - 1 (see worker_main.c). */
	for (p = 0; p + 1 < (int)waiting && p < TASK_PRIORITY_COUNT; p++)
		n += w->by_prio[p];
	if (n)
		credit(pool, w, n);
}

void pp_frame_note_placed(const struct process_pool *pool, struct pp_worker *w,
			  int prio)
{
	if (prio + 1 < (int)w->waiting_published)
		credit(pool, w, 1);
}

static const char *check_result(const struct process_pool *pool,
				struct pp_worker *w, const struct pp_frame *f,
				struct task_future **task)
{
	int status = f->u.result.status;
	struct task_future *t = task_named(pool, w, f->task_id);

	if (!t)
		return "result for no task in flight";
	if (!pp_status_from_worker_ok(status))
		return "impossible task status";
	/* A chunk comes back as a whole only unstarted: dropped after a
	 * CANCEL or handed back. */
	if (t->bulk &&
	    ((status != TASK_STATUS_CANCELLED && status != PP_WORKER_DEFERRED) ||
	     f->payload.length || (f->flags & PP_FRAME_F_FD) || t->bulk->next))
		return "plain result for a started chunk";
	if (f->payload.length > pool->cfg.max_output_size)
		return "output larger than max_output_size";
	/* Only a kept output may come as a memfd: any other would sit
	 * unread on the socket. */
	if ((f->flags & PP_FRAME_F_FD) &&
	    (status != TASK_STATUS_COMPLETED && status != TASK_STATUS_FAILED))
		return "memfd output with a status that keeps none";
	if (status == PP_WORKER_DEFERRED) {
		if (!w->defer_credit)
			return "task handed back with nothing higher waiting";
		w->defer_credit--;
	}
	w->learned_frames = 0;
	w->usage_frames = 0;
	pp_arena_trim_note(pool, w, &t->arena_in,
			   (f->flags & PP_FRAME_F_FD) ? NULL : &f->payload);
	*task = t;
	return NULL;
}

/* A BULK_RESULT: the next range of a chunk on w, inside the chunk. */
static const char *check_bulk_result(const struct process_pool *pool,
				     struct pp_worker *w,
				     const struct pp_frame *f,
				     struct task_future **task)
{
	struct task_future *t = task_named(pool, w, f->task_id);
	uint64_t end = (uint64_t)f->u.bulk.first + f->u.bulk.count;

	if (!t || !t->bulk)
		return "bulk result for no chunk in flight";
	if (f->u.bulk.count == 0 || f->u.bulk.first != t->bulk->next ||
	    end > t->bulk->count)
		return "bulk result range out of order or out of the chunk";
	/* A memfd output comes with a frame of its own. */
	if ((f->flags & PP_FRAME_F_FD) && f->u.bulk.count != 1)
		return "memfd output for more than one task of a chunk";
	w->learned_frames = 0;
	w->usage_frames = 0;
	pp_arena_trim_mark(pool, w);
	*task = t;
	return NULL;
}

const char *pp_bulk_out_check(const struct process_pool *pool,
			      const struct pp_worker *w,
			      const struct pp_bulk_out *e, int by_fd)
{
	struct pp_payload_ref ref = {e->offset, e->length};

	if (!pp_status_from_worker_ok(e->status) ||
	    e->status == PP_WORKER_DEFERRED)
		return "impossible task status in a chunk";
	if (by_fd && (!e->length || e->offset))
		return "memfd output of a chunk without its size";
	if (!e->length)
		return NULL;
	if (e->status != TASK_STATUS_COMPLETED &&
	    e->status != TASK_STATUS_FAILED)
		return "chunk output with a status that keeps none";
	if (e->length > pool->cfg.max_output_size)
		return "chunk output larger than max_output_size";
	if (!by_fd && !pp_channel_peer_payload(&w->ch, &ref))
		return "chunk output outside the arena";
	return NULL;
}

static uint64_t at_most(uint64_t v, uint64_t cap)
{
	return v < cap ? v : cap;
}

/*
 * A USAGE frame: once per task, from a worker asked to measure, for a
 * task (not a chunk) on it. The figures are the worker's word: they are
 * clamped to what the task's time on the worker and the machine allow,
 * and kept for its result only.
 */
static const char *check_usage(const struct process_pool *pool,
			       struct pp_worker *w, const struct pp_frame *f)
{
	struct task_future *t = task_named(pool, w, f->task_id);
	int64_t start, ran;
	uint64_t cpu_cap;

	if (!pool->cfg.task_usage)
		return "USAGE frame from a worker that does not measure";
	if (!t || t->bulk)
		return "USAGE frame for no task in flight";
	if (++w->usage_frames > 1)
		return "more than one USAGE frame for a task";
	start = atomic_load_explicit(&t->start_ns, memory_order_relaxed);
	ran = start ? pp_now_ns() - start : 0;
	cpu_cap = ran > 0 ? (uint64_t)ran / 1000 * pool->usage_cpus : 0;
	t->usage_user_us = at_most(f->u.usage.cpu_user_us, cpu_cap);
	t->usage_sys_us = at_most(f->u.usage.cpu_sys_us, cpu_cap);
	t->usage_peak_kb = at_most(f->u.usage.peak_rss_kb, pool->usage_ram_kb);
	t->usage_cpus = pool->usage_cpus;
	t->usage_set = 1;
	return NULL;
}

const char *pp_frame_check(const struct process_pool *pool, struct pp_worker *w,
			   const struct pp_frame *f, struct task_future **task)
{
	*task = NULL;
	switch (f->type) {
	case PP_FRAME_RESULT:
		return check_result(pool, w, f, task);
	case PP_FRAME_BULK_RESULT:
		return check_bulk_result(pool, w, f, task);
	case PP_FRAME_LEARNED:
		if (!pool->learn)
			return "LEARNED frame from a worker that does not "
			       "learn";
		if (!task_named(pool, w, f->task_id))
			return "LEARNED frame for no task in flight";
		/* A task's report is at most one frame per chunk. */
		if (++w->learned_frames > PP_FRAME_LEARNED_CHUNKS)
			return "more LEARNED frames than a task can send";
		return NULL;
	case PP_FRAME_USAGE:
		return check_usage(pool, w, f);
	case PP_FRAME_HELLO:
		/* Once, from a worker whose initializer ran (worker_init.h). */
		return pp_worker_init_hello((struct process_pool *)pool, w);
	case PP_FRAME_PONG:
		/* Only the answer to the PING it owes (health.c). */
		if (!w->ping_nonce || f->u.ping.nonce != w->ping_nonce)
			return "PONG without a PING";
		w->ping_nonce = 0;
		return NULL;
	default:
		return "frame type a worker does not send";
	}
}
