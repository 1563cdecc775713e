// Dynamic scaling and recycling: the pool grows under a backlog, shrinks
// back to min_workers when idle (retiring only idle workers), and
// recycles workers after max_tasks_per_worker without losing a task.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using namespace pp_test;

int active(process_pool_t *p)
{
	pool_stats_t s;
	pool_get_stats(p, &s);
	return s.active_workers;
}

TEST(PoolScaling, GrowsUnderBacklogAndShrinksWhenIdle)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.enable_dynamic_scaling = 1;
	c.min_workers = 1;
	c.max_workers = 3;
	c.worker_idle_timeout = 200;
	c.max_in_flight = 1;
	reset_board();
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	EXPECT_EQ(1, active(p));
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 6; i++)
		fs.push_back(pool_submit_async(p, blocker_task, nullptr, 0,
					       nullptr, TASK_PRIORITY_NORMAL,
					       0));
	for (int i = 0; i < 5000 && board()->started < 3; i++)
		usleep(1000);
	EXPECT_EQ(3, board()->started.load());
	EXPECT_EQ(3, active(p));
	board()->release = 1;
	for (auto *f : fs) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 20000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		pool_future_destroy(f);
	}
	for (int i = 0; i < 5000 && active(p) > 1; i++)
		usleep(1000);
	EXPECT_EQ(1, active(p));
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_destroy(p);
}

TEST(PoolScaling, RecyclesWorkersWithoutLosingTasks)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.max_tasks_per_worker = 10;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	std::vector<int> pids;
	for (int i = 0; i < 100; i++) {
		int64_t v = i;
		task_result_t r;
		ASSERT_EQ(0, pool_submit_sync(p, square_task, &v, sizeof(v),
					      nullptr, TASK_PRIORITY_NORMAL, 0,
					      &r));
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
		EXPECT_EQ(v * v, *(int64_t *)r.output_data);
		pids.push_back(r.worker_pid);
		pool_result_free(&r);
	}
	std::sort(pids.begin(), pids.end());
	pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
	EXPECT_GE(pids.size(), 5u);  // 100 tasks, at most ~12 per worker
	pool_stats_t s;
	pool_get_stats(p, &s);
	EXPECT_EQ(100u, s.tasks_completed);
	EXPECT_EQ(0u, s.tasks_crashed);
	pool_destroy(p);
}

}  // namespace

namespace {

int cpu_task(void *, size_t, void **out, size_t *out_n, void *)
{
	int *cpu = static_cast<int *>(malloc(sizeof(int)));
	*cpu = sched_getcpu();
	*out = cpu;
	*out_n = sizeof(int);
	return 0;
}

// With affinity, each worker runs on the CPU pool_get_workers names.
TEST(PoolWorkers, AffinityPinsEachWorkerToItsCpu)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.enable_worker_affinity = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	pool_worker_info_t info[8];
	int n = pool_get_workers(p, info, 8);
	ASSERT_EQ(2, n);
	for (int i = 0; i < 40; i++) {
		task_result_t r;
		ASSERT_EQ(0, pool_submit_sync(p, cpu_task, nullptr, 0, nullptr,
					      TASK_PRIORITY_NORMAL, 0, &r));
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		int ran_on = *static_cast<int *>(r.output_data);
		bool known = false;
		for (int k = 0; k < n; k++)
			if (info[k].pid == r.worker_pid) {
				EXPECT_EQ(info[k].cpu, ran_on);
				known = true;
			}
		EXPECT_TRUE(known) << "pid " << r.worker_pid;
		pool_result_free(&r);
	}
	EXPECT_EQ(POOL_EINVAL, pool_get_workers(nullptr, info, 8));
	EXPECT_EQ(POOL_EINVAL, pool_get_workers(p, nullptr, 8));
	pool_destroy(p);
}

TEST(PoolWorkers, InfoCountsTasksAndRestarts)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_result_t r;
	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
					      TASK_PRIORITY_NORMAL, 0, &r));
	pool_worker_info_t info;
	ASSERT_EQ(1, pool_get_workers(p, &info, 1));
	EXPECT_EQ(5u, info.tasks_done);
	EXPECT_EQ(-1, info.cpu);
	EXPECT_EQ(0, info.busy);
	ASSERT_EQ(0, pool_submit_sync(p, segv_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	for (int i = 0; i < 5000; i++) {
		if (pool_get_workers(p, &info, 1) == 1 && info.restarts == 1)
			break;
		usleep(1000);
	}
	EXPECT_EQ(1u, info.restarts);
	ASSERT_EQ(0, pool_stop(p, 1000));
	EXPECT_EQ(0, pool_get_workers(p, &info, 1)); /* not running */
	pool_destroy(p);
}

}  // namespace
