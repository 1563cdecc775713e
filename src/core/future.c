/* Futures with one outcome; see future.h. */
#include "src/core/future.h"
#include "src/core/output_map.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "src/core/clock.h"
#include "src/core/future_cache.h"
#include "src/core/futex_sleep.h"
#include "src/core/trace.h"
#include "src/core/input_buf.h"

struct task_future *pp_future_new(void)
{
	struct task_future *f = pp_future_cache_get();

	if (!f)
		f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	atomic_init(&f->refs, 2);
	atomic_init(&f->done, 0);
	atomic_init(&f->waiters, 0);
	atomic_init(&f->event_fd, -1);
	atomic_init(&f->output_taken, 0);
	f->heap_index = -1;
	return f;
}

void pp_future_put(struct task_future *f)
{
	int fd;

	if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	fd = atomic_load(&f->event_fd);
	if (fd >= 0)
		close(fd);
	if (f->input != f->input_inline && !f->input_borrowed)
		free(f->input);
	pp_input_buf_release(f->input_buf);
	if (!atomic_load(&f->output_taken))
		pp_output_free(f->result.output_data);
	if (f->trace)
		pp_trace_free(f);
	if (!pp_future_cache_put(f))
		free(f);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
		NULL, 0);
}

/* Claims the right to write the result: 0 -> 2 (writing) -> 1 (done). */
int pp_future_claim(struct task_future *f)
{
	uint32_t expect = 0;

	return atomic_compare_exchange_strong(&f->done, &expect, 2);
}

void pp_future_fill(struct task_future *f, task_status_t status,
		    int return_code, void *output, size_t output_size,
		    int term_signal, const char *detail, int64_t now)
{
	task_result_t *r = &f->result;
	int64_t start = atomic_load(&f->start_ns);
	size_t n;

	r->status = status;
	r->return_code = return_code;
	r->output_data = output;
	r->output_size = output ? output_size : 0;
	r->term_signal = term_signal;
	r->task_id = f->id;
	r->worker_pid = atomic_load(&f->worker_pid);
	if (start) {
		r->queue_us = (uint64_t)(start - f->submit_ns) / 1000;
		r->run_us = now > start ? (uint64_t)(now - start) / 1000 : 0;
	} else {
		r->queue_us = now > f->submit_ns
				  ? (uint64_t)(now - f->submit_ns) / 1000
				  : 0;
	}
	/* Only a worker's RESULT gives these statuses, and its resolver
	 * holds the worker that wrote the claim; a cancel or a timeout,
	 * perhaps on another thread, never reads it. */
	if ((status == TASK_STATUS_COMPLETED || status == TASK_STATUS_FAILED ||
	     status == TASK_STATUS_REJECTED ||
	     status == TASK_STATUS_SANDBOX_VIOLATION ||
	     status == TASK_STATUS_RESOURCE_LIMIT) &&
	    f->usage_set) {
		/* Clamped once more against run_us itself, which this
		 * resolver's clock may put a little before the check's. */
		uint64_t cap = r->run_us * f->usage_cpus;

		r->cpu_user_us =
		    f->usage_user_us < cap ? f->usage_user_us : cap;
		r->cpu_sys_us = f->usage_sys_us < cap ? f->usage_sys_us : cap;
		r->peak_rss_kb = f->usage_peak_kb;
	}
	if (f->trace)
		pp_trace_finish(f, status, now);
	/* The future came zeroed: an empty detail costs nothing. */
	if (detail && detail[0]) {
		n = strnlen(detail, sizeof(r->detail) - 1);
		memcpy(r->detail, detail, n);
		r->detail[n] = '\0';
	}
}

/* The hook lock: held only to attach, detach or notify, never long. */
static void hook_lock(struct task_future *f)
{
	uint32_t expect = 0;

	while (!atomic_compare_exchange_weak_explicit(&f->hook_lock, &expect, 1,
						      memory_order_acquire,
						      memory_order_relaxed)) {
		expect = 0;
		sched_yield();
	}
}

static void hook_unlock(struct task_future *f)
{
	atomic_store_explicit(&f->hook_lock, 0, memory_order_release);
}

/* Publish's side: every hook attached before done was set is notified. */
static void notify_hooks(struct task_future *f)
{
	struct pp_future_hook *h, *next;

	hook_lock(f);
	h = atomic_exchange(&f->hooks, NULL);
	for (; h; h = next) {
		next = h->next;
		h->notify(h, f); /* may be freed by its owner after this */
	}
	hook_unlock(f);
}

int pp_future_hook(struct task_future *f, struct pp_future_hook *h)
{
	hook_lock(f);
	/* done is set before publish looks at the list: either it sees h,
	 * or this sees done (both sequentially consistent). */
	h->next = atomic_load(&f->hooks);
	atomic_store(&f->hooks, h);
	if (atomic_load(&f->done) == 1) {
		atomic_store(&f->hooks, h->next);
		hook_unlock(f);
		return 1;
	}
	hook_unlock(f);
	return 0;
}

void pp_future_unhook(struct task_future *f, struct pp_future_hook *h)
{
	struct pp_future_hook *p, *prev = NULL;

	hook_lock(f);
	for (p = atomic_load(&f->hooks); p; prev = p, p = p->next) {
		if (p != h)
			continue;
		if (prev)
			prev->next = p->next;
		else
			atomic_store(&f->hooks, p->next);
		break;
	}
	hook_unlock(f);
}

static _Thread_local int callback_depth;

int pp_in_callback(void)
{
	return callback_depth > 0;
}

/* Runs the callback if this caller is the one to (1 -> 2), then drops
 * the reference pool_future_on_done took for it. */
static void run_callback(struct task_future *f)
{
	uint32_t expect = 1;

	if (!atomic_compare_exchange_strong(&f->callback_state, &expect, 2))
		return;
	callback_depth++;
	f->callback(f, f->callback_arg);
	callback_depth--;
	pp_future_put(f);
}

void pp_future_publish(struct task_future *f)
{
	uint64_t one = 1;
	int fd;

	atomic_store(&f->done, 1);
	/* Waiters announce themselves before sleeping; none, no syscall. */
	if (atomic_load(&f->waiters))
		futex_wake_all(&f->done);
	fd = atomic_load(&f->event_fd);
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		errno = 0;
	if (atomic_load(&f->hooks))
		notify_hooks(f);
	/* Last: the callback may release the caller's reference. */
	if (atomic_load(&f->callback_state) == 1)
		run_callback(f);
}

int pool_future_on_done(task_future_t *future, pool_future_cb_t cb, void *arg)
{
	if (!future || !cb)
		return POOL_EINVAL;
	/* The hook lock settles two racing setters: one slot. */
	hook_lock(future);
	if (future->callback) {
		hook_unlock(future);
		return POOL_ESTATE;
	}
	future->callback = cb;
	future->callback_arg = arg;
	hook_unlock(future);
	atomic_fetch_add(&future->refs, 1); /* held until it has run */
	atomic_store(&future->callback_state, 1);
	/* Ended already (or meanwhile): whoever moves 1 -> 2 runs it. */
	if (pp_future_is_done(future))
		run_callback(future);
	return 0;
}

int pool_future_status(const task_future_t *future)
{
	if (!future)
		return POOL_EINVAL;
	if (!pp_future_is_done(future))
		return TASK_STATUS_PENDING;
	return (int)future->result.status; /* written before done = 1 */
}

uint64_t pool_future_task_id(const task_future_t *future)
{
	return future ? future->id : 0;
}

int pp_future_resolve(struct task_future *f, task_status_t status,
		      int return_code, void *output, size_t output_size,
		      int term_signal, const char *detail)
{
	if (!pp_future_claim(f)) {
		free(output);
		return 0;
	}
	pp_future_fill(f, status, return_code, output, output_size, term_signal,
		       detail, pp_now_ns());
	pp_future_publish(f);
	return 1;
}

int pp_future_is_done(const struct task_future *f)
{
	return atomic_load_explicit(&((struct task_future *)f)->done,
				    memory_order_acquire) == 1;
}

int pool_future_done(const task_future_t *future)
{
	if (!future)
		return POOL_EINVAL;
	return pp_future_is_done(future);
}

int pp_future_wait_done(struct task_future *f, int timeout_ms)
{
	int64_t deadline;
	uint32_t v;
	int i;

	if (pp_future_is_done(f))
		return 0; /* the common case after a batch: no clock read */
	if (timeout_ms != 0 && pp_in_callback())
		return POOL_ESTATE;
	deadline =
	    timeout_ms < 0 ? -1 : pp_now_ns() + (int64_t)timeout_ms * 1000000;
	/* A short spin (~5 us): a longer one steals the CPU that the
	 * supervisor and the workers need on a small machine. */
	for (i = 0; i < 200; i++) {
		if (pp_future_is_done(f))
			return 0;
		pp_cpu_relax();
	}
	for (;;) {
		v = atomic_load_explicit(&f->done, memory_order_acquire);
		if (v == 1)
			return 0;
		if (pp_futex_sleep(&f->done, v, &f->waiters, deadline))
			return POOL_ETIMEDOUT;
	}
}

int pool_future_wait(task_future_t *future, task_result_t *result,
		     int timeout_ms)
{
	int err;

	if (!future || !result)
		return POOL_EINVAL;
	err = pp_future_wait_done(future, timeout_ms);
	if (err)
		return err;
	*result = future->result;
	/* The output has one owner: the first wait that returns it. */
	if (atomic_exchange(&future->output_taken, 1)) {
		result->output_data = NULL;
		result->output_size = 0;
		if (future->result.output_data)
			return POOL_EALREADY;
	}
	return 0;
}

int pool_future_fd(task_future_t *future)
{
	int fd, expect = -1;

	if (!future)
		return POOL_EINVAL;
	fd = atomic_load(&future->event_fd);
	if (fd >= 0)
		return fd;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return POOL_ESYS;
	if (!atomic_compare_exchange_strong(&future->event_fd, &expect, fd)) {
		close(fd);
		return expect;
	}
	/* Resolved before the fd existed: make it readable now. */
	if (pp_future_is_done(future)) {
		uint64_t one = 1;

		if (write(fd, &one, sizeof(one)) < 0)
			errno = 0;
	}
	return fd;
}

void pool_result_free(task_result_t *result)
{
	if (!result)
		return;
	pp_output_free(result->output_data);
	result->output_data = NULL;
	result->output_size = 0;
}
