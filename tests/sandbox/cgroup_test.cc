// cgroup v2 per worker: each worker in its own leaf under the pool's
// group, leaves removed with their workers, the limits reported as they
// really are, a memory hog and a fork bomb ending RESOURCE_LIMIT and a
// CPU hog throttled where those controllers exist, and required mode
// failing loudly where they do not; a service's populated group left as
// found, the groups of a killed host removed by the next pool, and every
// process a timed-out or cancelled task started killed with its worker.
// Tests that need a facility this host lacks skip, naming it; where the
// runner promises the limits (PP_TEST_CGROUP_LIMITS=required, as in the
// pure cgroup v2 guest of tools/vm), they fail instead. A delegated
// parent for the limited pools comes from PP_TEST_CGROUP_PARENT (the
// recipe of the README: a service's group, its own processes in a
// subgroup).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

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

// The delegated parent the runner offers for limited pools, or NULL.
const char *test_parent()
{
	const char *p = getenv("PP_TEST_CGROUP_PARENT");
	return p && *p ? p : nullptr;
}

// Where this test's pools go: the delegated parent, else the own group.
std::string pool_parent_dir()
{
	if (const char *p = test_parent())
		return g_mount + (p[0] == '/' ? "" : "/") + p;
	return g_mount + (g_own == "/" ? "" : g_own);
}

// Whether the runner promises working limits (the pure v2 guest).
bool limits_required()
{
	const char *r = getenv("PP_TEST_CGROUP_LIMITS");
	return r && !strcmp(r, "required");
}

// Skips naming why, or fails where the runner promised the facility.
#define SKIP_OR_FAIL(why)                                           \
	do {                                                        \
		if (limits_required())                              \
			FAIL() << (why) << " (the runner promised " \
					   "cgroup limits)";        \
		GTEST_SKIP() << (why);                              \
	} while (0)

// Whether this process may create a group where its pools go.
bool can_create_groups()
{
	if (!have_cgroup2())
		return false;
	std::string dir =
	    pool_parent_dir() + "/pp-probe-" + std::to_string(getpid());
	if (mkdir(dir.c_str(), 0755))
		return false;
	rmdir(dir.c_str());
	return true;
}

std::string read_text(const std::string &path)
{
	char buf[4096];
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "";
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	std::string s = buf;
	while (!s.empty() && s.back() == '\n')
		s.pop_back();
	return s;
}

bool write_text(const std::string &path, const char *text)
{
	int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

bool listed_in(const std::string &file, const char *name)
{
	std::string all = " " + read_text(file) + " ";
	return all.find(std::string(" ") + name + " ") != std::string::npos;
}

bool controller_offered(const char *name)
{
	return listed_in(pool_parent_dir() + "/cgroup.controllers", name);
}

bool exists(const std::string &path)
{
	struct stat st;
	return stat(path.c_str(), &st) == 0;
}

bool unpopulated(const std::string &group)
{
	return read_text(group + "/cgroup.events").find("populated 0") !=
	       std::string::npos;
}

// Polls cond every 10 ms for up to 10 s.
template <typename F> bool eventually(F cond)
{
	for (int i = 0; i < 1000; i++) {
		if (cond())
			return true;
		usleep(10 * 1000);
	}
	return cond();
}

void end_child(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, nullptr, 0);
}

// A child that joins group and sleeps there until killed: a service's
// own process.
pid_t sleeper_in(const std::string &group)
{
	int fd = open((group + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		if (write(fd, "0", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fd);
	std::string procs = group + "/cgroup.procs";
	if (pid > 0 &&
	    !eventually([&] { return !read_text(procs).empty(); })) {
		end_child(pid);
		return -1;
	}
	return pid;
}

// Removes group and the groups under it, killing what is left in them.
void remove_tree(const std::string &group)
{
	if (!read_text(group + "/cgroup.procs").empty())
		write_text(group + "/cgroup.kill", "1");
	if (DIR *d = opendir(group.c_str())) {
		while (struct dirent *e = readdir(d))
			if (e->d_type == DT_DIR && e->d_name[0] != '.')
				remove_tree(group + "/" + e->d_name);
		closedir(d);
	}
	eventually([&] { return !rmdir(group.c_str()) || errno == ENOENT; });
}

// ---- steps run in a separate process ---------------------------------
//
// Some tests need a second process: a service in its populated group, or
// a host that is then SIGKILLed. They run this binary again with
// PP_CGROUP_TEST_STEP set; the step runs before main and exits.

struct Child {
	pid_t pid = -1;
	int out = -1;  // its stdout and stderr
};

Child spawn_step(const std::string &step, const std::string &group)
{
	Child c;
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return c;
	std::vector<std::string> env = {"PP_CGROUP_TEST_STEP=" + step,
					 "PP_CGROUP_TEST_GROUP=" + group};
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PP_CGROUP_TEST_", 15))
			env.push_back(*e);
	std::vector<char *> envp;
	for (auto &e : env)
		envp.push_back(const_cast<char *>(e.c_str()));
	envp.push_back(nullptr);
	char arg0[] = "cgroup_test_step";
	char *argv[] = {arg0, nullptr};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	if (posix_spawn(&c.pid, "/proc/self/exe", &fa, nullptr, argv,
			envp.data()))
		c.pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	c.out = p[0];
	return c;
}

// Reads the child's output until it closes it (or 60 s pass).
std::string read_all(int fd)
{
	std::string s;
	char buf[4096];
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 60000) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		s.append(buf, (size_t)n);
	}
	return s;
}

// Reads the child's output up to its first newline (or 60 s).
std::string read_all_line(int fd)
{
	std::string s;
	char c;
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 60000) <= 0 || read(fd, &c, 1) != 1)
			break;
		s += c;
		if (c == '\n')
			break;
	}
	return s;
}

// Runs a step to its end: its exit status (128 + signal when killed).
int run_step(const std::string &step, const std::string &group,
	     std::string *output)
{
	Child c = spawn_step(step, group);
	if (c.pid < 0)
		return -1;
	*output = read_all(c.out);
	close(c.out);
	int st = 0;
	waitpid(c.pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
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

// A pool with the limits in c (cgroup_mode REQUIRED) under the delegated
// parent, if any, when controller can back them here; else NULL, with
// *why naming what is missing.
process_pool_t *start_limited(pool_config_t *c, const char *controller,
			      std::string *why)
{
	if (!can_create_groups()) {
		*why = "cannot create cgroup v2 groups here";
		return nullptr;
	}
	if (!controller_offered(controller)) {
		*why = std::string("the cgroup v2 ") + controller +
		       " controller is not offered to " + pool_parent_dir() +
		       " (hybrid v1/v2 host?)";
		return nullptr;
	}
	c->cgroup_mode = POOL_CGROUP_REQUIRED;
	c->cgroup_parent = test_parent();
	process_pool_t *p = start(c);
	if (!p)
		*why = std::string("the ") + controller +
		       " controller cannot be enabled for the pool's group "
		       "under " + pool_parent_dir() +
		       " (not delegated, or it has processes; set "
		       "PP_TEST_CGROUP_PARENT to a delegated group)";
	return p;
}

// ---- the steps -------------------------------------------------------

// A service in its own, populated group: joins it, runs one task in a
// pool, and checks that the group is still a plain "domain" with nothing
// enabled for its children. Exits 0, or a code naming what went wrong.
int populated_step(const char *mode, const std::string &group)
{
	if (!write_text(group + "/cgroup.procs", "0"))
		return 2;
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_allow = "@file-read";
	if (strcmp(mode, "plain"))
		c.pids_max = 16;
	if (!strcmp(mode, "required"))
		c.cgroup_mode = POOL_CGROUP_REQUIRED;
	process_pool_t *p = pool_create(&c);
	if (!p)
		return 3;
	int rc = pool_start(p);
	if (!strcmp(mode, "required")) {
		pool_destroy(p);
		if (rc != POOL_ESYS)
			return 4;  // required limits that cannot be had
	} else {
		pool_stats_t s;
		task_result_t r;
		if (rc || pool_get_stats(p, &s))
			return 5;
		if (s.cgroups != 1 || (s.limits_in_force & POOL_LIMIT_PIDS))
			return 6;  // groups, and no pretended pids limit
		if (pool_submit_sync(p, cgroup_task, nullptr, 0, nullptr,
				     TASK_PRIORITY_NORMAL, 30000, &r))
			return 7;
		if (r.status != TASK_STATUS_COMPLETED) {
			fprintf(stderr, "step: task ended %s: %s\n",
				pool_task_status_str(r.status), r.detail);
			return 8;
		}
		pool_result_free(&r);
		pool_destroy(p);
	}
	std::string type = read_text(group + "/cgroup.type");
	if (type != "domain") {
		fprintf(stderr, "step: %s is now '%s'\n", group.c_str(),
			type.c_str());
		return 9;
	}
	if (!read_text(group + "/cgroup.subtree_control").empty())
		return 10;
	return 0;
}

// A host with a running pool under parent ("-": where the tests' pools
// go): prints the pool's group, then waits to be killed.
int host_step(const std::string &parent)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.seccomp_allow = "@file-read";
	c.cgroup_parent = parent == "-" ? test_parent() : parent.c_str();
	process_pool_t *p = pool_create(&c);
	task_result_t r;
	if (!p || pool_start(p) ||
	    pool_submit_sync(p, cgroup_task, nullptr, 0, nullptr,
			     TASK_PRIORITY_NORMAL, 30000, &r) ||
	    r.status != TASK_STATUS_COMPLETED)
		return 2;
	std::string leaf = static_cast<char *>(r.output_data);
	leaf.erase(leaf.find_last_not_of("\n") + 1);
	printf("%s%s\n", g_mount.c_str(),
	       leaf.substr(0, leaf.rfind('/')).c_str());
	fflush(stdout);
	for (;;)
		pause();
}

// Runs the step this process was started for, if any, before main.
int run_step_if_asked()
{
	const char *step = getenv("PP_CGROUP_TEST_STEP");
	const char *group = getenv("PP_CGROUP_TEST_GROUP");
	if (!step || !group || !have_cgroup2())
		return 0;
	if (!strncmp(step, "populated-", 10))
		_exit(populated_step(step + 10, group));
	if (!strcmp(step, "host"))
		_exit(host_step(group));
	_exit(99);
}

const int g_step = run_step_if_asked();

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
		SKIP_OR_FAIL(why);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_NE(0u, s.limits_in_force & POOL_LIMIT_MEMORY);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, hog_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 30000, &r));
	EXPECT_EQ(TASK_STATUS_RESOURCE_LIMIT, r.status) << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, "memory")) << r.detail;
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
		SKIP_OR_FAIL(why);
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
		SKIP_OR_FAIL(why);
	pool_stats_t s;
	ASSERT_EQ(0, pool_get_stats(p, &s));
	EXPECT_NE(0u, s.limits_in_force & POOL_LIMIT_CPU);
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

// A service's own group holds its processes. A pool there used to write
// +pids into it: the kernel took it (pids is a threaded controller) and
// made the group a thread root, whose child groups take no process, so
// every later pool's workers died, across processes. Now the group is
// left as found: the limited pool runs without its limit (best effort)
// or refuses to start saying what to do (required), and an unlimited
// pool started afterwards, in another process, runs.
TEST(Cgroup, PopulatedGroupIsLeftAsFound)
{
	if (!can_create_groups())
		SKIP_OR_FAIL("cannot create cgroup v2 groups here");
	std::string group =
	    pool_parent_dir() + "/pp-service-" + std::to_string(getpid());
	ASSERT_EQ(0, mkdir(group.c_str(), 0755)) << group;
	if (!listed_in(group + "/cgroup.controllers", "pids")) {
		rmdir(group.c_str());
		SKIP_OR_FAIL("the pids controller is not offered to " + group);
	}
	pid_t service = sleeper_in(group);
	ASSERT_GT(service, 0) << "cannot move a process into " << group;
	ASSERT_EQ("domain", read_text(group + "/cgroup.type"));

	std::string out;
	EXPECT_EQ(0, run_step("populated-pids", group, &out)) << out;
	EXPECT_NE(std::string::npos, out.find("cgroup_controller_missing"))
	    << out;  // best effort says so
	EXPECT_EQ("domain", read_text(group + "/cgroup.type"));

	EXPECT_EQ(0, run_step("populated-required", group, &out)) << out;
	EXPECT_NE(std::string::npos, out.find("cgroup_parent")) << out;
	EXPECT_NE(std::string::npos, out.find("has processes of its own"))
	    << out;
	EXPECT_EQ("domain", read_text(group + "/cgroup.type"));

	EXPECT_EQ(0, run_step("populated-plain", group, &out)) << out;
	EXPECT_EQ("domain", read_text(group + "/cgroup.type"));
	EXPECT_EQ("", read_text(group + "/cgroup.subtree_control"));

	end_child(service);
	remove_tree(group);
}

// A host killed with SIGKILL cannot remove its groups; its workers die
// with it (death signal). The next pool under the same parent removes
// the groups whose owner is gone and that hold no process; a group
// that still holds one, or whose owner lives, stays.
//
// Any pool started under a parent does that, in any process: another
// run of this test, or another test beside it, would remove the dead
// host's group as soon as it is empty (so that this test never sees it
// empty), or the busy group below before its sleeper is in. So the
// host, the groups and the pool here go in a parent of this test's own,
// which no other process's pool looks into.
TEST(Cgroup, KilledHostsGroupsAreRemovedByTheNextPool)
{
	if (!can_create_groups())
		SKIP_OR_FAIL("cannot create cgroup v2 groups here");
	std::string parent =
	    pool_parent_dir() + "/pp-killed-host-" + std::to_string(getpid());
	ASSERT_EQ(0, mkdir(parent.c_str(), 0755)) << parent;
	struct RemoveParent {
		std::string dir;
		~RemoveParent() { remove_tree(dir); }
	} remove_parent{parent};
	Child host = spawn_step("host", parent);
	ASSERT_GT(host.pid, 0);
	std::string out = read_all_line(host.out);
	close(host.out);
	kill(host.pid, SIGKILL);
	waitpid(host.pid, nullptr, 0);
	std::string left = out.substr(0, out.find('\n'));
	ASSERT_EQ(0u, left.find(parent + "/processpool-")) << out;
	ASSERT_TRUE(exists(left)) << left;  // what the kill leaves behind
	ASSERT_TRUE(eventually([&] { return unpopulated(left); })) << left;

	// Same dead owner, but a process still inside: kept.
	std::string busy = parent + "/processpool-" +
			   std::to_string(host.pid) + "-77";
	ASSERT_EQ(0, mkdir(busy.c_str(), 0755)) << busy;
	pid_t inside = sleeper_in(busy);
	ASSERT_GT(inside, 0);
	// Empty, but its owner lives: kept.
	std::string alive = parent + "/processpool-" +
			    std::to_string(getppid()) + "-78";
	ASSERT_EQ(0, mkdir(alive.c_str(), 0755)) << alive;

	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.cgroup_parent = parent.c_str();
	process_pool_t *p = start(&c);
	ASSERT_NE(nullptr, p);
	EXPECT_FALSE(exists(left)) << left << " left behind";
	EXPECT_TRUE(exists(busy)) << busy << " removed with a process in it";
	EXPECT_TRUE(exists(alive)) << alive << " removed with its owner alive";
	pool_destroy(p);
	end_child(inside);
	remove_tree(busy);
	remove_tree(alive);
	remove_tree(left);  // only where the pool failed to
}

// ---- every kill reaches the whole leaf ----------------------------------

// Shared with the workers (MAP_SHARED before the pool forks them).
std::atomic<int> *orphan_pid()
{
	static void *page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return static_cast<std::atomic<int> *>(page);
}

// Starts a grandchild in a session of its own (its parent exits at once,
// so the worker does not even know it), publishes its pid, then hangs.
int orphan_task(void *, size_t, void **, size_t *, void *)
{
	int p[2];
	if (pipe(p))
		return 1;
	pid_t child = fork();
	if (child == 0) {
		pid_t g = fork();
		if (g == 0) {
			setsid();
			for (;;)
				pause();
		}
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(0);
	}
	pid_t g = -1;
	if (child < 0 || read(p[0], &g, sizeof(g)) != sizeof(g))
		return 2;
	waitpid(child, nullptr, 0);
	orphan_pid()->store(g);
	for (;;)
		pause();
}

// This process adopts the orphans (a subreaper), so that it can tell a
// killed one (reaped, SIGKILL) from a live one.
class CgroupKill : public ::testing::Test {
protected:
	void SetUp() override
	{
		orphan_pid()->store(0);
		ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	}
	void TearDown() override
	{
		prctl(PR_SET_CHILD_SUBREAPER, 0);
	}

	// A pool whose tasks may fork (no seccomp; pids.max where it can be
	// had leaves room), in its own leaves unless off.
	process_pool_t *forking_pool(bool cgroups)
	{
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.sandbox_off = 1;
		c.pids_max = 64;
		c.cgroup_parent = test_parent();
		if (!cgroups)
			c.cgroup_mode = POOL_CGROUP_OFF;
		return start(&c);
	}

	// Whether the orphan is gone: reaped here, killed by SIGKILL.
	static bool killed(pid_t pid)
	{
		int st = 0;
		return eventually([&] {
			       return waitpid(pid, &st, WNOHANG) == pid;
		       }) &&
		       WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	}

	static bool still_running(pid_t pid)
	{
		usleep(200 * 1000);
		return waitpid(pid, nullptr, WNOHANG) == 0;
	}

	bool have_kill()
	{
		if (!can_create_groups())
			return false;
		std::string dir = pool_parent_dir() + "/pp-kill-probe-" +
				  std::to_string(getpid());
		mkdir(dir.c_str(), 0755);
		bool have = exists(dir + "/cgroup.kill");
		rmdir(dir.c_str());
		return have;
	}
};

TEST_F(CgroupKill, TimeoutKillsEverythingTheTaskStarted)
{
	if (!have_kill())
		SKIP_OR_FAIL("no cgroup v2 groups with cgroup.kill (Linux "
			     "5.14) here");
	// Without groups, the orphan outlives the timeout: the case at hand.
	process_pool_t *p = forking_pool(false);
	ASSERT_NE(nullptr, p);
	task_result_t r;
	ASSERT_EQ(0, pool_submit_sync(p, orphan_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 1000, &r));
	EXPECT_EQ(TASK_STATUS_TIMEOUT, r.status) << r.detail;
	pid_t g = orphan_pid()->load();
	ASSERT_GT(g, 0);
	EXPECT_TRUE(still_running(g));
	kill(g, SIGKILL);
	waitpid(g, nullptr, 0);
	pool_destroy(p);

	orphan_pid()->store(0);
	p = forking_pool(true);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_submit_sync(p, orphan_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 1000, &r));
	EXPECT_EQ(TASK_STATUS_TIMEOUT, r.status) << r.detail;
	g = orphan_pid()->load();
	ASSERT_GT(g, 0);
	EXPECT_TRUE(killed(g)) << "pid " << g << " outlived its worker";
	pool_destroy(p);
}

TEST_F(CgroupKill, CancelKillsEverythingTheTaskStarted)
{
	if (!have_kill())
		SKIP_OR_FAIL("no cgroup v2 groups with cgroup.kill (Linux "
			     "5.14) here");
	process_pool_t *p = forking_pool(true);
	ASSERT_NE(nullptr, p);
	task_future_t *f = pool_submit_async(p, orphan_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	ASSERT_TRUE(eventually([] { return orphan_pid()->load() > 0; }));
	pid_t g = orphan_pid()->load();
	EXPECT_EQ(0, pool_future_cancel(f));
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(f, &r, 30000));
	EXPECT_EQ(TASK_STATUS_CANCELLED, r.status) << r.detail;
	pool_result_free(&r);
	pool_future_destroy(f);
	EXPECT_TRUE(killed(g)) << "pid " << g << " outlived its worker";
	pool_destroy(p);
}

}  // namespace
