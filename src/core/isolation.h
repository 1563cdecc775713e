/*
 * Isolation domains: which worker processes a task may run in.
 *
 * Every task has a domain: its isolation key (0: the unkeyed domain, its
 * own one) and whether it owns its process (POOL_ISOLATE_TASK, from the
 * pool's config or the task's own desc). The parent keeps, per worker
 * process, its own count of the tasks it sent there and the domain of
 * the first; nothing a worker says enters into it. The rules:
 *   - a process that was sent a task that owns its process is sent
 *     nothing else, and is killed once it holds no task;
 *   - a task that owns its process goes only to one never sent anything;
 *   - otherwise a process is bound to the key of its first task and is
 *     never sent a task of another key.
 * Retries and deferrals go back through the same check, so a re-run never
 * lands on a process the rules exclude.
 */
#ifndef PP_CORE_ISOLATION_H
#define PP_CORE_ISOLATION_H

#include <stdint.h>

/* A task's domain, fixed at submit. */
struct pp_iso_domain {
	uint64_t key; /* 0: unkeyed (a domain of its own) */
	int once;     /* owns its process: POOL_ISOLATE_TASK */
};

/* What the parent has sent one worker process (by whoever holds it). */
struct pp_iso_worker {
	uint64_t sent; /* tasks sent to this process, ever */
	uint64_t key;  /* the key of the first, once sent > 0 */
	int once;      /* one of them owned the process */
	int discarded; /* killed by the pool for it, not a crash */
};

/* pp_iso_reset - a new process in the slot: nothing sent yet. */
static inline void pp_iso_reset(struct pp_iso_worker *w)
{
	w->sent = 0;
	w->key = 0;
	w->once = 0;
	w->discarded = 0;
}

/* pp_iso_may_send - whether a task of domain d may go to process w. */
static inline int pp_iso_may_send(const struct pp_iso_worker *w,
				  const struct pp_iso_domain *d)
{
	if (w->sent == 0)
		return 1;
	if (d->once || w->once)
		return 0;
	return w->key == d->key;
}

/* pp_iso_note_sent - a task of domain d was just sent to w. */
static inline void pp_iso_note_sent(struct pp_iso_worker *w,
				    const struct pp_iso_domain *d)
{
	if (w->sent++ == 0)
		w->key = d->key;
	w->once |= d->once;
}

/* pp_iso_spent - w may never be sent a task again: discard it once idle. */
static inline int pp_iso_spent(const struct pp_iso_worker *w)
{
	return w->once && w->sent;
}

#endif /* PP_CORE_ISOLATION_H */
