/*
 * basic_example - the first steps with processpool.
 *
 * Creates a pool of four worker processes, runs one task synchronously
 * and a few asynchronously, prints their results and the pool's
 * statistics, then stops and frees the pool. Each task squares an integer
 * in a worker process and hands the answer back as malloc'd output.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process_pool.h"

#define ASYNC_TASKS 5

/*
 * Runs in a worker: reads one int64_t, returns its square. The output is
 * malloc'd here; the worker frees it once it is copied to the parent.
 */
static int square_task(void *input, size_t input_size, void **output,
		       size_t *output_size, void *user_data)
{
	int64_t n, *out;

	(void)user_data;
	if (input_size != sizeof(n))
		return 1; /* FAILED, return_code 1 */
	memcpy(&n, input, sizeof(n));
	out = malloc(sizeof(*out));
	if (!out)
		return 2;
	*out = n * n;
	*output = out;
	*output_size = sizeof(*out);
	return 0;
}

/* Prints one result; returns 0 when it holds the expected square. */
static int show_result(int64_t n, const task_result_t *r)
{
	int64_t sq;

	if (r->status != TASK_STATUS_COMPLETED ||
	    r->output_size != sizeof(sq)) {
		printf("  %" PRId64 "^2: %s (%s)\n", n,
		       pool_task_status_str(r->status), r->detail);
		return 1;
	}
	memcpy(&sq, r->output_data, sizeof(sq));
	printf("  %" PRId64 "^2 = %" PRId64 "  (task %" PRIu64
	       ", worker pid %d, %" PRIu64 " us queued, %" PRIu64
	       " us running)\n",
	       n, sq, r->task_id, r->worker_pid, r->queue_us, r->run_us);
	return sq != n * n;
}

static int run_sync(process_pool_t *pool)
{
	task_result_t r;
	int64_t n = 12;
	int err, bad;

	printf("synchronous task:\n");
	err = pool_submit_sync(pool, square_task, &n, sizeof(n), NULL,
			       TASK_PRIORITY_NORMAL, 1000, &r);
	if (err) {
		printf("  pool_submit_sync: %s\n", pool_strerror(err));
		return 1;
	}
	bad = show_result(n, &r);
	pool_result_free(&r);
	return bad;
}

static int run_async(process_pool_t *pool)
{
	task_future_t *f[ASYNC_TASKS];
	int64_t n[ASYNC_TASKS];
	int i, bad = 0;

	printf("asynchronous tasks:\n");
	/* The input is copied at submit time, so n[] may change after. */
	for (i = 0; i < ASYNC_TASKS; i++) {
		n[i] = 1000 + i;
		f[i] = pool_submit_async(pool, square_task, &n[i], sizeof(n[i]),
					 NULL, TASK_PRIORITY_NORMAL, 0);
		if (!f[i])
			perror("  pool_submit_async");
	}
	for (i = 0; i < ASYNC_TASKS; i++) {
		task_result_t r;

		if (!f[i]) {
			bad = 1;
			continue;
		}
		if (pool_future_wait(f[i], &r, -1) == 0) {
			bad |= show_result(n[i], &r);
			pool_result_free(&r);
		} else {
			bad = 1;
		}
		pool_future_destroy(f[i]);
	}
	return bad;
}

static void print_stats(process_pool_t *pool)
{
	pool_stats_t s;

	if (pool_get_stats(pool, &s))
		return;
	printf("stats: submitted %" PRIu64 ", completed %" PRIu64
	       ", failed %" PRIu64 ", workers %d, latency p50 %" PRIu64
	       " us, p99 %" PRIu64 " us\n",
	       s.tasks_submitted, s.tasks_completed, s.tasks_failed,
	       s.active_workers, s.latency_p50_us, s.latency_p99_us);
}

int main(void)
{
	pool_config_t cfg;
	process_pool_t *pool;
	int err, bad;

	memset(&cfg, 0, sizeof(cfg)); /* zero means "default" everywhere */
	cfg.worker_count = 4;
	snprintf(cfg.pool_name, sizeof(cfg.pool_name), "basic");

	pool = pool_create(&cfg);
	if (!pool) {
		perror("pool_create");
		return 1;
	}
	err = pool_start(pool);
	if (err) {
		fprintf(stderr, "pool_start: %s\n", pool_strerror(err));
		pool_destroy(pool);
		return 1;
	}
	printf("processpool %s: pool \"basic\" with 4 workers\n",
	       pool_version());
	bad = run_sync(pool);
	bad |= run_async(pool);
	print_stats(pool);
	/* Wait for anything still queued (nothing here), then stop. */
	pool_stop(pool, -1);
	pool_destroy(pool);
	printf(bad ? "basic example FAILED\n" : "basic example done\n");
	return bad;
}
