/* Worker initializers, both sides; see worker_init.h. */
#include "src/core/worker_init.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/pool_internal.h"
#include "src/core/protocol.h"

/* ---- parent side --------------------------------------------------- */

int pp_worker_init_configure(const struct process_pool *pool,
			     const pool_config_t *cfg,
			     struct pp_worker_init *wi, char *why,
			     size_t why_len)
{
	memset(wi, 0, sizeof(*wi));
	if (!cfg)
		return 0;
	if (!cfg->worker_init) {
		if (!cfg->worker_init_arg && !cfg->worker_init_arg_size)
			return 0;
		snprintf(why, why_len, "worker_init_arg without worker_init");
		return POOL_EINVAL;
	}
	if (!cfg->worker_init_arg && cfg->worker_init_arg_size) {
		snprintf(why, why_len,
			 "worker_init_arg NULL with worker_init_arg_size %zu",
			 cfg->worker_init_arg_size);
		return POOL_EINVAL;
	}
	if (cfg->worker_init_arg_size > POOL_WORKER_INIT_ARG_MAX) {
		snprintf(why, why_len,
			 "worker_init_arg_size %zu above the limit %zu",
			 cfg->worker_init_arg_size, POOL_WORKER_INIT_ARG_MAX);
		return POOL_EINVAL;
	}
	/* The same rule as a task function: a clean-room worker finds it
	 * only in a module the program loads at startup. */
	if (pp_func_ref(pool, (task_func_t)(void (*)(void))cfg->worker_init,
			&wi->ref) ||
	    !wi->ref) {
		snprintf(why, why_len,
			 "worker_init lies in no module loaded at startup");
		return POOL_EINVAL;
	}
	if (cfg->worker_init_arg_size) {
		wi->arg = malloc(cfg->worker_init_arg_size);
		if (!wi->arg) {
			wi->ref = 0;
			snprintf(why, why_len, "out of memory");
			return POOL_ENOMEM;
		}
		memcpy(wi->arg, cfg->worker_init_arg,
		       cfg->worker_init_arg_size);
		wi->arg_size = cfg->worker_init_arg_size;
	}
	return 0;
}

void pp_worker_init_release(struct pp_worker_init *wi)
{
	free(wi->arg);
	memset(wi, 0, sizeof(*wi));
}

void pp_worker_init_died(struct process_pool *pool, struct pp_worker *w,
			 int code, int sig, char *how, size_t len)
{
	/* The worker's own words: they only describe its own failure. */
	uint32_t word = pp_channel_word_load(&w->ch, PP_WORD_EXIT);
	char reason[64];

	if (w->init_timed_out)
		snprintf(reason, sizeof(reason), "timed_out ms=%d",
			 pool->cfg.worker_init_timeout_ms);
	else if (sig)
		snprintf(reason, sizeof(reason), "crashed signal=%d", sig);
	else if (code == PP_EXIT_INIT && word)
		snprintf(reason, sizeof(reason), "returned rc=%d", (int)word);
	else if (code == PP_EXIT_INIT)
		snprintf(reason, sizeof(reason), "not_found");
	else if (code == PP_EXIT_TASK_CALLED_EXIT && word)
		snprintf(reason, sizeof(reason), "called_exit status=%u",
			 (word - 1) & 0xff);
	else
		snprintf(reason, sizeof(reason), "exited code=%d", code);
	snprintf(how, len, "worker %d failed in its initializer (%s)",
		 (int)w->pid, reason);
	atomic_store(&pool->init_failing, 1);
	pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "worker_init_failed",
	       "worker=%d pid=%d reason=\"%s\"%s%s", w->index, (int)w->pid,
	       reason, sig && !w->init_timed_out ? " signal_name=" : "",
	       sig && !w->init_timed_out ? strsignal(sig) : "");
}

int64_t pp_worker_init_deadline(const struct process_pool *pool,
				const struct pp_worker *w)
{
	if (!w->starting || w->init_timed_out ||
	    pool->cfg.worker_init_timeout_ms < 0)
		return 0;
	return w->spawned_ns +
	       (int64_t)pool->cfg.worker_init_timeout_ms * 1000000;
}

void pp_worker_init_check(struct process_pool *pool, struct pp_worker *w,
			  int64_t now)
{
	int64_t due = pp_worker_init_deadline(pool, w);

	if (!due || now < due)
		return;
	w->init_timed_out = 1;
	pp_worker_kill(w); /* reaped as a failed start */
}

const char *pp_worker_init_hello(struct process_pool *pool, struct pp_worker *w)
{
	if (!w->starting)
		return "HELLO from a worker that was not starting";
	w->starting = 0;
	atomic_store(&pool->init_failing, 0);
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "worker_ready",
	       "worker=%d pid=%d", w->index, (int)w->pid);
	return NULL;
}

/* ---- worker side ------------------------------------------------------ */

/* Set once, by the initializer, in the worker's one thread. */
static void *worker_state;

void *pool_worker_state(void)
{
	return worker_state;
}

void pp_worker_init_run(const struct pp_worker_setup *s, struct pp_channel *ch)
{
	pool_worker_init_t fn;
	int rc;

	if (!s->init_ref)
		return;
	if (s->modules)
		fn = (pool_worker_init_t)pp_modules_resolve(s->modules,
							    s->init_ref);
	else
		fn = (pool_worker_init_t)(uintptr_t)s->init_ref;
	if (!fn)
		_exit(PP_EXIT_INIT); /* the word stays 0: not found */
	rc = fn(s->init_arg_size ? s->init_arg : NULL, s->init_arg_size,
		&worker_state);
	if (rc) {
		pp_channel_word_store(ch, PP_WORD_EXIT, (uint32_t)rc);
		_exit(PP_EXIT_INIT);
	}
}

void pp_worker_init_ready(const struct pp_worker_setup *s,
			  struct pp_channel *ch)
{
	struct pp_frame f;

	if (!s->init_ref)
		return;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_HELLO;
	/* The ring is empty: nothing was sent before. */
	if (pp_channel_send(ch, &f))
		_exit(3);
}
