// Recycling by resident memory and by age: the parent reads each worker's
// RSS itself, retires a worker past its limit once idle and replaces it;
// the others stay; nothing happens before the minimum age.
#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using namespace pp_test;

// Grows the worker by (size_t)user_data bytes, touched, and keeps them.
int grow_task(void *, size_t, void **, size_t *, void *ud)
{
	static std::vector<char *> kept;
	size_t n = reinterpret_cast<size_t>(ud);
	char *p = static_cast<char *>(malloc(n));
	if (!p)
		return 12;
	memset(p, 1, n);
	kept.push_back(p);
	return 0;
}

process_pool_t *make(int workers, size_t rss, int max_age, int min_age)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.recycle_rss_bytes = rss;
	c.max_worker_age_ms = max_age;
	c.min_worker_age_ms = min_age;
	c.seccomp_allow = "@memory";
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

std::vector<int> pids(process_pool_t *p)
{
	pool_worker_info_t w[8];
	int n = pool_get_workers(p, w, 8);
	std::vector<int> out(8, 0);
	for (int i = 0; i < n; i++)
		out[w[i].slot] = w[i].pid;
	return out;
}

std::vector<int> settled(process_pool_t *p, size_t n)
{
	std::vector<int> v;
	for (int i = 0; i < 5000; i++) {
		v = pids(p);
		size_t alive = 0;
		for (size_t k = 0; k < n; k++)
			alive += v[k] != 0;
		if (alive == n)
			break;
		usleep(1000);
	}
	return v;
}

size_t rss_of(int pid)
{
	char path[64];
	unsigned long long size = 0, resident = 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

// The worker that grew past the limit is replaced; the other is not.
TEST(Recycle, AWorkerPastItsRssIsReplacedAndOnlyIt)
{
	// The limit: a worker's size here (sanitizers make it large) plus
	// 48 MiB, which the task then passes by far.
	process_pool_t *probe = make(1, 0, 0, 0);
	ASSERT_NE(nullptr, probe);
	size_t base = rss_of(settled(probe, 1)[0]);
	pool_destroy(probe);
	ASSERT_GT(base, 0u);
	process_pool_t *p = make(2, base + (48u << 20), 0, 10);
	ASSERT_NE(nullptr, p);
	std::vector<int> before = settled(p, 2);
	// Sync submits go to one worker at a time; grow one of them.
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, grow_task, nullptr, 0,
				      (void *)(size_t)(96u << 20),
				      TASK_PRIORITY_NORMAL, 10000, &r));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	int grown = r.worker_pid;
	std::vector<int> after;
	bool replaced = false;
	for (int i = 0; i < 5000 && !replaced; i++) {
		after = pids(p);
		replaced = after[0] && after[1] && after[0] != grown &&
			   after[1] != grown;
		usleep(1000);
	}
	EXPECT_TRUE(replaced) << "the grown worker " << grown << " stayed";
	int other = before[0] == grown ? before[1] : before[0];
	EXPECT_TRUE(after[0] == other || after[1] == other)
	    << "the small worker was recycled too";
	pool_destroy(p);
}

// Workers older than max_worker_age_ms are replaced, tasks go on.
TEST(Recycle, WorkersAreReplacedPastTheirAge)
{
	process_pool_t *p = make(2, 0, 200, 10);
	ASSERT_NE(nullptr, p);
	std::vector<int> before = settled(p, 2);
	usleep(600 * 1000);
	std::vector<int> after = settled(p, 2);
	EXPECT_NE(before[0], after[0]);
	EXPECT_NE(before[1], after[1]);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 5000, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_destroy(p);
}

// Spins for about half a millisecond (clock_gettime is the vDSO's).
int spin_task(void *, size_t, void **, size_t *, void *)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec <
	       500000L);
	return 0;
}

// A worker past its age is recycled even when it is never idle: a
// stream of queued tasks keeps every worker's pipeline full, and the
// retirement must not wait for an empty one. No task is lost on the way.
TEST(Recycle, WorkersAreRecycledUnderSustainedLoad)
{
	process_pool_t *p = make(2, 0, 100, 10);
	ASSERT_NE(nullptr, p);
	settled(p, 2);
	std::vector<task_future_t *> inflight;
	std::vector<int> seen;
	for (int i = 0; i < 3000; i++) {
		// Keep 32 queued or running at all times.
		while (inflight.size() >= 32) {
			task_result_t r;
			ASSERT_EQ(0, pool_future_wait(inflight.front(), &r,
						      30000));
			ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
			if (std::find(seen.begin(), seen.end(), r.worker_pid) ==
			    seen.end())
				seen.push_back(r.worker_pid);
			pool_result_free(&r);
			pool_future_destroy(inflight.front());
			inflight.erase(inflight.begin());
		}
		task_future_t *f = pool_submit_async(
		    p, spin_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL,
		    30000);
		ASSERT_NE(nullptr, f);
		inflight.push_back(f);
	}
	for (task_future_t *f : inflight) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 30000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		pool_result_free(&r);
		pool_future_destroy(f);
	}
	// 3000 tasks of 0.5 ms on 2 workers: about 0.75 s of work, workers
	// at most ~125 ms old: several generations, however slow the
	// machine (a slower one only makes more).
	EXPECT_GE(seen.size(), 4u)
	    << "workers past their age kept serving under load";
	pool_destroy(p);
}

// Its own pid, as an 8-byte output.
int pid_task(void *, size_t, void **out, size_t *out_n, void *)
{
	auto *p = static_cast<int64_t *>(malloc(sizeof(int64_t)));
	if (!p)
		return 12;
	*p = getpid();
	*out = p;
	*out_n = sizeof(*p);
	return 0;
}

// max_tasks_per_worker = 1 with one task in flight: one process per
// task, also when a batch or a map would travel in chunks (a chunk runs
// in one process, so it is never larger than what a worker may run).
TEST(Recycle, OneTaskPerWorkerHoldsForBatchesAndMaps)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.max_tasks_per_worker = 1;
	c.max_in_flight = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	const int n = 16;
	std::vector<task_desc_t> d(n);
	for (auto &t : d) {
		memset(&t, 0, sizeof(t));
		t.task_func = noop_task;
		t.priority = TASK_PRIORITY_NORMAL;
		t.timeout_ms = 30000;
	}
	task_future_t **fs = pool_submit_batch(p, d.data(), n);
	ASSERT_NE(nullptr, fs);
	std::vector<int> pids;
	for (int i = 0; i < n; i++) {
		task_result_t r;
		ASSERT_NE(nullptr, fs[i]);
		ASSERT_EQ(0, pool_future_wait(fs[i], &r, 30000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		pids.push_back(r.worker_pid);
		pool_result_free(&r);
		pool_future_destroy(fs[i]);
	}
	free(fs);
	std::sort(pids.begin(), pids.end());
	EXPECT_EQ(pids.end(), std::unique(pids.begin(), pids.end()))
	    << "a batch ran two tasks in one worker";

	std::vector<pool_map_result_t> res(n);
	ASSERT_EQ(0, pool_map(p, pid_task, nullptr, 0, n, res.data(), nullptr));
	pids.clear();
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(TASK_STATUS_COMPLETED, res[i].status);
		int64_t pid;
		memcpy(&pid, res[i].output, sizeof(pid));
		pids.push_back((int)pid);
	}
	pool_map_results_free(res.data(), n);
	std::sort(pids.begin(), pids.end());
	EXPECT_EQ(pids.end(), std::unique(pids.begin(), pids.end()))
	    << "a map ran two tasks in one worker";
	pool_destroy(p);
}

// Nothing is recycled before min_worker_age_ms, whatever its RSS.
TEST(Recycle, NotBeforeTheMinimumAge)
{
	process_pool_t *p = make(1, 1, 0, 60000);
	ASSERT_NE(nullptr, p);
	std::vector<int> before = settled(p, 1);
	usleep(400 * 1000);
	std::vector<int> after = settled(p, 1);
	EXPECT_EQ(before[0], after[0]);
	pool_destroy(p);
}

TEST(Recycle, NegativeAgesAreRefused)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.max_worker_age_ms = -1;
	EXPECT_EQ(nullptr, pool_create(&c));
	c.max_worker_age_ms = 0;
	c.min_worker_age_ms = -5;
	EXPECT_EQ(nullptr, pool_create(&c));
}

}  // namespace
