// pool_map and the bulk path under it: results in order and exact when a
// task in the middle of a chunk crashes, hangs past the deadline or is
// cancelled; outputs of every size the arena takes; callback inputs;
// argument checks. No timing assertions: only outcomes are checked.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace
{

// What the tasks read (the plan) and report (started), in memory shared
// with the workers: mapped before the pool forks them.
struct Shared {
	std::atomic<long> crash_at;
	std::atomic<long> hang_at;
	std::atomic<long> started_hang;
	std::atomic<long> runs_of_crash;
	std::atomic<long> watch_at;
	std::atomic<long> runs_of_watch;
};

Shared *shared()
{
	static Shared *s =
	    static_cast<Shared *>(pp_test::map_shared(sizeof(Shared)));
	return s;
}

void plan(long crash_at, long hang_at)
{
	shared()->crash_at = crash_at;
	shared()->hang_at = hang_at;
	shared()->started_hang = 0;
	shared()->runs_of_crash = 0;
	shared()->watch_at = -1;
	shared()->runs_of_watch = 0;
}

// Input: an int64 i. Output: i * i (malloc'd). Crashes or hangs at the
// planned index.
int index_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	int64_t i;

	if (n != sizeof(i))
		return 22;
	memcpy(&i, in, sizeof(i));
	if (i == shared()->watch_at)
		shared()->runs_of_watch++;
	if (i == shared()->crash_at) {
		shared()->runs_of_crash++;
		raise(SIGSEGV);
	}
	if (i == shared()->hang_at) {
		shared()->started_hang = 1;
		for (int k = 0; k < 60000; k++)
			usleep(1000);
	}
	auto *r = static_cast<int64_t *>(malloc(sizeof(i)));
	*r = i * i;
	*out = r;
	*out_n = sizeof(i);
	return i % 7 == 3 ? 3 : 0; // some FAILED, with their output
}

// Output: (input[0] % 200) * 100 + 1 bytes through pool_output_alloc,
// byte k being the input byte plus k.
int alloc_output_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	if (n < 1)
		return 22;
	unsigned char b = static_cast<unsigned char *>(in)[0];
	size_t size = (size_t)(b % 200) * 100 + 1;
	auto *p = static_cast<unsigned char *>(pool_output_alloc(size));
	if (!p)
		return 12;
	for (size_t k = 0; k < size; k++)
		p[k] = (unsigned char)(b + k);
	*out = p;
	*out_n = size;
	return 0;
}

// Output: int64 input bytes, byte k being k * 31, through
// pool_output_alloc for even sizes and malloc for odd ones.
int sized_input_output_task(void *in, size_t n, void **out, size_t *out_n,
			    void *)
{
	int64_t size;

	if (n != sizeof(size))
		return 22;
	memcpy(&size, in, sizeof(size));
	auto *p = static_cast<unsigned char *>(
	    size % 2 ? malloc((size_t)size) : pool_output_alloc((size_t)size));
	if (!p)
		return 12;
	for (int64_t k = 0; k < size; k++)
		p[k] = (unsigned char)(k * 31);
	*out = p;
	*out_n = (size_t)size;
	return 0;
}

class MapTest : public ::testing::Test
{
      protected:
	void Start(int workers, int retries = 0, size_t arena = 0)
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = workers;
		c.max_retries = retries;
		c.arena_size = arena;
		strcpy(c.pool_name, "map");
		shared();
		plan(-1, -1);
		pool_ = pool_create(&c);
		ASSERT_NE(nullptr, pool_);
		ASSERT_EQ(0, pool_start(pool_));
	}
	void TearDown() override
	{
		pool_destroy(pool_);
	}

	// Inputs 0..n-1 as int64.
	static std::vector<int64_t> Iota(size_t n)
	{
		std::vector<int64_t> v(n);
		for (size_t i = 0; i < n; i++)
			v[i] = (int64_t)i;
		return v;
	}

	// results[i] is task i's own, untouched by anything else.
	static void ExpectExact(const std::vector<pool_map_result_t> &r,
				size_t i)
	{
		int64_t want = (int64_t)i * (int64_t)i;

		ASSERT_EQ(i % 7 == 3 ? TASK_STATUS_FAILED
				     : TASK_STATUS_COMPLETED,
			  r[i].status)
		    << "task " << i;
		ASSERT_EQ(i % 7 == 3 ? 3 : 0, r[i].return_code) << "task " << i;
		ASSERT_EQ(sizeof(int64_t), r[i].output_size) << "task " << i;
		ASSERT_EQ(0, memcmp(&want, r[i].output, sizeof(want)))
		    << "task " << i;
	}

	process_pool_t *pool_ = nullptr;
};

TEST_F(MapTest, ResultsInOrder)
{
	Start(2);
	for (size_t chunk : {0, 1, 7, 1000, 4096}) {
		const size_t n = 5000;
		auto in = Iota(n);
		std::vector<pool_map_result_t> r(n);
		pool_map_options_t o;
		memset(&o, 0, sizeof(o));
		o.chunk_size = chunk;
		ASSERT_EQ(0, pool_map(pool_, index_task, in.data(),
				      sizeof(int64_t), n, r.data(), &o));
		for (size_t i = 0; i < n; i++)
			ExpectExact(r, i);
		pool_map_results_free(r.data(), n);
		EXPECT_EQ(nullptr, r[0].output);
	}
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(pool_, &s));
	EXPECT_EQ(s.tasks_submitted, s.tasks_completed + s.tasks_failed);
	EXPECT_EQ(5u * 5000u, s.tasks_submitted);
}

TEST_F(MapTest, EmptyInputsAndNoOutput)
{
	Start(2);
	const size_t n = 20000;
	std::vector<pool_map_result_t> r(n);
	ASSERT_EQ(0, pool_map(pool_, pp_test::noop_task, nullptr, 0, n,
			      r.data(), nullptr));
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(TASK_STATUS_COMPLETED, r[i].status) << i;
		ASSERT_EQ(nullptr, r[i].output);
	}
}

// Outputs from pool_output_alloc and of many sizes: blocks fill up and
// go back mid-chunk, in a small arena.
TEST_F(MapTest, OutputsFillBlocksMidChunk)
{
	Start(2, 0, 256 << 10);
	const size_t n = 3000;
	std::vector<unsigned char> in(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (unsigned char)(i * 13);
	std::vector<pool_map_result_t> r(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.chunk_size = 500;
	ASSERT_EQ(0, pool_map(pool_, alloc_output_task, in.data(), 1, n,
			      r.data(), &o));
	for (size_t i = 0; i < n; i++) {
		size_t size = (size_t)(in[i] % 200) * 100 + 1;
		ASSERT_EQ(TASK_STATUS_COMPLETED, r[i].status) << i;
		ASSERT_EQ(size, r[i].output_size) << i;
		auto *p = static_cast<unsigned char *>(r[i].output);
		for (size_t k = 0; k < size; k += 97)
			ASSERT_EQ((unsigned char)(in[i] + k), p[k]) << i;
	}
	pool_map_results_free(r.data(), n);
}

// Outputs larger than the arena's part come back as sealed memfds, each
// with a frame of its own, between outputs that travel in the arena.
TEST_F(MapTest, OutputsLargerThanTheArena)
{
	Start(2, 0, 64 << 10);
	const size_t n = 40;
	std::vector<int64_t> in(n);
	for (size_t i = 0; i < n; i++)
		in[i] = i % 3 ? 100 : (int64_t)(300 << 10) + (int64_t)i;
	std::vector<pool_map_result_t> r(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.chunk_size = 20;
	ASSERT_EQ(0, pool_map(pool_, sized_input_output_task, in.data(),
			      sizeof(int64_t), n, r.data(), &o));
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(TASK_STATUS_COMPLETED, r[i].status) << i;
		ASSERT_EQ((size_t)in[i], r[i].output_size) << i;
		auto *p = static_cast<unsigned char *>(r[i].output);
		for (size_t k = 0; k < r[i].output_size; k += 4093)
			ASSERT_EQ((unsigned char)(k * 31), p[k]) << i;
	}
	pool_map_results_free(r.data(), n);
}

// A crash in the middle of a chunk: with a re-run allowed, only the task
// that crashed ends CRASHED (it crashed again, alone); every other one
// has its own exact result.
TEST_F(MapTest, CrashInTheMiddleOfAChunkFailsOnlyThatTask)
{
	Start(2, 1);
	const size_t n = 2000;
	auto in = Iota(n);
	plan(750, -1);
	std::vector<pool_map_result_t> r(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.chunk_size = 500;
	ASSERT_EQ(0, pool_map(pool_, index_task, in.data(), sizeof(int64_t), n,
			      r.data(), &o));
	for (size_t i = 0; i < n; i++) {
		if (i == 750) {
			EXPECT_EQ(TASK_STATUS_CRASHED, r[i].status);
			EXPECT_EQ(nullptr, r[i].output);
			continue;
		}
		ExpectExact(r, i);
	}
	EXPECT_EQ(2, shared()->runs_of_crash.load());
	pool_map_results_free(r.data(), n);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(pool_, &s));
	EXPECT_EQ(1u, s.tasks_crashed);
	EXPECT_GE(s.tasks_retried, 1u);
}

// Without re-runs the tasks the worker had finished before it died keep
// their results; the one that crashed and those after it in its chunk
// end CRASHED (the parent cannot tell them apart), none is lost.
TEST_F(MapTest, CrashWithoutRetriesKeepsWhatFinished)
{
	Start(1, 0);
	const size_t n = 1000;
	auto in = Iota(n);
	plan(600, -1);
	std::vector<pool_map_result_t> r(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.chunk_size = 1000;
	ASSERT_EQ(0, pool_map(pool_, index_task, in.data(), sizeof(int64_t), n,
			      r.data(), &o));
	for (size_t i = 0; i < 600; i++)
		ExpectExact(r, i);
	for (size_t i = 600; i < n; i++)
		ASSERT_EQ(TASK_STATUS_CRASHED, r[i].status) << i;
	pool_map_results_free(r.data(), n);
	// The pool goes on.
	plan(-1, -1);
	ASSERT_EQ(0, pool_map(pool_, index_task, in.data(), sizeof(int64_t), n,
			      r.data(), &o));
	for (size_t i = 0; i < n; i++)
		ExpectExact(r, i);
	pool_map_results_free(r.data(), n);
}

// The map's deadline passes while a task in the middle of a chunk hangs:
// the tasks before it keep their results, it and the ones not run end
// TIMEOUT, and the worker is replaced.
TEST_F(MapTest, TimeoutInTheMiddleOfAChunk)
{
	Start(1, 0);
	const size_t n = 400;
	auto in = Iota(n);
	plan(-1, 200);
	std::vector<pool_map_result_t> r(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.chunk_size = 400;
	o.timeout_ms = 1500;
	ASSERT_EQ(0, pool_map(pool_, index_task, in.data(), sizeof(int64_t), n,
			      r.data(), &o));
	for (size_t i = 0; i < 200; i++)
		ExpectExact(r, i);
	for (size_t i = 200; i < n; i++)
		ASSERT_EQ(TASK_STATUS_TIMEOUT, r[i].status) << i;
	pool_map_results_free(r.data(), n);
	plan(-1, -1);
	ASSERT_EQ(0, pool_map(pool_, index_task, in.data(), sizeof(int64_t), n,
			      r.data(), &o));
	for (size_t i = 0; i < n; i++)
		ExpectExact(r, i);
	pool_map_results_free(r.data(), n);
}

// A cancel while a task in the middle of a chunk runs: what finished
// stays, everything else ends CANCELLED, queued chunks included.
TEST_F(MapTest, CancelInTheMiddleOfAChunk)
{
	Start(1, 0);
	const size_t n = 3000;
	auto in = Iota(n);
	plan(-1, 300);
	std::vector<pool_map_result_t> r(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.chunk_size = 1000;
	pool_map_t *m = pool_map_start(pool_, index_task, in.data(),
				       sizeof(int64_t), n, r.data(), &o);
	ASSERT_NE(nullptr, m);
	for (int i = 0; i < 20000 && !shared()->started_hang; i++)
		usleep(1000);
	ASSERT_EQ(1, shared()->started_hang.load());
	EXPECT_EQ(POOL_ETIMEDOUT, pool_map_wait(m, 0));
	ASSERT_EQ(0, pool_map_cancel(m));
	ASSERT_EQ(0, pool_map_wait(m, 30000));
	EXPECT_EQ(POOL_ESTATE, pool_map_cancel(m));
	pool_map_destroy(m);
	for (size_t i = 0; i < 300; i++)
		ExpectExact(r, i);
	for (size_t i = 300; i < n; i++)
		ASSERT_EQ(TASK_STATUS_CANCELLED, r[i].status) << i;
	pool_map_results_free(r.data(), n);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(pool_, &s));
	EXPECT_EQ(n - 300, s.tasks_cancelled);
	plan(-1, -1);
	ASSERT_EQ(0, pool_map(pool_, index_task, in.data(), sizeof(int64_t), n,
			      r.data(), &o));
	for (size_t i = 0; i < n; i++)
		ExpectExact(r, i);
	pool_map_results_free(r.data(), n);
}

struct Strings {
	std::vector<std::string> v;
};

int string_input(size_t i, const void **data, size_t *size, void *arg)
{
	auto *s = static_cast<Strings *>(arg);
	*data = s->v[i].data();
	*size = s->v[i].size();
	return 0;
}

TEST_F(MapTest, InputCallback)
{
	Start(2);
	Strings s;
	const size_t n = 700;
	for (size_t i = 0; i < n; i++)
		s.v.push_back(std::string(1 + i % 50, (char)('a' + i % 26)));
	std::vector<pool_map_result_t> r(n);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.input_fn = string_input;
	o.input_arg = &s;
	ASSERT_EQ(0, pool_map(pool_, pp_test::echo_malloc_task, nullptr, 0, n,
			      r.data(), &o));
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(TASK_STATUS_COMPLETED, r[i].status) << i;
		ASSERT_EQ(s.v[i].size(), r[i].output_size) << i;
		ASSERT_EQ(0, memcmp(s.v[i].data(), r[i].output, s.v[i].size()));
	}
	pool_map_results_free(r.data(), n);
}

int stop_at_10(size_t i, const void **data, size_t *size, void *)
{
	static int64_t v;
	if (i == 10)
		return 1;
	v = (int64_t)i;
	*data = &v;
	*size = sizeof(v);
	return 0;
}

TEST_F(MapTest, InputCallbackStops)
{
	Start(1);
	std::vector<pool_map_result_t> r(30);
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	o.input_fn = stop_at_10;
	o.chunk_size = 4;
	ASSERT_EQ(0, pool_map(pool_, index_task, nullptr, 0, 30, r.data(), &o));
	for (size_t i = 0; i < 10; i++)
		ExpectExact(r, i);
	for (size_t i = 10; i < 30; i++)
		EXPECT_EQ(TASK_STATUS_CANCELLED, r[i].status) << i;
	pool_map_results_free(r.data(), 30);
}

TEST_F(MapTest, BadArguments)
{
	Start(1);
	int64_t in[2] = {0, 1};
	pool_map_result_t r[2];
	pool_map_options_t o;
	memset(&o, 0, sizeof(o));
	EXPECT_EQ(POOL_EINVAL, pool_map(nullptr, index_task, in, 8, 2, r, &o));
	EXPECT_EQ(POOL_EINVAL, pool_map(pool_, nullptr, in, 8, 2, r, &o));
	EXPECT_EQ(POOL_EINVAL, pool_map(pool_, index_task, in, 8, 0, r, &o));
	EXPECT_EQ(POOL_EINVAL,
		  pool_map(pool_, index_task, in, 8, 2, nullptr, &o));
	EXPECT_EQ(POOL_EINVAL,
		  pool_map(pool_, index_task, nullptr, 8, 2, r, &o));
	o.input_fn = string_input;
	EXPECT_EQ(POOL_EINVAL, pool_map(pool_, index_task, in, 8, 2, r, &o));
	o.input_fn = nullptr;
	o.priority = (task_priority_t)9;
	EXPECT_EQ(POOL_EINVAL, pool_map(pool_, index_task, in, 8, 2, r, &o));
	o.priority = TASK_PRIORITY_NORMAL;
	o.timeout_ms = -5;
	EXPECT_EQ(POOL_EINVAL, pool_map(pool_, index_task, in, 8, 2, r, &o));
	o.timeout_ms = 0;
	// An item above a quarter of the (default, 64 MiB) arena.
	std::vector<char> big(((size_t)64 << 20) / 4 + 1);
	EXPECT_EQ(POOL_EMSGSIZE, pool_map(pool_, index_task, big.data(),
					  big.size(), 1, r, &o));
	EXPECT_EQ(POOL_EINVAL, pool_map_wait(nullptr, 0));
	EXPECT_EQ(POOL_EINVAL, pool_map_cancel(nullptr));
	pool_map_destroy(nullptr);
	pool_map_results_free(nullptr, 3);
	errno = 0;
	EXPECT_EQ(nullptr, pool_map_start(pool_, nullptr, in, 8, 2, r, &o));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, pool_stop(pool_, 5000));
	EXPECT_EQ(POOL_ESTATE, pool_map(pool_, index_task, in, 8, 2, r, &o));
}

// pool_stop while maps run: every task of every map gets an outcome.
TEST_F(MapTest, StopWhileMapping)
{
	Start(2);
	const size_t n = 20000;
	auto in = Iota(n);
	std::vector<pool_map_result_t> r(n);
	pool_map_t *m = pool_map_start(pool_, index_task, in.data(),
				       sizeof(int64_t), n, r.data(), nullptr);
	ASSERT_NE(nullptr, m);
	ASSERT_EQ(0, pool_stop(pool_, 0));
	ASSERT_EQ(0, pool_map_wait(m, 30000));
	pool_map_destroy(m);
	for (size_t i = 0; i < n; i++) {
		if (r[i].status == TASK_STATUS_CANCELLED)
			continue;
		ExpectExact(r, i);
	}
	pool_map_results_free(r.data(), n);
}

// Many threads mapping at once on one pool.
TEST_F(MapTest, ConcurrentMaps)
{
	Start(2);
	std::vector<std::thread> th;
	std::atomic<int> bad{0};
	for (int t = 0; t < 4; t++)
		th.emplace_back([&] {
			const size_t n = 3000;
			auto in = Iota(n);
			std::vector<pool_map_result_t> r(n);
			if (pool_map(pool_, index_task, in.data(),
				     sizeof(int64_t), n, r.data(), nullptr))
				bad++;
			for (size_t i = 0; i < n; i++) {
				int64_t want = (int64_t)(i * i);
				if (r[i].output_size != 8 ||
				    memcmp(r[i].output, &want, 8))
					bad++;
			}
			pool_map_results_free(r.data(), n);
		});
	for (auto &x : th)
		x.join();
	EXPECT_EQ(0, bad.load());
}

// pool_submit_batch of like tasks goes in chunks: every future still has
// its own exact outcome.
class BatchTest : public MapTest
{
      protected:
	std::vector<task_future_t *> Submit(std::vector<int64_t> &in,
					    task_func_t f = index_task)
	{
		std::vector<task_desc_t> d(in.size());
		for (size_t i = 0; i < in.size(); i++) {
			d[i].task_func = f;
			d[i].input_data = &in[i];
			d[i].input_size = sizeof(int64_t);
			d[i].priority = TASK_PRIORITY_NORMAL;
		}
		task_future_t **fu =
		    pool_submit_batch(pool_, d.data(), d.size());
		EXPECT_NE(nullptr, fu);
		std::vector<task_future_t *> v(fu, fu + in.size());
		free(fu);
		return v;
	}
	static task_result_t Wait(task_future_t *f)
	{
		task_result_t r;
		memset(&r, 0, sizeof(r));
		EXPECT_EQ(0, pool_future_wait(f, &r, 60000));
		return r;
	}
	static void ExpectExact(const task_result_t &r, int64_t i)
	{
		int64_t want = i * i;
		ASSERT_EQ(i % 7 == 3 ? TASK_STATUS_FAILED
				     : TASK_STATUS_COMPLETED,
			  r.status)
		    << i << " " << r.detail;
		ASSERT_EQ(sizeof(want), r.output_size) << i;
		ASSERT_EQ(0, memcmp(&want, r.output_data, sizeof(want))) << i;
	}
};

TEST_F(BatchTest, LikeTasksEachExact)
{
	Start(2);
	auto in = Iota(3000);
	auto fu = Submit(in);
	std::vector<uint64_t> ids;
	for (size_t i = 0; i < fu.size(); i++) {
		task_result_t r = Wait(fu[i]);
		ExpectExact(r, (int64_t)i);
		ASSERT_NE(0, r.worker_pid);
		ids.push_back(r.task_id);
		pool_result_free(&r);
		pool_future_destroy(fu[i]);
	}
	std::sort(ids.begin(), ids.end());
	EXPECT_EQ(ids.end(), std::adjacent_find(ids.begin(), ids.end()));
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(pool_, &s));
	EXPECT_EQ(3000u, s.tasks_completed + s.tasks_failed);
}

TEST_F(BatchTest, CrashInAChunkFailsOnlyThatTask)
{
	Start(2, 1);
	auto in = Iota(2000);
	plan(1234, -1);
	auto fu = Submit(in);
	for (size_t i = 0; i < fu.size(); i++) {
		task_result_t r = Wait(fu[i]);
		if (i == 1234)
			EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
		else
			ExpectExact(r, (int64_t)i);
		pool_result_free(&r);
		pool_future_destroy(fu[i]);
	}
}

// A future cancelled while its chunk runs on a worker: the worker skips
// it (it never runs); cancelling the running one kills the worker and
// the others re-run.
TEST_F(BatchTest, CancelOneTaskOfARunningChunk)
{
	Start(1, 1);
	auto in = Iota(300);
	plan(-1, 100);
	shared()->watch_at = 200;
	auto fu = Submit(in);
	for (int i = 0; i < 20000 && !shared()->started_hang; i++)
		usleep(1000);
	ASSERT_EQ(1, shared()->started_hang.load());
	ASSERT_EQ(0, pool_future_cancel(fu[200]));
	ASSERT_EQ(0, pool_future_cancel(fu[100]));
	for (size_t i = 0; i < fu.size(); i++) {
		task_result_t r = Wait(fu[i]);
		if (i == 100 || i == 200)
			EXPECT_EQ(TASK_STATUS_CANCELLED, r.status);
		else
			ExpectExact(r, (int64_t)i);
		pool_result_free(&r);
		pool_future_destroy(fu[i]);
	}
	EXPECT_EQ(0, shared()->runs_of_watch.load());
}

TEST_F(BatchTest, OutputsLargerThanTheArena)
{
	Start(2, 0, 64 << 10);
	std::vector<int64_t> in(30);
	for (size_t i = 0; i < in.size(); i++)
		in[i] = i % 2 ? 77 : (int64_t)(200 << 10) + (int64_t)i;
	auto fu = Submit(in, sized_input_output_task);
	for (size_t i = 0; i < fu.size(); i++) {
		task_result_t r = Wait(fu[i]);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		ASSERT_EQ((size_t)in[i], r.output_size);
		auto *p = static_cast<unsigned char *>(r.output_data);
		for (size_t k = 0; k < r.output_size; k += 1021)
			ASSERT_EQ((unsigned char)(k * 31), p[k]);
		pool_result_free(&r);
		pool_future_destroy(fu[i]);
	}
}

// Clean-room workers (a fresh exec each) resolve a chunk's function as
// any task's: (module, offset).
TEST(MapCleanRoom, ResultsInOrder)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.spawn_mode = POOL_SPAWN_CLEANROOM;
	strcpy(c.pool_name, "map-cleanroom");
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	const size_t n = 3000;
	std::vector<int64_t> in(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (int64_t)i;
	std::vector<pool_map_result_t> r(n);
	ASSERT_EQ(0, pool_map(p, pp_test::square_task, in.data(),
			      sizeof(int64_t), n, r.data(), nullptr));
	for (size_t i = 0; i < n; i++) {
		int64_t want = (int64_t)(i * i);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r[i].status) << i;
		ASSERT_EQ(0, memcmp(&want, r[i].output, sizeof(want))) << i;
	}
	pool_map_results_free(r.data(), n);
	pool_destroy(p);
}

} // namespace
