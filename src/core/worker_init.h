/*
 * Worker initializers (pool_config_t.worker_init): a function run once in
 * each new worker process, before it confines itself, whose state tasks
 * read with pool_worker_state().
 *
 * Worker side: pp_worker_init_run runs it (after the fds are closed and
 * stdio is the worker's own, before rlimits, the uid change, capabilities
 * and seccomp); pp_worker_init_ready then sends HELLO, once confined.
 * Parent side: a worker whose pool has an initializer is "starting" from
 * its spawn until its HELLO is read, and takes no task until then, so a
 * worker that dies in its initializer holds none. Whether a worker ran a
 * task is known from what the parent did (it sent it none), never from
 * what the worker says.
 *
 * Thread-safety: the parent side runs in pool_create and on the
 * supervisor thread; the worker side in the worker's one thread.
 */
#ifndef PP_CORE_WORKER_INIT_H
#define PP_CORE_WORKER_INIT_H

#include <stddef.h>
#include <stdint.h>

#include "process_pool.h"
#include "src/core/worker_setup.h"
#include "src/ipc/channel.h"

struct process_pool;
struct pp_worker;

/* The pool's copy of the initializer and its argument. */
struct pp_worker_init {
	uint64_t ref; /* as workers resolve it (pp_func_ref); 0: none */
	void *arg;    /* owned copy of worker_init_arg, or NULL */
	size_t arg_size;
};

/*
 * pp_worker_init_configure - take cfg's initializer into *wi at
 * pool_create (cfg->spawn_mode decides how it travels). Returns 0, or
 * POOL_EINVAL (an argument without a function, a NULL argument with a
 * size, one above POOL_WORKER_INIT_ARG_MAX, or a clean-room function
 * outside the startup modules) with why filled, or POOL_ENOMEM.
 */
int pp_worker_init_configure(const struct process_pool *pool,
			     const pool_config_t *cfg,
			     struct pp_worker_init *wi, char *why,
			     size_t why_len);

/* pp_worker_init_release - free what configure copied; safe twice. */
void pp_worker_init_release(struct pp_worker_init *wi);

/*
 * pp_worker_init_died - supervisor, reaping worker w that died before its
 * HELLO (it held no task): names the cause in how (len bytes), logs
 * "worker_init_failed" and marks the pool's health. code/sig as waitid
 * gave them.
 */
void pp_worker_init_died(struct process_pool *pool, struct pp_worker *w,
			 int code, int sig, char *how, size_t len);

/* pp_worker_init_deadline - when w's initializer is taken for hung (the
 * worker's spawn plus worker_init_timeout_ms), or 0: none applies. */
int64_t pp_worker_init_deadline(const struct process_pool *pool,
				const struct pp_worker *w);

/* pp_worker_init_check - supervisor: kill w if its initializer is past
 * that deadline; the reap reports it as a failed start. */
void pp_worker_init_check(struct process_pool *pool, struct pp_worker *w,
			  int64_t now);

/* pp_worker_init_hello - supervisor or lane: w's HELLO arrived; it may
 * take tasks now. Returns NULL, or the violation when w was not starting. */
const char *pp_worker_init_hello(struct process_pool *pool,
				 struct pp_worker *w);

/*
 * pp_worker_init_run - worker side: run the initializer s names, if any.
 * A non-zero return stores it in PP_WORD_EXIT and exits PP_EXIT_INIT; a
 * reference that resolves to nothing exits PP_EXIT_INIT too.
 */
void pp_worker_init_run(const struct pp_worker_setup *s, struct pp_channel *ch);

/* pp_worker_init_ready - worker side, confined: HELLO when s has an
 * initializer (the parent waits for it), nothing otherwise. */
void pp_worker_init_ready(const struct pp_worker_setup *s,
			  struct pp_channel *ch);

#endif /* PP_CORE_WORKER_INIT_H */
