// Chaos: thousands of tasks from several threads while workers are
// SIGKILLed at random. Every task ends exactly once, the counters add up,
// and no child or fd is left once the pool is gone.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace {

using namespace pp_test;

TEST(PoolChaos, RandomWorkerKillsLoseNoTask)
{
	const int threads = 4;
	const int per = (int)pp_test::scaled(1500);
	int fds_before = pp_test::open_fds();
	pool_config_t c;

	memset(&c, 0, sizeof(c));
	c.worker_count = 3;
	c.max_retries = 3;
	strcpy(c.pool_name, "chaos");
	reset_board();
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));

	std::atomic<bool> stop{false};
	std::atomic<int> kills{0};
	std::thread killer([&] {
		std::mt19937 rng(1234);
		while (!stop) {
			std::vector<pid_t> kids = children();
			if (!kids.empty() &&
			    kill(kids[rng() % kids.size()], SIGKILL) == 0)
				kills++;
			usleep(20000 + rng() % 40000);
		}
	});
	std::atomic<int> outcomes[TASK_STATUS_COUNT] = {};
	std::atomic<int> resolved{0}, refused{0};
	std::vector<std::thread> ts;
	for (int t = 0; t < threads; t++)
		ts.emplace_back([&, t] {
			std::vector<task_future_t *> fs;
			for (int i = 0; i < per; i++) {
				int64_t v = t * per + i;
				task_future_t *f = pool_submit_async(
					p, i % 2 ? square_task : sleep_task,
					&v, sizeof(v),
					reinterpret_cast<void *>(intptr_t{1 + i % 2}),
					(task_priority_t)(i % 4), 0);
				if (f)
					fs.push_back(f);
				else
					refused++;
			}
			for (task_future_t *f : fs) {
				task_result_t r;
				if (pool_future_wait(f, &r, 120000) == 0) {
					resolved++;
					outcomes[r.status]++;
				}
				pool_result_free(&r);
				pool_future_destroy(f);
			}
		});
	for (auto &t : ts)
		t.join();
	stop = true;
	killer.join();

	EXPECT_EQ(threads * per, resolved.load() + refused.load());
	EXPECT_EQ(0, refused.load());
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	uint64_t ended = s.tasks_completed + s.tasks_failed + s.tasks_crashed +
			 s.tasks_timed_out + s.tasks_cancelled +
			 s.tasks_rejected + s.tasks_protocol_error;
	EXPECT_EQ(s.tasks_submitted, ended);
	EXPECT_EQ((uint64_t)resolved.load(), s.tasks_submitted);
	EXPECT_EQ((uint64_t)outcomes[TASK_STATUS_COMPLETED].load(),
		  s.tasks_completed);
	EXPECT_EQ((uint64_t)outcomes[TASK_STATUS_CRASHED].load(),
		  s.tasks_crashed);
	// Only kills can fail a task here.
	EXPECT_EQ(resolved.load(), outcomes[TASK_STATUS_COMPLETED] +
					   outcomes[TASK_STATUS_CRASHED]);
	EXPECT_GT(kills.load(), 0);
	EXPECT_GE(s.worker_restarts, 1u);
	pool_destroy(p);
	EXPECT_TRUE(children().empty());
	EXPECT_EQ(fds_before, pp_test::open_fds());
}

}  // namespace
