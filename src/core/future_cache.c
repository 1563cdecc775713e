/* The process-wide cache of freed futures; see future_cache.h. */
#include "src/core/future_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/future.h"
#include "src/ipc/mpmc_queue.h"

#if defined(__SANITIZE_ADDRESS__)
#define CACHE_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_ENABLED 0
#endif
#endif
#ifndef CACHE_ENABLED
#define CACHE_ENABLED 1
#endif

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
/* Made on first use and kept for the life of the process: a put racing
 * with the last release must never see it freed. */
static struct pp_mpmc *_Atomic cache;
static _Atomic int holders;

int pp_future_cache_hold(void)
{
	int err = 0;

	pthread_mutex_lock(&cache_mu);
	if (CACHE_ENABLED && !atomic_load(&cache)) {
		struct pp_mpmc *q = pp_mpmc_create(PP_FUTURE_CACHE_MAX);

		if (q)
			atomic_store(&cache, q);
		else
			err = -ENOMEM;
	}
	if (!err)
		atomic_fetch_add(&holders, 1);
	pthread_mutex_unlock(&cache_mu);
	return err;
}

void pp_future_cache_release(void)
{
	pthread_mutex_lock(&cache_mu);
	if (atomic_fetch_sub(&holders, 1) == 1)
		pp_future_cache_trim(0);
	pthread_mutex_unlock(&cache_mu);
}

struct task_future *pp_future_cache_get(void)
{
	struct pp_mpmc *q = atomic_load_explicit(&cache, memory_order_acquire);
	void *f;

	if (!q || pp_mpmc_pop(q, &f))
		return NULL;
	memset(f, 0, sizeof(struct task_future));
	return f;
}

int pp_future_cache_put(struct task_future *f)
{
	struct pp_mpmc *q = atomic_load_explicit(&cache, memory_order_acquire);

	/* A put that races with the last release may leave one future
	 * here; it stays reachable and goes with the next trim. */
	if (!q || atomic_load(&holders) <= 0)
		return 0;
	return pp_mpmc_push(q, f) == 0;
}

void pp_future_cache_trim(size_t keep)
{
	struct pp_mpmc *q = atomic_load(&cache);
	void *f;

	while (q && pp_mpmc_size_approx(q) > keep && pp_mpmc_pop(q, &f) == 0)
		free(f);
}
