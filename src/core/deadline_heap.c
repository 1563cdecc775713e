/* Deadline min-heap; see deadline_heap.h. */
#include "src/core/deadline_heap.h"

#include <errno.h>
#include <stdlib.h>

int pp_deadline_init(struct pp_deadline_heap *h, size_t cap)
{
	h->items = calloc(cap ? cap : 1, sizeof(*h->items));
	h->len = 0;
	h->cap = cap ? cap : 1;
	return h->items ? 0 : -ENOMEM;
}

void pp_deadline_free(struct pp_deadline_heap *h)
{
	free(h->items);
	h->items = NULL;
	h->len = h->cap = 0;
}

static void put(struct pp_deadline_heap *h, size_t i, struct task_future *t)
{
	h->items[i] = t;
	t->heap_index = (int)i;
}

static void sift_up(struct pp_deadline_heap *h, size_t i)
{
	struct task_future *t = h->items[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->items[parent]->deadline_ns <= t->deadline_ns)
			break;
		put(h, i, h->items[parent]);
		i = parent;
	}
	put(h, i, t);
}

static void sift_down(struct pp_deadline_heap *h, size_t i)
{
	struct task_future *t = h->items[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->len)
			break;
		if (c + 1 < h->len &&
		    h->items[c + 1]->deadline_ns < h->items[c]->deadline_ns)
			c++;
		if (t->deadline_ns <= h->items[c]->deadline_ns)
			break;
		put(h, i, h->items[c]);
		i = c;
	}
	put(h, i, t);
}

int pp_deadline_add(struct pp_deadline_heap *h, struct task_future *t)
{
	if (t->heap_index >= 0)
		return 0;
	if (h->len == h->cap)
		return -ENOSPC;
	h->items[h->len] = t;
	sift_up(h, h->len++);
	return 0;
}

void pp_deadline_remove(struct pp_deadline_heap *h, struct task_future *t)
{
	size_t i;

	if (t->heap_index < 0 || (size_t)t->heap_index >= h->len ||
	    h->items[t->heap_index] != t)
		return;
	i = (size_t)t->heap_index;
	t->heap_index = -1;
	if (i == --h->len)
		return;
	put(h, i, h->items[h->len]);
	/* The moved item may belong above or below its new place. */
	if (i > 0 &&
	    h->items[i]->deadline_ns < h->items[(i - 1) / 2]->deadline_ns)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct task_future *pp_deadline_peek(const struct pp_deadline_heap *h)
{
	return h->len ? h->items[0] : NULL;
}

struct task_future *pp_deadline_expired(struct pp_deadline_heap *h, int64_t now)
{
	struct task_future *t = pp_deadline_peek(h);

	if (!t || t->deadline_ns > now)
		return NULL;
	pp_deadline_remove(h, t);
	return t;
}
