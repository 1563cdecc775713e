/*
 * The README's statistics snippet, compiled as C and run against a pool
 * that has done some work; the checks after it keep it honest.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <process_pool.h>

#define TASKS 20

static int noop(void *input, size_t input_size, void **output,
		size_t *output_size, void *user_data)
{
	(void)input;
	(void)input_size;
	(void)output;
	(void)output_size;
	return user_data != NULL; /* FAILED when given a pointer */
}

int main(void)
{
	pool_config_t config = {.worker_count = 2, .pool_name = "stats"};
	process_pool_t *pool = pool_create(&config);
	task_result_t r;
	int i, bad = 0;

	if (!pool || pool_start(pool) != 0)
		return 1;
	for (i = 0; i < TASKS; i++) {
		if (pool_submit_sync(pool, noop, NULL, 0, i ? NULL : &bad,
				     TASK_PRIORITY_NORMAL, 0, &r) != 0)
			return 1;
		pool_result_free(&r);
	}
	/* README:begin */
	pool_stats_t stats;

	if (pool_get_stats(pool, &stats) == 0) {
		printf("tasks: %" PRIu64 " submitted, %" PRIu64 " completed, "
		       "%" PRIu64 " failed, %" PRIu64 " crashed, %" PRIu64
		       " timed out\n",
		       stats.tasks_submitted, stats.tasks_completed,
		       stats.tasks_failed, stats.tasks_crashed,
		       stats.tasks_timed_out);
		printf("workers: %d active, %d busy; queue: %zu waiting "
		       "(%.1f%% full)\n",
		       stats.active_workers, stats.busy_workers,
		       stats.queue_depth, stats.queue_utilization);
		printf("run time %.3f ms on average; latency p50 %" PRIu64
		       " us, p99 %" PRIu64 " us\n",
		       stats.avg_task_time_ms, stats.latency_p50_us,
		       stats.latency_p99_us);
	}
	/* README:end */
	bad = stats.tasks_submitted != TASKS ||
	      stats.tasks_completed != TASKS - 1 || stats.tasks_failed != 1 ||
	      stats.active_workers != 2 || stats.queue_depth != 0;
	pool_destroy(pool);
	if (bad)
		fprintf(stderr, "unexpected statistics\n");
	return bad;
}
