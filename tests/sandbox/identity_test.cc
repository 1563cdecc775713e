// Unprivileged workers: a pool created by root runs each worker slot
// under a uid and gid of its own (worker_uid_base, worker_uid_count),
// read here from the real workers' /proc/PID/status, across respawns, in
// both spawn modes; the opt-out, the checks on the range, and what
// happens in a user namespace that maps only root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "process_pool.h"
#include "tests/core/tasks.h"
#include "tests/util/test_util.h"

using pp_test::noop_task;

namespace {

// Whether [first, first + count) is mapped in this user namespace.
bool mapped(const char *map, unsigned first, unsigned count)
{
	FILE *f = fopen(map, "r");
	unsigned long long in, out, n;
	bool found = false;

	while (f && fscanf(f, "%llu %llu %llu", &in, &out, &n) == 3)
		if (first >= in && (unsigned long long)first + count <= in + n)
			found = true;
	if (f)
		fclose(f);
	return found;
}

// Why the per-slot uids cannot be checked here, or "" when they can.
std::string cannot_switch(unsigned first, unsigned count)
{
	if (geteuid() != 0)
		return "needs root: only a pool created by root switches uids";
	if (!mapped("/proc/self/uid_map", first, count) ||
	    !mapped("/proc/self/gid_map", first, count))
		return "the uid range is not mapped in this user namespace "
		       "(a sandboxed runner)";
	return "";
}

struct Ids {
	long uid[4] = {-1, -1, -1, -1};
	long gid[4] = {-1, -1, -1, -1};
};

// The Uid and Gid lines (real, effective, saved, fs) of pid.
Ids ids_of(pid_t pid)
{
	char path[64], line[256];
	Ids ids;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		long *dst = !strncmp(line, "Uid:", 4)	? ids.uid
			    : !strncmp(line, "Gid:", 4) ? ids.gid
							: nullptr;
		if (dst)
			sscanf(line + 4, "%ld %ld %ld %ld", &dst[0], &dst[1],
			       &dst[2], &dst[3]);
	}
	if (f)
		fclose(f);
	return ids;
}

// slot -> pid of the live workers.
std::map<int, pid_t> workers(process_pool_t *p)
{
	pool_worker_info_t info[16];
	std::map<int, pid_t> out;
	int n = pool_get_workers(p, info, 16);

	for (int i = 0; i < n; i++)
		out[info[i].slot] = info[i].pid;
	return out;
}

// Whether pid has loaded its seccomp filter, the last step of its
// confinement (after the uid switch).
bool confined(pid_t pid)
{
	char path[64], line[256];
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Seccomp:", 8))
			yes = atoi(line + 8) == 2;
	if (f)
		fclose(f);
	return yes;
}

// The live workers once n of them have confined themselves (or 10 s).
std::map<int, pid_t> confined_workers(process_pool_t *p, int n)
{
	std::map<int, pid_t> w;

	for (int i = 0; i < 2000; i++, usleep(5000)) {
		w = workers(p);
		int ready = 0;
		for (auto &[slot, pid] : w)
			ready += confined(pid);
		if (ready == n)
			break;
	}
	return w;
}

// Every id of every worker is first + its slot.
void expect_slot_ids(process_pool_t *p, unsigned first, int n)
{
	std::map<int, pid_t> w = confined_workers(p, n);
	ASSERT_EQ((size_t)n, w.size());
	for (auto &[slot, pid] : w) {
		Ids ids = ids_of(pid);
		for (int k = 0; k < 4; k++) {
			EXPECT_EQ((long)first + slot, ids.uid[k])
			    << "slot " << slot << " pid " << pid;
			EXPECT_EQ((long)first + slot, ids.gid[k])
			    << "slot " << slot << " pid " << pid;
		}
	}
}

process_pool_t *start(pool_config_t *c)
{
	process_pool_t *p = pool_create(c);
	if (p && pool_start(p)) {
		pool_destroy(p);
		return nullptr;
	}
	return p;
}

constexpr unsigned kBase = POOL_WORKER_UID_BASE_DEFAULT + 40000;

void slot_ids_across_respawn(int spawn_mode)
{
	std::string why = cannot_switch(kBase, 3);
	if (!why.empty())
		GTEST_SKIP() << why;
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 3;
	c.spawn_mode = spawn_mode;
	c.worker_uid_base = kBase;
	c.worker_uid_count = 3;  // one block: slot k is exactly kBase + k
	process_pool_t *p = start(&c);
	ASSERT_NE(nullptr, p);
	expect_slot_ids(p, kBase, 3);
	// Slot 1 dies; its replacement has the slot's uid again.
	pid_t old = workers(p)[1];
	ASSERT_EQ(0, kill(old, SIGKILL));
	for (int i = 0; i < 2000; i++) {
		std::map<int, pid_t> w = workers(p);
		if (w.size() == 3 && w[1] != old)
			break;
		usleep(5000);
	}
	ASSERT_NE(old, workers(p)[1]);
	expect_slot_ids(p, kBase, 3);
	pool_destroy(p);
}

TEST(Identity, EachSlotHasItsOwnUidAcrossRespawns)
{
	slot_ids_across_respawn(POOL_SPAWN_FORK);
}

TEST(Identity, CleanroomWorkersGetTheirSlotsUid)
{
	slot_ids_across_respawn(POOL_SPAWN_CLEANROOM);
}

// The defaults: a block of max_workers uids from the default range, the
// gid following the uid, and two pools alive together never share one.
TEST(Identity, DefaultRangeGivesPoolsDisjointBlocks)
{
	std::string why = cannot_switch(POOL_WORKER_UID_BASE_DEFAULT,
					POOL_WORKER_UID_COUNT_DEFAULT);
	if (!why.empty())
		GTEST_SKIP() << why;
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 2;
	process_pool_t *a = start(&c), *b = start(&c);
	ASSERT_NE(nullptr, a);
	ASSERT_NE(nullptr, b);
	std::set<long> seen;
	for (process_pool_t *p : {a, b}) {
		for (auto &[slot, pid] : confined_workers(p, 2)) {
			Ids ids = ids_of(pid);
			long off = ids.uid[0] - (long)POOL_WORKER_UID_BASE_DEFAULT;
			EXPECT_GE(off, 0);
			EXPECT_LT(off, (long)POOL_WORKER_UID_COUNT_DEFAULT);
			EXPECT_EQ(slot, off % 2) << "slot " << slot;
			EXPECT_EQ(ids.uid[0], ids.gid[0]);
			EXPECT_TRUE(seen.insert(ids.uid[0]).second)
			    << "uid " << ids.uid[0] << " twice";
		}
	}
	EXPECT_EQ(4u, seen.size());
	pool_destroy(a);
	pool_destroy(b);
}

int ids_task(void *, size_t, void **out, size_t *out_n, void *)
{
	unsigned *v = static_cast<unsigned *>(malloc(2 * sizeof(unsigned)));
	v[0] = getuid();
	v[1] = getgid();
	*out = v;
	*out_n = 2 * sizeof(unsigned);
	return 0;
}

// The uid and gid a task of p sees.
std::pair<unsigned, unsigned> task_ids(process_pool_t *p)
{
	task_result_t r;
	EXPECT_EQ(0, pool_submit_sync(p, ids_task, nullptr, 0, nullptr,
				      TASK_PRIORITY_NORMAL, 10000, &r));
	EXPECT_EQ(TASK_STATUS_COMPLETED, r.status) << r.detail;
	std::pair<unsigned, unsigned> ids{~0u, ~0u};
	if (r.output_size == 2 * sizeof(unsigned)) {
		ids.first = static_cast<unsigned *>(r.output_data)[0];
		ids.second = static_cast<unsigned *>(r.output_data)[1];
	}
	pool_result_free(&r);
	return ids;
}

// An explicit worker_gid stays; the uid is still the slot's own.
TEST(Identity, ExplicitGidKeepsPerSlotUid)
{
	std::string why = cannot_switch(kBase, 1);
	if (!why.empty())
		GTEST_SKIP() << why;
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.worker_uid_base = kBase;
	c.worker_uid_count = 1;
	c.worker_gid = 65534;
	process_pool_t *p = start(&c);
	ASSERT_NE(nullptr, p);
	auto ids = task_ids(p);
	EXPECT_EQ(kBase, ids.first);
	EXPECT_EQ(65534u, ids.second);
	pool_destroy(p);
}

// POOL_WORKER_UID_HOST keeps the host's uid, as before the field.
TEST(Identity, OptOutKeepsTheHostsUid)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.worker_uid_base = POOL_WORKER_UID_HOST;
	process_pool_t *p = start(&c);
	ASSERT_NE(nullptr, p);
	auto ids = task_ids(p);
	EXPECT_EQ(getuid(), ids.first);
	EXPECT_EQ(getgid(), ids.second);
	pool_destroy(p);
}

TEST(Identity, RangeIsChecked)
{
	pool_config_t c;
	memset(&c, 0, sizeof(c));
	c.worker_count = 1;
	c.worker_uid_base = 0xfffff000u;
	c.worker_uid_count = 0x1000;  // would reach uid -1
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	c.worker_uid_base = 0xffff0000u;
	c.worker_uid_count = 0;  // the default count runs past -1
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
	if (geteuid() != 0)
		return;  // the rest is only looked at for root
	c.worker_uid_base = kBase;
	c.worker_count = 4;
	c.worker_uid_count = 3;  // fewer uids than workers
	errno = 0;
	EXPECT_EQ(nullptr, pool_create(&c));
	EXPECT_EQ(EINVAL, errno);
}

// Writes s to path; false on failure.
bool write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	bool ok = fd >= 0 && write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	if (fd >= 0)
		close(fd);
	return ok;
}

// In a user namespace that maps only root (a container, a sandboxed
// runner), the default range is skipped and workers keep uid 0; a range
// the caller gave is refused.
TEST(Identity, UnmappedRangeInAUserNamespace)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "needs root to make a user namespace mapping "
				"only root";
	pid_t child = pp_test::spawn_child([] {
		if (unshare(CLONE_NEWUSER))
			return 77;
		if (!write_file("/proc/self/setgroups", "deny") ||
		    !write_file("/proc/self/uid_map", "0 0 1") ||
		    !write_file("/proc/self/gid_map", "0 0 1"))
			return 77;
		pool_config_t c;
		memset(&c, 0, sizeof(c));
		c.worker_count = 1;
		c.cgroup_mode = POOL_CGROUP_OFF;
		process_pool_t *p = start(&c);
		if (!p)
			return 1;
		auto ids = task_ids(p);
		pool_destroy(p);
		if (ids.first != 0 || ids.second != 0)
			return 2;
		c.worker_uid_base = kBase;
		errno = 0;
		if (pool_create(&c) != nullptr || errno != EINVAL)
			return 3;
		return 0;
	});
	int rc = pp_test::wait_child(child, 60000);
	if (rc == 77)
		GTEST_SKIP() << "no user namespace here";
	EXPECT_EQ(0, rc);
}

}  // namespace
