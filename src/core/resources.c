/*
 * Per-process resource figures from /proc and cgroup v2 files; see
 * resources.h. Every read is bounded (a small stack buffer) and every
 * parse tolerates a short or odd file: a figure that cannot be read
 * stays 0.
 */
#include "src/core/resources.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reads the file at path into buf (NUL-terminated). Returns its length
 * or -errno. */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
	ssize_t n, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - (size_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	return got;
}

/* The number after "key" at the start of a line of text, or 0. */
static uint64_t field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen))
			return strtoull(p + klen, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
}

static uint64_t ticks_to_us(unsigned long long ticks)
{
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0)
		return 0;
	return (uint64_t)ticks * 1000000u / (uint64_t)hz;
}

/* /proc/PID/stat: CPU times, threads, age; the parent for the check. */
static int read_stat(const char *dir, pool_resource_usage_t *out, pid_t *ppid)
{
	char path[64], buf[1024];
	unsigned long long utime, stime, start;
	long threads;
	int parent;
	struct timespec now;
	const char *p;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/stat", dir);
	n = slurp(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* The command name may hold spaces and parentheses: fields start
	 * after the last ')'. Field 3 is the state. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu"
			 " %llu %*d %*d %*d %*d %ld %*d %llu",
			 &parent, &utime, &stime, &threads, &start) != 5)
		return -EPROTO;
	*ppid = parent;
	out->cpu_user_us = ticks_to_us(utime);
	out->cpu_system_us = ticks_to_us(stime);
	out->threads = (int)threads;
	/* starttime counts clock ticks since boot, CLOCK_BOOTTIME's base. */
	if (!clock_gettime(CLOCK_BOOTTIME, &now)) {
		uint64_t up = (uint64_t)now.tv_sec * 1000000u +
			      (uint64_t)now.tv_nsec / 1000u,
			 at = ticks_to_us(start);

		out->age_ms = up > at ? (up - at) / 1000u : 0;
	}
	return 0;
}

/* /proc/PID/status: memory and context switches (world-readable, so a
 * worker under another uid or not dumpable is measured too). */
static void read_status(const char *dir, pool_resource_usage_t *out)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "%s/status", dir);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return;
	out->rss_bytes = field(buf, "VmRSS:") * 1024u;
	out->peak_rss_bytes = field(buf, "VmHWM:") * 1024u;
	out->ctx_switches_voluntary = field(buf, "voluntary_ctxt_switches:");
	out->ctx_switches_involuntary =
	    field(buf, "nonvoluntary_ctxt_switches:");
}

/* Entries of /proc/PID/fd (needs ptrace read access: root, or the same
 * uid and a dumpable process), or -1. */
static int64_t count_fds(const char *dir, int self)
{
	char path[64];
	struct dirent *e;
	int64_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/fd", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	/* Our own listing held one fd of ours open. */
	return self && n ? n - 1 : n;
}

/*
 * The leaf of pid when it lies directly under pool_group: /proc/PID/cgroup
 * gives "0::/rel/to/root/POOLGROUP/LEAF"; the pool's group path must end
 * with that line's directory, so the leaf is pool_group + "/LEAF".
 */
int pp_usage_leaf_of(char *buf, const char *pool_group, char *leaf, size_t len)
{
	char *line, *nl, *slash;
	size_t glen = strlen(pool_group), dlen;

	line = strstr(buf, "0::/");
	if (!line || (line != buf && line[-1] != '\n'))
		return -1;
	line += 3;
	nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	slash = strrchr(line, '/');
	if (!slash || !slash[1] || strstr(slash, ".."))
		return -1;
	dlen = (size_t)(slash - line);
	if (!dlen || dlen > glen ||
	    strncmp(pool_group + glen - dlen, line, dlen))
		return -1;
	if ((size_t)snprintf(leaf, len, "%s%s", pool_group, slash) >= len)
		return -1;
	return 0;
}

static int find_leaf(const char *dir, const char *pool_group, char *leaf,
		     size_t len)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "%s/cgroup", dir);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return -1;
	return pp_usage_leaf_of(buf, pool_group, leaf, len);
}

static uint64_t leaf_value(const char *leaf, const char *file)
{
	char path[4096 + 32], buf[64];

	snprintf(path, sizeof(path), "%s/%s", leaf, file);
	if (slurp(path, buf, sizeof(buf)) <= 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

void pp_usage_read_leaf(const char *leaf, pool_resource_usage_t *out)
{
	char path[4096 + 32], buf[1024];

	snprintf(path, sizeof(path), "%s/cgroup.procs", leaf);
	if (access(path, F_OK))
		return;
	out->source |= POOL_USAGE_CGROUP;
	out->cg_memory_current = leaf_value(leaf, "memory.current");
	out->cg_memory_peak = leaf_value(leaf, "memory.peak");
	out->cg_pids_current = leaf_value(leaf, "pids.current");
	snprintf(path, sizeof(path), "%s/memory.events", leaf);
	if (slurp(path, buf, sizeof(buf)) > 0) {
		out->cg_memory_max_hits = field(buf, "max ");
		out->cg_oom_kills = field(buf, "oom_kill ");
	}
	snprintf(path, sizeof(path), "%s/cpu.stat", leaf);
	if (slurp(path, buf, sizeof(buf)) > 0)
		out->cg_cpu_us = field(buf, "usage_usec ");
}

int pp_usage_read(pid_t pid, int child, const char *pool_group,
		  pool_resource_usage_t *out)
{
	char dir[32], leaf[4096];
	pid_t ppid = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->open_fds = -1;
	if (pid)
		snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self");
	err = read_stat(dir, out, &ppid);
	if (!err && child && ppid != getpid())
		err = -ESRCH;
	if (err) {
		memset(out, 0, sizeof(*out));
		out->open_fds = -1;
		return err;
	}
	out->source = POOL_USAGE_PROC;
	read_status(dir, out);
	out->open_fds = count_fds(dir, !pid);
	if (pid && pool_group && pool_group[0] &&
	    !find_leaf(dir, pool_group, leaf, sizeof(leaf)))
		pp_usage_read_leaf(leaf, out);
	return 0;
}
