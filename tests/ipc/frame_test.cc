// Unit tests of the frame codec (src/ipc/frame.h).
#include "src/ipc/frame.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace {

pp_frame submit_frame()
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_SUBMIT;
	f.sequence = 7;
	f.task_id = 0x1122334455667788ull;
	f.u.submit.func = 0xdeadbeef;
	f.u.submit.user_data = 42;
	f.payload.offset = 4096;
	f.payload.length = 100;
	return f;
}

// Decodes from an exactly sized heap copy so ASan sees any over-read.
int decode_exact(const std::vector<uint8_t> &bytes, pp_frame *out)
{
	std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size() + 1]);
	if (!bytes.empty())
		memcpy(copy.get(), bytes.data(), bytes.size());
	return pp_frame_decode(copy.get(), bytes.size(), out);
}

std::vector<uint8_t> encode(pp_frame f)
{
	std::vector<uint8_t> buf(PP_FRAME_MAX_SIZE);
	int n = pp_frame_encode(&f, buf.data(), buf.size());
	EXPECT_GT(n, 0);
	buf.resize(n > 0 ? n : 0);
	return buf;
}

TEST(Frame, BodySizesAndDirections)
{
	EXPECT_EQ(32, pp_frame_body_size(PP_FRAME_SUBMIT));
	EXPECT_EQ(24, pp_frame_body_size(PP_FRAME_RESULT));
	EXPECT_EQ(0, pp_frame_body_size(PP_FRAME_CANCEL));
	EXPECT_EQ(-1, pp_frame_body_size(0));
	EXPECT_EQ(-1, pp_frame_body_size(PP_FRAME_TYPE_MAX + 1));
	EXPECT_TRUE(pp_frame_from_worker(PP_FRAME_RESULT));
	EXPECT_TRUE(pp_frame_from_worker(PP_FRAME_PONG));
	EXPECT_TRUE(pp_frame_from_worker(PP_FRAME_HELLO));
	EXPECT_TRUE(pp_frame_from_worker(PP_FRAME_LEARNED));
	// A LEARNED frame fills one 64-byte ring slot exactly.
	EXPECT_EQ(64 - (int)PP_FRAME_HEADER_SIZE,
		  pp_frame_body_size(PP_FRAME_LEARNED));
	EXPECT_FALSE(pp_frame_from_worker(PP_FRAME_SUBMIT));
	EXPECT_FALSE(pp_frame_from_worker(PP_FRAME_CANCEL));
	EXPECT_FALSE(pp_frame_from_worker(200));
	EXPECT_STREQ("SUBMIT", pp_frame_type_str(PP_FRAME_SUBMIT));
	EXPECT_STREQ("unknown", pp_frame_type_str(99));
}

// USAGE (worker -> parent) and TRACE (parent -> worker) each fit one
// 64-byte ring slot; a TRACE with a reserved byte set does not decode.
TEST(Frame, UsageAndTraceFrames)
{
	pp_frame f, g;

	EXPECT_TRUE(pp_frame_from_worker(PP_FRAME_USAGE));
	EXPECT_FALSE(pp_frame_from_worker(PP_FRAME_TRACE));
	EXPECT_GE(64, (int)PP_FRAME_HEADER_SIZE +
			  pp_frame_body_size(PP_FRAME_USAGE));
	EXPECT_GE(64, (int)PP_FRAME_HEADER_SIZE +
			  pp_frame_body_size(PP_FRAME_TRACE));

	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_USAGE;
	f.u.usage.cpu_user_us = 200000;
	f.u.usage.cpu_sys_us = UINT64_MAX;
	f.u.usage.peak_rss_kb = 65536;
	std::vector<uint8_t> bytes = encode(f);
	ASSERT_EQ((int)bytes.size(), decode_exact(bytes, &g));
	EXPECT_EQ(200000u, g.u.usage.cpu_user_us);
	EXPECT_EQ(UINT64_MAX, g.u.usage.cpu_sys_us);
	EXPECT_EQ(65536u, g.u.usage.peak_rss_kb);

	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_TRACE;
	for (int i = 0; i < 16; i++)
		f.u.trace.trace_id[i] = (uint8_t)(i + 1);
	for (int i = 0; i < 8; i++)
		f.u.trace.span_id[i] = (uint8_t)(0xa0 + i);
	f.u.trace.flags = 1;
	bytes = encode(f);
	ASSERT_EQ((int)bytes.size(), decode_exact(bytes, &g));
	EXPECT_EQ(0, memcmp(f.u.trace.trace_id, g.u.trace.trace_id, 16));
	EXPECT_EQ(0, memcmp(f.u.trace.span_id, g.u.trace.span_id, 8));
	EXPECT_EQ(1, g.u.trace.flags);
	for (size_t at = PP_FRAME_HEADER_SIZE + 25; at < bytes.size(); at++) {
		std::vector<uint8_t> bad = bytes;
		bad[at] = 1;
		EXPECT_EQ(-PP_FRAME_BAD_RESERVED, decode_exact(bad, &g)) << at;
	}
}

TEST(Frame, EveryTypeRoundTrips)
{
	for (unsigned t = 1; t <= PP_FRAME_TYPE_MAX; t++) {
		pp_frame f = submit_frame(), g;
		f.type = static_cast<uint8_t>(t);
		if (t != PP_FRAME_SUBMIT && t != PP_FRAME_RESULT &&
		    t != PP_FRAME_BULK)
			f.payload = {0, 0};
		if (t == PP_FRAME_SUBMIT || t == PP_FRAME_RESULT ||
		    t == PP_FRAME_CANCEL || t == PP_FRAME_SHUTDOWN ||
		    t == PP_FRAME_BULK)
			memset(&f.u, 0, sizeof(f.u));
		if (t == PP_FRAME_SUBMIT || t == PP_FRAME_BULK) {
			f.u.submit.func = 1;
			f.u.submit.user_data = 2;
		} else if (t == PP_FRAME_RESULT) {
			f.u.result.status = -3;
			f.u.result.return_code = 17;
		} else if (t == PP_FRAME_PING || t == PP_FRAME_PONG) {
			memset(&f.u, 0, sizeof(f.u));
			f.u.ping.nonce = 99;
		} else if (t == PP_FRAME_HELLO) {
			memset(&f.u, 0, sizeof(f.u));
			f.u.hello.pid = 1234;
		} else if (t == PP_FRAME_LEARNED) {
			memset(&f.u, 0, sizeof(f.u));
			f.u.learned.chunk = PP_FRAME_LEARNED_CHUNKS - 1;
			f.u.learned.bits[0] = 0x81;
			f.u.learned.bits[PP_FRAME_LEARNED_BYTES - 1] = 0x40;
		} else if (t == PP_FRAME_BULK_RESULT) {
			memset(&f.u, 0, sizeof(f.u));
			f.u.bulk.first = 4000;
			f.u.bulk.count = 96;
		}
		std::vector<uint8_t> bytes = encode(f);
		ASSERT_EQ(PP_FRAME_HEADER_SIZE + pp_frame_body_size(t),
			  bytes.size());
		ASSERT_EQ((int)bytes.size(), decode_exact(bytes, &g))
			<< pp_frame_type_str(t);
		EXPECT_EQ(f.type, g.type);
		EXPECT_EQ(f.sequence, g.sequence);
		EXPECT_EQ(f.task_id, g.task_id);
		EXPECT_EQ(0, memcmp(&f.u, &g.u, sizeof(f.u)));
		EXPECT_EQ(f.payload.offset, g.payload.offset);
		EXPECT_EQ(f.payload.length, g.payload.length);
	}
}

TEST(Frame, InlinePayloadRoundTrips)
{
	const char data[] = "hello, worker";
	pp_frame f = submit_frame(), g;

	f.flags = PP_FRAME_F_INLINE;
	f.payload = {0, sizeof(data)};
	f.inline_data = reinterpret_cast<const uint8_t *>(data);
	std::vector<uint8_t> bytes = encode(f);
	ASSERT_EQ(56 + sizeof(data), bytes.size());
	ASSERT_EQ((int)bytes.size(), pp_frame_decode(bytes.data(), bytes.size(), &g));
	ASSERT_NE(nullptr, g.inline_data);
	EXPECT_EQ(sizeof(data), g.payload.length);
	EXPECT_EQ(0, memcmp(data, g.inline_data, sizeof(data)));
	EXPECT_GE(g.inline_data, bytes.data());
	EXPECT_LE(g.inline_data + g.payload.length, bytes.data() + bytes.size());
}

TEST(Frame, EncodeRejectsInvalidFrames)
{
	uint8_t buf[128];
	pp_frame f = submit_frame();

	EXPECT_EQ(-EINVAL, pp_frame_encode(nullptr, buf, sizeof(buf)));
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, nullptr, sizeof(buf)));
	EXPECT_EQ(-EMSGSIZE, pp_frame_encode(&f, buf, 55));
	f.type = 0;
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, buf, sizeof(buf)));
	f = submit_frame();
	f.flags = 0x8000;
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, buf, sizeof(buf)));
	f = submit_frame();
	f.type = PP_FRAME_PING;
	f.flags = PP_FRAME_F_INLINE;  // PING carries no payload
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, buf, sizeof(buf)));
	f = submit_frame();
	f.flags = PP_FRAME_F_INLINE;  // inline, but no data
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, buf, sizeof(buf)));
	EXPECT_EQ(0u, pp_frame_encoded_size(&f));
	EXPECT_EQ(0u, pp_frame_encoded_size(nullptr));
}

class FrameCorruption : public ::testing::Test {
protected:
	void SetUp() override { bytes_ = encode(submit_frame()); }
	int Decode() { return decode_exact(bytes_, &out_); }
	void Put32(size_t off, uint32_t v) { memcpy(&bytes_[off], &v, 4); }

	std::vector<uint8_t> bytes_;
	pp_frame out_;
};

TEST_F(FrameCorruption, EachFieldHasItsOwnError)
{
	ASSERT_EQ(56, Decode());
	bytes_[0] ^= 1;
	EXPECT_EQ(-PP_FRAME_BAD_MAGIC, Decode());
	bytes_[0] ^= 1;
	bytes_[4] = 2;
	EXPECT_EQ(-PP_FRAME_BAD_VERSION, Decode());
	bytes_[4] = PP_FRAME_VERSION;
	bytes_[5] = 0;
	EXPECT_EQ(-PP_FRAME_BAD_TYPE, Decode());
	bytes_[5] = 200;
	EXPECT_EQ(-PP_FRAME_BAD_TYPE, Decode());
	bytes_[5] = PP_FRAME_SUBMIT;
	bytes_[7] = 0x80;
	EXPECT_EQ(-PP_FRAME_BAD_FLAGS, Decode());
	bytes_[7] = 0;
	Put32(8, 55);
	EXPECT_EQ(-PP_FRAME_BAD_LENGTH, Decode());
	Put32(8, 57);  // not inline: must be exact
	EXPECT_EQ(-PP_FRAME_BAD_LENGTH, Decode());
	Put32(8, UINT32_MAX);
	EXPECT_EQ(-PP_FRAME_BAD_LENGTH, Decode());
	Put32(8, 56);
	EXPECT_EQ(56, Decode());
	for (int s = 0; s <= PP_FRAME_STATUS_MAX; s++)
		EXPECT_STRNE("unknown status", pp_frame_status_str(-s));
	EXPECT_STREQ("unknown status", pp_frame_status_str(99));
}

TEST_F(FrameCorruption, LearnedChunkAndReservedAreChecked)
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_LEARNED;
	f.u.learned.chunk = 1;
	bytes_ = encode(f);
	ASSERT_EQ(64, Decode());
	Put32(24, PP_FRAME_LEARNED_CHUNKS);  // past the bitmap
	EXPECT_EQ(-PP_FRAME_BAD_RESERVED, Decode());
	Put32(24, 0);
	Put32(28, 1);  // reserved
	EXPECT_EQ(-PP_FRAME_BAD_RESERVED, Decode());
	Put32(28, 0);
	bytes_.resize(63);
	EXPECT_EQ(-PP_FRAME_TRUNCATED, Decode());
	// Nor will the encoder write a chunk past the bitmap.
	f.u.learned.chunk = PP_FRAME_LEARNED_CHUNKS;
	EXPECT_EQ(0u, pp_frame_encoded_size(&f));
}

TEST_F(FrameCorruption, InlineFlagOnTypeWithoutPayload)
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_CANCEL;
	bytes_ = encode(f);
	bytes_[6] = PP_FRAME_F_INLINE;
	EXPECT_EQ(-PP_FRAME_BAD_FLAGS, Decode());
}

// An fd payload rides a SUBMIT or a RESULT only, never inline.
TEST_F(FrameCorruption, FdFlagOnlyOnSubmitOrResultAndNeverInline)
{
	pp_frame f = submit_frame();
	f.flags = PP_FRAME_F_FD;
	bytes_ = encode(f);
	EXPECT_EQ(56, Decode());
	EXPECT_EQ(PP_FRAME_F_FD, out_.flags);
	bytes_[6] = PP_FRAME_F_FD | PP_FRAME_F_INLINE;
	EXPECT_EQ(-PP_FRAME_BAD_FLAGS, Decode());
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_RESULT;
	f.flags = PP_FRAME_F_FD;
	EXPECT_NE(0u, pp_frame_encoded_size(&f));
	for (int type : {PP_FRAME_CANCEL, PP_FRAME_PONG, PP_FRAME_LEARNED}) {
		memset(&f, 0, sizeof(f));
		f.type = (uint8_t)type;
		bytes_ = encode(f);
		bytes_[6] = PP_FRAME_F_FD;
		EXPECT_EQ(-PP_FRAME_BAD_FLAGS, Decode()) << type;
		f.flags = PP_FRAME_F_FD;
		EXPECT_EQ(0u, pp_frame_encoded_size(&f)) << type;
	}
}

TEST_F(FrameCorruption, InlineLengthMustMatchPayloadReference)
{
	const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	pp_frame f = submit_frame();
	f.flags = PP_FRAME_F_INLINE;
	f.payload = {0, sizeof(data)};
	f.inline_data = data;
	bytes_ = encode(f);
	ASSERT_EQ(64, Decode());
	// SUBMIT body: func @24, user_data @32, offset @40, length @48.
	bytes_[40] = 1;	 // payload.offset must be 0 when inline
	EXPECT_EQ(-PP_FRAME_BAD_PAYLOAD, Decode());
	bytes_[40] = 0;
	ASSERT_EQ(64, Decode());
	uint64_t len = 9;
	memcpy(&bytes_[48], &len, 8);  // payload.length != inline bytes
	EXPECT_EQ(-PP_FRAME_BAD_PAYLOAD, Decode());
}

TEST_F(FrameCorruption, HelloReservedMustBeZero)
{
	pp_frame f;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_HELLO;
	f.u.hello.pid = 5;
	bytes_ = encode(f);
	ASSERT_EQ(32, Decode());
	bytes_[31] = 1;
	EXPECT_EQ(-PP_FRAME_BAD_RESERVED, Decode());
}

// Every strict prefix of a valid frame is TRUNCATED, never an over-read.
TEST_F(FrameCorruption, EveryPrefixIsTruncated)
{
	for (size_t n = 0; n < bytes_.size(); n++) {
		std::vector<uint8_t> prefix(bytes_.begin(), bytes_.begin() + n);
		EXPECT_EQ(-PP_FRAME_TRUNCATED, decode_exact(prefix, &out_))
			<< "prefix " << n;
		EXPECT_EQ(0, out_.type);  // zeroed on error
	}
	EXPECT_EQ(-PP_FRAME_TRUNCATED, pp_frame_decode(nullptr, 0, &out_));
}

TEST(Frame, StreamOfFramesDecodesInOrder)
{
	std::vector<uint8_t> stream;
	for (uint32_t i = 0; i < 10; i++) {
		pp_frame f = submit_frame();
		f.sequence = i;
		std::vector<uint8_t> b = encode(f);
		stream.insert(stream.end(), b.begin(), b.end());
	}
	size_t pos = 0;
	for (uint32_t i = 0; i < 10; i++) {
		pp_frame g;
		int n = pp_frame_decode(stream.data() + pos,
					stream.size() - pos, &g);
		ASSERT_EQ(56, n);
		EXPECT_EQ(i, g.sequence);
		pos += n;
	}
	EXPECT_EQ(stream.size(), pos);
}

}  // namespace

// A BULK_RESULT that reports no task says nothing an honest worker would
// send: refused both ways. Priority bits ride on BULK as on SUBMIT only.
TEST(Frame, BulkFramesChecked)
{
	pp_frame f, g;
	uint8_t buf[64];

	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_BULK_RESULT;
	f.u.bulk.first = 1;
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, buf, sizeof(buf)));
	f.u.bulk.count = 1;
	ASSERT_EQ(32, pp_frame_encode(&f, buf, sizeof(buf)));
	buf[28] = 0; /* count back to 0 on the wire */
	EXPECT_EQ(-PP_FRAME_BAD_PAYLOAD, pp_frame_decode(buf, 32, &g));
	f.flags = 1u << PP_FRAME_F_PRIO_SHIFT;
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, buf, sizeof(buf)));
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_BULK;
	f.flags = 3u << PP_FRAME_F_PRIO_SHIFT;
	f.payload = {64, 4096};
	ASSERT_EQ(56, pp_frame_encode(&f, buf, sizeof(buf)));
	ASSERT_EQ(56, pp_frame_decode(buf, 56, &g));
	EXPECT_EQ(f.flags, g.flags);
	EXPECT_EQ(4096u, g.payload.length);
	f.flags = PP_FRAME_F_INLINE;
	EXPECT_EQ(-EINVAL, pp_frame_encode(&f, buf, sizeof(buf)));
	EXPECT_EQ(1, pp_frame_from_worker(PP_FRAME_BULK_RESULT));
	EXPECT_EQ(0, pp_frame_from_worker(PP_FRAME_BULK));
}
