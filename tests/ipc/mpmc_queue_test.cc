// Unit and stress tests of the bounded MPMC queue (src/ipc/mpmc_queue.h).
#include "src/ipc/mpmc_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

#include "tests/util/test_util.h"

namespace {

void *as_item(uintptr_t v)
{
	return reinterpret_cast<void *>(v);
}

TEST(MpmcQueue, RejectsBadCapacity)
{
	errno = 0;
	EXPECT_EQ(nullptr, pp_mpmc_create(0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(nullptr, pp_mpmc_create(1));
	EXPECT_EQ(nullptr, pp_mpmc_create(3));
	EXPECT_EQ(nullptr, pp_mpmc_create(size_t{PP_MPMC_MAX_CAPACITY} * 2));
}

TEST(MpmcQueue, NullArgumentsAreRefused)
{
	pp_mpmc *q = pp_mpmc_create(4);
	void *out;

	ASSERT_NE(nullptr, q);
	EXPECT_EQ(-EINVAL, pp_mpmc_push(nullptr, nullptr));
	EXPECT_EQ(-EINVAL, pp_mpmc_pop(nullptr, &out));
	EXPECT_EQ(-EINVAL, pp_mpmc_pop(q, nullptr));
	EXPECT_EQ(0u, pp_mpmc_size_approx(nullptr));
	EXPECT_EQ(0u, pp_mpmc_capacity(nullptr));
	pp_mpmc_destroy(nullptr);
	pp_mpmc_destroy(q);
}

TEST(MpmcQueue, FifoFullAndEmpty)
{
	pp_mpmc *q = pp_mpmc_create(4);
	void *out = nullptr;

	ASSERT_NE(nullptr, q);
	EXPECT_EQ(4u, pp_mpmc_capacity(q));
	EXPECT_EQ(-EAGAIN, pp_mpmc_pop(q, &out));
	for (uintptr_t i = 0; i < 4; i++)
		ASSERT_EQ(0, pp_mpmc_push(q, as_item(i)));
	EXPECT_EQ(-EAGAIN, pp_mpmc_push(q, as_item(9)));
	EXPECT_EQ(4u, pp_mpmc_size_approx(q));
	for (uintptr_t lap = 0; lap < 100; lap++) {
		ASSERT_EQ(0, pp_mpmc_pop(q, &out));
		ASSERT_EQ(as_item(lap), out);
		ASSERT_EQ(0, pp_mpmc_push(q, as_item(lap + 4)));
	}
	pp_mpmc_destroy(q);
}

TEST(MpmcQueue, NullItemsTravel)
{
	pp_mpmc *q = pp_mpmc_create(2);
	void *out = as_item(1);

	ASSERT_NE(nullptr, q);
	ASSERT_EQ(0, pp_mpmc_push(q, nullptr));
	ASSERT_EQ(0, pp_mpmc_pop(q, &out));
	EXPECT_EQ(nullptr, out);
	pp_mpmc_destroy(q);
}

// Several producers and consumers: every item is taken exactly once and
// each producer's items come out in the order it pushed them.
TEST(MpmcQueue, ManyThreadsEachItemExactlyOnce)
{
	const int producers = 4, consumers = 4;
	const uintptr_t per = pp_test::scaled(200000);
	pp_mpmc *q = pp_mpmc_create(1024);
	std::vector<std::atomic<uint8_t>> seen(producers * per);
	std::atomic<uintptr_t> taken{0};
	std::atomic<bool> order_ok{true};
	std::vector<std::thread> threads;

	ASSERT_NE(nullptr, q);
	for (auto &s : seen)
		s = 0;
	for (int p = 0; p < producers; p++)
		threads.emplace_back([&, p] {
			for (uintptr_t i = 0; i < per;) {
				uintptr_t v = (uintptr_t)p * per + i;
				if (pp_mpmc_push(q, as_item(v + 1)) == 0)
					i++;
				else
					std::this_thread::yield();
			}
		});
	for (int c = 0; c < consumers; c++)
		threads.emplace_back([&] {
			std::vector<uintptr_t> last(producers, 0);
			void *item;

			while (taken.load() < producers * per) {
				if (pp_mpmc_pop(q, &item) != 0) {
					std::this_thread::yield();
					continue;
				}
				uintptr_t v = (uintptr_t)item - 1;
				uintptr_t p = v / per, i = v % per + 1;
				if (i <= last[p])
					order_ok = false;
				last[p] = i;
				seen[v]++;
				taken++;
			}
		});
	for (auto &t : threads)
		t.join();
	EXPECT_TRUE(order_ok);
	for (size_t i = 0; i < seen.size(); i++)
		ASSERT_EQ(1, seen[i].load()) << "item " << i;
	EXPECT_EQ(0u, pp_mpmc_size_approx(q));
	pp_mpmc_destroy(q);
}

}  // namespace
