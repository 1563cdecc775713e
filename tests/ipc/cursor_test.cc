// Unit tests of the bounded reader and writer (src/ipc/cursor.h).
#include "src/ipc/cursor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

TEST(Cursor, ReadsLittleEndian)
{
	const uint8_t buf[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	pp_cursor c;

	pp_cursor_init(&c, buf, sizeof(buf));
	EXPECT_EQ(0x01, pp_cursor_u8(&c));
	EXPECT_EQ(0x0302, pp_cursor_u16(&c));
	EXPECT_EQ(0x07060504u, pp_cursor_u32(&c));
	EXPECT_EQ(0x0f0e0d0c0b0a0908ull, pp_cursor_u64(&c));
	EXPECT_FALSE(c.failed);
	EXPECT_EQ(0u, pp_cursor_remaining(&c));
}

TEST(Cursor, ReadPastEndFailsStickyAndReturnsZero)
{
	const uint8_t buf[] = {0xff, 0xff, 0xff};
	pp_cursor c;

	pp_cursor_init(&c, buf, sizeof(buf));
	EXPECT_EQ(0u, pp_cursor_u32(&c));
	EXPECT_TRUE(c.failed);
	EXPECT_EQ(0u, pp_cursor_u8(&c));  // sticky, though a byte is left
	EXPECT_EQ(nullptr, pp_cursor_bytes(&c, 1));
	EXPECT_EQ(0u, pp_cursor_remaining(&c));
}

TEST(Cursor, BytesChecksLengthWithoutOverflow)
{
	const uint8_t buf[8] = {};
	pp_cursor c;

	pp_cursor_init(&c, buf, sizeof(buf));
	EXPECT_EQ(buf, pp_cursor_bytes(&c, 0));
	EXPECT_EQ(buf, pp_cursor_bytes(&c, 4));
	EXPECT_EQ(nullptr, pp_cursor_bytes(&c, SIZE_MAX));
	EXPECT_TRUE(c.failed);
}

TEST(Cursor, NullBufferIsEmpty)
{
	pp_cursor c;

	pp_cursor_init(&c, nullptr, 100);
	EXPECT_EQ(0u, pp_cursor_remaining(&c));
	EXPECT_EQ(0u, pp_cursor_u8(&c));
	EXPECT_TRUE(c.failed);
}

TEST(Writer, WritesLittleEndianAndStopsWhenFull)
{
	uint8_t buf[7];
	pp_writer w;

	pp_writer_init(&w, buf, sizeof(buf));
	pp_writer_u16(&w, 0x0201);
	pp_writer_u32(&w, 0x06050403);
	EXPECT_FALSE(w.failed);
	pp_writer_u16(&w, 0xffff);  // one byte left: fails, writes nothing
	EXPECT_TRUE(w.failed);
	EXPECT_EQ(6u, w.pos);
	const uint8_t want[] = {1, 2, 3, 4, 5, 6};
	EXPECT_EQ(0, memcmp(want, buf, sizeof(want)));
	pp_writer_u8(&w, 1);  // sticky
	EXPECT_EQ(6u, w.pos);
}

TEST(Writer, RoundTripThroughCursor)
{
	std::vector<uint8_t> buf(32);
	pp_writer w;
	pp_cursor c;
	const char tail[] = "abc";

	pp_writer_init(&w, buf.data(), buf.size());
	pp_writer_u64(&w, 0x1122334455667788ull);
	pp_writer_u8(&w, 0x99);
	pp_writer_bytes(&w, tail, 3);
	pp_cursor_init(&c, buf.data(), w.pos);
	EXPECT_EQ(0x1122334455667788ull, pp_cursor_u64(&c));
	EXPECT_EQ(0x99, pp_cursor_u8(&c));
	EXPECT_EQ(0, memcmp(tail, pp_cursor_bytes(&c, 3), 3));
	EXPECT_FALSE(c.failed);
}

}  // namespace
