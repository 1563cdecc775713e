// The zygote (config "zygote"): workers are made by a small fork server
// started at pool_start (a fork of the host, or in clean-room pools a
// fresh exec of the program). It must serve every spawn, leave no fd of
// its own in a worker, be replaced when it dies without losing a task,
// and keep a host's later growth (clean-room: all of the host) out of
// new workers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/hostile/isolation_tasks.h"

namespace
{

using namespace pp_hostile;

process_pool_t *start_pool(int workers, int zygote, int isolation,
			   int retries = 0, int spawn = POOL_SPAWN_FORK)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.spawn_mode = spawn;
	c.worker_count = workers;
	c.zygote = zygote;
	c.isolation = isolation;
	c.max_retries = retries;
	c.seccomp_allow = "@file-read"; /* /proc/self/statm */
	strcpy(c.pool_name, "zygote");
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		p = nullptr;
	}
	return p;
}

pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *close = strrchr(buf, ')');
	int ppid = -1;
	if (!close || sscanf(close + 2, "%*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

// Fails (100 + the count) unless the worker holds 3 fds above stdio:
// its channel's memfd, its wakeup pipe and its payload socket.
int count_fds_task(void *, size_t, void **, size_t *, void *)
{
	int n = 0;
	for (int fd = 3; fd < 1024; fd++) {
		struct stat st;
		n += fstat(fd, &st) == 0;
	}
	return n == 3 ? 0 : 100 + n;
}

// count_fds_task, and the worker's parent as its output: asked from
// inside, since a per-task worker is gone soon after its result.
int fds_and_parent_task(void *in, size_t n, void **out, size_t *out_n,
			void *ud)
{
	int rc = count_fds_task(in, n, out, out_n, ud);
	auto *p = static_cast<int32_t *>(malloc(sizeof(int32_t)));
	if (!p)
		return 1;
	*p = (int32_t)getppid();
	*out = p;
	*out_n = sizeof(*p);
	return rc;
}

int32_t parent_seen(const task_result_t &r)
{
	int32_t ppid = -1;
	if (r.output_size == sizeof(ppid))
		memcpy(&ppid, r.output_data, sizeof(ppid));
	return ppid;
}

// The worker's address space in pages (/proc/self/statm, first field).
int vm_pages_task(void *, size_t, void **out, size_t *out_n, void *)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0;
	if (!f)
		return 1;
	if (fscanf(f, "%llu", &size) != 1)
		size = 0;
	fclose(f);
	auto *p = static_cast<uint64_t *>(malloc(sizeof(uint64_t)));
	if (!p)
		return 1;
	*p = size;
	*out = p;
	*out_n = sizeof(*p);
	return 0;
}

task_result_t run(process_pool_t *p, task_func_t f)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_sync(p, f, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 20000, &r));
	return r;
}

// Ten tasks in a per-task pool p with a zygote: ten processes, each the
// pool's child holding only its channel; the zygote never restarted, and
// gone with the pool (which this destroys).
void serves_ten_fresh_workers(process_pool_t *p)
{
	std::set<int> pids;
	for (int i = 0; i < 10; i++) {
		task_result_t r = run(p, fds_and_parent_task);
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status)
		    << r.return_code << " " << r.detail;
		EXPECT_EQ(getpid(), parent_seen(r));
		pids.insert(r.worker_pid);
		pool_result_free(&r);
	}
	EXPECT_EQ(10u, pids.size());
	pool_stats_t st;
	ASSERT_EQ(0, pool_get_stats(p, &st));
	EXPECT_EQ(0u, st.zygote_restarts);
	pool_destroy(p);
	// No zygote outlives its pool.
	EXPECT_NE(0, kill(st.zygote_pid, 0));
}

pid_t zygote_of(int zygote, int isolation, int spawn)
{
	process_pool_t *p = start_pool(1, zygote, isolation, 0, spawn);
	EXPECT_NE(nullptr, p);
	if (!p)
		return -1;
	task_result_t r = run(p, pp_test::noop_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_result_free(&r);
	pool_stats_t st;
	EXPECT_EQ(0, pool_get_stats(p, &st));
	pool_destroy(p);
	return st.zygote_pid;
}

// Left at 0, a fork-mode per-task pool has a zygote (its spawns are
// what it costs) and -1 takes it away; other pools, and clean-room ones
// (a shared layout is asked for, never implied), have none unless the
// environment gives every pool one.
TEST(Zygote, OnByDefaultForForkModePerTaskPoolsOnly)
{
	EXPECT_GT(zygote_of(0, POOL_ISOLATE_TASK, POOL_SPAWN_FORK), 0);
	EXPECT_EQ(0, zygote_of(-1, POOL_ISOLATE_TASK, POOL_SPAWN_FORK));
	const char *env = getenv("PROCESS_POOL_ZYGOTE");
	if (env && !strcmp(env, "1"))
		return; // the environment turns it on for the rest
	EXPECT_EQ(0, zygote_of(0, POOL_ISOLATE_WORKER, POOL_SPAWN_FORK));
	EXPECT_EQ(0,
		  zygote_of(0, POOL_ISOLATE_TASK, POOL_SPAWN_CLEANROOM));
}

TEST(Zygote, ServesEveryWorkerAndLeavesItNoFd)
{
	process_pool_t *p = start_pool(2, 1, POOL_ISOLATE_TASK);
	ASSERT_NE(nullptr, p);
	pool_stats_t st;
	ASSERT_EQ(0, pool_get_stats(p, &st));
	ASSERT_GT(st.zygote_pid, 0);
	// The zygote is the pool's child; so is every worker it makes.
	EXPECT_EQ(getpid(), parent_of(st.zygote_pid));
	serves_ten_fresh_workers(p);
}

void killed_under_load(int spawn)
{
	process_pool_t *p = start_pool(2, 1, POOL_ISOLATE_TASK, 0, spawn);
	ASSERT_NE(nullptr, p);
	pool_stats_t st;
	ASSERT_EQ(0, pool_get_stats(p, &st));
	int first = st.zygote_pid;
	ASSERT_GT(first, 0);
	std::vector<task_future_t *> fs;
	for (int i = 0; i < 200; i++) {
		if (i == 50) {
			ASSERT_EQ(0, kill(first, SIGKILL));
		}
		fs.push_back(pool_submit_async(p, pp_test::noop_task, nullptr,
					       0, nullptr, TASK_PRIORITY_NORMAL,
					       30000));
		ASSERT_NE(nullptr, fs.back());
	}
	for (auto *f : fs) {
		task_result_t r;
		ASSERT_EQ(0, pool_future_wait(f, &r, 60000));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		pool_future_destroy(f);
	}
	ASSERT_EQ(0, pool_get_stats(p, &st));
	EXPECT_GE(st.zygote_restarts, 1u);
	EXPECT_GT(st.zygote_pid, 0);
	EXPECT_NE(first, st.zygote_pid);
	EXPECT_EQ(200u, st.tasks_completed);
	EXPECT_EQ(0u, st.tasks_crashed);
	pool_destroy(p);
}

TEST(Zygote, KilledUnderLoadItIsReplacedAndNoTaskIsLost)
{
	killed_under_load(POOL_SPAWN_FORK);
}

TEST(Zygote, CleanRoomKilledUnderLoadItIsReplacedAndNoTaskIsLost)
{
	killed_under_load(POOL_SPAWN_CLEANROOM);
}

// The mechanism behind a respawn time that does not grow with the host:
// memory the host takes after pool_start is not in a new worker.
uint64_t growth_seen(int zygote)
{
	process_pool_t *p = start_pool(1, zygote, POOL_ISOLATE_TASK);
	EXPECT_NE(nullptr, p);
	if (!p)
		return 0;
	task_result_t before = run(p, vm_pages_task);
	const size_t big = (size_t)256 << 20;
	void *mem = mmap(nullptr, big, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT_NE(MAP_FAILED, mem);
	memset(mem, 1, big);
	// Fresh workers, spawned after the growth.
	task_result_t r1 = run(p, vm_pages_task);
	task_result_t r2 = run(p, vm_pages_task);
	uint64_t a = 0, b = 0;
	EXPECT_EQ(sizeof(a), before.output_size);
	EXPECT_EQ(sizeof(b), r2.output_size);
	if (before.output_data)
		memcpy(&a, before.output_data, sizeof(a));
	if (r2.output_data)
		memcpy(&b, r2.output_data, sizeof(b));
	pool_result_free(&before);
	pool_result_free(&r1);
	pool_result_free(&r2);
	pool_destroy(p);
	munmap(mem, big);
	return b > a ? (b - a) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

TEST(Zygote, ANewWorkerDoesNotCarryTheHostsLaterGrowth)
{
	// Without a zygote, each new worker is a fork of the grown host
	// (unless the environment gives every pool one).
	const char *env = getenv("PROCESS_POOL_ZYGOTE");
	if (!env || strcmp(env, "1")) {
		EXPECT_GE(growth_seen(-1), (uint64_t)256 << 20);
	}
	EXPECT_LT(growth_seen(1), (uint64_t)64 << 20);
}

// The address space, in bytes, of a worker of a new pool with a zygote.
uint64_t fresh_worker_vm(int spawn)
{
	process_pool_t *p = start_pool(1, 1, POOL_ISOLATE_TASK, 0, spawn);
	EXPECT_NE(nullptr, p);
	if (!p)
		return 0;
	task_result_t r = run(p, vm_pages_task);
	uint64_t pages = 0;
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	if (r.output_size == sizeof(pages))
		memcpy(&pages, r.output_data, sizeof(pages));
	pool_result_free(&r);
	pool_destroy(p);
	return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

std::string read_text(const char *path)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	if (!f)
		return "";
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	return std::string(buf, n);
}

// A clean-room zygote is a fresh exec of this program, the pool's child,
// and every worker it makes is the pool's child with only its channel.
TEST(Zygote, CleanRoomZygoteIsAFreshExecAndServesEveryWorker)
{
	process_pool_t *p =
	    start_pool(2, 1, POOL_ISOLATE_TASK, 0, POOL_SPAWN_CLEANROOM);
	ASSERT_NE(nullptr, p);
	pool_stats_t st;
	ASSERT_EQ(0, pool_get_stats(p, &st));
	ASSERT_GT(st.zygote_pid, 0);
	EXPECT_EQ(getpid(), parent_of(st.zygote_pid));
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", st.zygote_pid);
	// argv[0] is the exec's, NUL-terminated.
	EXPECT_EQ(std::string("processpool-zygote", 19), read_text(path));
	struct stat self, zy;
	snprintf(path, sizeof(path), "/proc/%d/exe", st.zygote_pid);
	ASSERT_EQ(0, stat("/proc/self/exe", &self));
	if (stat(path, &zy) == 0) { // not dumpable: may be refused
		EXPECT_EQ(self.st_ino, zy.st_ino);
	}
	serves_ten_fresh_workers(p);
}

// Fork mode keeps the host's memory as of pool_start; clean-room keeps
// none of it, however large the host was when the pool started.
TEST(Zygote, CleanRoomWorkersCarryNoneOfTheHost)
{
	const uint64_t small = fresh_worker_vm(POOL_SPAWN_CLEANROOM);
	const size_t big = (size_t)256 << 20;
	void *mem = mmap(nullptr, big, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 1, big);
	const uint64_t cleanroom = fresh_worker_vm(POOL_SPAWN_CLEANROOM);
	const uint64_t forked = fresh_worker_vm(POOL_SPAWN_FORK);
	munmap(mem, big);
	ASSERT_GT(small, 0u);
	ASSERT_GT(cleanroom, 0u);
	EXPECT_LT(cleanroom, small + ((uint64_t)64 << 20));
	EXPECT_GE(forked, cleanroom + big);
}

// Crash recovery and retries through the zygote, in a shared pool.
TEST(Zygote, CrashesAndRetriesRecover)
{
	pp_test::reset_board();
	process_pool_t *p = start_pool(2, 1, POOL_ISOLATE_WORKER, 1);
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, pp_test::crash_once_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	r = run(p, pp_test::segv_task);
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status);
	EXPECT_EQ(SIGSEGV, r.term_signal) << r.detail;
	r = run(p, pp_test::noop_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_stats_t st;
	ASSERT_EQ(0, pool_get_stats(p, &st));
	EXPECT_GT(st.zygote_pid, 0);
	EXPECT_EQ(0u, st.zygote_restarts);
	pool_destroy(p);
}

// A worker's setup reaches the zygote by value, with pointers into the
// host's memory as the zygote was forked. A rolling restart with a new
// config builds a new seccomp program the zygote's copy does not have:
// the zygote must be replaced, or new workers take a stale filter (or
// crash on a freed one, and the restart never ends).
void restart_reaches_workers(int spawn)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.spawn_mode = spawn;
	c.worker_count = 2;
	c.zygote = 1;
	c.seccomp_errno = 1; /* a denied call fails with EPERM */
	strcpy(c.pool_name, "zygote");
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, pp_test::socket_task, nullptr, 0,
				      nullptr, TASK_PRIORITY_NORMAL, 20000, &r));
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status);
	pool_stats_t st;
	ASSERT_EQ(0, pool_get_stats(p, &st));
	int zygote = st.zygote_pid;
	EXPECT_NE(0, zygote);

	pool_config_t next = c;
	next.seccomp_allow = "socket";
	ASSERT_EQ(0, pool_restart(p, &next, 0));
	for (int i = 0; i < 2000; i++) {
		ASSERT_EQ(0, pool_get_stats(p, &st));
		if (st.pool_restarts == 1)
			break;
		usleep(10000);
	}
	ASSERT_EQ(1u, st.pool_restarts) << "the restart did not finish";
	EXPECT_NE(zygote, st.zygote_pid) << "the zygote was kept";
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(0, pool_submit_sync(p, pp_test::socket_task, nullptr,
					      0, nullptr, TASK_PRIORITY_NORMAL,
					      20000, &r));
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		EXPECT_EQ(0, r.return_code);
	}
	pool_destroy(p);
}

TEST(Zygote, ARestartWithANewConfigReachesItsWorkers)
{
	restart_reaches_workers(POOL_SPAWN_FORK);
}

// A clean-room zygote holds the setup memfd of its start: a restart with
// a new config writes a new one, and a new zygote must take it.
TEST(Zygote, CleanRoomARestartWithANewConfigReachesItsWorkers)
{
	restart_reaches_workers(POOL_SPAWN_CLEANROOM);
}

} // namespace
