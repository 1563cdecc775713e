// Unit tests of the shared-memory SPSC ring (src/ipc/ring.h).
#include "src/ipc/ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr uint32_t kSlot = 64;

struct Msg {
	uint64_t seq;
	uint8_t fill[kSlot - sizeof(uint64_t)];
};

Msg make(uint64_t seq)
{
	Msg m;
	m.seq = seq;
	memset(m.fill, static_cast<int>(seq & 0xff), sizeof(m.fill));
	return m;
}

class RingTest : public ::testing::Test {
protected:
	void SetUp() override { Open(8, kSlot); }

	void Open(uint32_t cap, uint32_t slot)
	{
		region_.assign(pp_ring_region_size(cap, slot), 0xAA);
		ASSERT_EQ(0, pp_ring_init_region(region_.data(), cap, slot));
		ASSERT_EQ(0, pp_ring_attach(&prod_, region_.data(), cap, slot,
					    PP_RING_PRODUCER));
		ASSERT_EQ(0, pp_ring_attach(&cons_, region_.data(), cap, slot,
					    PP_RING_CONSUMER));
	}

	void SetIndex(size_t offset, uint32_t v)
	{
		memcpy(region_.data() + offset, &v, sizeof(v));
	}

	std::vector<unsigned char> region_;
	pp_ring prod_{};
	pp_ring cons_{};
};

TEST(RingGeometry, RejectsBadGeometry)
{
	EXPECT_EQ(0u, pp_ring_region_size(0, 64));
	EXPECT_EQ(0u, pp_ring_region_size(1, 64));
	EXPECT_EQ(0u, pp_ring_region_size(6, 64));
	EXPECT_EQ(0u, pp_ring_region_size(8, 0));
	EXPECT_EQ(0u, pp_ring_region_size(8, 12));
	EXPECT_EQ(0u, pp_ring_region_size(8, PP_RING_MAX_SLOT_SIZE + 8));
	EXPECT_EQ(0u, pp_ring_region_size(PP_RING_MAX_CAPACITY * 2, 8));
	EXPECT_EQ(PP_RING_SLOTS_OFFSET + 8u * 64, pp_ring_region_size(8, 64));
}

TEST(RingGeometry, AttachRejectsBadArguments)
{
	std::vector<unsigned char> r(pp_ring_region_size(8, 64));
	pp_ring ring;

	EXPECT_EQ(-EINVAL, pp_ring_init_region(nullptr, 8, 64));
	ASSERT_EQ(0, pp_ring_init_region(r.data(), 8, 64));
	EXPECT_EQ(-EINVAL, pp_ring_attach(nullptr, r.data(), 8, 64,
					  PP_RING_PRODUCER));
	EXPECT_EQ(-EINVAL, pp_ring_attach(&ring, nullptr, 8, 64,
					  PP_RING_PRODUCER));
	EXPECT_EQ(-EINVAL, pp_ring_attach(&ring, r.data(), 7, 64,
					  PP_RING_PRODUCER));
	EXPECT_EQ(-EINVAL, pp_ring_attach(&ring, r.data(), 8, 64,
					  static_cast<pp_ring_role>(9)));
}

TEST(RingGeometry, AttachRejectsImpossibleIndices)
{
	std::vector<unsigned char> r(pp_ring_region_size(8, 64));
	uint32_t head = 9, tail = 0;
	pp_ring ring;

	ASSERT_EQ(0, pp_ring_init_region(r.data(), 8, 64));
	memcpy(r.data() + PP_RING_PRODUCER_INDEX_OFFSET, &head, 4);
	EXPECT_EQ(-EPROTO, pp_ring_attach(&ring, r.data(), 8, 64,
					  PP_RING_CONSUMER));
	head = 0;
	tail = 1;  // consumer ahead of producer
	memcpy(r.data() + PP_RING_PRODUCER_INDEX_OFFSET, &head, 4);
	memcpy(r.data() + PP_RING_CONSUMER_INDEX_OFFSET, &tail, 4);
	EXPECT_EQ(-EPROTO, pp_ring_attach(&ring, r.data(), 8, 64,
					  PP_RING_PRODUCER));
}

TEST_F(RingTest, ConsumerMayAttachWhileMessagesAreQueued)
{
	Msg m = make(5), out;
	pp_ring late;

	ASSERT_EQ(0, pp_ring_pop(&cons_, &out) == -EAGAIN ? 0 : 1);
	ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	ASSERT_EQ(0, pp_ring_attach(&late, region_.data(), 8, kSlot,
				    PP_RING_CONSUMER));
	EXPECT_EQ(2, pp_ring_readable(&late));
	ASSERT_EQ(0, pp_ring_pop(&late, &out));
	EXPECT_EQ(5u, out.seq);
	// And a producer attaching late continues after what is queued.
	pp_ring late_prod;
	ASSERT_EQ(0, pp_ring_attach(&late_prod, region_.data(), 8, kSlot,
				    PP_RING_PRODUCER));
	EXPECT_EQ(7, pp_ring_writable(&late_prod));
	m = make(6);
	ASSERT_EQ(0, pp_ring_push(&late_prod, &m, sizeof(m)));
	ASSERT_EQ(0, pp_ring_pop(&late, &out));
	EXPECT_EQ(5u, out.seq);
	ASSERT_EQ(0, pp_ring_pop(&late, &out));
	EXPECT_EQ(6u, out.seq);
}

TEST_F(RingTest, PushThenPopKeepsContentAndOrder)
{
	for (uint64_t i = 0; i < 5; i++) {
		Msg m = make(i);
		ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	}
	EXPECT_EQ(5, pp_ring_readable(&cons_));
	for (uint64_t i = 0; i < 5; i++) {
		Msg out;
		ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
		Msg want = make(i);
		EXPECT_EQ(0, memcmp(&want, &out, sizeof(out)));
	}
	Msg out;
	EXPECT_EQ(-EAGAIN, pp_ring_pop(&cons_, &out));
}

TEST_F(RingTest, ShortMessageIsZeroPadded)
{
	uint8_t out[kSlot];
	uint32_t v = 0x12345678;

	ASSERT_EQ(0, pp_ring_push(&prod_, &v, sizeof(v)));
	ASSERT_EQ(0, pp_ring_pop(&cons_, out));
	EXPECT_EQ(0, memcmp(out, &v, sizeof(v)));
	for (size_t i = sizeof(v); i < kSlot; i++)
		EXPECT_EQ(0, out[i]) << "byte " << i;
}

TEST_F(RingTest, FullRingRefusesThenAcceptsAfterPop)
{
	Msg m = make(1), out;

	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	EXPECT_EQ(-EAGAIN, pp_ring_push(&prod_, &m, sizeof(m)));
	EXPECT_EQ(0, pp_ring_writable(&prod_));
	ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
	EXPECT_EQ(1, pp_ring_writable(&prod_));
	EXPECT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
}

TEST_F(RingTest, WrapsAroundManyTimes)
{
	for (uint64_t i = 0; i < 1000; i++) {
		Msg m = make(i), out;
		ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
		ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
		ASSERT_EQ(i, out.seq);
	}
}

TEST_F(RingTest, IndicesWrapAroundU32)
{
	// Start both sides just below the u32 wrap point.
	uint32_t start = UINT32_MAX - 3;
	SetIndex(PP_RING_PRODUCER_INDEX_OFFSET, start);
	SetIndex(PP_RING_CONSUMER_INDEX_OFFSET, start);
	ASSERT_EQ(0, pp_ring_attach(&prod_, region_.data(), 8, kSlot,
				    PP_RING_PRODUCER));
	ASSERT_EQ(0, pp_ring_attach(&cons_, region_.data(), 8, kSlot,
				    PP_RING_CONSUMER));
	for (uint64_t i = 0; i < 20; i++) {
		Msg m = make(i), out;
		ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
		ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
		ASSERT_EQ(i, out.seq);
	}
	EXPECT_EQ(PP_RING_OK, pp_ring_violation(&cons_));
}

TEST_F(RingTest, BatchPushAndPop)
{
	Msg in[12], out[12];

	for (uint64_t i = 0; i < 12; i++)
		in[i] = make(i);
	EXPECT_EQ(8, pp_ring_push_batch(&prod_, in, 12));
	EXPECT_EQ(0, pp_ring_push_batch(&prod_, in, 12));
	EXPECT_EQ(5, pp_ring_pop_batch(&cons_, out, 5));
	EXPECT_EQ(4, pp_ring_push_batch(&prod_, in + 8, 4));
	EXPECT_EQ(7, pp_ring_pop_batch(&cons_, out + 5, 12));
	for (uint64_t i = 0; i < 12; i++)
		EXPECT_EQ(i, out[i].seq);
	EXPECT_EQ(0, pp_ring_pop_batch(&cons_, out, 12));
	EXPECT_EQ(0, pp_ring_push_batch(&prod_, in, 0));
	EXPECT_EQ(0, pp_ring_pop_batch(&cons_, out, 0));
}

TEST_F(RingTest, WrongSideAndBadArgumentsAreRefused)
{
	Msg m = make(0);

	EXPECT_EQ(-EINVAL, pp_ring_push(&cons_, &m, sizeof(m)));
	EXPECT_EQ(-EINVAL, pp_ring_pop(&prod_, &m));
	EXPECT_EQ(-EINVAL, pp_ring_push(&prod_, nullptr, 8));
	EXPECT_EQ(-EINVAL, pp_ring_push(&prod_, &m, 0));
	EXPECT_EQ(-EINVAL, pp_ring_push(&prod_, &m, kSlot + 1));
	EXPECT_EQ(-EINVAL, pp_ring_pop(&cons_, nullptr));
	EXPECT_EQ(-EINVAL, pp_ring_push(nullptr, &m, sizeof(m)));
	EXPECT_EQ(-EINVAL, pp_ring_readable(&prod_));
	EXPECT_EQ(-EINVAL, pp_ring_writable(&cons_));
	EXPECT_EQ(-EINVAL, pp_ring_push_batch(&prod_, nullptr, 1));
	EXPECT_EQ(-EINVAL, pp_ring_pop_batch(&cons_, nullptr, 1));
}

TEST_F(RingTest, ProducerIndexJumpIsAViolation)
{
	Msg out;

	SetIndex(PP_RING_PRODUCER_INDEX_OFFSET, 9);  // capacity is 8
	EXPECT_EQ(-EPROTO, pp_ring_pop(&cons_, &out));
	EXPECT_EQ(PP_RING_PEER_INDEX_JUMP, pp_ring_violation(&cons_));
	// Sticky, even once the index looks sane again.
	SetIndex(PP_RING_PRODUCER_INDEX_OFFSET, 0);
	EXPECT_EQ(-EPROTO, pp_ring_pop(&cons_, &out));
	EXPECT_EQ(-EPROTO, pp_ring_readable(&cons_));
	EXPECT_STRNE("none", pp_ring_violation_str(pp_ring_violation(&cons_)));
}

TEST_F(RingTest, ProducerIndexBackwardsIsAViolation)
{
	Msg m = make(0), out;

	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	ASSERT_EQ(4, pp_ring_readable(&cons_));
	SetIndex(PP_RING_PRODUCER_INDEX_OFFSET, 2);  // seen 4 already
	ASSERT_EQ(0, pp_ring_pop(&cons_, &out));     // cached: 3 left
	ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
	ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
	ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
	EXPECT_EQ(-EPROTO, pp_ring_pop(&cons_, &out));
	EXPECT_EQ(PP_RING_PEER_INDEX_BACKWARDS, pp_ring_violation(&cons_));
}

TEST_F(RingTest, ProducerIndexBehindConsumerIsAViolation)
{
	SetIndex(PP_RING_PRODUCER_INDEX_OFFSET, UINT32_MAX);  // -1
	EXPECT_EQ(-EPROTO, pp_ring_readable(&cons_));
	EXPECT_EQ(PP_RING_PEER_INDEX_BACKWARDS, pp_ring_violation(&cons_));
}

TEST_F(RingTest, ConsumerIndexPastProducerIsAViolation)
{
	Msg m = make(0);

	ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	SetIndex(PP_RING_CONSUMER_INDEX_OFFSET, 5);  // only 1 was pushed
	EXPECT_EQ(-EPROTO, pp_ring_writable(&prod_));
	EXPECT_EQ(PP_RING_PEER_INDEX_JUMP, pp_ring_violation(&prod_));
	EXPECT_EQ(-EPROTO, pp_ring_push(&prod_, &m, sizeof(m)));
}

TEST_F(RingTest, ConsumerIndexBackwardsIsAViolation)
{
	Msg m = make(0), out;

	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
	ASSERT_EQ(8, pp_ring_writable(&prod_));
	SetIndex(PP_RING_CONSUMER_INDEX_OFFSET, 1);
	EXPECT_EQ(-EPROTO, pp_ring_writable(&prod_));
	EXPECT_EQ(PP_RING_PEER_INDEX_BACKWARDS, pp_ring_violation(&prod_));
}

TEST_F(RingTest, ProducerIgnoresItsOwnIndexInSharedMemory)
{
	// A consumer that rewrites the producer's index cannot make the
	// producer overwrite unread slots: the producer trusts only itself.
	Msg m = make(7), out;

	ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	SetIndex(PP_RING_PRODUCER_INDEX_OFFSET, 0);
	m = make(8);
	ASSERT_EQ(0, pp_ring_push(&prod_, &m, sizeof(m)));
	uint32_t head;
	memcpy(&head, region_.data() + PP_RING_PRODUCER_INDEX_OFFSET, 4);
	EXPECT_EQ(2u, head);
	ASSERT_EQ(0, pp_ring_pop(&cons_, &out));
	EXPECT_EQ(7u, out.seq);
}

TEST(RingCrossThread, MillionMessagesInOrder)
{
	const uint32_t cap = 256;
	const uint64_t n = 1000000;
	std::vector<unsigned char> region(pp_ring_region_size(cap, 16));
	pp_ring prod, cons;
	std::atomic<bool> failed{false};

	ASSERT_EQ(0, pp_ring_init_region(region.data(), cap, 16));
	ASSERT_EQ(0, pp_ring_attach(&prod, region.data(), cap, 16,
				    PP_RING_PRODUCER));
	ASSERT_EQ(0, pp_ring_attach(&cons, region.data(), cap, 16,
				    PP_RING_CONSUMER));
	std::thread consumer([&] {
		uint64_t want = 0, out[2 * 32];

		while (want < n) {
			int got = pp_ring_pop_batch(&cons, out, 32);
			if (got < 0) {
				failed = true;
				return;
			}
			for (int i = 0; i < got; i++, want++) {
				if (out[2 * i] != want ||
				    out[2 * i + 1] != ~want) {
					failed = true;
					return;
				}
			}
			if (got == 0)
				std::this_thread::yield();
		}
	});
	for (uint64_t i = 0; i < n;) {
		uint64_t msg[2] = {i, ~i};
		int err = pp_ring_push(&prod, msg, sizeof(msg));
		if (err == -EAGAIN) {
			std::this_thread::yield();
			continue;
		}
		ASSERT_EQ(0, err);
		i++;
	}
	consumer.join();
	EXPECT_FALSE(failed);
}

}  // namespace
