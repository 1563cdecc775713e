/*
 * pool_map: one function over many inputs, as bulk chunks (bulk.h). The
 * calling thread cuts the inputs into chunks and queues them, one queue
 * entry each; the supervisor writes each task's outcome into the
 * caller's results; the map is done when every one is written. No future
 * is made per task.
 */
#include "src/core/map.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "src/core/bulk.h"
#include "src/core/clock.h"
#include "src/core/futex_sleep.h"
#include "src/core/output_map.h"
#include "src/core/pool_internal.h"

/* Tasks per chunk at most when the pool chooses. */
#define AUTO_CHUNK_MAX 1024u
/* Chunks per worker the pool aims for, so a slow one does not hold the
 * map's end alone. */
#define CHUNKS_PER_WORKER 4u

struct pool_map {
	struct pp_map m;
};

void pp_map_get(struct pp_map *m)
{
	atomic_fetch_add(&m->refs, 1);
}

void pp_map_put(struct pp_map *m)
{
	if (atomic_fetch_sub(&m->refs, 1) == 1)
		free(m);
}

void pp_map_settled(struct pp_map *m, size_t k)
{
	if (atomic_fetch_sub(&m->left, k) != k)
		return;
	atomic_store(&m->done, 1);
	if (atomic_load(&m->waiters))
		syscall(SYS_futex, (uint32_t *)&m->done, FUTEX_WAKE_PRIVATE,
			INT_MAX, NULL, NULL, 0);
}

/* Where the inputs come from. */
struct source {
	const unsigned char *array;
	size_t size; /* of each array input */
	pool_map_input_fn fn;
	void *arg;
	/* Callback inputs of the chunk being cut, copied. */
	unsigned char *stage;
	size_t stage_cap, stage_used;
	size_t *stage_off, *stage_len;
};

/* Settles tasks from..to-1 that never reached the queue. */
static void settle_here(struct process_pool *pool, struct pp_map *m,
			size_t from, size_t to, task_status_t status)
{
	size_t i;

	if (from >= to)
		return;
	for (i = from; i < to; i++) {
		m->results[i].output = NULL;
		m->results[i].output_size = 0;
		m->results[i].status = status;
		m->results[i].return_code = 0;
	}
	atomic_fetch_add(&pool->counters[status], to - from);
	pp_map_settled(m, to - from);
}

/* Room for one more chunk in the queue, waiting while the pool runs.
 * 0, or POOL_ESTATE once it does not. */
static int take_room(struct process_pool *pool)
{
	uint32_t seq;
	int err;

	for (;;) {
		err = pp_pool_enter(pool);
		if (err)
			return err;
		if (pp_pool_reserve(pool, 1) == 1)
			return 0; /* left entered: the push follows */
		pp_pool_leave(pool);
		seq = pp_room_announce(&pool->room);
		if (pp_pool_reserve(pool, 1) == 1) {
			pp_room_leave(&pool->room);
			err = pp_pool_enter(pool);
			if (err) {
				atomic_fetch_sub(&pool->queued, 1);
				return err;
			}
			return 0;
		}
		pp_room_sleep(&pool->room, seq, pp_now_ns() + 100000000LL);
		pp_room_leave(&pool->room);
	}
}

/* How many tasks from first go in the next chunk, and their input
 * bytes; callback inputs are copied into the stage. 0 on a callback's
 * stop (*stop set) or when out of memory. */
static uint32_t cut(struct source *src, size_t first, size_t n, uint32_t want,
		    size_t budget, size_t *bytes, int *stop, int *too_big)
{
	uint32_t k = 0;

	*bytes = 0;
	*stop = *too_big = 0;
	if (!src->fn) {
		size_t per = pp_bulk_input_room(src->size) +
			     sizeof(struct pp_bulk_in) +
			     sizeof(struct pp_bulk_out) + 1;
		size_t fit = budget / per;

		k = want;
		if (k > n - first)
			k = (uint32_t)(n - first);
		if (fit < k)
			k = fit ? (uint32_t)fit : 1;
		*bytes = (size_t)k * pp_bulk_input_room(src->size);
		return k;
	}
	src->stage_used = 0;
	while (k < want && first + k < n) {
		const void *data = NULL;
		size_t size = 0, room, cost;

		if (src->fn(first + k, &data, &size, src->arg) ||
		    (size && !data)) {
			*stop = 1;
			break;
		}
		room = pp_bulk_input_room(size);
		cost = room + sizeof(struct pp_bulk_in) +
		       sizeof(struct pp_bulk_out) + 1;
		if (k && *bytes + cost > budget) {
			/* Next chunk: ask again for this one. */
			break;
		}
		if (size > budget) {
			*too_big = 1;
			break;
		}
		if (src->stage_used + room > src->stage_cap) {
			size_t cap = src->stage_cap ? src->stage_cap : 4096;
			unsigned char *p;

			while (cap < src->stage_used + room)
				cap *= 2;
			p = realloc(src->stage, cap);
			if (!p)
				return 0;
			src->stage = p;
			src->stage_cap = cap;
		}
		if (size)
			memcpy(src->stage + src->stage_used, data, size);
		src->stage_off[k] = src->stage_used;
		src->stage_len[k] = size;
		src->stage_used += room;
		*bytes += room;
		k++;
	}
	return k;
}

/* The chunk of k tasks from first, or NULL when out of memory. */
static struct task_future *make_chunk(struct process_pool *pool,
				      struct pp_map *m, struct source *src,
				      size_t first, uint32_t k, size_t bytes,
				      uint64_t ref, const pool_map_options_t *o,
				      int64_t now, int64_t deadline)
{
	struct task_future *c = pp_bulk_new(k, bytes, 0);
	uint32_t i;

	if (!c)
		return NULL;
	for (i = 0; i < k; i++) {
		if (src->fn)
			pp_bulk_add_input(c, i, src->stage + src->stage_off[i],
					  src->stage_len[i]);
		else
			pp_bulk_add_input(
			    c, i,
			    src->array ? src->array + (first + i) * src->size
				       : NULL,
			    src->size);
	}
	c->func_ref = ref;
	c->user_data = o->user_data;
	c->priority = o->priority;
	/* Map tasks are unkeyed; in a POOL_ISOLATE_TASK pool each chunk is
	 * one task (chunk_want), in a process of its own. */
	c->iso.key = 0;
	c->iso.once = pool->cfg.isolation == POOL_ISOLATE_TASK;
	c->pool = pool;
	c->id = atomic_fetch_add(&pool->next_id, 1) + 1;
	c->submit_ns = now;
	c->deadline_ns = deadline;
	c->bulk->map = m;
	c->bulk->base = first;
	pp_map_get(m);
	return c;
}

static uint32_t chunk_want(const struct process_pool *pool, size_t n,
			   const pool_map_options_t *o)
{
	size_t per = (size_t)pool->cfg.max_workers * CHUNKS_PER_WORKER, want;

	if (pool->cfg.isolation == POOL_ISOLATE_TASK)
		return 1; /* a chunk runs in one process */
	if (pool->cfg.max_tasks_per_worker &&
	    (!o->chunk_size ||
	     o->chunk_size > (size_t)pool->cfg.max_tasks_per_worker))
		return (uint32_t)pool->cfg.max_tasks_per_worker < PP_BULK_MAX
			   ? (uint32_t)pool->cfg.max_tasks_per_worker
			   : PP_BULK_MAX;
	if (o->chunk_size)
		return o->chunk_size > PP_BULK_MAX ? PP_BULK_MAX
						   : (uint32_t)o->chunk_size;
	want = (n + per - 1) / (per ? per : 1);
	if (want > AUTO_CHUNK_MAX)
		want = AUTO_CHUNK_MAX;
	return want ? (uint32_t)want : 1;
}

static int check_args(struct process_pool *pool, task_func_t func,
		      const void *inputs, size_t input_size, size_t n,
		      pool_map_result_t *results, const pool_map_options_t *o,
		      uint64_t *ref)
{
	if (!pool || !func || !results || n == 0 || (o->input_fn && inputs) ||
	    (!o->input_fn && !inputs && input_size) ||
	    (o->input_fn && input_size))
		return POOL_EINVAL;
	if ((int)o->priority < TASK_PRIORITY_LOW ||
	    (int)o->priority > TASK_PRIORITY_CRITICAL ||
	    (o->timeout_ms < 0 && o->timeout_ms != POOL_NO_TIMEOUT))
		return POOL_EINVAL;
	if (input_size > pool->cfg.max_input_size ||
	    input_size > pool->cfg.arena_size / 4)
		return POOL_EMSGSIZE;
	return pp_func_ref(pool, func, ref);
}

static int to_errno(int code)
{
	return code == POOL_ESTATE ? EBADFD : -code;
}

/* Cuts and queues every chunk; what could not be queued is settled. */
static void submit_all(struct process_pool *pool, struct pp_map *m,
		       struct source *src, uint64_t ref,
		       const pool_map_options_t *o)
{
	int timeout = o->timeout_ms ? o->timeout_ms : pool->cfg.task_timeout;
	int64_t now = pp_now_ns(), deadline;
	size_t budget = pool->cfg.arena_size / 4, first = 0, bytes;
	uint32_t want = chunk_want(pool, m->n, o), k;
	int stop, too_big, err;

	if (o->timeout_ms == POOL_NO_TIMEOUT)
		timeout = 0;
	deadline = timeout ? now + (int64_t)timeout * 1000000 : 0;
	while (first < m->n) {
		struct task_future *c;

		k = cut(src, first, m->n, want, budget, &bytes, &stop,
			&too_big);
		if (!k) {
			if (too_big) { /* this one alone: refused */
				settle_here(pool, m, first, first + 1,
					    TASK_STATUS_REJECTED);
				first++;
				continue;
			}
			settle_here(pool, m, first, m->n,
				    stop ? TASK_STATUS_CANCELLED
					 : TASK_STATUS_REJECTED);
			return;
		}
		c = make_chunk(pool, m, src, first, k, bytes, ref, o, now,
			       deadline);
		if (!c) {
			settle_here(pool, m, first, m->n, TASK_STATUS_REJECTED);
			return;
		}
		err = take_room(pool);
		if (err) {
			pp_map_put(m); /* the chunk's */
			pp_future_put(c);
			settle_here(pool, m, first, m->n,
				    TASK_STATUS_CANCELLED);
			return;
		}
		/* Counted before it is visible, as every submit. */
		atomic_fetch_add(&pool->submitted, k);
		c->next = NULL;
		if (pp_mpmc_push(pool->incoming, c)) {
			/* Cannot happen: the room was reserved. */
			atomic_fetch_sub(&pool->submitted, k);
			atomic_fetch_sub(&pool->queued, 1);
			pp_pool_leave(pool);
			pp_map_put(m);
			pp_future_put(c);
			settle_here(pool, m, first, m->n, TASK_STATUS_REJECTED);
			return;
		}
		pp_pool_leave(pool);
		pp_supervisor_wake(pool);
		first += k;
		if (stop) {
			settle_here(pool, m, first, m->n,
				    TASK_STATUS_CANCELLED);
			return;
		}
	}
}

pool_map_t *pool_map_start(process_pool_t *pool, task_func_t func,
			   const void *inputs, size_t input_size, size_t n,
			   pool_map_result_t *results,
			   const pool_map_options_t *options)
{
	pool_map_options_t o;
	struct source src;
	struct pool_map *h;
	uint64_t ref = 0;
	int err;

	memset(&o, 0, sizeof(o));
	o.priority = TASK_PRIORITY_NORMAL;
	if (options)
		o = *options;
	err = check_args(pool, func, inputs, input_size, n, results, &o, &ref);
	if (!err && atomic_load(&pool->state) != PP_POOL_RUNNING)
		err = POOL_ESTATE;
	if (err) {
		errno = to_errno(err);
		return NULL;
	}
	memset(&src, 0, sizeof(src));
	src.array = inputs;
	src.size = input_size;
	src.fn = o.input_fn;
	src.arg = o.input_arg;
	if (src.fn) {
		src.stage_off = malloc(PP_BULK_MAX * sizeof(size_t) * 2);
		if (!src.stage_off) {
			errno = ENOMEM;
			return NULL;
		}
		src.stage_len = src.stage_off + PP_BULK_MAX;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		free(src.stage_off);
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&h->m.refs, 1);
	h->m.pool = pool;
	h->m.results = results;
	h->m.n = n;
	atomic_init(&h->m.left, n);
	submit_all(pool, &h->m, &src, ref, &o);
	free(src.stage);
	free(src.stage_off);
	errno = 0;
	return h;
}

int pool_map_wait(pool_map_t *map, int timeout_ms)
{
	struct pp_map *m;
	int64_t deadline;

	if (!map)
		return POOL_EINVAL;
	m = &map->m;
	deadline =
	    timeout_ms < 0 ? -1 : pp_now_ns() + (int64_t)timeout_ms * 1000000;
	while (!atomic_load_explicit(&m->done, memory_order_acquire))
		if (pp_futex_sleep(&m->done, 0, &m->waiters, deadline))
			return POOL_ETIMEDOUT;
	return 0;
}

int pool_map_cancel(pool_map_t *map)
{
	struct pp_map *m;

	if (!map)
		return POOL_EINVAL;
	m = &map->m;
	if (atomic_load(&m->done))
		return POOL_ESTATE;
	atomic_store(&m->cancelled, 1);
	atomic_fetch_add(&m->pool->map_cancels, 1);
	pp_supervisor_wake(m->pool);
	return 0;
}

void pool_map_destroy(pool_map_t *map)
{
	if (!map)
		return;
	if (!atomic_load(&map->m.done)) {
		pool_map_cancel(map);
		pool_map_wait(map, -1);
	}
	pp_map_put(&map->m);
}

int pool_map(process_pool_t *pool, task_func_t func, const void *inputs,
	     size_t input_size, size_t n, pool_map_result_t *results,
	     const pool_map_options_t *options)
{
	pool_map_t *map =
	    pool_map_start(pool, func, inputs, input_size, n, results, options);

	if (!map)
		return errno == EBADFD ? POOL_ESTATE : -errno;
	pool_map_wait(map, -1);
	pool_map_destroy(map);
	return 0;
}

void pool_map_results_free(pool_map_result_t *results, size_t n)
{
	size_t i;

	if (!results)
		return;
	for (i = 0; i < n; i++) {
		pp_output_free(results[i].output);
		results[i].output = NULL;
		results[i].output_size = 0;
	}
}
