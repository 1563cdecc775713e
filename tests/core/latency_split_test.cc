// Queue wait and run time as separate histograms per priority, beside
// the end-to-end one: a known workload's place in them (lower bounds
// only). latency_layout_test checks the bucket layout itself.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace
{

using namespace pp_test;

TEST(LatencySplit, QueueAndRunByPriority)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.max_in_flight = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(p, nullptr);
	ASSERT_EQ(pool_start(p), 0);

	pool_latency_histogram_t h;
	EXPECT_EQ(pool_get_latency(nullptr, POOL_LATENCY_RUN, 0, &h),
		  POOL_EINVAL);
	EXPECT_EQ(pool_get_latency(p, POOL_LATENCY_RUN, 0, nullptr),
		  POOL_EINVAL);
	EXPECT_EQ(pool_get_latency(p, 3, 0, &h), POOL_EINVAL);
	EXPECT_EQ(pool_get_latency(p, POOL_LATENCY_QUEUE, 4, &h), POOL_EINVAL);
	EXPECT_EQ(pool_get_latency(p, POOL_LATENCY_QUEUE, -2, &h), POOL_EINVAL);
	EXPECT_EQ(pool_get_latency(p, POOL_LATENCY_TOTAL, 1, &h), POOL_EINVAL);

	// Three 20 ms sleeps on one worker that takes one at a time: each
	// runs at least 20 ms, and the last waits at least 40 ms queued.
	task_future_t *f[3];
	for (auto &x : f) {
		x = pool_submit_async(p, sleep_task, nullptr, 0,
				      reinterpret_cast<void *>(20),
				      TASK_PRIORITY_HIGH, 0);
		ASSERT_NE(x, nullptr);
	}
	for (auto &x : f) {
		task_result_t r;
		ASSERT_EQ(pool_future_wait(x, &r, -1), 0);
		EXPECT_EQ(r.status, TASK_STATUS_COMPLETED);
		pool_result_free(&r);
		pool_future_destroy(x);
	}

	ASSERT_EQ(pool_get_latency(p, POOL_LATENCY_RUN, TASK_PRIORITY_HIGH, &h),
		  0);
	EXPECT_EQ(h.count, 3u);
	EXPECT_EQ(h.le_us[14], 0u); // none ran under 2^14 us = 16.4 ms
	EXPECT_GE(h.sum_us, 60000u);
	EXPECT_GE(h.max_us, 20000u);

	ASSERT_EQ(
	    pool_get_latency(p, POOL_LATENCY_QUEUE, TASK_PRIORITY_HIGH, &h), 0);
	EXPECT_EQ(h.count, 3u);
	EXPECT_LE(h.le_us[15], 2u); // one waited over 2^15 us = 32.8 ms
	EXPECT_GE(h.max_us, 32768u);

	for (int prio : {0, 1, 3}) {
		ASSERT_EQ(pool_get_latency(p, POOL_LATENCY_RUN, prio, &h), 0);
		EXPECT_EQ(h.count, 0u) << prio;
		ASSERT_EQ(pool_get_latency(p, POOL_LATENCY_QUEUE, prio, &h), 0);
		EXPECT_EQ(h.count, 0u) << prio;
	}
	ASSERT_EQ(pool_get_latency(p, POOL_LATENCY_RUN, POOL_PRIORITY_ALL, &h),
		  0);
	EXPECT_EQ(h.count, 3u);
	ASSERT_EQ(
	    pool_get_latency(p, POOL_LATENCY_TOTAL, POOL_PRIORITY_ALL, &h), 0);
	EXPECT_EQ(h.count, 3u);
	EXPECT_EQ(h.le_us[14], 0u);  // end to end: each at least 20 ms...
	EXPECT_GE(h.max_us, 60000u); // ...and the last at least 60 ms

	// A task cancelled before it reached a worker counts end to end only.
	task_future_t *b = pool_submit_async(p, sleep_task, nullptr, 0,
					     reinterpret_cast<void *>(200),
					     TASK_PRIORITY_LOW, 0);
	task_future_t *q = pool_submit_async(p, noop_task, nullptr, 0, nullptr,
					     TASK_PRIORITY_LOW, 0);
	ASSERT_NE(b, nullptr);
	ASSERT_NE(q, nullptr);
	EXPECT_EQ(pool_future_cancel(q), 0);
	task_result_t r;
	ASSERT_EQ(pool_future_wait(b, &r, -1), 0);
	pool_future_destroy(b);
	pool_future_destroy(q);
	ASSERT_EQ(
	    pool_get_latency(p, POOL_LATENCY_TOTAL, POOL_PRIORITY_ALL, &h), 0);
	EXPECT_EQ(h.count, 5u);
	ASSERT_EQ(pool_get_latency(p, POOL_LATENCY_RUN, TASK_PRIORITY_LOW, &h),
		  0);
	EXPECT_EQ(h.count, 1u);
	pool_destroy(p);
}

} // namespace
