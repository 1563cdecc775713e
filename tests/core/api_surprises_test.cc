// What a new user of the API could trip over, each fixed and pinned here:
// "no deadline" against a pool default, statistics snapshots that never
// show more outcomes than submissions, an opt-in blocking submit, and a
// task that calls exit() in a fork-mode worker. No timing assertions
// beyond lower bounds a deadline guarantees.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace
{

using namespace pp_test;

void *tag(intptr_t v)
{
	return reinterpret_cast<void *>(v);
}

int64_t now_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t now_ms()
{
	return now_ns() / 1000000;
}

process_pool_t *Make(pool_config_t c, const char *name)
{
	strcpy(c.pool_name, name);
	process_pool_t *p = pool_create(&c);
	EXPECT_NE(nullptr, p);
	if (p) {
		EXPECT_EQ(0, pool_start(p));
	}
	return p;
}

// ---- POOL_NO_TIMEOUT ---------------------------------------------------

TEST(NoTimeout, OverridesThePoolDefault)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.task_timeout = 20; // every task gets 20 ms unless it says otherwise
	process_pool_t *p = Make(c, "notimeout");
	ASSERT_NE(nullptr, p);
	void *ms = tag(300); // sleep_task: 15x the default deadline

	task_result_t r;
	ASSERT_EQ(0,
		  pool_submit_sync(p, sleep_task, nullptr, 0, ms,
				   TASK_PRIORITY_NORMAL, POOL_NO_TIMEOUT, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;

	task_future_t *f =
	    pool_submit_async(p, sleep_task, nullptr, 0, ms,
			      TASK_PRIORITY_NORMAL, POOL_NO_TIMEOUT);
	ASSERT_NE(nullptr, f);
	ASSERT_EQ(0, pool_future_wait(f, &r, -1));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_future_destroy(f);

	task_desc_t d[2] = {
	    {sleep_task, nullptr, 0, ms, TASK_PRIORITY_NORMAL, POOL_NO_TIMEOUT},
	    {sleep_task, nullptr, 0, ms, TASK_PRIORITY_NORMAL, 0},
	};
	task_future_t **fs = pool_submit_batch(p, d, 2);
	ASSERT_NE(nullptr, fs);
	ASSERT_EQ(0, pool_future_wait(fs[0], &r, -1));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	// 0 still means the pool's default.
	ASSERT_EQ(0, pool_future_wait(fs[1], &r, -1));
	EXPECT_EQ(TASK_STATUS_TIMEOUT, r.status) << r.detail;
	pool_future_destroy(fs[0]);
	pool_future_destroy(fs[1]);
	free(fs);
	pool_destroy(p);
}

TEST(NoTimeout, OtherNegativeTimeoutsAreRefused)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	process_pool_t *p = Make(c, "badtimeout");
	ASSERT_NE(nullptr, p);
	task_result_t r;
	EXPECT_EQ(POOL_EINVAL,
		  pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, -2, &r));
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_async(p, noop_task, nullptr, 0, nullptr,
					     TASK_PRIORITY_NORMAL, INT32_MIN));
	EXPECT_EQ(EINVAL, errno);
	task_desc_t d = {noop_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL,
			 -1000};
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_batch(p, &d, 1));
	EXPECT_EQ(EINVAL, errno);
	pool_destroy(p);
}

// ---- statistics snapshots -----------------------------------------------

uint64_t outcomes(const pool_stats_t &s)
{
	return s.tasks_completed + s.tasks_failed + s.tasks_crashed +
	       s.tasks_timed_out + s.tasks_cancelled + s.tasks_rejected +
	       s.tasks_protocol_error + s.tasks_sandbox_violation +
	       s.tasks_resource_limit;
}

// The snapshotting thread is interrupted every 50 us and stalls for 20 us
// in the handler: a snapshot is then cut at any point, with tasks
// submitted and finished in the gap, as preemption would do, only often.
void stall_handler(int)
{
	int64_t until = now_ns() + 20000;

	while (now_ns() < until) {
	}
}

struct Interrupter {
	explicit Interrupter(int signo)
	{
		struct sigaction sa = {};
		sa.sa_handler = stall_handler;
		sa.sa_flags = SA_RESTART;
		sigaction(signo, &sa, &old_);
		signo_ = signo;
		struct sigevent ev = {};
		ev.sigev_notify = SIGEV_THREAD_ID;
		ev.sigev_signo = signo;
		ev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		armed_ = timer_create(CLOCK_MONOTONIC, &ev, &timer_) == 0;
		struct itimerspec every = {{0, 50000}, {0, 50000}};
		if (armed_)
			timer_settime(timer_, 0, &every, nullptr);
	}
	~Interrupter()
	{
		if (armed_)
			timer_delete(timer_);
		sigaction(signo_, &old_, nullptr);
	}
	struct sigaction old_;
	timer_t timer_;
	int signo_;
	bool armed_;
};

// Submitters on every path (the direct lane, single async submits,
// batches) against a thread that snapshots the counters without pause.
TEST(Stats, OutcomesNeverExceedSubmittedInAnySnapshot)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	process_pool_t *p = Make(c, "snapshots");
	ASSERT_NE(nullptr, p);
	// Two seconds of load, less if a bad snapshot turns up sooner.
	const int64_t until = now_ms() + 2000;
	std::atomic<bool> done{false}, stop{false};
	std::atomic<uint64_t> snapshots{0}, bad{0};
	uint64_t worst_sub = 0, worst_out = 0;

	std::thread watcher([&] {
		Interrupter often(SIGRTMIN + 2);
		while (!done.load()) {
			pool_stats_t s;
			if (pool_get_stats(p, &s))
				continue;
			snapshots++;
			if (outcomes(s) > s.tasks_submitted && !bad++) {
				worst_sub = s.tasks_submitted;
				worst_out = outcomes(s);
			}
		}
	});
	// Few tasks in flight at a time, so a short gap in a snapshot is
	// enough for more to end than had been submitted at its start.
	auto sync_load = [&] {
		while (!stop.load()) {
			task_result_t r;
			if (pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
					     TASK_PRIORITY_NORMAL, 0, &r) == 0)
				pool_result_free(&r);
		}
	};
	std::thread sync_a(sync_load), sync_b(sync_load);
	task_desc_t two[2] = {
	    {noop_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0},
	    {noop_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0},
	};
	while (now_ms() < until && !bad.load()) {
		task_future_t *f[3] = {};
		task_future_t **fs = pool_submit_batch(p, two, 2);
		f[0] = pool_submit_async(p, noop_task, nullptr, 0, nullptr,
					 TASK_PRIORITY_HIGH, 0);
		if (fs) {
			f[1] = fs[0];
			f[2] = fs[1];
			free(fs);
		}
		for (task_future_t *g : f) {
			task_result_t r;
			if (g && pool_future_wait(g, &r, -1) == 0)
				pool_result_free(&r);
			pool_future_destroy(g);
		}
	}
	stop = true;
	sync_a.join();
	sync_b.join();
	done = true;
	watcher.join();
	EXPECT_GT(snapshots.load(), 0u);
	EXPECT_EQ(0u, bad.load())
	    << "e.g. submitted " << worst_sub << " with " << worst_out
	    << " outcomes, out of " << snapshots.load() << " snapshots";
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(s.tasks_submitted, outcomes(s));
	pool_destroy(p);
}

// ---- blocking submit (submit_block_ms) ----------------------------------

// One worker holding one blocker, and a queue of two filled behind it:
// the next submit finds no room until the blocker is released.
class BlockingSubmit : public ::testing::Test
{
      protected:
	void Start(int block_ms)
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.max_in_flight = 1;
		c.queue_size = 2;
		c.submit_block_ms = block_ms;
		reset_board();
		pool_ = Make(c, "blocking");
		ASSERT_NE(nullptr, pool_);
		held_.push_back(Async(blocker_task));
		for (int i = 0; i < 10000 && board()->started < 1; i++)
			usleep(1000);
		ASSERT_EQ(1, board()->started.load());
		held_.push_back(Async(noop_task));
		held_.push_back(Async(noop_task));
	}
	task_future_t *Async(task_func_t f)
	{
		task_future_t *fu = pool_submit_async(
		    pool_, f, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0);
		EXPECT_NE(nullptr, fu) << strerror(errno);
		return fu;
	}
	void TearDown() override
	{
		board()->release = 1;
		for (task_future_t *f : held_)
			pool_future_destroy(f);
		pool_destroy(pool_);
	}

	process_pool_t *pool_ = nullptr;
	std::vector<task_future_t *> held_;
};

TEST_F(BlockingSubmit, WaitsForRoomThenQueues)
{
	Start(-1);
	std::atomic<bool> returned{false};
	task_future_t *late = nullptr;
	int err = 0;
	std::thread t([&] {
		late = pool_submit_async(pool_, noop_task, nullptr, 0, nullptr,
					 TASK_PRIORITY_NORMAL, 0);
		err = errno;
		returned = true;
	});
	// No room can appear while the blocker holds the worker.
	usleep(100000);
	EXPECT_FALSE(returned.load());
	board()->release = 1;
	t.join();
	ASSERT_NE(nullptr, late) << strerror(err);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(late, &r, -1));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_future_destroy(late);
}

TEST_F(BlockingSubmit, SyncAndBatchWaitToo)
{
	Start(-1);
	int sync_err = 1;
	task_result_t sync_r;
	task_future_t **fs = nullptr;
	std::thread sync_side([&] {
		sync_err =
		    pool_submit_sync(pool_, noop_task, nullptr, 0, nullptr,
				     TASK_PRIORITY_NORMAL, 0, &sync_r);
	});
	std::vector<task_desc_t> batch(5, task_desc_t{noop_task, nullptr, 0,
						      nullptr,
						      TASK_PRIORITY_NORMAL, 0});
	std::thread batch_side(
	    [&] { fs = pool_submit_batch(pool_, batch.data(), batch.size()); });
	usleep(50000);
	board()->release = 1;
	sync_side.join();
	batch_side.join();
	EXPECT_EQ(0, sync_err);
	EXPECT_EQ(TASK_STATUS_COMPLETED, sync_r.status);
	ASSERT_NE(nullptr, fs);
	for (size_t i = 0; i < batch.size(); i++) {
		task_result_t r;
		ASSERT_NE(nullptr, fs[i]) << "entry " << i;
		ASSERT_EQ(0, pool_future_wait(fs[i], &r, -1));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
		pool_future_destroy(fs[i]);
	}
	free(fs);
}

TEST_F(BlockingSubmit, GivesUpWithEagainAfterItsWait)
{
	Start(50);
	int64_t t0 = now_ms();
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_async(pool_, noop_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_GE(now_ms() - t0, 50); // it did wait
	task_result_t r;
	EXPECT_EQ(POOL_EAGAIN,
		  pool_submit_sync(pool_, noop_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, 0, &r));
	task_desc_t d = {noop_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL,
			 0};
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_batch(pool_, &d, 1));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(BlockingSubmit, ZeroFailsAtOnceAsBefore)
{
	Start(0);
	errno = 0;
	EXPECT_EQ(nullptr, pool_submit_async(pool_, noop_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(BlockingSubmit, PoolStopWakesWaitingSubmitters)
{
	Start(-1);
	std::atomic<int> back{0};
	int async_errno = 0, sync_err = 0;
	task_future_t *f = nullptr;
	std::thread a([&] {
		f = pool_submit_async(pool_, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0);
		async_errno = errno;
		back++;
	});
	std::thread s([&] {
		task_result_t r;
		sync_err =
		    pool_submit_sync(pool_, noop_task, nullptr, 0, nullptr,
				     TASK_PRIORITY_NORMAL, 0, &r);
		back++;
	});
	usleep(100000);
	EXPECT_EQ(0, back.load());
	// The blocker is never released: only the stop can end the waits.
	ASSERT_EQ(0, pool_stop(pool_, 0));
	a.join();
	s.join();
	EXPECT_EQ(nullptr, f);
	EXPECT_EQ(EBADFD, async_errno);
	EXPECT_EQ(POOL_ESTATE, sync_err);
}

// ---- exit() in a task ----------------------------------------------------

int exit_task(void *, size_t, void **, size_t *, void *ud)
{
	exit((int)(intptr_t)ud);
}

int *atexit_runs; // shared with the workers

void count_atexit()
{
	(*atexit_runs)++;
}

std::string read_all(const char *path)
{
	std::ifstream in(path);
	std::stringstream all;
	all << in.rdbuf();
	return all.str();
}

size_t count_of(const std::string &hay, const std::string &needle)
{
	size_t n = 0;
	for (size_t at = hay.find(needle); at != std::string::npos;
	     at = hay.find(needle, at + 1))
		n++;
	return n;
}

// A host with unflushed output on a file-backed stdout and an atexit
// handler; a task calls exit(3). The worker must neither write the host's
// buffered text nor run its handler, and the task must say what happened.
TEST(ExitInTask, EndsCrashedNamingExitAndLeavesHostStdioAlone)
{
	char path[] = "/tmp/pp_exit_stdout_XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	atexit_runs = static_cast<int *>(map_shared(sizeof(int)));
	*atexit_runs = 0;
	const std::string host_text = "host-text-before-the-pool";
	fflush(stdout); // the test runner's own output stays out of it
	pid_t child = spawn_child([&] {
		if (dup2(fd, STDOUT_FILENO) < 0)
			return 10;
		atexit(count_atexit);
		fputs(host_text.c_str(), stdout); // buffered: no newline
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.max_retries = 2; // exit() is not retried
		strcpy(c.pool_name, "exit");
		process_pool_t *p = pool_create(&c);
		if (!p || pool_start(p))
			return 11;
		task_result_t r;
		if (pool_submit_sync(p, exit_task, nullptr, 0, tag(3),
				     TASK_PRIORITY_NORMAL, 0, &r))
			return 12;
		pool_stats_t s;
		pool_get_stats(p, &s);
		pool_destroy(p);
		fprintf(stderr, "status %s detail \"%s\" rc %d retried %d\n",
			pool_task_status_str(r.status), r.detail, r.return_code,
			(int)s.tasks_retried);
		if (r.status != TASK_STATUS_CRASHED)
			return 13;
		if (!strstr(r.detail, "exit(3)"))
			return 14;
		if (r.return_code != 0 || r.term_signal != 0)
			return 15;
		if (s.tasks_retried != 0)
			return 16;
		fflush(stdout); // what the host's own exit would do
		return 0;
	});
	EXPECT_EQ(0, wait_child(child, 60000));
	close(fd);
	std::string out = read_all(path);
	EXPECT_EQ(1u, count_of(out, host_text)) << "stdout: " << out;
	EXPECT_EQ(0, *atexit_runs) << "the host's atexit handler ran in "
				      "the worker";
	unmap_shared(atexit_runs, sizeof(int));
	unlink(path);
}

// Every exit status comes through, and the worker is replaced.
TEST(ExitInTask, StatusAndRecovery)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	process_pool_t *p = Make(c, "exitstatus");
	ASSERT_NE(nullptr, p);
	for (int code : {0, 1, 255}) {
		task_result_t r;
		ASSERT_EQ(0,
			  pool_submit_sync(p, exit_task, nullptr, 0, tag(code),
					   TASK_PRIORITY_NORMAL, 0, &r));
		EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
		std::string want = "exit(" + std::to_string(code) + ")";
		EXPECT_NE(nullptr, strstr(r.detail, want.c_str())) << r.detail;
	}
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, noop_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(3u, s.tasks_crashed);
	EXPECT_GE(s.worker_restarts, 3u);
	pool_destroy(p);
}

// A clean-room worker (a fresh exec, entered before main) sets the same
// trap: exit() there is named too.
TEST(ExitInTask, CleanRoomWorkerToo)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.spawn_mode = POOL_SPAWN_CLEANROOM;
	process_pool_t *p = Make(c, "exitcleanroom");
	ASSERT_NE(nullptr, p);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, exit_task, nullptr, 0, tag(7),
				      TASK_PRIORITY_NORMAL, 0, &r));
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
	EXPECT_NE(nullptr, strstr(r.detail, "exit(7)")) << r.detail;
	pool_destroy(p);
}

} // namespace
