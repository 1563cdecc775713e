// Workers' stdio (pool_config_t.worker_stdio), seen from real pools:
// output is captured and logged with the worker and the task, a crashing
// task's last words included; the host's stdin, stdout and their flags
// are out of a task's reach; a flood costs only its worker and logs a
// bounded number of lines; INHERIT and DISCARD do what they say; and the
// SIGIO attack on the host through a worker's stdout.
//
// Tests that need the host's own stdio to be a pipe run the pool in a
// child process of the test (the "host"), whose fds 0 and 1 are pipes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

namespace {

// ---- tasks --------------------------------------------------------------

int print_task(void *, size_t, void **, size_t *, void *)
{
	static const char line[] = "hello from stdout\n";

	if (write(1, line, sizeof(line) - 1) != (ssize_t)sizeof(line) - 1)
		return 1;
	fprintf(stderr, "hello from stderr\n");
	printf("hello from printf\n");  // line-buffered in a worker
	printf("no newline");		 // flushed when the task ends
	return 0;
}

int last_words_task(void *, size_t, void **, size_t *, void *)
{
	static const char line[] = "last words\n";

	if (write(2, line, sizeof(line) - 1) < 0)
		return 1;
	raise(SIGSEGV);
	return 0;
}

bool is_dev_null(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
	       st.st_rdev == makedev(1, 3);
}

// 0 when stdin is /dev/null and nothing of the host's input is left to
// read, through the fd or through stdio's buffer; else which failed.
int stdin_task(void *, size_t, void **, size_t *, void *)
{
	char buf[64];
	int bad = 0;

	if (!is_dev_null(0))
		bad |= 1;
	if (read(0, buf, sizeof(buf)) != 0)
		bad |= 2;
	if (fgets(buf, sizeof(buf), stdin) != nullptr)
		bad |= 4;
	return bad;
}

// Changes what a task can change on its stdout and stderr.
int toggle_task(void *, size_t, void **, size_t *, void *)
{
	for (int fd = 1; fd <= 2; fd++) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK | O_APPEND) ||
		    fcntl(fd, F_SETOWN, getpid()) ||
		    fcntl(fd, F_SETSIG, SIGWINCH))
			return errno;
	}
	return 0;
}

// Arms SIGIO on its stdout and stderr, aimed at its parent (the host),
// as SIGKILL, then writes: whoever reads next sets it off.
int attack_task(void *, size_t, void **, size_t *, void *)
{
	for (int fd = 1; fd <= 2; fd++) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETOWN, getppid()) ||
		    fcntl(fd, F_SETSIG, SIGKILL) ||
		    fcntl(fd, F_SETFL, fl | O_ASYNC))
			return errno;
		if (write(fd, "armed\n", 6) != 6)
			return errno;
	}
	return 0;
}

// Checks its fds, and uses stdio on them as a task may (no isatty()
// of stdio's own may trip the policy).
int devnull_task(void *, size_t, void **, size_t *, void *)
{
	char buf[16];

	for (int fd = 0; fd <= 2; fd++)
		if (!is_dev_null(fd))
			return 1 + fd;
	if (write(1, "into the void\n", 14) != 14)
		return 10;
	if (printf("printf into the void\n") < 0 || fflush(stdout))
		return 11;
	return fgets(buf, sizeof(buf), stdin) == nullptr ? 0 : 12;
}

int marker_task(void *, size_t, void **, size_t *, void *)
{
	return write(1, "inherit marker\n", 15) == 15 ? 0 : 1;
}

constexpr int kFloodLines = 100000;  // of 100 bytes: 10 MB

// Writes kFloodLines lines, then holds its worker until released.
int flood_task(void *, size_t, void **, size_t *, void *)
{
	static char chunk[100 * 100];
	pp_test::Board *b = pp_test::board();

	b->started++;
	for (int i = 0; i < kFloodLines; i += 100) {
		for (int k = 0; k < 100; k++) {
			char *p = chunk + k * 100;
			memset(p, 'x', 100);
			memcpy(p, "flood ", 6);
			p[99] = '\n';
		}
		for (size_t off = 0; off < sizeof(chunk);) {
			ssize_t n = write(1, chunk + off, sizeof(chunk) - off);
			if (n <= 0)
				return 1;
			off += (size_t)n;
		}
	}
	for (int i = 0; i < 20000 && !b->release; i++)
		usleep(1000);
	return 0;
}

// ---- helpers ------------------------------------------------------------

// The pool's log, in a file of its own while a test runs.
class LogFile {
      public:
	LogFile()
	{
		char tmpl[] = "/tmp/pp_stdio_XXXXXX";
		int fd = mkstemp(tmpl);
		if (fd >= 0)
			close(fd);
		path_ = tmpl;
		EXPECT_EQ(0, pool_set_log_file(nullptr, path_.c_str()));
		EXPECT_EQ(0, pool_set_log_level(nullptr, LOG_LEVEL_WARN));
	}
	~LogFile()
	{
		pool_set_log_file(nullptr, nullptr);
		unlink(path_.c_str());
	}
	// Lines holding every one of the needles.
	std::vector<std::string> lines(std::vector<std::string> needles) const
	{
		std::ifstream f(path_);
		std::vector<std::string> out;
		std::string line;
		while (std::getline(f, line)) {
			bool all = true;
			for (const std::string &n : needles)
				all = all && line.find(n) != std::string::npos;
			if (all)
				out.push_back(line);
		}
		return out;
	}

      private:
	std::string path_;
};

process_pool_t *start(int workers, int stdio_mode, int spawn_mode,
		      const char *allow = nullptr,
		      unsigned uid_base = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.worker_stdio = stdio_mode;
	c.spawn_mode = spawn_mode;
	c.seccomp_allow = allow;
	c.worker_uid_base = uid_base;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

task_result_t run(process_pool_t *p, task_func_t f)
{
	task_result_t r;
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(0, pool_submit_sync(p, f, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 20000, &r));
	return r;
}

std::string tag(int worker, const task_result_t &r)
{
	return " worker=" + std::to_string(worker) +
	       " pid=" + std::to_string(r.worker_pid) +
	       " task=" + std::to_string(r.task_id) + " ";
}

// Pipes standing in for the host's stdin and stdout, and a way back.
struct HostPipes {
	int in[2] = {-1, -1};
	int out[2] = {-1, -1};
	int ack[2] = {-1, -1};

	HostPipes()
	{
		EXPECT_EQ(0, pipe(in));
		EXPECT_EQ(0, pipe(out));
		EXPECT_EQ(0, pipe(ack));
	}
	~HostPipes()
	{
		for (int fd : {in[0], in[1], out[0], out[1], ack[0], ack[1]})
			if (fd >= 0)
				close(fd);
	}
	// In the host: the pipes become fds 0 and 1.
	void become_stdio()
	{
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		close(ack[1]);
	}
};

// Reads the host's stdout until want shows up or the host is gone.
std::string read_until(int fd, const std::string &want)
{
	std::string got;
	char buf[4096];

	while (got.find(want) == std::string::npos) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 30000) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		got.append(buf, (size_t)n);
	}
	return got;
}

// ---- capture ------------------------------------------------------------

class Capture : public ::testing::TestWithParam<int> {};

TEST_P(Capture, LinesAreLoggedWithWorkerAndTask)
{
	LogFile log;
	process_pool_t *p = start(1, POOL_STDIO_CAPTURE, GetParam());
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, print_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_destroy(p);  // the last bytes are read when it is reaped
	std::string t = tag(0, r);
	std::string who = " worker=0 pid=" + std::to_string(r.worker_pid) + " ";
	for (const char *what : {"hello from stdout", "hello from stderr",
				 "hello from printf", "no newline"}) {
		auto l = log.lines({"event=worker_output" + who,
				    std::string("line=\"") + what + "\""});
		ASSERT_EQ(1u, l.size()) << what << " from" << who;
		// Named after its task, or, when the lane's task ended while
		// the pipe was being read, honestly ambiguous ("task=?"):
		// never another task's id.
		EXPECT_TRUE(l[0].find(t) != std::string::npos ||
			    l[0].find(who + "task=? ") != std::string::npos)
		    << l[0];
	}
}

// A crashing task's last words are read before its worker is buried,
// and named after it.
TEST_P(Capture, CrashingTasksLastWordsAreLogged)
{
	LogFile log;
	process_pool_t *p = start(1, POOL_STDIO_CAPTURE, GetParam());
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, last_words_task);
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status) << r.detail;
	pool_destroy(p);
	EXPECT_EQ(1u, log.lines({"event=worker_output" + tag(0, r),
				 "line=\"last words\""})
			  .size());
}

// The host's stdin is not the task's: fd 0 is /dev/null, and a forked
// worker's stdio buffer keeps none of what the host had read.
TEST_P(Capture, HostStdinIsOutOfReach)
{
	HostPipes io;
	static const char secret[] = "secret host input\nmore\n";
	ASSERT_EQ((ssize_t)sizeof(secret) - 1,
		  write(io.in[1], secret, sizeof(secret) - 1));
	int mode = GetParam();
	pid_t host = pp_test::spawn_child([&io, mode] {
		io.become_stdio();
		if (getc(stdin) != 's')  // the rest now sits in stdin's buffer
			return 90;
		process_pool_t *p = start(1, POOL_STDIO_CAPTURE, mode);
		if (!p)
			return 91;
		task_result_t r = run(p, stdin_task);
		pool_destroy(p);
		return r.status == TASK_STATUS_COMPLETED ? 0
		       : r.status == TASK_STATUS_FAILED  ? r.return_code
							 : 92;
	});
	EXPECT_EQ(0, pp_test::wait_child(host, 60000))
	    << "1: fd 0 is not /dev/null, 2: read the host's input, "
	       "4: read stdio's buffer of it";
}

// Flags, owner and signal of the host's stdout stay the host's, whatever
// a task does to its own (fcntl allowed whole, so that this rests on the
// stdio alone).
TEST(Stdio, HostStdoutFlagsAreOutOfReach)
{
	HostPipes io;
	pid_t host = pp_test::spawn_child([&io] {
		io.become_stdio();
		int fl = fcntl(1, F_GETFL), own = fcntl(1, F_GETOWN),
		    sig = fcntl(1, F_GETSIG);
		process_pool_t *p = start(1, POOL_STDIO_CAPTURE,
					  POOL_SPAWN_FORK, "fcntl");
		if (!p)
			return 90;
		task_result_t r = run(p, toggle_task);
		pool_destroy(p);
		if (r.status != TASK_STATUS_COMPLETED)
			return 91;
		return (fcntl(1, F_GETFL) != fl ? 1 : 0) |
		       (fcntl(1, F_GETOWN) != own ? 2 : 0) |
		       (fcntl(1, F_GETSIG) != sig ? 4 : 0);
	});
	close(io.out[1]);
	io.out[1] = -1;
	read_until(io.out[0], "\x01");  // until the host is gone
	EXPECT_EQ(0, pp_test::wait_child(host, 60000))
	    << "1: flags changed, 2: SIGIO owner changed, 4: signal changed";
}

// A worker that floods its stdout holds up nobody else, and the parent
// logs at most its rate of lines a second; every line is either logged
// or counted as dropped.
TEST(Stdio, FloodCostsOnlyItsWorker)
{
	LogFile log;
	pp_test::reset_board();  // shared with the workers: before the pool
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	process_pool_t *p = start(2, POOL_STDIO_CAPTURE, POOL_SPAWN_FORK);
	ASSERT_NE(nullptr, p);
	task_future_t *flood = pool_submit_async(
	    p, flood_task, nullptr, 0, nullptr, TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, flood);
	for (int i = 0; i < 20000 && pp_test::board()->started < 1; i++)
		usleep(1000);
	ASSERT_EQ(1, pp_test::board()->started.load());
	for (int i = 0; i < 20; i++) {
		task_result_t r = run(p, pp_test::noop_task);
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	}
	pp_test::board()->release = 1;
	task_result_t fr;
	ASSERT_EQ(0, pool_future_wait(flood, &fr, -1));
	EXPECT_EQ(TASK_STATUS_COMPLETED, fr.status) << fr.detail;
	pool_future_destroy(flood);
	pool_destroy(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	std::string who = " pid=" + std::to_string(fr.worker_pid) + " ";
	size_t logged = log.lines({"event=worker_output ", who,
				   "line=\"flood xxx"})
			    .size();
	unsigned long long dropped = 0;
	for (const std::string &l :
	     log.lines({"event=worker_output_dropped", who})) {
		size_t at = l.find("lines=");
		ASSERT_NE(std::string::npos, at) << l;
		dropped += strtoull(l.c_str() + at + 6, nullptr, 10);
	}
	EXPECT_EQ((unsigned long long)kFloodLines, logged + dropped);
	double seconds = (double)(t1.tv_sec - t0.tv_sec) +
			 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	EXPECT_LE((double)logged, 100.0 * (seconds + 2)) << seconds << " s";
	EXPECT_GT(logged, 0u);
}

// Writes to stdout as fast as it can for (int)user_data milliseconds.
int write_flat_out_task(void *, size_t, void **, size_t *, void *ud)
{
	static char chunk[64 * 1024];
	struct timespec t0, t;

	memset(chunk, 'y', sizeof(chunk));
	for (size_t i = 99; i < sizeof(chunk); i += 100)
		chunk[i] = '\n';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (write(1, chunk, sizeof(chunk)) < 0)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000 <
		 (intptr_t)ud);
	return 0;
}

double process_cpu_s()
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

// The parent reads a worker's output up to a byte budget a second, then
// stops watching it until the next second: a task that writes as fast
// as a pipe allows is slowed to that budget, and costs the parent little
// CPU (reading at the pipe's speed would cost it a whole core).
TEST(Stdio, AnOutputFloodIsReadAtABudget)
{
	LogFile log;
	process_pool_t *p = start(2, POOL_STDIO_CAPTURE, POOL_SPAWN_FORK);
	ASSERT_NE(nullptr, p);
	double before = process_cpu_s();
	task_future_t *f = pool_submit_async(p, write_flat_out_task, nullptr,
					     0, (void *)1500,
					     TASK_PRIORITY_NORMAL, 0);
	ASSERT_NE(nullptr, f);
	task_result_t r;
	ASSERT_EQ(0, pool_future_wait(f, &r, 60000));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	double used = process_cpu_s() - before;
	EXPECT_LT(used, 0.3) << "the parent's CPU seconds over the flood";
	pool_future_destroy(f);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, pp_test::noop_task).status);
	pool_destroy(p);
}

// DISCARD: fds 0, 1 and 2 are /dev/null, and nothing is logged.
TEST_P(Capture, DiscardSendsEverythingToDevNull)
{
	LogFile log;
	process_pool_t *p = start(1, POOL_STDIO_DISCARD, GetParam());
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, devnull_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.return_code;
	pool_destroy(p);
	EXPECT_EQ(0u, log.lines({"event=worker_output"}).size());
}

// INHERIT: the host's own stdout, as before the option.
TEST(Stdio, InheritWritesToTheHostsStdout)
{
	HostPipes io;
	pid_t host = pp_test::spawn_child([&io] {
		io.become_stdio();
		process_pool_t *p =
		    start(1, POOL_STDIO_INHERIT, POOL_SPAWN_FORK);
		if (!p)
			return 90;
		task_result_t r = run(p, marker_task);
		pool_destroy(p);
		return r.status == TASK_STATUS_COMPLETED ? 0 : 91;
	});
	close(io.out[1]);
	io.out[1] = -1;
	std::string got = read_until(io.out[0], "inherit marker\n");
	EXPECT_NE(std::string::npos, got.find("inherit marker\n")) << got;
	EXPECT_EQ(0, pp_test::wait_child(host, 60000));
}

TEST(Stdio, ModeAndRateAreChecked)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.worker_stdio = 3;
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	c.worker_stdio = -1;
	EXPECT_EQ(nullptr, pool_create(&c));
	c.worker_stdio = POOL_STDIO_CAPTURE;
	c.worker_output_rate = 100001;
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
}

// ---- the SIGIO attack ---------------------------------------------------

// Runs attack_task in a pool of a host whose stdout is a pipe read here,
// and says whether the host lived: it writes "done" after the task, and
// exits 0 once this side has read that (the read that sets off an armed
// SIGIO) and answered.
int host_after_attack(int stdio_mode, unsigned uid_base)
{
	HostPipes io;
	pid_t host = pp_test::spawn_child([&io, stdio_mode, uid_base] {
		io.become_stdio();
		process_pool_t *p = start(1, stdio_mode, POOL_SPAWN_FORK,
					  "fcntl", uid_base);
		if (!p)
			return 90;
		task_result_t r = run(p, attack_task);
		if (r.status != TASK_STATUS_COMPLETED)
			return 91;
		if (write(1, "done\n", 5) != 5)
			return 92;
		char c;
		struct pollfd q = {io.ack[0], POLLIN, 0};
		if (poll(&q, 1, 30000) != 1 || read(io.ack[0], &c, 1) != 1)
			return 93;
		pool_destroy(p);
		return 0;
	});
	close(io.out[1]);
	io.out[1] = -1;
	read_until(io.out[0], "done\n");
	if (write(io.ack[1], "k", 1) != 1)
		return -1;
	return pp_test::wait_child(host, 60000);
}

// DISCARD: the task arms /dev/null, which no one reads: the host lives,
// even with the host's own uid and fcntl allowed whole.
TEST(StdioAttack, DiscardAloneProtectsTheHost)
{
	EXPECT_EQ(0, host_after_attack(POOL_STDIO_DISCARD,
				       POOL_WORKER_UID_HOST));
}

// Whether per-slot uids apply here (see identity_test).
std::string no_slot_uids()
{
	if (geteuid() != 0)
		return "needs root: the per-slot uid is what stops SIGIO at the "
		       "host here (a worker of the host's uid can arm SIGIO on "
		       "its own output pipe, which the pool reads; the "
		       "seccomp conditions on fcntl are the other layer)";
	FILE *f = fopen("/proc/self/uid_map", "r");
	unsigned long long in, out, n;
	bool ok = false;
	while (f && fscanf(f, "%llu %llu %llu", &in, &out, &n) == 3)
		ok |= POOL_WORKER_UID_BASE_DEFAULT >= in &&
		      POOL_WORKER_UID_BASE_DEFAULT +
			      (unsigned long long)POOL_WORKER_UID_COUNT_DEFAULT <=
			  in + n;
	if (f)
		fclose(f);
	return ok ? "" : "the per-slot uids are not mapped here";
}

// CAPTURE, the default, as root: the worker's own pipe is armed, and the
// pool reads it; the per-slot uid makes the kernel refuse the signal.
TEST(StdioAttack, CaptureWithSlotUidProtectsTheHost)
{
	std::string why = no_slot_uids();
	if (!why.empty())
		GTEST_SKIP() << why;
	EXPECT_EQ(0, host_after_attack(POOL_STDIO_CAPTURE, 0));
}

// INHERIT, as root: the host's own stdout is armed, and the uid alone
// stops the signal.
TEST(StdioAttack, InheritWithSlotUidProtectsTheHost)
{
	std::string why = no_slot_uids();
	if (!why.empty())
		GTEST_SKIP() << why;
	EXPECT_EQ(0, host_after_attack(POOL_STDIO_INHERIT, 0));
}

INSTANTIATE_TEST_SUITE_P(SpawnModes, Capture,
			 ::testing::Values(POOL_SPAWN_FORK,
					   POOL_SPAWN_CLEANROOM));

}  // namespace
