/*
 * A process-wide cache of freed futures. A batch of thousands of tasks
 * allocates and frees thousands of futures at once; through malloc alone
 * the heap top is trimmed and faulted in again every round, which costs
 * more than the tasks themselves. Futures outlive their pool, so the cache
 * belongs to the process, not to a pool: it is filled only while some pool
 * exists, emptied when the last one is destroyed, and trimmed when the
 * pools have been idle a while. It is a stack (last freed, first reused),
 * so a reused future is usually still in the CPU's cache, with a small
 * per-thread magazine in front so that most gets and puts take no lock.
 * A thread's magazine (at most 64 futures) goes back when the thread
 * exits; the last pool's release empties the stack and its own thread's
 * magazine.
 *
 * Built with AddressSanitizer the cache is off, so that a use after
 * pool_future_destroy is still caught.
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef PP_CORE_FUTURE_CACHE_H
#define PP_CORE_FUTURE_CACHE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct task_future;

/* Futures the cache holds at most, and what trimming leaves. */
#define PP_FUTURE_CACHE_MAX  16384
#define PP_FUTURE_CACHE_KEEP 256

/* pp_future_cache_hold - a pool now exists (pool_create). 0 or -ENOMEM. */
int pp_future_cache_hold(void);

/* pp_future_cache_release - a pool is gone; the last one frees the
 * cached futures. */
void pp_future_cache_release(void);

/* pp_future_cache_get - a zeroed future from the cache, or NULL. */
struct task_future *pp_future_cache_get(void);

/* pp_future_cache_put - keep f (its contents already released) for
 * reuse: 1 if kept, 0 if the caller must free it. */
int pp_future_cache_put(struct task_future *f);

/* pp_future_cache_trim - free cached futures beyond keep. */
void pp_future_cache_trim(size_t keep);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_FUTURE_CACHE_H */
