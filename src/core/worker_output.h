/*
 * Workers' stdio. By default (POOL_STDIO_CAPTURE) a worker's stdin is
 * /dev/null and its stdout and stderr go into a pipe of its own; the
 * parent keeps the read end (its own open file description, O_NONBLOCK
 * and O_CLOEXEC there only) and logs what arrives, one log line per line
 * of output, tagged with the pool, the worker's slot and pid, and the
 * task that could have written it. A worker never holds the host's
 * stdio: it cannot read the host's input, change the flags or the SIGIO
 * owner of the host's output, or write into it.
 *
 * The parent's work is bounded: at most PP_OUTPUT_BYTES_PER_S bytes read
 * from a worker a second (then its read end is not watched until the
 * next second), at most PP_OUTPUT_READ_BUDGET bytes read per wakeup (the pipe is level-triggered in epoll, so what is left is
 * read on the next turn of the loop, never in a busy loop of its own),
 * PP_OUTPUT_LINE_MAX bytes kept per line (the rest is dropped, and the
 * line marked cut=N), and a rate per worker (lines per second; the rest
 * is dropped and counted, and the count logged once per second it
 * happened in). A worker that writes faster than that blocks on its full
 * pipe: its flood costs itself.
 *
 * What a worker writes is untrusted: bytes outside printable ASCII, the
 * quote and the backslash are escaped (\xNN, \", \\) before they reach
 * the log, so a worker cannot forge log lines or terminal sequences.
 *
 * Threads: the supervisor reads and closes; pp_worker_output_task_ended
 * and pp_worker_output_lane_task are called by whoever holds the worker
 * (the supervisor, or a lane client), at most one at a time.
 */
#ifndef PP_CORE_WORKER_OUTPUT_H
#define PP_CORE_WORKER_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_OUTPUT_READ_BUDGET  (32u << 10) /* bytes per wakeup */
#define PP_OUTPUT_BYTES_PER_S  (4u << 20)  /* bytes read per second */
#define PP_OUTPUT_DRAIN_BUDGET (1u << 20)  /* bytes read at close */
#define PP_OUTPUT_LINE_MAX     512u	   /* bytes of a line logged */
#define PP_OUTPUT_RATE_DEFAULT 100u	   /* lines per second */
#define PP_OUTPUT_RATE_MAX     100000u

/* One worker's output, as the parent reads it. */
struct pp_worker_output {
	int open; /* 1: fd is the read end of the worker's pipe */
	int fd;
	unsigned rate; /* lines logged per second */
	/* The line being put together, and its bytes beyond line[]. */
	size_t len;
	size_t cut;
	/* Rate limit: the current second (coarse clock), lines logged and
	 * dropped in it. */
	int64_t second_ns;
	unsigned logged;
	int64_t bytes_second_ns; /* the second bytes_read counts */
	uint64_t bytes_read;
	uint64_t dropped;
	/*
	 * Who wrote it. Tasks that left the worker are counted in a
	 * sequence word (odd while the latest id is being written); the
	 * window opens each time the pipe is seen empty with no partial
	 * line held: what is read later was written by a task that ended
	 * after that, or is still on the worker.
	 */
	uint64_t ended_seq; /* atomic, as the next two */
	uint64_t last_ended;
	uint64_t lane_task; /* placed by a lane client; 0: none */
	uint64_t window;    /* tasks ended when it opened */
	uint64_t empty_at;  /* scratch of one read */
	int saw_empty;
	char line[PP_OUTPUT_LINE_MAX];
};

/* Who reads: for the log lines, and to name the task. */
struct pp_output_who {
	const char *pool;
	int worker;
	int pid;
	/*
	 * Fills buf with the task field of what was just read ("task=7",
	 * "task=-" for none, "task=? tasks=3" when several could have
	 * written it), given the tasks that left the worker since the
	 * window opened (ended), the latest of them (last), and the task a
	 * lane client placed on it (lane; 0: none), read in that order.
	 */
	void (*task)(void *ctx, uint64_t ended, uint64_t last, uint64_t lane,
		     char *buf, size_t len);
	void *ctx;
};

/*
 * pp_worker_output_open - a new pipe for a worker about to be spawned:
 * o keeps the read end (non-blocking), *write_end is for the child's
 * stdout and stderr (blocking; both ends close-on-exec here). rate: lines
 * per second, 0 for the default. Returns 0 or a negative errno.
 */
int pp_worker_output_open(struct pp_worker_output *o, unsigned rate,
			  int *write_end);

/*
 * pp_worker_output_read - what one wakeup of the read end allows: reads
 * until the pipe is empty or PP_OUTPUT_READ_BUDGET bytes, and logs the
 * lines completed. now: the coarse monotonic clock. Returns 1 when every
 * write end is closed (nothing more will come: stop watching the fd),
 * PP_OUTPUT_PAUSED when the worker has had its PP_OUTPUT_BYTES_PER_S for
 * this second (stop watching the fd until pp_worker_output_resume_at:
 * the worker's writes block on its full pipe meanwhile, so a flood costs
 * the worker, not the parent's CPU), else 0.
 */
#define PP_OUTPUT_PAUSED 2
int pp_worker_output_read(struct pp_worker_output *o,
			  const struct pp_output_who *who, int64_t now);

/* pp_worker_output_resume_at - when a paused read end may be watched
 * again (the coarse monotonic clock). */
int64_t pp_worker_output_resume_at(const struct pp_worker_output *o);

/*
 * pp_worker_output_close - read what is left (up to
 * PP_OUTPUT_DRAIN_BUDGET bytes), log it with a partial last line and the
 * count of lines dropped, and close the read end. who NULL: close only.
 * Safe on a closed o.
 */
void pp_worker_output_close(struct pp_worker_output *o,
			    const struct pp_output_who *who, int64_t now);

/* pp_worker_output_task_ended - task id left the worker (any outcome). */
void pp_worker_output_task_ended(struct pp_worker_output *o, uint64_t id);

/* pp_worker_output_lane_task - a lane client placed task id on it. */
void pp_worker_output_lane_task(struct pp_worker_output *o, uint64_t id);

/*
 * pp_worker_stdio_child - in the forked child, before anything else
 * runs: give it its own fds 0, 1 and 2 for mode (POOL_STDIO_*): stdin
 * from /dev/null, stdout and stderr into write_end (CAPTURE) or
 * /dev/null (DISCARD); INHERIT leaves them. The fds in keep that sit
 * in 0..2 (a host that closed its stdio) are first moved above 2, and
 * keep updated. Async-signal-safe. Returns 0, or -1 (errno set).
 */
int pp_worker_stdio_child(int mode, int write_end, int *const *keep, int nkeep);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_WORKER_OUTPUT_H */
