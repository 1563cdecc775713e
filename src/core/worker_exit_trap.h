/*
 * A task that calls exit() in its worker.
 *
 * exit() runs every atexit/on_exit handler and flushes every stdio
 * buffer. In a fork-mode worker those are the host's: its handlers would
 * run in the worker, and text the host had buffered but not yet written
 * would be written once by the worker and again by the host. So a worker,
 * at start-up, discards the stdio buffers it inherited and registers a
 * handler of its own: registered last, it runs first, records the status
 * in the channel's PP_WORD_EXIT word and _exit()s with
 * PP_EXIT_TASK_CALLED_EXIT before any other handler or flush. The parent,
 * reaping a worker that ended with that code and that word, ends the task
 * CRASHED with the detail "task called exit(N)".
 *
 * The word is written by the worker, so it is a hint about that worker
 * only: at worst a task lies about its own exit status.
 */
#ifndef PP_CORE_WORKER_EXIT_TRAP_H
#define PP_CORE_WORKER_EXIT_TRAP_H

#include <stddef.h>
#include <sys/types.h>

#include "src/core/protocol.h"
#include "src/ipc/channel.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * pp_exit_trap_arm - in a new worker, before it confines itself: purge
 * the inherited stdio buffers and catch exit(). ch is the worker's
 * channel and must outlive the process. Returns 0, or -ENOMEM when the
 * handler could not be registered (the worker then runs without it).
 */
int pp_exit_trap_arm(struct pp_channel *ch);

/*
 * pp_exit_trap_detail - in the parent, for a worker (pid) that ended
 * with exit code code, no signal (sig 0): when its task called exit(),
 * writes "task called exit(N) in worker PID" into buf (len bytes) and
 * returns N (0..255); otherwise returns -1 and leaves buf alone. Reads
 * the channel's PP_WORD_EXIT, so call it before the channel is closed.
 */
int pp_exit_trap_detail(const struct pp_channel *ch, int code, int sig,
			pid_t pid, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_WORKER_EXIT_TRAP_H */
