/*
 * The isolation section: what a fresh process per task costs, with and
 * without the zygote and spare workers.
 *
 *   respawn   time from a worker's end (its task returning, in a pool of
 *             one worker in POOL_ISOLATE_TASK, so each task's worker is
 *             discarded) to the next task starting in its replacement,
 *             read from CLOCK_MONOTONIC stamps both tasks write to a
 *             shared page.
 *             "ready": each task is submitted once the pool's spares are
 *             all up again (pool_stats_t.spare_workers) and 20 ms more
 *             for them to reach their loop: a replacement that was ready
 *             when the worker went (what a crash or a task at a moderate
 *             rate sees). "b2b": tasks back to back, so each one waits
 *             for whatever replacement the last one left (spares are used
 *             up faster than they are made): kill, reap, spawn,
 *             confinement and dispatch; with a small host and with the
 *             host grown by 1 GiB (touched) after pool_start.
 *   tput      no-op tasks/s through pool_submit_batch on 2 workers.
 *   sync      pool_submit_sync no-op round trips, p50 and p99.
 * Each beside max_tasks_per_worker = 1 (max_in_flight = 1, so that no
 * task is pipelined behind another on a worker) without a zygote, and
 * Python's ProcessPoolExecutor(max_tasks_per_child=1). Clean-room pools
 * (a fresh exec per worker, or a clone of a clean-room zygote) get the
 * tput and sync rows only: their workers share no page with the bench
 * to stamp, and without a zygote run a tenth of the tasks.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bench/pool_bench.h"

struct stamps {
	int64_t start_ns;
	int64_t end_ns;
};

static struct stamps *stamps; /* shared with the workers */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int stamp_task(void *in, size_t in_size, void **out, size_t *out_size,
		      void *ud)
{
	(void)in, (void)in_size, (void)out, (void)out_size, (void)ud;
	stamps->start_ns = mono_ns();
	stamps->end_ns = mono_ns();
	return 0;
}

/* The ways of a fresh process per task compared here. */
enum iso_way {
	WAY_ZYGOTE_SPARES,
	WAY_ZYGOTE,
	WAY_SPARES,
	WAY_TASK,
	WAY_RECYCLE,
	WAY_CR_ZYGOTE_SPARES, /* clean-room: no respawn rows (no shared page) */
	WAY_CR_SPARES,
	NWAYS
};

static const char *const way_names[NWAYS] = {
    "ISOLATE_TASK, zygote, spares", "ISOLATE_TASK, zygote",
    "ISOLATE_TASK, spares",	    "ISOLATE_TASK",
    "max_tasks_per_worker=1",	    "clean-room, zygote, spares",
    "clean-room, spares",
};

static int has_spares(enum iso_way way)
{
	return way == WAY_ZYGOTE_SPARES || way == WAY_SPARES ||
	       way == WAY_CR_ZYGOTE_SPARES || way == WAY_CR_SPARES;
}

static int is_cleanroom(enum iso_way way)
{
	return way == WAY_CR_ZYGOTE_SPARES || way == WAY_CR_SPARES;
}

/* Spares: the default for POOL_ISOLATE_TASK (one per worker). */
static void config_for(enum iso_way way, int workers, pool_config_t *c)
{
	memset(c, 0, sizeof(*c));
	c->worker_count = workers;
	c->max_in_flight = 1;
	c->health_check_interval_ms = -1;
	snprintf(c->pool_name, sizeof(c->pool_name), "bench-iso");
	if (way == WAY_RECYCLE) {
		c->max_tasks_per_worker = 1;
		return;
	}
	c->isolation = POOL_ISOLATE_TASK;
	c->spawn_mode =
	    is_cleanroom(way) ? POOL_SPAWN_CLEANROOM : POOL_SPAWN_FORK;
	/* A per-task fork pool has a zygote by default: -1 for none. */
	c->zygote = way == WAY_ZYGOTE_SPARES || way == WAY_ZYGOTE ||
			    way == WAY_CR_ZYGOTE_SPARES
			? 1
			: -1;
	c->spare_workers = has_spares(way) ? 0 : -1;
}

/* Until all of p's spares are up, and 20 ms for them to start. */
static int spares_up(process_pool_t *p, int want)
{
	pool_stats_t st;
	int i;

	for (i = 0; i < 10000; i++) {
		if (pool_get_stats(p, &st))
			return -EINVAL;
		if (st.spare_workers >= want) {
			struct timespec ts = {0, 20 * 1000000};

			nanosleep(&ts, NULL);
			return 0;
		}
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static int sync_noop(process_pool_t *p, task_func_t f, task_result_t *r)
{
	int err = pool_submit_sync(p, f, NULL, 0, NULL, TASK_PRIORITY_NORMAL,
				   10000, r);

	if (err)
		return err;
	return pb_check_result(r, "isolation") ? -EPROTO : 0;
}

/* Respawn times (us) of n tasks in a row on one worker; grow: bytes the
 * host takes and touches after pool_start; ready: each task waits for
 * the spares first. */
static int respawn(enum iso_way way, uint64_t n, size_t grow, int ready,
		   struct bu_pct *out)
{
	struct bu_samples s;
	pool_config_t c;
	process_pool_t *p;
	task_result_t r;
	void *mem = NULL;
	int64_t prev_end = 0;
	uint64_t i;
	int err;

	config_for(way, 1, &c);
	p = pb_start_pool(&c);
	if (!p)
		return -ESRCH;
	if (grow) {
		mem = mmap(NULL, grow, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) {
			pool_destroy(p);
			return -ENOMEM;
		}
		memset(mem, 1, grow);
	}
	err = bu_samples_init(&s, n);
	for (i = 0; !err && i <= n; i++) {
		int64_t submit_ns;

		if (ready)
			err = spares_up(p, 1);
		submit_ns = mono_ns();
		if (!err)
			err = sync_noop(p, stamp_task, &r);
		/* Ready: the replacement was up before the submit, so the
		 * wait is the submit's to the task's start in it. */
		if (!err && i)
			bu_samples_add(&s, stamps->start_ns -
					       (ready ? submit_ns : prev_end));
		prev_end = stamps->end_ns;
	}
	if (!err)
		*out = bu_samples_pct(&s);
	bu_samples_free(&s);
	pool_destroy(p);
	if (mem)
		munmap(mem, grow);
	return err;
}

static int throughput(enum iso_way way, uint64_t n, double *per_s)
{
	task_desc_t *d = calloc((size_t)n, sizeof(*d));
	task_future_t **f;
	pool_config_t c;
	process_pool_t *p;
	task_result_t r;
	int64_t t0;
	uint64_t i;
	int err = 0;

	if (!d)
		return -ENOMEM;
	config_for(way, 2, &c);
	p = pb_start_pool(&c);
	if (!p) {
		free(d);
		return -ESRCH;
	}
	for (i = 0; i < n; i++) {
		d[i].task_func = pb_noop_task;
		d[i].priority = TASK_PRIORITY_NORMAL;
	}
	t0 = bu_now_ns();
	f = pool_submit_batch(p, d, (size_t)n);
	for (i = 0; f && i < n; i++) {
		if (!f[i] || pool_future_wait(f[i], &r, 60000) ||
		    pb_check_result(&r, "isolation"))
			err = -EPROTO;
		pool_future_destroy(f[i]);
	}
	if (!f)
		err = -errno;
	*per_s = (double)n * 1e9 / (double)(bu_now_ns() - t0);
	free(f);
	free(d);
	pool_destroy(p);
	return err;
}

static int sync_rtt(enum iso_way way, uint64_t n, struct bu_pct *out)
{
	struct bu_samples s;
	pool_config_t c;
	process_pool_t *p;
	task_result_t r;
	uint64_t i;
	int err;

	config_for(way, 2, &c);
	p = pb_start_pool(&c);
	if (!p)
		return -ESRCH;
	err = bu_samples_init(&s, n);
	for (i = 0; !err && i < n + 10; i++) {
		int64_t t0 = bu_now_ns();

		err = sync_noop(p, pb_noop_task, &r);
		if (!err && i >= 10) /* the first ones start the pool */
			bu_samples_add(&s, bu_now_ns() - t0);
	}
	if (!err)
		*out = bu_samples_pct(&s);
	bu_samples_free(&s);
	pool_destroy(p);
	return err;
}

int pb_engine_isolation(const struct pb_opts *o, struct pb_results *res)
{
	uint64_t n_respawn = o->quick ? 200 : 2000;
	uint64_t n_ready = o->quick ? 100 : 500;
	uint64_t n_tput = o->quick ? 2000 : 20000;
	uint64_t n_sync = o->quick ? 500 : 5000;
	struct bu_pct ready[NWAYS], small[NWAYS], big[NWAYS], rtt[NWAYS];
	double tput[NWAYS], start[3], start4 = 0, cr_start[3], cr_start4 = 0;
	struct peer_result py;
	struct peer_opts po;
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
	int w, err = 0;

	(void)res;
	stamps = bu_shared_map(sizeof(*stamps));
	if (!stamps)
		return -ENOMEM;
	for (w = 0; w < NWAYS && !err; w++) {
		/* A clean-room worker without a zygote is an exec each:
		 * a tenth of the tasks. */
		uint64_t k = is_cleanroom((enum iso_way)w) ? 10 : 1;

		pb_watchdog_arm("isolation", 600);
		memset(&ready[w], 0, sizeof(ready[w]));
		memset(&small[w], 0, sizeof(small[w]));
		memset(&big[w], 0, sizeof(big[w]));
		if (has_spares((enum iso_way)w) && k == 1)
			err =
			    respawn((enum iso_way)w, n_ready, 0, 1, &ready[w]);
		if (!err && k == 1)
			err = respawn((enum iso_way)w, n_respawn, 0, 0,
				      &small[w]);
		if (!err && k == 1)
			err = respawn((enum iso_way)w, n_respawn / 4,
				      (size_t)1 << 30, 0, &big[w]);
		if (!err)
			err = throughput((enum iso_way)w, n_tput / k, &tput[w]);
		if (!err)
			err = sync_rtt((enum iso_way)w, n_sync / k, &rtt[w]);
	}
	/* The median of three, as the scale section's figures are. */
	for (w = 0; w < 3 && !err; w++)
		err = pb_spawn_4(POOL_SPAWN_FORK, 1, &start[w]);
	for (w = 0; w < 3 && !err; w++)
		err = pb_spawn_4(POOL_SPAWN_CLEANROOM, 1, &cr_start[w]);
	if (!err) {
		start4 = start[0] + start[1] + start[2] -
			 fmin(start[0], fmin(start[1], start[2])) -
			 fmax(start[0], fmax(start[1], start[2]));
		cr_start4 = cr_start[0] + cr_start[1] + cr_start[2] -
			    fmin(cr_start[0], fmin(cr_start[1], cr_start[2])) -
			    fmax(cr_start[0], fmax(cr_start[1], cr_start[2]));
	}
	bu_shared_unmap(stamps, sizeof(*stamps));
	if (err) {
		fprintf(stderr, "pool_bench: isolation: %s\n", strerror(-err));
		return err;
	}
	pb_peer_opts(o, &po);
	po.workers = 2;
	pb_watchdog_arm("isolation: python peer", 600);
	peer_python_per_task(&po, &py);
	printf("\nIsolation: a fresh process per task (2 workers; respawn on "
	       "1; us)\n");
	printf("%-30s %8s %8s %8s %8s %9s %9s %8s %8s\n", "", "ready50",
	       "ready99", "b2b p50", "b2b p99", "1GiB b2b", "tasks/s",
	       "sync p50", "sync p99");
	for (w = 0; w < NWAYS; w++) {
		int cr = is_cleanroom((enum iso_way)w);
		int sp = has_spares((enum iso_way)w) && !cr;

		snprintf(a, sizeof(a), sp ? "%.0f" : "-", ready[w].p50);
		snprintf(b, sizeof(b), sp ? "%.0f" : "-", ready[w].p99);
		snprintf(c, sizeof(c), cr ? "-" : "%.0f", small[w].p50);
		snprintf(d, sizeof(d), cr ? "-" : "%.0f", small[w].p99);
		snprintf(e, sizeof(e), cr ? "-" : "%.0f", big[w].p50);
		snprintf(f, sizeof(f), "%.0f", tput[w]);
		snprintf(g, sizeof(g), "%.0f / %.0f", rtt[w].p50, rtt[w].p99);
		printf("%-30s %8s %8s %8s %8s %9s %9s %17s\n", way_names[w], a,
		       b, c, d, e, f, g);
	}
	if (py.ran)
		printf("%-30s %8s %8s %8s %8s %9s %9.1f %8.0f %8.0f\n",
		       "Python max_tasks_per_child=1", "-", "-", "-", "-", "-",
		       py.unbatched_tps, py.sync.p50, py.sync.p99);
	printf("  Python: %s\n", py.note);
	printf("  4 confined workers started with the zygote: fork-mode "
	       "%.2f ms, clean-room %.2f ms, median of 3 (the scale section "
	       "has both without it)\n",
	       start4, cr_start4);
	return 0;
}
