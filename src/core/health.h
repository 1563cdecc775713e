/*
 * Health: idle workers are pinged and a worker that does not answer is
 * replaced (health.c); pool_health reports the pool as a whole.
 */
#ifndef PP_CORE_HEALTH_H
#define PP_CORE_HEALTH_H

#include <stdint.h>

#define PP_HEALTH_INTERVAL_MS 10000
#define PP_HEALTH_TIMEOUT_MS  2000
#define PP_HEALTH_MAX_MS      (24 * 3600 * 1000)

struct process_pool;
struct pp_worker;

/*
 * pp_health_check - supervisor, for a live worker it holds: sends a PING
 * when the worker holds no task and has been quiet for the interval.
 * Returns 1 when a PING it owes is overdue (the caller kills the worker
 * and marks it health_failed), else 0.
 */
int pp_health_check(struct process_pool *pool, struct pp_worker *w,
		    int64_t now);

/*
 * pp_health_ping - supervisor: send w a PING now and owe its PONG (also
 * a new worker's readiness check, restart.c). Returns 0, or -1 when the
 * ring took nothing.
 */
int pp_health_ping(struct process_pool *pool, struct pp_worker *w,
		   int64_t now);

/* pp_health_due - when w next needs looking at (0: never). */
int64_t pp_health_due(const struct process_pool *pool,
		      const struct pp_worker *w);

#endif /* PP_CORE_HEALTH_H */
