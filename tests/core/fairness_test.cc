// Fairness and the supervisor's two invariants: a queued task never waits
// while a worker that may run it idles (the direct lane shares the
// workers with the queue first come, first served), and the supervisor
// neither sleeps while it holds work it could do nor spins when it cannot
// make progress.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace {

using namespace pp_test;

// The bound the README states for a queued task with an idle worker is
// microseconds; this test allows far more (sanitizers, a loaded 2-core
// machine) and still fails on a supervisor that waits for a timer tick.
constexpr uint64_t kQueueWaitBoundUs = 1000000;

process_pool_t *start(int workers, size_t arena = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.arena_size = arena;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

// More synchronous callers than workers: every task completes, none
// waits in the queue for a worker that idles in the direct lane.
TEST(Fairness, SyncCallersDoNotStarveEachOther)
{
	process_pool_t *p = start(2);
	ASSERT_NE(nullptr, p);
	const int threads = 8, each = static_cast<int>(scaled(300));
	std::atomic<int> timeouts{0}, bad{0};
	std::atomic<uint64_t> worst{0};
	std::vector<std::thread> ts;
	for (int k = 0; k < threads; k++)
		ts.emplace_back([&, k] {
			for (int i = 0; i < each; i++) {
				int64_t v = k * 1000 + i;
				task_result_t r;
				if (pool_submit_sync(p, echo_task, &v,
						     sizeof(v), nullptr,
						     TASK_PRIORITY_NORMAL,
						     10000, &r)) {
					bad++;
					continue;
				}
				if (r.status == TASK_STATUS_TIMEOUT)
					timeouts++;
				else if (r.status != TASK_STATUS_COMPLETED ||
					 r.output_size != sizeof(v) ||
					 memcmp(r.output_data, &v, sizeof(v)))
					bad++;
				uint64_t w = worst.load();
				while (r.queue_us > w &&
				       !worst.compare_exchange_weak(w,
								    r.queue_us))
					;
				pool_result_free(&r);
			}
		});
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(0, timeouts.load());
	EXPECT_EQ(0, bad.load());
	EXPECT_LT(worst.load(), kQueueWaitBoundUs);
	pool_destroy(p);
}

// Async and batch tasks at HIGH priority are not overtaken by sync
// callers of NORMAL priority that hold every worker.
TEST(Fairness, QueuedTasksAreNotOvertakenBySyncCallers)
{
	process_pool_t *p = start(2);
	ASSERT_NE(nullptr, p);
	std::atomic<bool> stop{false};
	std::vector<std::thread> ts;
	for (int k = 0; k < 4; k++)
		ts.emplace_back([&] {
			while (!stop) {
				task_result_t r;
				if (pool_submit_sync(p, sleep_task, nullptr, 0,
						     (void *)1,
						     TASK_PRIORITY_NORMAL,
						     10000, &r) == 0)
					pool_result_free(&r);
			}
		});
	usleep(50 * 1000);
	task_desc_t d[32];
	memset(d, 0, sizeof(d));
	for (auto &x : d) {
		x.task_func = noop_task;
		x.priority = TASK_PRIORITY_HIGH;
		x.timeout_ms = 5000;
	}
	task_future_t **fs = pool_submit_batch(p, d, 32);
	ASSERT_NE(nullptr, fs);
	int timeouts = 0;
	uint64_t worst = 0;
	for (int i = 0; i < 32; i++) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(fs[i], &r, 30000));
		timeouts += r.status == TASK_STATUS_TIMEOUT;
		EXPECT_TRUE(r.status == TASK_STATUS_COMPLETED ||
			    r.status == TASK_STATUS_TIMEOUT);
		worst = r.queue_us > worst ? r.queue_us : worst;
		pool_future_destroy(fs[i]);
	}
	free(fs);
	stop = true;
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(0, timeouts);
	EXPECT_LT(worst, kQueueWaitBoundUs);
	pool_destroy(p);
}

// Dispatch blocked on arena space: the supervisor sleeps (its loop turns
// stay few while the worker runs), still sees the worker die, and both
// tasks end.
TEST(Fairness, BlockedDispatchSleepsAndStillReapsADeadWorker)
{
	const size_t arena = 64 * 1024, big = 48 * 1024;
	process_pool_t *p = start(1, arena);
	ASSERT_NE(nullptr, p);
	std::vector<unsigned char> in(big, 7);
	task_future_t *a =
	    pool_submit_async(p, sleep_then_segv_task, in.data(), big,
			      (void *)300, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, a);
	usleep(20 * 1000);
	task_future_t *b = pool_submit_async(p, echo_malloc_task, in.data(),
					     big, nullptr, TASK_PRIORITY_NORMAL,
					     0);
	ASSERT_NE(nullptr, b);
	usleep(50 * 1000);
	pool_stats_t s0, s1;
	ASSERT_EQ(0, pool_get_stats(p, &s0));
	usleep(150 * 1000);
	ASSERT_EQ(0, pool_get_stats(p, &s1));
	// A task that is blocked costs the loop no turns of its own: a few
	// wakeups at most (the other task's submission, a timer).
	EXPECT_LT(s1.supervisor_loops - s0.supervisor_loops, 20u);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(a, &r, 20000));
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status) << r.detail;
	ASSERT_EQ(0, pool_future_wait(b, &r, 20000));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_EQ(big, r.output_size);
	pool_result_free(&r);
	pool_future_destroy(a);
	pool_future_destroy(b);
	pool_destroy(p);
}

// An idle pool's supervisor does not turn at all.
TEST(Fairness, IdleSupervisorDoesNotTurn)
{
	process_pool_t *p = start(2);
	ASSERT_NE(nullptr, p);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	usleep(100 * 1000);
	pool_stats_t s0, s1;
	ASSERT_EQ(0, pool_get_stats(p, &s0));
	usleep(300 * 1000);
	ASSERT_EQ(0, pool_get_stats(p, &s1));
	EXPECT_LE(s1.supervisor_loops - s0.supervisor_loops, 2u);
	pool_destroy(p);
}

// A stop that waits for its deadline (a task queued, its only worker
// held back by a crash loop's back-off, which no stop lifts) waits on
// its timer: a respawn time that has passed, which a stopping pool will
// not act on, does not keep the loop turning.
TEST(Fairness, AStopWaitingOnACrashLoopDoesNotSpin)
{
	process_pool_t *p = start(1);
	ASSERT_NE(nullptr, p);
	task_result_t r;
	pool_health_t h;
	memset(&h, 0, sizeof(h));
	// More crashes in a second than a storm allows: respawns back off.
	for (int i = 0; i < 40 && !(h.reasons & POOL_HEALTH_CRASH_BACKOFF);
	     i++) {
		ASSERT_EQ(0, pool_submit_sync(p, segv_task, nullptr, 0, nullptr,
					      TASK_PRIORITY_NORMAL, 0, &r));
		EXPECT_EQ(TASK_STATUS_CRASHED, r.status) << r.detail;
		ASSERT_EQ(0, pool_health(p, &h));
	}
	ASSERT_TRUE(h.reasons & POOL_HEALTH_CRASH_BACKOFF)
	    << "no back-off after 40 crashes";
	// Each crash doubles it (from 10 ms): 160 ms, time for the stop to
	// begin before the worker may come back.
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(0, pool_submit_sync(p, segv_task, nullptr, 0, nullptr,
					      TASK_PRIORITY_NORMAL, 0, &r));
		EXPECT_EQ(TASK_STATUS_CRASHED, r.status) << r.detail;
	}
	// The dead worker reaped (its respawn now waits on the back-off).
	for (int i = 0; i < 100; i++) {
		ASSERT_EQ(0, pool_health(p, &h));
		if (h.workers == 0)
			break;
		usleep(1000);
	}
	ASSERT_EQ(0, h.workers);
	task_future_t *f = pool_submit_async(p, noop_task, nullptr, 0, nullptr,
					     TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	pool_stats_t s0, s1;
	ASSERT_EQ(0, pool_get_stats(p, &s0));
	pool_stop(p, 1500);
	ASSERT_EQ(0, pool_get_stats(p, &s1));
	// The stop's own cadence is 100 turns a second at most.
	EXPECT_LT(s1.supervisor_loops - s0.supervisor_loops, 1000u);
	// What this test is about happened: no worker came back to run it.
	EXPECT_NE(TASK_STATUS_COMPLETED, pool_future_status(f));
	pool_future_destroy(f);
	pool_destroy(p);
}

}  // namespace
