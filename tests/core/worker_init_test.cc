// Worker initializers (pool_config_t.worker_init): run once in every new
// worker, fork and clean-room alike, respawns included, before the worker
// confines itself; their state reaches tasks through pool_worker_state();
// a failing or crashing initializer is named in the log and in
// pool_health, backs off like a crash loop, and loses no task.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"

namespace {

// What the initializer gets: where to log its run, what to open.
struct InitArg {
	char log_path[256];
	char secret_path[256];
	int fail_first; // fail while the log holds fewer runs than this
};

// What it leaves for tasks.
struct InitState {
	int calls; // initializer runs in this process
	int fd;	   // secret_path, opened before confinement
	char secret[64];
};

int init_calls;

int file_lines(const char *path)
{
	std::ifstream in(path);
	std::string line;
	int n = 0;

	while (std::getline(in, line))
		n++;
	return n;
}

// Logs "pid" to log_path, opens secret_path and keeps it open.
int good_init(const void *arg, size_t size, void **state)
{
	const InitArg *a = static_cast<const InitArg *>(arg);
	InitState *s;
	char line[32];
	int fd, n, runs;

	if (size != sizeof(InitArg))
		return 90;
	runs = file_lines(a->log_path);
	fd = open(a->log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return 91;
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (write(fd, line, (size_t)n) != n)
		return 92;
	close(fd);
	if (runs < a->fail_first)
		return 7;
	s = static_cast<InitState *>(calloc(1, sizeof(*s)));
	if (!s)
		return 93;
	s->calls = ++init_calls;
	s->fd = open(a->secret_path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return 94;
	n = (int)pread(s->fd, s->secret, sizeof(s->secret) - 1, 0);
	if (n < 0)
		return 95;
	*state = s;
	return 0;
}

int failing_init(const void *, size_t, void **)
{
	return 7;
}

int crashing_init(const void *, size_t, void **)
{
	abort();
}

int hanging_init(const void *, size_t, void **)
{
	for (;;)
		pause();
}

// Output: "calls pid secret-through-fd".
int state_task(void *, size_t, void **out, size_t *out_n, void *)
{
	InitState *s = static_cast<InitState *>(pool_worker_state());
	char buf[64] = {0};
	char *o;

	if (!s)
		return 1;
	if (pread(s->fd, buf, sizeof(buf) - 1, 0) < 0)
		return 2;
	o = static_cast<char *>(malloc(160));
	if (!o)
		return 3;
	*out_n = (size_t)snprintf(o, 160, "%d %d %s", s->calls, (int)getpid(),
				  buf) +
		 1;
	*out = o;
	return 0;
}

// What the initializer did, tried by a task under the sandbox.
int open_task(void *in, size_t, void **, size_t *, void *)
{
	int fd = open(static_cast<const char *>(in), O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : 1;
}

class WorkerInit : public ::testing::TestWithParam<int> {
      protected:
	void SetUp() override
	{
		char tmpl[] = "/tmp/pp_worker_init_XXXXXX";

		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir_ = tmpl;
		memset(&arg_, 0, sizeof(arg_));
		snprintf(arg_.log_path, sizeof(arg_.log_path), "%s/log",
			 dir_.c_str());
		snprintf(arg_.secret_path, sizeof(arg_.secret_path),
			 "%s/secret", dir_.c_str());
		FILE *f = fopen(arg_.log_path, "w");
		ASSERT_NE(f, nullptr);
		fclose(f);
		f = fopen(arg_.secret_path, "w");
		ASSERT_NE(f, nullptr);
		fputs("open sesame", f);
		fclose(f);
		log_file_ = dir_ + "/pool.log";
	}

	void TearDown() override
	{
		pool_destroy(pool_);
		unlink(arg_.log_path);
		unlink(arg_.secret_path);
		unlink(log_file_.c_str());
		rmdir(dir_.c_str());
	}

	pool_config_t Config(pool_worker_init_t init)
	{
		pool_config_t cfg;

		memset(&cfg, 0, sizeof(cfg));
		cfg.worker_count = 2;
		cfg.spawn_mode = GetParam();
		cfg.cgroup_mode = POOL_CGROUP_OFF;
		cfg.worker_init = init;
		cfg.worker_init_arg = &arg_;
		cfg.worker_init_arg_size = sizeof(arg_);
		return cfg;
	}

	void Start(const pool_config_t &cfg)
	{
		pool_ = pool_create(&cfg);
		ASSERT_NE(pool_, nullptr);
		ASSERT_EQ(pool_set_log_file(pool_, log_file_.c_str()), 0);
		ASSERT_EQ(pool_start(pool_), 0);
	}

	// Runs state_task; returns its pid and checks calls and secret.
	int RunState()
	{
		task_result_t r;
		int calls = 0, pid = 0;
		char secret[64] = {0};

		EXPECT_EQ(pool_submit_sync(pool_, state_task, nullptr, 0,
					   nullptr, TASK_PRIORITY_NORMAL, 0,
					   &r),
			  0);
		EXPECT_EQ(r.status, TASK_STATUS_COMPLETED) << r.detail;
		if (r.status != TASK_STATUS_COMPLETED)
			return 0;
		EXPECT_EQ(sscanf(static_cast<char *>(r.output_data),
				 "%d %d %63[^\n]", &calls, &pid, secret),
			  3);
		EXPECT_EQ(calls, 1); // once in this process
		EXPECT_STREQ(secret, "open sesame");
		pool_result_free(&r);
		return pid;
	}

	// How many times each pid ran the initializer.
	std::map<int, int> Runs()
	{
		std::ifstream in(arg_.log_path);
		std::map<int, int> runs;
		int pid;

		while (in >> pid)
			runs[pid]++;
		return runs;
	}

	std::string PoolLog()
	{
		std::ifstream in(log_file_);
		std::stringstream ss;

		ss << in.rdbuf();
		return ss.str();
	}

	// Waits up to 30 s for pool_health's reasons to include bits.
	bool WaitHealth(unsigned bits)
	{
		pool_health_t h;

		for (int i = 0; i < 3000; i++) {
			if (pool_health(pool_, &h) == 0 &&
			    (h.reasons & bits) == bits)
				return true;
			usleep(10000);
		}
		return false;
	}

	std::string dir_, log_file_;
	InitArg arg_;
	process_pool_t *pool_ = nullptr;
};

TEST_P(WorkerInit, RunsOncePerWorkerAndAfterARespawn)
{
	Start(Config(good_init));
	std::map<int, int> seen;

	for (int i = 0; i < 20; i++)
		seen[RunState()]++;
	// A crash: its worker is replaced, and the new one initializes.
	task_result_t r;
	ASSERT_EQ(pool_submit_sync(pool_, pp_test::segv_task, nullptr, 0,
				   nullptr, TASK_PRIORITY_NORMAL, 0, &r),
		  0);
	EXPECT_EQ(r.status, TASK_STATUS_CRASHED);
	int dead = r.worker_pid, fresh = 0;
	for (int i = 0; i < 1000 && Runs().size() < 3; i++)
		usleep(10000);
	for (const auto &kv : Runs())
		if (kv.first != dead && !seen.count(kv.first))
			fresh = kv.first;
	ASSERT_NE(fresh, 0) << "no worker after the crash";
	// Async tasks spread over both workers: the fresh one serves some.
	for (int round = 0; round < 100 && !seen.count(fresh); round++) {
		task_future_t *f[8];

		for (auto &x : f)
			x = pool_submit_async(pool_, state_task, nullptr, 0,
					      nullptr, TASK_PRIORITY_NORMAL,
					      0);
		for (auto &x : f) {
			ASSERT_NE(x, nullptr);
			ASSERT_EQ(pool_future_wait(x, &r, -1), 0);
			EXPECT_EQ(r.status, TASK_STATUS_COMPLETED) << r.detail;
			EXPECT_EQ(strncmp(static_cast<char *>(r.output_data),
					  "1 ", 2),
				  0);
			seen[r.worker_pid]++;
			pool_result_free(&r);
			pool_future_destroy(x);
		}
	}
	EXPECT_TRUE(seen.count(fresh)) << "the respawned worker ran nothing";
	std::map<int, int> runs = Runs();
	EXPECT_GE(runs.size(), 3u); // two at start, one respawn
	for (const auto &kv : runs)
		EXPECT_EQ(kv.second, 1) << "pid " << kv.first;
	for (const auto &kv : seen)
		EXPECT_EQ(runs.count(kv.first), 1u) << "pid " << kv.first;
	EXPECT_EQ(pool_worker_state(), nullptr); // not in the parent
}

TEST_P(WorkerInit, OpensWhatATaskCannot)
{
	Start(Config(good_init));
	task_result_t r;

	RunState(); // read through the fd the initializer opened
	ASSERT_EQ(pool_submit_sync(pool_, open_task, arg_.secret_path,
				   strlen(arg_.secret_path) + 1, nullptr,
				   TASK_PRIORITY_NORMAL, 0, &r),
		  0);
	EXPECT_EQ(r.status, TASK_STATUS_SANDBOX_VIOLATION) << r.detail;
	EXPECT_NE(std::string(r.detail).find("open"), std::string::npos)
	    << r.detail;
	pool_result_free(&r);
}

TEST_P(WorkerInit, TasksWaitForAWorkerThatStarted)
{
	arg_.fail_first = 3; // the first three runs fail, in any worker
	pool_config_t cfg = Config(good_init);

	cfg.worker_count = 1;
	Start(cfg);
	task_future_t *f[4];
	for (auto &x : f) {
		x = pool_submit_async(pool_, state_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0);
		ASSERT_NE(x, nullptr);
	}
	for (auto &x : f) {
		task_result_t r;

		ASSERT_EQ(pool_future_wait(x, &r, -1), 0);
		EXPECT_EQ(r.status, TASK_STATUS_COMPLETED) << r.detail;
		pool_result_free(&r);
		pool_future_destroy(x);
	}
	EXPECT_GE(file_lines(arg_.log_path), 4);
	std::string log = PoolLog();
	EXPECT_NE(log.find("worker_init_failed"), std::string::npos) << log;
	EXPECT_NE(log.find("reason=\"returned rc=7\""), std::string::npos)
	    << log;
	pool_health_t h;
	ASSERT_EQ(pool_health(pool_, &h), 0);
	EXPECT_FALSE(h.reasons & POOL_HEALTH_INIT_FAILING); // one started
}

TEST_P(WorkerInit, CrashingInitializerIsNamedAndTasksEndAtStop)
{
	pool_config_t cfg = Config(crashing_init);

	cfg.worker_count = 1;
	Start(cfg);
	task_future_t *f = pool_submit_async(pool_, state_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(f, nullptr);
	EXPECT_TRUE(WaitHealth(POOL_HEALTH_INIT_FAILING));
	EXPECT_EQ(pool_future_done(f), 0); // waits for a worker
	ASSERT_EQ(pool_stop(pool_, 0), 0);
	task_result_t r;
	ASSERT_EQ(pool_future_wait(f, &r, -1), 0);
	EXPECT_EQ(r.status, TASK_STATUS_CANCELLED);
	pool_future_destroy(f);
	std::string log = PoolLog();
	EXPECT_NE(log.find("worker_init_failed"), std::string::npos) << log;
	EXPECT_NE(log.find("reason=\"crashed signal=6\""), std::string::npos)
	    << log;
}

INSTANTIATE_TEST_SUITE_P(SpawnModes, WorkerInit,
			 ::testing::Values(POOL_SPAWN_FORK,
					   POOL_SPAWN_CLEANROOM),
			 [](const ::testing::TestParamInfo<int> &i) {
				 return std::string(i.param ? "CleanRoom"
							    : "Fork");
			 });

// A loop of failing initializers backs off as a crash loop does, and the
// task waiting for a worker ends with a clear status at its deadline.
TEST(WorkerInitLoop, FailingInitializerBacksOff)
{
	pool_config_t cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = 1;
	cfg.cgroup_mode = POOL_CGROUP_OFF;
	cfg.worker_init = failing_init;
	process_pool_t *pool = pool_create(&cfg);
	ASSERT_NE(pool, nullptr);
	ASSERT_EQ(pool_start(pool), 0);
	task_result_t r;
	ASSERT_EQ(pool_submit_sync(pool, pp_test::noop_task, nullptr, 0,
				   nullptr, TASK_PRIORITY_NORMAL, 300, &r),
		  0);
	EXPECT_EQ(r.status, TASK_STATUS_TIMEOUT);
	pool_health_t h;
	bool backoff = false;
	for (int i = 0; i < 3000 && !backoff; i++) {
		ASSERT_EQ(pool_health(pool, &h), 0);
		backoff = (h.reasons & POOL_HEALTH_CRASH_BACKOFF) &&
			  (h.reasons & POOL_HEALTH_INIT_FAILING);
		if (!backoff)
			usleep(10000);
	}
	EXPECT_TRUE(backoff) << "reasons " << h.reasons;
	pool_destroy(pool);
}

// An initializer that never returns does not hold its slot for ever: past
// worker_init_timeout_ms the worker is killed, the start counts as failed
// (INIT_FAILING, the crash loop's back-off), and another is tried.
TEST(WorkerInitLoop, AHungInitializerIsKilledAtItsDeadline)
{
	pool_config_t cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = 1;
	cfg.cgroup_mode = POOL_CGROUP_OFF;
	cfg.worker_init = hanging_init;
	cfg.worker_init_timeout_ms = 200;
	process_pool_t *pool = pool_create(&cfg);
	ASSERT_NE(pool, nullptr);
	ASSERT_EQ(pool_start(pool), 0);
	pool_worker_info_t w;
	ASSERT_EQ(pool_get_workers(pool, &w, 1), 1);
	int first = w.pid;
	pool_health_t h;
	pool_stats_t s;
	bool failing = false;
	for (int i = 0; i < 2000 && !failing; i++) {
		ASSERT_EQ(pool_health(pool, &h), 0);
		ASSERT_EQ(pool_get_stats(pool, &s), 0);
		failing = (h.reasons & POOL_HEALTH_INIT_FAILING) &&
			  s.worker_restarts >= 2;
		if (!failing)
			usleep(10000);
	}
	EXPECT_TRUE(failing) << "reasons " << h.reasons << ", restarts "
			     << s.worker_restarts;
	EXPECT_NE(0, kill(first, 0)) << "the first worker still runs";
	// A task waiting for a worker ends at its own deadline meanwhile.
	task_result_t r;
	ASSERT_EQ(pool_submit_sync(pool, pp_test::noop_task, nullptr, 0,
				   nullptr, TASK_PRIORITY_NORMAL, 300, &r),
		  0);
	EXPECT_EQ(r.status, TASK_STATUS_TIMEOUT);
	pool_destroy(pool);
}

TEST(WorkerInitConfig, BadArgumentsAreRefused)
{
	pool_config_t cfg;
	char arg[8] = "x";

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = 1;
	cfg.worker_init_arg = arg; // without a function
	cfg.worker_init_arg_size = sizeof(arg);
	errno = 0;
	EXPECT_EQ(pool_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);

	cfg.worker_init = failing_init;
	cfg.worker_init_arg = nullptr; // NULL with a size
	errno = 0;
	EXPECT_EQ(pool_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);

	cfg.worker_init_arg = arg;
	cfg.worker_init_arg_size = POOL_WORKER_INIT_ARG_MAX + 1;
	errno = 0;
	EXPECT_EQ(pool_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);

	// Clean-room: a function a fresh exec could not find.
	void *heap = malloc(16);
	cfg.worker_init_arg_size = sizeof(arg);
	cfg.spawn_mode = POOL_SPAWN_CLEANROOM;
	cfg.worker_init = reinterpret_cast<pool_worker_init_t>(heap);
	errno = 0;
	EXPECT_EQ(pool_create(&cfg), nullptr);
	EXPECT_EQ(errno, EINVAL);
	free(heap);
}

} // namespace
