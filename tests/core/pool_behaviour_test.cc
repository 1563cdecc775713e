// The engine's behaviour through the public API: results and outputs,
// priorities, deadlines, cancellation, crash recovery and retries,
// pollable futures, stop semantics and logging. No timing assertions:
// waits have generous bounds and only outcomes are checked.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

using namespace pp_test;

class PoolTest : public ::testing::Test {
protected:
	void Start(int workers, int timeout_ms = 0, int retries = 0)
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = workers;
		c.task_timeout = timeout_ms;
		c.max_retries = retries;
		strcpy(c.pool_name, "behaviour");
		reset_board();
		pool_ = pool_create(&c);
		ASSERT_NE(nullptr, pool_);
		ASSERT_EQ(0, pool_start(pool_));
	}
	void TearDown() override { pool_destroy(pool_); }

	task_result_t Sync(task_func_t f, void *in, size_t n, void *ud = nullptr,
			   int timeout_ms = 0,
			   task_priority_t prio = TASK_PRIORITY_NORMAL)
	{
		task_result_t r;
		EXPECT_EQ(0, pool_submit_sync(pool_, f, in, n, ud, prio,
					      timeout_ms, &r));
		return r;
	}
	task_future_t *Async(task_func_t f, void *ud = nullptr,
			     task_priority_t prio = TASK_PRIORITY_NORMAL,
			     int timeout_ms = 0)
	{
		task_future_t *fu = pool_submit_async(pool_, f, nullptr, 0, ud,
						      prio, timeout_ms);
		EXPECT_NE(nullptr, fu);
		return fu;
	}
	pool_stats_t Stats()
	{
		pool_stats_t s;
		EXPECT_EQ(0, pool_get_stats(pool_, &s));
		return s;
	}
	void WaitStarted(int n)
	{
		for (int i = 0; i < 10000 && board()->started < n; i++)
			usleep(1000);
		ASSERT_GE(board()->started.load(), n);
	}

	process_pool_t *pool_ = nullptr;
};

void *tag(intptr_t v)
{
	return reinterpret_cast<void *>(v);
}

TEST_F(PoolTest, SyncResultsAndOutputs)
{
	Start(2);
	int64_t v = 12345;
	task_result_t r = Sync(square_task, &v, sizeof(v));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
	ASSERT_EQ(sizeof(int64_t), r.output_size);
	EXPECT_EQ(v * v, *static_cast<int64_t *>(r.output_data));
	EXPECT_GT(r.worker_pid, 0);
	EXPECT_NE(getpid(), r.worker_pid);
	pool_result_free(&r);
	pool_result_free(&r);  // twice is fine
	EXPECT_EQ(nullptr, r.output_data);

	r = Sync(return_code_task, nullptr, 0, tag(7));
	EXPECT_EQ(TASK_STATUS_FAILED, r.status);
	EXPECT_EQ(7, r.return_code);
}

// The latency and run-time figures follow what the tasks did: a task
// that sleeps 20 ms cannot finish sooner, so those are lower bounds (no
// upper bound on time is asserted). Async tasks go through the
// supervisor's batched resolve, sync ones through the direct lane.
TEST_F(PoolTest, StatsLatencyAndRunTimeFollowTheTasks)
{
	Start(2);
	for (int i = 0; i < 4; i++)
		Sync(sleep_task, nullptr, 0, tag(20));
	task_future_t *f[8];
	for (auto &fu : f)
		fu = Async(sleep_task, tag(20));
	for (auto *fu : f) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(fu, &r, -1));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		EXPECT_GE(r.run_us, 20000u);
		pool_future_destroy(fu);
	}
	pool_stats_t s = Stats();
	EXPECT_EQ(12u, s.tasks_completed);
	EXPECT_GE(s.avg_task_time_ms, 20.0);
	EXPECT_GE(s.latency_p50_us, 20000u);
	EXPECT_LE(s.latency_p50_us, s.latency_p99_us);
	EXPECT_LE(s.latency_p99_us, s.latency_p999_us);
	EXPECT_LE(s.latency_p999_us, s.latency_max_us);
	// Many no-op tasks at once: counted, one each, the maximum kept.
	task_desc_t d[300];
	for (auto &x : d)
		x = task_desc_t{noop_task, nullptr, 0, nullptr,
				TASK_PRIORITY_NORMAL, 0};
	task_future_t **b = pool_submit_batch(pool_, d, 300);
	ASSERT_NE(nullptr, b);
	for (int i = 0; i < 300; i++) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(b[i], &r, -1));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		pool_future_destroy(b[i]);
	}
	free(b);
	pool_stats_t after = Stats();
	EXPECT_EQ(312u, after.tasks_completed);
	EXPECT_GE(after.latency_max_us, 20000u);
	EXPECT_LE(after.latency_p50_us, after.latency_max_us);
}

TEST_F(PoolTest, PayloadsBothWaysZeroCopyAndMalloc)
{
	Start(1);
	for (size_t n : {size_t{1}, size_t{100}, size_t{4096},
			 size_t{1} << 20, size_t{3} << 20}) {
		std::vector<unsigned char> in(n);
		for (size_t i = 0; i < n; i++)
			in[i] = (unsigned char)(i * 31 + n);
		for (task_func_t f : {echo_task, echo_malloc_task}) {
			task_result_t r = Sync(f, in.data(), n);
			ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << n;
			ASSERT_EQ(n, r.output_size);
			EXPECT_EQ(0, memcmp(in.data(), r.output_data, n));
			pool_result_free(&r);
		}
	}
}

TEST_F(PoolTest, OversizedInputIsRefusedAndLargeOutputComesBack)
{
	Start(1);
	unsigned char small[16] = {0}; // never read: the size is refused
	task_result_t r;
	EXPECT_EQ(POOL_EMSGSIZE,
		  pool_submit_sync(pool_, noop_task, small,
				   ((size_t)1 << 30) + 1, nullptr,
				   TASK_PRIORITY_NORMAL, 0, &r));
	// 64 MiB: well within the default max_output_size of 1 GiB (the
	// limit itself: payload_size_test).
	r = Sync(huge_output_task, nullptr, 0);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_EQ((size_t)64 << 20, r.output_size);
	pool_result_free(&r);
	r = Sync(noop_task, nullptr, 0);  // the worker is fine
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
}

TEST_F(PoolTest, CrashIsContainedAndWorkerReplaced)
{
	Start(1);
	task_result_t r = Sync(segv_task, nullptr, 0);
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
	EXPECT_EQ(SIGSEGV, r.term_signal);
	EXPECT_NE(nullptr, strstr(r.detail, "signal"));
	r = Sync(noop_task, nullptr, 0);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_stats_t s = Stats();
	EXPECT_EQ(1u, s.tasks_crashed);
	EXPECT_GE(s.worker_restarts, 1u);
}

TEST_F(PoolTest, WorkerKilledFromOutsideEndsTaskCrashed)
{
	Start(1);
	task_future_t *f = Async(blocker_task);
	WaitStarted(1);
	std::vector<pid_t> kids = children();
	// A zygote (PROCESS_POOL_ZYGOTE=1) is a child too, not a worker.
	kids.erase(std::remove(kids.begin(), kids.end(),
			       (pid_t)Stats().zygote_pid),
		   kids.end());
	ASSERT_EQ(1u, kids.size());
	pid_t worker = kids[0];
	task_result_t probe;
	ASSERT_GT(worker, 0);
	ASSERT_EQ(0, kill(worker, SIGKILL));
	ASSERT_EQ(0, pool_future_wait(f, &probe, 10000));
	EXPECT_EQ(TASK_STATUS_CRASHED, probe.status);
	EXPECT_EQ(SIGKILL, probe.term_signal);
	pool_future_destroy(f);
	EXPECT_EQ(TASK_STATUS_COMPLETED, Sync(noop_task, nullptr, 0).status);
}

TEST_F(PoolTest, RetriesRerunACrashedTask)
{
	Start(1, 0, 2);
	task_result_t r = Sync(crash_once_task, nullptr, 0);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	EXPECT_EQ(2, board()->attempts.load());
	EXPECT_EQ(1u, Stats().tasks_retried);
	// A task that always crashes ends CRASHED after max_retries re-runs.
	r = Sync(segv_task, nullptr, 0);
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
}

TEST_F(PoolTest, RunningTaskPastDeadlineTimesOut)
{
	Start(1);
	task_result_t r = Sync(hang_task, nullptr, 0, nullptr, 100);
	EXPECT_EQ(TASK_STATUS_TIMEOUT, r.status);
	EXPECT_EQ(TASK_STATUS_COMPLETED, Sync(noop_task, nullptr, 0).status);
	EXPECT_EQ(1u, Stats().tasks_timed_out);
}

TEST_F(PoolTest, QueuedTaskPastDeadlineTimesOutWithoutHarm)
{
	Start(1);
	task_future_t *block = Async(blocker_task);
	WaitStarted(1);
	task_future_t *late = Async(noop_task, nullptr, TASK_PRIORITY_NORMAL,
				    50);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(late, &r, 10000));
	EXPECT_EQ(TASK_STATUS_TIMEOUT, r.status);
	board()->release = 1;
	ASSERT_EQ(0, pool_future_wait(block, &r, 10000));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);  // not killed
	EXPECT_EQ(0u, Stats().worker_restarts);
	pool_future_destroy(block);
	pool_future_destroy(late);
}

TEST_F(PoolTest, DefaultTimeoutFromConfig)
{
	Start(1, 100);
	EXPECT_EQ(TASK_STATUS_TIMEOUT, Sync(hang_task, nullptr, 0).status);
}

TEST_F(PoolTest, CancelQueuedTaskLeavesWorkerAlone)
{
	Start(1);
	task_future_t *block = Async(blocker_task);
	WaitStarted(1);
	task_future_t *queued = Async(noop_task);
	EXPECT_EQ(0, pool_future_cancel(queued));
	EXPECT_EQ(POOL_ESTATE, pool_future_cancel(queued));
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(queued, &r, 0));
	EXPECT_EQ(TASK_STATUS_CANCELLED, r.status);
	board()->release = 1;
	ASSERT_EQ(0, pool_future_wait(block, &r, 10000));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	EXPECT_EQ(0u, Stats().worker_restarts);
	pool_future_destroy(block);
	pool_future_destroy(queued);
}

TEST_F(PoolTest, CancelRunningTaskKillsAndReplacesWorker)
{
	Start(1);
	task_future_t *f = Async(blocker_task);
	WaitStarted(1);
	EXPECT_EQ(0, pool_future_cancel(f));
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(f, &r, 0));
	EXPECT_EQ(TASK_STATUS_CANCELLED, r.status);
	pool_future_destroy(f);
	EXPECT_EQ(TASK_STATUS_COMPLETED, Sync(noop_task, nullptr, 0).status);
	EXPECT_GE(Stats().worker_restarts, 1u);
}

TEST_F(PoolTest, CancelRacingCompletionHasOneOutcome)
{
	Start(2);
	int cancelled = 0, completed = 0;
	for (int i = 0; i < 300; i++) {
		task_future_t *f = Async(noop_task);
		if (i % 3)
			usleep(i % 50);
		int c = pool_future_cancel(f);
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
		if (c == 0) {
			EXPECT_EQ(TASK_STATUS_CANCELLED, r.status);
			cancelled++;
		} else {
			EXPECT_EQ(POOL_ESTATE, c);
			EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
			completed++;
		}
		pool_future_destroy(f);
	}
	pool_stats_t s = Stats();
	EXPECT_EQ((uint64_t)cancelled, s.tasks_cancelled);
	EXPECT_EQ((uint64_t)completed, s.tasks_completed);
}

// While the only worker is busy, LOW tasks are queued first and HIGH ones
// after: every HIGH task must start before any LOW one.
TEST_F(PoolTest, HigherPriorityWaitingStartsFirst)
{
	Start(1);
	task_future_t *block = Async(blocker_task);
	WaitStarted(1);
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 10; i++)
		fs.push_back(Async(record_task, tag(100 + i),
				   TASK_PRIORITY_LOW));
	for (int i = 0; i < 10; i++)
		fs.push_back(Async(record_task, tag(200 + i),
				   TASK_PRIORITY_HIGH));
	usleep(20000);  // let everything reach the supervisor
	board()->release = 1;
	task_result_t r;
	for (auto *f : fs) {
		ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		pool_future_destroy(f);
	}
	pool_future_wait(block, &r, 10000);
	pool_future_destroy(block);
	ASSERT_EQ(20, board()->order_next.load());
	for (int i = 0; i < 10; i++)
		EXPECT_GE(board()->order[i].load(), 200) << "start " << i;
	// FIFO within a level.
	for (int i = 1; i < 10; i++) {
		EXPECT_LT(board()->order[i - 1].load(),
			  board()->order[i].load());
		EXPECT_LT(board()->order[10 + i - 1].load(),
			  board()->order[10 + i].load());
	}
}

TEST_F(PoolTest, FutureFdBecomesReadable)
{
	Start(1);
	task_future_t *f = Async(sleep_task, tag(50));
	int fd = pool_future_fd(f);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(fd, pool_future_fd(f));  // same fd each time
	EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	struct pollfd p = {fd, POLLIN, 0};
	ASSERT_EQ(1, poll(&p, 1, 10000));
	EXPECT_EQ(1, pool_future_done(f));
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(f, &r, 0));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_future_destroy(f);
	// An fd asked for after the end is readable at once.
	f = Async(noop_task);
	ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
	p.fd = pool_future_fd(f);
	EXPECT_EQ(1, poll(&p, 1, 0));
	pool_future_destroy(f);
}

TEST_F(PoolTest, WaitTimesOutAndFutureStaysValid)
{
	Start(1);
	task_future_t *f = Async(sleep_task, tag(200));
	task_result_t r;
	EXPECT_EQ(POOL_ETIMEDOUT, pool_future_wait(f, &r, 10));
	EXPECT_EQ(0, pool_future_done(f));
	ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_future_destroy(f);
}

TEST_F(PoolTest, DestroyingPendingFuturesLeaksNothing)
{
	Start(1);
	for (int i = 0; i < 50; i++)
		pool_future_destroy(Async(sleep_task, tag(1)));
	EXPECT_EQ(TASK_STATUS_COMPLETED, Sync(noop_task, nullptr, 0).status);
}

TEST_F(PoolTest, BatchOfManyFromSeveralThreads)
{
	Start(2);
	const int threads = 4, per = 2000;
	std::vector<std::thread> ts;
	std::atomic<int> ok{0};
	for (int t = 0; t < threads; t++)
		ts.emplace_back([&, t] {
			std::vector<int64_t> in(per);
			std::vector<task_desc_t> d(per);
			for (int i = 0; i < per; i++) {
				in[i] = t * per + i;
				d[i] = {square_task, &in[i], sizeof(int64_t),
					nullptr, TASK_PRIORITY_NORMAL, 0};
			}
			task_future_t **fs =
				pool_submit_batch(pool_, d.data(), per);
			if (!fs)
				return;
			for (int i = 0; i < per; i++) {
				task_result_t r;
				if (fs[i] && !pool_future_wait(fs[i], &r, 30000) &&
				    r.status == TASK_STATUS_COMPLETED &&
				    *(int64_t *)r.output_data == in[i] * in[i])
					ok++;
				pool_result_free(&r);
				pool_future_destroy(fs[i]);
			}
			free(fs);
		});
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(threads * per, ok.load());
	pool_stats_t s = Stats();
	EXPECT_EQ((uint64_t)threads * per, s.tasks_completed);
	EXPECT_EQ(s.tasks_submitted, s.tasks_completed);
}

TEST_F(PoolTest, FullQueueRefusesWithEagain)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.queue_size = 4;
	c.max_in_flight = 1;
	reset_board();
	pool_ = pool_create(&c);
	ASSERT_NE(nullptr, pool_);
	ASSERT_EQ(0, pool_start(pool_));
	task_future_t *block = Async(blocker_task);
	WaitStarted(1);
	std::vector<task_future_t *> fs;
	int refused = 0;
	for (int i = 0; i < 20; i++) {
		errno = 0;
		task_future_t *f = pool_submit_async(pool_, noop_task, nullptr, 0,
						     nullptr,
						     TASK_PRIORITY_NORMAL, 0);
		if (f)
			fs.push_back(f);
		else if (errno == EAGAIN)
			refused++;
	}
	EXPECT_GT(refused, 0);
	EXPECT_LE(fs.size(), 5u);
	board()->release = 1;
	task_result_t r;
	for (auto *f : fs) {
		ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		pool_future_destroy(f);
	}
	pool_future_destroy(block);
}

TEST_F(PoolTest, StopLetsQueuedWorkFinishThenCancelsTheRest)
{
	Start(1);
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 5; i++)
		fs.push_back(Async(sleep_task, tag(20)));
	fs.push_back(Async(hang_task));
	for (int i = 0; i < 5; i++)
		fs.push_back(Async(noop_task));
	EXPECT_EQ(0, pool_stop(pool_, 500));
	int done = 0, cancelled = 0;
	for (auto *f : fs) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 0));  // all resolved
		done += r.status == TASK_STATUS_COMPLETED;
		cancelled += r.status == TASK_STATUS_CANCELLED;
		pool_future_destroy(f);
	}
	EXPECT_EQ(5, done);  // the sleepers ran before the hang
	EXPECT_EQ(6, cancelled);
}

TEST_F(PoolTest, LogFileGetsOneLinePerEvent)
{
	char path[] = "/tmp/pp_log_XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(0, pool_set_log_file(nullptr, path));
	ASSERT_EQ(0, pool_set_log_level(nullptr, LOG_LEVEL_INFO));
	Start(1);
	Sync(segv_task, nullptr, 0);
	pool_stop(pool_, 1000);
	ASSERT_EQ(0, pool_set_log_file(nullptr, nullptr));
	pool_set_log_level(nullptr, LOG_LEVEL_WARN);
	std::ifstream in(path);
	std::stringstream all;
	all << in.rdbuf();
	std::string log = all.str();
	EXPECT_NE(std::string::npos, log.find("event=worker_exit"));
	EXPECT_NE(std::string::npos, log.find("pool=behaviour"));
	EXPECT_NE(std::string::npos, log.find("status=CRASHED"));
	EXPECT_NE(std::string::npos, log.find("event=pool_started"));
	unlink(path);
}

}  // namespace

namespace {

// Aging: a LOW task waiting behind a steady flood of HIGH ones still runs
// within seconds (one level per 2 s waited), long before the flood ends.
TEST_F(PoolTest, AgingKeepsLowPriorityFromStarving)
{
	Start(1);
	task_future_t *low = Async(record_task, tag(1), TASK_PRIORITY_LOW);
	std::vector<task_future_t *> flood;
	bool low_done = false;
	for (int i = 0; i < 4000 && !low_done; i++) {
		flood.push_back(Async(sleep_task, tag(5), TASK_PRIORITY_HIGH));
		if (flood.size() > 4) {
			task_result_t r;
			pool_future_wait(flood.front(), &r, 10000);
			pool_future_destroy(flood.front());
			flood.erase(flood.begin());
		}
		low_done = pool_future_done(low) == 1;
	}
	EXPECT_TRUE(low_done) << "LOW starved by 4000 HIGH tasks (20 s)";
	for (auto *f : flood) {
		task_result_t r;
		pool_future_wait(f, &r, 10000);
		pool_future_destroy(f);
	}
	pool_future_destroy(low);
}

}  // namespace

namespace {

// The parent cannot tell which task on a dead worker killed it (the
// worker's own words may be lies), so every task on it pays one re-run
// from its own budget. Without re-runs a bystander sharing the worker
// with a crashing task ends CRASHED too, and says so.
TEST_F(PoolTest, EveryTaskOnADeadWorkerPaysWithoutRetries)
{
	Start(1);
	task_future_t *crasher = Async(segv_task);
	task_future_t *bystander = Async(noop_task);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(crasher, &r, 20000));
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
	ASSERT_EQ(0, pool_future_wait(bystander, &r, 20000));
	// It may have completed before the crash; if not, it shared it.
	if (r.status != TASK_STATUS_COMPLETED) {
		EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
		EXPECT_NE(nullptr, strstr(r.detail, "2 tasks on the worker"))
		    << r.detail;
	}
	pool_future_destroy(crasher);
	pool_future_destroy(bystander);
}

// With re-runs, the tasks that came off a dead worker run alone: the
// crashing ones end CRASHED after their re-run, the bystander completes.
TEST_F(PoolTest, BystandersOfACrashingTaskRunAloneAndComplete)
{
	Start(1, 0, 1);
	std::vector<task_future_t *> crashers;
	for (int i = 0; i < 4; i++)
		crashers.push_back(Async(segv_task));
	task_future_t *bystander = Async(noop_task);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(bystander, &r, 20000));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	for (auto *f : crashers) {
		ASSERT_EQ(0, pool_future_wait(f, &r, 20000));
		EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
		// Alone on its worker the second time: its own crash.
		EXPECT_EQ(nullptr, strstr(r.detail, "tasks on the worker"))
		    << r.detail;
		pool_future_destroy(f);
	}
	pool_future_destroy(bystander);
}

// The direct lane (sync submits on an idle pool) keeps every guarantee:
// outputs, deadlines, crashes, and cancels from another thread.
TEST_F(PoolTest, SyncDirectLaneKeepsOutcomes)
{
	Start(2);
	for (int i = 0; i < 200; i++) {
		int64_t v = i;
		task_result_t r = Sync(square_task, &v, sizeof(v));
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
		ASSERT_EQ(v * v, *(int64_t *)r.output_data);
		pool_result_free(&r);
	}
	EXPECT_EQ(TASK_STATUS_TIMEOUT,
		  Sync(hang_task, nullptr, 0, nullptr, 50).status);
	EXPECT_EQ(TASK_STATUS_CRASHED, Sync(segv_task, nullptr, 0).status);
	EXPECT_EQ(TASK_STATUS_COMPLETED, Sync(noop_task, nullptr, 0).status);
	pool_stats_t s = Stats();
	EXPECT_EQ(203u, s.tasks_submitted);
	EXPECT_EQ(201u, s.tasks_completed);
	EXPECT_EQ(1u, s.tasks_timed_out);
	EXPECT_EQ(1u, s.tasks_crashed);
}

}  // namespace

namespace {

// Outputs hold arena space until the parent has consumed them; a worker
// with a busy arena waits for that instead of rejecting a task whose
// output fits (each of these is over a third of the 4 MiB arena).
TEST_F(PoolTest, ManyLargeOutputsOnOneWorkerAllComplete)
{
	Start(1);
	const size_t n = 1536 * 1024;
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 16; i++)
		fs.push_back(Async(sized_output_task, (void *)(uintptr_t)n));
	for (auto *f : fs) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 30000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		ASSERT_EQ(n, r.output_size);
		EXPECT_EQ((unsigned char)(12345 * 31),
			  ((unsigned char *)r.output_data)[12345]);
		pool_result_free(&r);
		pool_future_destroy(f);
	}
}

}  // namespace
