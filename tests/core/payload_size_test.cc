// Payload sizes at the edges of the limits, each way, through sync, async
// and batch submits: what fits comes back intact, inputs beyond the arena
// travel as sealed memfds, a larger input is refused at submit
// (POOL_EMSGSIZE), a larger output ends REJECTED with a detail that names
// the limit. Inputs written straight into pool_input_alloc buffers, and
// what a worker can (not) do to bytes it shares.
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <gtest/gtest.h>

#include <cstdio>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using namespace pp_test;

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PP_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PP_SANITIZED 1
#endif
#if defined(__SANITIZE_THREAD__)
#define PP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PP_TSAN 1
#endif
#endif

// A small arena (the default is 64 MiB) so that every path, the arena's
// and the sealed memfd's, is tried at sizes every build can afford.
const size_t kArena = (size_t)4 << 20;
// The largest size every path is tried with; sanitizer builds, many times
// slower, stop at 16 MiB (the plain build runs them all).
#ifdef PP_SANITIZED
const size_t kLarge = (size_t)16 << 20;
#else
const size_t kLarge = (size_t)256 << 20;
#endif

class PayloadSizeTest : public ::testing::Test {
protected:
	void Start(size_t max_in = 0, size_t max_out = 0, size_t arena = kArena)
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.max_input_size = max_in;
		c.max_output_size = max_out;
		c.arena_size = arena; // 0: the default
		strcpy(c.pool_name, "payload");
		pool_ = pool_create(&c);
		ASSERT_NE(nullptr, pool_);
		ASSERT_EQ(0, pool_start(pool_));
	}
	void TearDown() override { pool_destroy(pool_); }

	process_pool_t *pool_ = nullptr;
};

std::vector<unsigned char> pattern(size_t n)
{
	std::vector<unsigned char> v(n ? n : 1);
	for (size_t i = 0; i < n; i++)
		v[i] = (unsigned char)(i * 7 + n);
	return v;
}

void expect_echo(const task_result_t &r, const std::vector<unsigned char> &in,
		 size_t n)
{
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << n << " " << r.detail;
	ASSERT_EQ(n, r.output_size);
	if (n) {
		EXPECT_EQ(0, memcmp(in.data(), r.output_data, n)) << n;
	}
}

// Echoes through malloc; an empty input (NULL) gives an empty output.
int copy_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		return 12;
	if (n)
		memcpy(p, in, n);
	*out = p;
	*out_n = n;
	return 0;
}

// Writes n bytes of pattern into pool_output_alloc (n: user_data); with
// a second argument of 1 returns only half of what it asked for.
int alloc_output_task(void *, size_t, void **out, size_t *out_n, void *ud)
{
	size_t n = (size_t)(uintptr_t)ud, keep = n;
	if (n & 1) { // odd: ask for n + 1, keep n (the "shorter" path)
		n++;
	}
	auto *p = static_cast<unsigned char *>(pool_output_alloc(n));
	if (!p)
		return 12;
	for (size_t i = 0; i < keep; i++)
		p[i] = (unsigned char)(i * 31);
	*out = p;
	*out_n = keep;
	return 0;
}

// FNV-1a of the input, as an 8-byte output: checks inputs too large to
// echo.
int hash_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	const unsigned char *p = static_cast<const unsigned char *>(in);
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	auto *r = static_cast<uint64_t *>(malloc(sizeof(h)));
	if (!r)
		return 12;
	*r = h;
	*out = r;
	*out_n = sizeof(h);
	return 0;
}

uint64_t hash_of(const std::vector<unsigned char> &v, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ v[i]) * 1099511628211ull;
	return h;
}

void expect_hash(const task_result_t &r, uint64_t h, size_t n)
{
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << n << " " << r.detail;
	ASSERT_EQ(sizeof(h), r.output_size) << n;
	EXPECT_EQ(h, *static_cast<uint64_t *>(r.output_data)) << n;
}

// Any size up to max_input_size (1 GiB by default): beyond the arena the
// input goes as a sealed memfd of its own.
TEST_F(PayloadSizeTest, LargeInputsArriveIntactThroughEveryPath)
{
	Start();
	for (size_t n : {kArena - 1, kArena, kArena + 1, (size_t)16 << 20,
			 kLarge}) {
		std::vector<unsigned char> in = pattern(n);
		uint64_t h = hash_of(in, n);
		task_result_t r;

		ASSERT_EQ(0, pool_submit_sync(pool_, hash_task, in.data(), n,
					      nullptr, TASK_PRIORITY_NORMAL, 0,
					      &r));
		expect_hash(r, h, n);
		pool_result_free(&r);

		task_future_t *fu = pool_submit_async(
		    pool_, hash_task, in.data(), n, nullptr,
		    TASK_PRIORITY_NORMAL, 0);
		ASSERT_NE(nullptr, fu) << n;
		ASSERT_EQ(0, pool_future_wait(fu, &r, 60000));
		expect_hash(r, h, n);
		pool_result_free(&r);
		pool_future_destroy(fu);

		task_desc_t d = {hash_task, in.data(), n, nullptr,
				 TASK_PRIORITY_NORMAL, 0};
		task_future_t **fs = pool_submit_batch(pool_, &d, 1);
		ASSERT_NE(nullptr, fs) << n;
		ASSERT_EQ(0, pool_future_wait(fs[0], &r, 60000));
		expect_hash(r, h, n);
		pool_result_free(&r);
		pool_future_destroy(fs[0]);
		free(fs);
	}
}

// Many large inputs queued on one worker at once, each its own memfd.
TEST_F(PayloadSizeTest, ManyLargeInputsQueuedOnOneWorker)
{
	Start();
	const size_t n = (size_t)3 << 20;
	std::vector<unsigned char> in = pattern(n);
	uint64_t h = hash_of(in, n);
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 24; i++) {
		fs.push_back(pool_submit_async(pool_, hash_task, in.data(), n,
					       nullptr, TASK_PRIORITY_NORMAL,
					       0));
		ASSERT_NE(nullptr, fs.back());
	}
	for (auto *f : fs) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 60000));
		expect_hash(r, h, n);
		pool_result_free(&r);
		pool_future_destroy(f);
	}
}

// Both ways at once, at every size: the arena below its size, sealed
// memfds above.
TEST_F(PayloadSizeTest, InputsOfEverySizeEchoThroughEveryPath)
{
	Start();
	for (size_t n : {(size_t)0, (size_t)1, kArena - 1, kArena, kArena + 1,
			 (size_t)16 << 20, kLarge}) {
		std::vector<unsigned char> in = pattern(n);
		// echo_task writes into pool_output_alloc, which has no 0.
		for (task_func_t f : {copy_task, echo_task}) {
			if (n == 0 && f == echo_task)
				continue;
			task_result_t r;
			ASSERT_EQ(0, pool_submit_sync(pool_, f, in.data(), n,
						      nullptr,
						      TASK_PRIORITY_NORMAL, 0,
						      &r));
			expect_echo(r, in, n);
			pool_result_free(&r);

			task_future_t *fu = pool_submit_async(
			    pool_, f, in.data(), n, nullptr,
			    TASK_PRIORITY_NORMAL, 0);
			ASSERT_NE(nullptr, fu) << n;
			ASSERT_EQ(0, pool_future_wait(fu, &r, 60000));
			expect_echo(r, in, n);
			pool_result_free(&r);
			pool_future_destroy(fu);

			task_desc_t d[2] = {
			    {f, in.data(), n, nullptr, TASK_PRIORITY_NORMAL, 0},
			    {f, in.data(), n, nullptr, TASK_PRIORITY_NORMAL, 0},
			};
			task_future_t **fs = pool_submit_batch(pool_, d, 2);
			ASSERT_NE(nullptr, fs) << n;
			for (int i = 0; i < 2; i++) {
				ASSERT_NE(nullptr, fs[i]);
				ASSERT_EQ(0, pool_future_wait(fs[i], &r, 60000));
				expect_echo(r, in, n);
				pool_result_free(&r);
				pool_future_destroy(fs[i]);
			}
			free(fs);
		}
	}
}

// One byte over: refused when submitted, by every path, and nothing is
// queued (the pool goes on).
void expect_refused(process_pool_t *pool, size_t n)
{
	// Never read: the size alone is refused.
	std::vector<unsigned char> in = pattern(16);
	task_result_t r;

	EXPECT_EQ(POOL_EMSGSIZE, pool_submit_sync(pool, noop_task, in.data(), n,
						  nullptr, TASK_PRIORITY_NORMAL,
						  0, &r));
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_async(pool, noop_task, in.data(), n,
					     nullptr, TASK_PRIORITY_NORMAL, 0));
	EXPECT_EQ(EMSGSIZE, errno);
	task_desc_t d[2] = {
	    {noop_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0},
	    {noop_task, in.data(), n, nullptr, TASK_PRIORITY_NORMAL, 0},
	};
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_batch(pool, d, 2));
	EXPECT_EQ(EMSGSIZE, errno);
	ASSERT_EQ(0, pool_submit_sync(pool, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
}

TEST_F(PayloadSizeTest, InputOverTheDefaultLimitIsRefusedAtSubmit)
{
	Start();
	expect_refused(pool_, ((size_t)1 << 30) + 1);
}

TEST_F(PayloadSizeTest, ConfiguredInputLimitIsRefusedAtSubmit)
{
	Start(1000);
	std::vector<unsigned char> in = pattern(1000);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(pool_, echo_task, in.data(), 1000,
				      nullptr, TASK_PRIORITY_NORMAL, 0, &r));
	expect_echo(r, in, 1000);
	pool_result_free(&r);
	expect_refused(pool_, 1001);
}

task_result_t sized(process_pool_t *pool, size_t n)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_sync(pool, sized_output_task, nullptr, 0,
				      (void *)(uintptr_t)n,
				      TASK_PRIORITY_NORMAL, 0, &r));
	return r;
}

void expect_pattern(const task_result_t &r, size_t n)
{
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << n << " " << r.detail;
	ASSERT_EQ(n, r.output_size);
	const unsigned char *p = (const unsigned char *)r.output_data;
	for (size_t i = 0; i < n; i += 4093)
		ASSERT_EQ((unsigned char)(i * 31), p[i]) << n << " at " << i;
	if (n) {
		EXPECT_EQ((unsigned char)((n - 1) * 31), p[n - 1]) << n;
	}
}

// Every size, malloc'd or from pool_output_alloc (the memfd path above
// 1 MiB: handed over as a read-only mapping), through sync, async and
// batch.
TEST_F(PayloadSizeTest, OutputsOfAnySizeComeBackThroughEveryPath)
{
	Start();
	for (size_t n : {(size_t)0, (size_t)1, kArena - 1, kArena, kArena + 1,
			 (size_t)16 << 20, kLarge}) {
		for (task_func_t f : {sized_output_task, alloc_output_task}) {
			if (n == 0 && f == alloc_output_task)
				continue; // pool_output_alloc(0) is NULL
			void *ud = (void *)(uintptr_t)n;
			task_result_t r;
			ASSERT_EQ(0, pool_submit_sync(pool_, f, nullptr, 0, ud,
						      TASK_PRIORITY_NORMAL, 0,
						      &r));
			expect_pattern(r, n);
			pool_result_free(&r);
			pool_result_free(&r); // twice is safe

			task_future_t *fu = pool_submit_async(
			    pool_, f, nullptr, 0, ud, TASK_PRIORITY_NORMAL, 0);
			ASSERT_NE(nullptr, fu);
			ASSERT_EQ(0, pool_future_wait(fu, &r, 60000));
			expect_pattern(r, n);
			pool_result_free(&r);
			pool_future_destroy(fu);

			task_desc_t d = {f, nullptr, 0, ud,
					 TASK_PRIORITY_NORMAL, 0};
			task_future_t **fs = pool_submit_batch(pool_, &d, 1);
			ASSERT_NE(nullptr, fs);
			ASSERT_EQ(0, pool_future_wait(fs[0], &r, 60000));
			expect_pattern(r, n);
			pool_result_free(&r);
			pool_future_destroy(fs[0]);
			free(fs);
		}
	}
}

// A future destroyed with its output never taken releases the mapping.
TEST_F(PayloadSizeTest, UntakenMappedOutputIsReleased)
{
	Start();
	for (int i = 0; i < 8; i++) {
		task_future_t *fu = pool_submit_async(
		    pool_, alloc_output_task, nullptr, 0,
		    (void *)(uintptr_t)(8 << 20), TASK_PRIORITY_NORMAL, 0);
		ASSERT_NE(nullptr, fu);
		while (pool_future_done(fu) != 1)
			usleep(1000);
		pool_future_destroy(fu);
	}
}

// Many large outputs in flight on one worker, each its own memfd.
TEST_F(PayloadSizeTest, ManyConcurrentLargeOutputsOnOneWorker)
{
	Start();
	const size_t n = 1536 * 1024;
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 32; i++) {
		fs.push_back(pool_submit_async(pool_, alloc_output_task,
					       nullptr, 0, (void *)(uintptr_t)n,
					       TASK_PRIORITY_NORMAL, 0));
		ASSERT_NE(nullptr, fs.back());
	}
	for (auto *f : fs) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 60000));
		expect_pattern(r, n);
		pool_result_free(&r);
		pool_future_destroy(f);
	}
}

TEST_F(PayloadSizeTest, OutputOverTheDefaultLimitIsRejectedNamingIt)
{
	Start();
	// pool_output_alloc refuses it; malloc'd, the worker refuses it.
	task_result_t r = sized(pool_, ((size_t)1 << 30) + 1);
	EXPECT_EQ(TASK_STATUS_REJECTED, r.status);
	EXPECT_EQ(nullptr, r.output_data);
	EXPECT_NE(nullptr,
		  strstr(r.detail, "max_output_size (1073741824 bytes)"))
	    << r.detail;
}

TEST_F(PayloadSizeTest, ConfiguredOutputLimitIsRejectedNamingIt)
{
	for (size_t limit : {(size_t)1000, (size_t)6 << 20}) {
		Start(0, limit);
		task_result_t r = sized(pool_, limit);
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		pool_result_free(&r);
		r = sized(pool_, limit + 1);
		EXPECT_EQ(TASK_STATUS_REJECTED, r.status);
		std::string want = "max_output_size (" +
				   std::to_string(limit) + " bytes)";
		EXPECT_NE(nullptr, strstr(r.detail, want.c_str())) << r.detail;
		pool_destroy(pool_);
		pool_ = nullptr;
	}
}

// MemAvailable in bytes, or 0 when /proc/meminfo cannot say.
size_t mem_available()
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long long kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (size_t)kib * 1024;
}

// The largest input and output a default pool takes, both at once.
TEST_F(PayloadSizeTest, OneGiBRoundTripOnADefaultPool)
{
	const size_t n = (size_t)1 << 30;
#ifdef PP_SANITIZED
	GTEST_SKIP() << "sanitizer build: a gigabyte under shadow memory "
			"outgrows the test's time and memory; the plain "
			"build runs it";
#endif
	// The caller's input, its memfd, the worker's output memfd (which
	// the caller then maps), with room to spare.
	if (mem_available() < 4 * n)
		GTEST_SKIP() << "needs 4 GiB of MemAvailable, the machine has "
			     << (mem_available() >> 20) << " MiB";
	Start(0, 0, 0);
	std::vector<unsigned char> in(n);
	for (size_t i = 0; i < n; i += 4096)
		in[i] = (unsigned char)(i >> 12);
	in[n - 1] = 0x5a;
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(pool_, echo_task, in.data(), n, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	ASSERT_EQ(n, r.output_size);
	EXPECT_EQ(0, memcmp(in.data(), r.output_data, n));
	pool_result_free(&r);
}

// Fills a pool_input_alloc buffer of cap bytes with n bytes of pattern.
unsigned char *input_buffer(process_pool_t *pool, size_t cap, size_t n)
{
	auto *p = static_cast<unsigned char *>(pool_input_alloc(pool, cap));
	if (p) {
		std::vector<unsigned char> v = pattern(n);
		memcpy(p, v.data(), n);
	}
	return p;
}

// Written in place, submitted without a copy through every path: up to
// the arena it is copied in as any input, above it the buffer itself goes,
// sealed. The pool releases it with the task.
TEST_F(PayloadSizeTest, InputBuffersGoThroughEveryPath)
{
	Start();
	for (size_t n : {(size_t)1, kArena - 1, kArena, kArena + 1,
			 (size_t)16 << 20, kLarge}) {
		uint64_t h = hash_of(pattern(n), n);
		task_result_t r;

		unsigned char *p = input_buffer(pool_, n, n);
		ASSERT_NE(nullptr, p) << n << " " << strerror(errno);
		EXPECT_EQ(0u, (uintptr_t)p % 4096);
		ASSERT_EQ(0, pool_submit_sync(pool_, hash_task, p, n, nullptr,
					      TASK_PRIORITY_NORMAL, 0, &r));
		expect_hash(r, h, n);
		pool_result_free(&r);
		// The pool's now, and released: not the caller's to free.
		EXPECT_EQ(POOL_EINVAL, pool_input_free(p));

		// A buffer larger than the input: only input_size goes.
		p = input_buffer(pool_, n + 4099, n);
		ASSERT_NE(nullptr, p) << n;
		task_future_t *fu = pool_submit_async(pool_, hash_task, p, n,
						      nullptr,
						      TASK_PRIORITY_NORMAL, 0);
		ASSERT_NE(nullptr, fu) << n;
		ASSERT_EQ(0, pool_future_wait(fu, &r, 60000));
		expect_hash(r, h, n);
		pool_result_free(&r);
		// Held by the future until it is destroyed.
		EXPECT_EQ(POOL_EINVAL, pool_input_free(p));
		pool_future_destroy(fu);

		unsigned char *q[2] = {input_buffer(pool_, n, n),
				       input_buffer(pool_, n, n)};
		ASSERT_NE(nullptr, q[0]);
		ASSERT_NE(nullptr, q[1]);
		task_desc_t d[2] = {
		    {hash_task, q[0], n, nullptr, TASK_PRIORITY_NORMAL, 0},
		    {hash_task, q[1], n, nullptr, TASK_PRIORITY_HIGH, 0},
		};
		task_future_t **fs = pool_submit_batch(pool_, d, 2);
		ASSERT_NE(nullptr, fs) << n;
		for (int i = 0; i < 2; i++) {
			ASSERT_NE(nullptr, fs[i]);
			ASSERT_EQ(0, pool_future_wait(fs[i], &r, 60000));
			expect_hash(r, h, n);
			pool_result_free(&r);
			pool_future_destroy(fs[i]);
		}
		free(fs);
	}
}

// Who owns a buffer when: refused submits leave it with the caller, a
// buffer goes to one task only, bad arguments are errors.
TEST_F(PayloadSizeTest, InputBufferOwnership)
{
	Start(kArena * 4);
	const size_t n = kArena * 2; // the sealed-memfd path
	uint64_t h = hash_of(pattern(n), n);
	task_result_t r;

	errno = 0;
	EXPECT_EQ(nullptr, pool_input_alloc(nullptr, 16));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(nullptr, pool_input_alloc(pool_, 0));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(nullptr, pool_input_alloc(pool_, kArena * 4 + 1));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(0, pool_input_free(nullptr));
	std::vector<unsigned char> heap(64);
	EXPECT_EQ(POOL_EINVAL, pool_input_free(heap.data()));

	// Never submitted: the caller frees it, once.
	void *unused = pool_input_alloc(pool_, n);
	ASSERT_NE(nullptr, unused);
	EXPECT_EQ(POOL_EINVAL, pool_input_free((char *)unused + 1));
	EXPECT_EQ(0, pool_input_free(unused));
	EXPECT_EQ(POOL_EINVAL, pool_input_free(unused));

	// An input_size beyond the buffer is refused, and it stays the
	// caller's, who can then submit it rightly.
	unsigned char *p = input_buffer(pool_, n, n);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(pool_, hash_task, p, n + 1,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_async(pool_, hash_task, p, n + 1,
					     nullptr, TASK_PRIORITY_NORMAL, 0));
	EXPECT_EQ(EINVAL, errno);

	// One task at a time: a second submit of the same buffer, and the
	// second batch entry naming it, are refused.
	task_future_t *fu = pool_submit_async(pool_, hash_task, p, n, nullptr,
					      TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, fu);
	ASSERT_EQ(0, pool_future_wait(fu, &r, 60000));
	expect_hash(r, h, n);
	pool_result_free(&r);
	EXPECT_EQ(POOL_EINVAL, pool_submit_sync(pool_, hash_task, p, n,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	EXPECT_EQ(POOL_EINVAL, pool_input_free(p));
	pool_future_destroy(fu);

	unsigned char *q = input_buffer(pool_, n, n);
	ASSERT_NE(nullptr, q);
	task_desc_t d[2] = {
	    {hash_task, q, n, nullptr, TASK_PRIORITY_NORMAL, 0},
	    {hash_task, q, n, nullptr, TASK_PRIORITY_NORMAL, 0},
	};
	errno = 0;
	task_future_t **fs = pool_submit_batch(pool_, d, 2);
	ASSERT_NE(nullptr, fs);
	EXPECT_EQ(EINVAL, errno);
	ASSERT_NE(nullptr, fs[0]);
	EXPECT_EQ(nullptr, fs[1]);
	ASSERT_EQ(0, pool_future_wait(fs[0], &r, 60000));
	expect_hash(r, h, n);
	pool_result_free(&r);
	pool_future_destroy(fs[0]);
	free(fs);

	// A stopped pool refuses the submit; the buffer is still the
	// caller's.
	q = input_buffer(pool_, 100, 100);
	ASSERT_NE(nullptr, q);
	ASSERT_EQ(0, pool_stop(pool_, 0));
	EXPECT_EQ(POOL_ESTATE, pool_submit_sync(pool_, hash_task, q, 100,
						nullptr, TASK_PRIORITY_NORMAL,
						0, &r));
	EXPECT_EQ(0, pool_input_free(q));
}

// Tries to make its (read-only) input writable and change it; returns 1
// if it could, else the input's hash as hash_task does.
int change_input_task(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	if (mprotect(in, n, PROT_READ | PROT_WRITE) == 0) {
		memset(in, 0xee, n);
		return 1;
	}
	return hash_task(in, n, out, out_n, ud);
}

// An input beyond the arena, from the caller's memory or written into a
// pool_input_alloc buffer, reaches the worker sealed: it cannot be made
// writable there, so no retry, on this worker or another, runs on bytes
// a worker changed.
TEST_F(PayloadSizeTest, AWorkerCannotChangeALargeInput)
{
	Start();
	const size_t n = kArena + 4096;
	std::vector<unsigned char> in = pattern(n);
	uint64_t h = hash_of(in, n);
	for (int alloc = 0; alloc < 2; alloc++) {
		void *p = alloc ? input_buffer(pool_, n, n) : in.data();
		ASSERT_NE(nullptr, p);
		task_result_t r;
		ASSERT_EQ(0, pool_submit_sync(pool_, change_input_task, p, n,
					      nullptr, TASK_PRIORITY_NORMAL, 0,
					      &r));
		expect_hash(r, h, n);
		pool_result_free(&r);
	}
}

// Writes 0x11 into an output in the arena, and leaves a thread that keeps
// writing 0x22 over it for 300 ms after the task has returned.
void *scribble_later(void *p)
{
	for (int i = 0; i < 300; i++) {
		usleep(1000);
		memset(p, 0x22, 65536);
	}
	return nullptr;
}

int scribble_after_return_task(void *, size_t, void **out, size_t *out_n,
			       void *)
{
	pthread_t th;
	void *p = pool_output_alloc(65536);

	if (!p)
		return 12;
	memset(p, 0x11, 65536);
	if (pthread_create(&th, nullptr, scribble_later, p))
		return 13;
	pthread_detach(th);
	*out = p;
	*out_n = 65536;
	return 0;
}

// The arena stays writable by the worker after it sent its result: what
// the caller gets must stay as it was handed over (the parent copied it
// out of the arena), however long the worker goes on writing.
TEST_F(PayloadSizeTest, AnOutputChangedAfterSendingIsNotSeen)
{
#ifdef PP_TSAN
	GTEST_SKIP() << "ThreadSanitizer stops a forked worker that starts a "
			"thread (die_after_fork); the plain and ASan builds "
			"run it";
#endif
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_allow = "@thread";
	strcpy(c.pool_name, "payload");
	pool_ = pool_create(&c);
	ASSERT_NE(nullptr, pool_);
	ASSERT_EQ(0, pool_start(pool_));
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(pool_, scribble_after_return_task,
				      nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	ASSERT_EQ((size_t)65536, r.output_size);
	// Whatever the worker had written when the parent took the output
	// (it may have started scribbling already), that is what stays.
	const unsigned char *b = (const unsigned char *)r.output_data;
	std::vector<unsigned char> first(b, b + r.output_size);
	for (size_t i = 0; i < r.output_size; i++)
		ASSERT_TRUE(b[i] == 0x11 || b[i] == 0x22) << i;
	for (int round = 0; round < 40; round++) {
		usleep(10000);
		ASSERT_EQ(0, memcmp(first.data(), b, r.output_size))
		    << "round " << round;
	}
	pool_result_free(&r);
}

// Counts the mappings of pool_input_alloc buffers this worker has (the
// task needs "@file-read"); returns that count, or 99.
int count_input_maps_task(void *, size_t, void **, size_t *, void *)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return 99;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "processpool-input") != nullptr ||
		     strstr(line, "processpool-output") != nullptr;
	fclose(f);
	return n;
}

// Input buffers and mapped outputs in the parent when a fork-mode worker
// is spawned are not inherited: no worker ever holds a writable view of
// another's input, nor a view of another's output.
TEST_F(PayloadSizeTest, AForkedWorkerInheritsNoPayloadMapping)
{
	Start();
	unsigned char *p = input_buffer(pool_, kArena * 2, 64);
	unsigned char *small = input_buffer(pool_, 4096, 64);
	ASSERT_NE(nullptr, p);
	ASSERT_NE(nullptr, small);
	task_result_t out = sized(pool_, kArena * 2); // a mapped memfd
	ASSERT_EQ(TASK_STATUS_COMPLETED, out.status) << out.detail;
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_allow = "@file-read";
	strcpy(c.pool_name, "payload-fork");
	process_pool_t *other = pool_create(&c);
	ASSERT_NE(nullptr, other);
	ASSERT_EQ(0, pool_start(other));
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(other, count_input_maps_task, nullptr, 0,
				      nullptr, TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status)
	    << r.return_code << " payload mappings in the worker";
	pool_destroy(other);
	pool_result_free(&out);
	EXPECT_EQ(0, pool_input_free(p));
	EXPECT_EQ(0, pool_input_free(small));
}

}  // namespace
