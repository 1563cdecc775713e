/*
 * Bulk chunks, parent side: many tasks of one function travel to a worker
 * as one PP_FRAME_BULK and come back in PP_FRAME_BULK_RESULT frames (the
 * layout is in protocol.h). In the engine a chunk is one task_future (its
 * bulk field set): it waits in the same queues, takes one slot on a
 * worker, has one deadline and one wire id. Its tasks' outcomes go to a
 * sink: the results array of a pool_map (map.c), or each task's own
 * future (a batch, pool.c).
 *
 * Outcomes are exact per task. A report settles the tasks it covers; a
 * stop (cancel, deadline, pool_stop, a protocol violation) settles every
 * task not yet settled with its status (pp_resolve_at calls
 * pp_bulk_resolve); a dead worker's chunk keeps the outcomes the worker
 * had written before it died and re-runs or fails the rest per the retry
 * rules, each retried task alone (pp_bulk_orphan).
 *
 * Thread-safety: pp_bulk_new and pp_bulk_add_input belong to the thread
 * building a chunk, before it is queued; everything else to whoever owns
 * the worker the chunk is on (the supervisor: chunks never take the
 * direct lane).
 */
#ifndef PP_CORE_BULK_H
#define PP_CORE_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "process_pool.h"
#include "src/ipc/frame.h"

struct process_pool;
struct pp_worker;
struct pp_map;
struct task_future;

struct pp_bulk {
	struct pp_map *map;	    /* outcomes go to the map's results */
	size_t base;		    /* the map's index of task 0 */
	struct task_future **tasks; /* or to each task's future (a batch) */
	uint32_t count;
	uint32_t settled;    /* tasks 0..settled-1 have their outcome */
	uint32_t next;	     /* the first task the worker has not reported */
	uint32_t fill;	     /* building: bytes of the image used */
	uint32_t out_offset; /* of out[] in the region: the image's end */
};

/*
 * pp_bulk_image_size - bytes of a chunk image of count tasks whose inputs
 * take input_bytes (each rounded up to 16), or 0 when count is 0, above
 * PP_BULK_MAX, or the image would pass 4 GiB.
 */
size_t pp_bulk_image_size(uint32_t count, size_t input_bytes);

/* pp_bulk_region_size - arena bytes chunk c takes on a worker: its
 * image (c->input_size bytes, copied there) and the outcomes after it. */
size_t pp_bulk_region_size(const struct task_future *c);

/* Bytes an input of size takes in an image: inputs are 16-aligned. */
static inline size_t pp_bulk_input_room(size_t size)
{
	return (size + 15) & ~(size_t)15;
}

/*
 * pp_bulk_new - a chunk future for count tasks with input_bytes of input
 * (sum of pp_bulk_input_room), holding the engine's reference only; with
 * futures, room for count task futures in bulk->tasks. The caller sets
 * the task fields (func_ref, priority, id, deadline...), the sink, and
 * adds each input in order. NULL when out of memory.
 */
struct task_future *pp_bulk_new(uint32_t count, size_t input_bytes,
				int futures);

/* pp_bulk_add_input - task i's input (in order, i = 0, 1, ...). */
void pp_bulk_add_input(struct task_future *c, uint32_t i, const void *data,
		       size_t size);

/*
 * pp_bulk_report - a checked BULK_RESULT f for chunk c on w: reads each
 * outcome it covers once, checks it (pp_bulk_out_check) and settles its
 * task. Returns NULL, with *gone set when the worker has now given back
 * the whole chunk (the caller unslots and finishes it), or the
 * violation: the caller replaces w.
 */
const char *pp_bulk_report(struct process_pool *pool, struct pp_worker *w,
			   struct task_future *c, const struct pp_frame *f,
			   int64_t now, int *gone);

/*
 * pp_bulk_resolve - pp_resolve_at for a chunk: every task not yet
 * settled ends with this status. Returns 1 if the chunk was not done.
 */
int pp_bulk_resolve(struct process_pool *pool, struct task_future *c,
		    task_status_t status, int rc, int sig, const char *detail,
		    int64_t now);

/*
 * pp_bulk_orphan - chunk c was on w when w died (settle_orphan's
 * arguments): keep what the worker had finished, re-run or fail the
 * rest, and take c off w. Releases the engine's reference to c.
 */
void pp_bulk_orphan(struct process_pool *pool, struct pp_worker *w,
		    struct task_future *c, unsigned shared, task_status_t cause,
		    int sig, const char *how, int final);

/*
 * pp_bulk_stop - tells w to start no more of c's tasks (the chunk was
 * stopped); returns 1 when one of them may be running now (the caller
 * kills w), 0 when the worker will give c back by itself.
 */
int pp_bulk_stop(struct pp_worker *w, struct task_future *c);

/*
 * pp_bulk_cancel_task - task future t, part of a chunk, was cancelled:
 * the worker must not start it. Returns the worker to kill (t may be
 * running there), or NULL.
 */
struct pp_worker *pp_bulk_cancel_task(struct process_pool *pool,
				      struct task_future *t);

/*
 * pp_bulk_dropped - whether chunk c, about to be dispatched, belongs to a
 * cancelled map; if so it is resolved CANCELLED now.
 */
int pp_bulk_dropped(struct process_pool *pool, struct task_future *c);

/* Inputs up to this size let a batch's task travel in a chunk. */
#define PP_BULK_BATCH_INPUT 4096u

/*
 * pp_bulk_chain - links a batch's futures out[from..to) (tasks[i] and
 * refs[i] described out[i]; NULL entries are skipped) into a chain for
 * the queue, through next: runs of tasks that may share a chunk (same
 * function, user_data, priority and timeout, inputs up to
 * PP_BULK_BATCH_INPUT) go as chunks of up to want tasks (want < 2: none),
 * holding the futures' engine references; the others as themselves.
 * Returns the head (NULL when there is none) and in *entries the queue
 * entries the chain takes. Out of memory, a run goes as single tasks.
 */
struct task_future *pp_bulk_chain(struct process_pool *pool,
				  struct task_future **out,
				  const task_desc_t *tasks,
				  const uint64_t *refs, size_t from, size_t to,
				  size_t want, size_t *entries);

/* pp_bulk_map_cancelled - whether c belongs to a cancelled map. */
int pp_bulk_map_cancelled(const struct task_future *c);

#endif /* PP_CORE_BULK_H */
