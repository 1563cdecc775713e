// Rolling restarts: every worker replaced under load with no task lost,
// failed or run twice, the ready workers never below the stated share; a
// config that fails validation leaves the pool as it was; a valid one
// reaches the new workers; a restart during a crash storm finishes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace
{

using namespace pp_test;

constexpr int kMaxTasks = 1 << 18;

// Runs per task tag, in memory the workers share (made before any pool).
std::atomic<int> *runs()
{
	static std::atomic<int> *r = static_cast<std::atomic<int> *>(
	    map_shared(sizeof(std::atomic<int>) * kMaxTasks));
	return r;
}

// Counts its run under its tag, then works for about 200 us.
int counted_task(void *, size_t, void **, size_t *, void *ud)
{
	intptr_t tag = reinterpret_cast<intptr_t>(ud);
	if (tag >= 0 && tag < kMaxTasks)
		runs()[tag]++;
	usleep(200);
	return 0;
}

pool_config_t config(int workers, int max_workers)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.max_workers = max_workers;
	strcpy(c.pool_name, "restart");
	return c;
}

std::set<int> pids(process_pool_t *p)
{
	pool_worker_info_t w[16];
	int n = pool_get_workers(p, w, 16);
	std::set<int> out;
	for (int i = 0; i < n; i++)
		out.insert(w[i].pid);
	return out;
}

// Async submitters (every priority) and sync submitters, until stop.
struct Load {
	process_pool_t *pool;
	std::atomic<int> next{0};
	std::atomic<bool> stop{false};
	std::atomic<int> not_completed{0};
	std::atomic<int> refused{0};
	std::vector<std::thread> threads;

	int take()
	{
		int tag = next++;
		return tag < kMaxTasks ? tag : -1;
	}
	void check(const task_result_t &r)
	{
		if (r.status != TASK_STATUS_COMPLETED)
			not_completed++;
	}
	void async_loop(int prio)
	{
		std::vector<task_future_t *> fs;
		while (!stop) {
			for (int i = 0; i < 32; i++) {
				int tag = take();
				if (tag < 0)
					break;
				task_future_t *f = pool_submit_async(
				    pool, counted_task, nullptr, 0,
				    reinterpret_cast<void *>(intptr_t{tag}),
				    static_cast<task_priority_t>(prio), 0);
				if (f)
					fs.push_back(f);
				else
					refused++;
			}
			for (task_future_t *f : fs) {
				task_result_t r;
				if (pool_future_wait(f, &r, -1) == 0)
					check(r);
				else
					not_completed++;
				pool_result_free(&r);
				pool_future_destroy(f);
			}
			fs.clear();
		}
	}
	void sync_loop()
	{
		while (!stop) {
			int tag = take();
			if (tag < 0)
				break;
			task_result_t r;
			int rc = pool_submit_sync(
			    pool, counted_task, nullptr, 0,
			    reinterpret_cast<void *>(intptr_t{tag}),
			    TASK_PRIORITY_NORMAL, 0, &r);
			if (rc)
				refused++;
			else
				check(r);
			pool_result_free(&r);
		}
	}
	void start()
	{
		for (int prio = 0; prio < TASK_PRIORITY_COUNT; prio++)
			threads.emplace_back(
			    [this, prio] { async_loop(prio); });
		for (int i = 0; i < 2; i++)
			threads.emplace_back([this] { sync_loop(); });
	}
	void finish()
	{
		stop = true;
		for (auto &t : threads)
			t.join();
	}
};

void expect_each_ran_once(int submitted)
{
	int missing = 0, twice = 0;
	for (int i = 0; i < submitted; i++) {
		int n = runs()[i].load();
		missing += n == 0;
		twice += n > 1;
	}
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, twice);
}

void wait_for_completions(process_pool_t *p, uint64_t n)
{
	pool_stats_t s;
	for (int i = 0; i < 20000; i++) {
		pool_get_stats(p, &s);
		if (s.tasks_completed >= n)
			return;
		usleep(1000);
	}
}

// Under load, with a free slot: every worker is replaced, no task is
// lost, failed, refused or run twice, and the ready workers never fell
// below the four the pool had.
void restart_under_load(int workers, int max_workers, int keep_ready)
{
	runs(); // before the pool: the workers share it
	memset(static_cast<void *>(runs()), 0,
	       sizeof(std::atomic<int>) * kMaxTasks);
	pool_config_t c = config(workers, max_workers);
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	std::set<int> before;
	for (int i = 0; i < 5000 && (int)before.size() < workers; i++) {
		before = pids(p);
		usleep(1000);
	}
	ASSERT_EQ(workers, (int)before.size());

	Load load;
	load.pool = p;
	load.start();
	wait_for_completions(p, 200);
	ASSERT_EQ(0, pool_restart(p, nullptr, POOL_RESTART_WAIT));
	pool_stats_t mid;
	pool_get_stats(p, &mid);
	wait_for_completions(p, mid.tasks_completed + 200);
	load.finish();

	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(1u, s.pool_restarts);
	EXPECT_EQ(0, s.restarting);
	EXPECT_GE(s.restart_min_ready, keep_ready);
	EXPECT_EQ(0, load.not_completed.load());
	EXPECT_EQ(0, load.refused.load());
	EXPECT_EQ(0u, s.tasks_crashed + s.tasks_failed + s.tasks_cancelled +
			  s.tasks_retried);
	EXPECT_EQ(s.tasks_submitted, s.tasks_completed);
	expect_each_ran_once(load.next.load() < kMaxTasks ? load.next.load()
							  : kMaxTasks);
	// Every worker alive now started after the call.
	std::set<int> after = pids(p);
	EXPECT_EQ(workers, (int)after.size());
	for (int pid : after)
		EXPECT_EQ(0u, before.count(pid)) << "worker " << pid << " kept";
	pool_destroy(p);
}

TEST(Restart, UnderLoadWithASpareSlotKeepsEveryWorkerReady)
{
	restart_under_load(4, 5, 4);
}

// Without a free slot, one worker (of four) at most is out at a time.
TEST(Restart, UnderLoadWithoutASpareSlotKeepsThreeOfFourReady)
{
	restart_under_load(4, 4, 3);
}

// A restart is refused, with nothing changed, for a config that fails
// validation or changes what cannot change while running.
TEST(Restart, AnInvalidConfigKeepsTheRunningPool)
{
	pool_config_t c = config(2, 2);
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(POOL_ESTATE, pool_restart(p, nullptr, 0));
	ASSERT_EQ(0, pool_start(p));
	std::set<int> before;
	for (int i = 0; i < 5000 && before.size() < 2; i++) {
		before = pids(p);
		usleep(1000);
	}
	ASSERT_EQ(2u, before.size());

	pool_config_t bad = c;
	bad.seccomp_allow = "no_such_syscall";
	EXPECT_EQ(POOL_EINVAL, pool_restart(p, &bad, POOL_RESTART_WAIT));
	bad = c;
	bad.min_workers = 3; // above max_workers
	EXPECT_EQ(POOL_EINVAL, pool_restart(p, &bad, POOL_RESTART_WAIT));
	bad = c;
	bad.queue_size = 7; // fixed while running
	EXPECT_EQ(POOL_EINVAL, pool_restart(p, &bad, POOL_RESTART_WAIT));
	bad = c;
	bad.memory_max = 1 << 30; // a limit turned on
	EXPECT_EQ(POOL_EINVAL, pool_restart(p, &bad, POOL_RESTART_WAIT));
	EXPECT_EQ(POOL_EINVAL, pool_restart(nullptr, nullptr, 0));
	EXPECT_EQ(POOL_EINVAL, pool_restart(p, nullptr, 0x100));

	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(0u, s.pool_restarts);
	EXPECT_EQ(0, s.restarting);
	EXPECT_EQ(before, pids(p));
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_destroy(p);
}

// A new seccomp allow-list reaches the workers a restart starts: the
// socket the old ones were denied, the new ones may open. Clean-room
// workers read theirs from a setup memfd, written again.
void new_config_reaches_new_workers(int spawn_mode)
{
	pool_config_t c = config(2, 3);
	c.spawn_mode = spawn_mode;
	c.seccomp_errno = 1; // a denied call fails with EPERM
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, socket_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status);

	pool_config_t next = c;
	next.seccomp_allow = "socket";
	next.max_tasks_per_worker = 1000;
	ASSERT_EQ(0, pool_restart(p, &next, POOL_RESTART_WAIT));
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(0,
			  pool_submit_sync(p, socket_task, nullptr, 0, nullptr,
					   TASK_PRIORITY_NORMAL, 0, &r));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		EXPECT_EQ(0, r.return_code);
	}
	pool_stats_t s;
	pool_get_stats(p, &s);
	EXPECT_EQ(1u, s.pool_restarts);
	pool_destroy(p);
}

TEST(Restart, ANewConfigReachesTheNewWorkers)
{
	new_config_reaches_new_workers(POOL_SPAWN_FORK);
}

TEST(Restart, ANewConfigReachesNewCleanRoomWorkers)
{
	new_config_reaches_new_workers(POOL_SPAWN_CLEANROOM);
}

// A task still running on a worker the restart retires finishes there.
TEST(Restart, ARetiredWorkerFinishesItsTask)
{
	pool_config_t c = config(1, 2);
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_future_t *f = pool_submit_async(
	    p, sleep_task, nullptr, 0, reinterpret_cast<void *>(intptr_t{300}),
	    TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	usleep(50000);
	ASSERT_EQ(0, pool_restart(p, nullptr, POOL_RESTART_WAIT));
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(f, &r, -1));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_future_destroy(f);
	pool_destroy(p);
}

// Workers crash all the while; the restart still finishes, since every
// worker spawned before it goes one way or the other.
TEST(Restart, FinishesDuringACrashStorm)
{
	pool_config_t c = config(3, 3);
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	std::atomic<bool> stop{false};
	std::thread storm([&] {
		while (!stop) {
			task_result_t r;
			if (pool_submit_sync(p, segv_task, nullptr, 0, nullptr,
					     TASK_PRIORITY_HIGH, 0, &r) == 0)
				pool_result_free(&r);
		}
	});
	usleep(100000);
	EXPECT_EQ(0, pool_restart(p, nullptr, POOL_RESTART_WAIT));
	stop = true;
	storm.join();
	pool_stats_t s;
	pool_get_stats(p, &s);
	EXPECT_EQ(1u, s.pool_restarts);
	EXPECT_GT(s.tasks_crashed, 0u);
	// Without waiting: restarting says so from the call on.
	ASSERT_EQ(0, pool_restart(p, nullptr, 0));
	pool_get_stats(p, &s);
	EXPECT_EQ(1, s.restarting);
	for (int i = 0; i < 20000 && s.restarting; i++) {
		usleep(1000);
		pool_get_stats(p, &s);
	}
	EXPECT_EQ(0, s.restarting);
	EXPECT_EQ(2u, s.pool_restarts);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_destroy(p);
}

// pool_stop wakes a caller still waiting for its restart.
TEST(Restart, AWaiterLearnsOfAStop)
{
	reset_board(); // before the pool: the workers share it
	pool_config_t c = config(2, 2);
	c.restart_grace_ms = -1; // the old worker keeps its task
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_future_t *f = pool_submit_async(p, blocker_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0);
	task_future_t *g = pool_submit_async(p, blocker_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	ASSERT_NE(nullptr, g);
	for (int i = 0; i < 5000 && board()->started < 2; i++)
		usleep(1000);
	ASSERT_EQ(2, board()->started.load());
	std::atomic<int> rc{1};
	std::thread waiter(
	    [&] { rc = pool_restart(p, nullptr, POOL_RESTART_WAIT); });
	usleep(100000);
	EXPECT_EQ(1, rc.load()); // both old workers still busy
	ASSERT_EQ(0, pool_stop(p, 0));
	waiter.join();
	EXPECT_EQ(POOL_ESTATE, rc.load());
	board()->release = 1;
	pool_future_destroy(f);
	pool_future_destroy(g);
	pool_destroy(p);
}

} // namespace
