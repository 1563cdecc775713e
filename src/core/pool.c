/*
 * The public pool API: lifecycle, submission, cancellation, statistics.
 * The supervisor (supervisor.c) does the rest on its own thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <numa.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "src/core/bulk.h"
#include "src/core/clock.h"
#include "sandbox/confine.h"
#include "src/core/future_cache.h"
#include "src/core/input_buf.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"
#include "src/core/probes.h"
#include "src/core/resources.h"
#include "src/core/trace.h"

static size_t pow2_at_least(size_t n)
{
	size_t p = 2;

	while (p < n)
		p <<= 1;
	return p;
}

static void free_pool(struct process_pool *pool)
{
	int i;

	if (pool->workers) {
		for (i = 0; i < pool->n_slots; i++) {
			pp_worker_close_events(&pool->workers[i]);
			free(pool->workers[i].slots);
		}
		free(pool->workers);
	}
	free(pool->batches);
	free(pool->armed);
	free(pool->seccomp_allow);
	free(pool->cpus);
	free(pool->nodes);
	free(pool->cgroup_parent);
	pp_seccomp_program_free(&pool->seccomp);
	pp_cleanroom_release(&pool->cleanroom);
	pp_worker_init_release(&pool->init);
	pp_deadline_free(&pool->deadlines);
	pp_mpmc_destroy(pool->incoming);
	pp_mpmc_destroy(pool->cancels);
	if (pool->wake_fd >= 0)
		close(pool->wake_fd);
	if (pool->timer_fd >= 0)
		close(pool->timer_fd);
	if (pool->epoll_fd >= 0)
		close(pool->epoll_fd);
	pp_restart_free(pool);
	pp_signals_free(pool);
	pp_status_socket_close(&pool->status);
	pthread_mutex_destroy(&pool->stop_lock);
	pthread_mutex_destroy(&pool->start_mu);
	pthread_cond_destroy(&pool->start_cv);
	if (pool->cache_held)
		pp_future_cache_release();
	pp_log_forget(pool->cfg.pool_name);
	free(pool);
}

static int alloc_parts(struct process_pool *pool)
{
	size_t in_flight =
	    (size_t)pool->cfg.max_workers * (size_t)pool->cfg.max_in_flight;
	int i;

	pool->n_slots = pool->cfg.max_workers + pool->cfg.spare_workers;
	pool->incoming = pp_mpmc_create(pow2_at_least(pool->cfg.queue_size));
	/* Only a cancel of a task on a worker needs the supervisor; a queued
	 * one is dropped when it reaches the head of its queue. */
	pool->cancels = pp_mpmc_create(pow2_at_least(2 * in_flight + 1024));
	pool->workers = calloc((size_t)pool->n_slots, sizeof(*pool->workers));
	/* At once: free_pool closes what these say is open. */
	for (i = 0; pool->workers && i < pool->n_slots; i++) {
		pool->workers[i].index = i;
		pool->workers[i].pidfd = -1;
		pool->workers[i].pids_events_fd = -1;
		pool->workers[i].ch.fd = -1;
		pool->workers[i].ch.parent_eventfd = -1;
	}
	pool->batches = calloc((size_t)pool->n_slots, sizeof(*pool->batches));
	pool->armed = calloc((size_t)pool->n_slots, 1);
	if (!pool->incoming || !pool->cancels || !pool->workers ||
	    !pool->batches || !pool->armed ||
	    pp_deadline_init(&pool->deadlines,
			     pool->cfg.queue_size + in_flight))
		return -ENOMEM;
	return 0;
}

/* Learning mode: the config, or the environment to turn it on. */
static int want_learning(const pool_config_t *c)
{
	const char *v = getenv("PROCESS_POOL_SECCOMP_LEARN");

	return c->seccomp_learn || (v && !strcmp(v, "1"));
}

/*
 * The keep-list of capabilities, parsed once; each must be one this
 * process holds, or no worker could keep it.
 */
static int parse_keep_caps(struct process_pool *pool, const char *list,
			   char *why, size_t len)
{
	uint64_t missing;
	char bad[64];
	int cap;

	pool->cfg.keep_caps = NULL; /* not kept: read here only */
	if (pp_caps_parse(list, &pool->keep_caps, bad, sizeof(bad))) {
		snprintf(why, len, "keep_caps: unknown capability '%s'", bad);
		return POOL_EINVAL;
	}
	missing = pool->keep_caps & ~pp_caps_permitted();
	for (cap = 0; cap < 64; cap++)
		if (missing & ((uint64_t)1 << cap)) {
			snprintf(why, len,
				 "keep_caps: this process does not hold "
				 "cap_%s",
				 pp_caps_name(cap));
			return POOL_EINVAL;
		}
	return 0;
}

/* Compiles the workers' seccomp filter once, in the parent. */
static int build_seccomp(struct process_pool *pool, char *why, size_t len)
{
	struct pp_seccomp_policy policy;
	int err;

	pool->cfg.seccomp_allow = NULL; /* the copy below is what counts */
	if (pool->cfg.sandbox_off)
		return 0;
	pool->learn = want_learning(&pool->cfg);
	pool->cfg.seccomp_learn = pool->learn;
	err = pool->learn ? pp_seccomp_learn_available() : 0;
	if (err) {
		snprintf(why, len, "seccomp learning needs %s",
			 err == -ENOSYS
			     ? "SECCOMP_RET_USER_NOTIF (Linux 5.0), which this "
			       "kernel lacks"
			     : "the CONTINUE flag of SECCOMP_RET_USER_NOTIF "
			       "(Linux 5.5); this kernel is older");
		return POOL_ENOSYS;
	}
	if (pool->seccomp_allow_src) {
		pool->seccomp_allow = strdup(pool->seccomp_allow_src);
		if (!pool->seccomp_allow)
			return POOL_ENOMEM;
		pool->cfg.seccomp_allow = pool->seccomp_allow;
	}
	pp_seccomp_policy_init(&policy, pool->cfg.seccomp_profile
					    ? PP_SECCOMP_STRICT
					    : PP_SECCOMP_COMPUTE);
	if (pool->seccomp_allow)
		pp_seccomp_allow(&policy, pool->seccomp_allow);
	policy.learn = pool->learn;
	err = pp_seccomp_compile(&policy, &pool->seccomp);
	if (err == -ENOSYS) {
		snprintf(why, len, "libseccomp cannot build a learning filter");
		return POOL_ENOSYS;
	}
	if (err == -EINVAL)
		snprintf(why, len,
			 "seccomp_allow: unknown syscall or group '%s'",
			 policy.bad);
	else if (err)
		snprintf(why, len, "seccomp filter could not be built (%d)",
			 err);
	return err == -ENOMEM ? POOL_ENOMEM : err ? POOL_EINVAL : 0;
}

/* What no honest USAGE claim can exceed: this machine's CPUs and memory
 * (as configured, so CPUs brought online later still count). */
static void usage_bounds(struct process_pool *pool)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	pool->usage_cpus = cpus > 0 ? (unsigned)cpus : 4096;
	pool->usage_ram_kb = pages > 0 && page > 0
				 ? (uint64_t)pages * (uint64_t)page / 1024
				 : UINT64_MAX;
}

process_pool_t *pool_create(const pool_config_t *config)
{
	struct process_pool *pool;
	char why[128];
	int err;

	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		errno = ENOMEM;
		return NULL;
	}
	pool->wake_fd = pool->timer_fd = pool->epoll_fd = -1;
	pthread_mutex_init(&pool->stop_lock, NULL);
	pthread_mutex_init(&pool->start_mu, NULL);
	pthread_cond_init(&pool->start_cv, NULL);
	err = pp_config_resolve(config, &pool->cfg, why, sizeof(why));
	if (pp_restart_init(pool) || pp_signals_init(pool) ||
	    pp_status_socket_init(&pool->status)) {
		free(pool);
		errno = ENOMEM;
		return NULL;
	}
	pool->seccomp_allow_src = config ? config->seccomp_allow : NULL;
	if (!err && config && config->cgroup_parent) {
		pool->cgroup_parent = strdup(config->cgroup_parent);
		if (!pool->cgroup_parent)
			err = POOL_ENOMEM;
	}
	pool->cfg.cgroup_parent = pool->cgroup_parent;
	if (err) {
		pp_log(LOG_LEVEL_ERROR,
		       config && memchr(config->pool_name, 0, 64)
			   ? config->pool_name
			   : NULL,
		       "config_invalid", "reason=\"%s\"", why);
		free_pool(pool);
		errno = EINVAL;
		return NULL;
	}
	err = pp_log_set_level(pool->cfg.pool_name, pool->cfg.log_level);
	if (err) {
		free_pool(pool);
		errno = ENOMEM;
		return NULL;
	}
	err = parse_keep_caps(pool, config ? config->keep_caps : NULL, why,
			      sizeof(why));
	if (!err)
		err = build_seccomp(pool, why, sizeof(why));
	if (!err)
		err = pp_worker_init_configure(pool, config, &pool->init, why,
					       sizeof(why));
	pool->cfg.worker_init_arg = pool->init.arg;
	if (err) {
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "config_invalid",
		       "reason=\"%s\"", why);
		free_pool(pool);
		errno = err == POOL_ENOMEM   ? ENOMEM
			: err == POOL_ENOSYS ? ENOSYS
					     : EINVAL;
		return NULL;
	}
	if (pool->learn)
		pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "seccomp_learning",
		       "%s",
		       "note=\"workers run every syscall and record it; "
		       "a development tool, not a confinement\"");
	if (alloc_parts(pool) || pp_future_cache_hold()) {
		free_pool(pool);
		errno = ENOMEM;
		return NULL;
	}
	pool->cache_held = 1;
	if (pool->cfg.task_usage)
		usage_bounds(pool);
	pool->target_workers = pool->cfg.worker_count;
	atomic_init(&pool->state, PP_POOL_CREATED);
	return pool;
}

static int open_fds(struct process_pool *pool)
{
	struct epoll_event ev;

	pool->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pool->timer_fd =
	    timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	pool->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (pool->wake_fd < 0 || pool->timer_fd < 0 || pool->epoll_fd < 0)
		return -errno;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = (uint64_t)1 << 32;
	if (epoll_ctl(pool->epoll_fd, EPOLL_CTL_ADD, pool->wake_fd, &ev))
		return -errno;
	ev.data.u64 = (uint64_t)2 << 32;
	if (epoll_ctl(pool->epoll_fd, EPOLL_CTL_ADD, pool->timer_fd, &ev))
		return -errno;
	return 0;
}

/* Waits for the supervisor's first spawns; undoes the start if none
 * succeeded. */
static int wait_started(struct process_pool *pool)
{
	int state;

	pthread_mutex_lock(&pool->start_mu);
	while (pool->start_state == 0)
		pthread_cond_wait(&pool->start_cv, &pool->start_mu);
	state = pool->start_state;
	pthread_mutex_unlock(&pool->start_mu);
	if (state > 0) {
		pool->thread_started = 1;
		return 0;
	}
	pthread_join(pool->thread, NULL);
	pp_cgroup_pool_close(&pool->cg);
	atomic_store(&pool->state, PP_POOL_CREATED);
	pool->start_state = 0;
	close(pool->wake_fd);
	close(pool->timer_fd);
	close(pool->epoll_fd);
	pool->wake_fd = pool->timer_fd = pool->epoll_fd = -1;
	return -ECHILD;
}

/* The CPUs this process may run on: the workers are spread over them. */
static int list_cpus(struct process_pool *pool)
{
	cpu_set_t set;
	int cpu, n = 0, numa;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -errno;
	free(pool->cpus);
	free(pool->nodes);
	pool->cpus = calloc((size_t)CPU_COUNT(&set), sizeof(int));
	pool->nodes = calloc((size_t)CPU_COUNT(&set), sizeof(int));
	if (!pool->cpus || !pool->nodes)
		return -ENOMEM;
	numa = numa_available() >= 0;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set)) {
			pool->nodes[n] = numa ? numa_node_of_cpu(cpu) : -1;
			pool->cpus[n++] = cpu;
		}
	pool->n_cpus = n;
	return n ? 0 : -EINVAL;
}

/* The controllers the configured limits need. */
static unsigned wanted_limits(const pool_config_t *c)
{
	return (c->memory_max ? PP_CG_MEMORY : 0) |
	       (c->pids_max ? PP_CG_PIDS : 0) |
	       (c->cpu_max_percent || c->cpu_weight ? PP_CG_CPU : 0);
}

/*
 * Opens the pool's cgroup. Best effort: what is missing is logged once
 * per process and the stats say which limits are in force. Required: a
 * missing group or controller fails pool_start, naming it.
 */
static int open_cgroups(struct process_pool *pool)
{
	static _Atomic int warned;
	static _Atomic unsigned counter;
	unsigned want = wanted_limits(&pool->cfg), missing;
	int required = pool->cfg.cgroup_mode == POOL_CGROUP_REQUIRED;
	char name[96], why[512] = "", names[64];

	if (pool->cfg.cgroup_mode == POOL_CGROUP_OFF)
		return 0;
	snprintf(name, sizeof(name), "processpool-%d-%u", (int)getpid(),
		 atomic_fetch_add(&counter, 1));
	if (pp_cgroup_pool_open(&pool->cg, pool->cgroup_parent, name, want, why,
				sizeof(why))) {
		if (required || !atomic_exchange(&warned, 1))
			pp_log(required ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN,
			       pool->cfg.pool_name, "cgroup_unavailable",
			       "reason=\"%s\" limits_in_force=none", why);
		return required ? POOL_ESYS : 0;
	}
	if (pool->cg.stale_removed)
		pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name,
		       "cgroup_stale_removed", "groups=%u",
		       pool->cg.stale_removed);
	pool->cg_limits.memory_max = pool->cfg.memory_max;
	pool->cg_limits.pids_max = pool->cfg.pids_max;
	pool->cg_limits.cpu_max_percent = pool->cfg.cpu_max_percent;
	pool->cg_limits.cpu_weight = pool->cfg.cpu_weight;
	missing = want & ~pool->cg.available;
	if (missing) {
		pp_log(required ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN,
		       pool->cfg.pool_name, "cgroup_controller_missing",
		       "controllers=%s group=%s reason=\"%s\"",
		       pp_cgroup_names(missing, names, sizeof(names)),
		       pool->cg.path, why);
		if (required) {
			pp_cgroup_pool_close(&pool->cg);
			return POOL_ESYS;
		}
	}
	return 0;
}

int pool_start(process_pool_t *pool)
{
	int expect = PP_POOL_CREATED, err;

	if (!pool)
		return POOL_EINVAL;
	pthread_mutex_lock(&pool->stop_lock);
	if (atomic_load(&pool->state) != PP_POOL_CREATED) {
		pthread_mutex_unlock(&pool->stop_lock);
		return POOL_ESTATE;
	}
	err = open_fds(pool);
	if (!err && pool->cfg.enable_worker_affinity)
		err = list_cpus(pool);
	if (!err && open_cgroups(pool))
		err = -ENOTSUP;
	if (!err && pool->cfg.spawn_mode == POOL_SPAWN_CLEANROOM)
		err = pp_cleanroom_prepare(pool);
	if (!err) {
		atomic_compare_exchange_strong(&pool->state, &expect,
					       PP_POOL_RUNNING);
		err = -pthread_create(&pool->thread, NULL, pp_supervisor_main,
				      pool);
		if (err)
			atomic_store(&pool->state, PP_POOL_CREATED);
		else
			err = wait_started(pool);
	}
	pthread_mutex_unlock(&pool->stop_lock);
	if (err) {
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "start_failed",
		       "errno=%d", -err);
		return POOL_ESYS;
	}
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "pool_started",
	       "workers=%d max_workers=%d queue_size=%zu",
	       pool->cfg.worker_count, pool->cfg.max_workers,
	       pool->cfg.queue_size);
	return 0;
}

int pool_stop(process_pool_t *pool, int timeout_ms)
{
	int expect = PP_POOL_RUNNING;

	if (!pool)
		return POOL_EINVAL;
	if (pp_in_callback())
		return POOL_ESTATE; /* it may be the supervisor thread */
	pthread_mutex_lock(&pool->stop_lock);
	if (atomic_load(&pool->state) == PP_POOL_STOPPED) {
		pthread_mutex_unlock(&pool->stop_lock);
		return 0;
	}
	/* A stop a signal began (signals.c) is completed here. */
	if (atomic_load(&pool->state) != PP_POOL_RUNNING &&
	    !pp_signals_stop_begun(pool)) {
		pthread_mutex_unlock(&pool->stop_lock);
		return POOL_ESTATE;
	}
	if (atomic_load(&pool->state) == PP_POOL_RUNNING)
		atomic_store(&pool->stop_deadline_ns,
			     timeout_ms < 0
				 ? -1
				 : pp_now_ns() + (int64_t)timeout_ms * 1000000);
	atomic_compare_exchange_strong(&pool->state, &expect, PP_POOL_STOPPING);
	pp_room_wake_all(&pool->room); /* they find the pool stopping */
	atomic_store(&pool->supervisor_sleeping, 1);
	pp_supervisor_wake(pool);
	pthread_join(pool->thread, NULL);
	pool->thread_started = 0;
	pp_cgroup_pool_close(&pool->cg); /* every leaf is gone by now */
	atomic_store(&pool->state, PP_POOL_STOPPED);
	pp_restart_closed(pool);
	pp_signals_stopped(pool);
	pthread_mutex_unlock(&pool->stop_lock);
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "pool_stopped", "%s", "");
	if (pool->learn)
		pp_learn_report(pool);
	return 0;
}

void pool_destroy(process_pool_t *pool)
{
	if (!pool)
		return;
	if (pp_in_callback()) {
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "destroy_refused",
		       "%s", "reason=\"called from a completion callback\"");
		return;
	}
	if (atomic_load(&pool->state) == PP_POOL_RUNNING ||
	    atomic_load(&pool->state) == PP_POOL_STOPPING)
		pool_stop(pool, 0); /* completes a stop begun by a signal */
	free_pool(pool);
}

/* ---- submission ------------------------------------------------------ */

/* Checks a task's arguments and sets *ref, its function as workers get
 * it. */
static int check_task(const struct process_pool *pool, task_func_t func,
		      const void *input, size_t size, task_priority_t prio,
		      int timeout_ms, uint64_t *ref)
{
	if (!func || (!input && size) ||
	    (timeout_ms < 0 && timeout_ms != POOL_NO_TIMEOUT))
		return POOL_EINVAL;
	if ((int)prio < TASK_PRIORITY_LOW || (int)prio > TASK_PRIORITY_CRITICAL)
		return POOL_EINVAL;
	/* Known now: refused here rather than accepted and then rejected. */
	if (size > pool->cfg.max_input_size)
		return POOL_EMSGSIZE;
	return pp_func_ref(pool, func, ref);
}

/* A new future for d; id 0 takes the next one from the pool. */
static struct task_future *make_task(struct process_pool *pool,
				     const task_desc_t *d, uint64_t ref,
				     int64_t now, int borrow, uint64_t id,
				     int *err)
{
	/* A pool_input_alloc buffer is the task's from here on: no copy. */
	struct pp_input_buf *buf =
	    pp_input_buf_claim(d->input_data, d->input_size, err);
	struct task_future *t;
	int timeout = d->timeout_ms ? d->timeout_ms : pool->cfg.task_timeout;

	if (!buf && *err)
		return NULL; /* submitted already, or shorter than input_size */
	t = pp_future_new();
	if (!t) {
		pp_input_buf_unclaim(buf);
		*err = POOL_ENOMEM;
		return NULL;
	}
	t->func_ref = ref;
	pp_iso_domain_of(pool, d, &t->iso); /* checked by the caller */
	t->user_data = d->user_data;
	t->priority = d->priority;
	t->input_size = d->input_size;
	t->input = t->input_inline;
	if (buf) {
		t->input = d->input_data;
		t->input_borrowed = 1;
		t->input_buf = buf;
	} else if (borrow) {
		/* pool_submit_sync holds the caller until the outcome, and
		 * only the supervisor or this thread can decide it before
		 * the input is in the arena: no copy needed. */
		t->input = d->input_data;
		t->input_borrowed = 1;
	} else if (d->input_size > PP_INLINE_INPUT) {
		t->input = malloc(d->input_size);
		if (!t->input) {
			t->input = t->input_inline;
			pp_future_put(t);
			pp_future_put(t);
			*err = POOL_ENOMEM;
			return NULL;
		}
	}
	if (d->input_size && !borrow)
		memcpy(t->input, d->input_data, d->input_size);
	t->pool = pool;
	t->id = id ? id : atomic_fetch_add(&pool->next_id, 1) + 1;
	t->submit_ns = now;
	if (d->timeout_ms == POOL_NO_TIMEOUT)
		timeout = 0; /* whatever the pool's default */
	t->deadline_ns =
	    timeout ? t->submit_ns + (int64_t)timeout * 1000000 : 0;
	if (d->traceparent || d->tracestate || pool->span_hook) {
		*err = pp_trace_begin(pool, t, d, now);
		if (*err) {
			pp_future_put(t);
			pp_future_put(t);
			return NULL;
		}
	}
	PP_PROBE2(submit, t->id, t->priority);
	return t;
}

/* Drops a future never handed out; an input buffer it claimed goes back
 * to the caller, whose submit failed. */
static void drop_unsubmitted(struct task_future *t)
{
	pp_input_buf_unclaim(t->input_buf);
	t->input_buf = NULL;
	pp_future_put(t); /* the engine's */
	pp_future_put(t); /* and the caller's: never handed out */
}

/*
 * Hands t to the supervisor's queue; 0 or POOL_EAGAIN when it is full.
 * A new task (count) is counted as submitted once it has room and before
 * the push makes it visible, so no outcome is ever counted ahead of its
 * submission. The references stay the caller's to settle either way.
 */
static int enqueue_task(struct process_pool *pool, struct task_future *t,
			int count)
{
	if (atomic_fetch_add(&pool->queued, 1) >= pool->cfg.queue_size) {
		atomic_fetch_sub(&pool->queued, 1);
		return POOL_EAGAIN;
	}
	if (count)
		atomic_fetch_add(&pool->submitted, 1);
	t->next = NULL; /* a chain of one */
	if (pp_mpmc_push(pool->incoming, t)) {
		/* Cannot happen: the queue is as large as queue_size. */
		if (count)
			atomic_fetch_sub(&pool->submitted, 1);
		atomic_fetch_sub(&pool->queued, 1);
		return POOL_EAGAIN;
	}
	return 0;
}

/* A submitter's wait for room in a full queue (submit_block_ms). */
struct room_wait {
	int64_t cap; /* wait no later than this (a task's deadline); 0: - */
	int64_t until;
	uint32_t seq;
	int announced;
};

/*
 * After an attempt found the queue full: 1 to try again (at once the
 * first time, announced as a waiter; then after a wake), 0 to give up
 * (no waiting configured, or its time is up).
 */
static int room_next(struct process_pool *pool, struct room_wait *rw)
{
	int ms = pool->cfg.submit_block_ms;

	if (!ms || pp_in_callback()) /* a callback never waits for room */
		return 0;
	if (!rw->announced) {
		rw->until = ms < 0 ? -1 : pp_now_ns() + (int64_t)ms * 1000000;
		if (rw->cap && (rw->until < 0 || rw->cap < rw->until))
			rw->until = rw->cap;
		rw->seq = pp_room_announce(&pool->room);
		rw->announced = 1;
		return 1; /* room may have appeared before the announcement */
	}
	if (pp_room_sleep(&pool->room, rw->seq, rw->until))
		return 0;
	rw->seq = pp_room_seq(&pool->room);
	return 1;
}

static void room_done(struct process_pool *pool, struct room_wait *rw)
{
	if (rw->announced)
		pp_room_leave(&pool->room);
}

/* Enters a submit call; fails unless the pool is running. */
static int enter(struct process_pool *pool)
{
	atomic_fetch_add(&pool->submitters, 1);
	if (atomic_load(&pool->state) != PP_POOL_RUNNING) {
		atomic_fetch_sub(&pool->submitters, 1);
		return POOL_ESTATE;
	}
	return 0;
}

static void leave(struct process_pool *pool)
{
	atomic_fetch_sub(&pool->submitters, 1);
}

static struct task_future *submit_one(struct process_pool *pool,
				      const task_desc_t *d, int64_t now,
				      int borrow, int *err)
{
	struct pp_iso_domain dom;
	struct task_future *t;
	uint64_t ref;

	*err = check_task(pool, d->task_func, d->input_data, d->input_size,
			  d->priority, d->timeout_ms, &ref);
	if (!*err)
		*err = pp_iso_domain_of(pool, d, &dom);
	if (*err)
		return NULL;
	t = make_task(pool, d, ref, now, borrow, 0, err);
	if (!t)
		return NULL;
	*err = enqueue_task(pool, t, 1);
	if (*err) {
		drop_unsubmitted(t);
		return NULL;
	}
	return t;
}

/*
 * Queues one new task for the supervisor, waiting for room as the config
 * says. Returns its future, or NULL with *err set.
 */
static struct task_future *queue_task(struct process_pool *pool,
				      const task_desc_t *d, int borrow,
				      int *err)
{
	struct room_wait rw = {0};
	struct task_future *t = NULL;

	do {
		*err = enter(pool);
		if (*err)
			break;
		t = submit_one(pool, d, pp_now_ns(), borrow, err);
		leave(pool);
	} while (!t && *err == POOL_EAGAIN && room_next(pool, &rw));
	room_done(pool, &rw);
	if (t)
		pp_supervisor_wake(pool);
	return t;
}

static int to_errno(int code)
{
	return code == POOL_ESTATE ? EBADFD : -code;
}

task_future_t *pool_submit_async(process_pool_t *pool, task_func_t func,
				 void *input, size_t input_size,
				 void *user_data, task_priority_t priority,
				 int timeout_ms)
{
	task_desc_t d = {func,	    input,    input_size,
			 user_data, priority, timeout_ms};

	return pool_submit_task(pool, &d);
}

task_future_t *pool_submit_task(process_pool_t *pool, const task_desc_t *task)
{
	struct task_future *t;
	int err;

	if (!pool || !task) {
		errno = EINVAL;
		return NULL;
	}
	t = queue_task(pool, task, 0, &err);
	if (!t)
		errno = to_errno(err);
	return t;
}

/*
 * Queues a task that the direct lane could not take, waiting for room as
 * the config says, but not past the task's deadline: nothing else
 * watches it until it is queued.
 */
static int queue_instead(struct process_pool *pool, struct task_future *t)
{
	struct room_wait rw = {.cap = t->deadline_ns};
	int err;

	do {
		if (enter(pool)) {
			room_done(pool, &rw);
			pp_resolve(pool, t, TASK_STATUS_CANCELLED, 0, NULL, 0,
				   0, "pool stopped");
			pp_future_put(t); /* the engine's reference */
			return 0;
		}
		/* The engine's reference goes along. */
		err = enqueue_task(pool, t, 0);
		leave(pool);
	} while (err && room_next(pool, &rw));
	room_done(pool, &rw);
	if (err) {
		if (t->deadline_ns && pp_now_ns() >= t->deadline_ns)
			pp_resolve(pool, t, TASK_STATUS_TIMEOUT, 0, NULL, 0, 0,
				   "deadline passed waiting for room in the "
				   "queue");
		else
			pp_resolve(pool, t, TASK_STATUS_REJECTED, 0, NULL, 0, 0,
				   "queue full");
		pp_future_put(t);
		return 0;
	}
	pp_supervisor_wake(pool);
	return 0;
}

int pool_submit_sync(process_pool_t *pool, task_func_t func, void *input,
		     size_t input_size, void *user_data,
		     task_priority_t priority, int timeout_ms,
		     task_result_t *result)
{
	task_desc_t d = {func,	    input,    input_size,
			 user_data, priority, timeout_ms};

	return pool_submit_task_sync(pool, &d, result);
}

int pool_submit_task_sync(process_pool_t *pool, const task_desc_t *task,
			  task_result_t *result)
{
	struct pp_iso_domain dom;
	struct task_future *t;
	struct pp_worker *w;
	uint64_t ref;
	int err;

	if (!pool || !task || !result)
		return POOL_EINVAL;
	memset(result, 0, sizeof(*result));
	if (pp_in_callback())
		return POOL_ESTATE; /* would wait on the thread it runs in */
	err = check_task(pool, task->task_func, task->input_data,
			 task->input_size, task->priority, task->timeout_ms,
			 &ref);
	if (!err)
		err = pp_iso_domain_of(pool, task, &dom);
	if (err)
		return err;
	err = enter(pool);
	if (err)
		return err;
	w = pp_lane_claim(pool, &dom);
	if (!w) {
		leave(pool);
		t = queue_task(pool, task, 1, &err);
		if (!t)
			return err;
	} else {
		t = make_task(pool, task, ref, pp_now_ns(), 1, 0, &err);
		if (!t) {
			atomic_store(&w->lane, PP_LANE_FREE);
			leave(pool);
			return err;
		}
		atomic_fetch_add(&pool->submitted, 1);
		err = pp_lane_send(pool, w, t);
		leave(pool);
		if (err == 0)
			err = pp_lane_wait(pool, w, t);
		if (err == -EAGAIN)
			queue_instead(pool, t);
		else if (err == 0)
			pp_future_put(t); /* the engine's reference */
	}
	/* The task's deadline (or pool_stop) ends every task. */
	err = pool_future_wait(t, result, -1);
	pool_future_destroy(t);
	return err;
}

/* Takes room for up to want tasks in the queue; returns how many fit. */
static size_t reserve_queue(struct process_pool *pool, size_t want)
{
	size_t cap = pool->cfg.queue_size, have = atomic_load(&pool->queued),
	       take;

	do {
		if (have >= cap)
			return 0;
		take = cap - have < want ? cap - have : want;
	} while (!atomic_compare_exchange_weak(&pool->queued, &have,
					       have + take));
	return take;
}

/* Tasks per chain: the supervisor starts on the first chain while the
 * caller still makes the next. */
#define CHAIN_MAX 256

/* Hands the chain out[from..to) (NULL entries skipped, linked through
 * next) to the supervisor, runs of like tasks as bulk chunks of up to
 * want (bulk.h); 0, or POOL_EAGAIN with those futures gone. */
static int hand_over(struct process_pool *pool, task_future_t **out,
		     const task_desc_t *tasks, const uint64_t *refs,
		     size_t from, size_t to, size_t n, size_t want)
{
	struct task_future *head, *c, *next;
	size_t i, entries;

	head = pp_bulk_chain(pool, out, tasks, refs, from, to, want, &entries);
	if (!head)
		return 0;
	/* A chunk takes one entry of the queue: the rest of its room goes
	 * back. */
	if (entries < n)
		atomic_fetch_sub(&pool->queued, n - entries);
	/* Counted before they are visible, as in enqueue_task. */
	atomic_fetch_add(&pool->submitted, n);
	if (pp_mpmc_push(pool->incoming, head)) {
		/* Cannot happen: the queue holds queue_size entries and each
		 * entry carries at least one reserved task. */
		atomic_fetch_sub(&pool->submitted, n);
		atomic_fetch_sub(&pool->queued, entries);
		for (c = head; c; c = next) {
			next = c->next;
			if (c->bulk)
				pp_future_put(c);
		}
		for (i = from; i < to; i++) {
			if (out[i]) {
				drop_unsubmitted(out[i]);
				out[i] = NULL;
			}
		}
		return POOL_EAGAIN;
	}
	pp_supervisor_wake(pool);
	return 0;
}

/*
 * Makes the futures of a batch and hands them over in chains of up to
 * CHAIN_MAX: one queue operation per chain and one reservation for the
 * whole batch, instead of one of each per task. refs[i] is task i's
 * function as workers get it (checked already). Returns how many were
 * queued; *settled says how many entries of out[] were decided (those
 * beyond found no room), the NULL ones among them with *last the reason.
 */
static size_t submit_chain(struct process_pool *pool, const task_desc_t *tasks,
			   const uint64_t *refs, size_t count,
			   task_future_t **out, int *last, size_t *settled)
{
	size_t room = reserve_queue(pool, count), queued = 0, made = 0, i,
	       from = 0;
	uint64_t id = atomic_fetch_add(&pool->next_id, room) + 1;
	int64_t now = pp_now_ns(); /* one submit time for the whole batch */
	/* Chunks small enough that every worker gets some. */
	size_t want = count / (2 * (size_t)pool->cfg.max_workers);
	int err;

	*last = room < count ? POOL_EAGAIN : 0;
	*settled = room;
	for (i = 0; i < room; i++) {
		struct task_future *t =
		    make_task(pool, &tasks[i], refs[i], now, 0, id + i, &err);

		out[i] = t;
		if (!t) {
			atomic_fetch_sub(&pool->queued, 1);
			*last = err;
		} else {
			made++;
		}
		if (made == CHAIN_MAX || i + 1 == room) {
			err = hand_over(pool, out, tasks, refs, from, i + 1,
					made, want > CHAIN_MAX ? CHAIN_MAX : want);
			if (err) {
				/* Give back the room not used, and stop. */
				atomic_fetch_sub(&pool->queued, room - i - 1);
				*last = err;
				*settled = count;
				break;
			}
			queued += made;
			made = 0;
			from = i + 1;
		}
	}
	return queued;
}

task_future_t **pool_submit_batch(process_pool_t *pool,
				  const task_desc_t *tasks, size_t count)
{
	struct room_wait rw = {0};
	struct pp_iso_domain dom;
	task_future_t **out;
	uint64_t *refs;
	size_t i, queued = 0, done = 0, took;
	int err, why, last = 0, bad;

	if (!pool || !tasks || count == 0 ||
	    count > SIZE_MAX / (sizeof(*out) + sizeof(*refs))) {
		errno = EINVAL;
		return NULL;
	}
	/* The caller's array, with the functions' wire references kept
	 * behind it while the batch is submitted: each is worked out once,
	 * when the batch is checked. free() of the array releases both. */
	out = calloc(count, sizeof(*out) + sizeof(*refs));
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	refs = (uint64_t *)(void *)(out + count);
	for (i = 0; i < count; i++)
		if ((bad = check_task(pool, tasks[i].task_func,
				      tasks[i].input_data, tasks[i].input_size,
				      tasks[i].priority, tasks[i].timeout_ms,
				      &refs[i])) ||
		    (bad = pp_iso_domain_of(pool, &tasks[i], &dom))) {
			free(out);
			errno = to_errno(bad);
			return NULL;
		}
	/* What fits goes at once; the rest as room appears, if the config
	 * says to wait for it. */
	do {
		err = enter(pool);
		if (err) {
			last = err;
			break;
		}
		queued += submit_chain(pool, tasks + done, refs + done,
				       count - done, out + done, &why, &took);
		leave(pool);
		if (why && why != POOL_EAGAIN)
			last = why; /* an entry that could not be made */
		done += took;
	} while (done < count && room_next(pool, &rw));
	room_done(pool, &rw);
	if (done < count && !err)
		last = POOL_EAGAIN;
	if (!queued) {
		free(out);
		errno = to_errno(last);
		return NULL;
	}
	errno = last ? to_errno(last) : 0;
	return out;
}

int pp_pool_enter(struct process_pool *pool)
{
	return enter(pool);
}

void pp_pool_leave(struct process_pool *pool)
{
	leave(pool);
}

size_t pp_pool_reserve(struct process_pool *pool, size_t want)
{
	return reserve_queue(pool, want);
}

/* ---- futures needing the pool --------------------------------------- */

int pool_future_cancel(task_future_t *f)
{
	struct process_pool *pool;

	if (!f)
		return POOL_EINVAL;
	if (pp_future_is_done(f))
		return POOL_ESTATE;
	pool = f->pool;
	if (!pp_future_claim(f))
		return POOL_ESTATE;
	pp_future_fill(f, TASK_STATUS_CANCELLED, 0, NULL, 0, 0,
		       "cancelled by the application", pp_now_ns());
	atomic_fetch_add(&pool->counters[TASK_STATUS_CANCELLED], 1);
	pp_latency_record(&pool->latency,
			  f->result.queue_us + f->result.run_us);
	if (atomic_load(&f->start_ns)) {
		struct pp_latency_sample v = {f->result.queue_us,
					      f->result.run_us, f->priority};

		pp_latency_split_record(&pool->split, &v, 1);
	}
	/* The supervisor takes it off its worker, if it is on one. Taken
	 * before publishing: a completion callback may release the
	 * caller's reference. */
	atomic_fetch_add(&f->refs, 1);
	pp_future_publish(f);
	/* Full: the outcome stands; a task already running on a worker then
	 * runs to its end unobserved instead of being killed. */
	if (pp_mpmc_push(pool->cancels, f))
		pp_future_put(f);
	pp_supervisor_wake(pool);
	return 0;
}

void pool_future_destroy(task_future_t *f)
{
	pp_future_put(f);
}

/* ---- statistics and logging ------------------------------------------- */

int pool_get_stats(process_pool_t *pool, pool_stats_t *s)
{
	uint64_t runs;
	int i;

	if (!pool || !s)
		return POOL_EINVAL;
	memset(s, 0, sizeof(*s));
	s->tasks_completed =
	    atomic_load(&pool->counters[TASK_STATUS_COMPLETED]);
	s->tasks_failed = atomic_load(&pool->counters[TASK_STATUS_FAILED]);
	s->tasks_crashed = atomic_load(&pool->counters[TASK_STATUS_CRASHED]);
	s->tasks_timed_out = atomic_load(&pool->counters[TASK_STATUS_TIMEOUT]);
	s->tasks_cancelled =
	    atomic_load(&pool->counters[TASK_STATUS_CANCELLED]);
	s->tasks_rejected = atomic_load(&pool->counters[TASK_STATUS_REJECTED]);
	s->tasks_protocol_error =
	    atomic_load(&pool->counters[TASK_STATUS_PROTOCOL_ERROR]);
	s->tasks_sandbox_violation =
	    atomic_load(&pool->counters[TASK_STATUS_SANDBOX_VIOLATION]);
	s->tasks_resource_limit =
	    atomic_load(&pool->counters[TASK_STATUS_RESOURCE_LIMIT]);
	/* After the outcomes: every task they count was counted here before
	 * it could end, so the outcomes never add up to more. */
	s->tasks_submitted = atomic_load(&pool->submitted);
	s->tasks_retried = atomic_load(&pool->retried);
	s->worker_restarts = atomic_load(&pool->restarts);
	s->active_workers = atomic_load(&pool->active_workers);
	s->busy_workers = atomic_load(&pool->busy_workers);
	s->queue_depth = atomic_load(&pool->queued);
	s->supervisor_loops = atomic_load(&pool->loops);
	pp_restart_stats(pool, s);
	s->zygote_pid = atomic_load(&pool->zygote.info_pid);
	s->zygote_restarts = atomic_load(&pool->zygote.info_restarts);
	s->spare_workers = atomic_load(&pool->spare_workers);
	s->spares_used = atomic_load(&pool->spares_used);
	for (i = 0; i < TASK_PRIORITY_COUNT; i++)
		s->queue_depth_by_priority[i] = atomic_load(&pool->depth[i]);
	runs = atomic_load(&pool->run_count);
	s->avg_task_time_ms =
	    runs ? (double)atomic_load(&pool->run_ns_total) / runs / 1e6 : 0.0;
	s->queue_utilization =
	    100.0 * (double)s->queue_depth / (double)pool->cfg.queue_size;
	s->latency_p50_us = pp_latency_percentile(&pool->latency, 0.50);
	s->latency_p99_us = pp_latency_percentile(&pool->latency, 0.99);
	s->latency_p999_us = pp_latency_percentile(&pool->latency, 0.999);
	s->latency_max_us = atomic_load(&pool->latency.max);
	s->cgroups = pool->cg.open;
	s->limits_in_force =
	    pool->cg.open ? wanted_limits(&pool->cfg) & pool->cg.available : 0;
	return 0;
}

int pool_get_workers(process_pool_t *pool, pool_worker_info_t *out, size_t max)
{
	size_t n = 0;
	int i;

	if (!pool || (!out && max))
		return POOL_EINVAL;
	if (atomic_load(&pool->state) != PP_POOL_RUNNING)
		return 0;
	/* The active workers first, then the spares: a buffer of
	 * max_workers entries holds every active one. */
	for (i = 0; i < 2 * pool->n_slots && n < max; i++) {
		struct pp_worker *w = &pool->workers[i % pool->n_slots];
		int pid = atomic_load(&w->info_pid);

		if (!pid || atomic_load(&w->info_spare) != (i >= pool->n_slots))
			continue;
		out[n].slot = w->index;
		out[n].pid = pid;
		/* Fixed for the pool's life once affinity is set up. */
		out[n].cpu =
		    pool->n_cpus ? pool->cpus[w->index % pool->n_cpus] : -1;
		out[n].numa_node =
		    pool->n_cpus ? pool->nodes[w->index % pool->n_cpus] : -1;
		out[n].busy = atomic_load(&w->info_busy);
		out[n].tasks_done = atomic_load(&w->info_done);
		out[n].restarts = atomic_load(&w->info_restarts);
		out[n].spare = atomic_load(&w->info_spare);
		/* A pid reaped (and perhaps reused) during the read is not
		 * ours any more: its figures are dropped. */
		if (pp_usage_read(pid, 1, pool->cg.open ? pool->cg.path : NULL,
				  &out[n].usage) ||
		    atomic_load(&w->info_pid) != pid) {
			memset(&out[n].usage, 0, sizeof(out[n].usage));
			out[n].usage.open_fds = -1;
		}
		n++;
	}
	return (int)n;
}

int pool_set_span_hook(process_pool_t *pool, pool_span_hook_t hook, void *arg)
{
	struct timespec rt;

	if (!pool)
		return POOL_EINVAL;
	if (atomic_load(&pool->state) != PP_POOL_CREATED)
		return POOL_ESTATE;
	clock_gettime(CLOCK_REALTIME, &rt);
	pool->mono_to_unix_ns =
	    (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec - pp_now_ns();
	pool->span_hook = hook;
	pool->span_arg = arg;
	return 0;
}

int pool_get_latency(process_pool_t *pool, int kind, int priority,
		     pool_latency_histogram_t *out)
{
	int p;

	if (!pool || !out || kind < POOL_LATENCY_TOTAL ||
	    kind > POOL_LATENCY_RUN || priority < POOL_PRIORITY_ALL ||
	    priority >= TASK_PRIORITY_COUNT ||
	    (kind == POOL_LATENCY_TOTAL && priority != POOL_PRIORITY_ALL))
		return POOL_EINVAL;
	memset(out, 0, sizeof(*out));
	if (kind == POOL_LATENCY_TOTAL) {
		pp_latency_export(&pool->latency, out);
		return 0;
	}
	for (p = 0; p < TASK_PRIORITY_COUNT; p++)
		if (priority == POOL_PRIORITY_ALL || priority == p)
			pp_latency_export(kind == POOL_LATENCY_QUEUE
					      ? &pool->split.queue[p]
					      : &pool->split.run[p],
					  out);
	return 0;
}

int pool_get_host_usage(pool_resource_usage_t *out)
{
	if (!out)
		return POOL_EINVAL;
	return pp_usage_read(0, 0, NULL, out) ? POOL_ESYS : 0;
}

/* A pool's lines carry its cfg.pool_name: log.c finds its sink by it. */
int pool_set_log_level(process_pool_t *pool, int level)
{
	return pp_log_set_level(pool ? pool->cfg.pool_name : NULL, level);
}

int pool_set_log_file(process_pool_t *pool, const char *path)
{
	return pp_log_set_file(pool ? pool->cfg.pool_name : NULL, path);
}

const char *pool_task_status_str(task_status_t status)
{
	static const char *const names[TASK_STATUS_COUNT] = {
	    "PENDING",		 "COMPLETED",	   "FAILED",
	    "TIMEOUT",		 "CANCELLED",	   "CRASHED",
	    "SANDBOX_VIOLATION", "RESOURCE_LIMIT", "PROTOCOL_ERROR",
	    "REJECTED",
	};

	if ((int)status < 0 || (int)status >= TASK_STATUS_COUNT)
		return "UNKNOWN";
	return names[status];
}
