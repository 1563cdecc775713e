/*
 * cgroup v2 for workers: one group per pool, one leaf per worker, limits
 * written into the leaves, cgroup.kill to tear a worker down with
 * everything it started, memory.events / pids.events to tell a limit from
 * a crash.
 *
 * The pool's group goes under an explicitly delegated parent
 * (cgroup_parent) or under the process's own group. A group with
 * processes cannot enable controllers for its children ("no internal
 * processes"), so limits need a delegated parent (systemd's Delegate=yes
 * gives a service one) or a host where the own group is empty of
 * processes; without one, groups still work (kill, freeze), limits do
 * not, and pp_cgroup_pool says which controllers are in force. No group's
 * cgroup.type is ever changed: a group with processes of its own is
 * never asked to enable a controller (pids and cpu would be accepted and
 * turn it into a thread root whose children can take no process).
 *
 * Hybrid v1/v2 hosts (cgroup2 mounted with few or no controllers) are
 * handled the same way: what is missing is reported, never pretended.
 *
 * Thread-safety: a pool's cgroup state belongs to its supervisor.
 */
#ifndef PP_SANDBOX_CGROUP_H
#define PP_SANDBOX_CGROUP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_CG_MEMORY 1u
#define PP_CG_PIDS   2u
#define PP_CG_CPU    4u

struct pp_cgroup_limits {
	uint64_t memory_max;	  /* bytes, 0: none */
	uint64_t pids_max;	  /* 0: none */
	unsigned cpu_max_percent; /* of one CPU, 0: none */
	unsigned cpu_weight;	  /* cpu.weight 1..10000, 0: unchanged */
};

struct pp_cgroup_pool {
	char path[PATH_MAX]; /* the pool's group, absolute */
	unsigned available;  /* PP_CG_* the leaves can use */
	int have_kill;	     /* cgroup.kill exists (Linux >= 5.14) */
	int open;
	unsigned stale_removed; /* groups of dead hosts removed at open */
};

/*
 * pp_cgroup_find - the cgroup2 mount and this process's group in it,
 * from /proc/self/mountinfo and /proc/self/cgroup. Returns 0 or -ENOENT
 * (no cgroup2 mounted) / -errno.
 */
int pp_cgroup_find(char *mount, size_t mlen, char *own, size_t olen);

/*
 * pp_cgroup_pool_open - create the pool's group (name must be unique,
 * "processpool-PID-N") under parent (a path under the cgroup2 mount, or
 * NULL for this process's own group) and enable in it the controllers of
 * want that its parent offers or may enable without changing its type.
 * First removes the empty processpool-PID-N groups there whose PID is
 * gone (hosts killed without cleaning up). Returns 0, with why saying
 * what to do when some of want is not available, or a negative errno
 * with why filled.
 */
int pp_cgroup_pool_open(struct pp_cgroup_pool *cg, const char *parent,
			const char *name, unsigned want, char *why,
			size_t why_len);

/* pp_cgroup_pool_close - remove the pool's (empty) group. */
void pp_cgroup_pool_close(struct pp_cgroup_pool *cg);

/*
 * pp_cgroup_leaf_create - a leaf "name" in the pool's group with the
 * limits the pool can apply (memory.oom.group set, swap off when memory
 * is limited). path receives its absolute path. Returns 0 or -errno.
 */
int pp_cgroup_leaf_create(const struct pp_cgroup_pool *cg, const char *name,
			  const struct pp_cgroup_limits *lim, char *path,
			  size_t len);

/* pp_cgroup_leaf_attach - move pid into the leaf. 0 or -errno. */
int pp_cgroup_leaf_attach(const char *leaf, int pid);

/*
 * pp_cgroup_leaf_open_procs - an fd (O_WRONLY | O_CLOEXEC) on the leaf's
 * cgroup.procs: a child writes "0" to it to move itself in. Returns the
 * fd or -errno; the caller closes it.
 */
int pp_cgroup_leaf_open_procs(const char *leaf);

/* pp_cgroup_leaf_kill - SIGKILL everything in the leaf. 0 or -errno. */
int pp_cgroup_leaf_kill(const char *leaf);

/*
 * pp_cgroup_leaf_limit_hit - which limit stopped something in the leaf:
 * PP_CG_MEMORY (an OOM kill), PP_CG_PIDS (a fork refused), or 0.
 */
unsigned pp_cgroup_leaf_limit_hit(const char *leaf);

/*
 * pp_cgroup_leaf_open_file - an fd (O_RDONLY | O_CLOEXEC) on the leaf's
 * file, such as "pids.events", to read it again cheaply with
 * pp_cgroup_events_value. Returns the fd or -errno; the caller closes it.
 */
int pp_cgroup_leaf_open_file(const char *leaf, const char *file);

/*
 * pp_cgroup_events_value - the value of key in a flat-keyed file
 * ("max 3\n" in pids.events), read from its start through fd; 0 when the
 * key is absent or the read fails.
 */
unsigned long long pp_cgroup_events_value(int fd, const char *key);

/* pp_cgroup_leaf_remove - rmdir the leaf once its processes are gone. */
int pp_cgroup_leaf_remove(const char *leaf);

/* pp_cgroup_names - "memory,pids" for a PP_CG_* mask, into buf. */
const char *pp_cgroup_names(unsigned mask, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* PP_SANDBOX_CGROUP_H */
