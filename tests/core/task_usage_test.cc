// Per-task usage (pool_config_t.task_usage): the worker measures each task
// and the figures come back in task_result_t. Lower bounds only, loose
// ones, and the test never times itself; the parent's clamping of a lying
// worker is checked by the frame_check fuzzer's model.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace
{

using namespace pp_test;

constexpr size_t kMiB = 1024 * 1024;

// Maps 64 MiB, writes to every page, unmaps it. A plain mapping and a
// store per page, so no allocator or memset interceptor (the sanitizers
// have both) can leave pages untouched.
int touch_64m_task(void *, size_t, void **, size_t *, void *)
{
	size_t len = 64 * kMiB, page = (size_t)sysconf(_SC_PAGESIZE);
	void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 12;
	volatile char *p = static_cast<volatile char *>(m);
	for (size_t i = 0; i < len; i += page)
		p[i] = 0x5a;
	int ok = p[len - page] == 0x5a;
	munmap(m, len);
	return ok ? 0 : 1;
}

int64_t thread_cpu_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// Spins until this thread has used 200 ms more CPU, however loaded the
// machine is (a fresh clean-room worker has used some starting up).
int spin_200ms_task(void *, size_t, void **, size_t *, void *)
{
	int64_t until = thread_cpu_ns() + 200000000;
	volatile unsigned long x = 0;
	do {
		for (int i = 0; i < 100000; i++)
			x = x + (unsigned long)i;
	} while (thread_cpu_ns() < until);
	return 0;
}

process_pool_t *make(int task_usage, int spawn_mode = POOL_SPAWN_FORK,
		     int profile = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1; /* every task on the same worker */
	c.seccomp_allow = profile ? nullptr : "@memory";
	c.seccomp_profile = profile;
	c.task_usage = task_usage;
	c.spawn_mode = spawn_mode;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

task_result_t run(process_pool_t *p, task_func_t f)
{
	task_result_t r;
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(0, pool_submit_sync(p, f, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 30000, &r));
	return r;
}

TEST(TaskUsage, SpinningTaskShowsItsCpuTime)
{
	process_pool_t *p = make(1);
	ASSERT_NE(p, nullptr);
	task_result_t r = run(p, spin_200ms_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_GE(r.cpu_user_us + r.cpu_sys_us, 150000u)
	    << "user " << r.cpu_user_us << " sys " << r.cpu_sys_us;
	EXPECT_GT(r.peak_rss_kb, 0u);
	// A bound the parent enforces itself: never more than the task's
	// time on the worker on every CPU.
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	EXPECT_LE(r.cpu_user_us, r.run_us * (uint64_t)cpus);
	pool_result_free(&r);

	// A no-op right after it on the same worker: its own figures.
	task_result_t n = run(p, noop_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, n.status);
	EXPECT_LT(n.cpu_user_us + n.cpu_sys_us, 150000u);
	pool_destroy(p);
}

// The high-water mark can be reset where the worker could open its
// /proc/self/clear_refs before confinement (a fork of a process that may
// write its own, as root or the owner of a dumpable process).
bool hwm_resettable()
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok;
}

TEST(TaskUsage, PeakMemoryIsEachTasksOwn)
{
	process_pool_t *p = make(1);
	ASSERT_NE(p, nullptr);
	task_result_t big = run(p, touch_64m_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, big.status) << big.detail;
	EXPECT_GE(big.peak_rss_kb, 64u * 1024);
	task_result_t small = run(p, noop_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, small.status);
	EXPECT_EQ(big.worker_pid, small.worker_pid);
	EXPECT_GT(small.peak_rss_kb, 0u);
	if (!hwm_resettable()) {
		pool_destroy(p);
		GTEST_SKIP() << "/proc/self/clear_refs not writable here: "
				"the peak is the process's so far";
	}
	// Reset before the no-op: its peak lacks the 64 MiB.
	EXPECT_LT(small.peak_rss_kb + 32 * 1024, big.peak_rss_kb)
	    << "no-op " << small.peak_rss_kb << " KiB after "
	    << big.peak_rss_kb << " KiB";
	pool_destroy(p);
}

// The strict profile (the worker runtime only) lets the measuring
// through: the task ends as it would without it.
TEST(TaskUsage, WorksUnderTheStrictProfile)
{
	process_pool_t *p = make(1, POOL_SPAWN_FORK, 1);
	ASSERT_NE(p, nullptr);
	task_result_t r = run(p, noop_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_GT(r.peak_rss_kb, 0u);
	pool_destroy(p);
}

TEST(TaskUsage, CleanRoomWorkersMeasureToo)
{
	process_pool_t *p = make(1, POOL_SPAWN_CLEANROOM);
	ASSERT_NE(p, nullptr);
	task_result_t r = run(p, spin_200ms_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_GE(r.cpu_user_us + r.cpu_sys_us, 150000u);
	pool_destroy(p);
}

struct Spans {
	std::mutex mu;
	std::vector<pool_span_t> all; // names and tracestate not kept
};

void keep_span(const pool_span_t *s, void *arg)
{
	Spans *spans = static_cast<Spans *>(arg);
	pool_span_t copy = *s;
	copy.tracestate = nullptr;
	copy.name = strcmp(s->name, "processpool.run") == 0    ? "run"
		    : strcmp(s->name, "processpool.task") == 0 ? "task"
							       : "other";
	std::lock_guard<std::mutex> l(spans->mu);
	spans->all.push_back(copy);
}

// The task span and its run span carry the result's figures.
TEST(TaskUsage, SpansCarryTheFigures)
{
	Spans spans;
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.task_usage = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(p, nullptr);
	ASSERT_EQ(0, pool_set_span_hook(p, keep_span, &spans));
	ASSERT_EQ(0, pool_start(p));
	task_result_t r = run(p, spin_200ms_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status);
	pool_destroy(p);
	ASSERT_GE(r.cpu_user_us + r.cpu_sys_us, 150000u);
	int seen = 0;
	for (const pool_span_t &s : spans.all) {
		bool has = strcmp(s.name, "other") != 0;
		EXPECT_EQ(has ? r.cpu_user_us : 0, s.cpu_user_us) << s.name;
		EXPECT_EQ(has ? r.cpu_sys_us : 0, s.cpu_sys_us) << s.name;
		EXPECT_EQ(has ? r.peak_rss_kb : 0, s.peak_rss_kb) << s.name;
		seen += has;
	}
	EXPECT_EQ(2, seen);
}

TEST(TaskUsage, OffByDefault)
{
	process_pool_t *p = make(0);
	ASSERT_NE(p, nullptr);
	task_result_t r = run(p, spin_200ms_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status);
	EXPECT_EQ(0u, r.cpu_user_us);
	EXPECT_EQ(0u, r.cpu_sys_us);
	EXPECT_EQ(0u, r.peak_rss_kb);
	pool_destroy(p);
}

// The parent's bounds are read at pool_create: a restart may not turn
// measuring on or off.
TEST(TaskUsage, ARestartCannotChangeIt)
{
	process_pool_t *p = make(0);
	ASSERT_NE(p, nullptr);
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_allow = "@memory";
	c.task_usage = 1;
	EXPECT_EQ(POOL_EINVAL, pool_restart(p, &c, POOL_RESTART_WAIT));
	c.task_usage = 0;
	EXPECT_EQ(0, pool_restart(p, &c, POOL_RESTART_WAIT));
	pool_destroy(p);
}

TEST(TaskUsage, ConfigRefusesOtherValues)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.task_usage = 2;
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
}

}  // namespace
