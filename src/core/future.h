/*
 * Futures: one per submitted task, shared by the submitting application
 * and the supervisor, with a reference count for each.
 *
 * The outcome is decided exactly once: pp_future_resolve succeeds for the
 * first cause (result, timeout, cancel, crash, stop) and fails for every
 * later one, so a cancel racing with completion, or a timeout that leads
 * to a kill, yields one outcome. Waiters sleep on a private futex; an
 * eventfd is made on demand for event loops.
 *
 * Thread-safety: all functions are safe from any thread; the task fields
 * (func_ref, input, priority, ...) are written before the future is published
 * and read-only after.
 */
#ifndef PP_CORE_FUTURE_H
#define PP_CORE_FUTURE_H

#include <stdatomic.h>
#include <stdint.h>

#include "process_pool.h"
#include "src/core/isolation.h"
#include "src/ipc/frame.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PP_INLINE_INPUT 64

struct pp_worker;
struct pp_bulk;
struct pp_input_buf;

/*
 * A hook: something waiting on a future besides its own waiters (a
 * pool_wait_any caller, a wait set). notify runs once, in the thread that
 * publishes the outcome, with the future's hook lock held: it must only
 * wake (a futex, a condition variable, an eventfd), never call back into
 * the future. The owner keeps the hook alive until pp_future_unhook has
 * returned, or until notify has run.
 */
struct pp_future_hook {
	struct pp_future_hook *next;
	void (*notify)(struct pp_future_hook *h, struct task_future *f);
};

struct task_future {
	/* Set at submit, read-only afterwards. */
	uint64_t func_ref; /* the task function as SUBMIT frames carry it:
			    * a pointer, or a module reference (pp_func_ref) */
	void *user_data;
	unsigned char *input; /* input_inline, a malloc'd copy, or the caller's
			       * own buffer (input_borrowed) */
	int input_borrowed;
	struct pp_input_buf *input_buf; /* a pool_input_alloc buffer the
					 * task owns (input points into it
					 * until it is sealed), or NULL */
	size_t input_size;
	struct pp_trace *trace; /* NULL unless the pool has a span hook or
				 * the task a traceparent */
	int priority; /* task_priority_t */
	struct pp_iso_domain iso; /* which processes it may run in */
	uint64_t id;
	int64_t submit_ns;
	int64_t deadline_ns;	   /* 0: none; once the task has ended while
				    * on a worker, the supervisor's next look
				    * at whether the worker gave it up */
	struct process_pool *pool; /* for cancel; valid while the engine
				    * holds its reference */
	/* Supervisor-private bookkeeping. */
	struct task_future *next; /* pending list */
	struct pp_worker *worker; /* worker it is on, or NULL */
	_Atomic int worker_pid;	  /* last worker it was placed on */
	_Atomic int64_t start_ns; /* 0 until placed on a worker */
	uint32_t slot;		  /* slot on that worker */
	int placed_prio;	  /* the aged priority it was placed with */
	struct pp_payload_ref arena_in; /* input in the worker's arena */
	int retries;			/* re-runs after a crash */
	int suspect;  /* was on a worker that died: runs alone now */
	int stopping; /* task_status_t of a stop (timeout, cancel) the
		       * worker has not yet acknowledged, or 0 */
	int deferrals;
	int heap_index; /* deadline heap slot, -1 if none */
	struct pp_bulk *bulk;	   /* a chunk of tasks (bulk.h), or NULL */
	struct task_future *chunk; /* the chunk this task travels in, or
				    * NULL (supervisor) */
	uint32_t chunk_index;	   /* its index there */
	/* The worker's USAGE claim for this attempt, clamped: written by
	 * whoever holds the worker (frame_check.c), cleared when placed,
	 * copied into the result by the resolver of a worker's RESULT. */
	uint64_t usage_user_us, usage_sys_us, usage_peak_kb;
	unsigned usage_cpus; /* the pool's bound: CPU <= run_us * this */
	int usage_set;
	unsigned char input_inline[PP_INLINE_INPUT];
	/* Shared between threads. */
	_Atomic uint32_t refs;
	_Atomic uint32_t done;	  /* futex word: 0 pending, 2 being resolved,
				   * 1 resolved */
	_Atomic uint32_t waiters; /* threads asleep on done */
	_Atomic int event_fd;	  /* -1 until pool_future_fd */
	_Atomic uint32_t output_taken;
	/* Hooks and the completion callback (future.c). */
	_Atomic(struct pp_future_hook *) hooks;
	_Atomic uint32_t hook_lock;
	pool_future_cb_t callback; /* written before callback_state = 1 */
	void *callback_arg;
	_Atomic uint32_t callback_state; /* 0 none, 1 set, 2 run (or running) */
	task_result_t result;		 /* written once, before done = 1 */
};

/* pp_future_new - a pending future with two references (caller, engine). */
struct task_future *pp_future_new(void);

/* pp_future_put - drop one reference; frees at zero. */
void pp_future_put(struct task_future *f);

/*
 * pp_future_resolve - set the outcome if none is set yet. Takes ownership
 * of output (malloc'd, may be NULL) either way. Returns 1 if this call
 * decided the outcome, 0 if it was already decided.
 */
int pp_future_resolve(struct task_future *f, task_status_t status,
		      int return_code, void *output, size_t output_size,
		      int term_signal, const char *detail);

/*
 * The three steps of pp_future_resolve, for a resolver that must do
 * something (count the outcome) after deciding it and before any waiter
 * can see it: claim (1 if this caller decides), fill, publish.
 */
int pp_future_claim(struct task_future *f);
/* now: the time the outcome was decided (CLOCK_MONOTONIC ns), for the
 * queue and run times; a resolver of many results reads it once. */
void pp_future_fill(struct task_future *f, task_status_t status,
		    int return_code, void *output, size_t output_size,
		    int term_signal, const char *detail, int64_t now);
void pp_future_publish(struct task_future *f);

/* pp_future_is_done - whether an outcome is set. */
int pp_future_is_done(const struct task_future *f);

/*
 * pp_future_hook - attach h to f. Returns 0, or 1 when f is already done
 * (h is then not attached and notify will not run).
 */
int pp_future_hook(struct task_future *f, struct pp_future_hook *h);

/* pp_future_unhook - detach h if still attached; once it returns, notify
 * is not running and will not run. */
void pp_future_unhook(struct task_future *f, struct pp_future_hook *h);

/*
 * pp_future_wait_done - wait up to timeout_ms (< 0: no limit) for f's
 * outcome. Returns 0, POOL_ETIMEDOUT, or POOL_ESTATE when the caller is a
 * completion callback and would have to sleep.
 */
int pp_future_wait_done(struct task_future *f, int timeout_ms);

/* pp_in_callback - whether the calling thread is running a completion
 * callback (it must not block on the pool). */
int pp_in_callback(void);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_FUTURE_H */
