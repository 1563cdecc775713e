// Tests of the futex/eventfd wakeups (src/ipc/wake.h), across threads and
// across processes. No timing assertions: a lost wakeup shows up as a
// wait that ends in -ETIMEDOUT although the condition was published.
#include "src/ipc/wake.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "tests/util/test_util.h"

namespace {

struct Shared {
	alignas(64) unsigned char word[PP_WAKE_WORD_SIZE];
	alignas(64) std::atomic<uint64_t> value;
};

struct Target {
	std::atomic<uint64_t> *value;
	uint64_t want;
};

bool reached(void *arg)
{
	auto *t = static_cast<Target *>(arg);
	return t->value->load(std::memory_order_acquire) >= t->want;
}

bool never(void *)
{
	return false;
}

TEST(Wake, NotifyWithoutSleepersMakesNoSyscall)
{
	Shared s;
	pp_wake_word_init(s.word);
	EXPECT_EQ(0, pp_wake_notify(s.word, -1));
	EXPECT_EQ(0u, pp_wake_events(s.word));
	EXPECT_EQ(-EINVAL, pp_wake_notify(nullptr, -1));
}

TEST(Wake, WaitReturnsAtOnceWhenReadyAndTimesOutOtherwise)
{
	Shared s;
	pp_waiter w;
	s.value = 1;
	Target t{&s.value, 1};

	pp_wake_word_init(s.word);
	pp_waiter_init(&w, s.word);
	EXPECT_EQ(0, pp_wake_wait(&w, reached, &t, 0));
	EXPECT_EQ(-ETIMEDOUT, pp_wake_wait(&w, never, nullptr, 10));
	EXPECT_EQ(1u, w.sleeps);
	EXPECT_EQ(-EINVAL, pp_wake_wait(nullptr, never, nullptr, 0));
	EXPECT_EQ(-EINVAL, pp_wake_wait(&w, nullptr, nullptr, 0));
}

// Many rounds of publish + notify against a waiter that sleeps: none lost.
TEST(Wake, CrossThreadNoLostWakeups)
{
	Shared s;
	const uint64_t rounds = pp_test::scaled(20000);
	std::atomic<int> timeouts{0};
	std::atomic<uint64_t> late{0};

	pp_wake_word_init(s.word);
	s.value = 0;
	std::thread waiter([&] {
		pp_waiter w;
		pp_waiter_init(&w, s.word);
		for (uint64_t i = 1; i <= rounds; i++) {
			Target t{&s.value, i};
			if (pp_wake_wait(&w, reached, &t, 5000) != 0)
				timeouts++;
		}
		late = w.late;
	});
	for (uint64_t i = 1; i <= rounds; i++) {
		s.value.store(i, std::memory_order_release);
		pp_wake_notify(s.word, -1);
		if (i % 64 == 0)
			std::this_thread::yield();
		if (i % 1024 == 0) /* let the waiter fall asleep now and then */
			usleep(200);
	}
	waiter.join();
	EXPECT_EQ(0, timeouts.load());
	EXPECT_EQ(0u, late.load());
}

// Ping-pong between two processes, each sleeping on its own word. With
// no_spin every wait goes to the futex, so the sleeping path is what runs.
void cross_process_pingpong(bool no_spin)
{
	struct Pair {
		Shared to_child;
		Shared to_parent;
	};
	auto *p = static_cast<Pair *>(pp_test::map_shared(sizeof(Pair)));
	const uint64_t rounds = pp_test::scaled(20000);

	pp_wake_word_init(p->to_child.word);
	pp_wake_word_init(p->to_parent.word);
	p->to_child.value = 0;
	p->to_parent.value = 0;
	pid_t pid = pp_test::spawn_child([&] {
		pp_waiter w;
		pp_waiter_init(&w, p->to_child.word);
		if (no_spin)
			w.spin = 0;
		for (uint64_t i = 1; i <= rounds; i++) {
			Target t{&p->to_child.value, i};
			if (pp_wake_wait(&w, reached, &t, 5000))
				return 1;
			p->to_parent.value.store(i);
			pp_wake_notify(p->to_parent.word, -1);
		}
		return w.late ? 7 : 0;
	});
	pp_waiter w;
	int timeouts = 0;
	pp_waiter_init(&w, p->to_parent.word);
	if (no_spin)
		w.spin = 0;
	for (uint64_t i = 1; i <= rounds && !timeouts; i++) {
		p->to_child.value.store(i);
		pp_wake_notify(p->to_child.word, -1);
		Target t{&p->to_parent.value, i};
		if (pp_wake_wait(&w, reached, &t, 5000))
			timeouts++;
	}
	EXPECT_EQ(0, timeouts);
	EXPECT_EQ(0u, w.late);
	EXPECT_EQ(0, pp_test::wait_child(pid, 60000));
	pp_test::unmap_shared(p, sizeof(Pair));
}

TEST(Wake, CrossProcessPingPongSpinning)
{
	cross_process_pingpong(false);
}

TEST(Wake, CrossProcessPingPongSleeping)
{
	cross_process_pingpong(true);
}

// The eventfd bridge: an armed epoll waiter is woken through the eventfd.
TEST(Wake, EventfdBridgeWakesEpoll)
{
	Shared s;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {}, got;

	ASSERT_GE(efd, 0);
	ASSERT_GE(ep, 0);
	ev.events = EPOLLIN;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	pp_wake_word_init(s.word);
	s.value = 0;
	const int rounds = 200;
	std::thread notifier([&] {
		for (int i = 1; i <= rounds; i++) {
			while (s.value.load() != static_cast<uint64_t>(i) - 1)
				std::this_thread::yield();
			s.value.store(i);
			pp_wake_notify(s.word, efd);
		}
	});
	int lost = 0;
	for (int i = 1; i <= rounds; i++) {
		Target t{&s.value, static_cast<uint64_t>(i)};
		while (!reached(&t)) {
			pp_wake_arm(s.word);
			if (!reached(&t) && epoll_wait(ep, &got, 1, 5000) == 0)
				lost++;
			pp_wake_disarm(s.word, efd);
		}
	}
	notifier.join();
	EXPECT_EQ(0, lost);
	// Disarmed: a notify no longer touches the eventfd.
	EXPECT_EQ(0, pp_wake_notify(s.word, efd));
	uint64_t count;
	EXPECT_EQ(-1, read(efd, &count, sizeof(count)));
	EXPECT_EQ(EAGAIN, errno);
	close(ep);
	close(efd);
}

TEST(Wake, ArmedNotifyWritesEventfd)
{
	Shared s;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t count = 0;

	pp_wake_word_init(s.word);
	pp_wake_arm(s.word);
	EXPECT_EQ(1, pp_wake_notify(s.word, efd));
	EXPECT_EQ(1u, pp_wake_events(s.word));
	// One write per arm, however many notifies follow.
	EXPECT_EQ(0, pp_wake_notify(s.word, efd));
	EXPECT_EQ(0, pp_wake_notify(s.word, efd));
	ASSERT_EQ(8, read(efd, &count, sizeof(count)));
	EXPECT_EQ(1u, count);
	pp_wake_disarm(s.word, efd);
	close(efd);
}

}  // namespace
