// Confinement, checked from inside real workers: capabilities, no new
// privileges, seccomp mode, securebits, closed fds, and denied syscalls
// (or denied argument forms) reported as SANDBOX_VIOLATION naming the
// syscall, under both seccomp actions.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"

using pp_test::fd_open_task;
using pp_test::nofile_task;
using pp_test::noop_task;
using pp_test::socket_task;
using pp_test::status_task;

namespace {

int open_task(void *, size_t, void **, size_t *, void *)
{
	int fd = open("/etc/hostname", O_RDONLY);
	return fd < 0 ? errno : 0;
}

int exec_task(void *, size_t, void **, size_t *, void *)
{
	char *argv[] = {(char *)"/bin/true", nullptr};
	execve("/bin/true", argv, nullptr);
	return errno;
}

int ptrace_task(void *, size_t, void **, size_t *, void *)
{
	return ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) < 0 ? errno : 0;
}

process_pool_t *start(int errno_mode, const char *allow, int off = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_errno = errno_mode;
	c.seccomp_allow = allow;
	c.sandbox_off = off;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p) != 0) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

task_result_t run(process_pool_t *p, task_func_t f, void *ud = nullptr)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_sync(p, f, nullptr, 0, ud,
				      TASK_PRIORITY_NORMAL, 10000, &r));
	return r;
}

TEST(Confinement, WorkerHasNoCapabilitiesNoNewPrivsAndSeccomp)
{
	process_pool_t *p = start(0, "@file-read");
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, status_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::string s = static_cast<char *>(r.output_data);
	EXPECT_NE(std::string::npos, s.find("CapEff:\t0000000000000000")) << s;
	EXPECT_NE(std::string::npos, s.find("CapPrm:\t0000000000000000")) << s;
	EXPECT_NE(std::string::npos, s.find("CapAmb:\t0000000000000000")) << s;
	if (geteuid() == 0) {
		EXPECT_NE(std::string::npos,
			  s.find("CapBnd:\t0000000000000000")) << s;
	}
	EXPECT_NE(std::string::npos, s.find("NoNewPrivs:\t1")) << s;
	EXPECT_NE(std::string::npos, s.find("Seccomp:\t2")) << s;
	pool_result_free(&r);
	pool_destroy(p);
}

struct Denied {
	task_func_t fn;
	const char *syscall;
};

const Denied kDenied[] = {
	{socket_task, "socket"},
	{open_task, "open"}, /* openat or open, by libc */
	{exec_task, "execve"},
	{ptrace_task, "ptrace"},
};

TEST(Confinement, DeniedSyscallStopsTheWorkerAndIsNamed)
{
	process_pool_t *p = start(0, nullptr);
	ASSERT_NE(nullptr, p);
	for (const Denied &d : kDenied) {
		task_result_t r = run(p, d.fn);
		EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status) << d.syscall;
		EXPECT_NE(nullptr, strstr(r.detail, d.syscall)) << r.detail;
		// The pool carries on with a fresh worker.
		EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, noop_task).status);
	}
	pool_stats_t s;
	pool_get_stats(p, &s);
	EXPECT_EQ(4u, s.tasks_sandbox_violation);
	EXPECT_GE(s.worker_restarts, 4u);
	pool_destroy(p);
}

TEST(Confinement, ErrnoModeFailsTheCallAndKeepsTheWorker)
{
	process_pool_t *p = start(1, nullptr);
	ASSERT_NE(nullptr, p);
	for (const Denied &d : kDenied) {
		task_result_t r = run(p, d.fn);
		EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status) << d.syscall;
		EXPECT_NE(nullptr, strstr(r.detail, d.syscall)) << r.detail;
		EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, noop_task).status);
	}
	pool_stats_t s;
	pool_get_stats(p, &s);
	EXPECT_EQ(0u, s.worker_restarts);
	pool_destroy(p);
}

TEST(Confinement, InheritedFdIsClosedInTheWorker)
{
	int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
	ASSERT_GE(fd, 0);
	process_pool_t *p = start(0, nullptr);
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, fd_open_task, (void *)(intptr_t)fd);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << "fd " << fd << " open";
	pool_destroy(p);
	close(fd);
}

TEST(Confinement, PolicyIsLoosenedOnlyExplicitly)
{
	process_pool_t *p = start(0, "socket");
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, socket_task).status);
	pool_destroy(p);
	p = start(0, nullptr, 1); /* sandbox_off */
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, socket_task).status);
	pool_destroy(p);
}

TEST(Confinement, UnknownSyscallNameIsRefused)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.seccomp_allow = "socket,not_a_syscall";
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	c.seccomp_allow = "@no-such-group";
	EXPECT_EQ(nullptr, pool_create(&c));
	c.seccomp_allow = ",";
	EXPECT_EQ(nullptr, pool_create(&c));
}

}  // namespace

namespace {

int burn_task(void *, size_t, void **, size_t *, void *)
{
	volatile unsigned long x = 0;
	for (;;)
		x++;
	return 0;
}

TEST(Confinement, CpuLimitEndsTaskResourceLimit)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.rlimit_cpu_s = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_result_t r = run(p, burn_task);
	EXPECT_EQ(TASK_STATUS_RESOURCE_LIMIT, r.status) << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, "CPU")) << r.detail;
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, noop_task).status);
	pool_destroy(p);
}

TEST(Confinement, NofileLimitApplies)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.rlimit_nofile = 8;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, nofile_task).status);
	pool_destroy(p);
}

// Whether uid is mapped in this process's user namespace.
bool uid_mapped(unsigned uid)
{
	FILE *f = fopen("/proc/self/uid_map", "r");
	unsigned inside, outside, count;
	bool found = false;

	while (f && fscanf(f, "%u %u %u", &inside, &outside, &count) == 3)
		if (uid >= inside && uid - inside < count)
			found = true;
	if (f)
		fclose(f);
	return found;
}

int ids_task(void *, size_t, void **, size_t *, void *)
{
	return getuid() == 65534 && getgid() == 65534 ? 0 : 1;
}

TEST(Confinement, WorkersSwitchUidAndGidWhenRoot)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "needs root to switch the workers' uid/gid";
	if (!uid_mapped(65534))
		GTEST_SKIP() << "uid 65534 is not mapped in this user namespace "
				"(a sandboxed test runner): cannot switch to it";
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.worker_uid = 65534;
	c.worker_gid = 65534;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_result_t r = run(p, ids_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	pool_destroy(p);
}

}  // namespace

namespace {

int getuid_task(void *, size_t, void **, size_t *, void *)
{
	return getuid() == (uid_t)-1 ? 1 : 0;
}

// The strict profile allows the worker runtime and nothing else: even
// getuid, allowed by the compute profile, is denied.
TEST(Confinement, StrictProfileAllowsOnlyTheRuntime)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.seccomp_profile = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, noop_task).status);
	task_result_t r = run(p, getuid_task);
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status) << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, "getuid")) << r.detail;
	pool_destroy(p);
}

int fork_task(void *, size_t, void **, size_t *, void *)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	return pid < 0 ? errno : 0;
}

// A task cannot fork under the default policy: the fork bomb ends at its
// first fork, as a violation naming the syscall.
TEST(Confinement, ForkIsDeniedByDefault)
{
	process_pool_t *p = start(0, nullptr);
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, fork_task);
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status) << r.detail;
	EXPECT_NE(nullptr, strstr(r.detail, "clone")) << r.detail;
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, noop_task).status);
	pool_destroy(p);
}

}  // namespace

namespace {

// ---- argument conditions ----------------------------------------------

int prctl_get_task(void *, size_t, void **, size_t *, void *)
{
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1;
}

int prctl_set_task(void *, size_t, void **, size_t *, void *)
{
	return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 ? errno : 0;
}

int tgkill_self_task(void *, size_t, void **, size_t *, void *)
{
	return syscall(SYS_tgkill, getpid(), gettid(), 0) < 0 ? errno : 0;
}

// Signal 0 to the host: only whether it may, nothing is sent.
int tgkill_parent_task(void *, size_t, void **, size_t *, void *)
{
	return syscall(SYS_tgkill, getppid(), getppid(), 0) < 0 ? errno : 0;
}

int netlink_task(void *, size_t, void **, size_t *, void *)
{
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? errno : 0;
}

int unix_socket_task(void *, size_t, void **, size_t *, void *)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? errno : 0;
}

void *thread_body(void *arg)
{
	*static_cast<int *>(arg) = 42;
	return nullptr;
}

int thread_task(void *, size_t, void **, size_t *, void *)
{
	pthread_t t;
	int v = 0, err = pthread_create(&t, nullptr, thread_body, &v);
	if (err)
		return err;
	pthread_join(t, nullptr);
	return v == 42 ? 0 : 1;
}

void expect_violation(process_pool_t *p, task_func_t f, const char *name)
{
	task_result_t r = run(p, f);
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status) << name;
	EXPECT_NE(nullptr, strstr(r.detail, name)) << r.detail;
}

// prctl is in the default profile for reading the worker's own state;
// changing it is a violation naming prctl, under both actions.
TEST(ArgumentConditions, PrctlOnlyReads)
{
	for (int errno_mode = 0; errno_mode <= 1; errno_mode++) {
		process_pool_t *p = start(errno_mode, nullptr);
		ASSERT_NE(nullptr, p);
		EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, prctl_get_task).status);
		expect_violation(p, prctl_set_task, "prctl");
		EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, prctl_get_task).status);
		pool_destroy(p);
	}
}

// The filter is compiled before any worker exists; each worker adds a
// filter of its own for its pid: signals to itself only.
TEST(ArgumentConditions, TgkillOnlyToItself)
{
	for (int errno_mode = 0; errno_mode <= 1; errno_mode++) {
		process_pool_t *p = start(errno_mode, nullptr);
		ASSERT_NE(nullptr, p);
		EXPECT_EQ(TASK_STATUS_COMPLETED,
			  run(p, tgkill_self_task).status);
		expect_violation(p, tgkill_parent_task, "tgkill");
		EXPECT_EQ(TASK_STATUS_COMPLETED,
			  run(p, tgkill_self_task).status);
		pool_destroy(p);
	}
}

// @network grants socket for local and IP families; naming socket on its
// own grants it whole.
TEST(ArgumentConditions, NetworkGroupLimitsSocketFamilies)
{
	process_pool_t *p = start(0, "@network");
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, socket_task).status);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, unix_socket_task).status);
	expect_violation(p, netlink_task, "socket");
	pool_destroy(p);
	p = start(0, "socket");
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, netlink_task).status);
	pool_destroy(p);
}

// @thread: clone for threads of the worker, never a new process.
TEST(ArgumentConditions, ThreadGroupAllowsThreadsNotProcesses)
{
#if defined(__SANITIZE_THREAD__)
	GTEST_SKIP() << "ThreadSanitizer refuses new threads in a forked "
			"worker of a threaded host (die_after_fork)";
#endif
	process_pool_t *p = start(0, "@thread");
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, thread_task);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	expect_violation(p, fork_task, "clone");
	pool_destroy(p);
	// Without the group a thread is a violation too.
	p = start(0, nullptr);
	ASSERT_NE(nullptr, p);
	EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, run(p, thread_task).status);
	pool_destroy(p);
}

// ---- securebits --------------------------------------------------------

int securebits_task(void *, size_t, void **out, size_t *out_n, void *)
{
	int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (bits < 0)
		return errno;
	int *v = static_cast<int *>(malloc(sizeof(int)));
	*v = bits;
	*out = v;
	*out_n = sizeof(*v);
	return 0;
}

TEST(Confinement, SecurebitsSetAndLockedWhenRoot)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "securebits need CAP_SETPCAP: not root";
	process_pool_t *p = start(0, nullptr);
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, securebits_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	ASSERT_EQ(sizeof(int), r.output_size);
	int bits = *static_cast<int *>(r.output_data);
	const int want = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			 SECBIT_NO_SETUID_FIXUP |
			 SECBIT_NO_SETUID_FIXUP_LOCKED |
			 SECBIT_KEEP_CAPS_LOCKED |
			 SECBIT_NO_CAP_AMBIENT_RAISE |
			 SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
	EXPECT_EQ(want, bits & want) << std::hex << bits;
	EXPECT_EQ(0, bits & SECBIT_KEEP_CAPS) << std::hex << bits;
	pool_result_free(&r);
	pool_destroy(p);
}

// With a uid switch too: the bits are set before it, and the worker
// still ends up with no capabilities as the other uid.
TEST(Confinement, SecurebitsWithUidSwitch)
{
	if (geteuid() != 0 || !uid_mapped(65534))
		GTEST_SKIP() << "needs root and uid 65534 mapped";
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.worker_uid = 65534;
	c.worker_gid = 65534;
	c.seccomp_allow = "@file-read";
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	task_result_t r = run(p, securebits_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_NE(0, *static_cast<int *>(r.output_data) &
			 SECBIT_NO_SETUID_FIXUP_LOCKED);
	pool_result_free(&r);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, ids_task).status);
	r = run(p, status_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::string s = static_cast<char *>(r.output_data);
	EXPECT_NE(std::string::npos, s.find("CapEff:\t0000000000000000")) << s;
	EXPECT_NE(std::string::npos, s.find("CapPrm:\t0000000000000000")) << s;
	pool_result_free(&r);
	pool_destroy(p);
}

}  // namespace

namespace {

// A keep-list: the named capabilities stay effective and permitted (and
// alone in the bounding set when root), across a uid switch too; the
// inheritable and ambient sets stay empty.
process_pool_t *start_keeping(const char *keep, unsigned uid,
			      int spawn_mode = POOL_SPAWN_FORK)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.spawn_mode = spawn_mode;
	c.seccomp_allow = "@file-read";
	c.keep_caps = keep;
	c.worker_uid = uid;
	c.worker_gid = uid;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p) != 0) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

void expect_only_net_bind_service(process_pool_t *p)
{
	task_result_t r = run(p, status_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::string s = static_cast<char *>(r.output_data);
	// CAP_NET_BIND_SERVICE is capability 10: 0x400.
	EXPECT_NE(std::string::npos, s.find("CapEff:\t0000000000000400")) << s;
	EXPECT_NE(std::string::npos, s.find("CapPrm:\t0000000000000400")) << s;
	EXPECT_NE(std::string::npos, s.find("CapBnd:\t0000000000000400")) << s;
	EXPECT_NE(std::string::npos, s.find("CapAmb:\t0000000000000000")) << s;
	EXPECT_NE(std::string::npos, s.find("NoNewPrivs:\t1")) << s;
	pool_result_free(&r);
}

TEST(Confinement, KeepListKeepsOnlyThoseCapabilities)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "needs root: the pool must hold the capability "
				"it keeps";
	process_pool_t *p = start_keeping("net_bind_service", 0);
	ASSERT_NE(nullptr, p);
	expect_only_net_bind_service(p);
	pool_destroy(p);
	// A clean-room worker gets the list through the setup it reads.
	p = start_keeping("net_bind_service", 0, POOL_SPAWN_CLEANROOM);
	ASSERT_NE(nullptr, p);
	expect_only_net_bind_service(p);
	pool_destroy(p);
	if (!uid_mapped(65534))
		GTEST_SKIP() << "uid 65534 is not mapped here: the uid switch "
				"half is not run";
	p = start_keeping("cap_net_bind_service", 65534);
	ASSERT_NE(nullptr, p);
	expect_only_net_bind_service(p);
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, ids_task).status);
	pool_destroy(p);
}

TEST(Confinement, KeepListIsCheckedAtCreate)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.keep_caps = "net_bind_service,no_such_capability";
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	if (geteuid() == 0)
		return;  // root holds every capability: nothing missing
	c.keep_caps = "sys_admin";  // not held by an ordinary process
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
}

}  // namespace
