/*
 * The map section of pool_bench: pool_map of no-op tasks, measured as
 * the batched figure is (peer_time_stream: tasks per second, and CPU
 * microseconds and context switches per task of this process, every
 * thread, plus every worker). Streams are maps of at most MAP_ROUND
 * tasks into one reused results array, so 10 M tasks need 24 MiB of
 * results, not 240.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/pool_bench.h"
#include "process_pool.h"

#define MAP_ROUND ((uint64_t)1 << 20)
#define MAX_PIDS  64

struct map_run {
	process_pool_t *pool;
	pool_map_result_t *results;
	pid_t pids[MAX_PIDS];
	int npids;
};

/* n no-op tasks in maps of at most MAP_ROUND, every outcome checked. */
static int map_stream(void *arg, uint64_t n)
{
	struct map_run *mr = arg;
	uint64_t done = 0, i, k;
	int err;

	while (done < n) {
		k = n - done < MAP_ROUND ? n - done : MAP_ROUND;
		err = pool_map(mr->pool, pb_noop_task, NULL, 0, (size_t)k,
			       mr->results, NULL);
		if (err) {
			fprintf(stderr, "pool_bench: pool_map: %s\n",
				pool_strerror(err));
			return err;
		}
		for (i = 0; i < k; i++)
			if (mr->results[i].status != TASK_STATUS_COMPLETED) {
				fprintf(stderr,
					"pool_bench: map: task %llu ended "
					"%s\n",
					(unsigned long long)i,
					pool_task_status_str(
					    mr->results[i].status));
				return -EPROTO;
			}
		done += k;
	}
	return 0;
}

/* The workers' pids, for their CPU time and context switches. */
static void read_pids(struct map_run *mr)
{
	pool_worker_info_t info[MAX_PIDS];
	int n = pool_get_workers(mr->pool, info, MAX_PIDS), i;

	mr->npids = 0;
	for (i = 0; i < n; i++)
		if (info[i].pid > 0)
			mr->pids[mr->npids++] = info[i].pid;
}

int pb_engine_map(const struct pb_opts *o, struct pb_results *res)
{
	pool_config_t cfg = {.worker_count = o->workers};
	struct map_run mr = {.npids = 0};
	struct peer_opts po;
	int err;

	pb_watchdog_arm("map: pool start", 120);
	mr.pool = pb_start_pool(&cfg);
	if (!mr.pool)
		return -ESRCH;
	mr.results = calloc((size_t)MAP_ROUND, sizeof(*mr.results));
	err = mr.results ? 0 : -ENOMEM;
	/* The caller's array, faulted in before the clock starts: its
	 * first touch is not the pool's cost. */
	if (mr.results)
		memset(mr.results, 0xff,
		       (size_t)MAP_ROUND * sizeof(*mr.results));
	if (!err)
		err = map_stream(&mr, 10000); /* warm-up, workers up */
	if (!err) {
		read_pids(&mr);
		pb_peer_opts(o, &po);
		po.tasks = o->map_tasks;
		pb_watchdog_arm("map", 600);
		err = peer_time_stream(&po, map_stream, &mr, mr.pids, &mr.npids,
				       &res->map_tps, &res->map_csw,
				       &res->map_cpu_us);
	}
	res->map_tasks = o->map_tasks;
	free(mr.results);
	pb_watchdog_arm("map: pool_destroy", 60);
	pool_destroy(mr.pool);
	return err;
}
