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

/*
 * A bulk chunk (PP_FRAME_BULK): many tasks of one function in one frame.
 * Its payload is one region in the parent's part of the arena:
 *
 *   struct pp_bulk_head              counts and progress
 *   struct pp_bulk_in  in[count]     each input: offset from the region's
 *                                    start, length (parent)
 *   uint8_t            skip[count]   1: do not start this task (parent)
 *   input bytes, each 16-aligned
 *   struct pp_bulk_out out[count]    each outcome (worker), at out_offset
 *
 * The parent writes count, out_offset, the inputs and skip (the region up
 * to out_offset is its copy of a private image, which it never reads
 * back); the worker writes started, done and out[]. A worker runs the tasks in order: before task i it
 * stores started = i + 1, then reads cancel and skip[i]; after it, it
 * fills out[i] and stores done = i + 1. It reports finished tasks with
 * PP_FRAME_BULK_RESULT frames that cover consecutive ranges, from the
 * first, whose outputs lie in its own part of the arena.
 *
 * The parent reads nothing of this without a check (frame_check.c):
 * ranges, statuses, output references and done are the worker's words.
 * Of a worker that died, the outcomes before done are taken as results
 * (as any frame it sent before it died), and the tasks from done on each
 * pay a re-run as tasks on a dead worker do: done says how far it got,
 * never whom to blame.
 */
struct pp_bulk_head {
	uint32_t count;	  /* parent: tasks in the chunk */
	uint32_t cancel;  /* parent: 1: start no more of them */
	uint32_t started; /* worker: 1 + the task it is starting */
	uint32_t done;	  /* worker: tasks whose out[] is filled */
	uint32_t out_offset; /* parent: where out[] starts, 8-aligned */
	uint32_t reserved[11];
};

struct pp_bulk_in {
	uint32_t offset; /* from the region's start */
	uint32_t length;
};

struct pp_bulk_out {
	int32_t status;	     /* task_status_t a worker may report */
	int32_t return_code; /* the task function's, or the syscall */
	uint64_t offset;     /* output in the worker's part */
	uint64_t length;
};

/* Tasks in one chunk at most: the skip bytes and the 32-bit offsets
 * stay small, and a frame's range fits its fields. */
#define PP_BULK_MAX 4096u

/* Bytes of a chunk's region before its input bytes. */
static inline uint64_t pp_bulk_layout_size(uint32_t count)
{
	return sizeof(struct pp_bulk_head) +
	       (uint64_t)count * (sizeof(struct pp_bulk_in) + 1);
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
 * parent's own struct, built as for a fork (its pointers are valid in a
 * fork-mode zygote, a copy of the parent's memory); a clean-room zygote
 * is sent its index alone, the rest zero, and reads the setup memfd. */
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
