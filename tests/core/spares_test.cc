// Spare workers: fresh processes kept ready beside the active ones. What a
// spare is for (replacing a worker that goes, at once) and what it must
// never be (a process that runs a task before it replaces one, lent to a
// direct-lane client, or a domain's process). Timing is the benchmark's
// business: these tests check the mechanism, through the pids that run
// the tasks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace
{

pool_config_t config(int workers, int spares, int isolation)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.spare_workers = spares;
	c.isolation = isolation;
	strcpy(c.pool_name, "spares");
	return c;
}

process_pool_t *start(const pool_config_t &c)
{
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

// The pids of the live spares, once n of them are up (empty after 20 s).
std::set<int> spares_when_ready(process_pool_t *p, int n)
{
	std::vector<pool_worker_info_t> w(64);
	for (int i = 0; i < 2000; i++) {
		std::set<int> s;
		int k = pool_get_workers(p, w.data(), w.size());
		for (int j = 0; j < k; j++)
			if (w[j].spare)
				s.insert(w[j].pid);
		if ((int)s.size() >= n)
			return s;
		usleep(10000);
	}
	return {};
}

std::set<int> active_pids(process_pool_t *p)
{
	std::vector<pool_worker_info_t> w(64);
	std::set<int> s;
	int k = pool_get_workers(p, w.data(), w.size());
	for (int j = 0; j < k; j++)
		if (!w[j].spare)
			s.insert(w[j].pid);
	return s;
}

task_result_t run_sync(process_pool_t *p, task_func_t f, void *ud = nullptr)
{
	task_result_t r;
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(0, pool_submit_sync(p, f, nullptr, 0, ud,
				      TASK_PRIORITY_NORMAL, 20000, &r));
	return r;
}

task_result_t run_key(process_pool_t *p, uint64_t key)
{
	task_desc_t d;
	memset(&d, 0, sizeof(d));
	d.task_func = pp_test::noop_task;
	d.priority = TASK_PRIORITY_NORMAL;
	d.timeout_ms = 20000;
	d.isolation_key = key;
	task_result_t r;
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(0, pool_submit_task_sync(p, &d, &r));
	return r;
}

TEST(Spares, ConfigIsCheckedAndDefaultsFollowTheMode)
{
	pool_config_t c = config(1, -2, POOL_ISOLATE_WORKER);
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	c = config(1, 4097, POOL_ISOLATE_WORKER);
	EXPECT_EQ(nullptr, pool_create(&c));

	// A pool that keeps its workers has none unless asked.
	c = config(2, 0, POOL_ISOLATE_WORKER);
	process_pool_t *p = start(c);
	ASSERT_NE(nullptr, p);
	pool_stats_t s;
	usleep(200000);
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(0, s.spare_workers);
	EXPECT_EQ(2, s.active_workers);
	pool_destroy(p);

	// One that discards a process per task keeps one per worker.
	c = config(2, 0, POOL_ISOLATE_TASK);
	p = start(c);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(2u, spares_when_ready(p, 2).size());
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(2, s.active_workers) << "spares are not counted active";
	pool_destroy(p);

	// -1: none, even per task.
	c = config(1, -1, POOL_ISOLATE_TASK);
	p = start(c);
	ASSERT_NE(nullptr, p);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(TASK_STATUS_COMPLETED,
			  run_sync(p, pp_test::noop_task).status);
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(0, s.spare_workers);
	EXPECT_EQ(0u, s.spares_used);
	pool_destroy(p);
}

// While the active worker lives, no task reaches a spare: not through the
// queue, not through the direct lane, not in a batch.
TEST(Spares, ASpareRunsNothingWhileItIsASpare)
{
	process_pool_t *p = start(config(1, 2, POOL_ISOLATE_WORKER));
	ASSERT_NE(nullptr, p);
	std::set<int> spares = spares_when_ready(p, 2);
	ASSERT_EQ(2u, spares.size());
	for (int i = 0; i < 200; i++) {
		task_result_t r = run_sync(p, pp_test::noop_task);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
		EXPECT_EQ(0u, spares.count(r.worker_pid)) << "sync " << i;
	}
	std::vector<task_desc_t> d(300);
	for (auto &x : d) {
		memset(&x, 0, sizeof(x));
		x.task_func = pp_test::noop_task;
		x.priority = TASK_PRIORITY_NORMAL;
	}
	task_future_t **f = pool_submit_batch(p, d.data(), d.size());
	ASSERT_NE(nullptr, f);
	for (size_t i = 0; i < d.size(); i++) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f[i], &r, 20000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		EXPECT_EQ(0u, spares.count(r.worker_pid)) << "batch " << i;
		pool_result_free(&r);
		pool_future_destroy(f[i]);
	}
	free(f);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(0u, s.spares_used);
	pool_destroy(p);
}

// A worker that crashes is replaced by a process that was already up: the
// next task runs in one of the spares seen before the crash.
TEST(Spares, ACrashedWorkerIsReplacedByASpare)
{
	process_pool_t *p = start(config(1, 1, POOL_ISOLATE_WORKER));
	ASSERT_NE(nullptr, p);
	for (int round = 0; round < 3; round++) {
		std::set<int> spares = spares_when_ready(p, 1);
		ASSERT_EQ(1u, spares.size());
		std::set<int> before = active_pids(p);
		task_result_t r = run_sync(p, pp_test::segv_task);
		EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
		r = run_sync(p, pp_test::noop_task);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
		EXPECT_EQ(1u, spares.count(r.worker_pid))
		    << "round " << round << ": ran in " << r.worker_pid
		    << ", not the spare";
		EXPECT_EQ(0u, before.count(r.worker_pid));
		// A buffer of max_workers entries gets the active worker,
		// wherever the slots of the spares lie.
		spares_when_ready(p, 1);
		pool_worker_info_t one;
		ASSERT_EQ(1, pool_get_workers(p, &one, 1));
		EXPECT_EQ(0, one.spare);
		EXPECT_EQ(r.worker_pid, one.pid);
	}
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_GE(s.spares_used, 3u);
	pool_destroy(p);
}

// POOL_ISOLATE_TASK: each task's process is discarded, and its place is
// taken by a process that was a spare before (never one started for the
// task); no process runs two tasks.
TEST(Spares, PerTaskProcessesComeFromTheSpares)
{
	process_pool_t *p = start(config(1, 2, POOL_ISOLATE_TASK));
	ASSERT_NE(nullptr, p);
	std::set<int> seen, were_spares;
	int from_spares = 0;
	for (int i = 0; i < 12; i++) {
		std::set<int> spares = spares_when_ready(p, 2);
		ASSERT_EQ(2u, spares.size());
		were_spares.insert(spares.begin(), spares.end());
		task_result_t r = run_sync(p, pp_test::noop_task);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
		EXPECT_TRUE(seen.insert(r.worker_pid).second)
		    << "pid " << r.worker_pid << " ran two tasks";
		from_spares += were_spares.count(r.worker_pid) > 0;
	}
	// The first task runs in the first worker; every later one where a
	// spare was.
	EXPECT_EQ(11, from_spares);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_GE(s.spares_used, 11u);
	pool_destroy(p);
}

// A task whose key no live worker may take evicts one, and a spare takes
// the evicted worker's place at once: the task runs in that spare.
TEST(Spares, AKeyEvictionIsServedByASpare)
{
	process_pool_t *p = start(config(1, 1, POOL_ISOLATE_WORKER));
	ASSERT_NE(nullptr, p);
	task_result_t a = run_key(p, 1);
	ASSERT_EQ(TASK_STATUS_COMPLETED, a.status);
	for (uint64_t key = 2; key < 6; key++) {
		std::set<int> spares = spares_when_ready(p, 1);
		ASSERT_EQ(1u, spares.size());
		task_result_t r = run_key(p, key);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
		EXPECT_EQ(1u, spares.count(r.worker_pid)) << "key " << key;
		EXPECT_NE(a.worker_pid, r.worker_pid);
		a = r;
	}
	pool_destroy(p);
}

// A rolling restart replaces the spares too: none started before it
// survives it.
TEST(Spares, ARestartReplacesTheSpares)
{
	process_pool_t *p = start(config(2, 2, POOL_ISOLATE_WORKER));
	ASSERT_NE(nullptr, p);
	std::set<int> old = spares_when_ready(p, 2);
	ASSERT_EQ(2u, old.size());
	ASSERT_EQ(0, pool_restart(p, nullptr, POOL_RESTART_WAIT));
	std::set<int> now;
	for (int i = 0; i < 2000; i++) {
		now = spares_when_ready(p, 2);
		bool fresh = true;
		for (int pid : now)
			fresh = fresh && !old.count(pid);
		if (fresh && now.size() == 2)
			break;
		usleep(10000);
	}
	for (int pid : now)
		EXPECT_EQ(0u, old.count(pid)) << "spare " << pid << " kept";
	EXPECT_EQ(2u, now.size());
	for (int i = 0; i < 20; i++)
		EXPECT_EQ(TASK_STATUS_COMPLETED,
			  run_sync(p, pp_test::noop_task).status);
	pool_destroy(p);
}

} // namespace
