// cgroup v2 per worker: each worker in its own leaf under the pool's
// group, leaves removed with their workers, the limits reported as they
// really are, a memory hog and a fork bomb ending RESOURCE_LIMIT and a
// CPU hog throttled where those controllers exist, and required mode
// failing loudly where they do not. Tests that need a facility this host
// lacks skip, naming it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "process_pool.h"
#include "sandbox/cgroup.h"

namespace {

std::string g_mount, g_own;

bool have_cgroup2()
{
	char m[4096], o[4096];
	if (pp_cgroup_find(m, sizeof(m), o, sizeof(o)))
		return false;
	g_mount = m;
	g_own = o;
	return true;
}

// Whether this process may create a group next to its own.
bool can_create_groups()
{
	if (!have_cgroup2())
		return false;
	std::string dir = g_mount + (g_own == "/" ? "" : g_own) +
			  "/pp-probe-" + std::to_string(getpid());
	if (mkdir(dir.c_str(), 0755))
		return false;
	rmdir(dir.c_str());
	return true;
}

bool controller_offered(const char *name)
{
	std::string path = g_mount + (g_own == "/" ? "" : g_own) +
			   "/cgroup.controllers";
	FILE *f = fopen(path.c_str(), "r");
	char buf[512] = "";
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	std::string all = std::string(" ") + buf;
	return all.find(std::string(" ") + name) != std::string::npos;
}

// Returns the worker's /proc/self/cgroup v2 line as output.
int cgroup_task(void *, size_t, void **out, size_t *out_n, void *)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			*out = strdup(line + 3);
			*out_n = strlen(line + 3) + 1;
		}
	fclose(f);
	return *out ? 0 : 2;
}

int hog_task(void *, size_t, void **, size_t *, void *)
{
	std::vector<char *> blocks;
	for (int i = 0; i < 4096; i++) {  // up to 4 GiB, 1 MiB at a time
		char *p = static_cast<char *>(malloc(1 << 20));
		if (!p)
			return 12;
		memset(p, 1, 1 << 20);
		blocks.push_back(p);
	}
	return 0;
}

// Forks until pids.max refuses; the children sleep a little and exit.
int fork_bomb_task(void *, size_t, void **, size_t *, void *)
{
	int refused = 0;
	for (int i = 0; i < 64 && !refused; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			usleep(200 * 1000);
			_exit(0);
		}
		if (pid < 0)
			refused = errno == EAGAIN;
	}
	return refused ? 0 : 1;  // 1: never refused
}

// Spins for 300 ms of wall time, then returns its cgroup like
// cgroup_task.
int cpu_hog_task(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000LL + t.tv_nsec - t0.tv_nsec <
	       300000000LL);
	return cgroup_task(in, n, out, out_n, ud);
}

process_pool_t *start(pool_config_t *c)
{
	c->worker_count = 1;
	c->seccomp_allow = "@file-read";
	process_pool_t *p = pool_create(c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

// A pool with the limits in c (cgroup_mode REQUIRED) when controller can
// back them here; else NULL, with *why naming what is missing.
process_pool_t *start_limited(pool_config_t *c, const char *controller,
			      std::string *why)
{
	if (!can_create_groups()) {
		*why = "cannot create cgroup v2 groups here";
		return nullptr;
	}
	if (!controller_offered(controller)) {
		*why = std::string("the cgroup v2 ") + controller +
		       " controller is not available here (hybrid v1/v2 "
		       "host?)";
		return nullptr;
	}
	c->cgroup_mode = POOL_CGROUP_REQUIRED;
	process_pool_t *p = start(c);
	if (!p)
		*why = std::string("the ") + controller +
		       " controller cannot be enabled for this process's "
		       "group (not delegated)";
	return p;
}

TEST(Cgroup, EachWorkerRunsInItsOwnLeafAndLeavesAreRemoved)
{
	if (!can_create_groups())
		GTEST_SKIP() << "cannot create cgroup v2 groups here (no cgroup2 "
				"mount, or it is read-only)";
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	process_pool_t *p = start(&c);
	ASSERT_NE(nullptr, p);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(1, s.cgroups);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, cgroup_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 10000, &r));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::string group = static_cast<char *>(r.output_data);
	pool_result_free(&r);
	std::string want = "/processpool-" + std::to_string(getpid()) + "-";
	EXPECT_NE(std::string::npos, group.find(want)) << group;
	EXPECT_NE(std::string::npos, group.find("/w0-")) << group;
	group.erase(group.find_last_not_of("\n") + 1);
	std::string leaf = g_mount + group;
	struct stat st;
	EXPECT_EQ(0, stat(leaf.c_str(), &st)) << leaf;
	pool_destroy(p);
	EXPECT_NE(0, stat(leaf.c_str(), &st)) << leaf << " left behind";
	std::string pool_group = leaf.substr(0, leaf.rfind('/'));
	EXPECT_NE(0, stat(pool_group.c_str(), &st)) << pool_group;
}

TEST(Cgroup, MemoryHogEndsResourceLimit)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.memory_max = 64u << 20;
	std::string why;
	process_pool_t *p = start_limited(&c, "memory", &why);
	if (!p)
		GTEST_SKIP() << why;
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, hog_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 30000, &r));
	EXPECT_EQ(TASK_STATUS_RESOURCE_LIMIT, r.status) << r.detail;
	pool_destroy(p);
}

// The pool reads pids.events through an fd it keeps open; the parser is
// checked here on a file of the same format, on any host.
TEST(Cgroup, EventsValueReadsTheKeyFromTheStart)
{
	char path[] = "/tmp/pp-events-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	unlink(path);
	const char text[] = "low 0\nhigh 12\nmax 3\n";
	ASSERT_EQ((ssize_t)sizeof(text) - 1, write(fd, text, sizeof(text) - 1));
	EXPECT_EQ(3u, pp_cgroup_events_value(fd, "max"));
	EXPECT_EQ(12u, pp_cgroup_events_value(fd, "high"));
	EXPECT_EQ(0u, pp_cgroup_events_value(fd, "ma"));  // a prefix only
	EXPECT_EQ(0u, pp_cgroup_events_value(fd, "oom_kill"));
	close(fd);
	EXPECT_EQ(0u, pp_cgroup_events_value(fd, "max"));  // a closed fd
	EXPECT_LT(pp_cgroup_leaf_open_file("/nonexistent-leaf", "pids.events"),
		  0);
}

// Without seccomp (which refuses fork by default, long before pids.max),
// a task that forks until the kernel says no ends RESOURCE_LIMIT, and the
// pool carries on.
TEST(Cgroup, ForkBombEndsResourceLimit)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.pids_max = 16;
	c.sandbox_off = 1;
	std::string why;
	process_pool_t *p = start_limited(&c, "pids", &why);
	if (!p)
		GTEST_SKIP() << why;
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_NE(0u, s.limits_in_force & POOL_LIMIT_PIDS);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, fork_bomb_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 30000, &r));
	EXPECT_EQ(TASK_STATUS_RESOURCE_LIMIT, r.status) << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, "pids.max")) << r.detail;
	ASSERT_EQ(0, pool_submit_sync(p, cgroup_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 30000, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_result_free(&r);
	pool_destroy(p);
}

// cpu.max at 20% of a CPU: a task that spins for 300 ms is throttled,
// which the worker's leaf counts in cpu.stat; cpu_weight is its
// cpu.weight.
TEST(Cgroup, CpuHogIsThrottledByCpuMax)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.cpu_max_percent = 20;
	c.cpu_weight = 50;
	std::string why;
	process_pool_t *p = start_limited(&c, "cpu", &why);
	if (!p)
		GTEST_SKIP() << why;
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, cpu_hog_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 30000, &r));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::string group = static_cast<char *>(r.output_data);
	pool_result_free(&r);
	group.erase(group.find_last_not_of("\n") + 1);
	std::string stat = g_mount + group + "/cpu.stat";
	FILE *f = fopen(stat.c_str(), "r");
	ASSERT_NE(nullptr, f) << stat;
	char line[256];
	unsigned long long throttled = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "nr_throttled %llu", &throttled) == 1)
			break;
	fclose(f);
	EXPECT_GT(throttled, 0u) << stat;
	std::string weight_path = g_mount + group + "/cpu.weight";
	f = fopen(weight_path.c_str(), "r");
	ASSERT_NE(nullptr, f) << weight_path;
	unsigned weight = 0;
	EXPECT_EQ(1, fscanf(f, "%u", &weight));
	fclose(f);
	EXPECT_EQ(50u, weight);  // cpu_weight reached the leaf
	pool_destroy(p);
}

TEST(Cgroup, MissingControllerIsReportedNeverPretended)
{
	if (!can_create_groups())
		GTEST_SKIP() << "cannot create cgroup v2 groups here";
	if (controller_offered("memory"))
		GTEST_SKIP() << "this host has the memory controller: nothing "
				"missing to report";
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.memory_max = 64u << 20;
	process_pool_t *p = start(&c);  // best effort: runs
	ASSERT_NE(nullptr, p);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_EQ(0u, s.limits_in_force & POOL_LIMIT_MEMORY);
	pool_destroy(p);
	memset(&c, 0, sizeof(c));
	c.memory_max = 64u << 20;
	c.cgroup_mode = POOL_CGROUP_REQUIRED;
	c.worker_count = 1;
	p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(POOL_ESYS, pool_start(p));  // required: refuses to start
	pool_destroy(p);
}

}  // namespace
