/*
 * The isolation section: what a fresh process per task costs, with and
 * without the zygote.
 *
 *   respawn   time from a worker's end (its task returning, in a pool of
 *             one worker in POOL_ISOLATE_TASK, so each task's worker is
 *             discarded) to the next task starting in its replacement,
 *             read from CLOCK_MONOTONIC stamps both tasks write to a
 *             shared page: kill, reap, spawn, confinement and dispatch;
 *             with a small host and with the host grown by 1 GiB
 *             (touched) after pool_start.
 *   tput      no-op tasks/s through pool_submit_batch on 2 workers.
 *   sync      pool_submit_sync no-op round trips, p50 and p99.
 * Each beside max_tasks_per_worker = 1 (max_in_flight = 1, so that no
 * task is pipelined behind another on a worker) without a zygote.
 */
#include <errno.h>
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

/* The three ways of a fresh process per task compared here. */
enum iso_way { WAY_ZYGOTE, WAY_TASK, WAY_RECYCLE, NWAYS };

static const char *const way_names[NWAYS] = {
    "ISOLATE_TASK, zygote",
    "ISOLATE_TASK, no zygote",
    "max_tasks_per_worker=1",
};

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
	c->zygote = way == WAY_ZYGOTE;
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
 * host takes and touches after pool_start. */
static int respawn(enum iso_way way, uint64_t n, size_t grow,
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
		err = sync_noop(p, stamp_task, &r);
		if (!err && i)
			bu_samples_add(&s, stamps->start_ns - prev_end);
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

static void us(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.0f", v);
}

int pb_engine_isolation(const struct pb_opts *o, struct pb_results *res)
{
	uint64_t n_respawn = o->quick ? 200 : 2000;
	uint64_t n_tput = o->quick ? 2000 : 20000;
	uint64_t n_sync = o->quick ? 500 : 5000;
	struct bu_pct small[NWAYS], big[NWAYS], rtt[NWAYS];
	double tput[NWAYS];
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
	int w, err = 0;

	(void)res;
	stamps = bu_shared_map(sizeof(*stamps));
	if (!stamps)
		return -ENOMEM;
	for (w = 0; w < NWAYS && !err; w++) {
		pb_watchdog_arm("isolation", 600);
		err = respawn((enum iso_way)w, n_respawn, 0, &small[w]);
		if (!err)
			err = respawn((enum iso_way)w, n_respawn / 4,
				      (size_t)1 << 30, &big[w]);
		if (!err)
			err = throughput((enum iso_way)w, n_tput, &tput[w]);
		if (!err)
			err = sync_rtt((enum iso_way)w, n_sync, &rtt[w]);
	}
	bu_shared_unmap(stamps, sizeof(*stamps));
	if (err) {
		fprintf(stderr, "pool_bench: isolation: %s\n", strerror(-err));
		return err;
	}
	printf("\nIsolation: a fresh process per task (2 workers; respawn on "
	       "1; us)\n");
	printf("%-26s %9s %9s %9s %9s %10s %8s %8s\n", "", "resp p50",
	       "resp p99", "1GiB p50", "1GiB p99", "tasks/s", "sync p50",
	       "sync p99");
	for (w = 0; w < NWAYS; w++) {
		us(a, sizeof(a), small[w].p50);
		us(b, sizeof(b), small[w].p99);
		us(c, sizeof(c), big[w].p50);
		us(d, sizeof(d), big[w].p99);
		snprintf(e, sizeof(e), "%.0f", tput[w]);
		us(f, sizeof(f), rtt[w].p50);
		us(g, sizeof(g), rtt[w].p99);
		printf("%-26s %9s %9s %9s %9s %10s %8s %8s\n", way_names[w], a,
		       b, c, d, e, f, g);
	}
	return 0;
}
