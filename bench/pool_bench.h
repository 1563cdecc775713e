/*
 * pool_bench: the pool measured against its peers on one machine, in one
 * run. Shared by pool_bench.c (options, the run, the peers), pool_engine.c
 * (the pool's own sections) and pool_report.c (table and JSON output).
 */
#ifndef PP_BENCH_POOL_BENCH_H
#define PP_BENCH_POOL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/bench_util.h"
#include "bench/peers/peer.h"
#include "process_pool.h"

/* Sections, each selectable with --only. */
enum pb_section {
	PB_BATCHED,
	PB_UNBATCHED,
	PB_SYNC,
	PB_RESOURCES,
	PB_PAYLOAD,
	PB_SCALE,
	PB_CONTENDED,
	PB_RESTART,
	PB_PIPE,
	PB_ZMQ,
	PB_PYTHON,
	PB_FLOOR,
	PB_OBSERVE,
	PB_MAP,
	PB_ISOLATION,
	PB_NSECTIONS,
};

#define PB_NPAYLOADS 5

/* The contended section: sync callers sharing a pool of 2 workers. */
#define PB_CONTENDED_WORKERS 2
#define PB_CONTENDED_CALLERS 8 /* sync callers alone */
#define PB_MIXED_CALLERS     4 /* sync callers beside the async tasks */

struct pb_opts {
	int workers;	     /* every pool's worker count */
	uint64_t tasks;	     /* tasks per throughput stream */
	uint64_t map_tasks;  /* tasks per pool_map stream */
	int64_t min_ns;	     /* streams repeat until this much time passed */
	uint64_t batch;	     /* descriptors per pool_submit_batch */
	uint64_t roundtrips; /* timed sync round trips */
	uint64_t warmup;     /* untimed round trips before them */
	int idle_s;	     /* idle CPU measurement */
	uint64_t payload_iters[PB_NPAYLOADS];
	int64_t memcpy_ns; /* time spent on each memcpy figure */
	bool quick;
	bool json;
	unsigned sections; /* 1 << enum pb_section */
	const char *argv0;
};

/* A payload size's round trip through the pool, beside memcpy. */
struct pb_payload {
	size_t size;
	const char *label; /* "1 KiB" */
	const char *key;   /* "1kib" */
	uint64_t iters;
	double pool_gbps; /* size x iters / time of the sync calls */
	double memcpy_gbps;
	struct bu_pct lat; /* round trip, us */
	/* The same echo with the input written by the caller straight into
	 * a pool_input_alloc buffer: alloc + write + round trip. */
	double inplace_gbps;
	double inplace_p50_us;
	/* Peak RSS (VmHWM) measured over this size's round trips, for the
	 * largest size only (-1: not measured): the parent's, and the
	 * largest of the workers'. */
	long parent_peak_kib;
	long worker_peak_kib;
};

/* The observe section (pool_observe.c): [0] untraced, [1] with a no-op
 * span hook; scrapes [0] Prometheus, [1] JSON, [2] pool_get_workers. */
struct pb_observe {
	bool ran;
	uint64_t tasks, trips;
	double batched_tps[2];
	double sync_us[2];
	int scrape_workers;
	int scrape_bytes[2];
	double scrape_ms[3], scrape_p90_ms[3];
};

/* The restart section (pool_restart.c). */
#define PB_RESTART_TICKS      64
#define PB_HEALTH_INTERVAL_MS 100
#define PB_HEALTH_TIMEOUT_MS  100

struct pb_restart_run {
	double total_ms;	/* pool_restart(..., POOL_RESTART_WAIT) */
	double base_per_100ms;	/* tasks served per interval before it */
	double min_per_100ms;	/* the fewest in an interval it overlapped */
	int min_ready;		/* pool_stats_t.restart_min_ready */
	uint64_t per_100ms[PB_RESTART_TICKS];
	int n, first, last;	/* intervals; those the restart overlapped */
};

struct pb_restart {
	struct pb_restart_run spare, full; /* max_workers 5, and 4 */
	double unresponsive_ms; /* SIGSTOP of an idle worker to its
				 * replacement */
};

struct pb_results {
	struct peer_result pool; /* our row, in the peers' terms */
	double unbatched_csw;
	double unbatched_cpu_us;
	struct pb_payload payload[PB_NPAYLOADS];
	long parent_base_rss_kib; /* before the first pool was made */
	long parent_started_rss_kib; /* that pool started, no task yet */
	long parent_rss_kib;
	long worker_rss_kib;	   /* the largest worker */
	long worker_rss_each_kib[8]; /* each worker's, the first 8 */
	int n_worker_rss;
	double idle_cpu_percent;   /* parent + workers, of one CPU */
	double idle_wakeups_per_s; /* their context switches while idle */
	double scale_up_4_ms;	   /* create + start of a 4-worker pool until
				    * 4 tasks ran at once on 4 workers */
	double dyn_scale_up_4_ms;  /* dynamic scaling from 1 to 5 workers */
	double stop_4_ms;	   /* pool_destroy of that 4-worker pool */
	/* The cost of confinement: the same measures, unconfined
	 * (sandbox_off, no cgroups), in the same run. */
	double scale_up_4_unconfined_ms;
	struct bu_pct sync_unconfined; /* sync no-op round trip, us */
	/* Spawn modes: create + start of a 4-worker pool until 4 tasks of
	 * 20 ms ran on 4 distinct workers, less the 20 ms. */
	double spawn_4_fork_ms;
	double spawn_4_cleanroom_ms;
	/* contended: PB_CONTENDED_CALLERS sync callers on the pool and on
	 * the peers that have an equivalent; then PB_MIXED_CALLERS sync
	 * callers while one thread submits async tasks one at a time, and
	 * those tasks' queue_us, also on the same pool with no caller. */
	struct peer_contended contended, pipe_contended, python_contended;
	struct peer_contended mixed;	 /* the sync callers beside them */
	uint64_t async_tasks;		 /* async tasks per run */
	struct bu_pct async_queue_alone; /* queue_us, us */
	struct bu_pct async_queue_mixed;
	struct peer_result pipe, zmq, python, futex, spin;
	struct pb_observe observe;
	struct pb_restart restart;
	/* map: pool_map of no-op tasks (pool_map_bench.c) */
	uint64_t map_tasks;
	double map_tps, map_csw, map_cpu_us;
	bool failed[PB_NSECTIONS];
};

static inline bool pb_selected(const struct pb_opts *o, enum pb_section s)
{
	return o->sections & (1u << s);
}

/* pool_engine.c: the pool's sections; each returns 0 or -errno. */
/* pool_engine.c: the no-op task every section times. */
int pb_noop_task(void *in, size_t in_size, void **out, size_t *out_size,
		 void *user_data);
int pb_engine_noop(const struct pb_opts *o, struct pb_results *res);
int pb_engine_payload(const struct pb_opts *o, struct pb_results *res);
int pb_engine_scale(const struct pb_opts *o, struct pb_results *res);
/* pool_observe.c: the cost of tracing and of metrics scrapes. */
int pb_engine_observe(const struct pb_opts *o, struct pb_results *res);
/* pool_restart.c: the restart section, its text and its JSON. */
int pb_engine_restart(const struct pb_opts *o, struct pb_results *res);
void pb_print_restart(const struct pb_results *res);
void pb_json_restart(struct bu_json *j, const struct pb_results *res);
/* pool_map_bench.c: the map section. */
int pb_engine_map(const struct pb_opts *o, struct pb_results *res);
/* pool_engine.c: ms from pool_create until 4 workers (spawn_mode, with
 * or without the zygote) have each run a task. */
int pb_spawn_4(int mode, int zygote, double *ms);
/* pool_isolation.c: a fresh process per task; prints its own table. */
int pb_engine_isolation(const struct pb_opts *o, struct pb_results *res);
/* pool_contended.c: the pool's part of the contended section. */
int pb_engine_contended(const struct pb_opts *o, struct pb_results *res);

/* Async tasks per queue-wait run: a fifth of the round trips, >= 100. */
static inline uint64_t pb_async_tasks(const struct pb_opts *o)
{
	return o->roundtrips / 5 < 100 ? 100 : o->roundtrips / 5;
}
/* pool_create + pool_start, or NULL (the reason printed). */
process_pool_t *pb_start_pool(const pool_config_t *cfg);
/* 0 for a completed task; else -EPROTO, the outcome printed. */
int pb_check_result(const task_result_t *r, const char *what);
/* Untimed payload round trips before the timed ones, for size bytes. */
uint64_t pb_payload_warmup(size_t size);

/* pool_report.c */
void pb_results_init(struct pb_results *res);
void pb_print_settings(const struct pb_opts *o);
void pb_print_text(const struct pb_opts *o, const struct pb_results *res);
void pb_print_json(const struct pb_opts *o, const struct bu_machine *m,
		   const struct pb_results *res, bool ok);

/* pool_bench.c: the options a peer (or peer_time_stream) takes. */
void pb_peer_opts(const struct pb_opts *o, struct peer_opts *po);

/* pool_bench.c: give up (exit) if the current step outlives seconds. */
void pb_watchdog_arm(const char *what, int seconds);

#endif /* PP_BENCH_POOL_BENCH_H */
