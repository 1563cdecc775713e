/*
 * pool_bench's "observe" section: what watching the pool costs.
 *
 * Tracing: the same no-op tasks on two pools of o->workers workers, one
 * with no span hook and one with a hook that does nothing, rounds
 * alternating between them, the best round of each kept: batched
 * throughput and the mean sync round trip, and the difference per task.
 * Scrapes: pool_metrics_write of a 64-worker pool to /dev/null, each
 * format, and pool_get_workers alone (it reads /proc for every worker).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/pool_bench.h"

#define SCRAPE_WORKERS 64
#define ROUNDS	       3

static int noop(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	(void)in;
	(void)n;
	(void)out;
	(void)out_n;
	(void)ud;
	return 0;
}

static void noop_hook(const pool_span_t *span, void *arg)
{
	(void)span;
	(void)arg;
}

static process_pool_t *start(int workers, int traced)
{
	pool_config_t c;
	process_pool_t *p;

	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.max_workers = workers;
	c.queue_size = 1 << 20;
	p = pool_create(&c);
	if (!p)
		return NULL;
	if ((traced && pool_set_span_hook(p, noop_hook, NULL)) ||
	    pool_start(p)) {
		pool_destroy(p);
		return NULL;
	}
	return p;
}

/* n no-op tasks in batches of 256, each waited; tasks per second. */
static double batched(process_pool_t *p, uint64_t n)
{
	task_desc_t d[256];
	uint64_t done = 0;
	int64_t t0 = bu_now_ns();
	size_t i, k;

	memset(d, 0, sizeof(d));
	for (i = 0; i < 256; i++) {
		d[i].task_func = noop;
		d[i].priority = TASK_PRIORITY_NORMAL;
	}
	while (done < n) {
		task_future_t **f;

		k = n - done < 256 ? (size_t)(n - done) : 256;
		f = pool_submit_batch(p, d, k);
		if (!f)
			return -1;
		for (i = 0; i < k; i++) {
			task_result_t r;

			if (!f[i] || pool_future_wait(f[i], &r, -1) ||
			    r.status != TASK_STATUS_COMPLETED) {
				free(f);
				return -1;
			}
			pool_future_destroy(f[i]);
		}
		free(f);
		done += k;
	}
	return (double)n / ((double)(bu_now_ns() - t0) / 1e9);
}

/* n sync round trips; the mean, us. */
static double sync_mean_us(process_pool_t *p, uint64_t n)
{
	int64_t t0 = bu_now_ns();
	uint64_t i;

	for (i = 0; i < n; i++) {
		task_result_t r;

		if (pool_submit_sync(p, noop, NULL, 0, NULL,
				     TASK_PRIORITY_NORMAL, 0, &r) ||
		    r.status != TASK_STATUS_COMPLETED)
			return -1;
	}
	return (double)(bu_now_ns() - t0) / 1e3 / (double)n;
}

static int tracing_cost(const struct pb_opts *o, struct pb_observe *ob)
{
	process_pool_t *pool[2];
	uint64_t tasks = o->tasks / 4 ? o->tasks / 4 : 1000,
		 trips = o->roundtrips / 5 ? o->roundtrips / 5 : 100;
	int r, k, err = 0;

	pool[0] = start(o->workers, 0);
	pool[1] = start(o->workers, 1);
	if (!pool[0] || !pool[1]) {
		err = -ENOMEM;
		goto out;
	}
	for (k = 0; k < 2; k++) /* warm both */
		if (batched(pool[k], 2000) < 0 ||
		    sync_mean_us(pool[k], 200) < 0)
			err = -EPROTO;
	for (r = 0; r < ROUNDS && !err; r++)
		for (k = 0; k < 2 && !err; k++) {
			double tps = batched(pool[k], tasks),
			       us = sync_mean_us(pool[k], trips);

			if (tps < 0 || us < 0) {
				err = -EPROTO;
				break;
			}
			if (tps > ob->batched_tps[k])
				ob->batched_tps[k] = tps;
			if (!ob->sync_us[k] || us < ob->sync_us[k])
				ob->sync_us[k] = us;
		}
	ob->tasks = tasks;
	ob->trips = trips;
out:
	for (k = 0; k < 2; k++)
		if (pool[k])
			pool_destroy(pool[k]);
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int scrape_cost(const struct pb_opts *o, struct pb_observe *ob)
{
	int iters = o->quick ? 20 : 100, i, f, err = 0;
	double ms[3][100];
	pool_worker_info_t w[SCRAPE_WORKERS];
	process_pool_t *p = start(SCRAPE_WORKERS, 0);
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pool_stats_t st;

	if (!p || devnull < 0) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < 3000; i++) { /* every worker up */
		pool_get_stats(p, &st);
		if (st.active_workers == SCRAPE_WORKERS)
			break;
		usleep(10000);
	}
	if (batched(p, 4 * SCRAPE_WORKERS) < 0) {
		err = -EPROTO;
		goto out;
	}
	ob->scrape_workers = st.active_workers;
	for (i = 0; i < iters; i++) {
		for (f = 0; f < 2; f++) {
			int64_t t0 = bu_now_ns();
			int n = pool_metrics_write(p, devnull, f);

			if (n < 0) {
				err = n;
				goto out;
			}
			ms[f][i] = (double)(bu_now_ns() - t0) / 1e6;
			ob->scrape_bytes[f] = n;
		}
		{
			int64_t t0 = bu_now_ns();

			pool_get_workers(p, w, SCRAPE_WORKERS);
			ms[2][i] = (double)(bu_now_ns() - t0) / 1e6;
		}
	}
	for (f = 0; f < 3; f++) {
		qsort(ms[f], (size_t)iters, sizeof(double), cmp_double);
		ob->scrape_ms[f] = ms[f][iters / 2];
		ob->scrape_p90_ms[f] = ms[f][iters * 9 / 10];
	}
out:
	if (devnull >= 0)
		close(devnull);
	if (p)
		pool_destroy(p);
	return err;
}

int pb_engine_observe(const struct pb_opts *o, struct pb_results *res)
{
	struct pb_observe *ob = &res->observe;
	int err;

	memset(ob, 0, sizeof(*ob));
	pb_watchdog_arm("observe: tracing", 600);
	err = tracing_cost(o, ob);
	if (err) {
		fprintf(stderr, "pool_bench: observe: tracing: %s\n",
			strerror(-err));
		return err;
	}
	pb_watchdog_arm("observe: scrapes", 600);
	err = scrape_cost(o, ob);
	if (err)
		fprintf(stderr, "pool_bench: observe: scrapes: %s\n",
			pool_strerror(err));
	ob->ran = !err;
	return err;
}
