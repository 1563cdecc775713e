// The parent's side of a worker's output pipe (src/core/worker_output.h),
// driven directly through a pipe: lines, escaping, cutting, the rate
// limit and its count of dropped lines, the budget of one wakeup, the
// window that names the task, and the end of the pipe.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "process_pool.h"
#include "src/core/worker_output.h"

namespace {

constexpr int64_t kSecond = 1000000000LL;

// What the reader asked the task namer, and what it answered.
struct Namer {
	uint64_t ended = ~0ull, last = ~0ull, lane = ~0ull;
	int calls = 0;
};

void name(void *ctx, uint64_t ended, uint64_t last, uint64_t lane, char *buf,
	  size_t len)
{
	Namer *n = static_cast<Namer *>(ctx);
	n->ended = ended;
	n->last = last;
	n->lane = lane;
	n->calls++;
	snprintf(buf, len, "task=%llu", (unsigned long long)n->calls);
}

class WorkerOutput : public ::testing::Test {
      protected:
	void SetUp() override
	{
		char tmpl[] = "/tmp/pp_output_XXXXXX";
		int fd = mkstemp(tmpl);
		ASSERT_GE(fd, 0);
		close(fd);
		path_ = tmpl;
		ASSERT_EQ(0, pool_set_log_file(nullptr, path_.c_str()));
		ASSERT_EQ(0, pool_set_log_level(nullptr, LOG_LEVEL_WARN));
		memset(&out_, 0, sizeof(out_));
		ASSERT_EQ(0, pp_worker_output_open(&out_, 0, &wr_));
		who_ = {"unit", 3, 4242, name, &namer_};
	}

	void TearDown() override
	{
		pp_worker_output_close(&out_, nullptr, 0);
		if (wr_ >= 0)
			close(wr_);
		pool_set_log_file(nullptr, nullptr);
		unlink(path_.c_str());
	}

	void put(const std::string &s)
	{
		ASSERT_EQ((ssize_t)s.size(), write(wr_, s.data(), s.size()));
	}

	// The log's lines with event=worker_output*, from the start.
	std::vector<std::string> logged(const char *event = "worker_output ")
	{
		std::ifstream f(path_);
		std::vector<std::string> out;
		std::string line;
		std::string want = std::string("event=") + event;
		while (std::getline(f, line))
			if (line.find(want) != std::string::npos)
				out.push_back(line);
		return out;
	}

	std::string path_;
	struct pp_worker_output out_;
	int wr_ = -1;
	Namer namer_;
	struct pp_output_who who_;
};

TEST_F(WorkerOutput, LinesAreLoggedWithWorkerPidAndTask)
{
	put("hello\nworld\n");
	EXPECT_EQ(0, pp_worker_output_read(&out_, &who_, 0));
	auto l = logged();
	ASSERT_EQ(2u, l.size());
	EXPECT_NE(std::string::npos,
		  l[0].find("pool=unit pid=" + std::to_string(getpid()) +
			    " event=worker_output worker=3 pid=4242 task=1 "
			    "line=\"hello\"")) << l[0];
	EXPECT_NE(std::string::npos, l[1].find("line=\"world\"")) << l[1];
	EXPECT_NE(std::string::npos, l[0].find("level=warn")) << l[0];
}

// Untrusted bytes cannot end the field, forge a line or reach a
// terminal: quote, backslash, controls and high bytes are escaped.
TEST_F(WorkerOutput, BytesAreEscaped)
{
	static const char bytes[] = "a\"b\\c\x1b[31m\r\x01\xff z\" level=error\n";
	put(std::string(bytes, sizeof(bytes) - 1));
	pp_worker_output_read(&out_, &who_, 0);
	auto l = logged();
	ASSERT_EQ(1u, l.size());
	EXPECT_NE(std::string::npos,
		  l[0].find("line=\"a\\\"b\\\\c\\x1b[31m\\x0d\\x01\\xff "
			    "z\\\" level=error\"")) << l[0];
	for (char c : l[0])
		EXPECT_TRUE(c >= 0x20 && c < 0x7f) << (int)c;
}

TEST_F(WorkerOutput, LongLinesAreCutAndMarked)
{
	put(std::string(2000, 'x') + "\nshort\n");
	pp_worker_output_read(&out_, &who_, 0);
	auto l = logged();
	ASSERT_EQ(2u, l.size());
	EXPECT_NE(std::string::npos,
		  l[0].find("cut=1488 line=\"" +
			    std::string(PP_OUTPUT_LINE_MAX, 'x') + "\""))
	    << l[0];
	EXPECT_NE(std::string::npos, l[1].find("task=1 line=\"short\""))
	    << l[1];
	// Escaping can fill the log line before the bytes run out: what
	// does not fit counts as cut too.
	put(std::string(300, '\x01') + "\n");
	pp_worker_output_read(&out_, &who_, 0);
	l = logged();
	ASSERT_EQ(3u, l.size());
	EXPECT_NE(std::string::npos, l[2].find(" cut=")) << l[2];
}

// A line split across wakeups is logged once, whole; an unfinished one
// is logged when the pipe is closed.
TEST_F(WorkerOutput, PartialLinesWaitForTheirEnd)
{
	put("abc");
	pp_worker_output_read(&out_, &who_, 0);
	EXPECT_EQ(0u, logged().size());
	put("def\ntail");
	pp_worker_output_read(&out_, &who_, 0);
	auto l = logged();
	ASSERT_EQ(1u, l.size());
	EXPECT_NE(std::string::npos, l[0].find("line=\"abcdef\"")) << l[0];
	pp_worker_output_close(&out_, &who_, 0);
	l = logged();
	ASSERT_EQ(2u, l.size());
	EXPECT_NE(std::string::npos, l[1].find("line=\"tail\"")) << l[1];
}

// At most rate lines a second; the rest are counted, and the count is
// logged once that second is over (or at close).
TEST_F(WorkerOutput, RateLimitDropsAndCounts)
{
	pp_worker_output_close(&out_, nullptr, 0);
	close(wr_);
	ASSERT_EQ(0, pp_worker_output_open(&out_, 3, &wr_));
	for (int i = 0; i < 10; i++)
		put("line " + std::to_string(i) + "\n");
	pp_worker_output_read(&out_, &who_, 5 * kSecond);
	EXPECT_EQ(3u, logged().size());
	EXPECT_EQ(0u, logged("worker_output_dropped").size());
	put("next second\n");
	pp_worker_output_read(&out_, &who_, 6 * kSecond);
	auto l = logged();
	ASSERT_EQ(4u, l.size());
	EXPECT_NE(std::string::npos, l[3].find("line=\"next second\""));
	auto d = logged("worker_output_dropped");
	ASSERT_EQ(1u, d.size());
	EXPECT_NE(std::string::npos,
		  d[0].find("worker=3 pid=4242 lines=7 rate=3")) << d[0];
	for (int i = 0; i < 5; i++)
		put("again\n");
	pp_worker_output_read(&out_, &who_, 6 * kSecond);
	pp_worker_output_close(&out_, &who_, 6 * kSecond);
	EXPECT_EQ(6u, logged().size()); // 3 a second
	d = logged("worker_output_dropped");
	ASSERT_EQ(2u, d.size());
	EXPECT_NE(std::string::npos, d[1].find("lines=3")) << d[1];
}

// One wakeup reads at most the budget; the rest stays for the next.
TEST_F(WorkerOutput, OneWakeupReadsAtMostTheBudget)
{
	std::string chunk(1023, 'y');
	chunk += '\n';
	for (int i = 0; i < 60; i++)
		put(chunk);
	int before = 0, after = 0;
	ASSERT_EQ(0, ioctl(out_.fd, FIONREAD, &before));
	ASSERT_EQ(60 * 1024, before);
	pp_worker_output_read(&out_, &who_, 0);
	ASSERT_EQ(0, ioctl(out_.fd, FIONREAD, &after));
	EXPECT_EQ(before - (int)PP_OUTPUT_READ_BUDGET, after);
	pp_worker_output_read(&out_, &who_, 0);
	ASSERT_EQ(0, ioctl(out_.fd, FIONREAD, &after));
	EXPECT_EQ(0, after);
}

// What the namer is told: the tasks that ended since the pipe was last
// seen empty with no line held, the latest of them, the lane's task.
TEST_F(WorkerOutput, WindowCountsTasksSinceThePipeWasEmpty)
{
	put("a\n");
	pp_worker_output_read(&out_, &who_, 0);
	EXPECT_EQ(0u, namer_.ended);
	pp_worker_output_task_ended(&out_, 5);
	put("b\n");
	pp_worker_output_read(&out_, &who_, 0);
	EXPECT_EQ(1u, namer_.ended);
	EXPECT_EQ(5u, namer_.last);
	// The pipe was seen empty after task 5 ended: a new window.
	pp_worker_output_task_ended(&out_, 6);
	pp_worker_output_lane_task(&out_, 8);
	put("c\n");
	pp_worker_output_read(&out_, &who_, 0);
	EXPECT_EQ(1u, namer_.ended);
	EXPECT_EQ(6u, namer_.last);
	EXPECT_EQ(8u, namer_.lane);
	// A line held across the empty pipe keeps the window open: task
	// 8 wrote its start, then ended, before the pipe was seen empty.
	put("d");
	pp_worker_output_task_ended(&out_, 8);
	EXPECT_EQ(0u, out_.lane_task);  // the lane's task left
	pp_worker_output_read(&out_, &who_, 0);
	put("e\n");
	pp_worker_output_read(&out_, &who_, 0);
	EXPECT_EQ(1u, namer_.ended);
	EXPECT_EQ(8u, namer_.last);
	EXPECT_EQ(0u, namer_.lane);
}

// No writer left: the reader says so, once the bytes are all read.
TEST_F(WorkerOutput, EndOfPipeIsReported)
{
	put("bye\n");
	close(wr_);
	wr_ = -1;
	EXPECT_EQ(1, pp_worker_output_read(&out_, &who_, 0));
	EXPECT_EQ(1u, logged().size());
}

}  // namespace
