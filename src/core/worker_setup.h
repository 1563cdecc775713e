/*
 * The worker side's entry: what a worker sets itself up with, and the
 * call that turns the calling process into a worker. A forked worker gets
 * the setup from the parent's side of the fork (worker.c); a clean-room
 * one reads it from the setup memfd (cleanroom_entry.c). Nothing here
 * knows the pool: the worker side sees only this struct and its channel.
 */
#ifndef PP_CORE_WORKER_SETUP_H
#define PP_CORE_WORKER_SETUP_H

#include <stddef.h>
#include <stdint.h>

#include "sandbox/seccomp_policy.h"
#include "src/core/modules.h"

struct pp_worker_setup {
	int index; /* worker slot */
	size_t max_output;
	int sandbox_off;
	int seccomp_errno;
	unsigned long rlimit_as, rlimit_nofile, rlimit_cpu_s, rlimit_nproc;
	unsigned uid, gid;
	uint64_t keep_caps; /* capabilities kept (bit n: capability n) */
	int cpu;	    /* pin to this CPU; -1: no pinning */
	int node;	    /* prefer its memory; -1: none */
	struct pp_seccomp_program seccomp; /* compiled in the parent */
	/* Clean-room: resolves the SUBMIT func references; NULL: they are
	 * the pointers themselves (fork mode). */
	const struct pp_module_table *modules;
	/* The initializer (worker_init.h): a pointer, or a module reference
	 * in clean-room mode; 0: none. Its argument lives as long as the
	 * worker. */
	uint64_t init_ref;
	const void *init_arg;
	size_t init_arg_size;
	int task_usage; /* 1: measure each task, send USAGE frames */
};

/*
 * pp_worker_enter - open the channel from memfd and efd (and sock, its
 * end of the payload socket), close every other fd but stdio, place and confine the process as s says, and run
 * the worker loop. For both spawn modes; never returns.
 */
void pp_worker_enter(const struct pp_worker_setup *s, int memfd, int efd,
		     int sock)
    __attribute__((noreturn));

#endif /* PP_CORE_WORKER_SETUP_H */
