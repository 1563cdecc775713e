/*
 * The zygote, parent side: start it, ask it for workers, check what it
 * answers, and replace it when it fails (zygote.h).
 */
#include "src/core/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/core/clock.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* A zygote that takes longer than this to answer is taken for hung. */
#define ANSWER_MS 2000
/* The first answer of a clean-room zygote includes its exec and the
 * program's loading (slow under sanitizers). */
#define FIRST_ANSWER_MS 10000
/* After a failed start, spawns fork directly for this long. */
#define RETRY_NS (1000LL * 1000000)

static int known_worker(const struct process_pool *pool, pid_t pid)
{
	int i;

	for (i = 0; i < pool->n_slots; i++)
		if (pool->workers[i].state != PP_WORKER_EMPTY &&
		    pool->workers[i].pid == pid)
			return 1;
	return 0;
}

/*
 * A zygote lost in the middle of a request may have made a worker whose
 * pid never reached us: a child of this (the supervisor) thread, as every
 * worker and zygote is, that no slot holds. Killed and reaped, so it
 * neither runs unwatched nor stays a zombie. Without /proc's children
 * list (CONFIG_PROC_CHILDREN) such a worker lives until the pool stops.
 */
static void sweep(const struct process_pool *pool)
{
	char path[64], buf[4096], *p, *end;
	siginfo_t info;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children",
		 (int)syscall(SYS_gettid));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (p = buf;; p = end) {
		long pid = strtol(p, &end, 10);
		int pidfd;

		if (end == p)
			break;
		if (pid <= 0 || known_worker(pool, (pid_t)pid))
			continue;
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (pidfd < 0)
			continue;
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED) <
			   0 &&
		       errno == EINTR)
			;
		close(pidfd);
	}
}

static void lost(struct process_pool *pool, const char *why)
{
	struct pp_zygote *z = &pool->zygote;
	siginfo_t info;

	if (!z->pid)
		return;
	pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "zygote_lost",
	       "pid=%d reason=\"%s\"", (int)z->pid, why);
	syscall(SYS_pidfd_send_signal, z->pidfd, SIGKILL, NULL, 0);
	/* ECHILD: a host that ignores SIGCHLD reaped it already. */
	while (waitid((idtype_t)P_PIDFD, (id_t)z->pidfd, &info, WEXITED) < 0 &&
	       errno == EINTR)
		;
	close(z->pidfd);
	close(z->sock);
	z->pid = 0;
	z->pidfd = z->sock = -1;
	atomic_store(&z->info_pid, 0);
	sweep(pool);
}

static int start(struct process_pool *pool)
{
	int cleanroom = pool->cfg.spawn_mode == POOL_SPAWN_CLEANROOM;
	struct pp_zygote *z = &pool->zygote;
	struct pp_cleanroom_exec ex;
	pid_t host = getpid(), pid;
	int sv[2], err;

	/* Built before the fork: the child of a threaded parent only
	 * makes async-signal-safe calls until it execs. */
	if (cleanroom)
		pp_cleanroom_zygote_exec_prepare(pool, &ex);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		/* It dies with the supervisor thread, as workers do. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != host)
			_exit(1);
		close(sv[0]);
		if (cleanroom)
			pp_cleanroom_exec_zygote(&pool->cleanroom, sv[1], &ex);
		pp_zygote_main(pool, sv[1]);
	}
	close(sv[1]);
	z->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (z->pidfd < 0) {
		err = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0); /* our own child, by pid */
		close(sv[0]);
		return err;
	}
	z->pid = pid;
	z->sock = sv[0];
	z->answered = !cleanroom;
	if (z->starts++)
		atomic_fetch_add(&z->info_restarts, 1);
	atomic_store(&z->info_pid, (int)pid);
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "zygote_started", "pid=%d",
	       (int)pid);
	return 0;
}

/* Sends the request for slot w; 0, or -ECONNRESET when it could not be
 * sent (the zygote is gone, and made nothing). */
static int ask(struct process_pool *pool, int *fds, int nfds, uint32_t flags,
	       const struct pp_worker_setup *s)
{
	struct pp_zygote *z = &pool->zygote;
	struct pp_worker_setup index_only;
	struct pp_zygote_request_head head = {PP_ZYGOTE_MAGIC, ++z->seq, flags,
					      (uint32_t)sizeof(*s)};
	struct iovec iov[2] = {{&head, sizeof(head)},
			       {(void *)(uintptr_t)s, sizeof(*s)}};
	char ctl[CMSG_SPACE(sizeof(int) * PP_ZYGOTE_FD_MAX)];
	struct msghdr m;
	struct cmsghdr *c;

	/* A clean-room zygote reads the setup from the sealed memfd: it is
	 * sent the slot alone, and none of the host's addresses. */
	if (pool->cfg.spawn_mode == POOL_SPAWN_CLEANROOM) {
		memset(&index_only, 0, sizeof(index_only));
		index_only.index = s->index;
		iov[1].iov_base = &index_only;
	}
	memset(&m, 0, sizeof(m));
	memset(ctl, 0, sizeof(ctl));
	m.msg_iov = iov;
	m.msg_iovlen = 2;
	m.msg_control = ctl;
	m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	if (sendmsg(z->sock, &m, MSG_NOSIGNAL) !=
	    (ssize_t)(sizeof(head) + sizeof(*s)))
		return -ECONNRESET;
	return 0;
}

/* The fds a reply carried, into fds (up to max); their count, or -1 when
 * the control data was cut short (what came is closed). */
static int reply_fds(struct msghdr *m, int *fds, int max)
{
	struct cmsghdr *c;
	int n = 0, i, k;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + sizeof(int) * (size_t)i,
			       sizeof(fd));
			if (n < max)
				fds[n] = fd;
			else
				close(fd);
			n++;
		}
	}
	if (!(m->msg_flags & MSG_CTRUNC) && n <= max)
		return n;
	for (i = 0; i < n && i < max; i++)
		close(fds[i]);
	return -1;
}

/*
 * The answer to the last request: 0 with *pid and *pidfd, -EPIPE when it
 * is not one (the zygote is then replaced), or the clone's -errno.
 */
static int answer(struct process_pool *pool, pid_t *pid, int *pidfd)
{
	struct pp_zygote *z = &pool->zygote;
	struct pp_zygote_reply r;
	struct iovec iov = {&r, sizeof(r)};
	char ctl[CMSG_SPACE(sizeof(int) * 2)];
	struct pollfd p = {z->sock, POLLIN, 0};
	struct msghdr m;
	ssize_t n;
	int fds[2], nfds;

	if (poll(&p, 1, z->answered ? ANSWER_MS : FIRST_ANSWER_MS) != 1)
		return -EPIPE;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl;
	m.msg_controllen = sizeof(ctl);
	n = recvmsg(z->sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	nfds = n > 0 ? reply_fds(&m, fds, 2) : 0;
	if (n != (ssize_t)sizeof(r) || (m.msg_flags & MSG_TRUNC) || nfds < 0 ||
	    r.magic != PP_ZYGOTE_MAGIC || r.seq != z->seq ||
	    nfds != (r.pid > 0) || r.pid < 0) {
		while (nfds-- > 0)
			close(fds[nfds]);
		return -EPIPE;
	}
	if (!r.pid)
		return r.err > 0 && r.err < 4096 ? -r.err : -EIO;
	/* A pidfd, of the pid named: signal 0 reaches it. */
	if (syscall(SYS_pidfd_send_signal, fds[0], 0, NULL, 0) != 0) {
		close(fds[0]);
		return -EPIPE;
	}
	z->answered = 1;
	*pid = r.pid;
	*pidfd = fds[0];
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "zygote_clone",
	       "pid=%d into_cgroup=%u", (int)r.pid, r.into_cgroup);
	return 0;
}

/* The request's fds for slot w, in enum pp_zygote_fd order; their count.
 * *leaf_fd is the leaf directory the caller closes, or -1. */
static int gather(const struct pp_worker *w, int procs_fd, int out_fd, int *fds,
		  uint32_t *flags, int *leaf_fd)
{
	int n = 0;

	*flags = 0;
	*leaf_fd = -1;
	fds[n++] = w->ch.fd;
	fds[n++] = w->ch.parent_eventfd;
	fds[n++] = w->ch.worker_sock;
	if (out_fd >= 0) {
		fds[n++] = out_fd;
		*flags |= PP_ZYGOTE_F_OUT;
	}
	if (procs_fd >= 0) {
		*leaf_fd = open(w->cg_leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*leaf_fd >= 0) {
			fds[n++] = procs_fd;
			fds[n++] = *leaf_fd;
			*flags |= PP_ZYGOTE_F_LEAF;
		}
	}
	return n;
}

int pp_zygote_fork(struct process_pool *pool, const struct pp_worker *w,
		   int procs_fd, int out_fd, const struct pp_worker_setup *s,
		   pid_t *pid, int *pidfd)
{
	struct pp_zygote *z = &pool->zygote;
	int fds[PP_ZYGOTE_FD_MAX], nfds, leaf_fd, attempt, err = -ENOSYS;
	uint32_t flags;

	/* No clone3 on this kernel (found at the first request): the
	 * caller forks the worker itself, as without a zygote. */
	if (z->disabled)
		return -ENOSYS;
	/* Without a leaf directory to clone into, the child joins through
	 * cgroup.procs, as a forked one does. */
	nfds = gather(w, procs_fd, out_fd, fds, &flags, &leaf_fd);
	if (procs_fd >= 0 && leaf_fd < 0)
		return -errno;
	/* A zygote found gone at the send made nothing: start another and
	 * ask it. One gone after the send may have (zygote.h). */
	for (attempt = 0; attempt < 2; attempt++) {
		if (!z->pid) {
			if (z->retry_at_ns && pp_now_ns() < z->retry_at_ns)
				break;
			err = start(pool);
			if (err) {
				z->retry_at_ns = pp_now_ns() + RETRY_NS;
				break;
			}
		}
		err = ask(pool, fds, nfds, flags, s);
		if (!err)
			err = answer(pool, pid, pidfd);
		if (err == -ENOSYS) {
			/* No clone3 here: every spawn forks directly. */
			z->disabled = 1;
			pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name,
			       "zygote_off", "reason=\"clone3 not available\"");
			pp_zygote_stop(pool);
		}
		if (err == -ECONNRESET)
			lost(pool, "gone");
		else if (err == -EPIPE)
			lost(pool, "no answer, or not a valid one");
		if (err != -ECONNRESET)
			break;
	}
	if (leaf_fd >= 0)
		close(leaf_fd);
	if (err)
		pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "zygote_fallback",
		       "worker=%d errno=%d", w->index, -err);
	return err;
}

void pp_zygote_stop(struct process_pool *pool)
{
	struct pp_zygote *z = &pool->zygote;
	siginfo_t info;

	if (!z->pid)
		return;
	/* The end of its socket ends it; SIGKILL in case it is stuck. */
	close(z->sock);
	syscall(SYS_pidfd_send_signal, z->pidfd, SIGKILL, NULL, 0);
	while (waitid((idtype_t)P_PIDFD, (id_t)z->pidfd, &info, WEXITED) < 0 &&
	       errno == EINTR)
		;
	close(z->pidfd);
	z->pid = 0;
	z->pidfd = z->sock = -1;
	atomic_store(&z->info_pid, 0);
}
