/*
 * Recycling a worker by its resident memory or its age (recycle.c),
 * beside max_tasks_per_worker's count.
 */
#ifndef PP_CORE_RECYCLE_H
#define PP_CORE_RECYCLE_H

#include <stdint.h>

struct process_pool;
struct pp_worker;

/* How often the supervisor reads the workers' RSS, at most. */
#define PP_RECYCLE_CHECK_NS (100LL * 1000000)

/* pp_recycle_spawned - at spawn: w's age limit, jittered up to 25 %. */
void pp_recycle_spawned(const struct process_pool *pool, struct pp_worker *w,
			int64_t now);

/*
 * pp_recycle_check - supervisor, on its housekeeping turn: marks the
 * workers past their age, or (at most every PP_RECYCLE_CHECK_NS) past
 * recycle_rss_bytes, to be retired once idle (w->recycle_now, the
 * reason), never before min_worker_age_ms.
 */
void pp_recycle_check(struct process_pool *pool, int64_t now);

/* pp_recycle_due - when the supervisor should look again (0: never). */
int64_t pp_recycle_due(const struct process_pool *pool, int64_t now);

#endif /* PP_CORE_RECYCLE_H */
