/*
 * The cgroup side of the resource figures, which this machine may not
 * exercise end to end (no writable cgroup v2): finding a worker's leaf
 * from /proc/PID/cgroup text, and reading a leaf's files, here from a
 * directory laid out as the kernel lays a leaf out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/core/resources.h"

static int failures;

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__,     \
				#c);                                           \
			failures++;                                            \
		}                                                              \
	} while (0)

static int leaf_of(const char *text, const char *group, char *leaf)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s", text);
	return pp_usage_leaf_of(buf, group, leaf, 4096);
}

static void finds_the_leaf(void)
{
	const char *g = "/sys/fs/cgroup/svc.slice/processpool-12-0";
	char leaf[4096];

	CHECK(leaf_of("0::/svc.slice/processpool-12-0/w3-7\n", g, leaf) == 0);
	CHECK(!strcmp(leaf, "/sys/fs/cgroup/svc.slice/processpool-12-0/w3-7"));
	/* Hybrid hierarchy: v1 lines first, the v2 line last. */
	CHECK(leaf_of("4:memory:/x\n1:cpu:/\n0::/svc.slice/processpool-12-0/"
		      "w0-1\n",
		      g, leaf) == 0);
	CHECK(!strcmp(leaf, "/sys/fs/cgroup/svc.slice/processpool-12-0/w0-1"));
	/* Elsewhere, or odd: no leaf. */
	CHECK(leaf_of("0::/\n", g, leaf) == -1);
	CHECK(leaf_of("0::/other/w0-1\n", g, leaf) == -1);
	CHECK(leaf_of("0::/svc.slice/processpool-12-0/w0-1/deeper\n", g,
		      leaf) == -1);
	CHECK(leaf_of("0::/svc.slice/processpool-12-0/..\n", g, leaf) == -1);
	CHECK(leaf_of("0::/svc.slice/processpool-12-0/\n", g, leaf) == -1);
	CHECK(leaf_of("", g, leaf) == -1);
	CHECK(leaf_of("10::/svc.slice/processpool-12-0/w0-1\n", g, leaf) == -1);
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void reads_a_leaf(void)
{
	const char *tmp = getenv("TEST_TMPDIR");
	char dir[4096];
	pool_resource_usage_t u;

	snprintf(dir, sizeof(dir), "%s/leaf", tmp ? tmp : "/tmp");
	mkdir(dir, 0700);
	memset(&u, 0, sizeof(u));
	pp_usage_read_leaf(dir, &u); /* no cgroup.procs: not a leaf */
	CHECK(u.source == 0);
	put(dir, "cgroup.procs", "123\n");
	put(dir, "memory.current", "73728000\n");
	put(dir, "memory.peak", "90000000\n");
	put(dir, "pids.current", "3\n");
	put(dir, "memory.events",
	    "low 0\nhigh 0\nmax 17\noom 2\noom_kill 1\noom_group_kill 0\n");
	put(dir, "cpu.stat",
	    "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
	pp_usage_read_leaf(dir, &u);
	CHECK(u.source == POOL_USAGE_CGROUP);
	CHECK(u.cg_memory_current == 73728000);
	CHECK(u.cg_memory_peak == 90000000);
	CHECK(u.cg_pids_current == 3);
	CHECK(u.cg_memory_max_hits == 17);
	CHECK(u.cg_oom_kills == 1);
	CHECK(u.cg_cpu_us == 2500000);
}

int main(void)
{
	finds_the_leaf();
	reads_a_leaf();
	if (failures)
		return 1;
	puts("resources_parse_test: all passed");
	return 0;
}
