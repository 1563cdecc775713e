/*
 * pool_bench's restart section: a loaded 4-worker pool's served tasks per
 * 100 ms interval across a rolling restart (with a spare slot, and
 * without), the restart's total time, and the time from a worker stopped
 * while idle (SIGSTOP) to its replacement by the health checks.
 *
 * The load: four threads each keep PB_RESTART_WINDOW tasks of about
 * 200 us of CPU in flight, so the workers, not the submitters, bound the
 * rate. A sampler reads tasks_completed on each 100 ms boundary.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/pool_bench.h"

#define WINDOW	  32
#define LOADERS	  4
#define TICK_NS	  (100LL * 1000000)
#define SPIN_NS	  (200LL * 1000)
#define SETTLE_NS (400LL * 1000000)

static int spin_task(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	int64_t until = bu_now_ns() + SPIN_NS;

	(void)in;
	(void)n;
	(void)out;
	(void)out_n;
	(void)ud;
	while (bu_now_ns() < until)
		;
	return 0;
}

struct run {
	process_pool_t *pool;
	atomic_int stop;
	atomic_int failed;
	/* Sampler. */
	int64_t begin_ns, restart_from_ns, restart_to_ns;
	uint64_t counts[PB_RESTART_TICKS];
	int n;
};

static void *loader(void *arg)
{
	struct run *r = arg;
	task_future_t *f[WINDOW];
	int i;

	while (!atomic_load(&r->stop)) {
		for (i = 0; i < WINDOW; i++)
			f[i] = pool_submit_async(r->pool, spin_task, NULL, 0,
						 NULL,
						 (task_priority_t)(i % 4), 0);
		for (i = 0; i < WINDOW; i++) {
			task_result_t res;

			if (!f[i] || pool_future_wait(f[i], &res, -1) ||
			    res.status != TASK_STATUS_COMPLETED)
				atomic_fetch_add(&r->failed, 1);
			else
				pool_result_free(&res);
			pool_future_destroy(f[i]);
		}
	}
	return NULL;
}

static void sleep_until(int64_t at)
{
	struct timespec ts = {.tv_sec = at / 1000000000,
			      .tv_nsec = at % 1000000000};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

/* Completed tasks on each 100 ms boundary, until stop. */
static void *sampler(void *arg)
{
	struct run *r = arg;
	uint64_t last = 0;
	pool_stats_t s;
	int64_t at = r->begin_ns;

	pool_get_stats(r->pool, &s);
	last = s.tasks_completed;
	while (!atomic_load(&r->stop) && r->n < PB_RESTART_TICKS) {
		at += TICK_NS;
		sleep_until(at);
		pool_get_stats(r->pool, &s);
		r->counts[r->n++] = s.tasks_completed - last;
		last = s.tasks_completed;
	}
	return NULL;
}

/* One restart under load; fills out (NAN where nothing was measured). */
static int restart_run(int max_workers, struct pb_restart_run *out)
{
	pool_config_t cfg;
	pthread_t load[LOADERS], samp;
	struct run r;
	pool_stats_t s;
	double sum = 0;
	int i, err, first, last, base_n = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = 4;
	cfg.max_workers = max_workers;
	snprintf(cfg.pool_name, sizeof(cfg.pool_name), "bench-restart");
	memset(&r, 0, sizeof(r));
	r.pool = pb_start_pool(&cfg);
	if (!r.pool)
		return -ECHILD;
	for (i = 0; i < LOADERS; i++)
		pthread_create(&load[i], NULL, loader, &r);
	usleep(200000); /* warm: the rings and the arena in use */
	r.begin_ns = bu_now_ns();
	pthread_create(&samp, NULL, sampler, &r);
	sleep_until(r.begin_ns + SETTLE_NS);
	r.restart_from_ns = bu_now_ns();
	err = pool_restart(r.pool, NULL, POOL_RESTART_WAIT);
	r.restart_to_ns = bu_now_ns();
	sleep_until(r.restart_to_ns + SETTLE_NS);
	atomic_store(&r.stop, 1);
	pthread_join(samp, NULL);
	for (i = 0; i < LOADERS; i++)
		pthread_join(load[i], NULL);
	pool_get_stats(r.pool, &s);
	pool_destroy(r.pool);
	if (err || atomic_load(&r.failed))
		return err ? err : -EPROTO;
	/* Intervals wholly before the restart are the baseline; every
	 * interval that overlaps it counts for the minimum. */
	first = (int)((r.restart_from_ns - r.begin_ns) / TICK_NS);
	last = (int)((r.restart_to_ns - r.begin_ns) / TICK_NS);
	out->total_ms = (double)(r.restart_to_ns - r.restart_from_ns) / 1e6;
	out->min_per_100ms = NAN;
	for (i = 0; i < r.n; i++) {
		if (i < first) {
			sum += (double)r.counts[i];
			base_n++;
		} else if (i <= last &&
			   (isnan(out->min_per_100ms) ||
			    (double)r.counts[i] < out->min_per_100ms)) {
			out->min_per_100ms = (double)r.counts[i];
		}
	}
	out->base_per_100ms = base_n ? sum / base_n : NAN;
	out->min_ready = s.restart_min_ready;
	out->n = r.n < PB_RESTART_TICKS ? r.n : PB_RESTART_TICKS;
	memcpy(out->per_100ms, r.counts, sizeof(r.counts));
	out->first = first;
	out->last = last;
	return 0;
}

/* SIGSTOP an idle worker; time until another pid holds its slot. */
static int unresponsive_run(double *ms)
{
	pool_config_t cfg;
	pool_worker_info_t w[2];
	process_pool_t *pool;
	int64_t t0 = 0;
	int n = 0, i, slot = -1, pid = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = 2;
	cfg.health_check_interval_ms = PB_HEALTH_INTERVAL_MS;
	cfg.health_check_timeout_ms = PB_HEALTH_TIMEOUT_MS;
	snprintf(cfg.pool_name, sizeof(cfg.pool_name), "bench-health");
	pool = pb_start_pool(&cfg);
	if (!pool)
		return -ECHILD;
	for (i = 0; i < 5000 && n < 2; i++) {
		n = pool_get_workers(pool, w, 2);
		usleep(1000);
	}
	if (n == 2) {
		slot = w[0].slot;
		pid = w[0].pid;
		t0 = bu_now_ns();
		kill(pid, SIGSTOP);
	}
	*ms = NAN;
	for (i = 0; slot >= 0 && i < 100000; i++) {
		int k;

		n = pool_get_workers(pool, w, 2);
		for (k = 0; k < n; k++)
			if (w[k].slot == slot && w[k].pid != pid)
				*ms = (double)(bu_now_ns() - t0) / 1e6;
		if (!isnan(*ms))
			break;
		usleep(200);
	}
	pool_destroy(pool); /* reaps the stopped one too */
	return isnan(*ms) ? -ETIMEDOUT : 0;
}

int pb_engine_restart(const struct pb_opts *o, struct pb_results *res)
{
	int err, i, rounds = o->quick ? 1 : 3;
	double best = NAN, ms;

	pb_watchdog_arm("restart: rolling restart with a spare slot", 120);
	err = restart_run(5, &res->restart.spare);
	pb_watchdog_arm("restart: rolling restart without a spare slot", 120);
	if (!err)
		err = restart_run(4, &res->restart.full);
	for (i = 0; !err && i < rounds; i++) {
		pb_watchdog_arm("restart: an unresponsive worker", 60);
		err = unresponsive_run(&ms);
		if (!err && (isnan(best) || ms > best))
			best = ms; /* the slowest of the rounds */
	}
	res->restart.unresponsive_ms = best;
	return err;
}

static void print_run(const char *name, const struct pb_restart_run *r)
{
	char a[32], b[32], c[32];
	int i;

	printf("%-22s restart %s ms; served per 100 ms: %s before, %s at "
	       "least during; fewest ready workers %d\n",
	       name, bu_fmt(a, sizeof(a), "%.1f", r->total_ms),
	       bu_fmt(b, sizeof(b), "%.0f", r->base_per_100ms),
	       bu_fmt(c, sizeof(c), "%.0f", r->min_per_100ms), r->min_ready);
	printf("%-22s", "  per 100 ms:");
	for (i = 0; i < r->n; i++)
		printf(i >= r->first && i <= r->last ? " [%llu]" : " %llu",
		       (unsigned long long)r->per_100ms[i]);
	printf("\n");
}

void pb_print_restart(const struct pb_results *res)
{
	char a[32];

	printf("\nRolling restart of 4 workers under load (4 threads x %d "
	       "async tasks of %lld us; [n]: intervals during the restart)\n",
	       WINDOW, SPIN_NS / 1000);
	print_run("spare slot (max 5):", &res->restart.spare);
	print_run("no spare slot (max 4):", &res->restart.full);
	printf("unresponsive worker:   %s ms from SIGSTOP (idle) to its "
	       "replacement (health checks every %d ms, %d ms to answer; "
	       "the slowest round)\n",
	       bu_fmt(a, sizeof(a), "%.1f", res->restart.unresponsive_ms),
	       PB_HEALTH_INTERVAL_MS, PB_HEALTH_TIMEOUT_MS);
}

static void json_run(struct bu_json *j, const char *key,
		     const struct pb_restart_run *r)
{
	bu_json_obj_begin(j, key);
	bu_json_num(j, "total_ms", r->total_ms);
	bu_json_num(j, "base_per_100ms", r->base_per_100ms);
	bu_json_num(j, "min_per_100ms", r->min_per_100ms);
	bu_json_int(j, "min_ready", r->min_ready);
	bu_json_obj_end(j);
}

void pb_json_restart(struct bu_json *j, const struct pb_results *res)
{
	bu_json_obj_begin(j, "restart");
	json_run(j, "spare_slot", &res->restart.spare);
	json_run(j, "no_spare_slot", &res->restart.full);
	bu_json_num(j, "unresponsive_to_replaced_ms",
		    res->restart.unresponsive_ms);
	bu_json_int(j, "health_interval_ms", PB_HEALTH_INTERVAL_MS);
	bu_json_int(j, "health_timeout_ms", PB_HEALTH_TIMEOUT_MS);
	bu_json_obj_end(j);
}
