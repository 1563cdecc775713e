/*
 * Rolling restarts. A call records a request (with a validated, already
 * compiled config when it brings one) and wakes the supervisor, which
 * does the rest, one step a turn:
 *
 * - a worker spawned before the latest request is old; the restart is
 *   over when no old worker is left (retired, crashed or scaled down:
 *   however it went, its slot now holds a new one or none);
 * - a new worker is ready once it has answered a PING sent right after
 *   its spawn (health.c judges the PONG); until then it may take tasks
 *   (they run after the PONG) but does not count as serving;
 * - with a free slot, a new worker starts there first and an old one is
 *   retired only while the ready workers stay at or above their number
 *   at the start (nginx's start-new-then-drain-old); without one, up to
 *   max(1, workers / 4) old ones go first (uWSGI's chain reload);
 * - a retired worker takes no new task: it gets SHUTDOWN, finishes what
 *   it holds and exits; past restart_grace_ms it is killed.
 *
 * The config is checked and its seccomp filter compiled in the caller's
 * thread, so a bad one is refused before anything changes; the
 * supervisor applies it between two turns, when no spawn is under way.
 */
#include "src/core/restart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/confine.h"
#include "src/core/clock.h"
#include "src/core/health.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"

#define STEP_NS (50LL * 1000000)

int pp_restart_init(struct process_pool *pool)
{
	struct pp_restart *r = &pool->restart;
	pthread_condattr_t a;

	if (pthread_mutex_init(&r->mu, NULL))
		return -ENOMEM;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &a);
	pthread_condattr_destroy(&a);
	atomic_init(&r->min_ready, -1);
	atomic_init(&r->min_workers, pool->cfg.min_workers);
	return 0;
}

void pp_restart_free(struct process_pool *pool)
{
	struct pp_restart *r = &pool->restart;

	free(r->next_allow);
	pp_seccomp_program_free(&r->next_seccomp);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
}

/* ---- checking a new config (caller's thread) ------------------------ */

static int refuse(struct process_pool *pool, const char *why)
{
	pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "restart_refused",
	       "reason=\"%s\"", why);
	return POOL_EINVAL;
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The fields a restart may not change, resolved; NULL when all agree.
 * Only fields the supervisor never writes are read from pool->cfg. */
static const char *fixed_field(const struct process_pool *pool,
			       const pool_config_t *n,
			       const char *cgroup_parent)
{
	const pool_config_t *c = &pool->cfg;
	const char *env = getenv("PROCESS_POOL_SECCOMP_LEARN");
	int learn = n->seccomp_learn || (env && !strcmp(env, "1"));

#define FIXED(f)                                                               \
	if (n->f != c->f)                                                      \
		return #f;
	FIXED(max_workers)
	FIXED(spare_workers)
	FIXED(queue_size)
	FIXED(task_timeout)
	FIXED(enable_worker_affinity)
	FIXED(log_level)
	FIXED(max_retries)
	FIXED(max_in_flight)
	FIXED(arena_size)
	FIXED(max_output_size)
	FIXED(max_input_size)
	FIXED(sandbox_off)
	FIXED(worker_uid)
	FIXED(worker_gid)
	FIXED(cgroup_mode)
	FIXED(spawn_mode)
	FIXED(submit_block_ms)
	FIXED(worker_stdio)
	FIXED(worker_output_rate)
	FIXED(task_usage)
#undef FIXED
	if (strcmp(n->pool_name, c->pool_name))
		return "pool_name";
	if (!c->sandbox_off && learn != pool->learn)
		return "seccomp_learn";
	if (!same_str(cgroup_parent, pool->cgroup_parent))
		return "cgroup_parent";
	/* The group enabled its controllers at pool_start: a limit may
	 * change its value, not come or go. */
	if (!n->memory_max != !c->memory_max)
		return "memory_max (on or off)";
	if (!n->pids_max != !c->pids_max)
		return "pids_max (on or off)";
	if (!(n->cpu_max_percent || n->cpu_weight) !=
	    !(c->cpu_max_percent || c->cpu_weight))
		return "cpu_max_percent and cpu_weight (on or off)";
	return NULL;
}

/* Resolves and checks config into r's request fields (not yet
 * published): the resolved copy in *out, the allow-list in *allow, the
 * compiled filter in *prog. */
static int check_config(struct process_pool *pool, const pool_config_t *in,
			pool_config_t *out, char **allow,
			struct pp_seccomp_program *prog)
{
	struct pp_seccomp_policy policy;
	char why[160], bad[64];
	const char *field;
	uint64_t caps;
	int err;

	err = pp_config_resolve(in, out, why, sizeof(why));
	if (err)
		return refuse(pool, why);
	/* Left at 0, the arena stays as it is, whatever the new rlimit_as
	 * would make of the default (the channels are not remade). */
	if (!in->arena_size)
		out->arena_size = pool->cfg.arena_size;
	field = fixed_field(pool, out, in->cgroup_parent);
	if (field) {
		snprintf(why, sizeof(why), "%s cannot change while running",
			 field);
		return refuse(pool, why);
	}
	if (pp_caps_parse(in->keep_caps, &caps, bad, sizeof(bad)) ||
	    caps != pool->keep_caps)
		return refuse(pool, "keep_caps cannot change while running");
	if (out->worker_count > out->max_workers)
		return refuse(pool, "worker_count > max_workers");
	out->keep_caps = NULL;
	out->cgroup_parent = NULL;
	out->seccomp_allow = NULL;
	out->seccomp_learn = pool->learn;
	/* The pool keeps its own block of uids. */
	out->worker_uid_base = pool->cfg.worker_uid_base;
	out->worker_uid_count = pool->cfg.worker_uid_count;
	*allow = NULL;
	memset(prog, 0, sizeof(*prog));
	if (out->sandbox_off)
		return 0;
	if (in->seccomp_allow) {
		*allow = strdup(in->seccomp_allow);
		if (!*allow)
			return POOL_ENOMEM;
	}
	pp_seccomp_policy_init(&policy, out->seccomp_profile
					    ? PP_SECCOMP_STRICT
					    : PP_SECCOMP_COMPUTE);
	if (*allow)
		pp_seccomp_allow(&policy, *allow);
	policy.learn = pool->learn;
	err = pp_seccomp_compile(&policy, prog);
	if (!err)
		return 0;
	free(*allow);
	*allow = NULL;
	if (err == -ENOMEM)
		return POOL_ENOMEM;
	if (err == -EINVAL)
		snprintf(why, sizeof(why),
			 "seccomp_allow: unknown syscall or group '%s'",
			 policy.bad);
	else
		snprintf(why, sizeof(why),
			 "seccomp filter could not be built (%d)", err);
	return refuse(pool, why);
}

/* ---- requests --------------------------------------------------------- */

static void wake_supervisor(struct process_pool *pool)
{
	uint64_t one = 1;

	/* Always: the supervisor's spin does not look at requests. */
	if (write(pool->wake_fd, &one, sizeof(one)) < 0)
		errno = 0;
}

uint64_t pp_restart_request(struct process_pool *pool)
{
	struct pp_restart *r = &pool->restart;
	uint64_t seq;

	pthread_mutex_lock(&r->mu);
	seq = ++r->requested;
	atomic_store(&r->running, 1); /* from the call on, not the start */
	pthread_mutex_unlock(&r->mu);
	wake_supervisor(pool);
	return seq;
}

int pool_restart(process_pool_t *pool, const pool_config_t *config,
		 unsigned flags)
{
	struct pp_seccomp_program prog;
	struct pp_restart *r;
	pool_config_t next;
	char *allow = NULL;
	uint64_t seq;
	int err;

	if (!pool || (flags & ~POOL_RESTART_WAIT))
		return POOL_EINVAL;
	if (atomic_load(&pool->state) != PP_POOL_RUNNING)
		return POOL_ESTATE;
	r = &pool->restart;
	memset(&prog, 0, sizeof(prog));
	if (config) {
		err = check_config(pool, config, &next, &allow, &prog);
		if (err)
			return err;
	}
	pthread_mutex_lock(&r->mu);
	if (r->closed) {
		pthread_mutex_unlock(&r->mu);
		free(allow);
		pp_seccomp_program_free(&prog);
		return POOL_ESTATE;
	}
	if (config) {
		/* A config not yet applied gives way to the newer one. */
		free(r->next_allow);
		pp_seccomp_program_free(&r->next_seccomp);
		r->next = next;
		r->next_allow = allow;
		r->next_seccomp = prog;
		r->have_config = 1;
	}
	seq = ++r->requested;
	atomic_store(&r->running, 1); /* from the call on, not the start */
	pthread_mutex_unlock(&r->mu);
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "restart_requested",
	       "request=%llu config=%s", (unsigned long long)seq,
	       config ? "new" : "same");
	wake_supervisor(pool);
	if (!(flags & POOL_RESTART_WAIT))
		return 0;
	pthread_mutex_lock(&r->mu);
	while (r->done < seq && !r->closed)
		pthread_cond_wait(&r->cv, &r->mu);
	err = r->done >= seq ? 0 : POOL_ESTATE;
	pthread_mutex_unlock(&r->mu);
	return err;
}

void pp_restart_closed(struct process_pool *pool)
{
	struct pp_restart *r = &pool->restart;

	pthread_mutex_lock(&r->mu);
	r->closed = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	atomic_store(&r->running, 0);
}

/* ---- the supervisor's side -------------------------------------------- */

void pp_restart_spawned(struct pp_worker *w)
{
	w->restart_pinged = 0;
	w->retire_by_ns = 0;
}

/* The fields a restart may change, into the running pool (supervisor).
 * The cgroup limits go to the new leaves only (cg_limits): cfg's copy
 * stays, read by other threads for the stats. */
static int apply(struct process_pool *pool, pool_config_t *n, char *allow,
		 struct pp_seccomp_program *prog)
{
	pool_config_t *c = &pool->cfg;
	struct pp_seccomp_program old = pool->seccomp;
	char *old_allow = pool->seccomp_allow;

	c->worker_count = n->worker_count;
	c->min_workers = n->min_workers;
	c->worker_idle_timeout = n->worker_idle_timeout;
	c->enable_dynamic_scaling = n->enable_dynamic_scaling;
	c->max_tasks_per_worker = n->max_tasks_per_worker;
	c->recycle_rss_bytes = n->recycle_rss_bytes;
	c->max_worker_age_ms = n->max_worker_age_ms;
	c->min_worker_age_ms = n->min_worker_age_ms;
	c->health_check_interval_ms = n->health_check_interval_ms;
	c->health_check_timeout_ms = n->health_check_timeout_ms;
	c->timeout_signal = n->timeout_signal;
	c->timeout_grace_ms = n->timeout_grace_ms;
	c->restart_grace_ms = n->restart_grace_ms;
	c->rlimit_as = n->rlimit_as;
	c->rlimit_nofile = n->rlimit_nofile;
	c->rlimit_cpu_s = n->rlimit_cpu_s;
	c->rlimit_nproc = n->rlimit_nproc;
	c->seccomp_profile = n->seccomp_profile;
	c->seccomp_errno = n->seccomp_errno;
	pool->cg_limits.memory_max = n->memory_max;
	pool->cg_limits.pids_max = n->pids_max;
	pool->cg_limits.cpu_max_percent = n->cpu_max_percent;
	pool->cg_limits.cpu_weight = n->cpu_weight;
	if (!c->sandbox_off) {
		pool->seccomp = *prog;
		pool->seccomp_allow = allow;
		c->seccomp_allow = allow;
		memset(prog, 0, sizeof(*prog));
		pp_seccomp_program_free(&old);
		free(old_allow);
	} else {
		free(allow);
	}
	atomic_store(&pool->restart.min_workers, c->min_workers);
	pool->target_workers = c->worker_count;
	if (pool->target_workers < c->min_workers)
		pool->target_workers = c->min_workers;
	/* A clean-room worker reads its confinement from the setup memfd
	 * written at pool_start: write it again. */
	if (c->spawn_mode == POOL_SPAWN_CLEANROOM) {
		pp_cleanroom_release(&pool->cleanroom);
		if (pp_cleanroom_prepare(pool))
			return -1;
	}
	return 0;
}

/* Takes a pending request, if any: a restart starts, or the one under
 * way now covers every worker older than now. */
static void take_request(struct process_pool *pool)
{
	struct pp_restart *r = &pool->restart;
	struct pp_seccomp_program prog;
	pool_config_t next;
	char *allow = NULL;
	int have, live = 0, used = 0, i;
	uint64_t seq;

	pthread_mutex_lock(&r->mu);
	seq = r->requested;
	have = r->have_config;
	if (have) {
		next = r->next;
		allow = r->next_allow;
		prog = r->next_seccomp;
		r->next_allow = NULL;
		memset(&r->next_seccomp, 0, sizeof(r->next_seccomp));
		r->have_config = 0;
	}
	pthread_mutex_unlock(&r->mu);
	if (seq == r->active_seq)
		return;
	if (have && apply(pool, &next, allow, &prog))
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "restart_config",
		       "%s",
		       "reason=\"clean-room setup could not be written\"");
	if (have)
		pp_seccomp_program_free(&prog);
	/* A worker's setup reaches the zygote by value, its pointers (the
	 * seccomp program) into the host's memory as the zygote was made:
	 * new workers need a zygote made after the new config. */
	if (have)
		pp_zygote_stop(pool);
	for (i = 0; i < pool->n_slots; i++) {
		const struct pp_worker *w = &pool->workers[i];

		if (w->spare)
			continue; /* replaced, not counted (see the step) */
		live += w->state == PP_WORKER_LIVE;
		used += w->state != PP_WORKER_EMPTY || w->respawn_at_ns;
	}
	if (!r->active) {
		r->base = live;
		r->drop = used < pool->n_slots
			      ? 0
			      : (live / 4 > 1 ? live / 4 : 1);
		atomic_store(&r->min_ready, live);
	}
	r->active = 1;
	r->active_seq = seq;
	/* Read now: a worker respawned earlier in this turn had the old
	 * config, and counts as old. */
	r->started_ns = pp_now_ns();
	atomic_store(&r->running, 1);
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "restart_begin",
	       "request=%llu workers=%d keep_ready=%d config=%s",
	       (unsigned long long)seq, live, live - r->drop,
	       have ? "new" : "same");
}

static void finish_restart(struct process_pool *pool, int64_t now)
{
	struct pp_restart *r = &pool->restart;

	r->active = 0;
	atomic_fetch_add(&r->completed, 1);
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "restart_done",
	       "request=%llu ms=%lld min_ready=%d",
	       (unsigned long long)r->active_seq,
	       (long long)((now - r->started_ns) / 1000000),
	       atomic_load(&r->min_ready));
	pthread_mutex_lock(&r->mu);
	r->done = r->active_seq;
	/* A call since the start begins another restart next turn. */
	if (r->requested == r->done)
		atomic_store(&r->running, 0);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static int held(const struct pp_worker *w)
{
	return atomic_load(&w->lane) == PP_LANE_SUPERVISOR;
}

/* A new worker: pinged once, ready when it answered. */
static int new_ready(struct process_pool *pool, struct pp_worker *w,
		     int64_t now)
{
	if (!held(w))
		return w->restart_pinged; /* running a client's task */
	if (!w->restart_pinged) {
		if (!w->ping_nonce && pp_health_ping(pool, w, now))
			return 0; /* ring full: next turn */
		w->restart_pinged = 1;
		return 0;
	}
	if (!w->ping_nonce)
		return 1;
	/* With health checks off nothing else judges the silence. */
	if (pool->cfg.health_check_interval_ms < 0 &&
	    now - w->ping_sent_ns >
		(int64_t)pool->cfg.health_check_timeout_ms * 1000000) {
		pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name,
		       "health_check_failed", "worker=%d pid=%d restart=1",
		       w->index, (int)w->pid);
		w->health_failed = 1;
		pp_worker_kill(w);
	}
	return 0;
}

static int retire(struct process_pool *pool, struct pp_worker *w, int64_t now)
{
	struct pp_frame f;
	int grace = pool->cfg.restart_grace_ms;

	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_SHUTDOWN;
	if (pp_channel_send(&w->ch, &f))
		return -1;
	w->state = PP_WORKER_RETIRING;
	w->respawn_at_ns = 0;
	w->retire_by_ns = grace < 0 ? 0 : now + (int64_t)grace * 1000000;
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "worker_retire",
	       "worker=%d pid=%d reason=restart in_flight=%u", w->index,
	       (int)w->pid, w->in_flight);
	return 0;
}

void pp_restart_step(struct process_pool *pool, int64_t now)
{
	struct pp_restart *r = &pool->restart;
	struct pp_worker *oldest = NULL, *free_slot = NULL;
	int old_live = 0, old_going = 0, fresh_live = 0, fresh_ready = 0;
	int fresh_spares = 0;
	int floor, batch, ready, i;

	if (atomic_load(&pool->state) != PP_POOL_RUNNING) {
		/* Stopping (a signal's stop may wait for its pool_stop):
		 * waiters learn of it now. */
		if (!r->stop_seen)
			pp_restart_closed(pool);
		r->stop_seen = 1;
		r->active = 0;
		return;
	}
	take_request(pool);
	if (!r->active)
		return;
	for (i = 0; i < pool->n_slots; i++) {
		struct pp_worker *w = &pool->workers[i];
		int old = w->state != PP_WORKER_EMPTY &&
			  w->spawned_ns < r->started_ns;

		/* An old spare goes at once (it holds nothing); a new one
		 * that answered counts as ready: it replaces a retired
		 * worker the moment it goes. */
		if (w->spare) {
			if (old && w->state == PP_WORKER_LIVE && held(w))
				pp_supervisor_discard(pool, w, "restart");
			else if (!old && w->state == PP_WORKER_LIVE)
				fresh_spares += new_ready(pool, w, now);
			continue;
		}
		if (w->state == PP_WORKER_EMPTY) {
			if (!w->respawn_at_ns && !free_slot)
				free_slot = w;
		} else if (old && w->state != PP_WORKER_LIVE) {
			/* Past retire_by_ns the supervisor kills it, as any
			 * retired worker. */
			old_going++;
		} else if (old) {
			old_live++;
			/* The one with the least left to finish goes first. */
			if (held(w) &&
			    (!oldest || w->in_flight < oldest->in_flight))
				oldest = w;
		} else if (w->state == PP_WORKER_LIVE) {
			fresh_live++;
			fresh_ready += new_ready(pool, w, now);
		}
	}
	ready = old_live + fresh_ready;
	if (ready < atomic_load(&r->min_ready))
		atomic_store(&r->min_ready, ready);
	ready += fresh_spares;
	if (!old_live && !old_going) {
		finish_restart(pool, now);
		return;
	}
	floor = r->base < pool->target_workers ? r->base : pool->target_workers;
	batch = floor / 4 > 1 ? floor / 4 : 1;
	floor -= r->drop;
	/* Start a new worker where a slot is free, a batch at a time,
	 * unless crashes hold respawns back. */
	if (free_slot && old_live && fresh_live - fresh_ready < batch &&
	    atomic_load(&pool->backoff_until_ns) <= now &&
	    old_live + fresh_live < floor + r->drop + batch &&
	    pp_supervisor_spawn(pool, free_slot) == 0)
		new_ready(pool, free_slot, now);
	/* Retire old ones while enough stay ready, a batch at a time. */
	if (oldest && ready - 1 >= floor && old_going < batch)
		retire(pool, oldest, now);
}

int64_t pp_restart_due(const struct process_pool *pool, int64_t now)
{
	return pool->restart.active ? now + STEP_NS : 0;
}

void pp_restart_stats(struct process_pool *pool, pool_stats_t *s)
{
	s->pool_restarts = atomic_load(&pool->restart.completed);
	s->restarting = atomic_load(&pool->restart.running);
	s->restart_min_ready = atomic_load(&pool->restart.min_ready);
}
