/*
 * The parent's one verdict on a frame from a worker (frame_check.c), used
 * by every path that reads a worker's channel: the supervisor's drain and
 * the direct lane. Called by whoever holds the worker at the time.
 */
#ifndef PP_CORE_FRAME_CHECK_H
#define PP_CORE_FRAME_CHECK_H

#include <stdint.h>

#include "src/ipc/frame.h"

struct process_pool;
struct pp_worker;
struct task_future;

/*
 * pp_frame_check - whether an honest worker w could have sent f now.
 *
 * Returns NULL when it could (for a RESULT, *task is the task it answers;
 * else *task is NULL), or a static description of the violation: the
 * caller then fails w's tasks with PROTOCOL_ERROR and replaces w. An
 * accepted frame updates w's protocol bookkeeping (deferral credit,
 * LEARNED and USAGE frames per task); an accepted USAGE frame stores its
 * clamped figures in the task it names (the caller has nothing more to
 * do with it).
 */
const char *pp_frame_check(const struct process_pool *pool, struct pp_worker *w,
			   const struct pp_frame *f, struct task_future **task);

/*
 * pp_bulk_out_check - whether an honest worker w could have written
 * outcome e (read once by the caller) of a task in a chunk: a status a
 * worker may report for a started task, and an output only with a status
 * that keeps one, within max_output_size and the worker's arena part
 * (by_fd: a memfd of e->length bytes, offset 0, announced by a
 * BULK_RESULT with PP_FRAME_F_FD). NULL, or the violation.
 */
struct pp_bulk_out;
const char *pp_bulk_out_check(const struct process_pool *pool,
			      const struct pp_worker *w,
			      const struct pp_bulk_out *e, int by_fd);

/* pp_frame_note_waiting - the parent stored waiting in w's
 * PP_WORD_WAITING_PRIO word: the tasks on w it may now hand back. */
void pp_frame_note_waiting(const struct process_pool *pool, struct pp_worker *w,
			   uint32_t waiting);

/* pp_frame_note_placed - a task of (aged) priority prio went on w. */
void pp_frame_note_placed(const struct process_pool *pool, struct pp_worker *w,
			  int prio);

#endif /* PP_CORE_FRAME_CHECK_H */
