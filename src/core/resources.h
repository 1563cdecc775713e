/*
 * Resource use of a process, read by the parent from /proc/PID and, for
 * a worker in a cgroup leaf, from the leaf's files. Nothing here trusts
 * the measured process: it only reads figures the kernel keeps.
 */
#ifndef PP_CORE_RESOURCES_H
#define PP_CORE_RESOURCES_H

#include <stddef.h>
#include <sys/types.h>

#include "process_pool.h"

/*
 * pp_usage_read - fill *out for pid (0: this process) from /proc. With
 * child set, pid must be a child of this process (a pid reused by some
 * other process after the worker was reaped is refused). When pool_group
 * is non-NULL and non-empty (the pool's cgroup, absolute path) and pid's
 * cgroup v2 group is a leaf directly under it, the leaf's figures are
 * read too. Returns 0, or -errno when /proc/PID/stat cannot be read or
 * the process is not our child (-ESRCH); *out is then zeroed.
 * Thread-safe: no shared state.
 */
int pp_usage_read(pid_t pid, int child, const char *pool_group,
		  pool_resource_usage_t *out);

/*
 * pp_usage_leaf_of - from the text of /proc/PID/cgroup (changed in
 * place), the absolute path of the process's cgroup v2 leaf when it lies
 * directly under pool_group, into leaf. Returns 0 or -1 (elsewhere, or
 * malformed).
 */
int pp_usage_leaf_of(char *cgroup_text, const char *pool_group, char *leaf,
		     size_t len);

/* pp_usage_read_leaf - the leaf's figures into out's cg_* fields (and
 * POOL_USAGE_CGROUP into source), when the leaf exists. */
void pp_usage_read_leaf(const char *leaf, pool_resource_usage_t *out);

#endif /* PP_CORE_RESOURCES_H */
