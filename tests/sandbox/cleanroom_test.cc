// Clean-room workers (POOL_SPAWN_CLEANROOM), checked from inside real
// workers: none of the parent's heap, a layout of their own, the same
// confinement as forked workers, only the channel's fds, every kind of
// outcome, and a clear refusal for functions a fresh exec cannot find.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <setjmp.h>
#include <signal.h>
#include <link.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"

using pp_test::fd_open_task;
using pp_test::nofile_task;
using pp_test::socket_task;
using pp_test::status_task;

namespace {

constexpr size_t kPage = 4096;

struct Probe {
	uintptr_t addr;
	unsigned char secret[32];
};

sigjmp_buf probe_jmp;

void on_probe_fault(int)
{
	siglongjmp(probe_jmp, 1);
}

// Compares n bytes at addr with want, byte by byte and uninstrumented:
// under AddressSanitizer the address may lie in the worker's own
// allocator reserve, mapped but unreadable, and the fault must come back
// here rather than end the worker.
__attribute__((no_sanitize_address, noinline)) int
same_bytes(uintptr_t addr, const unsigned char *want, size_t n)
{
	const volatile unsigned char *p = (const volatile unsigned char *)addr;

	for (size_t i = 0; i < n; i++)
		if (p[i] != want[i])
			return 0;
	return 1;
}

// Outputs one byte: 1 when input's address is readable here and holds the
// secret, 0 when not. madvise(MADV_NORMAL), allowed by the default seccomp
// profile, fails with ENOMEM on an unmapped page; a mapped but unreadable
// one faults into a SIGSEGV handler of the task's own.
int secret_task(void *in, size_t n, void **out, size_t *out_n, void *)
{
	unsigned char *seen = (unsigned char *)malloc(1);
	struct sigaction sa, old;
	Probe p;

	if (n != sizeof(p) || !seen)
		return 2;
	memcpy(&p, in, sizeof(p));
	*seen = 0;
	if (madvise((void *)p.addr, kPage, MADV_NORMAL) == 0) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_probe_fault;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, &old);
		if (sigsetjmp(probe_jmp, 1) == 0)
			*seen = (unsigned char)same_bytes(p.addr, p.secret,
							  sizeof(p.secret));
		sigaction(SIGSEGV, &old, nullptr);
	} else if (errno != ENOMEM) {
		return 3;
	}
	*out = seen;
	*out_n = 1;
	return 0;
}

// Whether the executable is position-independent: only then is its code
// at another address in a fresh exec.
int first_bias(struct dl_phdr_info *info, size_t, void *out)
{
	*(uintptr_t *)out = (uintptr_t)info->dlpi_addr;
	return 1;
}

bool executable_is_pie()
{
	uintptr_t bias = 0;
	dl_iterate_phdr(first_bias, &bias);
	return bias != 0;
}

int layout_anchor;

// Where this task's own code (and a global of the executable) lie here.
int where_task(void *, size_t, void **out, size_t *out_n, void *)
{
	uintptr_t *a = (uintptr_t *)malloc(2 * sizeof(uintptr_t));
	if (!a)
		return 1;
	a[0] = (uintptr_t)&where_task;
	a[1] = (uintptr_t)&layout_anchor;
	*out = a;
	*out_n = 2 * sizeof(uintptr_t);
	return 0;
}

// The open fds above stdio, as a bitmask of fds 3..63 (fcntl F_GETFD is
// allowed; listing /proc/self/fd is not).
int fds_task(void *, size_t, void **out, size_t *out_n, void *)
{
	uint64_t *mask = (uint64_t *)calloc(1, sizeof(uint64_t));
	if (!mask)
		return 1;
	for (int fd = 3; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			*mask |= (uint64_t)1 << fd;
	*out = mask;
	*out_n = sizeof(*mask);
	return 0;
}

int echo_task(void *in, size_t n, void **out, size_t *out_n, void *ud)
{
	void *copy = malloc(n + sizeof(intptr_t));
	if (!copy)
		return 1;
	if (n)
		memcpy(copy, in, n);
	memcpy((char *)copy + n, &ud, sizeof(intptr_t));
	*out = copy;
	*out_n = n + sizeof(intptr_t);
	return 0;
}

int fail_task(void *, size_t, void **, size_t *, void *)
{
	return 42;
}

int crash_task(void *, size_t, void **, size_t *, void *)
{
	abort();
}

int sleep_task(void *, size_t, void **, size_t *, void *)
{
	usleep(10 * 1000 * 1000);
	return 0;
}

process_pool_t *start(int mode, int workers = 1, const char *allow = nullptr,
		      int retries = 0)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = workers;
	c.max_retries = retries;
	c.spawn_mode = mode;
	c.seccomp_allow = allow;
	process_pool_t *p = pool_create(&c);
	if (p && pool_start(p) != 0) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

// 1 when p's workers come from a zygote (PROCESS_POOL_ZYGOTE=1 turns it
// on for every pool).
bool zygote_serves(process_pool_t *p)
{
	pool_stats_t st;
	return pool_get_stats(p, &st) == 0 && st.zygote_pid > 0;
}

task_result_t run(process_pool_t *p, task_func_t f, const void *in = nullptr,
		  size_t n = 0, void *ud = nullptr)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_sync(p, f, const_cast<void *>(in), n, ud,
				      TASK_PRIORITY_NORMAL, 10000, &r));
	return r;
}

// 1 when the worker could read the parent's heap secret, 0 when not.
int secret_seen(int mode)
{
	unsigned char *buf = (unsigned char *)aligned_alloc(kPage, kPage);
	Probe probe;

	if (!buf)
		return -1;
	if (getrandom(probe.secret, sizeof(probe.secret), 0) !=
	    (ssize_t)sizeof(probe.secret))
		return -1;
	memcpy(buf, probe.secret, sizeof(probe.secret));
	probe.addr = (uintptr_t)buf;
	// Spawned after the secret is written: a fork copies it.
	process_pool_t *p = start(mode);
	if (!p)
		return -1;
	task_result_t r = run(p, secret_task, &probe, sizeof(probe));
	pool_destroy(p);
	memset(buf, 0, kPage);
	free(buf);
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status)
	    << r.detail << " rc " << r.return_code;
	int seen = r.status == TASK_STATUS_COMPLETED && r.output_size == 1
		       ? *(unsigned char *)r.output_data
		       : -1;
	pool_result_free(&r);
	return seen;
}

TEST(Cleanroom, ParentHeapSecretReadableFromForkWorkerOnly)
{
	EXPECT_EQ(1, secret_seen(POOL_SPAWN_FORK));
	EXPECT_EQ(0, secret_seen(POOL_SPAWN_CLEANROOM));
}

bool aslr_on()
{
	FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
	int v = 2;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 2;
		fclose(f);
	}
	return v != 0;
}

TEST(Cleanroom, EachWorkerHasItsOwnLayout)
{
	if (!aslr_on())
		GTEST_SKIP() << "kernel.randomize_va_space is 0: no ASLR here";
	// ADDR_NO_RANDOMIZE is inherited by every child, exec'd or not.
	// ThreadSanitizer sets it and re-executes the program on kernels
	// whose mmap randomisation does not suit its layout.
	if (personality(0xffffffff) & ADDR_NO_RANDOMIZE)
		GTEST_SKIP() << "this process runs with ADDR_NO_RANDOMIZE "
				"(setarch -R, or ThreadSanitizer's re-exec)";
	if (!executable_is_pie())
		GTEST_SKIP() << "the test executable is not PIE: its code and "
				"globals are at fixed addresses";
	const uintptr_t here[2] = {(uintptr_t)&where_task,
				   (uintptr_t)&layout_anchor};

	process_pool_t *p = start(POOL_SPAWN_FORK);
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, where_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	EXPECT_EQ(0, memcmp(here, r.output_data, sizeof(here)));
	pool_result_free(&r);
	pool_destroy(p);

	p = start(POOL_SPAWN_CLEANROOM, 2);
	ASSERT_NE(nullptr, p);
	std::set<int> pids;
	std::set<uintptr_t> codes;
	for (int i = 0; i < 64 && pids.size() < 2; i++) {
		task_desc_t d[2];
		memset(d, 0, sizeof(d));
		d[0].task_func = d[1].task_func = where_task;
		task_future_t **f = pool_submit_batch(p, d, 2);
		ASSERT_NE(nullptr, f);
		for (int k = 0; k < 2; k++) {
			ASSERT_EQ(0, pool_future_wait(f[k], &r, 10000));
			ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
			uintptr_t there[2];
			memcpy(there, r.output_data, sizeof(there));
			EXPECT_NE(here[0], there[0]);
			EXPECT_NE(here[1], there[1]);
			pids.insert(r.worker_pid);
			codes.insert(there[0]);
			pool_result_free(&r);
			pool_future_destroy(f[k]);
		}
		free(f);
	}
	// Two workers, two layouts (equal with odds of about 2^-28); from
	// a clean-room zygote, the zygote's one layout (still not the
	// host's), as README "Zygote" says.
	if (pids.size() == 2) {
		EXPECT_EQ(zygote_serves(p) ? 1u : 2u, codes.size());
	}
	pool_destroy(p);
}

TEST(Cleanroom, WorkerIsConfinedAsAForkedOne)
{
	process_pool_t *p = start(POOL_SPAWN_CLEANROOM, 1, "@file-read");
	ASSERT_NE(nullptr, p);
	task_result_t r = run(p, status_task);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::string s = static_cast<char *>(r.output_data);
	EXPECT_NE(std::string::npos, s.find("CapEff:\t0000000000000000")) << s;
	EXPECT_NE(std::string::npos, s.find("NoNewPrivs:\t1")) << s;
	EXPECT_NE(std::string::npos, s.find("Seccomp:\t2")) << s;
	pool_result_free(&r);
	pool_destroy(p);
}

// The number of CPUs this worker may run on.
int cpus_task(void *, size_t, void **, size_t *, void *)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	return CPU_COUNT(&set);
}

// The setup a clean-room worker reads from the parent is the one a forked
// worker gets: the seccomp filter and its report, the rlimits, placement.
TEST(Cleanroom, SetupMatchesAForkedWorker)
{
	for (int errno_mode : {0, 1}) {
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.spawn_mode = POOL_SPAWN_CLEANROOM;
		c.seccomp_errno = errno_mode;
		process_pool_t *p = pool_create(&c);
		ASSERT_NE(nullptr, p);
		ASSERT_EQ(0, pool_start(p));
		task_result_t r = run(p, socket_task);
		EXPECT_EQ(TASK_STATUS_SANDBOX_VIOLATION, r.status) << r.detail;
		EXPECT_NE(nullptr, strstr(r.detail, "socket")) << r.detail;
		EXPECT_EQ(TASK_STATUS_FAILED, run(p, fail_task).status);
		pool_destroy(p);
	}
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	c.spawn_mode = POOL_SPAWN_CLEANROOM;
	c.rlimit_nofile = 8;
	c.enable_worker_affinity = 1;
	process_pool_t *p = pool_create(&c);
	ASSERT_NE(nullptr, p);
	ASSERT_EQ(0, pool_start(p));
	EXPECT_EQ(TASK_STATUS_COMPLETED, run(p, nofile_task).status);
	task_result_t r = run(p, cpus_task);
	EXPECT_EQ(TASK_STATUS_FAILED, r.status);
	EXPECT_EQ(1, r.return_code) << "pinned to one CPU";
	pool_destroy(p);
}

TEST(Cleanroom, OnlyTheChannelIsOpen)
{
	// No O_CLOEXEC on purpose, and above the numbers the worker's
	// channel gets, so that "closed" is what the check sees.
	int fd = open("/dev/null", O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(40, dup2(fd, 40));
	close(fd);
	fd = 40;
	for (int mode : {POOL_SPAWN_FORK, POOL_SPAWN_CLEANROOM}) {
		process_pool_t *p = start(mode);
		ASSERT_NE(nullptr, p);
		task_result_t r = run(p, fd_open_task, nullptr, 0,
				      (void *)(intptr_t)fd);
		EXPECT_EQ(TASK_STATUS_COMPLETED, r.status)
		    << "mode " << mode << ": fd " << fd << " open";
		r = run(p, fds_task);
		ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
		uint64_t mask;
		memcpy(&mask, r.output_data, sizeof(mask));
		// The channel's memfd and eventfd and the payload socket,
		// nothing else.
		EXPECT_EQ(3, __builtin_popcountll(mask))
		    << "mode " << mode << " mask " << std::hex << mask;
		// At the numbers the exec gave them (a zygote's clone
		// keeps the numbers the zygote received them at).
		if (mode == POOL_SPAWN_CLEANROOM && !zygote_serves(p)) {
			EXPECT_EQ(uint64_t{0x58}, mask) << std::hex << mask;
		}
		pool_result_free(&r);
		pool_destroy(p);
	}
	close(fd);
}

TEST(Cleanroom, EveryOutcomeThroughEverySubmitPath)
{
	// One re-run: a task that shared a worker with the crashing one
	// pays it and then runs alone (every task on a dead worker pays).
	process_pool_t *p = start(POOL_SPAWN_CLEANROOM, 2, nullptr, 1);
	ASSERT_NE(nullptr, p);

	// Sync: input and user_data (an opaque integer) travel; output back.
	const char msg[] = "clean room";
	task_result_t r = run(p, echo_task, msg, sizeof(msg), (void *)77);
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	ASSERT_EQ(sizeof(msg) + sizeof(intptr_t), r.output_size);
	EXPECT_EQ(0, memcmp(msg, r.output_data, sizeof(msg)));
	intptr_t ud;
	memcpy(&ud, (char *)r.output_data + sizeof(msg), sizeof(ud));
	EXPECT_EQ(77, ud);
	pool_result_free(&r);
	r = run(p, fail_task);
	EXPECT_EQ(TASK_STATUS_FAILED, r.status);
	EXPECT_EQ(42, r.return_code);
	r = run(p, crash_task);
	EXPECT_EQ(TASK_STATUS_CRASHED, r.status) << r.detail;

	// Timeout, then the pool goes on with a fresh clean-room worker.
	EXPECT_EQ(0, pool_submit_sync(p, sleep_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 200, &r));
	EXPECT_EQ(TASK_STATUS_TIMEOUT, r.status);
	r = run(p, fail_task);
	EXPECT_EQ(TASK_STATUS_FAILED, r.status);

	// Async and cancel of a running task.
	task_future_t *f = pool_submit_async(p, sleep_task, nullptr, 0,
					     nullptr, TASK_PRIORITY_HIGH, 0);
	ASSERT_NE(nullptr, f);
	usleep(100 * 1000);
	EXPECT_EQ(0, pool_future_cancel(f));
	ASSERT_EQ(0, pool_future_wait(f, &r, 10000));
	EXPECT_EQ(TASK_STATUS_CANCELLED, r.status);
	pool_future_destroy(f);

	// Batch of mixed outcomes.
	task_desc_t d[4];
	memset(d, 0, sizeof(d));
	d[0].task_func = echo_task;
	d[0].input_data = (void *)msg;
	d[0].input_size = sizeof(msg);
	d[1].task_func = fail_task;
	d[2].task_func = crash_task;
	d[3].task_func = echo_task;
	d[3].user_data = (void *)5;
	const task_status_t want[4] = {TASK_STATUS_COMPLETED,
				       TASK_STATUS_FAILED, TASK_STATUS_CRASHED,
				       TASK_STATUS_COMPLETED};
	task_future_t **fs = pool_submit_batch(p, d, 4);
	ASSERT_NE(nullptr, fs);
	for (int i = 0; i < 4; i++) {
		ASSERT_NE(nullptr, fs[i]);
		ASSERT_EQ(0, pool_future_wait(fs[i], &r, 10000));
		EXPECT_EQ(want[i], r.status) << i << " " << r.detail;
		pool_result_free(&r);
		pool_future_destroy(fs[i]);
	}
	free(fs);
	// A killed worker is counted once reaped, which may come after its
	// task's result (a timeout or cancel resolves first).
	pool_stats_t s;
	for (int i = 0; i < 1000; i++) {
		ASSERT_EQ(0, pool_get_stats(p, &s));
		if (s.worker_restarts >= 3u)
			break;
		usleep(10 * 1000);
	}
	EXPECT_GE(s.worker_restarts, 3u);
	pool_destroy(p);
}

// A task function in a shared library the program loads at startup (the
// engine tests' task library; a shared object of its own in Bazel's
// default test linking) resolves in a clean-room worker too.
TEST(Cleanroom, FunctionInAStartupLibraryRuns)
{
	process_pool_t *p = start(POOL_SPAWN_CLEANROOM);
	ASSERT_NE(nullptr, p);
	int64_t x = 12345;
	task_result_t r = run(p, pp_test::square_task, &x, sizeof(x));
	ASSERT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	ASSERT_EQ(sizeof(int64_t), r.output_size);
	int64_t y;
	memcpy(&y, r.output_data, sizeof(y));
	EXPECT_EQ(x * x, y);
	pool_result_free(&r);
	pool_destroy(p);
}

TEST(Cleanroom, FunctionOutsideTheStartupModulesIsRefused)
{
	process_pool_t *p = start(POOL_SPAWN_CLEANROOM);
	ASSERT_NE(nullptr, p);
	// Code the program made at run time: no module holds it, so a fresh
	// exec could never find it.
	void *jit = mmap(nullptr, kPage, PROT_READ | PROT_EXEC,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, jit);
	void *heap = malloc(64);
	for (void *bad : {jit, heap}) {
		task_func_t f = reinterpret_cast<task_func_t>(bad);
		task_result_t r;
		EXPECT_EQ(POOL_EINVAL,
			  pool_submit_sync(p, f, nullptr, 0, nullptr,
					   TASK_PRIORITY_NORMAL, 0, &r));
		errno = 0;
		EXPECT_EQ(nullptr, pool_submit_async(p, f, nullptr, 0, nullptr,
						     TASK_PRIORITY_NORMAL, 0));
		EXPECT_EQ(EINVAL, errno);
		task_desc_t d[2];
		memset(d, 0, sizeof(d));
		d[0].task_func = fail_task;
		d[1].task_func = f;
		errno = 0;
		EXPECT_EQ(nullptr, pool_submit_batch(p, d, 2));
		EXPECT_EQ(EINVAL, errno);
	}
	// The pool is unharmed.
	task_result_t r = run(p, fail_task);
	EXPECT_EQ(TASK_STATUS_FAILED, r.status);
	free(heap);
	munmap(jit, kPage);
	pool_destroy(p);
}

TEST(Cleanroom, SpawnModeIsValidated)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.spawn_mode = 2;
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
}

}  // namespace
