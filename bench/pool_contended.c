/*
 * The pool's part of pool_bench's contended section: synchronous callers
 * sharing a pool of PB_CONTENDED_WORKERS workers, on one pool, in order:
 *
 * - async alone: one thread submits no-op tasks with pool_submit_async,
 *   one at a time, each waited, and keeps each task_result_t.queue_us;
 * - PB_CONTENDED_CALLERS threads each calling pool_submit_sync of a
 *   no-op task in a loop (struct peer_callers, as the peers' threads);
 * - mixed: PB_MIXED_CALLERS such threads while one thread submits the
 *   async tasks as above: their queue wait beside the sync callers'
 *   round trips. A sync caller takes the direct lane only while nothing
 *   is queued; a lane that did not yield would show here, as async
 *   waits that grow with the callers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench/pool_bench.h"

#define WAIT_MS	   30000 /* one future; longer is a hang */
#define ASYNC_WARM 200	 /* untimed async tasks before the first run */

/* One caller's round trip; peer_callers runs it from every thread. */
static int sync_call(void *arg, uint64_t id)
{
	process_pool_t *pool = arg;
	task_result_t r;
	int err = pool_submit_sync(pool, pb_noop_task, NULL, 0, NULL,
				   TASK_PRIORITY_NORMAL, 0, &r);

	(void)id;
	if (err) {
		fprintf(stderr, "pool_bench: contended: pool_submit_sync: %s\n",
			pool_strerror(err));
		return err;
	}
	err = pb_check_result(&r, "contended");
	pool_result_free(&r);
	return err;
}

/* One async no-op task, waited: its queue_us into q. */
static int async_once(process_pool_t *pool, struct bu_samples *q)
{
	task_future_t *f = pool_submit_async(pool, pb_noop_task, NULL, 0, NULL,
					     TASK_PRIORITY_NORMAL, 0);
	task_result_t r;
	int err;

	if (!f) {
		err = errno;
		fprintf(stderr,
			"pool_bench: contended: pool_submit_async: %s\n",
			strerror(err));
		return -err;
	}
	err = pool_future_wait(f, &r, WAIT_MS);
	if (err) {
		fprintf(stderr, "pool_bench: contended: wait: %s\n",
			pool_strerror(err));
	} else {
		err = pb_check_result(&r, "contended async");
		bu_samples_add(q, (int64_t)r.queue_us * 1000);
		pool_result_free(&r);
	}
	pool_future_destroy(f);
	return err;
}

/* n async tasks, one at a time: percentiles of their queue_us. */
static int async_run(process_pool_t *pool, uint64_t n, struct bu_pct *out)
{
	struct bu_samples q;
	uint64_t i;
	int err = bu_samples_init(&q, n);

	for (i = 0; !err && i < n; i++)
		err = async_once(pool, &q);
	if (!err)
		*out = bu_samples_pct(&q);
	bu_samples_free(&q);
	return err;
}

static int run_callers(const struct pb_opts *o, process_pool_t *pool,
		       struct peer_contended *out)
{
	struct peer_callers s;
	struct peer_opts po;
	int err;

	pb_peer_opts(o, &po);
	peer_callers_init(&s, &po, PB_CONTENDED_CALLERS, sync_call, pool);
	err = peer_callers_start(&s);
	if (!err)
		err = peer_callers_end(&s, out);
	return err;
}

/*
 * The sync callers run until the async tasks are done; each keeps its
 * first o->roundtrips round trips, more than it makes in that time.
 */
static int run_mixed(const struct pb_opts *o, process_pool_t *pool,
		     struct pb_results *res)
{
	struct peer_callers s;
	struct peer_opts po;
	int err, end_err;

	pb_peer_opts(o, &po);
	peer_callers_init(&s, &po, PB_MIXED_CALLERS, sync_call, pool);
	s.stop_at_total = false;
	err = peer_callers_start(&s);
	if (err)
		return err;
	err = async_run(pool, res->async_tasks, &res->async_queue_mixed);
	end_err = peer_callers_end(&s, &res->mixed);
	return err ? err : end_err;
}

static int contended_runs(const struct pb_opts *o, process_pool_t *pool,
			  struct pb_results *res)
{
	struct bu_pct warm;
	int err;

	err = async_run(pool, ASYNC_WARM, &warm);
	if (!err)
		err =
		    async_run(pool, res->async_tasks, &res->async_queue_alone);
	if (!err)
		err = run_callers(o, pool, &res->contended);
	if (!err)
		res->contended.ran = true;
	if (!err)
		err = run_mixed(o, pool, res);
	if (!err)
		res->mixed.ran = true;
	return err;
}

int pb_engine_contended(const struct pb_opts *o, struct pb_results *res)
{
	pool_config_t cfg = {.worker_count = PB_CONTENDED_WORKERS};
	process_pool_t *pool;
	int err;

	res->async_tasks = pb_async_tasks(o);
	pb_watchdog_arm("contended: pool start", 120);
	pool = pb_start_pool(&cfg);
	if (!pool)
		return -ESRCH;
	pb_watchdog_arm("contended", 600);
	res->contended.workers = res->mixed.workers = PB_CONTENDED_WORKERS;
	err = contended_runs(o, pool, res);
	snprintf(res->contended.note, sizeof(res->contended.note),
		 "%d threads, each pool_submit_sync in a loop",
		 PB_CONTENDED_CALLERS);
	snprintf(res->mixed.note, sizeof(res->mixed.note),
		 "%d threads, each pool_submit_sync in a loop, beside %llu "
		 "async tasks",
		 PB_MIXED_CALLERS, (unsigned long long)res->async_tasks);
	pb_watchdog_arm("contended: pool_destroy", 60);
	pool_destroy(pool);
	return err;
}
