// Stress tests across threads and processes: millions of messages through
// the ring and the channel, with order kept and nothing lost or
// duplicated. Waiting uses the library's own wake path.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "src/ipc/channel.h"
#include "src/ipc/ring.h"
#include "src/ipc/wake.h"
#include "tests/util/test_util.h"

namespace {

constexpr uint32_t kCap = 1024;
constexpr uint32_t kSlot = 64;

struct Shared {
	alignas(64) unsigned char not_empty[PP_WAKE_WORD_SIZE];
	alignas(64) unsigned char not_full[PP_WAKE_WORD_SIZE];
	alignas(64) unsigned char region[PP_RING_SLOTS_OFFSET + kCap * kSlot];
};

struct Msg {
	uint64_t seq;
	uint64_t check;
	uint8_t pad[kSlot - 16];
};

uint64_t check_of(uint64_t seq)
{
	return seq * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995;
}

bool readable(void *arg)
{
	return pp_ring_readable(static_cast<pp_ring *>(arg)) != 0;
}

bool writable(void *arg)
{
	return pp_ring_writable(static_cast<pp_ring *>(arg)) != 0;
}

// Consumer: pops in batches, checks each message, sleeps when empty.
int consume(Shared *s, uint64_t n)
{
	pp_ring ring;
	pp_waiter w;
	Msg batch[64];
	uint64_t want = 0;

	if (pp_ring_attach(&ring, s->region, kCap, kSlot, PP_RING_CONSUMER))
		return 2;
	pp_waiter_init(&w, s->not_empty);
	while (want < n) {
		int got = pp_ring_pop_batch(&ring, batch, 64);
		if (got < 0)
			return 3;
		if (got == 0) {
			if (pp_wake_wait(&w, readable, &ring, 10000))
				return 4;
			continue;
		}
		for (int i = 0; i < got; i++, want++)
			if (batch[i].seq != want ||
			    batch[i].check != check_of(want))
				return 5;
		pp_wake_notify(s->not_full, -1);
	}
	return 0;
}

// Producer: pushes in random-sized batches, sleeps when full.
int produce(Shared *s, uint64_t n)
{
	pp_ring ring;
	pp_waiter w;
	Msg batch[64];
	uint64_t next = 0;

	if (pp_ring_attach(&ring, s->region, kCap, kSlot, PP_RING_PRODUCER))
		return 2;
	pp_waiter_init(&w, s->not_full);
	memset(batch, 0, sizeof(batch));
	while (next < n) {
		unsigned k = 1 + (unsigned)(next * 7 % 64);
		if (k > n - next)
			k = (unsigned)(n - next);
		for (unsigned i = 0; i < k; i++) {
			batch[i].seq = next + i;
			batch[i].check = check_of(next + i);
		}
		int put = pp_ring_push_batch(&ring, batch, k);
		if (put < 0)
			return 3;
		if (put == 0) {
			if (pp_wake_wait(&w, writable, &ring, 10000))
				return 4;
			continue;
		}
		next += (uint64_t)put;
		pp_wake_notify(s->not_empty, -1);
	}
	return 0;
}

Shared *new_shared()
{
	auto *s = static_cast<Shared *>(pp_test::map_shared(sizeof(Shared)));
	pp_wake_word_init(s->not_empty);
	pp_wake_word_init(s->not_full);
	pp_ring_init_region(s->region, kCap, kSlot);
	return s;
}

TEST(RingStress, CrossProcessMillionsInOrder)
{
	const uint64_t n = pp_test::scaled(5000000);
	Shared *s = new_shared();

	pid_t pid = pp_test::spawn_child([&] { return consume(s, n); });
	EXPECT_EQ(0, produce(s, n));
	EXPECT_EQ(0, pp_test::wait_child(pid, 120000));
	pp_test::unmap_shared(s, sizeof(Shared));
}

TEST(RingStress, CrossThreadMillionsInOrder)
{
	const uint64_t n = pp_test::scaled(3000000);
	Shared *s = new_shared();
	int consumer_rc = -1;

	std::thread consumer([&] { consumer_rc = consume(s, n); });
	EXPECT_EQ(0, produce(s, n));
	consumer.join();
	EXPECT_EQ(0, consumer_rc);
	pp_test::unmap_shared(s, sizeof(Shared));
}

// Batches of SUBMIT frames to a forked worker that answers each one; every
// task id comes back exactly once, in order.
TEST(ChannelStress, BatchedRoundTripsAcrossFork)
{
	const uint64_t n = pp_test::scaled(1000000);
	pp_channel parent;

	ASSERT_EQ(0, pp_channel_create(&parent, nullptr));
	int memfd = parent.fd;
	pid_t pid = pp_test::spawn_child([&] {
		pp_channel w;
		pp_frame in[64], out[64];
		uint64_t done = 0;

		if (pp_channel_open_worker(&w, dup(memfd), -1))
			return 2;
		while (done < n) {
			int got = 0;
			while (got < 64 && pp_channel_recv(&w, &in[got]) == 0)
				got++;
			if (got == 0) {
				if (pp_channel_wait(&w, 10000))
					return 3;
				continue;
			}
			for (int i = 0; i < got; i++) {
				memset(&out[i], 0, sizeof(out[i]));
				out[i].type = PP_FRAME_RESULT;
				out[i].task_id = in[i].task_id;
				out[i].u.result.return_code =
					(int32_t)(in[i].task_id & 0x7fff);
			}
			for (int sent = 0; sent < got;) {
				int k = pp_channel_send_batch(&w, out + sent,
							      got - sent);
				if (k < 0)
					return 4;
				if (k == 0)
					sched_yield();
				sent += k;
			}
			done += (uint64_t)got;
		}
		pp_channel_close(&w);
		return 0;
	});
	uint64_t sent = 0, answered = 0;
	pp_frame batch[32], r;
	bool ok = true;
	while (answered < n && ok) {
		unsigned k = 0;
		while (k < 32 && sent + k < n && sent + k - answered < 200) {
			memset(&batch[k], 0, sizeof(batch[k]));
			batch[k].type = PP_FRAME_SUBMIT;
			batch[k].task_id = sent + k;
			k++;
		}
		if (k) {
			int put = pp_channel_send_batch(&parent, batch, k);
			ASSERT_GE(put, 0);
			sent += (uint64_t)put;
		}
		int err;
		while ((err = pp_channel_recv(&parent, &r)) == 0) {
			if (r.task_id != answered ||
			    r.u.result.return_code !=
				    (int32_t)(answered & 0x7fff))
				ok = false;
			answered++;
		}
		ASSERT_EQ(-EAGAIN, err) << pp_channel_violation_str(&parent);
		if (answered < n && (sent - answered >= 200 || sent == n)) {
			ASSERT_EQ(0, pp_channel_wait(&parent, 10000))
				<< "sent " << sent << " answered " << answered
				<< " worker exit "
				<< pp_test::wait_child(pid, 0);
		}
	}
	EXPECT_TRUE(ok);
	EXPECT_EQ(n, answered);
	EXPECT_EQ(0, pp_test::wait_child(pid, 60000));
	pp_channel_close(&parent);
}

}  // namespace
