/* Bounded MPMC queue with per-cell sequence numbers; see mpmc_queue.h. */
#include "src/ipc/mpmc_queue.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define CACHE_LINE 64

struct cell {
	_Atomic size_t seq;
	void *item;
};

struct pp_mpmc {
	alignas(CACHE_LINE) _Atomic size_t enqueue_pos;
	alignas(CACHE_LINE) _Atomic size_t dequeue_pos;
	alignas(CACHE_LINE) size_t mask;
	struct cell *cells;
};

struct pp_mpmc *pp_mpmc_create(size_t capacity)
{
	struct pp_mpmc *q;
	size_t i;

	if (capacity < 2 || capacity > PP_MPMC_MAX_CAPACITY ||
	    (capacity & (capacity - 1))) {
		errno = EINVAL;
		return NULL;
	}
	q = aligned_alloc(CACHE_LINE, sizeof(*q));
	if (!q) {
		errno = ENOMEM;
		return NULL;
	}
	q->cells = calloc(capacity, sizeof(*q->cells));
	if (!q->cells) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < capacity; i++)
		atomic_init(&q->cells[i].seq, i);
	q->mask = capacity - 1;
	atomic_init(&q->enqueue_pos, 0);
	atomic_init(&q->dequeue_pos, 0);
	return q;
}

void pp_mpmc_destroy(struct pp_mpmc *q)
{
	if (!q)
		return;
	free(q->cells);
	free(q);
}

int pp_mpmc_push(struct pp_mpmc *q, void *item)
{
	struct cell *c;
	size_t pos, seq;
	intptr_t diff;

	if (!q)
		return -EINVAL;
	pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
	for (;;) {
		c = &q->cells[pos & q->mask];
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		diff = (intptr_t)seq - (intptr_t)pos;
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(
				&q->enqueue_pos, &pos, pos + 1,
				memory_order_relaxed, memory_order_relaxed))
				break;
		} else if (diff < 0) {
			return -EAGAIN;
		} else {
			pos = atomic_load_explicit(&q->enqueue_pos,
						   memory_order_relaxed);
		}
	}
	c->item = item;
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	return 0;
}

int pp_mpmc_pop(struct pp_mpmc *q, void **item)
{
	struct cell *c;
	size_t pos, seq;
	intptr_t diff;

	if (!q || !item)
		return -EINVAL;
	pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
	for (;;) {
		c = &q->cells[pos & q->mask];
		seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		diff = (intptr_t)seq - (intptr_t)(pos + 1);
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(
				&q->dequeue_pos, &pos, pos + 1,
				memory_order_relaxed, memory_order_relaxed))
				break;
		} else if (diff < 0) {
			return -EAGAIN;
		} else {
			pos = atomic_load_explicit(&q->dequeue_pos,
						   memory_order_relaxed);
		}
	}
	*item = c->item;
	atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
	return 0;
}

size_t pp_mpmc_size_approx(const struct pp_mpmc *q)
{
	size_t head, tail;

	if (!q)
		return 0;
	tail = atomic_load_explicit(&((struct pp_mpmc *)q)->dequeue_pos,
				    memory_order_acquire);
	head = atomic_load_explicit(&((struct pp_mpmc *)q)->enqueue_pos,
				    memory_order_acquire);
	return head > tail ? head - tail : 0;
}

size_t pp_mpmc_capacity(const struct pp_mpmc *q)
{
	return q ? q->mask + 1 : 0;
}
