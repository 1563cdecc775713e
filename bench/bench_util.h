/*
 * Helpers shared by the benchmarks: clocks, latency samples and their
 * percentiles, machine description, two-process plumbing (shared memory,
 * a child that dies with its parent, reaping by pid), CPU pinning,
 * plain-text / JSON output, per-process counters read from /proc, and the
 * futex and busy-poll ping-pong floors.
 *
 * Everything here is for benchmark programs, which own their process: they
 * may pin CPUs and fork freely. None of it is linked into the library.
 */
#ifndef PP_BENCH_UTIL_H
#define PP_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* bu_now_ns - CLOCK_MONOTONIC in nanoseconds (same clock in every process). */
int64_t bu_now_ns(void);

/* Latency samples in nanoseconds, one per operation. */
struct bu_samples {
	int64_t *ns;
	size_t n;
	size_t cap;
};

/* Percentiles of a sample set, in microseconds. */
struct bu_pct {
	double p50;
	double p99;
	double p999;
	double max;
};

/* bu_samples_init - room for cap samples. Returns 0 or -ENOMEM. */
int bu_samples_init(struct bu_samples *s, size_t cap);
void bu_samples_free(struct bu_samples *s);

/* bu_samples_add - record one sample; extra samples beyond cap are dropped. */
static inline void bu_samples_add(struct bu_samples *s, int64_t ns)
{
	if (s->n < s->cap)
		s->ns[s->n++] = ns;
}

/*
 * bu_samples_pct - sort the samples and return nearest-rank percentiles.
 * All fields are NaN for an empty set.
 */
struct bu_pct bu_samples_pct(struct bu_samples *s);

/* What the benchmark ran on; strings are always NUL-terminated. */
struct bu_machine {
	char cpu_model[128];
	char kernel[200]; /* sysname, release, machine */
	char loadavg[64]; /* 1, 5 and 15 minute load averages at start */
	char date[32];	  /* UTC, ISO 8601 */
	long cpus_online;
	long cpus_allowed; /* in this process's affinity mask */
};

void bu_machine_read(struct bu_machine *m);
void bu_machine_print(FILE *f, const struct bu_machine *m);

/*
 * bu_pick_cpus - the first n CPUs of this process's affinity mask, for
 * pinning. Returns 0, or -ENODEV when fewer than n are allowed.
 */
int bu_pick_cpus(int *cpus, int n);

/* bu_pin_self - pin the calling thread to cpu. Returns 0 or -errno. */
int bu_pin_self(int cpu);

/* bu_shared_map - zeroed MAP_SHARED|MAP_ANONYMOUS memory, or NULL. */
void *bu_shared_map(size_t size);
void bu_shared_unmap(void *p, size_t size);

/* Voluntary plus involuntary context switches of the calling process. */
int64_t bu_ctx_switches(void);

/*
 * bu_fork - fork a child that runs fn(arg) and _exits with its return
 * value (0..255). The child gets SIGKILL when the parent dies
 * (PR_SET_PDEATHSIG) and exits at once if the parent is already gone.
 * stdout and stderr are flushed first so the child never repeats buffered
 * output. Returns the child's pid or -errno.
 */
pid_t bu_fork(int (*fn)(void *arg), void *arg);

/*
 * bu_reap - wait for that child only. Returns its exit status (0..255),
 * 128 + signal when it was killed, or -errno.
 */
int bu_reap(pid_t pid);

/* bu_kill_reap - SIGKILL the child and reap it; for failure paths. */
void bu_kill_reap(pid_t pid);

/*
 * bu_child_gone - true when the child has exited (it is then reaped, and
 * *status holds what bu_reap would return). Never blocks.
 */
bool bu_child_gone(pid_t pid, int *status);

/* bu_parent_gone - in a child: true when the parent that forked it died. */
bool bu_parent_gone(pid_t parent);

/*
 * Markdown table with fixed column widths: the first column left-aligned,
 * the rest right-aligned. widths[] holds ncols entries.
 */
struct bu_table {
	FILE *f;
	int ncols;
	const int *widths;
};

void bu_table_header(const struct bu_table *t, const char *const *titles);
void bu_table_row(const struct bu_table *t, const char *const *cells);

/*
 * bu_fmt - format v with fmt into buf, or "-" when v is NaN.
 * Returns buf, so it can sit inside a cell array.
 */
const char *bu_fmt(char *buf, size_t len, const char *fmt, double v);

/* A JSON object written key by key, with nested objects. */
struct bu_json {
	FILE *f;
	int count; /* keys written at the current level */
	int depth; /* 0: the top-level object */
};

void bu_json_begin(struct bu_json *j, FILE *f);
void bu_json_str(struct bu_json *j, const char *key, const char *val);
/* Numbers; NaN and infinities become null, which JSON can represent. */
void bu_json_num(struct bu_json *j, const char *key, double val);
void bu_json_int(struct bu_json *j, const char *key, long long val);
void bu_json_bool(struct bu_json *j, const char *key, bool val);
void bu_json_end(struct bu_json *j);

/*
 * bu_json_obj_begin - open a nested object under key; the following keys
 * go into it until the matching bu_json_obj_end.
 */
void bu_json_obj_begin(struct bu_json *j, const char *key);
void bu_json_obj_end(struct bu_json *j);

/* ---- other processes, read from /proc ------------------------------ */

/*
 * bu_proc_status_kib - a "kB" field of /proc/PID/status, e.g. "VmRSS";
 * pid 0 means this process. Returns the value or -errno.
 */
long bu_proc_status_kib(pid_t pid, const char *field);

/*
 * bu_proc_ctx_switches - voluntary plus involuntary context switches of
 * every thread of process pid (/proc/PID/task/TID/status), or -errno.
 * Threads that already exited are not counted.
 */
int64_t bu_proc_ctx_switches(pid_t pid);

/* bu_proc_cpu_ns - user plus system CPU time of process pid, or -errno. */
int64_t bu_proc_cpu_ns(pid_t pid);

/* bu_self_cpu_ns - user plus system CPU time of this process, all threads. */
int64_t bu_self_cpu_ns(void);

/*
 * A process and the helpers it forked, counted together: this process
 * (getrusage, every thread) plus the n processes in pids. A pid that
 * cannot be read counts 0, so take the before and after readings over
 * the same set of live processes.
 */
int64_t bu_group_ctx_switches(const pid_t *pids, size_t n);
int64_t bu_group_cpu_ns(const pid_t *pids, size_t n);

/* ---- floors: two processes handing one shared word back and forth ---- */

enum bu_pp_mode {
	BU_PP_FUTEX = 0, /* FUTEX_WAKE / FUTEX_WAIT each way, no spinning */
	BU_PP_SPIN = 1,	 /* busy polling on both sides */
};

/*
 * bu_pingpong - round trips between this process and a forked child over
 * one word of shared memory: warmup untimed ones, then roundtrips timed
 * ones, each recorded in lat. *csw (may be NULL) receives both processes'
 * context switches over the timed part. A dead or stalled peer ends the
 * run with an error, never a hang. Returns 0 or -errno; the child is
 * reaped on every path.
 */
int bu_pingpong(enum bu_pp_mode mode, uint64_t warmup, uint64_t roundtrips,
		struct bu_samples *lat, int64_t *csw);

#endif /* PP_BENCH_UTIL_H */
