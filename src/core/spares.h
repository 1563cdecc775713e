/*
 * Spare workers (spares.c): fresh processes started ahead of need, so
 * that a worker that goes (its one task done in POOL_ISOLATE_TASK, an
 * isolation key's eviction, a crash, a recycling) is replaced at once
 * instead of after a fork, a channel and a confinement.
 *
 * A spare lives in a slot of its own (the slots beyond max_workers are
 * theirs at first; roles move with promotions), is sent no task, is lent
 * to no direct-lane client and is never an isolation domain's: nothing
 * has reached it when it is promoted. Everything here runs on the
 * supervisor thread.
 */
#ifndef PP_CORE_SPARES_H
#define PP_CORE_SPARES_H

#include <stdint.h>

struct process_pool;
struct pp_worker;

/* pp_spares_spawn - start a spare in the empty slot w; 0 or -errno. */
int pp_spares_spawn(struct process_pool *pool, struct pp_worker *w);

/*
 * pp_spares_promote - the best live spare (started, the oldest first)
 * becomes an active worker; returns it, or NULL when there is none.
 */
struct pp_worker *pp_spares_promote(struct process_pool *pool);

/* pp_spares_gone - w's process is reaped: a spare no longer. */
void pp_spares_gone(struct process_pool *pool, struct pp_worker *w);

/* pp_spares_publish - the worker counts other threads read. */
void pp_spares_publish(struct process_pool *pool);

/* pp_spares_ready - live spares that could be promoted now. */
int pp_spares_ready(const struct process_pool *pool);

#endif /* PP_CORE_SPARES_H */
