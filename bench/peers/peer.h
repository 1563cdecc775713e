/*
 * What pool_bench compares the pool with: other ways to run a no-op task
 * in N forked workers, measured the same way on the same machine.
 *
 * Every peer forks or spawns its own processes, reaps all of them on every
 * path (they also die with the benchmark through PR_SET_PDEATHSIG), and
 * reports what it measured in a struct peer_result. Figures that do not
 * apply to a peer stay NaN; a peer that could not run says why in note.
 */
#ifndef PP_BENCH_PEER_H
#define PP_BENCH_PEER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench/bench_util.h"

struct peer_opts {
	int workers;	     /* forked workers */
	uint64_t tasks;	     /* tasks per throughput stream */
	int64_t min_ns;	     /* streams repeat until this much time passed */
	uint64_t roundtrips; /* timed sync round trips */
	uint64_t warmup;     /* untimed round trips before them */
	bool quick;
	const char *argv0; /* the driver's argv[0], to find data files */
};

struct peer_result {
	bool ran;	      /* figures are valid */
	char note[160];	      /* why it did not run, or how it ran */
	double batched_tps;   /* pipelined / batched tasks per second */
	double unbatched_tps; /* one submit per task, waited later */
	struct bu_pct sync;   /* one client, one task in flight, us */
	double batched_csw;   /* context switches per task, all processes */
	double batched_cpu_us; /* CPU time per task, all processes, us */
	double sync_csw;
};

/* peer_result_init - nothing measured yet: every figure NaN. */
void peer_result_init(struct peer_result *r);

/* peer_fail - mark r as not run, with a printf-style reason. */
void peer_fail(struct peer_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * peer_run_sync - time o->roundtrips calls of once(arg, i), after
 * o->warmup untimed ones, into r->sync and r->sync_csw. pids are the
 * worker processes whose context switches count with this one's.
 * Returns 0 or the first error once() returned.
 */
int peer_run_sync(const struct peer_opts *o, struct peer_result *r,
		  int (*once)(void *arg, uint64_t i), void *arg,
		  const pid_t *pids, int npids);

/* A stream of n tasks through a pool: 0 once all are back, or -errno. */
typedef int (*peer_stream_fn)(void *arg, uint64_t n);

/*
 * peer_time_stream - warm up with one stream of o->tasks / 10 + 1 tasks,
 * then run streams of o->tasks until o->min_ns have passed (at least
 * one): tasks per second into *tps, and context switches and CPU
 * microseconds per task of this process plus pids into *csw and *cpu_us.
 * Returns 0 or the stream's error.
 */
int peer_time_stream(const struct peer_opts *o, peer_stream_fn stream,
		     void *arg, const pid_t *pids, const int *npids,
		     double *tps, double *csw, double *cpu_us);

/*
 * Several threads making synchronous round trips on one pool at once:
 * what the "contended" section reports for the pool and each peer.
 */
struct peer_contended {
	bool ran;	       /* figures are valid */
	char note[160];	       /* why it did not run, or how it ran */
	int callers;	       /* threads, one round trip in flight each */
	int workers;	       /* the pool's workers */
	struct bu_pct lat;     /* every caller's round trips, us */
	double tps;	       /* round trips per second, all callers */
	uint64_t total;	       /* timed round trips, all callers */
	uint64_t fewest, most; /* timed round trips of one caller */
};

/* peer_contended_init - nothing measured yet; note says why. */
void peer_contended_init(struct peer_contended *c, const char *note);

/* peer_fail_contended - mark c as not run, with a printf-style reason. */
void peer_fail_contended(struct peer_contended *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define PEER_MAX_CALLERS 16

/* One caller thread of struct peer_callers; private to peer.c. */
struct peer_caller {
	struct peer_callers *set;
	pthread_t tid;
	uint64_t first_id; /* ids first_id, first_id + 1, ... */
	struct bu_samples lat;
	uint64_t done; /* timed round trips */
	int err;
};

/*
 * Caller threads calling once(arg, id) in a loop, each with its own ids:
 * warmup untimed calls each, then, once every thread is warm, timed ones.
 * With stop_at_total they stop once total timed calls have been made,
 * all threads together (so every timed call ran with all the callers
 * in, and a caller that gets fewer turns shows as fewer calls); without
 * it they run until peer_callers_end, each keeping its first total. A
 * call that fails stops every thread. once must be thread-safe.
 */
struct peer_callers {
	int n;
	bool stop_at_total;
	uint64_t warmup, total;
	int (*once)(void *arg, uint64_t id);
	void *arg;
	_Atomic int ready; /* threads through their warm-up */
	_Atomic bool go;   /* the timed part has begun */
	_Atomic bool stop;
	_Atomic uint64_t started; /* timed calls begun, all threads */
	int64_t t0;		  /* when go was set */
	struct peer_caller c[PEER_MAX_CALLERS];
};

/*
 * peer_callers_init - n callers of once(arg, id) that make o->roundtrips
 * timed round trips in all (stop_at_total), after o->warmup untimed ones
 * split between them (at least 10 each).
 */
void peer_callers_init(struct peer_callers *s, const struct peer_opts *o, int n,
		       int (*once)(void *arg, uint64_t id), void *arg);

/*
 * peer_callers_start - start s->n (1..PEER_MAX_CALLERS) threads as above
 * and return once their timed part has begun, filled by
 * peer_callers_init (and then changed as needed; total > 0). Returns 0, or
 * -errno when the threads could not run (none is left running then).
 */
int peer_callers_start(struct peer_callers *s);

/*
 * peer_callers_end - stop the threads (at once, or with stop_at_total
 * once the total is made), join them and fill out's
 * callers, lat, tps, total, fewest and most (workers, ran and note are
 * left to the caller). Returns 0 or the first error a call returned.
 */
int peer_callers_end(struct peer_callers *s, struct peer_contended *out);

/* peer_reap_all - SIGKILL and reap the n children in pids (> 0 only). */
void peer_reap_all(pid_t *pids, int n);

/*
 * Each peer: fill r. Returns 0, or -errno when it failed (r->note says
 * how); a peer that cannot run here (python3 missing) returns 0 with
 * r->ran false.
 */
int peer_pipe_run(const struct peer_opts *o, struct peer_result *r);
int peer_zmq_run(const struct peer_opts *o, struct peer_result *r);
int peer_python_run(const struct peer_opts *o, struct peer_result *r);

/*
 * peer_python_per_task - Python's process per task,
 * ProcessPoolExecutor(max_tasks_per_child=1) on o->workers: unbatched
 * (submit then wait) tasks/s and sync round trips into r, nothing else.
 * Returns as the peers above do.
 */
int peer_python_per_task(const struct peer_opts *o, struct peer_result *r);

/*
 * The contended figures of the peers that have an equivalent: callers
 * threads making sync round trips on one pool of o->workers workers.
 * Returns 0, or -errno when it failed (out->note says how); a missing
 * python3 returns 0 with out->ran false.
 */
int peer_pipe_contended(const struct peer_opts *o, int callers,
			struct peer_contended *out);
int peer_python_contended(const struct peer_opts *o, int callers,
			  struct peer_contended *out);

#endif /* PP_BENCH_PEER_H */
