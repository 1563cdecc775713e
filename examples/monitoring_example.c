/*
 * monitoring_example - watching a pool under load.
 *
 * Two producer threads keep the pool busy for a few seconds, each holding
 * up to WINDOW tasks in flight at mixed priorities, while a third thread
 * prints a pool_get_stats snapshot every 500 ms: queue depth per
 * priority, busy and alive workers, throughput and latency percentiles.
 * The queue holds mostly LOW tasks, since the higher levels are served
 * first. Exits 0 when every task completed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "process_pool.h"

#define WORKERS	  4
#define PRODUCERS 2
#define WINDOW	  48
#define LOAD_MS	  3000
#define REPORT_MS 500

struct producer {
	process_pool_t *pool;
	uint64_t seed;
	uint64_t submitted;
	uint64_t completed;
	uint64_t work_us; /* the work the completed tasks asked for */
	uint64_t refused; /* submit failed, e.g. queue full */
	uint64_t other;	  /* ended in another status */
};

/* One task a producer holds in flight. */
struct slot {
	task_future_t *f;
	uint32_t us; /* how long it keeps its worker busy */
};

static atomic_int stop_producers;
static atomic_int stop_monitor;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Runs in a worker: keeps a CPU busy for the microseconds it is given. */
static int busy_task(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	uint32_t us;
	uint64_t until;

	(void)output;
	(void)output_size;
	(void)user_data;
	if (input_size != sizeof(us))
		return EINVAL;
	memcpy(&us, input, sizeof(us));
	until = now_ns() + (uint64_t)us * 1000;
	while (now_ns() < until)
		;
	return 0;
}

/* ---- producers --------------------------------------------------------- */

static uint32_t next_random(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*seed >> 33);
}

/* 40% LOW, 30% NORMAL, 20% HIGH, 10% CRITICAL. */
static task_priority_t pick_priority(uint32_t r)
{
	r %= 10;
	if (r < 4)
		return TASK_PRIORITY_LOW;
	if (r < 7)
		return TASK_PRIORITY_NORMAL;
	return r < 9 ? TASK_PRIORITY_HIGH : TASK_PRIORITY_CRITICAL;
}

/* Fills an empty slot with a task of 0.5 to 2.5 ms at some priority. */
static void submit_one(struct producer *p, struct slot *sl)
{
	sl->us = 500 + next_random(&p->seed) % 2000;
	sl->f =
	    pool_submit_async(p->pool, busy_task, &sl->us, sizeof(sl->us), NULL,
			      pick_priority(next_random(&p->seed)), 0);
	if (sl->f)
		p->submitted++;
	else
		p->refused++;
}

/* Collects a finished task (timeout_ms < 0 waits for it). */
static void collect(struct producer *p, struct slot *sl, int timeout_ms)
{
	task_result_t r;

	if (pool_future_wait(sl->f, &r, timeout_ms))
		return;
	if (r.status == TASK_STATUS_COMPLETED) {
		p->completed++;
		p->work_us += sl->us;
	} else {
		p->other++;
	}
	pool_result_free(&r);
	pool_future_destroy(sl->f);
	sl->f = NULL;
}

/* Keeps WINDOW tasks in flight until told to stop, then drains them. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	struct slot win[WINDOW];
	int i;

	memset(win, 0, sizeof(win));
	while (!atomic_load(&stop_producers)) {
		for (i = 0; i < WINDOW; i++) {
			if (win[i].f && pool_future_done(win[i].f) == 1)
				collect(p, &win[i], 0);
			if (!win[i].f)
				submit_one(p, &win[i]);
		}
		sleep_ms(1);
	}
	for (i = 0; i < WINDOW; i++)
		if (win[i].f)
			collect(p, &win[i], -1);
	return NULL;
}

/* ---- the monitor ------------------------------------------------------- */

static void print_header(void)
{
	printf("  time | queued    LOW   NORM   HIGH   CRIT | busy/alive |"
	       " done/s |  p50 ms   p99 ms   max ms\n");
}

static void print_line(const pool_stats_t *s, double t, double rate)
{
	const size_t *q = s->queue_depth_by_priority;

	printf("%5.1fs | %6zu %6zu %6zu %6zu %6zu |  %3d/%-3d   |"
	       " %6.0f | %7.2f  %7.2f  %7.2f\n",
	       t, s->queue_depth, q[TASK_PRIORITY_LOW], q[TASK_PRIORITY_NORMAL],
	       q[TASK_PRIORITY_HIGH], q[TASK_PRIORITY_CRITICAL],
	       s->busy_workers, s->active_workers, rate,
	       s->latency_p50_us / 1e3, s->latency_p99_us / 1e3,
	       s->latency_max_us / 1e3);
}

/* Prints a snapshot every REPORT_MS, on a fixed beat, until told to stop. */
static void *monitor(void *arg)
{
	process_pool_t *pool = arg;
	uint64_t t0 = now_ns(), last_done = 0, last_t = t0;
	struct timespec beat;
	pool_stats_t s;

	clock_gettime(CLOCK_MONOTONIC, &beat);
	print_header();
	while (!atomic_load(&stop_monitor)) {
		uint64_t t;

		beat.tv_nsec += REPORT_MS * 1000000L;
		beat.tv_sec += beat.tv_nsec / 1000000000L;
		beat.tv_nsec %= 1000000000L;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &beat, NULL);
		if (pool_get_stats(pool, &s))
			break;
		t = now_ns();
		print_line(&s, (double)(t - t0) / 1e9,
			   (double)(s.tasks_completed - last_done) /
			       ((double)(t - last_t) / 1e9));
		last_done = s.tasks_completed;
		last_t = t;
	}
	return NULL;
}

/* ---- main -------------------------------------------------------------- */

static process_pool_t *start_pool(void)
{
	pool_config_t cfg;
	process_pool_t *pool;
	int err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = WORKERS;
	/*
	 * Tasks handed to a worker wait in that worker's own queue, which
	 * queue_depth does not count. Two per worker (one running, one
	 * ready) keep the backlog in the pool's priority queues, where it
	 * shows in the stats and where waiting tasks age.
	 */
	cfg.max_in_flight = 2;
	snprintf(cfg.pool_name, sizeof(cfg.pool_name), "monitor");
	pool = pool_create(&cfg);
	if (!pool) {
		perror("pool_create");
		return NULL;
	}
	err = pool_start(pool);
	if (err) {
		fprintf(stderr, "pool_start: %s\n", pool_strerror(err));
		pool_destroy(pool);
		return NULL;
	}
	return pool;
}

/* Runs the producers for LOAD_MS and the monitor until they are done. */
static int run_load(process_pool_t *pool, struct producer *p)
{
	pthread_t prod[PRODUCERS], mon;
	int i, started;

	if (pthread_create(&mon, NULL, monitor, pool))
		return -1;
	for (started = 0; started < PRODUCERS; started++) {
		p[started].pool = pool;
		p[started].seed = 0x5eed + (uint64_t)started;
		if (pthread_create(&prod[started], NULL, produce, &p[started]))
			break;
	}
	if (started == PRODUCERS)
		sleep_ms(LOAD_MS);
	atomic_store(&stop_producers, 1);
	for (i = 0; i < started; i++)
		pthread_join(prod[i], NULL);
	/* One more beat, to show the pool idle again. */
	sleep_ms(REPORT_MS);
	atomic_store(&stop_monitor, 1);
	pthread_join(mon, NULL);
	return started == PRODUCERS ? 0 : -1;
}

static int report(const struct producer *p, const pool_stats_t *s)
{
	uint64_t submitted = 0, completed = 0, work_us = 0, bad = 0;
	int i;

	for (i = 0; i < PRODUCERS; i++) {
		printf("producer %d: submitted %" PRIu64 ", completed %" PRIu64
		       ", refused %" PRIu64 ", other outcomes %" PRIu64 "\n",
		       i, p[i].submitted, p[i].completed, p[i].refused,
		       p[i].other);
		submitted += p[i].submitted;
		completed += p[i].completed;
		work_us += p[i].work_us;
		bad += p[i].refused + p[i].other;
	}
	printf("pool: submitted %" PRIu64 ", completed %" PRIu64
	       ", latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
	       s->tasks_submitted, s->tasks_completed, s->latency_p50_us / 1e3,
	       s->latency_p99_us / 1e3, s->latency_p999_us / 1e3);
	printf("run time per task: %.2f ms by the pool's count, %.2f ms of "
	       "work asked for\n",
	       s->avg_task_time_ms,
	       completed ? (double)work_us / (double)completed / 1e3 : 0.0);
	return bad == 0 && completed == submitted &&
	       s->tasks_completed == completed;
}

int main(void)
{
	struct producer p[PRODUCERS];
	process_pool_t *pool;
	pool_stats_t s;
	int ok;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(p, 0, sizeof(p));
	pool = start_pool();
	if (!pool)
		return 1;
	printf("pool \"monitor\": %d workers (2 tasks each at most), %d "
	       "producers keeping %d tasks each in flight for %.1f s\n",
	       WORKERS, PRODUCERS, WINDOW, LOAD_MS / 1e3);
	if (run_load(pool, p)) {
		pool_destroy(pool);
		return 1;
	}
	pool_stop(pool, -1);
	pool_get_stats(pool, &s); /* final: the supervisor has stopped */
	ok = report(p, &s);
	pool_destroy(pool);
	printf(ok ? "monitoring example done\n"
		  : "monitoring example FAILED\n");
	return !ok;
}
