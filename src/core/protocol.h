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

/*
 * The zygote (zygote.h): the parent asks for a worker with one request
 * message on a SOCK_SEQPACKET socket, its fds in SCM_RIGHTS in the order
 * of enum pp_zygote_fd (the optional ones present as flags say); the
 * zygote answers with one reply, the worker's pidfd attached when pid is
 * set. Each side checks the magic, the sequence number, the size and the
 * fd count of what it reads; anything else ends the conversation.
 */
#define PP_ZYGOTE_MAGIC 0x5a59474fu /* "ZYGO" */

enum pp_zygote_fd {
	PP_ZYGOTE_FD_MEM = 0, /* the channel's memfd */
	PP_ZYGOTE_FD_EFD,     /* its wakeup fd, the worker's end */
	PP_ZYGOTE_FD_SOCK,    /* the worker's end of the payload socket */
	PP_ZYGOTE_FD_OUT,     /* PP_ZYGOTE_F_OUT: stdout/stderr pipe */
	PP_ZYGOTE_FD_PROCS,   /* PP_ZYGOTE_F_LEAF: the leaf's cgroup.procs */
	PP_ZYGOTE_FD_LEAF,    /* PP_ZYGOTE_F_LEAF: the leaf directory */
	PP_ZYGOTE_FD_MAX,
};

#define PP_ZYGOTE_F_OUT	 1u
#define PP_ZYGOTE_F_LEAF 2u

/* What a request carries besides its fds: the worker's setup is the
 * parent's own struct, built as for a fork (its pointers are valid in
 * the zygote, a copy of the parent's memory). */
struct pp_zygote_request_head {
	uint32_t magic;
	uint32_t seq;
	uint32_t flags;
	uint32_t setup_size; /* sizeof(struct pp_worker_setup) */
};

struct pp_zygote_reply {
	uint32_t magic;
	uint32_t seq;
	int32_t pid; /* > 0 with a pidfd attached, else 0 */
	int32_t err; /* errno of a failed clone, else 0 */
	uint32_t into_cgroup; /* 1: created inside its leaf */
	uint32_t pad;
};

#endif /* PP_CORE_PROTOCOL_H */
