/*
 * The zygote's loop, shared by both kinds of zygote (zygote.h): the
 * fork-mode one (a fork of the pool's process, zygote_main.c) and the
 * clean-room one (a fresh exec of the program, zygote_cleanroom.c).
 * Worker side: it knows the protocol (protocol.h) and the worker's
 * setup, not the pool.
 */
#ifndef PP_CORE_ZYGOTE_SERVE_H
#define PP_CORE_ZYGOTE_SERVE_H

#include <sys/types.h>

#include "src/core/protocol.h"
#include "src/core/worker_setup.h"

/* One request as read: checked for magic, size, flags and fd count. */
struct pp_zygote_request {
	struct pp_zygote_request_head head;
	struct pp_worker_setup setup;
	int fds[PP_ZYGOTE_FD_MAX];
	int nfds;
};

/* The fds of a request, for the new worker: its channel's three, and
 * out (stdout/stderr pipe) and procs (the leaf's cgroup.procs, to join
 * it) or -1. */
struct pp_zygote_worker_fds {
	int mem, efd, sock, out, procs;
};

/*
 * Becomes the worker of request q; never returns. Called in the child of
 * the clone, with the zygote's socket closed and fds taken out of q
 * (the leaf directory closed; procs -1 when the clone placed the child
 * in its leaf already). host is the pool's process, the child's parent.
 */
typedef void (*pp_zygote_become_fn)(void *ctx,
				    const struct pp_zygote_request *q,
				    const struct pp_zygote_worker_fds *fds,
				    pid_t host) __attribute__((noreturn));

/*
 * pp_zygote_serve - read requests on sock, clone a worker for each (a
 * child of host, inside its leaf where the kernel can) and answer with
 * its pid and pidfd, until the parent closes its end. A malformed
 * request ends the zygote. Never returns.
 */
void pp_zygote_serve(int sock, pid_t host, pp_zygote_become_fn become,
		     void *ctx) __attribute__((noreturn));

/*
 * pp_zygote_confine - what a parent of workers can bear: no core dump,
 * not dumpable (nobody may trace it or read its memory), no new
 * privileges unless sandbox_off, and no fd but stdio and the n in keep.
 * It keeps what its workers drop themselves (capabilities to switch uid,
 * no seccomp filter of its own, since they would inherit it).
 */
void pp_zygote_confine(int sandbox_off, const int *keep, int n);

#endif /* PP_CORE_ZYGOTE_SERVE_H */
