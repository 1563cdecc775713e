/*
 * What the parent and a worker agree on beyond the frames of
 * src/ipc/frame.h: the result statuses a worker may report besides
 * task_status_t, the exit codes of a worker that stops itself, how a task
 * is named on the wire and in the RUNNING word, and the aging rate both
 * sides order their queues by. Included by both sides; it names nothing
 * of either side's private state.
 */
#ifndef PP_CORE_PROTOCOL_H
#define PP_CORE_PROTOCOL_H

#include <stdint.h>

/* Aging: a waiting task gains one priority level per this much waiting,
 * in the parent's queues and in a worker's local queue alike. */
#define PP_AGING_NS (2LL * 1000000000)

/* Exit codes of a worker that stopped itself. */
#define PP_EXIT_SANDBOX	  121 /* seccomp denied a syscall (kill mode) */
#define PP_EXIT_CLEANROOM 122 /* a clean-room worker could not start */
#define PP_EXIT_CGROUP	  123 /* could not move into its cgroup leaf */
#define PP_EXIT_STDIO	  124 /* could not set up its fds 0, 1 and 2 */
#define PP_EXIT_TASK_CALLED_EXIT 125 /* its task called exit() (see
				      * worker_exit_trap.h) */
#define PP_EXIT_INIT 126 /* its initializer failed (worker_init.h) */
#define PP_EXIT_CONFINE                                                        \
	200 /* + enum pp_confine_step: could not confine                       \
	     * itself, never ran a task */

/* Worker frame status values beyond task_status_t (worker -> parent). */
#define PP_WORKER_DEFERRED 100 /* not started: a higher priority waits */

/* return_code of a REJECTED result: the worker found no task function at
 * the reference it was sent (a clean-room worker whose modules differ). */
#define PP_REJECT_NO_FUNC (-2)

/* Wire id of a task on a worker: the pool-wide id and the slot number. */
static inline uint64_t pp_wire_id(uint64_t id, unsigned slot)
{
	return (id << 16) | slot;
}

/* PP_WORD_RUNNING's value for a task: never 0, which means idle. */
static inline uint32_t pp_running_word(uint64_t wire)
{
	return (uint32_t)wire + 1;
}

#endif /* PP_CORE_PROTOCOL_H */
