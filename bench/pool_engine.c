/*
 * The pool's own sections of pool_bench: no-op throughput (batched and
 * unbatched), sync round trips, memory and idle CPU, payload round trips,
 * and the time to bring workers up.
 *
 * Context switches and CPU are counted for the whole pool: this process
 * (every thread, the supervisor included) plus each worker, whose pids
 * come from task_result_t.worker_pid.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/pool_bench.h"
#include "process_pool.h"

#define MAX_PIDS   64
#define WAIT_MS	   30000 /* one future; longer is a hang */
#define BARRIER_NS (10LL * 1000000000)
/* The 4 MiB default arena rejects 16 MiB inputs; twice the largest. */

/* A pool and the worker pids its results have named. */
#define SPAWN_NAP_MS 20

struct pool_run {
	process_pool_t *pool;
	pid_t pids[MAX_PIDS];
	int npids;
};

/* The no-op task every section times. */
int pb_noop_task(void *in, size_t in_size, void **out, size_t *out_size,
		     void *user_data)
{
	(void)in;
	(void)in_size;
	(void)out;
	(void)out_size;
	(void)user_data;
	return 0;
}

/* Returns its input as output, written straight into the shared arena. */
static int echo_task(void *in, size_t in_size, void **out, size_t *out_size,
		     void *user_data)
{
	void *p = pool_output_alloc(in_size);

	(void)user_data;
	if (!p)
		p = malloc(in_size);
	if (!p)
		return 1;
	memcpy(p, in, in_size);
	*out = p;
	*out_size = in_size;
	return 0;
}

static void note_pid(struct pool_run *pr, int pid)
{
	int i;

	if (pid <= 0)
		return;
	for (i = 0; i < pr->npids; i++)
		if (pr->pids[i] == pid)
			return;
	if (pr->npids < MAX_PIDS)
		pr->pids[pr->npids++] = pid;
}

int pb_check_result(const task_result_t *r, const char *what)
{
	if (r->status == TASK_STATUS_COMPLETED)
		return 0;
	fprintf(stderr, "pool_bench: %s: task %llu ended %s (rc %d) %s\n", what,
		(unsigned long long)r->task_id, pool_task_status_str(r->status),
		r->return_code, r->detail);
	return -EPROTO;
}

/*
 * Wait for every future, then destroy it (all of them, even after an
 * error). A future refused at submit (NULL) is an error.
 */
static int wait_all(struct pool_run *pr, task_future_t **f, size_t n,
		    const char *what)
{
	task_result_t r;
	int err = 0, e;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!f[i]) {
			err = err ? err : -EAGAIN;
			continue;
		}
		e = err ? 0 : pool_future_wait(f[i], &r, WAIT_MS);
		if (!err && e)
			fprintf(stderr, "pool_bench: %s: wait: %s\n", what,
				pool_strerror(e));
		if (!err && !e) {
			e = pb_check_result(&r, what);
			note_pid(pr, r.worker_pid);
			pool_result_free(&r);
		}
		err = err ? err : e;
		pool_future_destroy(f[i]);
	}
	return err;
}

process_pool_t *pb_start_pool(const pool_config_t *cfg)
{
	process_pool_t *pool = pool_create(cfg);
	int err;

	if (!pool) {
		fprintf(stderr, "pool_bench: pool_create: %s\n",
			strerror(errno));
		return NULL;
	}
	err = pool_start(pool);
	if (err) {
		fprintf(stderr, "pool_bench: pool_start: %s\n",
			pool_strerror(err));
		pool_destroy(pool);
		return NULL;
	}
	return pool;
}

/* ---- no-op throughput ---------------------------------------------- */

/* total tasks, pool_submit_batch of at most batch each, each waited. */
static int run_batched(struct pool_run *pr, uint64_t total, uint64_t batch)
{
	task_desc_t *d = calloc((size_t)batch, sizeof(*d));
	task_future_t **f;
	uint64_t done = 0, i, n;
	int err = d ? 0 : -ENOMEM;

	for (i = 0; d && i < batch; i++)
		d[i] = (task_desc_t){.task_func = pb_noop_task,
				     .priority = TASK_PRIORITY_NORMAL};
	while (!err && done < total) {
		n = total - done < batch ? total - done : batch;
		f = pool_submit_batch(pr->pool, d, (size_t)n);
		if (!f) {
			fprintf(stderr, "pool_bench: pool_submit_batch: %s\n",
				strerror(errno));
			err = -errno;
			break;
		}
		err = wait_all(pr, f, (size_t)n, "batched");
		free(f);
		done += n;
	}
	free(d);
	return err;
}

/* total tasks, one pool_submit_async each, waited batch at a time. */
static int run_unbatched(struct pool_run *pr, uint64_t total, uint64_t batch)
{
	task_future_t **f = calloc((size_t)batch, sizeof(*f));
	uint64_t done = 0, i, n;
	int err = f ? 0 : -ENOMEM;

	while (!err && done < total) {
		n = total - done < batch ? total - done : batch;
		for (i = 0; i < n; i++)
			f[i] = pool_submit_async(pr->pool, pb_noop_task, NULL, 0,
						 NULL, TASK_PRIORITY_NORMAL, 0);
		err = wait_all(pr, f, (size_t)n, "unbatched");
		done += n;
	}
	free(f);
	return err;
}

/* One of the two streams above, as peer_time_stream runs it. */
struct stream {
	struct pool_run *pr;
	uint64_t batch;
	int (*run)(struct pool_run *pr, uint64_t total, uint64_t batch);
};

static int run_stream(void *arg, uint64_t n)
{
	struct stream *s = arg;

	return s->run(s->pr, n, s->batch);
}

/* Tasks per second and context switches per task of one kind of stream. */
static int time_stream(const struct pb_opts *o, struct pool_run *pr,
		       int (*run)(struct pool_run *, uint64_t, uint64_t),
		       double *tps, double *csw, double *cpu_us)
{
	struct stream s = {pr, o->batch, run};
	struct peer_opts po;

	pb_peer_opts(o, &po);
	return peer_time_stream(&po, run_stream, &s, pr->pids, &pr->npids, tps,
				csw, cpu_us);
}

/* ---- sync round trips ---------------------------------------------- */

static int sync_once(struct pool_run *pr, int64_t *ns)
{
	task_result_t r;
	int64_t t0 = bu_now_ns();
	int err = pool_submit_sync(pr->pool, pb_noop_task, NULL, 0, NULL,
				   TASK_PRIORITY_NORMAL, 0, &r);

	*ns = bu_now_ns() - t0;
	if (err) {
		fprintf(stderr, "pool_bench: pool_submit_sync: %s\n",
			pool_strerror(err));
		return err;
	}
	err = pb_check_result(&r, "sync");
	note_pid(pr, r.worker_pid);
	pool_result_free(&r);
	return err;
}

static int run_sync(const struct pb_opts *o, struct pool_run *pr,
		    struct peer_result *row)
{
	uint64_t i, total = o->warmup + o->roundtrips;
	struct bu_samples lat;
	int64_t csw = 0, ns;
	int err = 0;

	if (bu_samples_init(&lat, o->roundtrips))
		return -ENOMEM;
	for (i = 0; !err && i < total; i++) {
		if (i == o->warmup)
			csw =
			    bu_group_ctx_switches(pr->pids, (size_t)pr->npids);
		err = sync_once(pr, &ns);
		if (!err && i >= o->warmup)
			bu_samples_add(&lat, ns);
	}
	if (!err) {
		csw = bu_group_ctx_switches(pr->pids, (size_t)pr->npids) - csw;
		row->sync = bu_samples_pct(&lat);
		row->sync_csw = (double)csw / (double)o->roundtrips;
	}
	bu_samples_free(&lat);
	return err;
}

/* ---- memory and idle CPU ------------------------------------------- */

static void read_rss(const struct pool_run *pr, struct pb_results *res)
{
	long kib;
	int i;

	res->parent_rss_kib = bu_proc_status_kib(0, "VmRSS");
	res->worker_rss_kib = -1;
	res->n_worker_rss = 0;
	for (i = 0; i < pr->npids; i++) {
		kib = bu_proc_status_kib(pr->pids[i], "VmRSS");
		if (kib > res->worker_rss_kib)
			res->worker_rss_kib = kib;
		if (res->n_worker_rss < 8)
			res->worker_rss_each_kib[res->n_worker_rss++] = kib;
	}
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {ns / 1000000000, ns % 1000000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* CPU and wakeups of the whole pool while nothing is submitted. */
static void measure_idle(const struct pb_opts *o, const struct pool_run *pr,
			 struct pb_results *res)
{
	int64_t cpu, csw, t0, t1;

	sleep_ns(200000000); /* let the last spins end */
	cpu = bu_group_cpu_ns(pr->pids, (size_t)pr->npids);
	csw = bu_group_ctx_switches(pr->pids, (size_t)pr->npids);
	t0 = bu_now_ns();
	sleep_ns((int64_t)o->idle_s * 1000000000);
	t1 = bu_now_ns();
	cpu = bu_group_cpu_ns(pr->pids, (size_t)pr->npids) - cpu;
	csw = bu_group_ctx_switches(pr->pids, (size_t)pr->npids) - csw;
	/* This thread's own two wakeups are not the pool's. */
	csw = csw > 2 ? csw - 2 : 0;
	res->idle_cpu_percent = 100.0 * (double)cpu / (double)(t1 - t0);
	res->idle_wakeups_per_s = (double)csw * 1e9 / (double)(t1 - t0);
}

/* ---- the no-op sections on one pool -------------------------------- */

static int noop_sections(const struct pb_opts *o, struct pool_run *pr,
			 struct pb_results *res)
{
	struct peer_result *row = &res->pool;
	int err;

	if (pb_selected(o, PB_BATCHED)) {
		pb_watchdog_arm("batched", 600);
		err = time_stream(o, pr, run_batched, &row->batched_tps,
				  &row->batched_csw, &row->batched_cpu_us);
		res->failed[PB_BATCHED] = err != 0;
	}
	if (pb_selected(o, PB_UNBATCHED)) {
		pb_watchdog_arm("unbatched", 600);
		err = time_stream(o, pr, run_unbatched, &row->unbatched_tps,
				  &res->unbatched_csw, &res->unbatched_cpu_us);
		res->failed[PB_UNBATCHED] = err != 0;
	}
	if (pb_selected(o, PB_SYNC)) {
		pb_watchdog_arm("sync", 600);
		err = run_sync(o, pr, row);
		res->failed[PB_SYNC] = err != 0;
	}
	if (pb_selected(o, PB_RESOURCES)) {
		pb_watchdog_arm("resources", o->idle_s + 60);
		read_rss(pr, res);
		measure_idle(o, pr, res);
	}
	return 0;
}

int pb_engine_noop(const struct pb_opts *o, struct pb_results *res)
{
	pool_config_t cfg = {.worker_count = o->workers};
	struct pool_run pr = {.npids = 0};
	uint64_t warm = o->batch < o->tasks ? o->batch : o->tasks;
	int err;

	pb_watchdog_arm("pool start", 120);
	pr.pool = pb_start_pool(&cfg);
	if (!pr.pool)
		return -ESRCH;
	/* The pool itself, running, before any task: its own overhead. */
	res->parent_started_rss_kib = bu_proc_status_kib(0, "VmRSS");
	/* Warm-up, which also names the workers. */
	err = run_batched(&pr, warm, warm);
	if (!err)
		err = noop_sections(o, &pr, res);
	pb_watchdog_arm("pool_destroy", 60);
	pool_destroy(pr.pool);
	return err;
}

/* ---- payload round trips ------------------------------------------- */

static int echo_once(struct pool_run *pr, unsigned char *in, size_t size,
		     int64_t *ns)
{
	int pid;
	task_result_t r;
	int64_t t0 = bu_now_ns();
	int err = pool_submit_sync(pr->pool, echo_task, in, size, NULL,
				   TASK_PRIORITY_NORMAL, 0, &r);

	*ns = bu_now_ns() - t0;
	if (err) {
		fprintf(stderr, "pool_bench: payload: pool_submit_sync: %s\n",
			pool_strerror(err));
		return err;
	}
	pid = r.worker_pid;
	err = pb_check_result(&r, "payload");
	note_pid(pr, pid);
	/* Checked outside the timed call: every byte came back. */
	if (!err &&
	    (r.output_size != size || memcmp(r.output_data, in, size))) {
		fprintf(stderr,
			"pool_bench: payload: %zu bytes came back "
			"wrong (%zu bytes)\n",
			size, r.output_size);
		err = -EBADMSG;
	}
	pool_result_free(&r);
	return err;
}

/*
 * The same echo with the input written straight into a pool_input_alloc
 * buffer, which the submit takes over: the write stands for the caller
 * producing its input in place, and is timed with the round trip.
 */
static int echo_inplace(struct pool_run *pr, const unsigned char *in,
			size_t size, int64_t *ns)
{
	task_result_t r;
	int64_t t0 = bu_now_ns();
	unsigned char *buf = pool_input_alloc(pr->pool, size);
	int err;

	if (!buf) {
		fprintf(stderr, "pool_bench: payload: pool_input_alloc: %s\n",
			strerror(errno));
		return -errno;
	}
	memcpy(buf, in, size);
	err = pool_submit_sync(pr->pool, echo_task, buf, size, NULL,
			       TASK_PRIORITY_NORMAL, 0, &r);
	*ns = bu_now_ns() - t0;
	if (err) {
		pool_input_free(buf);
		fprintf(stderr, "pool_bench: payload: pool_submit_sync: %s\n",
			pool_strerror(err));
		return err;
	}
	err = pb_check_result(&r, "payload");
	if (!err &&
	    (r.output_size != size || memcmp(r.output_data, in, size))) {
		fprintf(stderr,
			"pool_bench: payload: %zu bytes came back wrong "
			"from an input buffer\n",
			size);
		err = -EBADMSG;
	}
	pool_result_free(&r);
	return err;
}

/* A tenth of the plain round trips (at least 3) through input buffers. */
static int inplace_size(struct pool_run *pr, const unsigned char *in,
			struct pb_payload *pl)
{
	uint64_t i, n = pl->iters / 10 < 3 ? 3 : pl->iters / 10;
	struct bu_samples lat;
	int64_t ns, total = 0;
	int err = bu_samples_init(&lat, n);

	if (err)
		return err;
	for (i = 0; !err && i < 2; i++)
		err = echo_inplace(pr, in, pl->size, &ns);
	for (i = 0; !err && i < n; i++) {
		err = echo_inplace(pr, in, pl->size, &ns);
		total += ns;
		bu_samples_add(&lat, ns);
	}
	if (!err) {
		pl->inplace_gbps = (double)pl->size * (double)n / (double)total;
		pl->inplace_p50_us = bu_samples_pct(&lat).p50;
	}
	bu_samples_free(&lat);
	return err;
}

/*
 * Copies of size bytes for budget_ns. The clock is read once per MiB
 * copied, so reading it costs nothing next to small copies.
 */
static double memcpy_gbps(unsigned char *dst, const unsigned char *src,
			  size_t size, int64_t budget_ns)
{
	const size_t mib = (size_t)1 << 20;
	uint64_t n = 0, k, per_read = size < mib ? mib / size : 1;
	int64_t t0, t1;

	memcpy(dst, src, size); /* fault the pages in first */
	t0 = bu_now_ns();
	do {
		for (k = 0; k < per_read; k++) {
			memcpy(dst, src, size);
			/* The copy is used: the compiler may not drop it. */
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		n += per_read;
		t1 = bu_now_ns();
	} while (t1 - t0 < budget_ns);
	return (double)size * (double)n / (double)(t1 - t0);
}

/*
 * Round trips before the timed ones. The arena's allocators take the
 * lowest free pages, and the worker frees an output once the parent has
 * taken it, so one sync echo after another reuses the same pages: three
 * round trips fault them in (in both parts) for the timed ones. A
 * payload above the arena is a fresh memfd each time; warming does not
 * change what it costs.
 */
uint64_t pb_payload_warmup(size_t size)
{
	(void)size;
	return 3;
}

/* Resets this process's VmHWM (clear_refs 5), so that the next reading
 * is the peak from now on; workers are read as they are (their peak
 * includes the smaller sizes, far below the largest). */
static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

static void read_peaks(const struct pool_run *pr, struct pb_payload *pl)
{
	int i;

	pl->parent_peak_kib = bu_proc_status_kib(0, "VmHWM");
	pl->worker_peak_kib = -1;
	for (i = 0; i < pr->npids; i++) {
		long kib = bu_proc_status_kib(pr->pids[i], "VmHWM");

		if (kib > pl->worker_peak_kib)
			pl->worker_peak_kib = kib;
	}
}

static int payload_size(const struct pb_opts *o, struct pool_run *pr,
			struct pb_payload *pl, int peaks)
{
	unsigned char *in = malloc(pl->size), *dst = malloc(pl->size);
	struct bu_samples lat;
	int64_t ns, total = 0;
	uint64_t i;
	int err = in && dst ? bu_samples_init(&lat, pl->iters) : -ENOMEM;

	for (i = 0; !err && i < pl->size; i++)
		in[i] = (unsigned char)(i * 131 + 7);
	if (peaks)
		reset_peak(); /* after the buffers: they are the caller's */
	for (i = 0; !err && i < pb_payload_warmup(pl->size); i++)
		err = echo_once(pr, in, pl->size, &ns);
	for (i = 0; !err && i < pl->iters; i++) {
		err = echo_once(pr, in, pl->size, &ns);
		total += ns;
		bu_samples_add(&lat, ns);
	}
	if (!err) {
		pl->pool_gbps =
		    (double)pl->size * (double)pl->iters / (double)total;
		pl->lat = bu_samples_pct(&lat);
		if (peaks)
			read_peaks(pr, pl);
		pl->memcpy_gbps = memcpy_gbps(dst, in, pl->size, o->memcpy_ns);
		err = inplace_size(pr, in, pl);
	}
	if (in && dst)
		bu_samples_free(&lat);
	free(in);
	free(dst);
	return err;
}

int pb_engine_payload(const struct pb_opts *o, struct pb_results *res)
{
	pool_config_t cfg = {.worker_count = o->workers};
	struct pool_run pr = {.npids = 0};
	int i, err = 0;

	pb_watchdog_arm("payload", 600);
	pr.pool = pb_start_pool(&cfg);
	if (!pr.pool)
		return -ESRCH;
	for (i = 0; i < PB_NPAYLOADS && !err; i++)
		err = payload_size(o, &pr, &res->payload[i],
				   i == PB_NPAYLOADS - 1);
	pool_destroy(pr.pool);
	return err;
}

/* ---- bringing workers up ------------------------------------------- */

/* Shared by the barrier tasks: mapped before the pool forks its workers. */
struct barrier {
	_Atomic int arrived;
	int need;
};

/*
 * Returns once need tasks are running at the same moment, which needs
 * need distinct workers; fails after BARRIER_NS instead of hanging.
 */
static int barrier_task(void *in, size_t in_size, void **out, size_t *out_size,
			void *user_data)
{
	struct barrier *b = user_data;
	const struct timespec nap = {0, 20000};
	int64_t until = bu_now_ns() + BARRIER_NS;

	(void)in;
	(void)in_size;
	(void)out;
	(void)out_size;
	atomic_fetch_add(&b->arrived, 1);
	while (atomic_load(&b->arrived) < b->need) {
		if (bu_now_ns() > until)
			return 1;
		nanosleep(&nap, NULL);
	}
	return 0;
}

/* Submit b->need barrier tasks and wait: 0 once they met on need workers. */
static int meet(struct pool_run *pr, struct barrier *b)
{
	task_future_t *f[8];
	int i, err;

	atomic_store(&b->arrived, 0);
	pr->npids = 0;
	for (i = 0; i < b->need; i++)
		f[i] = pool_submit_async(pr->pool, barrier_task, NULL, 0, b,
					 TASK_PRIORITY_NORMAL, 0);
	err = wait_all(pr, f, (size_t)b->need, "scale");
	if (!err && pr->npids != b->need) {
		fprintf(stderr,
			"pool_bench: scale: %d tasks met on %d "
			"workers\n",
			b->need, pr->npids);
		err = -EPROTO;
	}
	return err;
}

/* pool_create + pool_start of 4 workers until 4 tasks met on 4 of them;
 * confined (the default) or not. */
static int cold_start(struct barrier *b, struct pb_results *res,
		      int unconfined)
{
	pool_config_t cfg = {.worker_count = 4,
			     .sandbox_off = unconfined,
			     .cgroup_mode =
				 unconfined ? POOL_CGROUP_OFF : 0};
	struct pool_run pr = {.npids = 0};
	int64_t t0 = bu_now_ns(), t1;
	int err;

	b->need = 4;
	pr.pool = pb_start_pool(&cfg);
	if (!pr.pool)
		return -ESRCH;
	err = meet(&pr, b);
	t1 = bu_now_ns();
	pool_destroy(pr.pool);
	if (!err && unconfined) {
		res->scale_up_4_unconfined_ms = (double)(t1 - t0) / 1e6;
	} else if (!err) {
		res->scale_up_4_ms = (double)(t1 - t0) / 1e6;
		res->stop_4_ms = (double)(bu_now_ns() - t1) / 1e6;
	}
	return err;
}

/* Sync round trips on an unconfined pool: what confinement costs. */
static int sync_unconfined(const struct pb_opts *o, struct pb_results *res)
{
	pool_config_t cfg = {.worker_count = o->workers,
			     .sandbox_off = 1,
			     .cgroup_mode = POOL_CGROUP_OFF};
	struct pool_run pr = {.npids = 0};
	struct peer_result row;
	int err;

	memset(&row, 0, sizeof(row));
	pr.pool = pb_start_pool(&cfg);
	if (!pr.pool)
		return -ESRCH;
	err = run_sync(o, &pr, &row);
	pool_destroy(pr.pool);
	if (!err)
		res->sync_unconfined = row.sync;
	return err;
}

static int nap_task(void *in, size_t in_size, void **out, size_t *out_size,
		    void *user_data)
{
	struct timespec nap = {0, SPAWN_NAP_MS * 1000000};

	(void)in, (void)in_size, (void)out, (void)out_size, (void)user_data;
	nanosleep(&nap, NULL);
	return 0;
}

/*
 * What a spawn mode costs: a 4-worker pool from pool_create until 4 tasks
 * of SPAWN_NAP_MS ran, one on each worker (max_in_flight 1), less the
 * nap. No shared memory, so clean-room workers can run it too.
 */
int pb_spawn_4(int mode, int zygote, double *ms)
{
	pool_config_t cfg = {.worker_count = 4,
			     .max_in_flight = 1,
			     .spawn_mode = mode,
			     .zygote = zygote};
	struct pool_run pr = {.npids = 0};
	int64_t t0 = bu_now_ns(), t1;
	task_future_t *f[4];
	int i, err;

	pr.pool = pb_start_pool(&cfg);
	if (!pr.pool)
		return -ESRCH;
	for (i = 0; i < 4; i++)
		f[i] = pool_submit_async(pr.pool, nap_task, NULL, 0, NULL,
					 TASK_PRIORITY_NORMAL, 0);
	err = wait_all(&pr, f, 4, "spawn");
	t1 = bu_now_ns();
	pool_destroy(pr.pool);
	if (!err && pr.npids != 4) {
		fprintf(stderr,
			"pool_bench: spawn: 4 tasks ran on %d workers\n",
			pr.npids);
		err = -EPROTO;
	}
	if (!err)
		*ms = (double)(t1 - t0) / 1e6 - SPAWN_NAP_MS;
	return err;
}

/*
 * Dynamic scaling from 1 worker to 5: five tasks that can only finish
 * together, one in flight per worker, so the pool must add 4 workers.
 */
static int dynamic_start(struct barrier *b, struct pb_results *res)
{
	pool_config_t cfg = {.worker_count = 1,
			     .min_workers = 1,
			     .max_workers = 5,
			     .max_in_flight = 1,
			     .enable_dynamic_scaling = 1};
	struct pool_run pr = {.npids = 0};
	int64_t t0, ns;
	int err;

	pr.pool = pb_start_pool(&cfg);
	if (!pr.pool)
		return -ESRCH;
	err = sync_once(&pr, &ns); /* the first worker is up */
	b->need = 5;
	t0 = bu_now_ns();
	if (!err)
		err = meet(&pr, b);
	if (!err)
		res->dyn_scale_up_4_ms = (double)(bu_now_ns() - t0) / 1e6;
	pool_destroy(pr.pool);
	return err;
}

/* The median of three values. */
static double median3(const double v[3])
{
	double a = v[0], b = v[1], c = v[2];

	if ((a <= b && b <= c) || (c <= b && b <= a))
		return b;
	if ((b <= a && a <= c) || (c <= a && a <= b))
		return a;
	return c;
}

/*
 * Start-up figures are the median of START_RUNS, interleaved: moving a
 * process into a cgroup takes the kernel anywhere from 0.1 to 20 ms (it
 * waits for an RCU grace period), so one run says little.
 */
#define START_RUNS 3

static int start_figures(struct barrier *b, struct pb_results *res)
{
	double conf[START_RUNS], unconf[START_RUNS], fork[START_RUNS],
	    clean[START_RUNS], stop[START_RUNS];
	int i, err = 0;

	for (i = 0; i < START_RUNS && !err; i++) {
		err = cold_start(b, res, 0);
		conf[i] = res->scale_up_4_ms;
		stop[i] = res->stop_4_ms;
		if (!err)
			err = cold_start(b, res, 1);
		unconf[i] = res->scale_up_4_unconfined_ms;
		if (!err)
			err = pb_spawn_4(POOL_SPAWN_FORK, 0, &fork[i]);
		if (!err)
			err = pb_spawn_4(POOL_SPAWN_CLEANROOM, 0, &clean[i]);
	}
	if (err)
		return err;
	res->scale_up_4_ms = median3(conf);
	res->stop_4_ms = median3(stop);
	res->scale_up_4_unconfined_ms = median3(unconf);
	res->spawn_4_fork_ms = median3(fork);
	res->spawn_4_cleanroom_ms = median3(clean);
	return 0;
}

int pb_engine_scale(const struct pb_opts *o, struct pb_results *res)
{
	struct barrier *b = bu_shared_map(sizeof(*b));
	int err;

	if (!b)
		return -ENOMEM;
	pb_watchdog_arm("scale", 120);
	err = start_figures(b, res);
	if (!err)
		err = dynamic_start(b, res);
	if (!err)
		err = sync_unconfined(o, res);
	bu_shared_unmap(b, sizeof(*b));
	return err;
}
