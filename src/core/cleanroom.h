/*
 * Clean-room workers (POOL_SPAWN_CLEANROOM): each worker is a fresh exec
 * of the program, entered through the library's constructor before main,
 * with nothing inherited but its channel.
 *
 * Parent side, at pool_start: the executable is opened once (O_PATH, so a
 * binary replaced on disk later does not matter) and the worker setup
 * (limits, identity, seccomp mode, placement, the compiled seccomp
 * program, the module table) is written once into a sealed memfd that
 * every worker reads. In the forked child, only async-signal-safe calls:
 * the channel's memfd and eventfd and the setup memfd move to fds 3, 4
 * and 5, everything else is closed, and the program is exec'd with an
 * environment naming them (PROCESSPOOL_WORKER=3,4,5,INDEX) plus the
 * loader's and sanitizers' variables from startup.
 *
 * Worker side, in the constructor (cleanroom_entry.c): read the setup,
 * close its fd, and run the worker exactly as a forked one
 * (pp_worker_enter), never returning. Both sides include this header; it
 * names the pool only as an opaque type.
 *
 * Thread-safety: the parent side runs on the supervisor thread (exec
 * arguments, the exec) and in pool_start (prepare); pp_func_ref is
 * thread-safe.
 */
#ifndef PP_CORE_CLEANROOM_H
#define PP_CORE_CLEANROOM_H

#include <stdint.h>

#include "process_pool.h"

#define PP_CLEANROOM_ENV      "PROCESSPOOL_WORKER"
#define PP_CLEANROOM_FD_MEM   3
#define PP_CLEANROOM_FD_EVENT 4
#define PP_CLEANROOM_FD_SETUP 5
#define PP_CLEANROOM_FD_SOCK  6 /* the payload socket (fd_payload.h) */
#define PP_CLEANROOM_FD_EXE   7 /* close-on-exec: gone in the worker */
#define PP_CLEANROOM_ENV_MAX  8

/* A clean-room zygote (zygote.h) is a fresh exec of the program too, its
 * environment naming its socket, the setup memfd, the pool's stdio mode
 * and sandbox_off (PROCESSPOOL_ZYGOTE=3,5,STDIO,OFF). */
#define PP_CLEANROOM_ZYGOTE_ENV "PROCESSPOOL_ZYGOTE"
#define PP_CLEANROOM_FD_ZYGOTE	3

/* The setup record (its layout is described in cleanroom.c). */
#define PP_CLEANROOM_SETUP_MAGIC   0x53575050u /* "PPWS" */
#define PP_CLEANROOM_SETUP_VERSION 3u
#define PP_CLEANROOM_UID_PER_SLOT  1u /* uid + the worker's index */
#define PP_CLEANROOM_GID_PER_SLOT  2u /* gid + the worker's index */
#define PP_CLEANROOM_BPF_INSN_SIZE 8u /* struct sock_filter */

struct process_pool;
struct pp_worker;

/* A pool's clean-room state, open from pool_start to pool_destroy. */
struct pp_cleanroom {
	int ready;    /* 1: the two fds below are open */
	int exe_fd;   /* the program, O_PATH */
	int setup_fd; /* sealed memfd with the worker setup */
};

/* What the child passes to exec, built by the parent before fork. */
struct pp_cleanroom_exec {
	char *argv[2];
	char *envp[PP_CLEANROOM_ENV_MAX + 2];
	char worker_var[64];
};

/*
 * pp_cleanroom_prepare - open the executable and write the setup memfd,
 * once per pool (a second call does nothing). Returns 0, -ENOMEM, -ENOENT
 * when the startup module table is missing, or a negated errno.
 */
int pp_cleanroom_prepare(struct process_pool *pool);

/* pp_cleanroom_release - close what prepare opened; safe to call twice. */
void pp_cleanroom_release(struct pp_cleanroom *cr);

/*
 * pp_cleanroom_capture_environment - record the loader's and sanitizers'
 * variables of this program's startup, for the exec of later workers.
 * Called once, by the library's constructor, before main.
 */
void pp_cleanroom_capture_environment(void);

/* pp_cleanroom_exec_prepare - argv and envp for worker w, before fork. */
void pp_cleanroom_exec_prepare(const struct pp_worker *w,
			       struct pp_cleanroom_exec *ex);

/*
 * pp_cleanroom_exec - in the forked child: move the fds, close the rest,
 * exec. Async-signal-safe. Never returns (exits PP_EXIT_CLEANROOM when
 * the exec fails).
 */
void pp_cleanroom_exec(const struct pp_cleanroom *cr, int memfd, int efd,
		       int sock,
		       struct pp_cleanroom_exec *ex) __attribute__((noreturn));

/* pp_cleanroom_zygote_exec_prepare - argv and envp for pool's clean-room
 * zygote, before fork. */
void pp_cleanroom_zygote_exec_prepare(const struct process_pool *pool,
				      struct pp_cleanroom_exec *ex);

/*
 * pp_cleanroom_exec_zygote - in the forked child: sock (its end of the
 * zygote's socket) and the setup memfd to their numbers, the rest closed,
 * exec. Async-signal-safe. Never returns.
 */
void pp_cleanroom_exec_zygote(const struct pp_cleanroom *cr, int sock,
			      struct pp_cleanroom_exec *ex)
    __attribute__((noreturn));

/*
 * Worker side. pp_cleanroom_worker_enter - read the setup for slot index
 * from setup_fd, close it and become the worker on the channel's fds
 * (pp_worker_enter); a setup that does not parse ends the process with
 * PP_EXIT_CLEANROOM. Never returns.
 */
void pp_cleanroom_worker_enter(int setup_fd, int index, int mem, int ev,
			       int sock) __attribute__((noreturn));

/* zygote_cleanroom.c: the clean-room zygote's life, entered from the
 * program's constructor with the value of PROCESSPOOL_ZYGOTE. */
void pp_cleanroom_zygote_main(const char *var) __attribute__((noreturn));

/*
 * pp_func_ref - func as it travels in a SUBMIT frame: the pointer itself
 * for fork-mode workers, (module index, offset) for clean-room ones.
 * Returns 0, or POOL_EINVAL when func lies in no module loaded at startup
 * (a clean-room worker could not find it).
 */
int pp_func_ref(const struct process_pool *pool, task_func_t func,
		uint64_t *ref);

#endif /* PP_CORE_CLEANROOM_H */
