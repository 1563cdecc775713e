/*
 * Rolling restarts (restart.c): every worker replaced a few at a time,
 * the new one ready before an old one goes, optionally with a new
 * configuration for what can change live.
 */
#ifndef PP_CORE_RESTART_H
#define PP_CORE_RESTART_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "process_pool.h"
#include "sandbox/seccomp_policy.h"

#define PP_RESTART_GRACE_MS 30000

struct process_pool;
struct pp_worker;

struct pp_restart {
	pthread_mutex_t mu; /* the request and the waiters' figures */
	pthread_cond_t cv;
	uint64_t requested; /* calls so far (mu) */
	uint64_t done;	    /* the last call whose restart finished (mu) */
	int closed;	    /* the pool stopped: waiters give up (mu) */
	int have_config;    /* next holds a config to apply (mu) */
	pool_config_t next;
	char *next_allow; /* owned copy of next.seccomp_allow */
	struct pp_seccomp_program next_seccomp;
	/* Supervisor. */
	int active;
	uint64_t active_seq;
	int64_t started_ns; /* workers spawned before are replaced */
	int base;	    /* workers alive when it began */
	int drop;	    /* how many fewer may serve meanwhile */
	int stop_seen;	    /* stopping: the waiters were told */
	/* Read by anyone. */
	_Atomic uint64_t completed;
	_Atomic int running;
	_Atomic int min_ready;
	_Atomic int min_workers; /* cfg.min_workers, which a restart may
				  * change, for pool_health */
};

/* pp_restart_init / pp_restart_free - pool_create and free_pool. */
int pp_restart_init(struct process_pool *pool);
void pp_restart_free(struct process_pool *pool);

/*
 * pp_restart_request - ask for a restart without a new config (SIGHUP);
 * returns the call's number. Any thread, the supervisor included.
 */
uint64_t pp_restart_request(struct process_pool *pool);

/* pp_restart_spawned - at each spawn: w is new, not yet known ready. */
void pp_restart_spawned(struct pp_worker *w);

/*
 * pp_restart_step - supervisor, each turn after housekeeping: take a
 * request (applying its config), ping new workers, retire old ones as
 * new ones become ready, and finish.
 */
void pp_restart_step(struct process_pool *pool, int64_t now);

/* pp_restart_due - when the step wants another turn (0: no need). */
int64_t pp_restart_due(const struct process_pool *pool, int64_t now);

/* pp_restart_closed - pool_stop, once the supervisor is gone: waiters
 * return POOL_ESTATE. */
void pp_restart_closed(struct process_pool *pool);

/* pp_restart_stats - fill pool_stats_t's restart figures. */
void pp_restart_stats(struct process_pool *pool, pool_stats_t *s);

#endif /* PP_CORE_RESTART_H */
