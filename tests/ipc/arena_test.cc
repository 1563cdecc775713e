// Unit tests of the arena allocator (src/ipc/arena.h).
#include "src/ipc/arena.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <random>
#include <vector>

namespace {

TEST(RangeOk, RejectsOverflowAndOutOfBounds)
{
	EXPECT_TRUE(pp_range_ok(0, 0, 0));
	EXPECT_TRUE(pp_range_ok(0, 100, 100));
	EXPECT_TRUE(pp_range_ok(100, 0, 100));
	EXPECT_FALSE(pp_range_ok(101, 0, 100));
	EXPECT_FALSE(pp_range_ok(1, 100, 100));
	EXPECT_FALSE(pp_range_ok(UINT64_MAX, 2, 100));
	EXPECT_FALSE(pp_range_ok(50, UINT64_MAX - 10, 100));
}

class ArenaTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		mem_.resize(64 * 4096);
		ASSERT_EQ(0, pp_arena_init(&a_, mem_.data(), mem_.size(), 4096));
	}
	void TearDown() override { pp_arena_destroy(&a_); }

	std::vector<unsigned char> mem_;
	pp_arena a_{};
};

TEST(Arena, InitRejectsBadArguments)
{
	std::vector<unsigned char> mem(8192);
	pp_arena a;

	EXPECT_EQ(-EINVAL, pp_arena_init(nullptr, mem.data(), 8192, 4096));
	EXPECT_EQ(-EINVAL, pp_arena_init(&a, nullptr, 8192, 4096));
	EXPECT_EQ(-EINVAL, pp_arena_init(&a, mem.data(), 8192, 3000));
	EXPECT_EQ(-EINVAL, pp_arena_init(&a, mem.data(), 8192, 32));
	EXPECT_EQ(-EINVAL, pp_arena_init(&a, mem.data(), 100, 4096));
}

TEST_F(ArenaTest, AllocatesDisjointAlignedBlocks)
{
	uint64_t x, y, z;

	ASSERT_EQ(0, pp_arena_alloc(&a_, 1, &x));
	ASSERT_EQ(0, pp_arena_alloc(&a_, 5000, &y));
	ASSERT_EQ(0, pp_arena_alloc(&a_, 4096, &z));
	EXPECT_EQ(0u, x % 4096);
	EXPECT_EQ(0u, y % 4096);
	EXPECT_GE(y, x + 4096);
	EXPECT_GE(z, y + 8192);
	EXPECT_EQ(4u * 4096, pp_arena_used(&a_));
	EXPECT_EQ(0, pp_arena_free(&a_, y));
	EXPECT_EQ(2u * 4096, pp_arena_used(&a_));
}

TEST_F(ArenaTest, ExhaustionAndReuse)
{
	std::vector<uint64_t> offs;
	uint64_t off;

	for (int i = 0; i < 64; i++) {
		ASSERT_EQ(0, pp_arena_alloc(&a_, 4096, &off));
		offs.push_back(off);
	}
	EXPECT_EQ(-ENOSPC, pp_arena_alloc(&a_, 1, &off));
	ASSERT_EQ(0, pp_arena_free(&a_, offs[10]));
	ASSERT_EQ(0, pp_arena_free(&a_, offs[11]));
	EXPECT_EQ(-ENOSPC, pp_arena_alloc(&a_, 3 * 4096, &off));
	ASSERT_EQ(0, pp_arena_alloc(&a_, 2 * 4096, &off));
	EXPECT_EQ(offs[10], off);
}

TEST_F(ArenaTest, BadFreesAreReportedNotFollowed)
{
	uint64_t off;

	ASSERT_EQ(0, pp_arena_alloc(&a_, 3 * 4096, &off));
	EXPECT_EQ(-EINVAL, pp_arena_free(&a_, off + 4096));  // inside a block
	EXPECT_EQ(-EINVAL, pp_arena_free(&a_, off + 1));     // unaligned
	EXPECT_EQ(-EINVAL, pp_arena_free(&a_, 1u << 30));    // outside
	EXPECT_EQ(0, pp_arena_free(&a_, off));
	EXPECT_EQ(-EINVAL, pp_arena_free(&a_, off));	     // double free
	EXPECT_EQ(0u, pp_arena_used(&a_));
	EXPECT_EQ(-EINVAL, pp_arena_alloc(&a_, 0, &off));
	EXPECT_EQ(-ENOSPC, pp_arena_alloc(&a_, mem_.size() + 1, &off));
}

// Random allocations and frees against a byte-ownership model: blocks
// never overlap and stay inside the arena.
TEST_F(ArenaTest, RandomWorkloadNeverOverlaps)
{
	std::mt19937 rng(42);
	std::vector<int> owner(64, -1);
	std::vector<std::pair<uint64_t, size_t>> live;

	for (int step = 0; step < 20000; step++) {
		if (live.empty() || rng() % 2) {
			size_t len = 1 + rng() % (5 * 4096);
			uint64_t off;
			int err = pp_arena_alloc(&a_, len, &off);
			if (err == -ENOSPC)
				continue;
			ASSERT_EQ(0, err);
			size_t g0 = off / 4096, n = (len + 4095) / 4096;
			ASSERT_LE(g0 + n, 64u);
			for (size_t g = g0; g < g0 + n; g++) {
				ASSERT_EQ(-1, owner[g]) << "overlap at " << g;
				owner[g] = step;
			}
			live.push_back({off, n});
		} else {
			size_t k = rng() % live.size();
			ASSERT_EQ(0, pp_arena_free(&a_, live[k].first));
			size_t g0 = live[k].first / 4096;
			for (size_t g = g0; g < g0 + live[k].second; g++)
				owner[g] = -1;
			live.erase(live.begin() + k);
		}
	}
}

}  // namespace
