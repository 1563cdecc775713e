// Seccomp learning mode, from inside real workers: a task that needs
// syscalls beyond the policy completes, the pool lists what it needed,
// and that list pasted into seccomp_allow runs the task confined.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"

using pp_test::noop_task;

namespace {

int socket_open_task(void *, size_t, void **, size_t *, void *)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int fd = open("/etc/hostname", O_RDONLY);
	int rc = s < 0 || fd < 0 ? errno : 0;

	if (s >= 0)
		close(s);
	if (fd >= 0)
		close(fd);
	return rc;
}

// Learning starts a thread in a forked worker of a threaded host, which
// TSan refuses (die_after_fork).
bool tsan()
{
#if defined(__SANITIZE_THREAD__)
	return true;
#else
	return false;
#endif
}

// Every test starts with this: TSan kills the worker, so no pool at all.
#define SKIP_UNDER_TSAN()                                                      \
	do {                                                                   \
		if (tsan())                                                    \
			GTEST_SKIP() << "ThreadSanitizer cannot start the "    \
					"learning listener thread in a forked "\
					"worker (die_after_fork)";             \
	} while (0)

#define SKIP_WITHOUT_LEARNING(p)                                               \
	do {                                                                   \
		if (!(p) && errno == ENOSYS)                                   \
			GTEST_SKIP() << "kernel lacks SECCOMP_RET_USER_NOTIF " \
					"with CONTINUE (Linux 5.5)";           \
		ASSERT_NE(nullptr, p);                                         \
	} while (0)

process_pool_t *make(int learn, const char *allow,
		     int spawn_mode = POOL_SPAWN_FORK)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.spawn_mode = spawn_mode;
	c.seccomp_learn = learn;
	c.seccomp_allow = allow;
	errno = 0;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p) != 0) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

task_result_t run(process_pool_t *p, task_func_t f)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_sync(p, f, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 10000, &r));
	return r;
}

std::string learned(process_pool_t *p)
{
	char buf[4096];
	int n = pool_seccomp_learned(p, buf, sizeof(buf));
	EXPECT_GE(n, 0) << pool_errname(n);
	EXPECT_EQ((size_t)(n < 0 ? 0 : n), strlen(buf));
	return buf;
}

bool listed(const std::string &list, const std::string &name)
{
	return ("," + list + ",").find("," + name + ",") != std::string::npos;
}

TEST(SeccompLearn, TaskCompletesAndWhatItNeededIsListed)
{
	SKIP_UNDER_TSAN();
	process_pool_t *p = make(1, nullptr);
	SKIP_WITHOUT_LEARNING(p);
	task_result_t r = run(p, socket_open_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_EQ(0, r.return_code) << strerror(r.return_code);
	std::string list = learned(p);
	EXPECT_TRUE(listed(list, "socket")) << list;
	EXPECT_TRUE(listed(list, "openat") || listed(list, "open")) << list;
	// Nothing the policy allows is listed.
	EXPECT_FALSE(listed(list, "close")) << list;
	EXPECT_FALSE(listed(list, "write")) << list;
	pool_destroy(p);

	// The list, pasted into seccomp_allow, runs the task confined.
	p = make(0, list.c_str());
	ASSERT_NE(nullptr, p) << list;
	r = run(p, socket_open_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_destroy(p);
	// And without it the same task is a violation.
	p = make(0, nullptr);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, run(p, socket_open_task).status);
	pool_destroy(p);
}

// A clean-room worker gets the learning filter from the setup the parent
// wrote, and learns the same way.
TEST(SeccompLearn, CleanRoomWorkersLearnToo)
{
	SKIP_UNDER_TSAN();
	process_pool_t *p = make(1, nullptr, POOL_SPAWN_CLEANROOM);
	SKIP_WITHOUT_LEARNING(p);
	task_result_t r = run(p, socket_open_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::string list = learned(p);
	EXPECT_TRUE(listed(list, "socket")) << list;
	pool_destroy(p);
}

TEST(SeccompLearn, PlainTaskLearnsNothing)
{
	SKIP_UNDER_TSAN();
	process_pool_t *p = make(1, nullptr);
	SKIP_WITHOUT_LEARNING(p);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, noop_task).status);
	EXPECT_EQ("", learned(p));
	pool_destroy(p);
}

TEST(SeccompLearn, LearnedApiArguments)
{
	SKIP_UNDER_TSAN();
	char buf[64];
	EXPECT_EQ(POOL_EINVAL, pool_seccomp_learned(nullptr, buf, sizeof(buf)));
	process_pool_t *p = make(0, nullptr);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(POOL_EINVAL, pool_seccomp_learned(p, nullptr, 8));
	EXPECT_EQ(POOL_EINVAL, pool_seccomp_learned(p, buf, 0));
	// Not learning: nothing to list.
	EXPECT_EQ(POOL_ESTATE, pool_seccomp_learned(p, buf, sizeof(buf)));
	pool_destroy(p);

	p = make(1, nullptr);
	SKIP_WITHOUT_LEARNING(p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, socket_open_task).status);
	char tiny[4] = "xyz";
	EXPECT_EQ(POOL_EMSGSIZE, pool_seccomp_learned(p, tiny, sizeof(tiny)));
	EXPECT_STREQ("", tiny);
	pool_destroy(p);
}

TEST(SeccompLearn, EnvironmentTurnsItOn)
{
	SKIP_UNDER_TSAN();
	setenv("PROCESS_POOL_SECCOMP_LEARN", "1", 1);
	process_pool_t *p = make(0, nullptr);
	unsetenv("PROCESS_POOL_SECCOMP_LEARN");
	SKIP_WITHOUT_LEARNING(p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, socket_open_task).status);
	EXPECT_TRUE(listed(learned(p), "socket")) << learned(p);
	pool_destroy(p);
}

int getuid_task(void *, size_t, void **, size_t *, void *)
{
	return getuid() == (uid_t)-1 ? 1 : 0;
}

// Learning keeps the pool's own policy: under the strict profile even
// getuid is beyond it, and is learned; under the default one it is not.
TEST(SeccompLearn, LearnsAgainstThePoolsProfile)
{
	SKIP_UNDER_TSAN();
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_learn = 1;
	c.seccomp_profile = 1;
	errno = 0;
	process_pool_t *p = pool_create(&c);
	SKIP_WITHOUT_LEARNING(p);
	ASSERT_EQ(0, pool_start(p));
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, getuid_task).status);
	EXPECT_EQ("getuid", learned(p));
	pool_destroy(p);
	p = make(1, nullptr);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, getuid_task).status);
	EXPECT_EQ("", learned(p));
	pool_destroy(p);
}

// One log line per task that needed more, and the whole allow-list at
// WARN when the pool stops.
TEST(SeccompLearn, TasksAndThePolicyAreLogged)
{
	SKIP_UNDER_TSAN();
	char path[] = "/tmp/pp-learn-log-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	close(fd);
	ASSERT_EQ(0, pool_set_log_file(nullptr, path));
	ASSERT_EQ(0, pool_set_log_level(nullptr, LOG_LEVEL_INFO));
	process_pool_t *p = make(1, nullptr);
	if (p) {
		EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, noop_task).status);
		EXPECT_EQ(TASK_STATUS_COMPLETED,
			  run(p, socket_open_task).status);
		pool_stop(p, -1);
	}
	pool_set_log_file(nullptr, nullptr);
	pool_set_log_level(nullptr, LOG_LEVEL_WARN);
	std::ifstream in(path);
	std::stringstream all;
	all << in.rdbuf();
	unlink(path);
	SKIP_WITHOUT_LEARNING(p);
	std::string log = all.str();
	size_t task = log.find("seccomp_learned task=");
	ASSERT_NE(std::string::npos, task) << log;
	EXPECT_EQ(std::string::npos, log.find("seccomp_learned task=", task + 1))
		<< "the noop task needed nothing: " << log;
	EXPECT_NE(std::string::npos,
		  log.find("socket", task)) << log;
	size_t sum = log.find("seccomp_learned_policy");
	ASSERT_NE(std::string::npos, sum) << log;
	EXPECT_NE(std::string::npos, log.find("seccomp_allow=\"", sum)) << log;
	pool_destroy(p);
}

}  // namespace
