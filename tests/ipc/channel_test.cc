// Tests of the parent/worker channel (src/ipc/channel.h): creation and
// sealing, the worker's view, frames and payloads both ways, and every
// kind of protocol violation the parent must catch.
#include "src/ipc/channel.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "tests/util/test_util.h"

namespace {

pp_frame result_frame(uint64_t task, pp_payload_ref ref)
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_RESULT;
	f.task_id = task;
	f.u.result.status = 0;
	f.u.result.return_code = 3;
	f.payload = ref;
	return f;
}

pp_frame submit_frame(uint64_t task, pp_payload_ref ref)
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_SUBMIT;
	f.task_id = task;
	f.u.submit.func = 0x1234;
	f.payload = ref;
	return f;
}

class ChannelTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		pp_channel_config cfg = {};
		cfg.submit_slots = 8;
		cfg.complete_slots = 8;
		cfg.input_arena = 16 * 4096;
		cfg.output_arena = 16 * 4096;
		ASSERT_EQ(0, pp_channel_create(&parent_, &cfg));
		// An in-process worker view over the same memfd.
		ASSERT_EQ(0, pp_channel_open_worker(&worker_, dup(parent_.fd),
						    dup(parent_.parent_eventfd)));
	}
	void TearDown() override
	{
		pp_channel_close(&worker_);
		pp_channel_close(&parent_);
	}

	pp_channel parent_{};
	pp_channel worker_{};
};

TEST(Channel, CreateRejectsBadConfig)
{
	pp_channel ch;
	pp_channel_config cfg = {};

	EXPECT_EQ(-EINVAL, pp_channel_create(nullptr, nullptr));
	cfg.submit_slots = 3;
	EXPECT_EQ(-EINVAL, pp_channel_create(&ch, &cfg));
	cfg = {};
	cfg.input_arena = 1000;  // not a granule multiple
	EXPECT_EQ(-EINVAL, pp_channel_create(&ch, &cfg));
	cfg = {};
	cfg.output_arena = PP_CHANNEL_MAX_ARENA * 2;
	EXPECT_EQ(-EINVAL, pp_channel_create(&ch, &cfg));
	cfg = {};
	cfg.granule = 100;
	EXPECT_EQ(-EINVAL, pp_channel_create(&ch, &cfg));
}

TEST(Channel, DefaultsAreSealedAndCloseOnExec)
{
	pp_channel ch;

	ASSERT_EQ(0, pp_channel_create(&ch, nullptr));
	int seals = fcntl(ch.fd, F_GET_SEALS);
	EXPECT_EQ(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL,
		  seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	EXPECT_EQ(-1, ftruncate(ch.fd, 4096));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(ch.fd, (off_t)ch.size * 2));
	EXPECT_EQ(EPERM, errno);
	EXPECT_TRUE(fcntl(ch.fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_TRUE(fcntl(ch.parent_eventfd, F_GETFD) & FD_CLOEXEC);
	EXPECT_TRUE(fcntl(ch.parent_eventfd, F_GETFL) & O_NONBLOCK);
	pp_channel_close(&ch);
	pp_channel_close(&ch);	// twice is fine
	EXPECT_EQ(-1, ch.fd);
}

TEST(Channel, WorkerRejectsUnsealedOrCorruptMemory)
{
	int fd = memfd_create("not-sealed", MFD_CLOEXEC);
	pp_channel ch, w;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	EXPECT_EQ(-EINVAL, pp_channel_open_worker(&w, fd, -1));
	close(fd);
	EXPECT_EQ(-EINVAL, pp_channel_open_worker(&w, -1, -1));

	ASSERT_EQ(0, pp_channel_create(&ch, nullptr));
	ch.base[0] ^= 0xff;  // magic
	int dupfd = dup(ch.fd);
	EXPECT_EQ(-EINVAL, pp_channel_open_worker(&w, dupfd, -1));
	ch.base[0] ^= 0xff;
	ch.base[8] ^= 0x01;  // total size no longer matches the file
	EXPECT_EQ(-EINVAL, pp_channel_open_worker(&w, dupfd, -1));
	ch.base[8] ^= 0x01;
	ch.base[20] = 3;     // submit slots not a power of two
	EXPECT_EQ(-EINVAL, pp_channel_open_worker(&w, dupfd, -1));
	close(dupfd);
	pp_channel_close(&ch);
}

TEST_F(ChannelTest, SubmitAndResultWithPayloadsBothWays)
{
	pp_payload_ref in_ref, out_ref;
	void *in_ptr, *out_ptr;
	pp_frame f, g;

	ASSERT_EQ(0, pp_channel_alloc(&parent_, 100, &in_ref, &in_ptr));
	memset(in_ptr, 0x5a, 100);
	f = submit_frame(77, in_ref);
	ASSERT_EQ(0, pp_channel_send(&parent_, &f));
	ASSERT_EQ(0, pp_channel_recv(&worker_, &g));
	EXPECT_EQ(PP_FRAME_SUBMIT, g.type);
	EXPECT_EQ(77u, g.task_id);
	EXPECT_EQ(0x1234u, g.u.submit.func);
	const auto *seen = static_cast<const unsigned char *>(
		pp_channel_peer_payload(&worker_, &g.payload));
	ASSERT_NE(nullptr, seen);
	for (int i = 0; i < 100; i++)
		ASSERT_EQ(0x5a, seen[i]);

	ASSERT_EQ(0, pp_channel_alloc(&worker_, 10, &out_ref, &out_ptr));
	memcpy(out_ptr, "0123456789", 10);
	f = result_frame(77, out_ref);
	ASSERT_EQ(0, pp_channel_send(&worker_, &f));
	ASSERT_EQ(1, pp_channel_arm(&parent_));
	pp_channel_disarm(&parent_);
	ASSERT_EQ(0, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(PP_FRAME_RESULT, g.type);
	EXPECT_EQ(3, g.u.result.return_code);
	const void *out = pp_channel_peer_payload(&parent_, &g.payload);
	ASSERT_NE(nullptr, out);
	EXPECT_EQ(0, memcmp("0123456789", out, 10));
	EXPECT_EQ(-EAGAIN, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(0, pp_channel_arm(&parent_));
	pp_channel_disarm(&parent_);
	EXPECT_EQ(0, pp_channel_free(&parent_, &in_ref));
	EXPECT_EQ(-EINVAL, pp_channel_free(&parent_, &in_ref));
}

TEST_F(ChannelTest, InlineResultFitsInASlot)
{
	const uint8_t data[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
	pp_frame f = result_frame(1, {0, sizeof(data)}), g;

	f.flags = PP_FRAME_F_INLINE;
	f.inline_data = data;
	ASSERT_EQ(0, pp_channel_send(&worker_, &f));
	ASSERT_EQ(0, pp_channel_recv(&parent_, &g));
	ASSERT_NE(nullptr, g.inline_data);
	EXPECT_EQ(0, memcmp(data, g.inline_data, sizeof(data)));
	f.payload.length = 17;	// 48 + 17 > one 64-byte slot
	uint8_t big[17] = {};
	f.inline_data = big;
	EXPECT_EQ(-EINVAL, pp_channel_send(&worker_, &f));
}

TEST_F(ChannelTest, FullRingAndBatches)
{
	std::vector<pp_frame> frames(20, submit_frame(0, {0, 0}));
	pp_frame g;

	for (size_t i = 0; i < frames.size(); i++)
		frames[i].task_id = i;
	EXPECT_EQ(8, pp_channel_send_batch(&parent_, frames.data(), 20));
	EXPECT_EQ(-EAGAIN, pp_channel_send(&parent_, frames.data()));
	for (uint64_t i = 0; i < 8; i++) {
		ASSERT_EQ(0, pp_channel_recv(&worker_, &g));
		EXPECT_EQ(i, g.task_id);
		EXPECT_EQ(i, g.sequence);
	}
	EXPECT_EQ(8, pp_channel_send_batch(&parent_, frames.data() + 8, 12));
	for (uint64_t i = 8; i < 16; i++) {
		ASSERT_EQ(0, pp_channel_recv(&worker_, &g));
		EXPECT_EQ(i, g.task_id);
	}
	EXPECT_EQ(-EINVAL, pp_channel_send_batch(&parent_, nullptr, 1));
}

TEST_F(ChannelTest, ArenaExhaustionIsReported)
{
	pp_payload_ref ref;
	void *p;

	EXPECT_EQ(-ENOSPC, pp_channel_alloc(&parent_, 17 * 4096, &ref, &p));
	EXPECT_EQ(0, pp_channel_alloc(&parent_, 16 * 4096, &ref, &p));
	EXPECT_EQ(-ENOSPC, pp_channel_alloc(&parent_, 1, &ref, &p));
	EXPECT_EQ(-EINVAL, pp_channel_alloc(&parent_, 0, &ref, &p));
	EXPECT_EQ(-EINVAL, pp_channel_alloc(nullptr, 1, &ref, &p));
}

// Each way a worker can break the protocol ends in a sticky -EPROTO that
// names the violation; the parent never follows the bad data.
TEST_F(ChannelTest, WrongDirectionIsAViolation)
{
	pp_frame f = submit_frame(1, {0, 0}), g;

	// The worker view refuses to encode nothing; push a SUBMIT raw.
	uint8_t slot[PP_CHANNEL_SLOT_SIZE] = {};
	f.sequence = 0;
	ASSERT_GT(pp_frame_encode(&f, slot, sizeof(slot)), 0);
	ASSERT_EQ(0, pp_ring_push(&worker_.tx, slot, sizeof(slot)));
	EXPECT_EQ(-EPROTO, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(PP_CHANNEL_WRONG_DIRECTION, pp_channel_violation(&parent_));
	EXPECT_EQ(-EPROTO, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(-EPROTO, pp_channel_send(&parent_, &f));
	EXPECT_EQ(-EPROTO, pp_channel_wait(&parent_, 0));
	EXPECT_EQ(-EPROTO, pp_channel_arm(&parent_));
	EXPECT_STRNE("none", pp_channel_violation_str(&parent_));
}

TEST_F(ChannelTest, SequenceGapIsAViolation)
{
	pp_frame f = result_frame(1, {0, 0}), g;

	ASSERT_EQ(0, pp_channel_send(&worker_, &f));
	worker_.tx_seq += 5;
	ASSERT_EQ(0, pp_channel_send(&worker_, &f));
	ASSERT_EQ(0, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(-EPROTO, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(PP_CHANNEL_BAD_SEQUENCE, pp_channel_violation(&parent_));
}

TEST_F(ChannelTest, PayloadOutsideWorkerPartIsAViolation)
{
	const pp_payload_ref bad[] = {
		{16 * 4096, 1},
		{0, 16 * 4096 + 1},
		{UINT64_MAX - 10, 100},
		{8, UINT64_MAX},
	};

	for (const auto &ref : bad) {
		pp_channel p, w;
		pp_frame f = result_frame(1, ref), g;
		pp_channel_config cfg = {};
		cfg.output_arena = 16 * 4096;
		ASSERT_EQ(0, pp_channel_create(&p, &cfg));
		ASSERT_EQ(0, pp_channel_open_worker(&w, dup(p.fd), -1));
		ASSERT_EQ(0, pp_channel_send(&w, &f));
		EXPECT_EQ(-EPROTO, pp_channel_recv(&p, &g));
		EXPECT_EQ(PP_CHANNEL_BAD_PAYLOAD, pp_channel_violation(&p));
		EXPECT_EQ(nullptr, pp_channel_peer_payload(&p, &ref));
		pp_channel_close(&w);
		pp_channel_close(&p);
	}
}

TEST_F(ChannelTest, GarbageSlotIsAViolation)
{
	uint8_t slot[PP_CHANNEL_SLOT_SIZE];
	pp_frame g;

	memset(slot, 0xee, sizeof(slot));
	ASSERT_EQ(0, pp_ring_push(&worker_.tx, slot, sizeof(slot)));
	EXPECT_EQ(-EPROTO, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(PP_CHANNEL_BAD_FRAME, pp_channel_violation(&parent_));
	EXPECT_STREQ("bad magic", pp_channel_violation_str(&parent_));
}

TEST_F(ChannelTest, RingIndexJumpIsAViolation)
{
	uint32_t jump = 1000;
	pp_frame g;

	memcpy(worker_.tx.region + PP_RING_PRODUCER_INDEX_OFFSET, &jump, 4);
	EXPECT_EQ(-EPROTO, pp_channel_recv(&parent_, &g));
	EXPECT_EQ(PP_CHANNEL_RING_INDEX, pp_channel_violation(&parent_));
	EXPECT_EQ(PP_RING_PEER_INDEX_JUMP, parent_.rx.violation);
}

// A real worker process: sums the input bytes of each task and answers
// with the sum in its own arena part.
TEST(ChannelAcrossFork, TasksRoundTrip)
{
	pp_channel parent;
	const int tasks = static_cast<int>(pp_test::scaled(20000));

	ASSERT_EQ(0, pp_channel_create(&parent, nullptr));
	int memfd = parent.fd, efd = parent.parent_eventfd;
	pid_t pid = pp_test::spawn_child([&] {
		pp_channel w;
		int err = pp_channel_open_worker(&w, dup(memfd), dup(efd));
		if (err) {
			fprintf(stderr, "worker open: %s\n", strerror(-err));
			return 2;
		}
		pp_payload_ref prev = {0, 0};
		for (int done = 0; done < tasks; done++) {
			pp_frame f, r;
			if (pp_channel_wait(&w, 10000) ||
			    pp_channel_recv(&w, &f))
				return 3;
			// Lock-step: a new task means the parent is done
			// with the previous output.
			if (done && pp_channel_free(&w, &prev))
				return 5;
			const auto *in = static_cast<const uint8_t *>(
				pp_channel_peer_payload(&w, &f.payload));
			uint64_t sum = 0;
			for (uint64_t i = 0; in && i < f.payload.length; i++)
				sum += in[i];
			pp_payload_ref ref;
			void *out;
			if (pp_channel_alloc(&w, sizeof(sum), &ref, &out))
				return 4;
			memcpy(out, &sum, sizeof(sum));
			prev = ref;
			r = result_frame(f.task_id, ref);
			while (pp_channel_send(&w, &r) == -EAGAIN)
				sched_yield();
		}
		pp_channel_close(&w);
		return 0;
	});
	int errors = 0;
	for (int t = 0; t < tasks && !errors; t++) {
		pp_payload_ref ref;
		void *in;
		size_t len = 1 + t % 300;
		ASSERT_EQ(0, pp_channel_alloc(&parent, len, &ref, &in));
		memset(in, t & 0xff, len);
		pp_frame f = submit_frame(t, ref), g;
		ASSERT_EQ(0, pp_channel_send(&parent, &f));
		if (pp_channel_wait(&parent, 10000) ||
		    pp_channel_recv(&parent, &g)) {
			errors++;
			break;
		}
		EXPECT_EQ(static_cast<uint64_t>(t), g.task_id);
		const void *out = pp_channel_peer_payload(&parent, &g.payload);
		ASSERT_NE(nullptr, out);
		uint64_t sum;
		memcpy(&sum, out, sizeof(sum));
		ASSERT_EQ(static_cast<uint64_t>(len) * (t & 0xff), sum);
		ASSERT_EQ(0, pp_channel_free(&parent, &ref));
	}
	EXPECT_EQ(0, errors) << pp_channel_violation_str(&parent);
	EXPECT_EQ(0, pp_test::wait_child(pid, 60000));
	pp_channel_close(&parent);
}

}  // namespace
