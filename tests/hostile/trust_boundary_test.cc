// A task that has taken over its worker attacks the parent through
// everything the worker shares with it: fd flags, wakeups, the control
// words, forged frames, floods. Each test is one class of attack; each
// failed on the engine before the fix it names. What a worker writes may
// only hurt that worker.
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/hostile/hostile_tasks.h"
#include "tests/util/test_util.h"

namespace {

using namespace pp_hostile;
using pp_test::board;

process_pool_t *start_pool(int workers, int retries = 0,
			   size_t max_output = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.max_retries = retries;
	c.max_output_size = max_output;
	c.seccomp_allow = "@file-read"; /* to find the channel in maps */
	strcpy(c.pool_name, "hostile");
	pp_test::reset_board();
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

task_result_t run_sync(process_pool_t *p, task_func_t f, void *ud = nullptr,
		       int timeout_ms = 5000)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_sync(p, f, nullptr, 0, ud,
				      TASK_PRIORITY_NORMAL, timeout_ms, &r));
	return r;
}

task_result_t run_async(process_pool_t *p, task_func_t f, void *ud = nullptr,
			int timeout_ms = 5000)
{
	task_result_t r;
	memset(&r, 0, sizeof(r));
	task_future_t *fu = pool_submit_async(p, f, nullptr, 0, ud,
					      TASK_PRIORITY_NORMAL, timeout_ms);
	EXPECT_NE(nullptr, fu);
	if (!fu)
		return r;
	EXPECT_EQ(0, pool_future_wait(fu, &r, 30000));
	pool_future_destroy(fu);
	return r;
}

void wait_started(int n)
{
	for (int i = 0; i < 10000 && board()->started < n; i++)
		usleep(1000);
	ASSERT_GE(board()->started.load(), n);
}

double cpu_seconds()
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool gone(pid_t pid)
{
	for (int i = 0; i < 10000; i++) {
		if (kill(pid, 0) != 0)
			return true;
		usleep(1000);
	}
	return false;
}

// Finding 1: the worker held the parent's open file description of its
// wakeup eventfd; clearing O_NONBLOCK on it made the supervisor's next
// read block for good. Now the parent reads only a pipe end the worker
// never holds.
TEST(TrustBoundary, FdFlagsCannotFreezeTheSupervisor)
{
	pid_t pid = pp_test::spawn_child([] {
		process_pool_t *p = start_pool(2);
		if (!p)
			return 2;
		if (run_sync(p, block_fds_task).status !=
			TASK_STATUS_COMPLETED ||
		    run_async(p, block_fds_task).status !=
			TASK_STATUS_COMPLETED)
			return 3;
		for (int i = 0; i < 20; i++) {
			task_result_t r =
			    i % 2 ? run_sync(p, pp_test::noop_task)
				  : run_async(p, pp_test::noop_task);
			if (r.status != TASK_STATUS_COMPLETED)
				return 4;
		}
		pool_destroy(p);
		return 0;
	});
	EXPECT_EQ(0, pp_test::wait_child(pid, 60000));
}

// Finding 4: a wakeup written while the worker was lent to the direct
// lane was never drained, and the level-triggered fd kept the
// supervisor spinning on an idle pool.
TEST(TrustBoundary, WakeupsCannotSpinAnIdleSupervisor)
{
	process_pool_t *p = start_pool(2);
	ASSERT_NE(nullptr, p);
	// Most of these run on a worker lent to the direct lane, where the
	// parent is not waiting for that worker's wakeups.
	for (int i = 0; i < 20; i++)
		run_sync(p, wake_spam_task);
	run_async(p, wake_spam_task);
	// A worker that wrote unasked is being replaced: let that settle,
	// then the pool serves (a task placed on a worker in the middle of
	// its replacement may end PROTOCOL_ERROR with it).
	usleep(200 * 1000);
	task_result_t r;
	for (int i = 0; i < 5; i++) {
		r = run_sync(p, pp_test::noop_task);
		if (r.status == TASK_STATUS_COMPLETED)
			break;
	}
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	usleep(200 * 1000);
	double before = cpu_seconds();
	sleep(1);
	double used = cpu_seconds() - before;
	EXPECT_LT(used, 0.05) << "CPU seconds over an idle second";
	pool_destroy(p);
}

// A worker that writes more wakeups than the parent asked for is
// flooding: it is replaced, its task ends PROTOCOL_ERROR.
TEST(TrustBoundary, AWakeupFloodCostsTheWorker)
{
	process_pool_t *p = start_pool(2);
	ASSERT_NE(nullptr, p);
	task_result_t r = run_async(p, wake_spam_task, (void *)2000);
	EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r.status) << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, "wakeup flood")) << r.detail;
	EXPECT_EQ(TASK_STATUS_COMPLETED,
		  run_sync(p, pp_test::noop_task).status);
	pool_destroy(p);
}

// Finding 5: on a timeout the worker was killed only if its own RUNNING
// word named the task. A task that wrote 0 there ran on for ever. Now
// the worker must give the task up within the stop check or die.
TEST(TrustBoundary, ARunningWordLieDoesNotOutliveTheDeadline)
{
	process_pool_t *p = start_pool(1);
	ASSERT_NE(nullptr, p);
	task_result_t r = run_async(p, running_liar_task, nullptr, 300);
	EXPECT_EQ(TASK_STATUS_TIMEOUT, r.status) << r.detail;
	ASSERT_GT(r.worker_pid, 0);
	EXPECT_TRUE(gone(r.worker_pid)) << "the liar's worker still runs";
	EXPECT_EQ(TASK_STATUS_COMPLETED,
		  run_sync(p, pp_test::noop_task).status);
	pool_destroy(p);
}

// Finding 6: crash attribution came from words the worker writes. A task
// that said it was idle and forged a seccomp violation was re-run for
// free even with max_retries 0, and a bystander was blamed with a
// violation it never made. Now every task on a dead worker pays from its
// own budget, and only a task alone on its worker gets the cause's name.
TEST(TrustBoundary, ACrashCannotBlameABystanderOrEscapeItsBudget)
{
	process_pool_t *p = start_pool(1, 0);
	ASSERT_NE(nullptr, p);
	task_future_t *guilty = pool_submit_async(
	    p, forged_blame_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0);
	task_future_t *bystander = pool_submit_async(
	    p, pp_test::noop_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, guilty);
	ASSERT_NE(nullptr, bystander);
	task_result_t g, b;
	ASSERT_EQ(0, pool_future_wait(guilty, &g, 20000));
	ASSERT_EQ(0, pool_future_wait(bystander, &b, 20000));
	EXPECT_EQ(1, board()->attempts.load()) << "re-run without budget";
	EXPECT_NE(TASK_STATUS_COMPLETED, g.status);
	EXPECT_NE(TASK_STATUS_SANDBOX_VIOLATION, b.status) << b.detail;
	EXPECT_TRUE(b.status == TASK_STATUS_COMPLETED ||
		    b.status == TASK_STATUS_CRASHED)
	    << b.detail;
	pool_future_destroy(guilty);
	pool_future_destroy(bystander);
	pool_destroy(p);

	// With one re-run each, the two run apart: the guilty task pays its
	// re-run and is named alone; the bystander completes.
	p = start_pool(1, 1);
	ASSERT_NE(nullptr, p);
	guilty = pool_submit_async(p, forged_blame_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, 0);
	bystander = pool_submit_async(p, pp_test::noop_task, nullptr, 0,
				      nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_EQ(0, pool_future_wait(guilty, &g, 20000));
	ASSERT_EQ(0, pool_future_wait(bystander, &b, 20000));
	EXPECT_EQ(2, board()->attempts.load());
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, g.status) << g.detail;
	EXPECT_EQ(TASK_STATUS_COMPLETED, b.status) << b.detail;
	pool_future_destroy(guilty);
	pool_future_destroy(bystander);
	pool_destroy(p);
}

// Finding 7: the direct lane consumed a lying RESULT and handed the
// worker back unharmed; the task ended only at its deadline. Now both
// paths judge a frame with one function and end the task PROTOCOL_ERROR
// at once, with the same detail.
TEST(TrustBoundary, LaneAndSupervisorRefuseForgedResultsAlike)
{
	for (intptr_t lie = 1; lie <= 3; lie++) {
		process_pool_t *p = start_pool(1, 0, 4096);
		ASSERT_NE(nullptr, p);
		task_result_t s =
		    run_sync(p, forged_result_task, (void *)lie, 20000);
		task_result_t a =
		    run_async(p, forged_result_task, (void *)lie, 20000);
		EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, s.status)
		    << lie << " " << s.detail;
		EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, a.status)
		    << lie << " " << a.detail;
		EXPECT_STREQ(a.detail, s.detail) << lie;
		EXPECT_EQ(TASK_STATUS_COMPLETED,
			  run_sync(p, pp_test::noop_task).status);
		pool_destroy(p);
	}
}

// A worker's USAGE frame is its claim: taken once per task and only from
// a pool that asked for it (else the worker is replaced), and clamped to
// what the task's time on the worker and the machine allow, on the lane
// and the supervisor's path alike.
TEST(TrustBoundary, UsageClaimsAreBoundedOrRefused)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	uint64_t ram_kb = (uint64_t)sysconf(_SC_PHYS_PAGES) *
			  (uint64_t)sysconf(_SC_PAGESIZE) / 1024;

	for (intptr_t lie = 1; lie <= 3; lie++) {
		std::string detail[2];
		// A pool per path: an accepted liar hangs its worker.
		for (int async = 0; async < 2; async++) {
			pool_config_t c;
			memset(&c, 0, sizeof(c));
			c.worker_count = 1;
			c.seccomp_allow = "@file-read";
			c.task_usage = lie != 2;
			pp_test::reset_board();
			process_pool_t *p = pool_create(&c);
			ASSERT_NE(nullptr, p);
			ASSERT_EQ(0, pool_start(p));
			task_result_t r =
			    async ? run_async(p, usage_liar_task, (void *)lie,
					      20000)
				  : run_sync(p, usage_liar_task, (void *)lie,
					     20000);
			detail[async] = r.detail;
			if (lie == 1) {
				EXPECT_EQ(TASK_STATUS_COMPLETED, r.status)
				    << r.detail;
				EXPECT_LE(r.cpu_user_us,
					  r.run_us * (uint64_t)cpus);
				EXPECT_LE(r.cpu_sys_us,
					  r.run_us * (uint64_t)cpus);
				EXPECT_LE(r.peak_rss_kb, ram_kb);
			} else {
				EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r.status)
				    << lie << " " << r.detail;
			}
			pool_destroy(p);
		}
		EXPECT_EQ(detail[0], detail[1]) << lie;
	}
}

// Finding 9: a flood of well-formed frames kept the supervisor's drain
// loop busy and delayed every other worker. Frames an honest worker
// would not send now end its task PROTOCOL_ERROR, and a drain takes a
// bounded number of frames per worker before serving the others.
TEST(TrustBoundary, AFrameFloodCostsOnlyTheFlooder)
{
	for (intptr_t kind = 1; kind <= 2; kind++) {
		process_pool_t *p = start_pool(2);
		ASSERT_NE(nullptr, p);
		task_future_t *flood =
		    pool_submit_async(p, frame_flood_task, nullptr, 0,
				      (void *)kind, TASK_PRIORITY_NORMAL, 20000);
		ASSERT_NE(nullptr, flood);
		wait_started(1);
		for (int i = 0; i < 10; i++) {
			task_result_t r =
			    run_sync(p, pp_test::noop_task, nullptr, 5000);
			EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		}
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(flood, &r, 30000));
		EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r.status)
		    << kind << " " << r.detail;
		pool_future_destroy(flood);
		pool_destroy(p);
	}
}

// The parent maps a worker's memfd output only when it is a sealed memfd
// (all four seals) of exactly the announced size, sent for that task,
// alone, with a status that keeps an output; anything else ends the task
// PROTOCOL_ERROR and replaces the worker, on the lane and the
// supervisor's path alike. A worker that kept a writable mapping could
// not add F_SEAL_WRITE, so the bytes it changes later never reach the
// caller. The honest form comes back intact.
TEST(TrustBoundary, MemfdOutputsAreSealedOrRefused)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.max_retries = 1; // a task placed as the honest worker leaves
	// A stronger attacker than the default profile allows: whole fcntl
	// (any seals), pipes, socket options.
	c.seccomp_allow = "@file-read,@network,fcntl,pipe,pipe2";
	strcpy(c.pool_name, "hostile");
	pp_test::reset_board();
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	for (intptr_t kind = 1; kind <= 8; kind++) {
		task_result_t s = run_sync(p, bad_fd_output_task, (void *)kind,
					   20000);
		task_result_t a = run_async(p, bad_fd_output_task,
					    (void *)kind, 20000);
		EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, s.status)
		    << kind << " " << s.detail;
		EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, a.status)
		    << kind << " " << a.detail;
		EXPECT_EQ(nullptr, s.output_data);
		EXPECT_EQ(nullptr, a.output_data);
		EXPECT_EQ(TASK_STATUS_COMPLETED,
			  run_sync(p, pp_test::noop_task).status);
	}
	for (int i = 0; i < 2; i++) {
		task_result_t r = i ? run_async(p, bad_fd_output_task, nullptr,
						20000)
				    : run_sync(p, bad_fd_output_task, nullptr,
					       20000);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		ASSERT_EQ((size_t)PP_BAD_FD_OUTPUT_SIZE, r.output_size);
		const unsigned char *b = (const unsigned char *)r.output_data;
		for (size_t j = 0; j < r.output_size; j++)
			ASSERT_EQ(0xab, b[j]) << j;
		pool_result_free(&r);
	}
	pool_destroy(p);
}

// A worker that hands back every task it gets would keep the supervisor
// requeueing them. A deferral is honest only when the parent said a
// higher priority waits; any other is refused.
TEST(TrustBoundary, DeferralsWithoutCauseAreRefused)
{
	process_pool_t *p = start_pool(2);
	ASSERT_NE(nullptr, p);
	task_future_t *impostor =
	    pool_submit_async(p, defer_everything_task, nullptr, 0, nullptr,
			      TASK_PRIORITY_NORMAL, 20000);
	ASSERT_NE(nullptr, impostor);
	wait_started(1);
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 20; i++)
		fs.push_back(pool_submit_async(p, pp_test::noop_task, nullptr,
					       0, nullptr, TASK_PRIORITY_NORMAL,
					       10000));
	task_result_t r;
	for (auto *f : fs) {
		ASSERT_NE(nullptr, f);
		ASSERT_EQ(0, pool_future_wait(f, &r, 30000));
		EXPECT_TRUE(r.status == TASK_STATUS_COMPLETED ||
			    r.status == TASK_STATUS_PROTOCOL_ERROR)
		    << r.detail;
		pool_future_destroy(f);
	}
	ASSERT_EQ(0, pool_future_wait(impostor, &r, 30000));
	EXPECT_EQ(TASK_STATUS_PROTOCOL_ERROR, r.status) << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, "handed back")) << r.detail;
	pool_future_destroy(impostor);
	pool_destroy(p);
}

}  // namespace
