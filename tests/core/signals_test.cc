// Opt-in signals: with the signals blocked in every thread and
// pool_handle_signals called, SIGHUP restarts the workers, SIGUSR1 reopens
// the log file, SIGTERM and SIGINT stop the pool after a drain; without
// it, the pool leaves the signals alone. Each test runs in a forked
// child (single-threaded at fork, so the mask it sets covers every thread
// it then starts) and reports through its exit code.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace
{

using namespace pp_test;

process_pool_t *make(int workers, int max_workers)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.max_workers = max_workers;
	strcpy(c.pool_name, "signals");
	return pool_create(&c);
}

std::set<int> pids(process_pool_t *p)
{
	pool_worker_info_t w[8];
	int n = pool_get_workers(p, w, 8);
	std::set<int> out;
	for (int i = 0; i < n; i++)
		out.insert(w[i].pid);
	return out;
}

bool file_has(const std::string &path, const char *text)
{
	FILE *f = fopen(path.c_str(), "r");
	if (!f)
		return false;
	std::string all;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		all.append(buf, n);
	fclose(f);
	return all.find(text) != std::string::npos;
}

int in_child(const std::function<int()> &fn)
{
	pid_t pid = spawn_child(fn);
	return wait_child(pid, 60000);
}

// SIGHUP: a rolling restart; every worker is new once it is over.
TEST(Signals, HupRestartsTheWorkers)
{
	EXPECT_EQ(0, in_child([] {
			  if (pool_block_signals(POOL_SIGNALS_ALL))
				  return 1;
			  process_pool_t *p = make(2, 3);
			  if (!p || pool_start(p))
				  return 2;
			  if (pool_handle_signals(p, POOL_SIGNALS_ALL, 5000))
				  return 3;
			  std::set<int> before;
			  for (int i = 0; i < 5000 && before.size() < 2; i++) {
				  before = pids(p);
				  usleep(1000);
			  }
			  kill(getpid(), SIGHUP);
			  pool_stats_t s;
			  for (int i = 0; i < 20000; i++) {
				  pool_get_stats(p, &s);
				  if (s.pool_restarts == 1 && !s.restarting)
					  break;
				  usleep(1000);
			  }
			  if (s.pool_restarts != 1)
				  return 4;
			  for (int pid : pids(p))
				  if (before.count(pid))
					  return 5;
			  pool_destroy(p);
			  return 0;
		  }));
}

// SIGUSR1: the pool's log file is opened again by its path, so a rotated
// file (renamed away) is replaced by a new one.
TEST(Signals, Usr1ReopensTheLogFile)
{
	const char *dir = getenv("TEST_TMPDIR");
	std::string path = std::string(dir && *dir ? dir : "/tmp") +
			   "/signals_usr1_" + std::to_string(getpid()) + ".log";
	EXPECT_EQ(0, in_child([&] {
			  if (pool_block_signals(POOL_SIGNAL_USR1))
				  return 1;
			  process_pool_t *p = make(1, 1);
			  if (!p || pool_set_log_level(p, LOG_LEVEL_INFO) ||
			      pool_set_log_file(p, path.c_str()) ||
			      pool_start(p))
				  return 2;
			  if (pool_handle_signals(p, POOL_SIGNAL_USR1, 0))
				  return 3;
			  std::string rotated = path + ".1";
			  if (rename(path.c_str(), rotated.c_str()))
				  return 4;
			  kill(getpid(), SIGUSR1);
			  for (int i = 0; i < 10000 &&
					  !file_has(path, "event=log_reopened");
			       i++)
				  usleep(1000);
			  if (!file_has(path, "event=log_reopened"))
				  return 5;
			  if (!file_has(rotated, "event=pool_started"))
				  return 6;
			  pool_destroy(p);
			  unlink(rotated.c_str());
			  unlink(path.c_str());
			  return 0;
		  }));
}

// SIGTERM: no new task is accepted, the running and queued ones finish
// within the drain, and pool_wait_stopped returns once the pool stopped.
TEST(Signals, TermDrainsThenStops)
{
	EXPECT_EQ(0, in_child([] {
			  if (pool_block_signals(POOL_SIGNALS_ALL))
				  return 1;
			  process_pool_t *p = make(2, 2);
			  if (!p || pool_start(p))
				  return 2;
			  if (pool_handle_signals(p, POOL_SIGNALS_ALL, 30000))
				  return 3;
			  task_future_t *f[6];
			  for (auto &x : f) {
				  x = pool_submit_async(
				      p, sleep_task, nullptr, 0,
				      reinterpret_cast<void *>(intptr_t{100}),
				      TASK_PRIORITY_NORMAL, 0);
				  if (!x)
					  return 4;
			  }
			  kill(getpid(), SIGTERM);
			  if (pool_wait_stopped(p, -1))
				  return 5;
			  for (auto &x : f) {
				  task_result_t r;
				  if (pool_future_wait(x, &r, 0) ||
				      r.status != TASK_STATUS_COMPLETED)
					  return 6;
				  pool_future_destroy(x);
			  }
			  task_result_t r;
			  if (pool_submit_sync(p, noop_task, nullptr, 0,
					       nullptr, TASK_PRIORITY_NORMAL, 0,
					       &r) != POOL_ESTATE)
				  return 7;
			  pool_health_t h;
			  if (pool_health(p, &h) ||
			      h.state != POOL_HEALTH_FAILING)
				  return 8;
			  pool_destroy(p);
			  return 0;
		  }));
}

// SIGINT is a stop too; past the drain (none here) what still runs is
// cancelled.
TEST(Signals, IntPastTheDrainCancels)
{
	EXPECT_EQ(0, in_child([] {
			  if (pool_block_signals(POOL_SIGNAL_TERM))
				  return 1;
			  process_pool_t *p = make(1, 1);
			  if (!p || pool_start(p))
				  return 2;
			  if (pool_handle_signals(p, POOL_SIGNAL_TERM, 0))
				  return 3;
			  task_future_t *f = pool_submit_async(
			      p, hang_task, nullptr, 0, nullptr,
			      TASK_PRIORITY_NORMAL, POOL_NO_TIMEOUT);
			  if (!f)
				  return 4;
			  usleep(50000);
			  kill(getpid(), SIGINT);
			  if (pool_wait_stopped(p, 30000))
				  return 5;
			  task_result_t r;
			  if (pool_future_wait(f, &r, 0) ||
			      r.status != TASK_STATUS_CANCELLED)
				  return 6;
			  pool_future_destroy(f);
			  pool_destroy(p);
			  return 0;
		  }));
}

// Without pool_handle_signals the pool reads no signal: a blocked SIGHUP
// stays pending for the application, and nothing restarts. With a set
// that lacks SIGUSR1, SIGUSR1 stays pending as well.
TEST(Signals, LeftAloneUnlessAsked)
{
	EXPECT_EQ(0, in_child([] {
			  if (pool_block_signals(POOL_SIGNALS_ALL))
				  return 1;
			  process_pool_t *p = make(1, 2);
			  if (!p || pool_start(p))
				  return 2;
			  kill(getpid(), SIGHUP);
			  usleep(200000);
			  sigset_t pending;
			  sigpending(&pending);
			  if (!sigismember(&pending, SIGHUP))
				  return 3;
			  if (pool_handle_signals(p, POOL_SIGNAL_TERM, 0))
				  return 4;
			  kill(getpid(), SIGUSR1);
			  usleep(200000);
			  sigpending(&pending);
			  if (!sigismember(&pending, SIGUSR1) ||
			      !sigismember(&pending, SIGHUP))
				  return 5;
			  pool_stats_t s;
			  pool_get_stats(p, &s);
			  if (s.pool_restarts != 0)
				  return 6;
			  pool_destroy(p);
			  return 0;
		  }));
}

// pool_wait_stopped also returns when another thread calls pool_stop,
// and times out while the pool runs.
TEST(Signals, WaitStoppedSeesPoolStop)
{
	process_pool_t *p = make(1, 1);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(POOL_ESTATE, pool_wait_stopped(p, 0));
	EXPECT_EQ(POOL_ESTATE, pool_handle_signals(p, POOL_SIGNALS_ALL, 0));
	ASSERT_EQ(0, pool_start(p));
	EXPECT_EQ(POOL_ETIMEDOUT, pool_wait_stopped(p, 50));
	EXPECT_EQ(POOL_EINVAL, pool_handle_signals(p, 0x80, 0));
	EXPECT_EQ(POOL_EINVAL, pool_block_signals(0x80));
	std::thread stopper([p] {
		usleep(100000);
		pool_stop(p, 1000);
	});
	EXPECT_EQ(0, pool_wait_stopped(p, -1));
	stopper.join();
	EXPECT_EQ(0, pool_wait_stopped(p, 0));
	pool_destroy(p);
}

} // namespace
