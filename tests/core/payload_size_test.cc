// Payload sizes at the edges of the limits, each way, through sync, async
// and batch submits: what fits comes back intact, inputs beyond the arena
// travel as sealed memfds, a larger input is refused at submit
// (POOL_EMSGSIZE), a larger output ends REJECTED with a detail that names
// the limit.
#include <errno.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using namespace pp_test;

const size_t kArena = (size_t)4 << 20; // the default arena_size

class PayloadSizeTest : public ::testing::Test {
protected:
	void Start(size_t max_in = 0, size_t max_out = 0)
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.max_input_size = max_in;
		c.max_output_size = max_out;
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

const size_t kFits[] = {0, 1, kArena - 1, kArena};

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
			 (size_t)256 << 20}) {
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

TEST_F(PayloadSizeTest, InputsUpToTheLimitEchoThroughEveryPath)
{
	Start();
	for (size_t n : kFits) {
		std::vector<unsigned char> in = pattern(n);
		// echo_task writes into pool_output_alloc, which has no 0.
		for (task_func_t f : {echo_malloc_task, echo_task}) {
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
			ASSERT_EQ(0, pool_future_wait(fu, &r, 30000));
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
				ASSERT_EQ(0, pool_future_wait(fs[i], &r, 30000));
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

TEST_F(PayloadSizeTest, OutputsUpToTheLimitComeBack)
{
	Start();
	for (size_t n : kFits) {
		task_result_t r = sized(pool_, n);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << n << r.detail;
		ASSERT_EQ(n, r.output_size);
		if (n) {
			EXPECT_EQ((unsigned char)((n - 1) * 31),
				  ((unsigned char *)r.output_data)[n - 1]);
		}
		pool_result_free(&r);
	}
}

TEST_F(PayloadSizeTest, OutputOverTheLimitIsRejectedNamingIt)
{
	Start();
	task_result_t r = sized(pool_, kArena + 1);
	EXPECT_EQ(TASK_STATUS_REJECTED, r.status);
	EXPECT_EQ(nullptr, r.output_data);
	EXPECT_NE(nullptr, strstr(r.detail, "max_output_size (4194304 bytes)"))
	    << r.detail;
}

TEST_F(PayloadSizeTest, ConfiguredOutputLimitIsRejectedNamingIt)
{
	Start(0, 1000);
	task_result_t r = sized(pool_, 1000);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_result_free(&r);
	r = sized(pool_, 1001);
	EXPECT_EQ(TASK_STATUS_REJECTED, r.status);
	EXPECT_NE(nullptr, strstr(r.detail, "max_output_size (1000 bytes)"))
	    << r.detail;
}

}  // namespace
