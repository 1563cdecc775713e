/*
 * The direct lane: a synchronous submit that finds an idle worker lent
 * out by the supervisor runs its task there itself. It places the input,
 * sends the SUBMIT, spins and then sleeps on the channel's wake word, and
 * checks the RESULT exactly as the supervisor would, so the round trip is
 * two hops (client, worker) instead of four, with no syscall when both
 * sides are awake.
 *
 * Anything unusual (deadline, cancel, a dead worker, a protocol error)
 * hands the worker back to the supervisor with the task still on it; the
 * supervisor then finishes the job as if it had dispatched the task.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/probes.h"
#include "src/core/clock.h"
#include "src/core/frame_check.h"
#include "src/core/pool_internal.h"
#include "src/core/trace.h"

/* Claims w if it is lent out, idle, and its domain may take d's task
 * (read once the client holds it). */
static int try_claim(struct pp_worker *w, const struct pp_iso_domain *d)
{
	int expect = PP_LANE_FREE;

	if (atomic_load_explicit(&w->lane, memory_order_relaxed) !=
	    PP_LANE_FREE)
		return 0;
	if (!atomic_compare_exchange_strong(&w->lane, &expect, PP_LANE_CLIENT))
		return 0;
	if (w->state == PP_WORKER_LIVE && !w->in_flight &&
	    !atomic_load(&w->dead_pending) && pp_iso_may_send(&w->iso, d))
		return 1;
	atomic_store(&w->lane, PP_LANE_FREE);
	return 0;
}

/*
 * Claims an idle lent worker. The caller spins for the answer, so the
 * worker must run elsewhere: one that last waited on the caller's own CPU
 * could only answer once the caller sleeps (two context switches a task),
 * and is taken only when no other is free. Among the rest, the one this
 * thread used last comes first: it has just answered and is still
 * spinning for its next task, where a rotating choice would pick the
 * worker idle longest, the one most likely asleep.
 */
struct pp_worker *pp_lane_claim(struct process_pool *pool,
				const struct pp_iso_domain *d)
{
	static _Thread_local unsigned next;
	unsigned n = (unsigned)pool->n_slots, i;
	int cpu = sched_getcpu();
	uint32_t mine = cpu >= 0 ? (uint32_t)cpu + 1 : 0;
	struct pp_worker *fallback = NULL;

	/* First come, first served: while anything waits in the queue, a
	 * synchronous submit joins it instead of overtaking it. */
	if (atomic_load_explicit(&pool->queued, memory_order_relaxed))
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned k = (next + i) % n;
		struct pp_worker *w = &pool->workers[k];

		if (!try_claim(w, d))
			continue;
		if (mine && !fallback &&
		    pp_channel_word_load(&w->ch, PP_WORD_CPU) == mine) {
			fallback = w; /* held while looking further */
			continue;
		}
		if (fallback)
			atomic_store(&fallback->lane, PP_LANE_FREE);
		next = k;
		return w;
	}
	if (fallback)
		next = (unsigned)fallback->index;
	return fallback;
}

/* Gives the worker back with work left on it for the supervisor, or
 * because tasks wait in the queue: it goes to them at once. */
static void hand_back(struct process_pool *pool, struct pp_worker *w)
{
	atomic_store(&w->returned, 1);
	atomic_store(&w->lane, PP_LANE_SUPERVISOR);
	pp_supervisor_wake(pool);
}

int pp_lane_send(struct process_pool *pool, struct pp_worker *w,
		 struct task_future *t)
{
	int by_fd = pp_worker_input_by_fd(pool, t);
	struct pp_frame f, trace, pair[2];
	void *dst;
	int sent;

	t->usage_set = 0; /* a USAGE claim is per attempt */
	memset(&t->arena_in, 0, sizeof(t->arena_in));
	/* Anything in the way: the supervisor's queue takes it instead. */
	if (by_fd ? pp_worker_send_input_fd(w, t, pp_wire_id(t->id, 0)) != 0
		  : t->input_size && pp_channel_alloc(&w->ch, t->input_size,
						      &t->arena_in, &dst)) {
		atomic_store(&w->lane, PP_LANE_FREE);
		return -EAGAIN;
	}
	if (t->input_size && !by_fd)
		memcpy(dst, t->input, t->input_size);
	t->slot = 0;
	t->worker = w;
	atomic_store_explicit(&t->worker_pid, (int)w->pid,
			      memory_order_relaxed);
	atomic_store_explicit(&t->start_ns, pp_now_ns(), memory_order_relaxed);
	PP_PROBE3(dispatch, t->id, w->pid, t->priority);
	w->slots[0] = t;
	pp_worker_output_lane_task(&w->out, t->id); /* names its output */
	w->in_flight = 1;
	atomic_store_explicit(&w->info_busy, 1, memory_order_relaxed);
	t->placed_prio = t->priority;
	w->by_prio[t->priority]++;
	pp_iso_note_sent(&w->iso, &t->iso);
	pp_frame_note_placed(pool, w, t->priority);
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_SUBMIT;
	f.flags = (uint16_t)(t->priority << PP_FRAME_F_PRIO_SHIFT);
	f.task_id = pp_wire_id(t->id, 0);
	f.u.submit.func = t->func_ref;
	f.u.submit.user_data = (uint64_t)(uintptr_t)t->user_data;
	f.payload = t->arena_in;
	if (by_fd) {
		f.flags |= PP_FRAME_F_FD;
		f.payload.length = t->input_size;
	}
	if (t->trace && pp_trace_frame(t, &trace)) {
		/* The context first; both in one publish. */
		trace.task_id = f.task_id;
		pair[0] = trace;
		pair[1] = f;
		sent = pp_channel_send_batch(&w->ch, pair, 2) == 2 ? 0 : -1;
	} else {
		sent = pp_channel_send(&w->ch, &f);
	}
	if (sent) {
		hand_back(pool, w); /* the supervisor sees the violation */
		return 1;
	}
	return 0;
}

/*
 * The client is done with an idle worker: it stays lent (FREE) for the
 * next synchronous submit only while nothing is queued. Otherwise the
 * supervisor gets it at once (and is woken for it), so a queued task
 * never waits while a worker idles in the lane.
 */
static void release(struct process_pool *pool, struct pp_worker *w)
{
	/* Its arena went beyond the kept part: the supervisor, likely
	 * asleep, starts the clock that gives those pages back. */
	if (atomic_load_explicit(&w->arena_hot, memory_order_relaxed))
		pp_supervisor_wake(pool);
	if ((w->recycle_after && w->tasks_done >= w->recycle_after) ||
	    w->recycle_now || pp_iso_spent(&w->iso) ||
	    atomic_load(&w->dead_pending) || atomic_load(&pool->queued))
		hand_back(pool, w);
	else
		atomic_store(&w->lane, PP_LANE_FREE);
}

static int worker_gone(const struct pp_worker *w)
{
	struct pollfd p = {w->pidfd, POLLIN, 0};

	return poll(&p, 1, 0) > 0;
}

/*
 * The worker broke the protocol (why): the task ends PROTOCOL_ERROR now,
 * the worker is killed, and the supervisor fails anything else on it and
 * replaces it when it comes back, exactly as if it had read the frame.
 */
static void refuse(struct process_pool *pool, struct pp_worker *w,
		   struct task_future *t, const char *why)
{
	pp_resolve(pool, t, TASK_STATUS_PROTOCOL_ERROR, 0, NULL, 0, 0, why);
	w->lane_fault = why;
	pp_worker_signal(w, SIGKILL);
}

/*
 * Takes the frames waiting on the channel, each judged by pp_frame_check
 * as the supervisor would. Returns 1 when t's result was handled, 0 when
 * nothing for t yet, -1 when the worker must go back to the supervisor
 * (it broke the protocol: t has ended), -2 when the worker deferred it.
 */
static int take_result(struct process_pool *pool, struct pp_worker *w,
		       struct task_future *t)
{
	struct task_future *named;
	struct pp_frame f;
	const char *why;
	void *out;
	int err;

	while ((err = pp_channel_recv(&w->ch, &f)) == 0) {
		why = pp_frame_check(pool, w, &f, &named);
		if (why) {
			refuse(pool, w, t, why);
			return -1;
		}
		if (f.type == PP_FRAME_LEARNED)
			pp_learn_frame(pool, w, &f);
		if (f.type != PP_FRAME_RESULT)
			continue;
		/* t is the only task on a lent worker: named is t. */
		pp_channel_word_store(&w->ch, PP_WORD_RESULTS_ACKED,
				      w->ch.rx_seq);
		if (f.u.result.status == PP_WORKER_DEFERRED) {
			pp_worker_unslot(w, t);
			return -2;
		}
		err = pp_copy_output(pool, w, &f, &out);
		if (err == -EPROTO) {
			refuse(pool, w, t,
			       f.flags & PP_FRAME_F_FD
				   ? "memfd output missing or not sealed"
				   : "output outside the arena");
			return -1;
		}
		pp_worker_unslot(w, t);
		w->tasks_done++;
		atomic_store_explicit(&w->info_done, w->tasks_done,
				      memory_order_relaxed);
		pp_learn_task_done(pool, w, t->id);
		w->heard_ns = pp_now_ns();
		pp_resolve_result(pool, w, t, &f, out, err, w->heard_ns);
		return 1;
	}
	if (err == -EAGAIN)
		return 0;
	refuse(pool, w, t, pp_channel_violation_str(&w->ch));
	return -1;
}

int pp_lane_wait(struct process_pool *pool, struct pp_worker *w,
		 struct task_future *t)
{
	int r, quiet = 0;

	for (;;) {
		r = pp_ring_readable(&w->ch.rx) ? take_result(pool, w, t) : 0;
		if (r == 1) {
			release(pool, w);
			return 0;
		}
		if (r == -2) {
			release(pool, w);
			return -EAGAIN;
		}
		if (r < 0 || pp_future_is_done(t))
			break;
		if (t->deadline_ns && pp_now_ns() >= t->deadline_ns) {
			pp_resolve(pool, t, TASK_STATUS_TIMEOUT, 0, NULL, 0, 0,
				   "deadline passed while on a worker");
			break;
		}
		/* A dead worker is looked for only after a quiet
		 * millisecond: the fast path makes no syscall. */
		if (quiet && worker_gone(w))
			break;
		/* Adaptive spin (at most ~10 us), then the futex. */
		quiet = pp_channel_wait(&w->ch, 1) == -ETIMEDOUT;
	}
	hand_back(pool, w);
	return 1;
}
