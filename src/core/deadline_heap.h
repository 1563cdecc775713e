/*
 * Min-heap of futures ordered by deadline, owned by the supervisor. Each
 * future remembers its slot (heap_index) so a task that ends early leaves
 * the heap in O(log n). Capacity is fixed at init, so adding never
 * allocates on the hot path.
 */
#ifndef PP_CORE_DEADLINE_HEAP_H
#define PP_CORE_DEADLINE_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "src/core/future.h"

struct pp_deadline_heap {
	struct task_future **items;
	size_t len;
	size_t cap;
};

/* pp_deadline_init - room for cap futures. Returns 0 or -ENOMEM. */
int pp_deadline_init(struct pp_deadline_heap *h, size_t cap);
void pp_deadline_free(struct pp_deadline_heap *h);

/* pp_deadline_add - insert t (t->deadline_ns set). -ENOSPC when full. */
int pp_deadline_add(struct pp_deadline_heap *h, struct task_future *t);

/* pp_deadline_remove - take t out if it is in the heap. */
void pp_deadline_remove(struct pp_deadline_heap *h, struct task_future *t);

/* pp_deadline_peek - the earliest, or NULL. */
struct task_future *pp_deadline_peek(const struct pp_deadline_heap *h);

/* pp_deadline_expired - pop and return the earliest if due by now. */
struct task_future *pp_deadline_expired(struct pp_deadline_heap *h,
					int64_t now);

#endif /* PP_CORE_DEADLINE_HEAP_H */
