// Per-worker resource figures: the parent reads them from /proc (and the
// worker's cgroup leaf), so a known workload shows in them. Lower bounds
// only, loose ones: the test never times itself.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "process_pool.h"

namespace
{

constexpr size_t kMiB = 1024 * 1024;

// Maps 64 MiB, writes to every page, unmaps it: the peak stays. A plain
// mapping and a store per page, so no allocator or memset interceptor
// (the sanitizers have both) can leave pages untouched.
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

// Spins until this thread has used 200 ms of CPU, however loaded the
// machine is.
int spin_200ms_task(void *, size_t, void **, size_t *, void *)
{
	struct timespec ts;
	volatile unsigned long x = 0;
	do {
		for (int i = 0; i < 100000; i++)
			x = x + (unsigned long)i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	} while (ts.tv_sec == 0 && ts.tv_nsec < 200000000);
	return 0;
}

process_pool_t *make(int workers)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.seccomp_allow = "@memory";
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

bool usage_of(process_pool_t *p, int pid, pool_worker_info_t *out)
{
	pool_worker_info_t w[8];
	int n = pool_get_workers(p, w, 8);
	for (int i = 0; i < n; i++)
		if (w[i].pid == pid) {
			*out = w[i];
			return true;
		}
	return false;
}

TEST(ResourceUsage, PeakMemoryShowsA64MiBTask)
{
	process_pool_t *p = make(2);
	ASSERT_NE(p, nullptr);
	task_result_t r;
	ASSERT_EQ(pool_submit_sync(p, touch_64m_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, 0, &r),
		  0);
	ASSERT_EQ(r.status, TASK_STATUS_COMPLETED) << r.detail;
	pool_worker_info_t w;
	ASSERT_TRUE(usage_of(p, r.worker_pid, &w));
	EXPECT_TRUE(w.usage.source & POOL_USAGE_PROC);
	EXPECT_GE(w.usage.peak_rss_bytes, 64 * kMiB);
	EXPECT_GE(w.usage.peak_rss_bytes, w.usage.rss_bytes);
	EXPECT_GT(w.usage.rss_bytes, 0u);
	EXPECT_GE(w.tasks_done, 1u);
	EXPECT_GE(w.usage.threads, 1);
	// The pool runs as root here or as the worker's uid: either way the
	// worker's fd table is readable, and holds at least its channel.
	if (w.usage.open_fds >= 0) {
		EXPECT_GE(w.usage.open_fds, 1);
	}
	if (w.usage.source & POOL_USAGE_CGROUP) {
		EXPECT_GE(w.usage.cg_memory_current, 1u);
	}
	// The other worker did not run it.
	pool_worker_info_t all[8];
	int n = pool_get_workers(p, all, 8);
	for (int i = 0; i < n; i++)
		if (all[i].pid != r.worker_pid) {
			EXPECT_LT(all[i].usage.peak_rss_bytes, 64 * kMiB);
		}
	pool_destroy(p);
}

TEST(ResourceUsage, CpuTimeShowsA200msSpin)
{
	process_pool_t *p = make(1);
	ASSERT_NE(p, nullptr);
	task_result_t r;
	ASSERT_EQ(pool_submit_sync(p, spin_200ms_task, nullptr, 0, nullptr,
				   TASK_PRIORITY_NORMAL, 0, &r),
		  0);
	ASSERT_EQ(r.status, TASK_STATUS_COMPLETED) << r.detail;
	pool_worker_info_t w;
	ASSERT_TRUE(usage_of(p, r.worker_pid, &w));
	// Ticks are 10 ms at worst: 150 ms leaves room for rounding.
	EXPECT_GE(w.usage.cpu_user_us + w.usage.cpu_system_us, 150000u);
	EXPECT_GE(w.usage.age_ms, 150u);
	EXPECT_GE(w.usage.ctx_switches_voluntary +
		      w.usage.ctx_switches_involuntary,
		  1u);
	pool_destroy(p);
}

TEST(ResourceUsage, HostUsageIsThisProcess)
{
	pool_resource_usage_t u;
	EXPECT_EQ(pool_get_host_usage(nullptr), POOL_EINVAL);
	ASSERT_EQ(pool_get_host_usage(&u), 0);
	EXPECT_EQ(u.source, POOL_USAGE_PROC);
	EXPECT_GT(u.rss_bytes, 0u);
	EXPECT_GE(u.peak_rss_bytes, u.rss_bytes);
	EXPECT_GE(u.open_fds, 3); // stdin, stdout, stderr at least
	EXPECT_GE(u.threads, 1);
}

TEST(ResourceUsage, StoppedPoolReportsNothing)
{
	process_pool_t *p = make(1);
	ASSERT_NE(p, nullptr);
	pool_worker_info_t w[2];
	EXPECT_EQ(pool_get_workers(p, w, 2), 1);
	ASSERT_EQ(pool_stop(p, 0), 0);
	EXPECT_EQ(pool_get_workers(p, w, 2), 0);
	pool_destroy(p);
}

} // namespace
