// The default arena and how it gives memory back: a default pool carries
// a 16 MiB payload through its reused arena (not a sealed memfd of fresh
// pages), an idle worker's arena pages beyond the kept part are given
// back, pages under a task in flight are never taken, and recycling by
// memory counts a worker's own pages, not the arena it shares.
#include <unistd.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using namespace pp_test;

const size_t kMiB = (size_t)1 << 20;

std::vector<unsigned char> pattern(size_t n, unsigned seed)
{
	std::vector<unsigned char> v(n);
	for (size_t i = 0; i < n; i++)
		v[i] = (unsigned char)(i * 13 + seed + (i >> 12));
	return v;
}

// Whether p lies in a mapping of one of the pool's output memfds (a
// payload that travelled as a sealed memfd) in this process.
bool in_output_memfd(const void *p)
{
	std::ifstream maps("/proc/self/maps");
	std::string line;
	uintptr_t a = (uintptr_t)p;
	while (std::getline(maps, line)) {
		unsigned long lo, hi;
		if (sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (a >= lo && a < hi)
			return line.find("processpool-output") !=
			       std::string::npos;
	}
	return false;
}

// A field of /proc/PID/status in KiB, -1 when unreadable.
long status_kib(pid_t pid, const char *field)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/status");
	std::string line, want = std::string(field) + ":";
	while (std::getline(f, line))
		if (line.compare(0, want.size(), want) == 0)
			return std::stol(line.substr(want.size()));
	return -1;
}

bool eventually(const std::function<bool()> &ok, int ms = 8000)
{
	for (int waited = 0; waited < ms; waited += 20) {
		if (ok())
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	return ok();
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
const bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
const bool kSanitized = true;
#else
const bool kSanitized = false;
#endif
#else
const bool kSanitized = false;
#endif

// A started one-worker pool, left at the defaults but for these.
process_pool_t *start_one(int spawn = POOL_SPAWN_FORK, size_t rlimit_as = 0,
			  size_t recycle_rss = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.spawn_mode = spawn;
	c.rlimit_as = rlimit_as;
	c.recycle_rss_bytes = recycle_rss;
	c.min_worker_age_ms = recycle_rss ? 1 : 0;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p) != 0) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

void expect_echo(const task_result_t &r, const std::vector<unsigned char> &in)
{
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	ASSERT_EQ(in.size(), r.output_size);
	EXPECT_EQ(0, memcmp(in.data(), r.output_data, in.size()));
}

// A sync echo of in, checked: the worker's pid (0 when it failed), and
// in *memfd whether the output came as a sealed memfd.
pid_t echo(process_pool_t *p, const std::vector<unsigned char> &in,
	   bool *memfd = nullptr)
{
	task_result_t r;
	int err = pool_submit_sync(p, echo_task, (void *)in.data(), in.size(),
				   nullptr, TASK_PRIORITY_NORMAL, 0, &r);
	EXPECT_EQ(0, err);
	if (err)
		return 0;
	expect_echo(r, in);
	pid_t pid = r.status == TASK_STATUS_COMPLETED ? r.worker_pid : 0;
	if (memfd)
		*memfd = in_output_memfd(r.output_data);
	pool_result_free(&r);
	return pid;
}

// FNV-1a of the input after sleeping (int)user_data ms: the input must
// still be there when the task looks at it.
int late_hash_task(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	usleep((useconds_t)(intptr_t)ud * 1000);
	uint64_t h = 1469598103934665603ull;
	const unsigned char *b = static_cast<const unsigned char *>(in);
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	uint64_t *o = static_cast<uint64_t *>(pool_output_alloc(sizeof(h)));
	if (!o)
		return 12;
	*o = h;
	*out = o;
	*out_n = sizeof(h);
	return 0;
}

uint64_t fnv(const std::vector<unsigned char> &v)
{
	uint64_t h = 1469598103934665603ull;
	for (unsigned char c : v)
		h = (h ^ c) * 1099511628211ull;
	return h;
}

// 16 MiB each way through sync, async and batch on a pool left at its
// defaults: it comes back intact, copied out of the arena, not handed
// over as a sealed memfd (fresh pages each time, many times slower).
// A payload beyond the default arena still takes the memfd path.
TEST(ArenaDefault, SixteenMiBTravelsThroughTheArena)
{
	process_pool_t *p = start_one();
	ASSERT_NE(nullptr, p);
	std::vector<unsigned char> in = pattern(16 * kMiB, 1);
	bool memfd = true;
	EXPECT_NE(0, echo(p, in, &memfd));
	EXPECT_FALSE(memfd) << "sync";

	task_result_t r;
	task_future_t *f = pool_submit_async(p, echo_task, in.data(),
					     in.size(), nullptr,
					     TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	ASSERT_EQ(0, pool_future_wait(f, &r, -1));
	expect_echo(r, in);
	EXPECT_FALSE(in_output_memfd(r.output_data)) << "async";
	pool_result_free(&r);
	pool_future_destroy(f);

	task_desc_t d[2];
	memset(d, 0, sizeof(d));
	for (auto &t : d) {
		t.task_func = echo_task;
		t.input_data = in.data();
		t.input_size = in.size();
		t.priority = TASK_PRIORITY_NORMAL;
	}
	task_future_t **fs = pool_submit_batch(p, d, 2);
	ASSERT_NE(nullptr, fs);
	for (int i = 0; i < 2; i++) {
		ASSERT_NE(nullptr, fs[i]);
		ASSERT_EQ(0, pool_future_wait(fs[i], &r, -1));
		expect_echo(r, in);
		EXPECT_FALSE(in_output_memfd(r.output_data)) << "batch";
		pool_result_free(&r);
		pool_future_destroy(fs[i]);
	}
	free(fs);

	EXPECT_NE(0, echo(p, pattern(64 * kMiB + 4096, 2), &memfd));
	EXPECT_TRUE(memfd) << "beyond the arena";
	pool_destroy(p);
}

// A POOL_ISOLATE_TASK pool's workers carry one payload each, so no
// arena page would ever be reused: its default arena stays 4 MiB, and
// 16 MiB goes as a memfd (the kernel's copy into fresh pages, cheaper
// than fresh shared ones).
TEST(ArenaDefault, APerTaskPoolKeepsASmallArena)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.isolation = POOL_ISOLATE_TASK;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	bool memfd = false;
	EXPECT_NE(0, echo(p, pattern(4 * kMiB, 13), &memfd));
	EXPECT_FALSE(memfd) << "4 MiB: the arena";
	EXPECT_NE(0, echo(p, pattern(16 * kMiB, 14), &memfd));
	EXPECT_TRUE(memfd) << "16 MiB: a memfd";
	pool_destroy(p);
}

// After a 16 MiB echo the worker holds the arena's pages (input and
// output: over 16 MiB of shared memory); a second after its last task,
// with nobody submitting (the supervisor is asleep), all but the kept
// 4 MiB of each part are given back, and the arena still serves.
TEST(ArenaDefault, AnIdleWorkerGivesItsArenaPagesBack)
{
	process_pool_t *p = start_one();
	ASSERT_NE(nullptr, p);
	pid_t pid = echo(p, pattern(16 * kMiB, 3));
	ASSERT_NE(0, pid);
	long held = status_kib(pid, "RssShmem");
	ASSERT_GE(held, 16 * 1024) << "the payload's pages are not held";

	EXPECT_TRUE(eventually(
	    [&] { return status_kib(pid, "RssShmem") < 10 * 1024; }))
	    << "still " << status_kib(pid, "RssShmem") << " KiB (was "
	    << held << ")";

	// Same worker, fresh pages: every byte right, small and large.
	EXPECT_EQ(pid, echo(p, pattern(1000, 4)));
	EXPECT_EQ(pid, echo(p, pattern(16 * kMiB, 5)));
	pool_destroy(p);
}

// The same after a map whose chunks' outputs (5 MiB each, in output
// blocks of the worker's arena) went beyond the kept part.
TEST(ArenaDefault, AnIdleWorkerGivesBackWhatAMapUsed)
{
	process_pool_t *p = start_one();
	ASSERT_NE(nullptr, p);
	pid_t pid = echo(p, pattern(1000, 11));
	ASSERT_NE(0, pid);
	const size_t n = 4, each = 5 * kMiB;
	std::vector<pool_map_result_t> res(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.user_data = (void *)(uintptr_t)each;
	ASSERT_EQ(0, pool_map(p, sized_output_task, nullptr, 0, n, res.data(),
			      &o));
	for (const auto &r : res) {
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
		ASSERT_EQ(each, r.output_size);
	}
	pool_map_results_free(res.data(), n);
	long held = status_kib(pid, "RssShmem");
	ASSERT_GE(held, 5 * 1024) << "the outputs did not go beyond 4 MiB";
	EXPECT_TRUE(eventually(
	    [&] { return status_kib(pid, "RssShmem") < 4608; }))
	    << "still " << status_kib(pid, "RssShmem") << " KiB (was "
	    << held << ")";
	EXPECT_EQ(pid, echo(p, pattern(1000, 12)));
	pool_destroy(p);
}

// A task still running on a large input is not trimmed under: the first
// large echo marks the worker, then a task sleeps 2.5 s (past the idle
// second) before it reads its 16 MiB input, and must read every byte.
TEST(ArenaDefault, PagesUnderATaskInFlightAreKept)
{
	process_pool_t *p = start_one();
	ASSERT_NE(nullptr, p);
	EXPECT_NE(0, echo(p, pattern(16 * kMiB, 6)));
	std::vector<unsigned char> in = pattern(16 * kMiB, 7);
	task_future_t *f = pool_submit_async(p, late_hash_task, in.data(),
					     in.size(), (void *)(intptr_t)2500,
					     TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(f, &r, -1));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	ASSERT_EQ(sizeof(uint64_t), r.output_size);
	uint64_t h;
	memcpy(&h, r.output_data, sizeof(h));
	EXPECT_EQ(fnv(in), h) << "the input changed under the task";
	pool_result_free(&r);
	pool_future_destroy(f);
	pool_destroy(p);
}

// A trim that is due while its worker runs a long task waits for the
// task without spinning the supervisor: over a second of that wait (the
// second after the idle one), the loop turns a few times, not on end.
TEST(ArenaDefault, ADueTrimWaitsForABusyWorkerWithoutSpinning)
{
	process_pool_t *p = start_one();
	ASSERT_NE(nullptr, p);
	EXPECT_NE(0, echo(p, pattern(16 * kMiB, 15)));
	task_future_t *f =
	    pool_submit_async(p, sleep_task, nullptr, 0, (void *)(intptr_t)3000,
			      TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	usleep(1500 * 1000); // the trim is due from here on
	pool_stats_t s0, s1;
	ASSERT_EQ(0, pool_get_stats(p, &s0));
	usleep(1000 * 1000);
	ASSERT_EQ(0, pool_get_stats(p, &s1));
	EXPECT_LT(s1.supervisor_loops - s0.supervisor_loops, 20u);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(f, &r, -1));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_result_free(&r);
	pool_future_destroy(f);
	pool_destroy(p);
}

// recycle_rss_bytes is about a worker's own memory: 48 MiB each way
// through the arena (96 MiB of shared pages in the worker) does not
// retire a worker whose limit is 64 MiB (recycle_test shows that memory
// of its own does).
TEST(ArenaDefault, RecyclingCountsAWorkersOwnMemoryNotTheArena)
{
	if (kSanitized)
		GTEST_SKIP() << "a sanitizer's own memory in the worker passes "
				"any small limit; the plain build runs this";
	process_pool_t *p = start_one(POOL_SPAWN_FORK, 0, 64 * kMiB);
	ASSERT_NE(nullptr, p);
	std::vector<unsigned char> in = pattern(48 * kMiB, 8);
	pid_t first = echo(p, in);
	ASSERT_NE(0, first);
	for (int i = 0; i < 3; i++) {
		usleep(300 * 1000); // the pool looks every 100 ms
		EXPECT_EQ(first, echo(p, in)) << "retired after echo " << i;
	}
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(0u, s.worker_restarts);
	pool_destroy(p);
}

// Under a small rlimit_as the default arena gives way (an eighth of it:
// 32 MiB for 256 MiB), as both parts count toward the worker's address
// space: 16 MiB still goes through the arena, 40 MiB as a memfd. A
// clean-room worker, whose address space is its own small one.
TEST(ArenaDefault, ASmallAddressSpaceLimitShrinksTheDefault)
{
	if (kSanitized)
		GTEST_SKIP() << "a sanitizer's shadow memory does not fit "
				"under an address-space limit; the plain "
				"build runs this";
	process_pool_t *p = start_one(POOL_SPAWN_CLEANROOM, 256 * kMiB);
	ASSERT_NE(nullptr, p);
	for (size_t mib : {16, 40}) {
		bool memfd = false;
		EXPECT_NE(0, echo(p, pattern(mib * kMiB, 9), &memfd));
		EXPECT_EQ(mib > 32, memfd) << mib << " MiB";
	}
	pool_destroy(p);
}

// The arena is fixed for a pool's life: a restart that sets a small
// rlimit_as, its arena_size left at 0, keeps the arena it has (before,
// the new default was compared with the old and the restart refused).
TEST(ArenaDefault, ARestartWithAnAddressSpaceLimitKeepsTheArena)
{
	if (kSanitized)
		GTEST_SKIP() << "a sanitizer's shadow memory does not fit "
				"under an address-space limit; the plain "
				"build runs this";
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.spawn_mode = POOL_SPAWN_CLEANROOM;
	process_pool_t *p = start_one(POOL_SPAWN_CLEANROOM);
	ASSERT_NE(nullptr, p);
	c.rlimit_as = 256 * kMiB;
	ASSERT_EQ(0, pool_restart(p, &c, POOL_RESTART_WAIT));
	bool memfd = true;
	EXPECT_NE(0, echo(p, pattern(40 * kMiB, 10), &memfd));
	EXPECT_FALSE(memfd) << "the arena changed";
	pool_destroy(p);
}

}  // namespace
