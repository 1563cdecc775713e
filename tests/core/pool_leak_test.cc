// Create/run/destroy cycles leave no fd, no child and no zombie behind,
// and a host that ignores SIGCHLD does not hang the pool.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace {

using namespace pp_test;

void run_cycle(int workers)
{
	pool_config_t c;
	task_result_t r;

	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	for (int i = 0; i < 20; i++) {
		int64_t v = i;
		ASSERT_EQ(0, pool_submit_sync(p, square_task, &v, sizeof(v),
					      nullptr, TASK_PRIORITY_NORMAL, 0,
					      &r));
		pool_result_free(&r);
	}
	ASSERT_EQ(0, pool_submit_sync(p, segv_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 0, &r));
	task_future_t *f = pool_submit_async(p, sleep_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	ASSERT_NE(-1, pool_future_fd(f));
	if (workers % 2) {
		ASSERT_EQ(0, pool_stop(p, 1000));
	}
	pool_destroy(p);
	pool_future_destroy(f);
}

TEST(PoolLeaks, CyclesLeaveNoFdsOrChildren)
{
	run_cycle(1);  // warm up lazily opened things (log, /proc)
	int before = pp_test::open_fds();
	for (int i = 0; i < 6; i++)
		run_cycle(1 + i % 3);
	EXPECT_EQ(before, pp_test::open_fds());
	EXPECT_TRUE(children().empty());
	// No zombie: nothing is left for this process to wait for.
	errno = 0;
	EXPECT_EQ(-1, waitpid(-1, nullptr, WNOHANG));
	EXPECT_EQ(ECHILD, errno);
}

TEST(PoolLeaks, HostIgnoringSigchldDoesNotHang)
{
	struct sigaction ign, old;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	ASSERT_EQ(0, sigaction(SIGCHLD, &ign, &old));
	run_cycle(2);
	sigaction(SIGCHLD, &old, nullptr);
}

TEST(PoolLeaks, PoolLeavesHostSignalStateAlone)
{
	sigset_t before, after;
	struct sigaction chld_before, chld_after;

	pthread_sigmask(SIG_SETMASK, nullptr, &before);
	sigaction(SIGCHLD, nullptr, &chld_before);
	run_cycle(1);
	pthread_sigmask(SIG_SETMASK, nullptr, &after);
	sigaction(SIGCHLD, nullptr, &chld_after);
	for (int s = 1; s < NSIG; s++)
		EXPECT_EQ(sigismember(&before, s), sigismember(&after, s));
	EXPECT_EQ(chld_before.sa_handler, chld_after.sa_handler);
}

}  // namespace
