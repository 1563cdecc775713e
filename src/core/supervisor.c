/*
 * The supervisor thread: one epoll loop over the submission eventfd, each
 * worker's completion eventfd and pidfd, and a timerfd for deadlines and
 * periodic work. It owns the pending queues, the workers and the deadline
 * heap, and it is the only thread that forks, kills, reaps and dispatches.
 *
 * Everything a worker writes is checked before use: a result's task id
 * must name a task in flight on that worker (slot and id both), its status
 * must be one a worker may report, its payload must lie in the worker's
 * arena part. Anything else kills the worker and fails its tasks with
 * PROTOCOL_ERROR.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/confine.h"
#include "src/core/probes.h"
#include "src/core/trace.h"
#include "src/core/arena_trim.h"
#include "src/core/bulk.h"
#include "src/core/clock.h"
#include "src/core/output_map.h"
#include "src/ipc/fd_payload.h"
#include "src/core/deadline_heap.h"
#include "src/core/frame_check.h"
#include "src/core/health.h"
#include "src/core/recycle.h"
#include "src/core/spares.h"
#include "src/core/future_cache.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"
#include "src/core/worker_exit_trap.h"
#include "src/ipc/barrier.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define TAG_WAKE	1u
#define TAG_TIMER	2u
#define TAG_CHANNEL	3u
#define TAG_PIDFD	4u
#define TAG_OUTPUT	5u
#define MAX_DEFERRALS	100000
/* Frames taken from one worker per drain: a worker that keeps its ring
 * full waits its turn behind the others. */
#define DRAIN_BUDGET 256
/* How long a worker has to give up a task the parent stopped (timed out,
 * cancelled) while its RUNNING word named another task or none. */
#define STOP_CHECK_NS (250LL * 1000000)
#define SPIN_ROUNDS	200
#define HOUSEKEEPING_NS (100LL * 1000000)
#define IDLE_TRIM_NS	(1000LL * 1000000)
#define STOP_GRACE_NS	(1000LL * 1000000)
/* A worker retired while idle (recycling, scaling down) that has not
 * exited by then is killed: SHUTDOWN is a request, and a worker taken
 * over by its task may ignore it and keep its slot for ever. */
#define RETIRE_GRACE_NS (1000LL * 1000000)

static uint64_t tag(uint32_t kind, uint32_t index)
{
	return (uint64_t)kind << 32 | index;
}

static int epoll_add(struct process_pool *pool, int fd, uint64_t data)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = data;
	return epoll_ctl(pool->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* Live, and not lent to a client: the supervisor may touch its channel. */
static int usable(const struct pp_worker *w)
{
	return (w->state == PP_WORKER_LIVE || w->state == PP_WORKER_RETIRING) &&
	       atomic_load(&w->lane) == PP_LANE_SUPERVISOR;
}

/* ---- pending queues ---------------------------------------------------- */

/*
 * Appends t, or with in_order puts it back where its id belongs: tasks
 * handed back by a worker are older than most of the queue, so FIFO
 * order within the level survives deferrals and requeues.
 */
static void fifo_push(struct pp_fifo *q, struct task_future *t, int in_order)
{
	struct task_future **at = &q->head;

	t->next = NULL;
	q->count++;
	if (!in_order || !q->head || q->tail->id < t->id) {
		if (q->tail)
			q->tail->next = t;
		else
			q->head = t;
		q->tail = t;
		return;
	}
	while (*at && (*at)->id < t->id)
		at = &(*at)->next;
	t->next = *at;
	*at = t;
	if (!t->next)
		q->tail = t;
}

static struct task_future *fifo_pop(struct pp_fifo *q)
{
	struct task_future *t = q->head;

	if (!t)
		return NULL;
	q->head = t->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	t->next = NULL;
	return t;
}

static void enqueue(struct process_pool *pool, struct task_future *t, int front)
{
	fifo_push(&pool->pending[t->priority], t, front);
	atomic_fetch_add(&pool->depth[t->priority], 1);
}

/* Drops an engine reference to a task that has left every structure. */
static void finish(struct process_pool *pool, struct task_future *t)
{
	pp_deadline_remove(&pool->deadlines, t);
	pp_future_put(t);
}

static void leave_queue(struct process_pool *pool, struct task_future *t)
{
	atomic_fetch_sub(&pool->depth[t->priority], 1);
	atomic_fetch_sub(&pool->queued, 1);
}

/* Effective priority: base level plus one per PP_AGING_NS waited. */
static int effective(const struct task_future *t, int64_t now)
{
	int64_t aged = t->priority + (now - t->submit_ns) / PP_AGING_NS;

	return aged > TASK_PRIORITY_CRITICAL ? TASK_PRIORITY_CRITICAL
					     : (int)aged;
}

/* Next task to dispatch: highest effective priority, FIFO within. */
static struct pp_fifo *best_fifo(struct process_pool *pool, int64_t now,
				 int *prio)
{
	struct pp_fifo *best = NULL;
	int best_eff = -1, l;

	for (l = TASK_PRIORITY_CRITICAL; l >= 0; l--) {
		struct task_future *h = pool->pending[l].head;
		int eff;

		if (!h)
			continue;
		eff = effective(h, now);
		/* Ties go to the older task, i.e. the lower base level. */
		if (eff > best_eff ||
		    (eff == best_eff && h->submit_ns < best->head->submit_ns)) {
			best = &pool->pending[l];
			best_eff = eff;
		}
	}
	*prio = best_eff;
	return best;
}

/* ---- resolving ------------------------------------------------------- */

static void count_outcome(struct process_pool *pool, struct task_future *t)
{
	const task_result_t *r = &t->result;

	atomic_fetch_add(&pool->counters[r->status], 1);
	pp_latency_record(&pool->latency, r->queue_us + r->run_us);
	if (atomic_load(&t->start_ns)) {
		struct pp_latency_sample v = {r->queue_us, r->run_us,
					      t->priority};

		pp_latency_split_record(&pool->split, &v, 1);
	}
	if (r->run_us) {
		atomic_fetch_add(&pool->run_ns_total, r->run_us * 1000);
		atomic_fetch_add(&pool->run_count, 1);
	}
}

/* One line per task that did not complete; the engine's reference keeps
 * t, and its result is read-only once published. */
static void log_end(struct process_pool *pool, const struct task_future *t)
{
	const task_result_t *r = &t->result;

	if (r->status != TASK_STATUS_COMPLETED)
		pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "task_end",
		       "task=%llu status=%s rc=%d signal=%d detail=\"%s\"",
		       (unsigned long long)t->id,
		       pool_task_status_str(r->status), r->return_code,
		       r->term_signal, r->detail);
}

int pp_resolve(struct process_pool *pool, struct task_future *t,
	       task_status_t status, int rc, void *out, size_t out_size,
	       int sig, const char *detail)
{
	return pp_resolve_at(pool, t, status, rc, out, out_size, sig, detail,
			     pp_now_ns());
}

int pp_resolve_at(struct process_pool *pool, struct task_future *t,
		  task_status_t status, int rc, void *out, size_t out_size,
		  int sig, const char *detail, int64_t now)
{
	if (t->bulk) { /* a chunk: each of its tasks ends so */
		pp_output_free(out);
		return pp_bulk_resolve(pool, t, status, rc, sig, detail, now);
	}
	if (!pp_future_claim(t)) {
		pp_output_free(out);
		return 0;
	}
	pp_future_fill(t, status, rc, out, out_size, sig, detail, now);
	/* Counted before any waiter can see it, so stats are never behind. */
	count_outcome(pool, t);
	pp_future_publish(t);
	log_end(pool, t);
	return 1;
}

/* ---- workers ---------------------------------------------------------- */

static int spawn_into(struct process_pool *pool, struct pp_worker *w)
{
	int err = pp_worker_spawn(pool, w);

	atomic_store(&pool->spawn_failing, err != 0);
	if (err) {
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "spawn_failed",
		       "worker=%d errno=%d", w->index, -err);
		return err;
	}
	/* The worker has its end of the wakeup pipe now; the parent keeps
	 * only the read end. */
	pp_channel_worker_started(&w->ch);
	w->waiting_published = 0;
	w->defer_credit = 0;
	w->learned_frames = 0;
	w->usage_frames = 0;
	w->suspects = 0;
	w->lane_fault = NULL;
	w->wake_fault = NULL;
	w->out_paused_until = 0;
	w->heard_ns = pp_now_ns();
	w->ping_nonce = 0;
	w->health_failed = 0;
	pp_iso_reset(&w->iso);
	w->starting = pool->init.ref != 0; /* no task before its HELLO */
	w->init_timed_out = 0;
	pp_recycle_spawned(pool, w, w->heard_ns);
	pp_restart_spawned(w);
	if (epoll_add(pool, w->pidfd, tag(TAG_PIDFD, (uint32_t)w->index)) ||
	    epoll_add(pool, w->ch.wake_rd,
		      tag(TAG_CHANNEL, (uint32_t)w->index)) ||
	    (w->out.open &&
	     epoll_add(pool, w->out.fd, tag(TAG_OUTPUT, (uint32_t)w->index)))) {
		pp_worker_kill(w);
		return -errno;
	}
	w->spare = 0; /* pp_spares_spawn makes it one */
	atomic_store(&w->info_spare, 0);
	pool->live_workers++;
	pp_spares_publish(pool);
	return 0;
}

int pp_supervisor_spawn(struct process_pool *pool, struct pp_worker *w)
{
	return spawn_into(pool, w);
}

static void kill_worker(struct process_pool *pool, struct pp_worker *w,
			int reason, const char *why)
{
	if (w->state == PP_WORKER_DYING || w->state == PP_WORKER_EMPTY)
		return;
	pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "worker_kill",
	       "worker=%d pid=%d reason=%s detail=\"%s\"", w->index,
	       (int)w->pid, pool_task_status_str(reason), why);
	if (!w->kill_reason)
		w->kill_reason = reason;
	pp_worker_kill(w);
}

/* An idle worker the isolation rules take out of service: killed (its
 * word that it would exit is not trusted), then replaced without
 * counting as a crash. */
static void discard(struct process_pool *pool, struct pp_worker *w,
		    const char *why)
{
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "worker_discard",
	       "worker=%d pid=%d reason=\"%s\"", w->index, (int)w->pid, why);
	w->iso.discarded = 1;
	pp_worker_kill(w);
}

void pp_supervisor_discard(struct process_pool *pool, struct pp_worker *w,
			   const char *why)
{
	discard(pool, w, why);
}

/* A worker broke the protocol: every task it holds ends PROTOCOL_ERROR. */
static void protocol_violation(struct process_pool *pool, struct pp_worker *w,
			       const char *why)
{
	int max = pool->cfg.max_in_flight, s;

	for (s = 0; s < max; s++)
		if (w->slots[s])
			pp_resolve(pool, w->slots[s],
				   TASK_STATUS_PROTOCOL_ERROR, 0, NULL, 0, 0,
				   why);
	kill_worker(pool, w, TASK_STATUS_PROTOCOL_ERROR, why);
}

/* Full barrier read: orders the CANCEL just sent before the word read. */
static int running_on(struct pp_worker *w, const struct task_future *t)
{
	return pp_channel_word_fetch(&w->ch, PP_WORD_RUNNING) ==
	       pp_running_word(pp_wire_id(t->id, t->slot));
}

/* Looks again at a stopped task after delay (see check_stop). */
static void schedule_stop_check(struct process_pool *pool,
				struct task_future *t, int64_t now,
				int64_t delay)
{
	pp_deadline_remove(&pool->deadlines, t);
	t->deadline_ns = now + delay;
	pp_deadline_add(&pool->deadlines, t);
}

/*
 * Stops a task that sits on a worker: a CANCEL frame takes it out if it
 * has not started; if the worker says it is running it, the worker is
 * killed. The frame is sent before the word is read (see worker_main.c).
 * The word can only hasten the kill: a worker that does not name the
 * task must still give it up (a CANCELLED result) before the stop check.
 */
static void stop_on_worker(struct process_pool *pool, struct task_future *t,
			   int reason)
{
	struct pp_worker *w = t->worker;
	struct pp_frame f;

	/* A lent worker is handled when its client gives it back. */
	if (!w || w->state == PP_WORKER_DYING || !usable(w))
		return;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_CANCEL;
	f.task_id = pp_wire_id(t->id, t->slot);
	if (pp_channel_send(&w->ch, &f) == -EPROTO) {
		protocol_violation(pool, w, pp_channel_violation_str(&w->ch));
		return;
	}
	if (t->bulk ? pp_bulk_stop(w, t) : running_on(w, t)) {
		/* Graceful first, when asked: a signal the task may catch,
		 * then the kill at the stop check if it is still there. */
		if (reason == TASK_STATUS_TIMEOUT && pool->cfg.timeout_signal &&
		    !t->stopping) {
			t->stopping = reason;
			pp_worker_signal(w, pool->cfg.timeout_signal);
			schedule_stop_check(
			    pool, t, pp_now_ns(),
			    (int64_t)pool->cfg.timeout_grace_ms * 1000000);
			return;
		}
		kill_worker(pool, w, reason, "task stopped while running");
		return;
	}
	t->stopping = reason;
	schedule_stop_check(pool, t, pp_now_ns(), STOP_CHECK_NS);
}

/*
 * Whether w's RUNNING word names a task on it, other than t, that is still
 * going: the one excuse for not having given t up yet (a worker runs its
 * tasks one at a time; t waits behind that one). A task stopped in turn
 * gets its own check, so the excuse lasts as long as that task's own
 * deadline at most.
 */
static int busy_with_other(struct process_pool *pool, struct pp_worker *w,
			   const struct task_future *t)
{
	uint32_t running = pp_channel_word_load(&w->ch, PP_WORD_RUNNING);
	int s;

	for (s = 0; running && s < pool->cfg.max_in_flight; s++) {
		struct task_future *x = w->slots[s];

		if (x && x != t && !pp_future_is_done(x) &&
		    running == pp_running_word(pp_wire_id(x->id, x->slot)))
			return 1;
	}
	return 0;
}

/*
 * A stopped task's worker had STOP_CHECK_NS to give it up. If it is still
 * there and the worker is not busy with another task that is still going,
 * the worker is killed: a word the worker writes never keeps a task alive
 * past its deadline.
 */
static void check_stop(struct process_pool *pool, struct task_future *t,
		       int64_t now)
{
	struct pp_worker *w = t->worker;

	if (!w || w->state == PP_WORKER_DYING || w->state == PP_WORKER_EMPTY)
		return; /* reaped with it, or about to be */
	if (!usable(w) || busy_with_other(pool, w, t)) {
		schedule_stop_check(pool, t, now, STOP_CHECK_NS);
		return;
	}
	kill_worker(pool, w, t->stopping,
		    "worker did not give up a stopped task");
}

/* ---- completions ------------------------------------------------------ */

const char *pp_violation_detail(int nr, char *buf, size_t len)
{
	char name[48];

	snprintf(buf, len, "seccomp denied syscall %s",
		 pp_seccomp_syscall_name(nr, name, sizeof(name)));
	return buf;
}

/*
 * The outcome a checked RESULT frame f gives its task: the status, and a
 * detail (into why, or a constant) for the ones that need one. A plain
 * COMPLETED or FAILED turns RESOURCE_LIMIT when w's pids.max refused a
 * fork or a thread meanwhile. A refusal is read (and so not blamed on the
 * next task) after any task that ran, and w is then marked to be
 * replaced once idle: its leaf, with whatever the task started, goes
 * with it.
 */
static task_status_t result_outcome(const struct process_pool *pool,
				    struct pp_worker *w,
				    const struct pp_frame *f, int copy_err,
				    const char **detail, char *why,
				    size_t len)
{
	int status = f->u.result.status, rc = f->u.result.return_code;
	int refused = status != PP_WORKER_DEFERRED && pp_worker_pids_refused(w);

	*detail = NULL;
	if (refused)
		w->recycle_after = w->tasks_done ? w->tasks_done : 1;
	if (copy_err) {
		status = TASK_STATUS_REJECTED;
		*detail = "out of memory copying the output";
	} else if (status == TASK_STATUS_REJECTED && rc == PP_REJECT_NO_FUNC) {
		*detail = "task function not found in the worker's modules";
	} else if (status == TASK_STATUS_REJECTED) {
		snprintf(why, len,
			 "output larger than max_output_size (%zu bytes)",
			 pool->cfg.max_output_size);
		*detail = why;
	} else if (status == TASK_STATUS_SANDBOX_VIOLATION) {
		*detail = pp_violation_detail(rc, why, len);
	} else if (status == PP_WORKER_DEFERRED) {
		status = TASK_STATUS_CANCELLED; /* handed back after a cancel */
	} else if (refused) {
		status = TASK_STATUS_RESOURCE_LIMIT;
		*detail = "pids.max refused a fork or a thread";
	}
	return (task_status_t)status;
}

/* Resolves t with an outcome; the output goes with the plain ones only. */
static void resolve_outcome(struct process_pool *pool, struct task_future *t,
			    const struct pp_frame *f, task_status_t status,
			    const char *detail, void *out, int64_t now)
{
	if (out && status != TASK_STATUS_COMPLETED &&
	    status != TASK_STATUS_FAILED) {
		pp_output_free(out);
		out = NULL;
	}
	pp_resolve_at(pool, t, status, f->u.result.return_code, out,
		      out ? (size_t)f->payload.length : 0, 0, detail, now);
}

void pp_resolve_result(struct process_pool *pool, struct pp_worker *w,
		       struct task_future *t, const struct pp_frame *f,
		       void *out, int copy_err, int64_t now)
{
	const char *detail;
	char why[96];
	task_status_t status =
	    result_outcome(pool, w, f, copy_err, &detail, why, sizeof(why));

	resolve_outcome(pool, t, f, status, detail, out, now);
}

int pp_status_from_worker_ok(int status)
{
	return status == TASK_STATUS_COMPLETED ||
	       status == TASK_STATUS_SANDBOX_VIOLATION ||
	       status == TASK_STATUS_FAILED || status == TASK_STATUS_REJECTED ||
	       status == TASK_STATUS_CANCELLED || status == PP_WORKER_DEFERRED;
}

/*
 * A memfd output: the message ahead of the frame must carry its fd, for
 * this task, a sealed memfd of exactly the announced size (never more
 * than max_output_size: the frame check saw to that). Mapped read-only,
 * it goes to the caller as it is: sealed, no one can change it.
 */
static int map_output(struct process_pool *pool, struct pp_worker *w,
		      const struct pp_frame *f, void **out)
{
	const void *p;
	uint64_t tag;
	int fd, err;

	if (f->payload.length == 0 ||
	    f->payload.length > pool->cfg.max_output_size)
		return -EPROTO;
	if (pp_fd_payload_recv(w->ch.sock, &tag, &fd))
		return -EPROTO;
	err = tag == f->task_id ? pp_fd_payload_map(fd, f->payload.length, &p)
				: -EPROTO;
	close(fd);
	if (err)
		return err == -EPROTO ? -EPROTO : -ENOMEM;
	if (pp_output_register((void *)p, (size_t)f->payload.length)) {
		munmap((void *)p, (size_t)f->payload.length);
		return -ENOMEM;
	}
	*out = (void *)p;
	return 0;
}

/* Copies a result's output out of the worker's arena, checked; a memfd
 * output is mapped instead. */
int pp_copy_output(struct process_pool *pool, struct pp_worker *w,
		   const struct pp_frame *f, void **out)
{
	const void *src;

	*out = NULL;
	if (f->flags & PP_FRAME_F_FD)
		return map_output(pool, w, f, out);
	if (f->flags & PP_FRAME_F_INLINE)
		src = f->inline_data;
	else
		src = pp_channel_peer_payload(&w->ch, &f->payload);
	if (f->payload.length == 0)
		return 0;
	if (!src || f->payload.length > pool->cfg.max_output_size)
		return -EPROTO;
	*out = malloc((size_t)f->payload.length);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, src, (size_t)f->payload.length);
	return 0;
}

/*
 * Results of one drain that ended normally: decided at once (claimed and
 * filled), then counted with one atomic add per figure and published
 * together, still before any waiter can see them.
 */
struct resolved_batch {
	struct task_future *t[64];
	unsigned n;
	uint64_t count[TASK_STATUS_COUNT];
	uint64_t run_ns, runs;
};

static void publish_batch(struct process_pool *pool, struct resolved_batch *b)
{
	uint64_t lat[sizeof(b->t) / sizeof(b->t[0])];
	struct pp_latency_sample split[sizeof(b->t) / sizeof(b->t[0])];
	unsigned i;
	int s;

	for (s = 0; s < TASK_STATUS_COUNT; s++)
		if (b->count[s]) {
			atomic_fetch_add(&pool->counters[s], b->count[s]);
			b->count[s] = 0;
		}
	if (b->runs) {
		atomic_fetch_add(&pool->run_ns_total, b->run_ns);
		atomic_fetch_add(&pool->run_count, b->runs);
		b->run_ns = b->runs = 0;
	}
	for (i = 0; i < b->n; i++) {
		const task_result_t *r = &b->t[i]->result;

		lat[i] = r->queue_us + r->run_us;
		split[i] = (struct pp_latency_sample){r->queue_us, r->run_us,
						      b->t[i]->priority};
	}
	pp_latency_record_many(&pool->latency, lat, b->n);
	pp_latency_split_record(&pool->split, split, b->n);
	for (i = 0; i < b->n; i++) {
		struct task_future *t = b->t[i];

		pp_future_publish(t);
		log_end(pool, t);
		finish(pool, t);
	}
	b->n = 0;
}

/* Decides t as a plain COMPLETED or FAILED result, published later. */
static void resolve_batched(struct process_pool *pool,
			    struct resolved_batch *b, struct task_future *t,
			    const struct pp_frame *f, void *out, int64_t now)
{
	int status = f->u.result.status;

	if (!pp_future_claim(t)) {
		pp_output_free(out); /* cancelled or timed out first */
		finish(pool, t);
		return;
	}
	pp_future_fill(t, (task_status_t)status, f->u.result.return_code, out,
		       out ? (size_t)f->payload.length : 0, 0, NULL, now);
	b->count[status]++;
	if (t->result.run_us) {
		b->run_ns += t->result.run_us * 1000;
		b->runs++;
	}
	b->t[b->n++] = t;
	if (b->n == sizeof(b->t) / sizeof(b->t[0]))
		publish_batch(pool, b);
}

/* A RESULT frame f for t, accepted by pp_frame_check. */
static void on_result(struct process_pool *pool, struct pp_worker *w,
		      struct task_future *t, const struct pp_frame *f,
		      int64_t now, struct resolved_batch *batch)
{
	int status = f->u.result.status;
	task_status_t outcome;
	const char *detail;
	char why[96];
	void *out;
	int err;

	err = pp_copy_output(pool, w, f, &out);
	if (err == -EPROTO) {
		protocol_violation(pool, w,
				   f->flags & PP_FRAME_F_FD
				       ? "memfd output missing or not sealed"
				       : "output outside the arena");
		return;
	}
	pp_worker_unslot(w, t);
	w->tasks_done++;
	atomic_store_explicit(&w->info_done, w->tasks_done,
			      memory_order_relaxed);
	if (status == PP_WORKER_DEFERRED && !pp_future_is_done(t)) {
		pp_output_free(out);
		if (++t->deferrals > MAX_DEFERRALS) {
			pp_resolve(pool, t, TASK_STATUS_PROTOCOL_ERROR, 0, NULL,
				   0, 0, "endless deferral");
			finish(pool, t);
			protocol_violation(pool, w, "endless deferral");
			return;
		}
		if (t->trace)
			pp_trace_attempt_end(t, TASK_STATUS_PENDING, now);
		atomic_store(&t->start_ns, 0);
		atomic_fetch_add(&pool->queued, 1);
		enqueue(pool, t, 1);
		return;
	}
	pp_learn_task_done(pool, w, t->id);
	outcome = result_outcome(pool, w, f, err, &detail, why, sizeof(why));
	if (!detail && (outcome == TASK_STATUS_COMPLETED ||
			outcome == TASK_STATUS_FAILED)) {
		resolve_batched(pool, batch, t, f, out, now);
		return;
	}
	resolve_outcome(pool, t, f, outcome, detail, out, now);
	finish(pool, t);
}

/* A BULK_RESULT f for chunk t, accepted by pp_frame_check. */
static void on_bulk_result(struct process_pool *pool, struct pp_worker *w,
			   struct task_future *t, const struct pp_frame *f,
			   int64_t now)
{
	int gone;
	const char *why = pp_bulk_report(pool, w, t, f, now, &gone);

	if (why) {
		protocol_violation(pool, w, why);
		return;
	}
	w->tasks_done += f->u.bulk.count;
	atomic_store_explicit(&w->info_done, w->tasks_done,
			      memory_order_relaxed);
	pp_learn_task_done(pool, w, t->id);
	if (gone) {
		pp_worker_unslot(w, t);
		finish(pool, t);
	}
}

static void drain_worker(struct process_pool *pool, struct pp_worker *w)
{
	struct resolved_batch batch;
	struct pp_frame f;
	int err = 0, got = 0;
	int64_t now = 0;

	batch.n = 0;
	batch.run_ns = batch.runs = 0;
	memset(batch.count, 0, sizeof(batch.count));
	/* A budget per drain: the loop comes back for the rest after
	 * the other workers have had their turn. */
	while (got < DRAIN_BUDGET && (err = pp_channel_recv(&w->ch, &f)) == 0) {
		struct task_future *t;
		const char *why;

		/* One clock read a drain: every result here was already
		 * back when it started, so that is when they finished. */
		if (!got++)
			now = pp_now_ns();
		why = pp_frame_check(pool, w, &f, &t);
		if (why)
			protocol_violation(pool, w, why);
		else if (f.type == PP_FRAME_LEARNED)
			pp_learn_frame(pool, w, &f);
		else if (f.type == PP_FRAME_RESULT)
			on_result(pool, w, t, &f, now, &batch);
		else if (f.type == PP_FRAME_BULK_RESULT)
			on_bulk_result(pool, w, t, &f, now);
		if (w->state == PP_WORKER_DYING) {
			publish_batch(pool, &batch);
			return;
		}
	}
	publish_batch(pool, &batch);
	if (got) {
		w->heard_ns = now;
		pp_channel_word_store(&w->ch, PP_WORD_RESULTS_ACKED,
				      w->ch.rx_seq);
	}
	if (err == -EPROTO)
		protocol_violation(pool, w, pp_channel_violation_str(&w->ch));
}

static void drain_workers(struct process_pool *pool)
{
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (usable(w))
			drain_worker(pool, w);
	}
}

/* ---- dead workers -------------------------------------------------- */

/* Crash storms back off exponentially, capped at about a second. */
static int64_t respawn_delay(struct process_pool *pool, int64_t now)
{
	if (now - pool->crash_window_ns > 1000000000) {
		pool->crash_window_ns = now;
		pool->crashes_in_window = 0;
		pool->backoff_ns = 0;
	}
	/* A storm is more crashes in a second than a few per worker. */
	if (++pool->crashes_in_window <= 10 + 2 * pool->cfg.max_workers)
		return 0;
	pool->backoff_ns = pool->backoff_ns ? pool->backoff_ns * 2 : 10000000;
	if (pool->backoff_ns > 1000000000)
		pool->backoff_ns = 1000000000;
	/* pool_health shows the loop while respawns wait, and for the rest
	 * of the second it was seen in. */
	atomic_store(&pool->backoff_until_ns,
		     now + pool->backoff_ns > pool->crash_window_ns + 1000000000
			 ? now + pool->backoff_ns
			 : pool->crash_window_ns + 1000000000);
	return pool->backoff_ns;
}

/*
 * What became of a task that was on a worker when it died. The parent
 * cannot know which of a worker's tasks made it die: the worker's own
 * words (RUNNING, the violation word) are written by the code that may
 * have taken it over. So every task that was on it pays one re-run from
 * its own budget, and runs alone on a worker from then on (a suspect):
 * a death with one task on the worker is that task's for certain. Only
 * then does the task get the status that names the cause (a sandbox
 * violation, a resource limit); one that shared its worker ends CRASHED,
 * with the worker's end in the detail. A final end (a task alone on its
 * worker that called exit()) is not re-run.
 */
static void settle_orphan(struct process_pool *pool, struct pp_worker *w,
			  struct task_future *t, unsigned shared,
			  task_status_t cause, int sig, const char *how,
			  int final)
{
	char detail[sizeof(t->result.detail)];

	if (t->bulk) {
		pp_bulk_orphan(pool, w, t, shared, cause, sig, how, final);
		return;
	}
	pp_worker_unslot(w, t);
	if (pp_future_is_done(t)) {
		finish(pool, t);
		return;
	}
	if (!final && t->retries < pool->cfg.max_retries) {
		t->retries++;
		t->suspect = 1;
		atomic_fetch_add(&pool->retried, 1);
		if (t->trace)
			pp_trace_attempt_end(t, TASK_STATUS_CRASHED,
					     pp_now_ns());
		atomic_store(&t->start_ns, 0);
		atomic_fetch_add(&pool->queued, 1);
		enqueue(pool, t, 1);
		return;
	}
	if (shared > 1) {
		snprintf(detail, sizeof(detail), "%u tasks on the worker: %.60s",
			 shared, how);
		pp_resolve(pool, t, TASK_STATUS_CRASHED, 0, NULL, 0, sig,
			   detail);
	} else {
		pp_resolve(pool, t, cause, 0, NULL, 0, sig, how);
	}
	finish(pool, t);
}

/* Killed by the CPU hard limit (a task that ignored SIGXCPU): the CPU
 * time waitid reports has reached the limit. */
static int cpu_limit_hit(const struct process_pool *pool, const siginfo_t *info)
{
	long tck = sysconf(_SC_CLK_TCK);
	long cpu = (long)(info->si_utime + info->si_stime);

	return tck > 0 && cpu / tck >= (long)pool->cfg.rlimit_cpu_s;
}

static void reap(struct process_pool *pool, struct pp_worker *w)
{
	uint32_t violation = pp_channel_word_load(&w->ch, PP_WORD_VIOLATION);
	unsigned hit, shared = w->in_flight;
	int max = pool->cfg.max_in_flight, s, sig = 0, code = 0, final = 0;
	task_status_t cause = TASK_STATUS_CRASHED;
	char how[96];
	siginfo_t info;

	/* Its last words first, while its tasks are still on it. */
	pp_worker_output_finish(pool, w);
	memset(&info, 0, sizeof(info));
	/* ECHILD: a host that ignores SIGCHLD had it reaped already. */
	if (waitid((idtype_t)P_PIDFD, (id_t)w->pidfd, &info, WEXITED) == 0) {
		if (info.si_code == CLD_EXITED)
			code = info.si_status;
		else
			sig = info.si_status;
	}
	if (sig)
		snprintf(how, sizeof(how), "worker %d killed by signal %d (%s)",
			 (int)w->pid, sig, strsignal(sig));
	else
		snprintf(how, sizeof(how), "worker %d exited with code %d",
			 (int)w->pid, code);
	hit = w->cg_leaf[0] ? pp_cgroup_leaf_limit_hit(w->cg_leaf) : 0;
	/* A refusal already reported with its task's result is not news. */
	if ((hit & PP_CG_PIDS) && w->pids_events_fd >= 0 &&
	    !pp_worker_pids_refused(w))
		hit &= ~PP_CG_PIDS;
	pp_worker_close_events(w);
	if (hit) {
		w->kill_reason = TASK_STATUS_RESOURCE_LIMIT;
		snprintf(how, sizeof(how),
			 "worker %d hit its cgroup %s limit%s", (int)w->pid,
			 hit & PP_CG_MEMORY ? "memory" : "pids",
			 hit & PP_CG_MEMORY ? " (OOM kill)" : "");
	} else if (sig == SIGXCPU || sig == SIGXFSZ ||
		   (sig == SIGKILL && !w->kill_reason &&
		    pool->cfg.rlimit_cpu_s && cpu_limit_hit(pool, &info))) {
		w->kill_reason = TASK_STATUS_RESOURCE_LIMIT;
		snprintf(how, sizeof(how), "worker %d hit its %s limit",
			 (int)w->pid,
			 sig == SIGXFSZ ? "file size" : "CPU time");
	} else if ((code == PP_EXIT_SANDBOX || sig == SIGSYS) && violation) {
		w->kill_reason = TASK_STATUS_SANDBOX_VIOLATION;
		pp_violation_detail((int)violation - 1, how, sizeof(how));
	} else if (sig == SIGSYS && !pool->cfg.sandbox_off) {
		/* Trapped again inside the handler (a runtime wrapping it,
		 * such as a sanitizer): the syscall is not known. */
		w->kill_reason = TASK_STATUS_SANDBOX_VIOLATION;
		snprintf(how, sizeof(how),
			 "worker %d killed by SIGSYS: seccomp denied a syscall",
			 (int)w->pid);
	} else if (code == PP_EXIT_CGROUP && !sig) {
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "spawn_failed",
		       "worker=%d pid=%d reason=cgroup_attach leaf=%s",
		       w->index, (int)w->pid, w->cg_leaf);
		snprintf(how, sizeof(how),
			 "worker could not move into its cgroup leaf");
	} else if (code > PP_EXIT_CONFINE &&
		   code <= PP_EXIT_CONFINE + PP_CONFINE_LEARN) {
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "confine_failed",
		       "worker=%d pid=%d step=\"%s\"", w->index, (int)w->pid,
		       pp_confine_step_str(code - PP_EXIT_CONFINE));
		snprintf(how, sizeof(how),
			 "worker could not confine itself (%s)",
			 pp_confine_step_str(code - PP_EXIT_CONFINE));
	} else if (w->starting &&
		   atomic_load(&pool->state) == PP_POOL_RUNNING) {
		/* (A stop kills a worker still starting: not its fault.) */
		pp_worker_init_died(pool, w, code, sig, how, sizeof(how));
	} else {
		/* A task called exit(): alone on the worker, it is that
		 * task's own doing, final like a return; with others there,
		 * a crash like any other. */
		final = pp_exit_trap_detail(&w->ch, code, sig, w->pid, how,
					    sizeof(how)) >= 0 &&
			shared == 1;
	}
	if (w->health_failed)
		snprintf(how, sizeof(how),
			 "worker %d did not answer a health check",
			 (int)w->pid);
	else if (w->kill_reason == TASK_STATUS_RESOURCE_LIMIT ||
		 w->kill_reason == TASK_STATUS_SANDBOX_VIOLATION)
		cause = (task_status_t)w->kill_reason;
	else if (w->kill_reason)
		snprintf(how, sizeof(how),
			 "worker %d killed to stop another task (%s)",
			 (int)w->pid, pool_task_status_str(w->kill_reason));
	for (s = 0; s < max; s++) {
		struct task_future *t = w->slots[s];

		if (t)
			settle_orphan(pool, w, t, shared, cause, sig, how,
				      final);
	}
	if (!w->iso.discarded &&
	    (w->state != PP_WORKER_RETIRING || sig || code))
		pp_log(w->kill_reason ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
		       pool->cfg.pool_name, "worker_exit",
		       "worker=%d pid=%d signal=%d code=%d", w->index,
		       (int)w->pid, sig, code);
	epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, w->pidfd, NULL);
	epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, w->ch.wake_rd, NULL);
	close(w->pidfd);
	w->pidfd = -1;
	if (w->cg_leaf[0]) {
		pp_cgroup_leaf_kill(w->cg_leaf); /* anything it left behind */
		pp_cgroup_leaf_remove(w->cg_leaf);
		w->cg_leaf[0] = '\0';
	}
	pp_channel_close(&w->ch);
	pp_spares_gone(pool, w);
	pool->live_workers--;
	pp_spares_publish(pool);
	if (atomic_load(&pool->state) == PP_POOL_RUNNING &&
	    w->state != PP_WORKER_RETIRING) {
		int64_t now = pp_now_ns();
		int crashed =
		    (sig || code || w->kill_reason) && !w->iso.discarded;

		w->respawn_at_ns =
		    now + (crashed ? respawn_delay(pool, now) : 0);
		if (!w->respawn_at_ns)
			w->respawn_at_ns = 1;
		/* A process isolation discards by design is no restart: a
		 * per-task pool would otherwise count one per task. */
		if (!w->iso.discarded) {
			w->restarts++;
			atomic_fetch_add(&pool->restarts, 1);
		}
	}
	w->state = PP_WORKER_EMPTY;
	w->pid = 0;
	atomic_store(&w->info_pid, 0);
	atomic_store(&w->info_restarts, w->restarts);
}

/* ---- dispatch ---------------------------------------------------------- */

/*
 * Tasks one worker may hold. A pool that can still grow keeps its backlog
 * in its own queue (two per worker: one running, one ready), where a new
 * worker can take it; a full-grown pool pipelines max_in_flight deep.
 */
static unsigned in_flight_cap(const struct process_pool *pool)
{
	if (pool->cfg.enable_dynamic_scaling &&
	    pool->target_workers < pool->cfg.max_workers &&
	    pool->cfg.max_in_flight > 2)
		return 2;
	return (unsigned)pool->cfg.max_in_flight;
}

/* Tasks on w that a task of priority prio would wait behind. */
static unsigned ahead_of(const struct pp_worker *w, int prio)
{
	unsigned n = 0;
	int p;

	for (p = prio; p < TASK_PRIORITY_COUNT; p++)
		n += w->by_prio[p];
	return n;
}

/*
 * A worker due for recycling takes no new task, so that what it holds
 * drains and it is retired even under constant load (a pipeline that is
 * never empty would keep it for ever); the count includes the tasks on
 * it, so that max_tasks_per_worker is not overrun by pipelining.
 */
static int draining(const struct pp_worker *w)
{
	return w->recycle_now ||
	       (w->recycle_after &&
		w->tasks_done + w->in_flight >= w->recycle_after);
}

/*
 * The worker where a task of priority prio starts soonest: a worker runs
 * its highest priority first, so what counts is how many tasks of that
 * priority or above it holds; its total load breaks ties. prio < 0: any.
 */
static struct pp_worker *best_worker(struct process_pool *pool, int prio,
				     const struct pp_iso_domain *d)
{
	unsigned cap = in_flight_cap(pool), best_ahead = 0, ahead;
	struct pp_worker *best = NULL;
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (w->state != PP_WORKER_LIVE || !usable(w) || w->spare ||
		    w->in_flight >= cap || w->suspects || draining(w) ||
		    w->starting || !pp_iso_may_send(&w->iso, d))
			continue;
		ahead = prio < 0 ? w->in_flight : ahead_of(w, prio);
		if (!best || ahead < best_ahead ||
		    (ahead == best_ahead && w->in_flight < best->in_flight)) {
			best = w;
			best_ahead = ahead;
		}
	}
	return best;
}

/* A live worker with nothing on it, for a task that must run alone. */
static struct pp_worker *idle_worker(struct process_pool *pool,
				     const struct pp_iso_domain *d)
{
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (w->state == PP_WORKER_LIVE && usable(w) && !w->spare &&
		    !w->in_flight && !w->starting && !draining(w) &&
		    pp_iso_may_send(&w->iso, d))
			return w;
	}
	return NULL;
}

/*
 * Results come back mostly in the order tasks were placed, so the slot
 * after the last one taken is almost always free: the search starts there
 * and a deep pipeline does not rescan its busy slots for every task.
 */
static unsigned free_slot(struct process_pool *pool, struct pp_worker *w)
{
	unsigned n = (unsigned)pool->cfg.max_in_flight, i, s;

	for (i = 0; i < n; i++) {
		s = (w->slot_hint + i) % n;
		if (!w->slots[s]) {
			w->slot_hint = s + 1;
			return s;
		}
	}
	return 0; /* unreachable: the caller checked in_flight */
}

/*
 * Places a task on a worker; returns 0, -ENOSPC when its arena is full or
 * -EAGAIN when its payload socket is (wait for results), or another
 * negated errno when a large input's memfd could not be made.
 */
static int place(struct process_pool *pool, struct pp_worker *w,
		 struct task_future *t, int prio, int64_t now,
		 struct pp_frame *f)
{
	unsigned slot = free_slot(pool, w);
	int by_fd = pp_worker_input_by_fd(pool, t);
	void *dst;

	t->usage_set = 0; /* a USAGE claim is per attempt */
	memset(&t->arena_in, 0, sizeof(t->arena_in));
	if (by_fd) {
		int err = pp_worker_send_input_fd(w, t,
						  pp_wire_id(t->id, slot));
		if (err)
			return err;
	} else if (t->input_size) {
		/* A chunk's region has room for the outcomes after it. */
		size_t room = t->bulk ? pp_bulk_region_size(t) : t->input_size;
		int err = pp_channel_alloc(&w->ch, room, &t->arena_in, &dst);
		if (err)
			return err;
		memcpy(dst, t->input, t->input_size);
	}
	t->slot = slot;
	t->worker = w;
	/* Figures for the result and the stats: no ordering needed. */
	atomic_store_explicit(&t->worker_pid, (int)w->pid,
			      memory_order_relaxed);
	atomic_store_explicit(&t->start_ns, now, memory_order_relaxed);
	PP_PROBE3(dispatch, t->id, w->pid, prio);
	w->slots[t->slot] = t;
	w->in_flight++;
	atomic_store_explicit(&w->info_busy, 1, memory_order_relaxed);
	t->placed_prio = prio;
	w->by_prio[prio]++;
	w->suspects += t->suspect ? 1u : 0u;
	pp_iso_note_sent(&w->iso, &t->iso);
	pp_frame_note_placed(pool, w, prio);
	memset(f, 0, sizeof(*f));
	f->type = t->bulk ? PP_FRAME_BULK : PP_FRAME_SUBMIT;
	/* The worker orders by the aged priority, as the parent does. */
	f->flags = (uint16_t)(prio << PP_FRAME_F_PRIO_SHIFT);
	f->task_id = pp_wire_id(t->id, t->slot);
	f->u.submit.func = t->func_ref;
	f->u.submit.user_data = (uint64_t)(uintptr_t)t->user_data;
	f->payload = t->arena_in;
	if (by_fd) {
		f->flags |= PP_FRAME_F_FD;
		f->payload.length = t->input_size;
	}
	return 0;
}

/* A traced task's context goes just ahead of its SUBMIT (f[0]), in the
 * same batch: f[0] becomes the TRACE, f[1] the SUBMIT. Returns the
 * frames added (0 or 1). */
static unsigned with_trace(const struct task_future *t, struct pp_frame *f)
{
	struct pp_frame submit = f[0];

	if (!pp_trace_frame(t, &f[0]))
		return 0;
	f[0].task_id = submit.task_id;
	f[1] = submit;
	return 1;
}

static void flush(struct process_pool *pool, struct pp_worker *w,
		  struct pp_dispatch_batch *b)
{
	int sent;

	if (!b->n)
		return;
	sent = pp_channel_send_batch(&w->ch, b->frames, b->n);
	if (pool->span_hook)
		pp_trace_flushed(w, b->frames, b->n);
	/* The ring holds 3 x max_in_flight + 8: it cannot be full here. */
	if (sent != (int)b->n)
		protocol_violation(pool, w,
				   sent == -EPROTO
				       ? pp_channel_violation_str(&w->ch)
				       : "submission ring full");
	b->n = 0;
}

static void publish_waiting(struct process_pool *pool, int64_t now)
{
	int prio, i;
	struct pp_fifo *q = best_fifo(pool, now, &prio);
	uint32_t v = q ? (uint32_t)prio + 1 : 0;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		/* What the parent last stored, not what the word says now:
		 * the worker can write it too. */
		if (w->state == PP_WORKER_LIVE && usable(w) && !w->spare &&
		    w->waiting_published != v) {
			pp_channel_word_store(&w->ch, PP_WORD_WAITING_PRIO, v);
			pp_frame_note_waiting(pool, w, v);
		}
	}
}

static void dispatch(struct process_pool *pool)
{
	struct pp_dispatch_batch *batches = pool->batches;
	int64_t now = pp_now_ns();
	int nworkers = pool->n_slots, i, prio;
	size_t placed[TASK_PRIORITY_COUNT] = {0}, placed_all = 0;

	for (;;) {
		struct pp_fifo *q = best_fifo(pool, now, &prio);
		struct task_future *t;
		struct pp_worker *w;

		if (!q)
			break;
		t = q->head;
		if ((t->bulk && pp_bulk_dropped(pool, t)) ||
		    pp_future_is_done(t)) {
			fifo_pop(q);
			leave_queue(pool, t);
			finish(pool, t);
			continue;
		}
		/* A suspect (it was on a worker that died) runs alone. */
		w = t->suspect ? idle_worker(pool, &t->iso)
			       : best_worker(pool, prio, &t->iso);
		if (!w) {
			/* No process of its domain: make room for one, at
			 * once when a spare takes its place. */
			w = pp_iso_evict(pool, &t->iso);
			if (w)
				discard(pool, w, "isolation key");
			if (w && pp_spares_promote(pool))
				continue;
			break;
		}
		struct pp_dispatch_batch *b = &batches[w->index];
		int err;

		/* Room for a TRACE frame and its SUBMIT. */
		if (b->n + 2 > sizeof(b->frames) / sizeof(b->frames[0]))
			flush(pool, w, b);
		err = place(pool, w, t, prio, now, &b->frames[b->n]);
		if (err == -ENOSPC || err == -EAGAIN)
			break; /* arena or socket full: wait for results */
		if (err) {
			fifo_pop(q);
			leave_queue(pool, t);
			pp_resolve(pool, t, TASK_STATUS_REJECTED, 0, NULL, 0, 0,
				   "could not make the input's memfd");
			finish(pool, t);
			continue;
		}
		if (t->trace)
			b->n += with_trace(t, &b->frames[b->n]);
		b->n++;
		fifo_pop(q);
		/* Left the queue: counted once for the whole round. */
		placed[t->priority]++;
		placed_all++;
	}
	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		if (placed[i])
			atomic_fetch_sub(&pool->depth[i], placed[i]);
	if (placed_all)
		atomic_fetch_sub(&pool->queued, placed_all);
	for (i = 0; i < nworkers; i++)
		if (batches[i].n)
			flush(pool, &pool->workers[i], &batches[i]);
	publish_waiting(pool, now);
}

/* ---- submissions, cancels, deadlines ------------------------------- */

static void take_incoming(struct process_pool *pool)
{
	size_t added[TASK_PRIORITY_COUNT] = {0};
	void *item;
	int i;

	/* Each entry is a chain of tasks (a batch) linked through next. */
	while (pp_mpmc_pop(pool->incoming, &item) == 0) {
		struct task_future *t = item, *next;

		for (; t; t = next) {
			next = t->next;
			if (t->deadline_ns)
				pp_deadline_add(&pool->deadlines, t);
			fifo_push(&pool->pending[t->priority], t, 0);
			added[t->priority]++;
		}
	}
	/* The depth figures move once per round, not once per task. */
	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		if (added[i])
			atomic_fetch_add(&pool->depth[i], added[i]);
}

/* Chunks of cancelled maps, queued or on a worker, end now. */
static void take_map_cancels(struct process_pool *pool)
{
	uint64_t n = atomic_load(&pool->map_cancels);
	struct task_future *t;
	int i, s;

	if (n == pool->map_cancels_seen)
		return;
	pool->map_cancels_seen = n;
	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		for (t = pool->pending[i].head; t; t = t->next)
			pp_bulk_dropped(pool, t); /* skipped at dispatch */
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		for (s = 0; w->slots && s < pool->cfg.max_in_flight; s++) {
			t = w->slots[s];
			if (t && pp_bulk_dropped(pool, t))
				stop_on_worker(pool, t, TASK_STATUS_CANCELLED);
		}
	}
}

static void take_cancels(struct process_pool *pool)
{
	void *item;

	while (pp_mpmc_pop(pool->cancels, &item) == 0) {
		struct task_future *t = item;
		struct pp_worker *w;

		if (t->worker)
			stop_on_worker(pool, t, TASK_STATUS_CANCELLED);
		else if (t->chunk && (w = pp_bulk_cancel_task(pool, t)))
			kill_worker(pool, w, TASK_STATUS_CANCELLED,
				    "task stopped while running");
		pp_future_put(t); /* the reference pool_future_cancel took */
	}
	take_map_cancels(pool);
}

void pp_requeue(struct process_pool *pool, struct task_future *t)
{
	if (t->deadline_ns && t->heap_index < 0)
		pp_deadline_add(&pool->deadlines, t);
	atomic_fetch_add(&pool->queued, 1);
	enqueue(pool, t, 1);
}


static void expire_deadlines(struct process_pool *pool, int64_t now)
{
	struct task_future *t;

	while ((t = pp_deadline_expired(&pool->deadlines, now)) != NULL) {
		if (t->stopping) {
			check_stop(pool, t, now);
			continue;
		}
		if (!pp_resolve(pool, t, TASK_STATUS_TIMEOUT, 0, NULL, 0, 0,
				t->worker ? "deadline passed while on a worker"
					  : "deadline passed while queued"))
			continue;
		if (t->worker)
			stop_on_worker(pool, t, TASK_STATUS_TIMEOUT);
	}
}

/* ---- housekeeping: respawn, scaling, recycling --------------------- */

static int target_workers(struct process_pool *pool)
{
	return pool->target_workers;
}

/* A worker that did not answer its PING: replaced, and remembered for
 * pool_health. */
static void health_failed(struct process_pool *pool, struct pp_worker *w,
			  int64_t now)
{
	pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "health_check_failed",
	       "worker=%d pid=%d waited_ms=%lld", w->index, (int)w->pid,
	       (long long)((now - w->ping_sent_ns) / 1000000));
	w->health_failed = 1;
	atomic_store(&pool->unresponsive_ns, now);
	atomic_fetch_add(&pool->unresponsive_total, 1);
	pp_worker_kill(w);
}

static void housekeeping(struct process_pool *pool, int64_t now)
{
	int i, live = 0, busy = 0, spares = 0, held_back = 0,
	       running = atomic_load(&pool->state) == PP_POOL_RUNNING;
	size_t waiting = 0;

	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		waiting += pool->pending[i].count;
	pp_recycle_check(pool, now);
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (w->out_paused_until && now >= w->out_paused_until) {
			w->out_paused_until = 0;
			if (w->out.open &&
			    epoll_add(pool, w->out.fd,
				      tag(TAG_OUTPUT, (uint32_t)w->index)))
				pp_worker_output_finish(pool, w);
		}
		if (w->state == PP_WORKER_LIVE && usable(w) &&
		    pp_health_check(pool, w, now))
			health_failed(pool, w, now);
		if (w->state == PP_WORKER_LIVE && usable(w))
			pp_worker_init_check(pool, w, now);
		pp_arena_trim_check(pool, w, now);
		if (w->spare) {
			/* Idle by design and sent nothing: its age and its
			 * health (above) are all that can end it early. */
			if (w->state == PP_WORKER_LIVE && usable(w) &&
			    w->recycle_now)
				discard(pool, w, w->recycle_now);
			spares += w->state == PP_WORKER_LIVE;
			continue;
		}
		if (w->state == PP_WORKER_LIVE)
			live++;
		if (!usable(w) || w->in_flight)
			busy++; /* a lent worker is running a client's task */
		if (w->state == PP_WORKER_EMPTY && w->respawn_at_ns &&
		    w->respawn_at_ns > now)
			held_back = 1; /* a crash loop's back-off */
		/* Its wait is over: filled below, once the live workers
		 * and spares are counted, as a worker or as a spare. */
		if (w->state == PP_WORKER_EMPTY && w->respawn_at_ns &&
		    w->respawn_at_ns <= now && running)
			w->respawn_at_ns = 0;
		if (w->state == PP_WORKER_LIVE && usable(w) && !w->in_flight &&
		    pp_iso_spent(&w->iso)) {
			discard(pool, w, "ran its one task");
			live--;
			continue;
		}
		if (w->state == PP_WORKER_LIVE && usable(w) && !w->in_flight &&
		    (w->recycle_now || (w->recycle_after &&
					w->tasks_done >= w->recycle_after))) {
			struct pp_frame f;

			memset(&f, 0, sizeof(f));
			f.type = PP_FRAME_SHUTDOWN;
			pp_channel_send(&w->ch, &f);
			w->state = PP_WORKER_RETIRING;
			w->respawn_at_ns = 0;
			w->retire_by_ns = now + RETIRE_GRACE_NS;
			live--;
		}
		if (w->state == PP_WORKER_RETIRING && w->retire_by_ns &&
		    now >= w->retire_by_ns && usable(w)) {
			pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name,
			       "worker_retire_timeout",
			       "worker=%d pid=%d in_flight=%u", w->index,
			       (int)w->pid, w->in_flight);
			w->retire_by_ns = 0;
			pp_worker_kill(w);
		}
	}
	atomic_store(&pool->busy_workers, busy);
	/* Idle for a second (seen on the idle timer): the futures cached
	 * for the last burst go back to malloc. */
	if (busy || waiting)
		pool->last_busy_ns = now;
	else if (now - pool->last_busy_ns > IDLE_TRIM_NS)
		pp_future_cache_trim(PP_FUTURE_CACHE_KEEP);
	if (!running || !pool->cfg.enable_dynamic_scaling)
		goto refill;
	/* Grow by the backlog at once, not one worker per tick. */
	if (waiting && busy >= live) {
		size_t room =
		    (size_t)(pool->cfg.max_workers - pool->target_workers);

		pool->target_workers += (int)(waiting < room ? waiting : room);
		if (room)
			pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "scale_up",
			       "workers=%d waiting=%zu", pool->target_workers,
			       waiting);
	}
	for (i = 0; i < pool->n_slots && !waiting; i++) {
		struct pp_worker *w = &pool->workers[i];
		struct pp_frame f;

		if (w->state != PP_WORKER_LIVE || !usable(w) || w->in_flight ||
		    w->spare ||
		    pool->target_workers <= pool->cfg.min_workers ||
		    now - w->idle_since_ns <
			(int64_t)pool->cfg.worker_idle_timeout * 1000000)
			continue;
		/* Only an idle worker is retired: claim it, then tell it. */
		memset(&f, 0, sizeof(f));
		f.type = PP_FRAME_SHUTDOWN;
		w->state = PP_WORKER_RETIRING;
		w->retire_by_ns = now + RETIRE_GRACE_NS;
		pp_channel_send(&w->ch, &f);
		pool->target_workers--;
		pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "scale_down",
		       "worker=%d workers=%d", w->index, pool->target_workers);
	}
refill:
	/* A worker gone is replaced by a spare at once, else by a new
	 * process; recycled and scaled-up slots are filled the same way. */
	while (running && live < target_workers(pool) &&
	       pp_spares_promote(pool)) {
		live++;
		spares--;
	}
	for (i = 0; running && i < pool->n_slots &&
		    live < target_workers(pool);
	     i++) {
		struct pp_worker *w = &pool->workers[i];

		if (w->state == PP_WORKER_EMPTY && !w->respawn_at_ns &&
		    spawn_into(pool, w) == 0)
			live++;
	}
	/* Then the spares, unless crashes hold respawns back. */
	for (i = 0; running && !held_back && i < pool->n_slots &&
		    spares < pool->cfg.spare_workers;
	     i++) {
		struct pp_worker *w = &pool->workers[i];

		if (w->state == PP_WORKER_EMPTY && !w->respawn_at_ns &&
		    pp_spares_spawn(pool, w) == 0)
			spares++;
	}
}

/* ---- sleeping --------------------------------------------------------- */

static int work_waiting(struct process_pool *pool)
{
	int i;

	if (pp_mpmc_size_approx(pool->incoming) ||
	    pp_mpmc_size_approx(pool->cancels))
		return 1;
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (atomic_load(&w->returned))
			return 1;
		if (usable(w) && pp_ring_readable(&w->ch.rx) != 0)
			return 1;
	}
	return 0;
}

static int64_t next_timer(struct process_pool *pool, int64_t now)
{
	int64_t next = now + HOUSEKEEPING_NS * 100;
	struct task_future *t = pp_deadline_peek(&pool->deadlines);
	int running = atomic_load(&pool->state) == PP_POOL_RUNNING, i;

	if (t && t->deadline_ns < next)
		next = t->deadline_ns;
	for (i = 0; i < pool->n_slots; i++) {
		/* A pool that is not running respawns nothing (housekeeping
		 * leaves the time in place): a respawn time that has passed
		 * would arm the timer in the past on every turn. */
		int64_t at = running ? pool->workers[i].respawn_at_ns : 0;
		int64_t out = pool->workers[i].out_paused_until;

		/* Not one a lane client holds (it owns the fields): it is
		 * looked at once it comes back. */
		int64_t health = pool->workers[i].state == PP_WORKER_LIVE &&
					 usable(&pool->workers[i])
				     ? pp_health_due(pool, &pool->workers[i])
				     : 0;

		int64_t retire = pool->workers[i].state == PP_WORKER_RETIRING
				     ? pool->workers[i].retire_by_ns
				     : 0;
		int64_t init = pool->workers[i].state == PP_WORKER_LIVE
				   ? pp_worker_init_deadline(pool,
							     &pool->workers[i])
				   : 0;
		int64_t trim = pp_arena_trim_due(&pool->workers[i]);

		if (at && at < next)
			next = at;
		if (retire && retire < next)
			next = retire;
		if (init && init < next)
			next = init;
		if (trim && trim < next)
			next = trim;
		if (out && out < next)
			next = out;
		if (health && health < next)
			next = health;
	}
	{
		int64_t recycle = pp_recycle_due(pool, now);
		int64_t restart = pp_restart_due(pool, now);

		if (recycle && recycle < next)
			next = recycle;
		if (restart && restart < next)
			next = restart;
	}
	if (pool->cfg.enable_dynamic_scaling || pool->cfg.max_tasks_per_worker)
		if (now + HOUSEKEEPING_NS < next)
			next = now + HOUSEKEEPING_NS;
	if (atomic_load(&pool->state) == PP_POOL_STOPPING)
		if (now + HOUSEKEEPING_NS / 10 < next)
			next = now + HOUSEKEEPING_NS / 10;
	return next;
}

static void arm_timer(struct process_pool *pool, int64_t at)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (at <= 0)
		at = 1;
	its.it_value.tv_sec = at / 1000000000;
	its.it_value.tv_nsec = at % 1000000000;
	timerfd_settime(pool->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/*
 * A worker's wakeup pipe is readable: drain it, whoever holds the worker
 * (the read end is the parent's alone). More bytes than the parent's
 * arms allowed is a flood: the fd is no longer watched and the worker is
 * replaced, at once if the supervisor holds it, else killed now and
 * judged when its client gives it back.
 */
static void on_wakeup(struct process_pool *pool, struct pp_worker *w)
{
	int expect = PP_LANE_FREE;

	if (pp_channel_drain_wakes(&w->ch) == 0)
		return;
	epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL, w->ch.wake_rd, NULL);
	if (w->state == PP_WORKER_DYING || w->state == PP_WORKER_EMPTY)
		return;
	atomic_compare_exchange_strong(&w->lane, &expect, PP_LANE_SUPERVISOR);
	if (usable(w)) {
		protocol_violation(pool, w, "wakeup flood");
		return;
	}
	w->wake_fault = "wakeup flood";
	if (w->cg_leaf[0])
		pp_cgroup_leaf_kill(w->cg_leaf);
	pp_worker_signal(w, SIGKILL);
}

static void handle_events(struct process_pool *pool, struct epoll_event *ev,
			  int n)
{
	uint64_t junk;
	int i;

	for (i = 0; i < n; i++) {
		uint32_t kind = (uint32_t)(ev[i].data.u64 >> 32);
		uint32_t idx = (uint32_t)ev[i].data.u64;

		if (kind == TAG_WAKE) {
			if (read(pool->wake_fd, &junk, sizeof(junk)) < 0)
				junk = 0;
		} else if (kind == TAG_TIMER) {
			if (read(pool->timer_fd, &junk, sizeof(junk)) < 0)
				junk = 0;
		} else if (kind == TAG_CHANNEL &&
			   idx < (uint32_t)pool->n_slots) {
			on_wakeup(pool, &pool->workers[idx]);
		} else if (kind == TAG_PIDFD &&
			   idx < (uint32_t)pool->n_slots) {
			struct pp_worker *w = &pool->workers[idx];
			int expect = PP_LANE_FREE;

			atomic_compare_exchange_strong(&w->lane, &expect,
						       PP_LANE_SUPERVISOR);
			if (atomic_load(&w->lane) == PP_LANE_CLIENT) {
				/* Reaped when the client gives it back. */
				atomic_store(&w->dead_pending, 1);
				epoll_ctl(pool->epoll_fd, EPOLL_CTL_DEL,
					  w->pidfd, NULL);
			} else if (w->state != PP_WORKER_EMPTY) {
				drain_worker(pool, w);
				reap(pool, w);
			}
		} else if (kind == TAG_OUTPUT &&
			   idx < (uint32_t)pool->n_slots) {
			pp_worker_output_event(pool, &pool->workers[idx]);
		} else if (kind == PP_SIGNALS_TAG) {
			pp_signals_event(pool);
		}
	}
}

/*
 * Between iterations, idle workers are lent out: a synchronous submitter
 * may claim one and run its task there with the supervisor off the path.
 * Only while nothing is queued, so the queue keeps its priority order.
 */
static void lend_idle(struct process_pool *pool)
{
	int i;

	if (atomic_load(&pool->state) != PP_POOL_RUNNING)
		return;
	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		if (pool->pending[i].count)
			return;
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (w->state == PP_WORKER_LIVE && usable(w) && !w->spare &&
		    !w->in_flight && !w->ch.violation && !w->starting)
			atomic_store(&w->lane, PP_LANE_FREE);
	}
}

/* Work a client left on a worker it gave back. */
static void take_back(struct process_pool *pool, struct pp_worker *w)
{
	const char *fault = w->lane_fault ? w->lane_fault : w->wake_fault;
	int s;

	/* A violation found while the client held it: the same outcome as
	 * if the supervisor had read the frame itself. */
	w->lane_fault = w->wake_fault = NULL;
	if (fault && w->state != PP_WORKER_DYING &&
	    w->state != PP_WORKER_EMPTY)
		protocol_violation(pool, w, fault);

	for (s = 0; s < pool->cfg.max_in_flight; s++) {
		struct task_future *t = w->slots[s];

		if (!t)
			continue;
		if (pp_future_is_done(t))
			stop_on_worker(pool, t, t->result.status);
		else if (t->deadline_ns)
			pp_deadline_add(&pool->deadlines, t);
	}
	if (atomic_load(&w->dead_pending)) {
		atomic_store(&w->dead_pending, 0);
		drain_worker(pool, w);
		reap(pool, w);
	}
}

/* Takes every idle lent worker back, and handles the ones given back. */
static void reclaim_lanes(struct process_pool *pool)
{
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];
		int expect = PP_LANE_FREE;

		atomic_compare_exchange_strong(&w->lane, &expect,
					       PP_LANE_SUPERVISOR);
		/* A worker that died while its client held it is reaped
		 * here however the client let it go: with work left on it
		 * (returned), or idle after a result it had sent before
		 * dying, when nothing else would look at it again. */
		if (atomic_load(&w->lane) == PP_LANE_SUPERVISOR &&
		    (atomic_exchange(&w->returned, 0) ||
		     atomic_load(&w->dead_pending)))
			take_back(pool, w);
	}
}

static int lanes_lent(struct process_pool *pool)
{
	int i, n = 0;

	for (i = 0; i < pool->n_slots; i++)
		n += atomic_load(&pool->workers[i].lane) == PP_LANE_CLIENT;
	return n;
}

/* Stop deadline: a client still running a task there gets it killed. */
static void kill_lent(struct process_pool *pool)
{
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		if (atomic_load(&w->lane) == PP_LANE_CLIENT && w->pidfd >= 0)
			pp_worker_signal(w, SIGKILL);
	}
}

/* Spins briefly, then sleeps in epoll until there is something to do. */
static void wait_for_work(struct process_pool *pool)
{
	struct epoll_event ev[32];
	unsigned char *armed = pool->armed;
	int i, n, ready = 0;
	/* Before lending: a worker a client may claim is not read. */
	int64_t wake_at = next_timer(pool, pp_now_ns());

	lend_idle(pool);
	for (i = 0; i < SPIN_ROUNDS; i++) {
		if (work_waiting(pool))
			return;
		pp_cpu_relax();
	}
	arm_timer(pool, wake_at);
	atomic_store(&pool->supervisor_sleeping, 1);
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		armed[i] = usable(w);
		if (armed[i])
			ready |= pp_channel_arm(&w->ch) != 0;
	}
	if (!ready && !work_waiting(pool))
		n = epoll_wait(pool->epoll_fd, ev, 32, -1);
	else
		n = epoll_wait(pool->epoll_fd, ev, 32, 0);
	atomic_store(&pool->supervisor_sleeping, 0);
	for (i = 0; i < pool->n_slots; i++)
		if (armed[i])
			pp_channel_disarm(&pool->workers[i].ch);
	if (n > 0)
		handle_events(pool, ev, n);
}

void pp_supervisor_wake(struct process_pool *pool)
{
	uint64_t one = 1;

	/* The push is visible before the flag is read (the supervisor
	 * does the mirror image). */
	if (pp_load_after_publish_u32(&pool->supervisor_sleeping) &&
	    write(pool->wake_fd, &one, sizeof(one)) < 0)
		errno = 0;
}

/* ---- stopping --------------------------------------------------------- */

static int nothing_left(struct process_pool *pool)
{
	int i;

	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		if (pool->pending[i].count)
			return 0;
	for (i = 0; i < pool->n_slots; i++)
		if (usable(&pool->workers[i]) && pool->workers[i].in_flight)
			return 0;
	return !pp_mpmc_size_approx(pool->incoming);
}

static void cancel_everything(struct process_pool *pool)
{
	struct task_future *t;
	int i, s;

	take_incoming(pool);
	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		while ((t = fifo_pop(&pool->pending[i])) != NULL) {
			leave_queue(pool, t);
			pp_resolve(pool, t, TASK_STATUS_CANCELLED, 0, NULL, 0,
				   0, "pool stopped");
			finish(pool, t);
		}
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];

		for (s = 0; s < pool->cfg.max_in_flight; s++) {
			t = w->slots ? w->slots[s] : NULL;
			if (!t)
				continue;
			/* A chunk's worker starts none of the rest. */
			if (t->bulk && usable(w))
				pp_bulk_stop(w, t);
			pp_resolve(pool, t, TASK_STATUS_CANCELLED, 0, NULL, 0,
				   0, "pool stopped");
			pp_worker_unslot(w, t);
			finish(pool, t);
		}
	}
}

/* Asks every worker to exit, then kills the ones that do not, and reaps. */
static void shut_down_workers(struct process_pool *pool)
{
	int64_t until = pp_now_ns() + STOP_GRACE_NS;
	struct epoll_event ev[32];
	int i;

	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];
		struct pp_frame f;

		w->respawn_at_ns = 0;
		if (w->state != PP_WORKER_LIVE &&
		    w->state != PP_WORKER_RETIRING)
			continue;
		memset(&f, 0, sizeof(f));
		f.type = PP_FRAME_SHUTDOWN;
		if (pp_channel_send(&w->ch, &f))
			pp_worker_kill(w);
		else
			w->state = PP_WORKER_RETIRING;
	}
	while (pool->live_workers > 0) {
		int64_t left = until - pp_now_ns();
		int n;

		/* A worker that died while a client held it left the
		 * epoll set (dead_pending): it is reaped once given back,
		 * which may have happened after the loop's last look. */
		reclaim_lanes(pool);
		if (pool->live_workers == 0)
			break;
		if (left <= 0) {
			for (i = 0; i < pool->n_slots; i++)
				if (pool->workers[i].state != PP_WORKER_EMPTY)
					pp_worker_kill(&pool->workers[i]);
			until = pp_now_ns() + STOP_GRACE_NS * 10;
			left = STOP_GRACE_NS;
		}
		n = epoll_wait(pool->epoll_fd, ev, 32,
			       (int)(left / 1000000) + 1);
		if (n > 0)
			handle_events(pool, ev, n);
	}
}

void *pp_supervisor_main(void *arg)
{
	struct process_pool *pool = arg;
	sigset_t all;
	int i;

	/* The host's signals are for the host's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (i = 0; i < pool->target_workers; i++)
		if (spawn_into(pool, &pool->workers[i]))
			pool->workers[i].respawn_at_ns =
			    pp_now_ns() + HOUSEKEEPING_NS;
	pthread_mutex_lock(&pool->start_mu);
	pool->start_state = pool->live_workers > 0 ? 1 : -1;
	pthread_cond_broadcast(&pool->start_cv);
	pthread_mutex_unlock(&pool->start_mu);
	if (pool->live_workers == 0) {
		pp_zygote_stop(pool);
		return NULL;
	}
	for (;;) {
		int64_t now;
		int state = atomic_load(&pool->state);

		atomic_fetch_add_explicit(&pool->loops, 1,
					  memory_order_relaxed);
		reclaim_lanes(pool);
		take_incoming(pool);
		take_cancels(pool);
		drain_workers(pool);
		now = pp_now_ns();
		expire_deadlines(pool, now);
		housekeeping(pool, now); /* may bring workers for dispatch */
		pp_restart_step(pool, now);
		dispatch(pool);
		pp_room_freed(&pool->room); /* wakes blocked submitters */
		if (state == PP_POOL_STOPPING) {
			int64_t until = atomic_load(&pool->stop_deadline_ns);
			int lent = lanes_lent(pool);

			if (!lent && nothing_left(pool))
				break;
			if (until >= 0 && now >= until) {
				if (!lent)
					break;
				kill_lent(pool);
			}
		}
		wait_for_work(pool);
	}
	/* Submitters that passed the state check have pushed by now. */
	while (atomic_load(&pool->submitters) > 0)
		sched_yield();
	take_cancels(pool);
	cancel_everything(pool);
	shut_down_workers(pool);
	pp_zygote_stop(pool);
	take_cancels(pool);
	return NULL;
}
