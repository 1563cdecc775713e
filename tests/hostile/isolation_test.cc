// Isolation modes against a task that takes over its worker: it reports
// its own task done, then acts as the worker loop and answers every later
// SUBMIT with a forged result (and could read every later input). No
// frame check can see it; only a fresh process per trust domain stops
// it. Each test that proves a guarantee has a twin that shows the attack
// landing without it, so none can pass for want of an attacker.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/hostile/isolation_tasks.h"
#include "tests/util/test_util.h"

namespace
{

using namespace pp_hostile;
using pp_test::board;

process_pool_t *start_pool(int workers, int isolation)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.isolation = isolation;
	c.seccomp_allow = "@file-read"; /* to find the channel in maps */
	strcpy(c.pool_name, "isolation");
	pp_test::reset_board();
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

task_desc_t desc(task_func_t f, uint64_t key = 0, int isolation = 0,
		 void *ud = nullptr)
{
	task_desc_t d;
	memset(&d, 0, sizeof(d));
	d.task_func = f;
	d.user_data = ud;
	d.priority = TASK_PRIORITY_NORMAL;
	d.timeout_ms = 20000;
	d.isolation_key = key;
	d.isolation = isolation;
	return d;
}

task_result_t run_sync(process_pool_t *p, const task_desc_t &d)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_task_sync(p, &d, &r));
	return r;
}

task_result_t run_async(process_pool_t *p, const task_desc_t &d)
{
	task_result_t r;
	memset(&r, 0, sizeof(r));
	task_future_t *f = pool_submit_task(p, &d);
	EXPECT_NE(nullptr, f);
	if (!f)
		return r;
	EXPECT_EQ(0, pool_future_wait(f, &r, 30000));
	pool_future_destroy(f);
	return r;
}

std::vector<task_result_t> run_batch(process_pool_t *p,
				     const std::vector<task_desc_t> &d)
{
	std::vector<task_result_t> out(d.size());
	task_future_t **f = pool_submit_batch(p, d.data(), d.size());
	EXPECT_NE(nullptr, f);
	if (!f)
		return out;
	for (size_t i = 0; i < d.size(); i++) {
		EXPECT_NE(nullptr, f[i]);
		if (!f[i])
			continue;
		EXPECT_EQ(0, pool_future_wait(f[i], &out[i], 30000));
		pool_future_destroy(f[i]);
	}
	free(f);
	return out;
}

uint64_t u64_of(const task_result_t &r)
{
	uint64_t v = 0;
	if (r.output_data && r.output_size == sizeof(v))
		memcpy(&v, r.output_data, sizeof(v));
	return v;
}

// Whether r is an honest pid_task result: the task ran and its output
// names the worker the pool says ran it.
bool honest(const task_result_t &r)
{
	return r.status == TASK_STATUS_COMPLETED && r.return_code == 0 &&
	       r.worker_pid > 0 && u64_of(r) == (uint64_t)r.worker_pid;
}

// The hijacker, then victims by sync, async and batch; how many victims
// got an honest result, and the pids they ran in.
int victims_after_hijack(process_pool_t *p, const task_desc_t &hijack,
			 const task_desc_t &victim, std::vector<int> *pids,
			 int *hijacker)
{
	task_result_t h = run_sync(p, hijack);
	EXPECT_EQ(TASK_STATUS_COMPLETED, h.status) << h.detail;
	EXPECT_EQ(0, h.return_code);
	*hijacker = h.worker_pid;
	std::vector<task_result_t> rs;
	for (int i = 0; i < 3; i++)
		rs.push_back(run_sync(p, victim));
	for (int i = 0; i < 3; i++)
		rs.push_back(run_async(p, victim));
	for (auto &r : run_batch(p, std::vector<task_desc_t>(3, victim)))
		rs.push_back(r);
	int good = 0;
	for (auto &r : rs) {
		good += honest(r);
		pids->push_back(r.worker_pid);
		pool_result_free(&r);
	}
	return good;
}

TEST(Isolation, WithoutItTheHijackerAnswersLaterTasks)
{
	process_pool_t *p = start_pool(1, POOL_ISOLATE_WORKER);
	ASSERT_NE(nullptr, p);
	std::vector<int> pids;
	int hijacker = 0;
	int good = victims_after_hijack(p, desc(hijack_task), desc(pid_task),
					&pids, &hijacker);
	// The attack this file is about: every later task on its worker
	// got the forged result.
	EXPECT_LT(good, 9);
	EXPECT_GT(board()->attempts.load(), 0);
	pool_destroy(p);
}

TEST(Isolation, PerTaskTheHijackerReachesNoLaterTask)
{
	for (int workers : {1, 3}) {
		process_pool_t *p = start_pool(workers, POOL_ISOLATE_TASK);
		ASSERT_NE(nullptr, p);
		std::vector<int> pids;
		int hijacker = 0;
		int good = victims_after_hijack(
		    p, desc(hijack_task), desc(pid_task), &pids, &hijacker);
		EXPECT_EQ(9, good) << workers;
		EXPECT_EQ(0, board()->attempts.load()) << workers;
		// Every task ran in a process of its own.
		std::set<int> seen(pids.begin(), pids.end());
		seen.insert(hijacker);
		EXPECT_EQ(pids.size() + 1, seen.size()) << workers;
		pool_stats_t st;
		ASSERT_EQ(0, pool_get_stats(p, &st));
		EXPECT_EQ(0u, st.tasks_crashed);
		pool_destroy(p);
	}
}

// POOL_ISOLATE_TASK on one task in a pool that shares workers: the
// hijacker's process is discarded after it.
TEST(Isolation, OneTaskOwnsItsProcessInASharedPool)
{
	process_pool_t *p = start_pool(1, POOL_ISOLATE_WORKER);
	ASSERT_NE(nullptr, p);
	std::vector<int> pids;
	int hijacker = 0;
	int good =
	    victims_after_hijack(p, desc(hijack_task, 0, POOL_ISOLATE_TASK),
				 desc(pid_task), &pids, &hijacker);
	EXPECT_EQ(9, good);
	EXPECT_EQ(0, board()->attempts.load());
	for (int pid : pids)
		EXPECT_NE(hijacker, pid);
	pool_destroy(p);
}

// The hijacker under key 1: tasks of key 2 never reach it, even on a
// pool of one worker (its process is replaced for them).
TEST(Isolation, TheHijackerReachesNoTaskOfAnotherKey)
{
	for (int workers : {1, 2}) {
		process_pool_t *p = start_pool(workers, POOL_ISOLATE_WORKER);
		ASSERT_NE(nullptr, p);
		std::vector<int> pids;
		int hijacker = 0;
		int good =
		    victims_after_hijack(p, desc(hijack_task, 1),
					 desc(pid_task, 2), &pids, &hijacker);
		EXPECT_EQ(9, good) << workers;
		EXPECT_EQ(0, board()->attempts.load()) << workers;
		for (int pid : pids)
			EXPECT_NE(hijacker, pid) << workers;
		// Unkeyed tasks are a domain of their own too.
		task_result_t r = run_async(p, desc(pid_task));
		EXPECT_TRUE(honest(r));
		EXPECT_NE(hijacker, r.worker_pid);
		pool_result_free(&r);
		pool_destroy(p);
	}
}

// Tasks of four domains (keys 1..3 and unkeyed) interleaved, by every
// submit path, on three workers: no process ever ran two domains.
TEST(Isolation, NoWorkerRunsTwoKeys)
{
	process_pool_t *p = start_pool(3, POOL_ISOLATE_WORKER);
	ASSERT_NE(nullptr, p);
	std::map<int, std::set<uint64_t>> keys_of;
	std::vector<task_desc_t> batch;
	for (int round = 0; round < 6; round++) {
		for (uint64_t k = 0; k < 4; k++) {
			task_result_t r = run_sync(p, desc(pid_task, k));
			ASSERT_TRUE(honest(r)) << r.detail;
			keys_of[r.worker_pid].insert(k);
			pool_result_free(&r);
			batch.push_back(desc(pid_task, (k + round) % 4));
		}
		std::vector<task_future_t *> fs;
		std::vector<uint64_t> fk;
		for (uint64_t k = 0; k < 8; k++) {
			task_desc_t d = desc(pid_task, (k * 7 + round) % 4);
			fs.push_back(pool_submit_task(p, &d));
			fk.push_back(d.isolation_key);
		}
		for (size_t i = 0; i < fs.size(); i++) {
			task_result_t r;
			ASSERT_NE(nullptr, fs[i]);
			ASSERT_EQ(0, pool_future_wait(fs[i], &r, 30000));
			ASSERT_TRUE(honest(r)) << r.detail;
			keys_of[r.worker_pid].insert(fk[i]);
			pool_result_free(&r);
			pool_future_destroy(fs[i]);
		}
	}
	std::vector<task_result_t> rs = run_batch(p, batch);
	for (size_t i = 0; i < rs.size(); i++) {
		ASSERT_TRUE(honest(rs[i])) << rs[i].detail;
		keys_of[rs[i].worker_pid].insert(batch[i].isolation_key);
		pool_result_free(&rs[i]);
	}
	for (auto &kv : keys_of)
		EXPECT_EQ(1u, kv.second.size()) << "pid " << kv.first;
	EXPECT_GT(keys_of.size(), 3u); /* processes were replaced */
	pool_destroy(p);
}

// pool_map and batches chunk many tasks into one frame for one process:
// in a POOL_ISOLATE_TASK pool every task still gets a process of its own,
// and a batch never puts two keys in one chunk (NoWorkerRunsTwoKeys).
TEST(Isolation, MapTasksGetAProcessEachInPerTaskMode)
{
	process_pool_t *p = start_pool(2, POOL_ISOLATE_TASK);
	ASSERT_NE(nullptr, p);
	const size_t n = 12;
	std::vector<pool_map_result_t> res(n);
	ASSERT_EQ(0, pool_map(p, pid_task, nullptr, 0, n, res.data(), nullptr));
	std::set<uint64_t> pids;
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(TASK_STATUS_COMPLETED, res[i].status);
		ASSERT_EQ(8u, res[i].output_size);
		uint64_t pid;
		memcpy(&pid, res[i].output, 8);
		pids.insert(pid);
	}
	EXPECT_EQ(n, pids.size()) << "map tasks shared a process";
	pool_map_results_free(res.data(), n);
	pool_destroy(p);
}

uint64_t secret_seen(process_pool_t *p, const task_desc_t &writer,
		     const task_desc_t &reader)
{
	task_result_t w = run_sync(p, writer);
	EXPECT_EQ(TASK_STATUS_COMPLETED, w.status) << w.detail;
	task_result_t r = run_async(p, reader);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	uint64_t v = u64_of(r);
	pool_result_free(&r);
	return v;
}

TEST(Isolation, AMemorySecretDoesNotReachTheNextTask)
{
	void *secret = reinterpret_cast<void *>(uintptr_t{0x5ec2e7});
	process_pool_t *p = start_pool(1, POOL_ISOLATE_WORKER);
	ASSERT_NE(nullptr, p);
	// Shared workers: the next task reads it.
	EXPECT_EQ(0x5ec2e7u,
		  secret_seen(p, desc(secret_write_task, 0, 0, secret),
			      desc(secret_read_task)));
	// Another key: a process of its own.
	EXPECT_EQ(0u, secret_seen(p, desc(secret_write_task, 1, 0, secret),
				  desc(secret_read_task, 2)));
	pool_destroy(p);

	p = start_pool(1, POOL_ISOLATE_TASK);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(0u, secret_seen(p, desc(secret_write_task, 0, 0, secret),
				  desc(secret_read_task)));
	EXPECT_EQ(0u, secret_seen(p, desc(secret_write_task, 1, 0, secret),
				  desc(secret_read_task, 1)));
	pool_destroy(p);
}

// A crashed task retried in POOL_ISOLATE_TASK runs again in a fresh
// process, and a pool of one worker keeps serving task after task.
TEST(Isolation, RetriesAndCrashesKeepTheRule)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.isolation = POOL_ISOLATE_TASK;
	c.max_retries = 1;
	pp_test::reset_board();
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_result_t r = run_sync(p, desc(pp_test::crash_once_task));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::set<int> pids;
	for (int i = 0; i < 20; i++) {
		task_result_t x = run_sync(p, desc(pid_task));
		ASSERT_TRUE(honest(x)) << x.detail;
		pids.insert(x.worker_pid);
		pool_result_free(&x);
	}
	EXPECT_EQ(20u, pids.size());
	pool_destroy(p);
}

TEST(Isolation, BadValuesAreRefused)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.isolation = 2;
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	process_pool_t *p = start_pool(1, POOL_ISOLATE_WORKER);
	ASSERT_NE(nullptr, p);
	task_desc_t d = desc(pid_task, 0, 7);
	task_result_t r;
	EXPECT_EQ(POOL_EINVAL, pool_submit_task_sync(p, &d, &r));
	EXPECT_EQ(POOL_EINVAL, pool_submit_task_sync(p, nullptr, &r));
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_task(p, &d));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(nullptr, pool_submit_batch(p, &d, 1));
	EXPECT_EQ(EINVAL, errno);
	pool_destroy(p);
}

} // namespace
