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
 * CPU's cache. In front of it, each thread keeps a magazine of up to
 * MAG_SIZE futures of its own, so the lock is taken once per MAG_SIZE / 2
 * futures rather than twice per task; a magazine goes back to the stack
 * when its thread exits.
 */
#define MAG_SIZE 64

struct magazine {
	struct task_future *f[MAG_SIZE];
	unsigned n;
	int registered; /* the exit hook knows this thread */
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct task_future **stack; /* PP_FUTURE_CACHE_MAX entries, made
				    * once and kept for the process */
static size_t depth;
static _Atomic int holders;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t mag_key;
static _Atomic int key_made;
static _Thread_local struct magazine mag;

/* Moves up to n futures from m to the stack (freed when it is full or no
 * pool is left); cache_mu held. */
static void spill_locked(struct magazine *m, unsigned n)
{
	while (n-- && m->n) {
		struct task_future *f = m->f[--m->n];

		if (stack && atomic_load(&holders) > 0 &&
		    depth < PP_FUTURE_CACHE_MAX)
			stack[depth++] = f;
		else
			free(f);
	}
}

static void on_thread_exit(void *arg)
{
	struct magazine *m = arg;

	pthread_mutex_lock(&cache_mu);
	spill_locked(m, MAG_SIZE);
	pthread_mutex_unlock(&cache_mu);
	/* A put from a later destructor registers again, and the hook
	 * runs once more for it. */
	m->registered = 0;
}

static void make_key(void)
{
	if (pthread_key_create(&mag_key, on_thread_exit) == 0)
		atomic_store(&key_made, 1);
}

/* A library that is unloaded must not leave its exit hook behind. */
__attribute__((destructor)) static void drop_key(void)
{
	if (atomic_exchange(&key_made, 0))
		pthread_key_delete(mag_key);
}

int pp_future_cache_hold(void)
{
	int err = 0;

	if (CACHE_ENABLED)
		pthread_once(&key_once, make_key);
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
	if (atomic_fetch_sub(&holders, 1) == 1) {
		spill_locked(&mag, MAG_SIZE); /* frees: no pool is left */
		trim_locked(0);
	}
	pthread_mutex_unlock(&cache_mu);
}

struct task_future *pp_future_cache_get(void)
{
	struct task_future *f;

	if (!CACHE_ENABLED)
		return NULL;
	if (!mag.n) {
		pthread_mutex_lock(&cache_mu);
		while (depth && mag.n < MAG_SIZE / 2)
			mag.f[mag.n++] = stack[--depth];
		pthread_mutex_unlock(&cache_mu);
		if (!mag.n)
			return NULL;
	}
	f = mag.f[--mag.n];
	memset(f, 0, sizeof(*f));
	return f;
}

int pp_future_cache_put(struct task_future *f)
{
	if (!CACHE_ENABLED || atomic_load(&holders) <= 0 ||
	    !atomic_load(&key_made))
		return 0;
	if (!mag.registered) {
		if (pthread_setspecific(mag_key, &mag))
			return 0;
		mag.registered = 1;
	}
	if (mag.n == MAG_SIZE) {
		pthread_mutex_lock(&cache_mu);
		spill_locked(&mag, MAG_SIZE / 2);
		pthread_mutex_unlock(&cache_mu);
	}
	mag.f[mag.n++] = f;
	return 1;
}

void pp_future_cache_trim(size_t keep)
{
	pthread_mutex_lock(&cache_mu);
	trim_locked(keep);
	pthread_mutex_unlock(&cache_mu);
}
