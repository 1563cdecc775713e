/* Task spans for the application's hook; see trace.h. */
#include "src/core/trace.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "src/core/clock.h"
#include "src/core/pool_internal.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* n bytes from 2n lower-case hex digits; -1 on anything else. */
static int unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo;

		if (hi < 0)
			return -1;
		lo = hexval(s[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

int pp_trace_parse(const char *tp, uint8_t trace_id[16], uint8_t parent_id[8],
		   uint8_t *flags)
{
	uint8_t version;
	size_t len;

	if (!tp)
		return POOL_EINVAL;
	len = strnlen(tp, 1024);
	if (len < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
	    unhex(tp, &version, 1) || version == 0xff ||
	    unhex(tp + 3, trace_id, 16) || unhex(tp + 36, parent_id, 8) ||
	    unhex(tp + 53, flags, 1))
		return POOL_EINVAL;
	/* Version 00 is exactly 55 chars; a later one may carry more. */
	if ((version == 0 && len != 55) || (len > 55 && tp[55] != '-'))
		return POOL_EINVAL;
	if (all_zero(trace_id, 16) || all_zero(parent_id, 8))
		return POOL_EINVAL;
	return 0;
}

int pp_trace_check_state(const char *ts)
{
	size_t n = 0;

	for (; ts && ts[n]; n++)
		if (n >= PP_TRACESTATE_MAX || ts[n] < 0x20 || ts[n] > 0x7e)
			return POOL_EINVAL;
	return 0;
}

/* Span and trace ids: a per-thread xorshift seeded from getrandom, so an
 * id costs no syscall. Unique, not secret: they name spans, nothing
 * trusts them. */
static void fill_random(uint8_t *out, size_t n)
{
	static _Thread_local uint64_t x;
	uint64_t v;
	size_t i;

	if (!x) {
		if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
			x = (uint64_t)pp_now_ns() ^ (uint64_t)(uintptr_t)&x;
		x |= 1;
	}
	do {
		for (i = 0; i < n; i += sizeof(v)) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			v = x * 0x2545f4914f6cdd1dull;
			memcpy(out + i, &v,
			       n - i < sizeof(v) ? n - i : sizeof(v));
		}
	} while (all_zero(out, n));
}

int pp_trace_begin(struct process_pool *pool, struct task_future *t,
		   const task_desc_t *d, int64_t now)
{
	struct pp_trace *tr;
	uint8_t tid[16], pid[8], flags = 1;
	int have = d->traceparent != NULL;

	if (have && pp_trace_parse(d->traceparent, tid, pid, &flags))
		return POOL_EINVAL;
	if (pp_trace_check_state(d->tracestate))
		return POOL_EINVAL;
	if (!pool->span_hook && !have)
		return 0;
	tr = calloc(1, sizeof(*tr));
	if (!tr)
		return POOL_ENOMEM;
	if (have && d->tracestate && d->tracestate[0]) {
		tr->tracestate = strdup(d->tracestate);
		if (!tr->tracestate) {
			free(tr);
			return POOL_ENOMEM;
		}
	}
	if (have) {
		memcpy(tr->trace_id, tid, 16);
		memcpy(tr->parent_id, pid, 8);
	} else {
		fill_random(tr->trace_id, 16);
	}
	tr->flags = flags;
	tr->propagate = have;
	fill_random(tr->task_span, 8);
	fill_random(tr->run_span, 8);
	atomic_flag_clear(&tr->lock);
	tr->attempt = 1;
	tr->queue_from_ns = now;
	t->trace = tr;
	return 0;
}

int pp_trace_frame(const struct task_future *t, struct pp_frame *f)
{
	const struct pp_trace *tr = t->trace;

	if (!tr || !tr->propagate)
		return 0;
	memset(f, 0, sizeof(*f));
	f->type = PP_FRAME_TRACE;
	memcpy(f->u.trace.trace_id, tr->trace_id, 16);
	memcpy(f->u.trace.span_id,
	       t->pool->span_hook ? tr->run_span : tr->parent_id, 8);
	f->u.trace.flags = tr->flags;
	return 1;
}

void pp_trace_sent(struct task_future *t, int64_t now)
{
	atomic_store_explicit(&t->trace->sent_ns, now, memory_order_relaxed);
}

/* One span to the hook: span_id NULL draws a new one, parent NULL makes
 * a root span. */
static void emit(const struct task_future *t, const struct pp_trace *tr,
		 const char *name, const uint8_t *span_id,
		 const uint8_t *parent, int64_t from, int64_t to,
		 task_status_t status, int pid, const task_result_t *usage)
{
	const struct process_pool *pool = t->pool;
	pool_span_t s;

	if (!pool->span_hook) /* traced only for the worker's sake */
		return;
	memset(&s, 0, sizeof(s));
	memcpy(s.trace_id, tr->trace_id, 16);
	if (span_id)
		memcpy(s.span_id, span_id, 8);
	else
		fill_random(s.span_id, 8);
	if (parent)
		memcpy(s.parent_span_id, parent, 8);
	s.trace_flags = tr->flags;
	s.name = name;
	s.tracestate = tr->tracestate;
	s.start_unix_ns = from + pool->mono_to_unix_ns;
	s.end_unix_ns = (to > from ? to : from) + pool->mono_to_unix_ns;
	s.status = status;
	s.worker_pid = pid;
	s.attempt = tr->attempt;
	s.task_id = t->id;
	if (usage) {
		s.cpu_user_us = usage->cpu_user_us;
		s.cpu_sys_us = usage->cpu_sys_us;
		s.peak_rss_kb = usage->peak_rss_kb;
	}
	pool->span_hook(&s, pool->span_arg);
}

/* The spans of the attempt now ending, under tr->lock; usage: the
 * task's result, for the last attempt's run span, or NULL. */
static void attempt_spans(struct task_future *t, struct pp_trace *tr,
			  task_status_t status, int64_t now,
			  const task_result_t *usage)
{
	int64_t start = atomic_load(&t->start_ns),
		sent = atomic_load_explicit(&tr->sent_ns, memory_order_relaxed);
	int pid = atomic_load(&t->worker_pid);

	if (!start) { /* it never left the queue */
		emit(t, tr, "processpool.queue", NULL, tr->task_span,
		     tr->queue_from_ns, now, status, 0, NULL);
		return;
	}
	emit(t, tr, "processpool.queue", NULL, tr->task_span, tr->queue_from_ns,
	     start, TASK_STATUS_PENDING, 0, NULL);
	if (!sent || sent < start)
		sent = start; /* the direct lane sends as it places */
	emit(t, tr, "processpool.dispatch", NULL, tr->task_span, start, sent,
	     TASK_STATUS_PENDING, pid, NULL);
	emit(t, tr, "processpool.run", tr->run_span, tr->task_span, sent, now,
	     status, pid, usage);
}

static void lock(struct pp_trace *tr)
{
	while (
	    atomic_flag_test_and_set_explicit(&tr->lock, memory_order_acquire))
		pp_cpu_relax();
}

static void unlock(struct pp_trace *tr)
{
	atomic_flag_clear_explicit(&tr->lock, memory_order_release);
}

void pp_trace_attempt_end(struct task_future *t, task_status_t status,
			  int64_t now)
{
	struct pp_trace *tr = t->trace;

	lock(tr);
	if (!tr->finished) {
		attempt_spans(t, tr, status, now, NULL);
		tr->attempt++;
		/* The next attempt's run span, named to its worker before
		 * it ends. */
		fill_random(tr->run_span, 8);
		tr->queue_from_ns = now;
		atomic_store_explicit(&tr->sent_ns, 0, memory_order_relaxed);
	}
	unlock(tr);
}

void pp_trace_finish(struct task_future *t, task_status_t status, int64_t now)
{
	struct pp_trace *tr = t->trace;

	lock(tr);
	if (!tr->finished) {
		tr->finished = 1;
		/* Called while the result is filled, by its one writer. */
		attempt_spans(t, tr, status, now, &t->result);
		emit(t, tr, "processpool.task", tr->task_span,
		     all_zero(tr->parent_id, 8) ? NULL : tr->parent_id,
		     t->submit_ns, now, status, atomic_load(&t->worker_pid),
		     &t->result);
	}
	unlock(tr);
}

void pp_trace_free(struct task_future *t)
{
	free(t->trace->tracestate);
	free(t->trace);
	t->trace = NULL;
}

void pp_trace_flushed(struct pp_worker *w, const struct pp_frame *frames,
		      unsigned n)
{
	int64_t now = pp_now_ns();
	unsigned i;

	for (i = 0; i < n; i++) {
		struct task_future *t;
		unsigned slot = (unsigned)(frames[i].task_id & 0xffff);

		if (frames[i].type != PP_FRAME_SUBMIT || !w->slots ||
		    !(t = w->slots[slot]) || !t->trace)
			continue;
		pp_trace_sent(t, now);
	}
}
