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

#endif /* PP_BENCH_PEER_H */
