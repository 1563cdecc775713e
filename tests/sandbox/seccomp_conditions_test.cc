// The argument conditions of the default seccomp profile and its groups,
// checked from inside real workers: each refused form of a syscall ends
// the task SANDBOX_VIOLATION naming the syscall (under both seccomp
// actions), each form the runtime and ordinary code need still works.
//
// The refused forms are called with harmless arguments (an owner of 0,
// an unlock, a limit put back): what is checked is that the filter stops
// them, not what they would have done.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <asm/prctl.h>
#endif

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"

using pp_test::noop_task;

namespace
{

// Every worker holds stderr, shared with the host: the fd the fcntl
// probes work on.
const int kFd = 2;

process_pool_t *start(const char *allow, int errno_mode = 0,
		      int spawn_mode = POOL_SPAWN_FORK)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_allow = allow;
	c.seccomp_errno = errno_mode;
	c.spawn_mode = spawn_mode;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p) != 0) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

task_result_t run(process_pool_t *p, task_func_t f, intptr_t arg = 0,
		  const void *in = nullptr, size_t n = 0)
{
	task_result_t r;
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(0, pool_submit_sync(p, f, const_cast<void *>(in), n,
				      reinterpret_cast<void *>(arg),
				      TASK_PRIORITY_NORMAL, 10000, &r));
	return r;
}

void expect_refused(process_pool_t *p, task_func_t f, intptr_t arg,
		    const char *syscall, const std::string &what,
		    const void *in = nullptr, size_t n = 0)
{
	task_result_t r = run(p, f, arg, in, n);
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status)
	    << what << ": " << pool_task_status_str(r.status) << " "
	    << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, syscall))
	    << what << ": " << r.detail;
	pool_result_free(&r);
}

void expect_allowed(process_pool_t *p, task_func_t f, intptr_t arg,
		    const std::string &what, const void *in = nullptr,
		    size_t n = 0)
{
	task_result_t r = run(p, f, arg, in, n);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status)
	    << what << ": " << pool_task_status_str(r.status) << " " << r.detail
	    << " (return " << r.return_code << ")";
	pool_result_free(&r);
}

// The syscall ran and answered, whatever the answer: the task returned.
void expect_answered(process_pool_t *p, task_func_t f, intptr_t arg,
		     const std::string &what)
{
	task_result_t r = run(p, f, arg);
	EXPECT_TRUE(r.status == TASK_STATUS_COMPLETED ||
		    r.status == TASK_STATUS_FAILED)
	    << what << ": " << pool_task_status_str(r.status) << " "
	    << r.detail;
	pool_result_free(&r);
}

// ---- fcntl -------------------------------------------------------------

// fcntl(kFd, cmd, a harmless argument): 0, or the errno it failed with.
int fcntl_task(void *, size_t, void **, size_t *, void *ud)
{
	int cmd = static_cast<int>(reinterpret_cast<intptr_t>(ud));
	struct flock lk;
	struct f_owner_ex owner = {F_OWNER_PID, 0};
	uint64_t hint = 0; // RWH_WRITE_LIFE_NOT_SET
	long r;

	memset(&lk, 0, sizeof(lk));
	lk.l_type = F_UNLCK;
	lk.l_whence = SEEK_SET;
	switch (cmd) {
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		r = syscall(SYS_fcntl, kFd, cmd, &lk);
		break;
	case F_GETOWN_EX:
	case F_SETOWN_EX:
		r = syscall(SYS_fcntl, kFd, cmd, &owner);
		break;
	case F_GET_RW_HINT:
	case F_SET_RW_HINT:
		r = syscall(SYS_fcntl, kFd, cmd, &hint);
		break;
	case F_SETLEASE:
		r = syscall(SYS_fcntl, kFd, cmd, F_UNLCK);
		break;
	case F_SETPIPE_SZ:
		r = syscall(SYS_fcntl, kFd, cmd, 4096);
		break;
	case F_SETFD:
		r = syscall(SYS_fcntl, kFd, cmd, FD_CLOEXEC);
		break;
	default: // owner 0 (none), signal 0 (SIGIO), no seals, no events
		r = syscall(SYS_fcntl, kFd, cmd, 0);
		break;
	}
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		close(static_cast<int>(r));
	return r < 0 ? errno : 0;
}

// F_SETFL with the flags the fd has plus (int)user_data, then back.
int setfl_task(void *, size_t, void **, size_t *, void *ud)
{
	int add = static_cast<int>(reinterpret_cast<intptr_t>(ud));
	int fl = fcntl(kFd, F_GETFL);
	if (fl < 0)
		return errno;
	int err = fcntl(kFd, F_SETFL, fl | add) < 0 ? errno : 0;
	fcntl(kFd, F_SETFL, fl);
	return err;
}

struct Cmd {
	int cmd;
	const char *name;
};

#define CMD(c)                                                                 \
	{                                                                      \
		c, #c                                                          \
	}

// Commands that reach beyond the worker's own fd table: SIGIO aimed at
// a process, leases and dnotify (signals too), record locks (which can
// block the host on a file it shares), seals, pipe sizes, write hints.
const Cmd kRefusedFcntl[] = {
    CMD(F_SETOWN),     CMD(F_SETOWN_EX),   CMD(F_GETOWN),      CMD(F_GETOWN_EX),
    CMD(F_SETSIG),     CMD(F_GETSIG),	   CMD(F_SETLEASE),    CMD(F_GETLEASE),
    CMD(F_NOTIFY),     CMD(F_GETLK),	   CMD(F_SETLK),       CMD(F_SETLKW),
    CMD(F_OFD_GETLK),  CMD(F_OFD_SETLK),   CMD(F_OFD_SETLKW),  CMD(F_ADD_SEALS),
    CMD(F_SETPIPE_SZ), CMD(F_GET_RW_HINT), CMD(F_SET_RW_HINT),
};

const Cmd kAllowedFcntl[] = {
    CMD(F_DUPFD), CMD(F_DUPFD_CLOEXEC), CMD(F_GETFD),
    CMD(F_SETFD), CMD(F_GETFL),
};

TEST(SeccompConditions, FcntlRefusesCommandsThatReachBeyondTheWorker)
{
	for (int errno_mode = 0; errno_mode <= 1; errno_mode++) {
		process_pool_t *p = start(nullptr, errno_mode);
		ASSERT_NE(nullptr, p);
		for (const Cmd &c : kRefusedFcntl)
			expect_refused(p, fcntl_task, c.cmd, "fcntl",
				       std::string(c.name) + " errno_mode=" +
					   std::to_string(errno_mode));
		pool_destroy(p);
	}
}

TEST(SeccompConditions, FcntlSetflRefusesAsyncAndDirect)
{
	for (int errno_mode = 0; errno_mode <= 1; errno_mode++) {
		process_pool_t *p = start(nullptr, errno_mode);
		ASSERT_NE(nullptr, p);
		expect_refused(p, setfl_task, O_ASYNC, "fcntl", "O_ASYNC");
		expect_refused(p, setfl_task, O_DIRECT, "fcntl", "O_DIRECT");
		expect_refused(p, setfl_task, O_NONBLOCK | O_ASYNC, "fcntl",
			       "O_NONBLOCK|O_ASYNC");
		pool_destroy(p);
	}
}

TEST(SeccompConditions, FcntlAllowsFdTableAndStatusFlags)
{
	process_pool_t *p = start(nullptr);
	ASSERT_NE(nullptr, p);
	for (const Cmd &c : kAllowedFcntl) {
		task_result_t r = run(p, fcntl_task, c.cmd);
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status)
		    << c.name << " " << r.detail;
		EXPECT_EQ(0, r.return_code) << c.name;
	}
	// Allowed, whatever they answer on this fd (stderr may not be a
	// pipe or a memfd).
	expect_answered(p, fcntl_task, F_GET_SEALS, "F_GET_SEALS");
	expect_answered(p, fcntl_task, F_GETPIPE_SZ, "F_GETPIPE_SZ");
	task_result_t r = run(p, setfl_task, O_NONBLOCK);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_EQ(0, r.return_code);
	pool_destroy(p);
}

// A syscall named on its own is granted whole, as before.
TEST(SeccompConditions, FcntlNamedOnItsOwnIsWhole)
{
	process_pool_t *p = start("fcntl");
	ASSERT_NE(nullptr, p);
	expect_allowed(p, fcntl_task, F_SETOWN, "F_SETOWN");
	pool_destroy(p);
}

// ---- the attack the fcntl conditions close, end to end -----------------

// Arms SIGIO on the worker's stdout, with SIGKILL as the signal and the
// host as its target.
int sigio_at_host_task(void *, size_t, void **, size_t *, void *)
{
	if (fcntl(1, F_SETOWN, getppid()) < 0 ||
	    fcntl(1, F_SETSIG, SIGKILL) < 0)
		return errno;
	int fl = fcntl(1, F_GETFL);
	return fl < 0 || fcntl(1, F_SETFL, fl | O_ASYNC) < 0 ? errno : 0;
}

// The host runs in a child of the test with a pipe as its stdout, so
// that a host killed by the kernel shows in its exit status.
TEST(SeccompConditions, TaskCannotAimSigioAtTheHost)
{
	int out[2], go[2];
	ASSERT_EQ(0, pipe(out));
	ASSERT_EQ(0, pipe(go));
	fflush(nullptr);
	pid_t host = fork();
	ASSERT_GE(host, 0);
	if (host == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		close(go[1]);
		process_pool_t *p = start(nullptr);
		char b = -1;
		task_result_t r;
		if (p &&
		    pool_submit_sync(p, sigio_at_host_task, nullptr, 0, nullptr,
				     TASK_PRIORITY_NORMAL, 10000, &r) == 0)
			b = static_cast<char>(r.status);
		// Reading the pipe is what raises SIGIO at the writer's
		// owner: the test reads, then lets this process go.
		if (write(1, &b, 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(3);
		pool_destroy(p);
		_exit(0);
	}
	close(out[1]);
	close(go[0]);
	char status = 0;
	ASSERT_EQ(1, read(out[0], &status, 1));
	ASSERT_EQ(1, write(go[1], "x", 1));
	int st = 0;
	ASSERT_EQ(host, waitpid(host, &st, 0));
	close(out[0]);
	close(go[1]);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
	    << "host ended with " << (WIFSIGNALED(st) ? "signal " : "exit ")
	    << (WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, status);
}

// ---- prlimit64, sched_getaffinity, getrusage ---------------------------

// prlimit64 on the host: sets RLIMIT_NOFILE to the input.
int prlimit_host_task(void *in, size_t n, void **, size_t *, void *)
{
	struct rlimit r;
	if (n != sizeof(r))
		return EINVAL;
	memcpy(&r, in, sizeof(r));
	return prlimit(getppid(), RLIMIT_NOFILE, &r, nullptr) ? errno : 0;
}

int prlimit_host_read_task(void *, size_t, void **, size_t *, void *)
{
	struct rlimit r;
	return prlimit(getppid(), RLIMIT_NOFILE, nullptr, &r) ? errno : 0;
}

// The worker's own limits, as glibc reads and sets them (prlimit64 with
// pid 0).
int own_limits_task(void *, size_t, void **, size_t *, void *)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) || setrlimit(RLIMIT_NOFILE, &r) ||
	    prlimit(0, RLIMIT_STACK, nullptr, &r))
		return errno;
	return 0;
}

int affinity_task(void *, size_t, void **, size_t *, void *ud)
{
	cpu_set_t set;
	pid_t pid = reinterpret_cast<intptr_t>(ud) ? getppid() : 0;
	return sched_getaffinity(pid, sizeof(set), &set) ? errno : 0;
}

int getrusage_task(void *, size_t, void **, size_t *, void *ud)
{
	struct rusage u;
	int who = static_cast<int>(reinterpret_cast<intptr_t>(ud));
	return syscall(SYS_getrusage, who, &u) ? errno : 0;
}

TEST(SeccompConditions, PrlimitOnTheHostIsRefusedAndChangesNothing)
{
	struct rlimit before, after;
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &before));
	if (before.rlim_cur < 16)
		GTEST_SKIP() << "RLIMIT_NOFILE too low to lower it safely";
	struct rlimit lowered = {before.rlim_cur - 1, before.rlim_max};
	for (int spawn = POOL_SPAWN_FORK; spawn <= POOL_SPAWN_CLEANROOM;
	     spawn++) {
		process_pool_t *p = start(nullptr, 0, spawn);
		ASSERT_NE(nullptr, p);
		expect_refused(p, prlimit_host_task, 0, "prlimit64",
			       "set the host's limit", &lowered,
			       sizeof(lowered));
		ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &after));
		EXPECT_EQ(before.rlim_cur, after.rlim_cur);
		EXPECT_EQ(before.rlim_max, after.rlim_max);
		setrlimit(RLIMIT_NOFILE, &before); // put back, if it moved
		expect_refused(p, prlimit_host_read_task, 0, "prlimit64",
			       "read the host's limit");
		expect_allowed(p, own_limits_task, 0, "own limits");
		pool_destroy(p);
	}
}

TEST(SeccompConditions, SchedGetaffinityOnlyOfItself)
{
	process_pool_t *p = start(nullptr);
	ASSERT_NE(nullptr, p);
	expect_refused(p, affinity_task, 1, "sched_getaffinity", "host");
	expect_allowed(p, affinity_task, 0, "pid 0");
	pool_destroy(p);
	// @thread grants it whole: pthread_getattr_np asks by tid.
	p = start("@thread");
	ASSERT_NE(nullptr, p);
	expect_allowed(p, affinity_task, 1, "@thread");
	pool_destroy(p);
}

// The kernel itself accepts only these three; the filter says so too.
TEST(SeccompConditions, GetrusageOnlyOfItself)
{
	process_pool_t *p = start(nullptr);
	ASSERT_NE(nullptr, p);
	expect_allowed(p, getrusage_task, RUSAGE_SELF, "RUSAGE_SELF");
	expect_allowed(p, getrusage_task, RUSAGE_THREAD, "RUSAGE_THREAD");
	expect_allowed(p, getrusage_task, RUSAGE_CHILDREN, "RUSAGE_CHILDREN");
	expect_refused(p, getrusage_task, -2, "getrusage", "RUSAGE_BOTH");
	pool_destroy(p);
}

// ---- clocks, futex, membarrier, arch_prctl ----------------------------

// Same encoding as the kernel's MAKE_PROCESS_CPUCLOCK (CPUCLOCK_SCHED).
clockid_t process_cpu_clock(pid_t pid)
{
	return static_cast<clockid_t>((~static_cast<unsigned>(pid) << 3) | 2);
}

// clock_gettime through the syscall, not the vDSO; (int)user_data picks
// the clock: -1 the host's CPU clock, else that clock id.
int clock_task(void *, size_t, void **, size_t *, void *ud)
{
	int which = static_cast<int>(reinterpret_cast<intptr_t>(ud));
	clockid_t id = which < 0 ? process_cpu_clock(getppid()) : which;
	struct timespec ts;
	if (syscall(SYS_clock_gettime, id, &ts) ||
	    syscall(SYS_clock_getres, id, &ts))
		return errno;
	return 0;
}

int clock_nanosleep_host_task(void *, size_t, void **, size_t *, void *)
{
	struct timespec ts = {0, 1};
	return syscall(SYS_clock_nanosleep, process_cpu_clock(getppid()), 0,
		       &ts, nullptr)
		   ? errno
		   : 0;
}

// A priority-inheritance lock on a word of its own, then unlocked.
int futex_pi_task(void *, size_t, void **, size_t *, void *)
{
	static uint32_t word;
	if (syscall(SYS_futex, &word, FUTEX_LOCK_PI_PRIVATE, 0, nullptr,
		    nullptr, 0))
		return errno;
	return syscall(SYS_futex, &word, FUTEX_UNLOCK_PI_PRIVATE, 0, nullptr,
		       nullptr, 0)
		   ? errno
		   : 0;
}

int futex_wake_task(void *, size_t, void **, size_t *, void *)
{
	static uint32_t word;
	return syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr,
		       nullptr, 0) < 0
		   ? errno
		   : 0;
}

int membarrier_task(void *, size_t, void **, size_t *, void *ud)
{
	int cmd = static_cast<int>(reinterpret_cast<intptr_t>(ud));
	return syscall(SYS_membarrier, cmd, 0, 0) < 0 ? errno : 0;
}

TEST(SeccompConditions, ClocksOnlyTheFixedOnes)
{
	process_pool_t *p = start(nullptr);
	ASSERT_NE(nullptr, p);
	expect_refused(p, clock_task, -1, "clock_gettime",
		       "the host's CPU clock");
	expect_refused(p, clock_nanosleep_host_task, 0, "clock_nanosleep",
		       "sleep on the host's CPU clock");
	expect_allowed(p, clock_task, CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
	expect_allowed(p, clock_task, CLOCK_PROCESS_CPUTIME_ID,
		       "CLOCK_PROCESS_CPUTIME_ID");
	expect_allowed(p, clock_task, CLOCK_THREAD_CPUTIME_ID,
		       "CLOCK_THREAD_CPUTIME_ID");
	pool_destroy(p);
}

TEST(SeccompConditions, FutexWithoutPriorityInheritance)
{
	process_pool_t *p = start(nullptr);
	ASSERT_NE(nullptr, p);
	expect_refused(p, futex_pi_task, 0, "futex", "FUTEX_LOCK_PI");
	expect_allowed(p, futex_wake_task, 0, "FUTEX_WAKE");
	pool_destroy(p);
}

TEST(SeccompConditions, MembarrierOnlyPrivate)
{
	process_pool_t *p = start(nullptr);
	ASSERT_NE(nullptr, p);
	expect_refused(p, membarrier_task, MEMBARRIER_CMD_GLOBAL, "membarrier",
		       "MEMBARRIER_CMD_GLOBAL");
	expect_refused(p, membarrier_task, MEMBARRIER_CMD_GLOBAL_EXPEDITED,
		       "membarrier", "MEMBARRIER_CMD_GLOBAL_EXPEDITED");
	expect_allowed(p, membarrier_task, MEMBARRIER_CMD_QUERY,
		       "MEMBARRIER_CMD_QUERY");
	expect_allowed(p, membarrier_task,
		       MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
		       "MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED");
	pool_destroy(p);
}

#if defined(__x86_64__)
int arch_prctl_task(void *, size_t, void **, size_t *, void *ud)
{
	int code = static_cast<int>(reinterpret_cast<intptr_t>(ud));
	unsigned long v = 0;
	// ARCH_SET_CPUID 1: cpuid stays enabled, nothing changes.
	unsigned long arg =
	    code == ARCH_SET_CPUID ? 1 : reinterpret_cast<unsigned long>(&v);
	return syscall(SYS_arch_prctl, code, arg) < 0 ? errno : 0;
}

TEST(SeccompConditions, ArchPrctlOnlyTheRuntimesCodes)
{
	process_pool_t *p = start(nullptr);
	ASSERT_NE(nullptr, p);
	expect_refused(p, arch_prctl_task, ARCH_SET_CPUID, "arch_prctl",
		       "ARCH_SET_CPUID");
	expect_allowed(p, arch_prctl_task, ARCH_GET_FS, "ARCH_GET_FS");
	pool_destroy(p);
}
#endif

// ---- @file-read: reading only ------------------------------------------

// In a directory every uid may enter: workers of a root pool run under
// uids of their own (TEST_TMPDIR may be private to the test's user).
std::string tmp_path(const char *name)
{
	static std::string dir;
	if (dir.empty()) {
		char tmpl[] = "/tmp/pp_seccomp_XXXXXX";
		if (mkdtemp(tmpl) && chmod(tmpl, 0755) == 0)
			dir = tmpl;
		else
			dir = "/tmp";
	}
	return dir + "/" + name + "." + std::to_string(getpid());
}

// open(input path, (int)user_data), through openat as glibc does.
int open_task(void *in, size_t n, void **, size_t *, void *ud)
{
	std::string path(static_cast<char *>(in), n);
	int fd = open(path.c_str(),
		      static_cast<int>(reinterpret_cast<intptr_t>(ud)), 0600);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

#if defined(SYS_open)
// The same through the legacy open syscall.
int legacy_open_task(void *in, size_t n, void **, size_t *, void *ud)
{
	std::string path(static_cast<char *>(in), n);
	long fd =
	    syscall(SYS_open, path.c_str(),
		    static_cast<int>(reinterpret_cast<intptr_t>(ud)), 0600);
	if (fd < 0)
		return errno;
	close(static_cast<int>(fd));
	return 0;
}
#endif

off_t file_size(const std::string &path)
{
	struct stat st;
	return stat(path.c_str(), &st) ? -1 : st.st_size;
}

TEST(SeccompConditions, FileReadGroupOpensForReadingOnly)
{
	std::string victim = tmp_path("victim"), absent = tmp_path("absent");
	FILE *f = fopen(victim.c_str(), "w");
	ASSERT_NE(nullptr, f);
	fputs("hello", f);
	fclose(f);
	unlink(absent.c_str());
	process_pool_t *p = start("@file-read");
	ASSERT_NE(nullptr, p);
	const struct {
		int flags;
		const char *name;
	} refused[] = {
	    {O_WRONLY, "O_WRONLY"},
	    {O_RDWR, "O_RDWR"},
	    {O_RDONLY | O_TRUNC, "O_RDONLY|O_TRUNC"},
	    {O_RDONLY | O_APPEND, "O_RDONLY|O_APPEND"},
	    {O_RDONLY | O_EXCL, "O_RDONLY|O_EXCL"},
	    {O_RDONLY | O_ASYNC, "O_RDONLY|O_ASYNC"},
	};
	for (const auto &r : refused)
		expect_refused(p, open_task, r.flags, "open", r.name,
			       victim.data(), victim.size());
	expect_refused(p, open_task, O_RDONLY | O_CREAT, "open",
		       "O_RDONLY|O_CREAT", absent.data(), absent.size());
	std::string dir = victim.substr(0, victim.rfind('/'));
	expect_refused(p, open_task, O_RDWR | O_TMPFILE, "open", "O_TMPFILE",
		       dir.data(), dir.size());
#if defined(SYS_open)
	expect_refused(p, legacy_open_task, O_WRONLY, "open",
		       "open(2) O_WRONLY", victim.data(), victim.size());
	expect_allowed(p, legacy_open_task, O_RDONLY, "open(2) O_RDONLY",
		       victim.data(), victim.size());
#endif
	expect_allowed(p, open_task, O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
		       "O_RDONLY", victim.data(), victim.size());
	pool_destroy(p);
	EXPECT_EQ(5, file_size(victim)) << "truncated through @file-read";
	EXPECT_EQ(-1, file_size(absent)) << "created through @file-read";
	unlink(victim.c_str());
	unlink(absent.c_str());
}

} // namespace
