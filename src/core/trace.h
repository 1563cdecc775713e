/*
 * Task tracing: W3C trace context in, spans out to the application's
 * hook (pool_set_span_hook), and to the task in its worker
 * (pool_task_traceparent). A task carries a struct pp_trace only when the
 * pool has a hook or the task was given a traceparent, so with tracing
 * off every site costs one branch on a NULL pointer.
 *
 * Per task: a "processpool.task" span (submit until outcome), child of
 * the caller's traceparent span (a new trace when none was given); per
 * attempt, its children "processpool.queue" (submit or requeue until
 * handed to a worker), "processpool.dispatch" (handed to a worker until
 * its SUBMIT frame went out) and "processpool.run" (until the attempt's
 * end). A crash that re-runs the task ends the attempt's spans CRASHED
 * and starts the next attempt; the trace id stays.
 */
#ifndef PP_CORE_TRACE_H
#define PP_CORE_TRACE_H

#include <stdatomic.h>
#include <stdint.h>

#include "process_pool.h"

struct process_pool;
struct task_future;

#define PP_TRACESTATE_MAX 512 /* W3C: at most 32 members of 512 chars */

struct pp_trace {
	uint8_t trace_id[16];
	uint8_t parent_id[8]; /* the caller's span; zero for a new trace */
	uint8_t task_span[8];
	uint8_t run_span[8]; /* this attempt's run span (with a hook) */
	uint8_t flags;
	int propagate; /* a traceparent was given: the worker gets one */
	char *tracestate; /* owned copy, or NULL */
	/* Written by whoever ends an attempt or the task, under lock. */
	atomic_flag lock;
	int attempt;		 /* 1 for the first run */
	int finished;		 /* the task span went out */
	int64_t queue_from_ns;	 /* this attempt's queue wait began */
	_Atomic int64_t sent_ns; /* this attempt's SUBMIT went out, or 0 */
};

/*
 * pp_trace_parse - a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>",
 * lower-case; a later version may add "-..." after the flags) into its
 * ids and flags. Returns 0, or POOL_EINVAL (malformed, version ff, an
 * all-zero id).
 */
int pp_trace_parse(const char *traceparent, uint8_t trace_id[16],
		   uint8_t parent_id[8], uint8_t *flags);

/* pp_trace_check_state - 0 for a usable tracestate (printable ASCII, at
 * most PP_TRACESTATE_MAX chars), else POOL_EINVAL. */
int pp_trace_check_state(const char *tracestate);

/*
 * pp_trace_begin - for a new task t of pool: check d's traceparent and
 * tracestate, and when the pool has a span hook or d a traceparent
 * attach t->trace (submitted at now). Returns 0, POOL_EINVAL or
 * POOL_ENOMEM.
 */
int pp_trace_begin(struct process_pool *pool, struct task_future *t,
		   const task_desc_t *d, int64_t now);

/*
 * pp_trace_frame - the TRACE frame that goes just before t's SUBMIT (same
 * task_id, set by the caller), when t carries a traceparent: the trace
 * id, and as parent the attempt's run span when the pool has a hook (the
 * caller's span when it has none, so the task's spans still join the
 * caller's). Returns 1 with *f filled, 0 when t sends none. By whoever
 * places t on a worker.
 */
struct pp_frame;
int pp_trace_frame(const struct task_future *t, struct pp_frame *f);

/* pp_trace_sent - t's SUBMIT frame went out at now. */
void pp_trace_sent(struct task_future *t, int64_t now);

/* pp_trace_flushed - the SUBMIT frames of w just went out: stamp the
 * traced tasks among them (supervisor, only with a span hook). */
struct pp_worker;
struct pp_frame;
void pp_trace_flushed(struct pp_worker *w, const struct pp_frame *frames,
		      unsigned n);

/* pp_trace_attempt_end - t goes back to the queue at now (a crash to
 * re-run, a deferral): its attempt's spans end with status. */
void pp_trace_attempt_end(struct task_future *t, task_status_t status,
			  int64_t now);

/* pp_trace_finish - t's outcome is status, decided at now: the last
 * attempt's spans and the task span go out, the last run span and the
 * task span with t->result's usage figures (the caller, the result's one
 * writer, has set them). */
void pp_trace_finish(struct task_future *t, task_status_t status, int64_t now);

/* pp_trace_free - release t->trace (last reference). */
void pp_trace_free(struct task_future *t);

#endif /* PP_CORE_TRACE_H */
