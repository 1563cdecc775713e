// A hostile worker: a child process that writes garbage indices, frames
// and bytes into its channel. The parent must report the violation, never
// crash, never read outside the mapping, never accept a bad frame, and
// keep working with other channels.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "src/ipc/channel.h"
#include "tests/util/test_util.h"

namespace {

pp_frame result(uint64_t task, pp_payload_ref ref)
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_RESULT;
	f.task_id = task;
	f.payload = ref;
	return f;
}

// Checks a frame the parent accepted; returns false if it is unsafe.
bool accepted_frame_ok(const pp_channel *ch, const pp_frame &f,
		       uint32_t want_seq)
{
	if (!pp_frame_from_worker(f.type) || f.sequence != want_seq)
		return false;
	if (f.flags & PP_FRAME_F_INLINE)
		return true;
	if (f.type != PP_FRAME_RESULT)
		return true;
	const auto *p = static_cast<const volatile unsigned char *>(
		pp_channel_peer_payload(ch, &f.payload));
	if (!p)
		return false;
	unsigned sum = 0;
	for (uint64_t i = 0; i < f.payload.length; i++)
		sum += p[i];  // touches every byte: out of bounds would fault
	(void)sum;
	return true;
}

// Runs the parent's consume path until the child is gone and the ring is
// drained or broken, then reaps the child into *child_rc. Returns the
// number of frames accepted.
uint64_t drain(pp_channel *ch, pid_t child, bool *unsafe, int *child_rc)
{
	uint64_t accepted = 0;
	bool child_done = false;

	for (;;) {
		pp_frame f;
		uint32_t want = ch->rx_seq;
		int err = pp_channel_recv(ch, &f);
		if (err == 0) {
			if (!accepted_frame_ok(ch, f, want))
				*unsafe = true;
			accepted++;
			continue;
		}
		if (err != -EAGAIN && err != -EPROTO)
			*unsafe = true;
		if (err == -EPROTO || child_done)
			break;
		// The parent also produces into the worker's ring, whose
		// consumer index is hostile too.
		pp_frame s;
		memset(&s, 0, sizeof(s));
		s.type = PP_FRAME_PING;
		err = pp_channel_send(ch, &s);
		if (err != 0 && err != -EAGAIN && err != -EPROTO)
			*unsafe = true;
		if (pp_channel_arm(ch) < 0)
			break;
		pp_channel_disarm(ch);
		*child_rc = pp_test::poll_child(child);
		child_done = *child_rc >= 0;
	}
	if (!child_done)
		*child_rc = pp_test::wait_child(child, 10000);
	return accepted;
}

// The child scribbles random bytes over its whole mapping while the parent
// reads: the parent sees a violation (or nothing) but never unsafe data.
TEST(HostileProducer, RandomScribblesOverTheWholeChannel)
{
	for (unsigned seed = 1; seed <= 8; seed++) {
		pp_channel_config cfg = {};
		cfg.submit_slots = 16;
		cfg.complete_slots = 16;
		cfg.input_arena = 4 * 4096;
		cfg.output_arena = 4 * 4096;
		pp_channel ch;
		ASSERT_EQ(0, pp_channel_create(&ch, &cfg));
		unsigned char *base = ch.base;
		size_t size = ch.size;
		pid_t pid = pp_test::spawn_child([&] {
			std::mt19937 rng(seed);
			for (int i = 0; i < 200000; i++) {
				size_t off = rng() % size;
				base[off] = (unsigned char)rng();
			}
			return 0;
		});
		bool unsafe = false;
		int rc;
		drain(&ch, pid, &unsafe, &rc);
		EXPECT_FALSE(unsafe) << "seed " << seed;
		EXPECT_EQ(0, rc);
		pp_channel_close(&ch);
	}
}

// Targeted attacks, one per child, each with the violation it must cause.
struct Attack {
	const char *name;
	enum pp_channel_violation expect;
	int (*run)(pp_channel *w);
};

// Rewinds only after the parent has seen the higher index (it has popped
// one frame), so the parent can tell the index went backwards.
int valid_then_rewind(pp_channel *w)
{
	pp_frame f = result(1, {0, 0});
	for (int i = 0; i < 5; i++)
		pp_channel_send(w, &f);
	auto *tail = reinterpret_cast<volatile uint32_t *>(
		w->tx.region + PP_RING_CONSUMER_INDEX_OFFSET);
	for (int spins = 0; *tail == 0 && spins < 10000000; spins++)
		sched_yield();
	uint32_t back = 0;
	memcpy(w->tx.region + PP_RING_PRODUCER_INDEX_OFFSET, &back, 4);
	return 0;
}

int index_jump(pp_channel *w)
{
	uint32_t jump = 0x7fffffff;
	memcpy(w->tx.region + PP_RING_PRODUCER_INDEX_OFFSET, &jump, 4);
	return 0;
}

int payload_outside(pp_channel *w)
{
	pp_frame f = result(1, {w->own.size - 8, 64});  // runs off the end
	pp_channel_send(w, &f);
	return 0;
}

int garbage_frames(pp_channel *w)
{
	unsigned char slot[PP_CHANNEL_SLOT_SIZE];
	std::mt19937 rng(7);
	for (auto &b : slot)
		b = (unsigned char)rng();
	pp_ring_push(&w->tx, slot, sizeof(slot));
	return 0;
}

int replayed_sequence(pp_channel *w)
{
	pp_frame f = result(1, {0, 0});
	pp_channel_send(w, &f);
	w->tx_seq = 0;	// replay sequence 0
	pp_channel_send(w, &f);
	return 0;
}

int parent_only_frame(pp_channel *w)
{
	unsigned char slot[PP_CHANNEL_SLOT_SIZE] = {};
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_CANCEL;
	pp_frame_encode(&f, slot, sizeof(slot));
	pp_ring_push(&w->tx, slot, sizeof(slot));
	return 0;
}

TEST(HostileProducer, EachAttackIsNamed)
{
	const Attack attacks[] = {
		{"rewind", PP_CHANNEL_RING_INDEX, valid_then_rewind},
		{"jump", PP_CHANNEL_RING_INDEX, index_jump},
		{"payload", PP_CHANNEL_BAD_PAYLOAD, payload_outside},
		{"garbage", PP_CHANNEL_BAD_FRAME, garbage_frames},
		{"replay", PP_CHANNEL_BAD_SEQUENCE, replayed_sequence},
		{"direction", PP_CHANNEL_WRONG_DIRECTION, parent_only_frame},
	};

	for (const Attack &a : attacks) {
		pp_channel ch;
		ASSERT_EQ(0, pp_channel_create(&ch, nullptr));
		int memfd = ch.fd;
		pid_t pid = pp_test::spawn_child([&] {
			pp_channel w;
			if (pp_channel_open_worker(&w, dup(memfd), -1))
				return 2;
			return a.run(&w);
		});
		bool unsafe = false;
		int rc;
		drain(&ch, pid, &unsafe, &rc);
		EXPECT_FALSE(unsafe) << a.name;
		EXPECT_EQ(0, rc) << a.name;
		EXPECT_EQ(a.expect, pp_channel_violation(&ch))
			<< a.name << ": " << pp_channel_violation_str(&ch);
		pp_frame f;
		EXPECT_EQ(-EPROTO, pp_channel_recv(&ch, &f)) << a.name;
		pp_channel_close(&ch);
	}
}

// The parent as producer: a worker that moves its consumer index past
// what was sent makes the parent's next send fail, not overwrite slots.
TEST(HostileProducer, ConsumerIndexPastProducer)
{
	pp_channel ch;
	ASSERT_EQ(0, pp_channel_create(&ch, nullptr));
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_PING;
	for (int i = 0; i < 256; i++)
		ASSERT_EQ(0, pp_channel_send(&ch, &f));
	int memfd = ch.fd;
	pid_t pid = pp_test::spawn_child([&] {
		pp_channel w;
		if (pp_channel_open_worker(&w, dup(memfd), -1))
			return 2;
		uint32_t past = 1000;
		memcpy(w.rx.region + PP_RING_CONSUMER_INDEX_OFFSET, &past, 4);
		return 0;
	});
	ASSERT_EQ(0, pp_test::wait_child(pid, 10000));
	EXPECT_EQ(-EPROTO, pp_channel_send(&ch, &f));
	EXPECT_EQ(PP_CHANNEL_RING_INDEX, pp_channel_violation(&ch));
	pp_channel_close(&ch);
}

// After a violation the parent still runs healthy channels normally.
TEST(HostileProducer, OtherChannelsAreUnaffected)
{
	pp_channel bad, good, w;
	pp_frame f = result(9, {0, 0}), g;

	ASSERT_EQ(0, pp_channel_create(&bad, nullptr));
	ASSERT_EQ(0, pp_channel_create(&good, nullptr));
	uint32_t jump = 5000;
	memcpy(bad.rx.region + PP_RING_PRODUCER_INDEX_OFFSET, &jump, 4);
	EXPECT_EQ(-EPROTO, pp_channel_recv(&bad, &g));
	ASSERT_EQ(0, pp_channel_open_worker(&w, dup(good.fd), -1));
	ASSERT_EQ(0, pp_channel_send(&w, &f));
	ASSERT_EQ(0, pp_channel_recv(&good, &g));
	EXPECT_EQ(9u, g.task_id);
	pp_channel_close(&w);
	pp_channel_close(&good);
	pp_channel_close(&bad);
}

}  // namespace
