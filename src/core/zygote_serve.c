/*
 * The zygote's loop: read a request, clone a worker, answer
 * (zygote_serve.h). Runs in a single-threaded process: the fork-mode
 * zygote, a child of the supervisor thread's fork, calls nothing that
 * takes a lock another of the host's threads may have held.
 */
#include "src/core/zygote_serve.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The kernel's struct clone_args (linux/sched.h, Linux 5.7), spelled out:
 * that header and glibc's <sched.h> do not mix. */
struct pp_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

static void close_all(int *fds, int n)
{
	while (n-- > 0)
		close(fds[n]);
}

/* Reads one request; 1, or 0 when the parent is gone. A malformed one
 * is the parent's bug or a stranger's: the zygote stops. */
static int read_request(int sock, struct pp_zygote_request *q)
{
	struct iovec iov[2] = {{&q->head, sizeof(q->head)},
			       {&q->setup, sizeof(q->setup)}};
	char ctl[CMSG_SPACE(sizeof(int) * PP_ZYGOTE_FD_MAX)];
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;
	int want;

	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = 2;
	m.msg_control = ctl;
	m.msg_controllen = sizeof(ctl);
	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	q->nfds = 0;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    q->nfds + k > PP_ZYGOTE_FD_MAX)
			_exit(1);
		memcpy(q->fds + q->nfds, CMSG_DATA(c), sizeof(int) * (size_t)k);
		q->nfds += k;
	}
	want = 3 + !!(q->head.flags & PP_ZYGOTE_F_OUT) +
	       2 * !!(q->head.flags & PP_ZYGOTE_F_LEAF);
	if (n != (ssize_t)(sizeof(q->head) + sizeof(q->setup)) ||
	    (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    q->head.magic != PP_ZYGOTE_MAGIC ||
	    q->head.setup_size != sizeof(q->setup) || q->nfds != want ||
	    (q->head.flags & ~(PP_ZYGOTE_F_OUT | PP_ZYGOTE_F_LEAF)))
		_exit(1);
	return 1;
}

static void reply(int sock, const struct pp_zygote_reply *r, int pidfd)
{
	struct iovec iov = {(void *)(uintptr_t)r, sizeof(*r)};
	char ctl[CMSG_SPACE(sizeof(int))];
	struct msghdr m;
	struct cmsghdr *c;

	memset(&m, 0, sizeof(m));
	memset(ctl, 0, sizeof(ctl));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (pidfd >= 0) {
		m.msg_control = ctl;
		m.msg_controllen = sizeof(ctl);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
	}
	if (sendmsg(sock, &m, MSG_NOSIGNAL) != (ssize_t)sizeof(*r))
		_exit(0); /* the parent is gone */
}

/* clone3 as fork, the child the host's; inside the leaf when it can. */
static long clone_worker(int leaf_fd, int *pidfd, int *into)
{
	struct pp_clone_args a;
	long pid;

	memset(&a, 0, sizeof(a));
	a.flags = CLONE_PARENT | CLONE_PIDFD;
	a.pidfd = (uint64_t)(uintptr_t)pidfd;
	/* clone3 refuses an exit signal with CLONE_PARENT: the child takes
	 * the zygote's own, SIGCHLD, so the pool reaps it as a forked one. */
	a.exit_signal = 0;
	*into = 0;
	if (leaf_fd >= 0) {
		a.flags |= CLONE_INTO_CGROUP;
		a.cgroup = (uint64_t)leaf_fd;
		pid = syscall(SYS_clone3, &a, sizeof(a));
		if (pid >= 0) {
			*into = 1;
			return pid;
		}
		if (errno == ENOSYS || errno == EAGAIN || errno == ENOMEM)
			return -1;
		/* An older kernel or a leaf it refuses: the child joins
		 * through cgroup.procs instead. */
		a.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
		a.cgroup = 0;
	}
	return syscall(SYS_clone3, &a, sizeof(a));
}

static int by_value(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

void pp_zygote_confine(int sandbox_off, const int *keep, int n)
{
	struct rlimit none = {0, 0};
	int sorted[8], i, from = 3;

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0);
	if (!sandbox_off)
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (n > 8)
		_exit(1);
	memcpy(sorted, keep, sizeof(int) * (size_t)n);
	qsort(sorted, (size_t)n, sizeof(int), by_value);
	for (i = 0; i < n; i++) {
		if (sorted[i] < from)
			continue;
		if (sorted[i] > from)
			syscall(SYS_close_range, (unsigned)from,
				(unsigned)sorted[i] - 1, 0u);
		from = sorted[i] + 1;
	}
	syscall(SYS_close_range, (unsigned)from, ~0u, 0u);
}

/* In the child of the clone: the request's fds, sorted out. */
static __attribute__((noreturn)) void
become_worker(const struct pp_zygote_request *q, int sock, pid_t host, int into,
	      pp_zygote_become_fn become, void *ctx)
{
	struct pp_zygote_worker_fds f = {q->fds[PP_ZYGOTE_FD_MEM],
					 q->fds[PP_ZYGOTE_FD_EFD],
					 q->fds[PP_ZYGOTE_FD_SOCK], -1, -1};

	close(sock);
	if (q->head.flags & PP_ZYGOTE_F_OUT)
		f.out = q->fds[PP_ZYGOTE_FD_OUT];
	if (q->head.flags & PP_ZYGOTE_F_LEAF) {
		int base =
		    PP_ZYGOTE_FD_OUT + !!(q->head.flags & PP_ZYGOTE_F_OUT);

		close(q->fds[base + 1]); /* the leaf directory */
		f.procs = into ? -1 : q->fds[base];
		if (into)
			close(q->fds[base]);
	}
	become(ctx, q, &f, host);
}

void pp_zygote_serve(int sock, pid_t host, pp_zygote_become_fn become,
		     void *ctx)
{
	static struct pp_zygote_request q;

	while (read_request(sock, &q)) {
		struct pp_zygote_reply r;
		int pidfd = -1, into = 0, leaf = -1;
		long pid;

		if (q.head.flags & PP_ZYGOTE_F_LEAF)
			leaf = q.fds[q.nfds - 1];
		pid = clone_worker(leaf, &pidfd, &into);
		if (pid == 0)
			become_worker(&q, sock, host, into, become, ctx);
		close_all(q.fds, q.nfds);
		memset(&r, 0, sizeof(r));
		r.magic = PP_ZYGOTE_MAGIC;
		r.seq = q.head.seq;
		r.pid = pid > 0 ? (int32_t)pid : 0;
		r.err = pid > 0 ? 0 : errno;
		r.into_cgroup = (uint32_t)into;
		reply(sock, &r, pid > 0 ? pidfd : -1);
		if (pidfd >= 0)
			close(pidfd);
	}
	_exit(0);
}
