/* cgroup v2 groups and leaves for workers; see cgroup.h. */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	unsigned bit;
	const char *name;
} controllers[] = {
    {PP_CG_MEMORY, "memory"},
    {PP_CG_PIDS, "pids"},
    {PP_CG_CPU, "cpu"},
};

#define NCTRL (sizeof(controllers) / sizeof(controllers[0]))

const char *pp_cgroup_names(unsigned mask, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < NCTRL; i++)
		if (mask & controllers[i].bit)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
					      "%s%s", n ? "," : "",
					      controllers[i].name);
	return buf;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX];
	int fd, err = 0;
	size_t len = strlen(value);

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, len) != (ssize_t)len)
		err = -errno;
	close(fd);
	return err;
}

static int read_file(const char *dir, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* An fd on one of the leaf's files, or -errno. */
static int open_in_leaf(const char *leaf, const char *file, int flags)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", leaf, file) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int pp_cgroup_find(char *mount, size_t mlen, char *own, size_t olen)
{
	char line[4096], root[PATH_MAX], mnt[PATH_MAX], fstype[64];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep, " - %63s", fstype) != 1 ||
		    strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*d %*d %*s %4095s %4095s", root, mnt) == 2)
			found = snprintf(mount, mlen, "%s", mnt) < (int)mlen;
	}
	fclose(f);
	if (!found)
		return -ENOENT;
	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	found = 0;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			found = snprintf(own, olen, "%s", line + 3) < (int)olen;
		}
	fclose(f);
	return found ? 0 : -ENOENT;
}

/* The controllers of want that one of dir's files lists. */
static unsigned listed(const char *dir, const char *file, unsigned want)
{
	char list[512], *tok, *save;
	unsigned have = 0;
	size_t i;

	if (read_file(dir, file, list, sizeof(list)))
		return 0;
	for (tok = strtok_r(list, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save))
		for (i = 0; i < NCTRL; i++)
			if (!strcmp(tok, controllers[i].name))
				have |= controllers[i].bit;
	return have & want;
}

/* The controllers of want that dir may enable for its children. */
static unsigned offered(const char *dir, unsigned want)
{
	return listed(dir, "cgroup.controllers", want);
}

/*
 * dir's cgroup.type ("domain", "domain threaded", "domain invalid",
 * "threaded"), or "root" for a root, which has none and may mix
 * processes with controller-enabled children.
 */
static void group_type(const char *dir, char *buf, size_t len)
{
	if (read_file(dir, "cgroup.type", buf, len)) {
		snprintf(buf, len, "root");
		return;
	}
	buf[strcspn(buf, "\n")] = '\0';
}

/* Whether dir holds processes of its own (not counting its children). */
static int has_processes(const char *dir)
{
	char c;
	int fd = open_in_leaf(dir, "cgroup.procs", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, &c, 1);
	close(fd);
	return n > 0;
}

/* Fills why, unless an earlier, more precise reason is there. */
static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why[0])
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

#define DELEGATE_HINT                                                          \
	"give the pool an empty, delegated parent in cgroup_parent (under "    \
	"systemd: Delegate=yes and DelegateSubgroup=, and cgroup_parent "      \
	"the service's group, the parent of that subgroup; see the README)"

/*
 * Enables each controller of mask for dir's children, one at a time, so
 * one refusal does not hide the others; returns those that took. A
 * group with processes of its own is left alone: it refuses memory, and
 * accepting pids or cpu (which the kernel lets threads share) would turn
 * it into a thread root ("domain threaded") whose child groups can take
 * no process, for this pool and every later one. A write that changes
 * dir's type anyway (a process joined meanwhile) is undone.
 */
static unsigned enable(const char *dir, unsigned mask, char *why,
		       size_t why_len)
{
	char cmd[32], before[32], after[32], names[64];
	unsigned on = 0;
	size_t i;
	int err;

	if (!mask)
		return 0;
	group_type(dir, before, sizeof(before));
	if (strcmp(before, "root") && has_processes(dir)) {
		say(why, why_len,
		    "%s has processes of its own, so it cannot enable %s for "
		    "the pool's group: " DELEGATE_HINT,
		    dir, pp_cgroup_names(mask, names, sizeof(names)));
		return 0;
	}
	for (i = 0; i < NCTRL; i++) {
		if (!(mask & controllers[i].bit))
			continue;
		snprintf(cmd, sizeof(cmd), "+%s", controllers[i].name);
		err = write_file(dir, "cgroup.subtree_control", cmd);
		if (err) {
			say(why, why_len,
			    "%s refused to enable %s for its children "
			    "(%s): " DELEGATE_HINT,
			    dir, controllers[i].name, strerror(-err));
			continue;
		}
		group_type(dir, after, sizeof(after));
		if (strcmp(before, after)) {
			cmd[0] = '-';
			(void)write_file(dir, "cgroup.subtree_control", cmd);
			say(why, why_len,
			    "%s took processes meanwhile, and enabling %s "
			    "made it '%s': undone; " DELEGATE_HINT,
			    dir, controllers[i].name, after);
			continue;
		}
		on |= controllers[i].bit;
	}
	return on;
}

/* Whether a group and everything under it holds no process. */
static int unpopulated(const char *dir)
{
	char buf[256];

	return !read_file(dir, "cgroup.events", buf, sizeof(buf)) &&
	       strstr(buf, "populated 0");
}

/*
 * Removes a pool's group and its (empty) leaves; the kernel refuses to
 * remove a group that still holds a process. Returns 0 or -errno.
 */
static int remove_group(const char *path)
{
	char leaf[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (!unpopulated(path))
		return -EBUSY;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL)
		if (e->d_type == DT_DIR && e->d_name[0] != '.' &&
		    (size_t)snprintf(leaf, sizeof(leaf), "%s/%s", path,
				     e->d_name) < sizeof(leaf))
			(void)rmdir(leaf);
	closedir(d);
	return rmdir(path) ? -errno : 0;
}

/*
 * A host killed with SIGKILL leaves its processpool-PID-N groups behind
 * (its workers die with it: they hold a death signal). Those whose owner
 * is gone and that hold no process are removed; pids are reused, so an
 * owner that seems alive keeps its groups, and a group that still holds
 * a process (a worker's orphan, or a pool of a host in another pid
 * namespace) is never touched. This process's own are skipped: its other
 * pools may be starting.
 */
static unsigned reap_stale(const char *base)
{
	char path[PATH_MAX];
	struct dirent *e;
	unsigned n = 0;
	int pid, end;
	unsigned gen;
	DIR *d = opendir(base);

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		end = 0;
		if (e->d_type != DT_DIR ||
		    sscanf(e->d_name, "processpool-%d-%u%n", &pid, &gen,
			   &end) != 2 ||
		    e->d_name[end] || pid <= 0 || pid == (int)getpid())
			continue;
		if (!kill(pid, 0) || errno != ESRCH)
			continue; /* alive, or not ours to signal */
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", base,
				     e->d_name) < sizeof(path) &&
		    !remove_group(path))
			n++;
	}
	closedir(d);
	return n;
}

/* Creates the pool's group; one that a dead process with this pid left
 * behind is taken over when it holds nothing. Returns 0 or -errno. */
static int make_group(const char *path)
{
	if (!mkdir(path, 0755))
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (remove_group(path))
		return -EEXIST;
	return mkdir(path, 0755) ? -errno : 0;
}

int pp_cgroup_pool_open(struct pp_cgroup_pool *cg, const char *parent,
			const char *name, unsigned want, char *why,
			size_t why_len)
{
	char mount[PATH_MAX], own[PATH_MAX], base[2 * PATH_MAX + 2];
	char kill_file[PATH_MAX + 16], type[32], names[64];
	unsigned absent;
	struct stat st;
	int err;

	memset(cg, 0, sizeof(*cg));
	why[0] = '\0';
	err = pp_cgroup_find(mount, sizeof(mount), own, sizeof(own));
	if (err) {
		snprintf(why, why_len, "no cgroup2 filesystem mounted");
		return err;
	}
	if (parent && *parent)
		snprintf(base, sizeof(base), "%s%s%s",
			 strncmp(parent, mount, strlen(mount)) ? mount : "",
			 parent[0] == '/' ? "" : "/", parent);
	else
		snprintf(base, sizeof(base), "%s%s", mount,
			 strcmp(own, "/") ? own : "");
	if (snprintf(cg->path, sizeof(cg->path), "%s/%s", base, name) >=
	    (int)sizeof(cg->path))
		return -ENAMETOOLONG;
	cg->stale_removed = reap_stale(base);
	absent = want & ~offered(base, want);
	/* The parent enables what it offers, unless that would change its
	 * type; then the pool's group enables it for its leaves. */
	enable(base,
	       offered(base, want) &
		   ~listed(base, "cgroup.subtree_control", want),
	       why, why_len);
	err = make_group(cg->path);
	if (err) {
		snprintf(why, why_len, "cannot create %s: %s", cg->path,
			 strerror(-err));
		return err;
	}
	/* Under a thread root, a new group is "domain invalid": no process
	 * could join its leaves. */
	group_type(cg->path, type, sizeof(type));
	if (strcmp(type, "domain")) {
		rmdir(cg->path);
		snprintf(why, why_len,
			 "a new group under %s is '%s': no process could "
			 "join it (is %s 'domain threaded'?); " DELEGATE_HINT,
			 base, type, base);
		return -EOPNOTSUPP;
	}
	cg->available = enable(cg->path, offered(cg->path, want), why, why_len);
	if (absent)
		say(why, why_len,
		    "%s does not offer %s (not in its cgroup.controllers: "
		    "not enabled by its parent, or bound to cgroup "
		    "v1): " DELEGATE_HINT,
		    base, pp_cgroup_names(absent, names, sizeof(names)));
	snprintf(kill_file, sizeof(kill_file), "%s/cgroup.kill", cg->path);
	cg->have_kill = stat(kill_file, &st) == 0;
	cg->open = 1;
	return 0;
}

void pp_cgroup_pool_close(struct pp_cgroup_pool *cg)
{
	if (cg && cg->open) {
		rmdir(cg->path);
		cg->open = 0;
	}
}

static int apply_limits(const struct pp_cgroup_pool *cg, const char *leaf,
			const struct pp_cgroup_limits *lim)
{
	char v[64];
	int err = 0;

	if (!lim)
		return 0;
	if ((cg->available & PP_CG_MEMORY) && lim->memory_max) {
		snprintf(v, sizeof(v), "%llu",
			 (unsigned long long)lim->memory_max);
		err = write_file(leaf, "memory.max", v);
		if (!err)
			(void)write_file(leaf, "memory.swap.max", "0");
		if (!err)
			err = write_file(leaf, "memory.oom.group", "1");
	}
	if (!err && (cg->available & PP_CG_PIDS) && lim->pids_max) {
		snprintf(v, sizeof(v), "%llu",
			 (unsigned long long)lim->pids_max);
		err = write_file(leaf, "pids.max", v);
	}
	if (!err && (cg->available & PP_CG_CPU) && lim->cpu_max_percent) {
		snprintf(v, sizeof(v), "%u 100000",
			 lim->cpu_max_percent * 1000);
		err = write_file(leaf, "cpu.max", v);
	}
	if (!err && (cg->available & PP_CG_CPU) && lim->cpu_weight) {
		snprintf(v, sizeof(v), "%u", lim->cpu_weight);
		err = write_file(leaf, "cpu.weight", v);
	}
	return err;
}

int pp_cgroup_leaf_create(const struct pp_cgroup_pool *cg, const char *name,
			  const struct pp_cgroup_limits *lim, char *path,
			  size_t len)
{
	int err;

	if (!cg->open)
		return -EINVAL;
	if (snprintf(path, len, "%s/%s", cg->path, name) >= (int)len)
		return -ENAMETOOLONG;
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	err = apply_limits(cg, path, lim);
	if (err)
		rmdir(path);
	return err;
}

int pp_cgroup_leaf_attach(const char *leaf, int pid)
{
	char v[32];

	snprintf(v, sizeof(v), "%d", pid);
	return write_file(leaf, "cgroup.procs", v);
}

int pp_cgroup_leaf_open_procs(const char *leaf)
{
	return open_in_leaf(leaf, "cgroup.procs", O_WRONLY);
}

int pp_cgroup_leaf_kill(const char *leaf)
{
	return write_file(leaf, "cgroup.kill", "1");
}

/* The value of key in the text of a flat-keyed file ("key value\n"...). */
static unsigned long long key_value(const char *buf, const char *key)
{
	size_t klen = strlen(key);
	const char *p;

	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ' ')
			return strtoull(p + klen + 1, NULL, 10);
	return 0;
}

/* The value of key in a flat-keyed file such as memory.events. */
static unsigned long long event(const char *leaf, const char *file,
				const char *key)
{
	char buf[1024];

	if (read_file(leaf, file, buf, sizeof(buf)))
		return 0;
	return key_value(buf, key);
}

int pp_cgroup_leaf_open_file(const char *leaf, const char *file)
{
	return open_in_leaf(leaf, file, O_RDONLY);
}

unsigned long long pp_cgroup_events_value(int fd, const char *key)
{
	char buf[1024];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return key_value(buf, key);
}

unsigned pp_cgroup_leaf_limit_hit(const char *leaf)
{
	unsigned hit = 0;

	if (event(leaf, "memory.events", "oom_kill"))
		hit |= PP_CG_MEMORY;
	if (event(leaf, "pids.events", "max"))
		hit |= PP_CG_PIDS;
	return hit;
}

int pp_cgroup_leaf_remove(const char *leaf)
{
	int i;

	/* The last process may still be leaving the group. */
	for (i = 0; i < 100; i++) {
		if (!rmdir(leaf) || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		usleep(1000);
	}
	return -EBUSY;
}
