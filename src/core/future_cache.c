/* The process-wide cache of freed futures; see future_cache.h. */
#include "src/core/future_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/future.h"

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

/*
 * A stack, not a queue: the future freed last is the one still in this
 * CPU's cache. One lock around a few loads and stores; the submitting
 * thread is nearly its only user (the supervisor frees a future only
 * when the application has already destroyed it).
 */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct task_future **stack; /* PP_FUTURE_CACHE_MAX entries, made
				    * once and kept for the process */
static size_t depth;
static _Atomic int holders;

int pp_future_cache_hold(void)
{
	int err = 0;

	pthread_mutex_lock(&cache_mu);
	if (CACHE_ENABLED && !stack) {
		stack = malloc(PP_FUTURE_CACHE_MAX * sizeof(*stack));
		if (!stack)
			err = -ENOMEM;
	}
	if (!err)
		atomic_fetch_add(&holders, 1);
	pthread_mutex_unlock(&cache_mu);
	return err;
}

/* Frees what is cached beyond keep; cache_mu held. */
static void trim_locked(size_t keep)
{
	while (depth > keep)
		free(stack[--depth]);
}

void pp_future_cache_release(void)
{
	pthread_mutex_lock(&cache_mu);
	if (atomic_fetch_sub(&holders, 1) == 1)
		trim_locked(0);
	pthread_mutex_unlock(&cache_mu);
}

struct task_future *pp_future_cache_get(void)
{
	struct task_future *f = NULL;

	if (!CACHE_ENABLED)
		return NULL;
	pthread_mutex_lock(&cache_mu);
	if (depth)
		f = stack[--depth];
	pthread_mutex_unlock(&cache_mu);
	if (f)
		memset(f, 0, sizeof(*f));
	return f;
}

int pp_future_cache_put(struct task_future *f)
{
	int kept = 0;

	if (!CACHE_ENABLED || atomic_load(&holders) <= 0)
		return 0;
	pthread_mutex_lock(&cache_mu);
	/* Checked again under the lock: after the last release nothing
	 * stays cached. */
	if (stack && atomic_load(&holders) > 0 && depth < PP_FUTURE_CACHE_MAX) {
		stack[depth++] = f;
		kept = 1;
	}
	pthread_mutex_unlock(&cache_mu);
	return kept;
}

void pp_future_cache_trim(size_t keep)
{
	pthread_mutex_lock(&cache_mu);
	trim_locked(keep);
	pthread_mutex_unlock(&cache_mu);
}
