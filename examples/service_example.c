/*
 * A long-running service: signals handed to the pool, a rolling restart
 * with a new configuration, then one on SIGHUP, all under steady load,
 * and a graceful stop on SIGTERM.
 *
 *   service_example          runs the whole sequence on its own (it
 *                            sends itself SIGHUP and then SIGTERM)
 *   service_example --serve  waits for real signals: kill -HUP, -USR1,
 *                            -TERM (or Ctrl-C) the pid it prints
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <process_pool.h>

static atomic_int load_stop;
static atomic_long served, lost;

static int work_task(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	(void)input;
	(void)input_size;
	(void)output;
	(void)output_size;
	(void)user_data;
	usleep(1000);
	return 0;
}

/* Submits until the pool stops; counts what did not complete. */
static void *load(void *arg)
{
	process_pool_t *pool = arg;
	unsigned n = 0;

	while (!atomic_load(&load_stop)) {
		task_result_t r;
		int rc = pool_submit_sync(pool, work_task, NULL, 0, NULL,
					  (task_priority_t)(n++ % 4), 0, &r);

		if (rc == POOL_ESTATE)
			break; /* stopped: no new task is accepted */
		if (rc != 0 || r.status != TASK_STATUS_COMPLETED)
			atomic_fetch_add(&lost, 1);
		else
			atomic_fetch_add(&served, 1);
		pool_result_free(&r);
	}
	return NULL;
}

static void wait_restarts(process_pool_t *pool, uint64_t n)
{
	pool_stats_t s;

	do {
		usleep(10000);
		pool_get_stats(pool, &s);
	} while (s.pool_restarts < n || s.restarting);
}

static void report(process_pool_t *pool, const char *when)
{
	pool_stats_t s;

	pool_get_stats(pool, &s);
	printf("%-26s restarts %llu, fewest ready %d, served %ld, "
	       "lost %ld\n",
	       when, (unsigned long long)s.pool_restarts, s.restart_min_ready,
	       atomic_load(&served), atomic_load(&lost));
}

int main(int argc, char **argv)
{
	/* A spare slot: restarts start a new worker before an old goes. */
	pool_config_t config = {
	    .worker_count = 4, .max_workers = 5, .pool_name = "service"};
	int serve = argc > 1 && !strcmp(argv[1], "--serve");
	pthread_t threads[2];
	pool_config_t next;
	int i;

	/* Before any thread: every thread inherits the blocked set. */
	pool_block_signals(POOL_SIGNALS_ALL);
	process_pool_t *pool = pool_create(&config);
	if (!pool || pool_start(pool) != 0)
		return 1;
	pool_handle_signals(pool, POOL_SIGNALS_ALL, 5000);
	for (i = 0; i < 2; i++)
		pthread_create(&threads[i], NULL, load, pool);

	if (serve) {
		printf("pid %d: kill -HUP (restart), -USR1 (reopen the "
		       "log), -TERM (stop)\n",
		       (int)getpid());
	} else {
		usleep(200000);
		/* Live: workers recycled after 10000 tasks from now on. */
		next = config;
		next.max_tasks_per_worker = 10000;
		if (pool_restart(pool, &next, POOL_RESTART_WAIT) != 0)
			return 1;
		report(pool, "after a restart (config):");
		/* Refused, nothing changed: the queue is fixed for life. */
		next.queue_size = 16;
		printf("a restart changing queue_size: %s\n",
		       pool_strerror(pool_restart(pool, &next, 0)));
		kill(getpid(), SIGHUP);
		wait_restarts(pool, 2);
		report(pool, "after SIGHUP:");
		kill(getpid(), SIGTERM);
	}
	/* Returns once SIGTERM (or SIGINT) drained and stopped the pool. */
	pool_wait_stopped(pool, -1);
	atomic_store(&load_stop, 1);
	for (i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	report(pool, "after SIGTERM:");
	pool_destroy(pool);
	return atomic_load(&lost) != 0;
}
