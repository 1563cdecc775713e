/*
 * Waiting on many futures: pool_wait_any, pool_wait_all and wait sets
 * (process_pool.h).
 *
 * Each waits through hooks (future.h): a small node attached to a future
 * that the publishing thread notifies, under the future's hook lock, once
 * the outcome is set. A notify only wakes: a futex for pool_wait_any, a
 * condition variable and an eventfd for a set. Lock order: a future's
 * hook lock, then a set's mutex; nothing here takes a hook lock while
 * holding a set's mutex. A hook is detached (pp_future_unhook) before its
 * memory goes, which also waits out a notify in progress.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "process_pool.h"
#include "src/core/clock.h"
#include "src/core/future.h"

/* ---- pool_wait_any / pool_wait_all ---------------------------------- */

struct any_waiter {
	_Atomic uint32_t word; /* 1: some future ended since the last scan */
};

struct any_hook {
	struct pp_future_hook h; /* first: notify gets this address */
	struct any_waiter *w;
};

static void any_notify(struct pp_future_hook *h, struct task_future *f)
{
	struct any_waiter *w = ((struct any_hook *)h)->w;

	(void)f;
	atomic_store(&w->word, 1);
	syscall(SYS_futex, (uint32_t *)&w->word, FUTEX_WAKE_PRIVATE, 1, NULL,
		NULL, 0);
}

static int first_done(task_future_t *const *futures, size_t n, size_t *index)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pp_future_is_done(futures[i])) {
			*index = i;
			return 1;
		}
	return 0;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1
			      : pp_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Sleeps on w until woken or the deadline; 0, or POOL_ETIMEDOUT. */
static int sleep_any(struct any_waiter *w, int64_t deadline)
{
	struct timespec ts;
	int64_t left;

	if (deadline >= 0) {
		left = deadline - pp_now_ns();
		if (left <= 0)
			return POOL_ETIMEDOUT;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
	}
	syscall(SYS_futex, (uint32_t *)&w->word, FUTEX_WAIT_PRIVATE, 0,
		deadline >= 0 ? &ts : NULL, NULL, 0);
	return 0;
}

int pool_wait_any(task_future_t *const *futures, size_t n, int timeout_ms,
		  size_t *index)
{
	struct any_hook local[16], *hooks = local;
	struct any_waiter w;
	size_t i, hooked = 0;
	int64_t deadline;
	int err = 0;

	if (!futures || !index || n == 0)
		return POOL_EINVAL;
	for (i = 0; i < n; i++)
		if (!futures[i])
			return POOL_EINVAL;
	if (first_done(futures, n, index))
		return 0;
	if (timeout_ms == 0)
		return POOL_ETIMEDOUT;
	if (pp_in_callback())
		return POOL_ESTATE;
	if (n > sizeof(local) / sizeof(*local)) {
		hooks = calloc(n, sizeof(*hooks));
		if (!hooks)
			return POOL_ENOMEM;
	}
	deadline = deadline_of(timeout_ms);
	atomic_init(&w.word, 0);
	for (; hooked < n; hooked++) {
		hooks[hooked].h.notify = any_notify;
		hooks[hooked].w = &w;
		if (pp_future_hook(futures[hooked], &hooks[hooked].h))
			break; /* ended already: not attached */
	}
	/* The word is cleared before each scan, so a notify after the
	 * scan makes the sleep return at once. */
	for (;;) {
		atomic_store(&w.word, 0);
		if (first_done(futures, n, index))
			break;
		err = sleep_any(&w, deadline);
		if (err && !first_done(futures, n, index))
			break;
		err = 0;
	}
	for (i = 0; i < hooked && i < n; i++)
		pp_future_unhook(futures[i], &hooks[i].h);
	if (hooks != local)
		free(hooks);
	return err;
}

int pool_wait_all(task_future_t *const *futures, size_t n, int timeout_ms)
{
	int64_t deadline;
	size_t i;
	int err;

	if (!futures || n == 0)
		return POOL_EINVAL;
	for (i = 0; i < n; i++)
		if (!futures[i])
			return POOL_EINVAL;
	deadline = deadline_of(timeout_ms);
	for (i = 0; i < n; i++) {
		int ms = -1;

		if (deadline >= 0) {
			int64_t left = deadline - pp_now_ns();

			ms = left <= 0 ? 0
			     : left / 1000000 >= INT_MAX
				 ? INT_MAX
				 : (int)((left + 999999) / 1000000);
		}
		err = pp_future_wait_done(futures[i], ms);
		if (err)
			return err;
	}
	return 0;
}

/* ---- wait sets ---------------------------------------------------- */

struct ws_node {
	struct pp_future_hook h; /* first: notify gets this address */
	struct pool_wait_set *set;
	struct task_future *f;
	int ready;		     /* under the set's mutex */
	struct ws_node *ready_next;  /* FIFO of ended futures */
	struct ws_node *prev, *next; /* every node in the set; never
				      * touched by notify */
};

struct pool_wait_set {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	struct ws_node *ready_head, *ready_tail;
	struct ws_node *all;
	size_t count;
	int efd;
	int readable; /* efd holds a count */
};

/* Under s->mu. */
static void push_ready(struct pool_wait_set *s, struct ws_node *n)
{
	uint64_t one = 1;

	n->ready = 1;
	n->ready_next = NULL;
	if (s->ready_tail)
		s->ready_tail->ready_next = n;
	else
		s->ready_head = n;
	s->ready_tail = n;
	if (!s->readable && write(s->efd, &one, sizeof(one)) == sizeof(one))
		s->readable = 1;
	pthread_cond_signal(&s->cv);
}

static void ws_notify(struct pp_future_hook *h, struct task_future *f)
{
	struct ws_node *n = (struct ws_node *)h;

	(void)f;
	pthread_mutex_lock(&n->set->mu);
	push_ready(n->set, n);
	pthread_mutex_unlock(&n->set->mu);
}

pool_wait_set_t *pool_wait_set_create(void)
{
	struct pool_wait_set *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		free(s);
		return NULL; /* errno from eventfd */
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	return s;
}

int pool_wait_set_add(pool_wait_set_t *s, task_future_t *f)
{
	struct ws_node *n;

	if (!s || !f)
		return POOL_EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return POOL_ENOMEM;
	n->h.notify = ws_notify;
	n->set = s;
	n->f = f;
	atomic_fetch_add(&f->refs, 1); /* until next() returns it */
	pthread_mutex_lock(&s->mu);
	n->next = s->all;
	if (s->all)
		s->all->prev = n;
	s->all = n;
	s->count++;
	pthread_mutex_unlock(&s->mu);
	/* Not under the mutex: a hook lock comes first (see the top). */
	if (pp_future_hook(f, &n->h)) {
		pthread_mutex_lock(&s->mu);
		push_ready(s, n);
		pthread_mutex_unlock(&s->mu);
	}
	return 0;
}

/* Under s->mu: takes the oldest ended future off the set. */
static struct ws_node *pop_ready(struct pool_wait_set *s)
{
	struct ws_node *n = s->ready_head;
	uint64_t junk;

	s->ready_head = n->ready_next;
	if (!s->ready_head)
		s->ready_tail = NULL;
	if (n->prev)
		n->prev->next = n->next;
	else
		s->all = n->next;
	if (n->next)
		n->next->prev = n->prev;
	/* The last one: other takers asleep must wake to find none left. */
	if (--s->count == 0)
		pthread_cond_broadcast(&s->cv);
	if (!s->ready_head && s->readable) {
		if (read(s->efd, &junk, sizeof(junk)) < 0)
			junk = 0;
		s->readable = 0;
	}
	return n;
}

int pool_wait_set_next(pool_wait_set_t *s, int timeout_ms, task_future_t **out)
{
	struct ws_node *n = NULL;
	struct timespec ts;
	int64_t deadline;
	int err = 0;

	if (!s || !out)
		return POOL_EINVAL;
	deadline = deadline_of(timeout_ms);
	if (deadline >= 0) {
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->ready_head) {
		if (s->count == 0) {
			err = POOL_ESTATE; /* nothing left to wait for */
			break;
		}
		if (timeout_ms == 0) {
			err = POOL_ETIMEDOUT;
			break;
		}
		if (pp_in_callback()) {
			err = POOL_ESTATE;
			break;
		}
		if (deadline < 0)
			pthread_cond_wait(&s->cv, &s->mu);
		else if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) ==
			     ETIMEDOUT &&
			 !s->ready_head) {
			err = POOL_ETIMEDOUT;
			break;
		}
	}
	if (!err)
		n = pop_ready(s);
	pthread_mutex_unlock(&s->mu);
	if (!n)
		return err;
	*out = n->f;
	/* Notified, so detached already: the node is this thread's. */
	pp_future_put(n->f); /* the caller's handle keeps it */
	free(n);
	return 0;
}

int pool_wait_set_fd(pool_wait_set_t *s)
{
	return s ? s->efd : POOL_EINVAL;
}

size_t pool_wait_set_count(pool_wait_set_t *s)
{
	size_t n;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	n = s->count;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void pool_wait_set_destroy(pool_wait_set_t *s)
{
	struct ws_node *n, *next;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	n = s->all;
	s->all = NULL;
	pthread_mutex_unlock(&s->mu);
	/* Detach each (waiting out a notify in progress), then free. */
	for (; n; n = next) {
		next = n->next;
		pp_future_unhook(n->f, &n->h);
		pp_future_put(n->f);
		free(n);
	}
	close(s->efd);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
