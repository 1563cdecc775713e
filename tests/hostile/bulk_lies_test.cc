// A task that has taken over its worker lies about the bulk chunk it runs
// in: forged BULK_RESULT ranges, outcomes with impossible statuses,
// outputs outside the arena or above max_output_size, a memfd output
// that never comes, a done word past the chunk. Each lie must end that
// worker's tasks PROTOCOL_ERROR (the detail names the check), never reach
// the parent's memory, and leave the pool working.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "process_pool.h"
#include "src/core/protocol.h"
#include "tests/hostile/impostor.h"
#include "tests/util/test_util.h"

namespace
{

using namespace pp_hostile;

enum Lie {
	LIE_RANGE = 1,	   // a range past the chunk's end
	LIE_OFFSET = 2,	   // an output outside the arena
	LIE_STATUS = 3,	   // a status no worker may report
	LIE_SIZE = 4,	   // an output above max_output_size
	LIE_FD = 5,	   // a memfd output with no memfd
	LIE_DONE = 6,	   // done past the chunk, then die
	LIE_NOT_CHUNK = 7, // a BULK_RESULT for a plain task
	LIE_ORDER = 8,	   // a range that skips the unreported tasks
};

constexpr uint32_t kChunk = 8; // tasks per chunk: 16 tasks, 1 worker

struct In {
	int64_t i;   // index in the batch
	int64_t lie; // enum Lie, acted on by task 1 of the first chunk
	int64_t pad; // inputs take 16-byte slots anyway; 24 here: 32
	int64_t pad2;
};

std::atomic<int> *lied()
{
	static auto *p = static_cast<std::atomic<int> *>(
	    pp_test::map_shared(sizeof(std::atomic<int>)));
	return p;
}

// The chunk's region: task k's input lies at layout + 32 * k.
unsigned char *region_of(void *input, uint32_t k)
{
	size_t layout = (pp_bulk_layout_size(kChunk) + 15) & ~(size_t)15;
	return static_cast<unsigned char *>(input) - layout - 32 * k;
}

void send_bulk(Impostor *im, uint64_t wire, uint32_t first, uint32_t count,
	       uint16_t flags = 0)
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_BULK_RESULT;
	f.flags = flags;
	f.task_id = wire;
	f.u.bulk.first = first;
	f.u.bulk.count = count;
	impostor_send(im, &f);
}

int liar_task(void *input, size_t n, void **, size_t *, void *)
{
	In in;
	Impostor im;

	if (n != sizeof(in))
		return 22;
	memcpy(&in, input, sizeof(in));
	if (in.i != 1 || lied()->exchange(1) || !impostor_open(&im))
		return 0;
	uint64_t wire = impostor_read_word(&im, PP_WORD_RUNNING) - 1;
	unsigned char *r = region_of(input, 1);
	auto *head = reinterpret_cast<pp_bulk_head *>(r);
	auto *out = reinterpret_cast<pp_bulk_out *>(r + head->out_offset);
	if (in.lie != LIE_NOT_CHUNK && head->count != kChunk)
		return 99; // the layout is not what the test thinks
	switch (in.lie) {
	case LIE_RANGE:
		send_bulk(&im, wire, 0, kChunk + 1);
		break;
	case LIE_OFFSET:
		out[0].offset = (uint64_t)1 << 40;
		out[0].length = 8;
		send_bulk(&im, wire, 0, 1);
		break;
	case LIE_STATUS:
		out[0].status = 77;
		send_bulk(&im, wire, 0, 1);
		break;
	case LIE_SIZE:
		out[0].status = TASK_STATUS_COMPLETED;
		out[0].offset = 0;
		out[0].length = 2 << 20;
		send_bulk(&im, wire, 0, 1);
		break;
	case LIE_FD:
		out[0].status = TASK_STATUS_COMPLETED;
		out[0].offset = 0;
		out[0].length = 100;
		send_bulk(&im, wire, 0, 1, PP_FRAME_F_FD);
		break;
	case LIE_DONE:
		__atomic_store_n(&head->done, 0xffffffffu, __ATOMIC_RELEASE);
		_exit(1);
	case LIE_NOT_CHUNK:
		send_bulk(&im, wire, 0, 1);
		break;
	case LIE_ORDER:
		send_bulk(&im, wire, 1, 1);
		break;
	}
	for (int k = 0; k < 10000; k++) // wait to be replaced
		usleep(1000);
	return 0;
}

class BulkLies : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.max_workers = 1;
		c.max_output_size = 1 << 20;
		c.seccomp_allow = "@file-read"; /* to find the channel */
		strcpy(c.pool_name, "bulk-lies");
		lied()->store(0);
		pool_ = pool_create(&c);
		ASSERT_NE(nullptr, pool_);
		ASSERT_EQ(0, pool_start(pool_));
	}
	void TearDown() override
	{
		pool_destroy(pool_);
	}

	// 16 like tasks (two chunks of 8); the outcomes.
	std::vector<task_result_t> Run(int lie)
	{
		std::vector<In> in(2 * kChunk);
		std::vector<task_desc_t> d(in.size());
		for (size_t i = 0; i < in.size(); i++) {
			in[i] = {(int64_t)i, lie, 0, 0};
			d[i].task_func = liar_task;
			d[i].input_data = &in[i];
			d[i].input_size = sizeof(In);
			d[i].priority = TASK_PRIORITY_NORMAL;
			d[i].timeout_ms = 30000;
		}
		task_future_t **fu =
		    pool_submit_batch(pool_, d.data(), d.size());
		std::vector<task_result_t> r(in.size());
		EXPECT_NE(nullptr, fu);
		if (!fu)
			return r;
		for (size_t i = 0; i < in.size(); i++) {
			EXPECT_EQ(0, pool_future_wait(fu[i], &r[i], 60000));
			pool_future_destroy(fu[i]);
		}
		free(fu);
		return r;
	}

	// The lie's chunk ends PROTOCOL_ERROR, its detail naming the check;
	// then the pool runs a clean batch.
	void ExpectCaught(int lie, const char *detail, size_t from = 0)
	{
		auto r = Run(lie);
		ASSERT_EQ(1, lied()->load());
		for (size_t i = from; i < kChunk; i++) {
			EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r[i].status) << i;
			EXPECT_NE(nullptr, strstr(r[i].detail, detail))
			    << i << ": " << r[i].detail;
		}
		for (auto &x : r) {
			EXPECT_NE(TASK_STATUS_PENDING, x.status);
			pool_result_free(&x);
		}
		auto again = Run(lie); // lied() is set: every task honest
		for (auto &x : again)
			EXPECT_EQ(TASK_STATUS_COMPLETED, x.status) << x.detail;
	}

	process_pool_t *pool_ = nullptr;
};

TEST_F(BulkLies, RangePastTheChunk)
{
	ExpectCaught(LIE_RANGE, "out of order or out of the chunk");
}

TEST_F(BulkLies, RangeOutOfOrder)
{
	ExpectCaught(LIE_ORDER, "out of order or out of the chunk");
}

TEST_F(BulkLies, OutputOutsideTheArena)
{
	ExpectCaught(LIE_OFFSET, "chunk output outside the arena", 1);
}

TEST_F(BulkLies, ImpossibleStatus)
{
	ExpectCaught(LIE_STATUS, "impossible task status in a chunk", 1);
}

TEST_F(BulkLies, OutputAboveMaxOutputSize)
{
	ExpectCaught(LIE_SIZE, "larger than max_output_size", 1);
}

TEST_F(BulkLies, MemfdOutputThatNeverComes)
{
	ExpectCaught(LIE_FD, "memfd output missing or not sealed", 1);
}

// done past the chunk, then death: only outcomes that check out are
// kept (task 0's); the zeroed ones after it end the chunk
// PROTOCOL_ERROR; nothing is read past the chunk.
TEST_F(BulkLies, DoneWordPastTheChunk)
{
	auto r = Run(LIE_DONE);
	ASSERT_EQ(1, lied()->load());
	EXPECT_EQ(TASK_STATUS_COMPLETED, r[0].status) << r[0].detail;
	for (size_t i = 1; i < kChunk; i++) {
		EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r[i].status) << i;
		EXPECT_NE(nullptr,
			  strstr(r[i].detail, "impossible task status"))
		    << r[i].detail;
	}
	for (size_t i = kChunk; i < r.size(); i++)
		EXPECT_EQ(TASK_STATUS_CRASHED, r[i].status) << i;
}

TEST_F(BulkLies, BulkResultForAPlainTask)
{
	In in = {1, LIE_NOT_CHUNK, 0, 0};
	task_result_t r;
	ASSERT_EQ(0,
		  pool_submit_sync(pool_, liar_task, &in, sizeof(in), nullptr,
				   TASK_PRIORITY_NORMAL, 30000, &r));
	EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r.status);
	EXPECT_NE(nullptr, strstr(r.detail, "bulk result for no chunk"))
	    << r.detail;
	ASSERT_EQ(0,
		  pool_submit_sync(pool_, liar_task, &in, sizeof(in), nullptr,
				   TASK_PRIORITY_NORMAL, 30000, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
}

} // namespace
