/*
 * The zygote: a fork server for a pool's workers (config "zygote").
 *
 * Started from the supervisor thread at the pool's first spawn, before
 * any task runs: a fork of it (fork mode, zygote_main.c) or a fresh exec
 * of the program (clean-room mode, zygote_cleanroom.c). It holds nothing
 * but its socket to the parent and stdio (and, clean-room, the sealed
 * setup memfd), and turns each request into a worker with clone3(CLONE_PARENT |
 * CLONE_PIDFD [| CLONE_INTO_CGROUP]): the worker is the pool's child, as
 * a forked one is (the parent reaps it, it dies with the supervisor
 * thread), but it is a copy of the small zygote, not of the host, and it
 * starts inside its cgroup leaf. Workers never hold an fd to the zygote:
 * the child closes the socket before anything else runs.
 *
 * The parent side (zygote.c) talks to it through checked messages
 * (protocol.h) from the supervisor thread only; a zygote that dies, hangs
 * or answers wrongly is killed, reaped and started again at the next
 * spawn, and a spawn it cannot serve forks directly, so the pool keeps
 * serving. The zygote side is zygote_main.c.
 */
#ifndef PP_CORE_ZYGOTE_H
#define PP_CORE_ZYGOTE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

struct process_pool;
struct pp_worker;
struct pp_worker_setup;

/* The parent's view of its zygote (supervisor thread, but info_*). */
struct pp_zygote {
	pid_t pid; /* 0: none running */
	int pidfd;
	int sock; /* the parent's end */
	uint32_t seq;
	int answered;	     /* 0: a clean-room zygote still loading */
	int disabled;	     /* the kernel cannot: fork directly */
	int64_t retry_at_ns; /* a start failed: not before then */
	uint64_t starts;
	_Atomic int info_pid;
	_Atomic uint64_t info_restarts;
};

/*
 * pp_zygote_fork - a new worker for slot w from the zygote, started first
 * if none runs. procs_fd (the leaf's cgroup.procs, or -1) and out_fd (its
 * output pipe, or -1) are the caller's still; s is the worker's setup.
 * Returns 0 with *pid and *pidfd set; -EPIPE when the zygote was lost
 * after it had the request: a worker it may have made on w's channel
 * has been killed, but the channel must not be used again (the spawn
 * fails, and is retried with a new one); any other negated errno: nothing
 * was made, and the caller forks the worker itself. Supervisor thread
 * only.
 */
int pp_zygote_fork(struct process_pool *pool, const struct pp_worker *w,
		   int procs_fd, int out_fd, const struct pp_worker_setup *s,
		   pid_t *pid, int *pidfd);

/* pp_zygote_stop - end the zygote and reap it; safe when none runs. */
void pp_zygote_stop(struct process_pool *pool);

/* zygote_main.c: the zygote's life, in the child of the parent's fork;
 * sock is its end of the socket. Never returns. */
void pp_zygote_main(struct process_pool *pool, int sock)
    __attribute__((noreturn));

/* worker.c: the child half of a spawn (it dies with its parent thread,
 * joins its leaf unless procs_fd is -1, takes its stdio and becomes the
 * worker), shared with the zygote. Never returns. */
struct pp_cleanroom_exec;
void pp_worker_child(const struct process_pool *pool, const struct pp_worker *w,
		     pid_t parent, int procs_fd, int out_fd,
		     const struct pp_worker_setup *s,
		     struct pp_cleanroom_exec *ex) __attribute__((noreturn));

#endif /* PP_CORE_ZYGOTE_H */
