/* Large payloads as sealed memfds passed over a socket; see fd_payload.h. */
#include "src/ipc/fd_payload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int pp_fd_payload_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	return 0;
}

int pp_fd_payload_make(const void *src, size_t len)
{
	const unsigned char *p = src;
	size_t done = 0;
	int fd, err;

	if (!src || len == 0)
		return -EINVAL;
	fd = memfd_create("processpool-payload",
			  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			close(fd);
			return err;
		}
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, PP_FD_PAYLOAD_SEALS)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int pp_fd_payload_send(int sock, uint64_t tag, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {&tag, sizeof(tag)};
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	memset(&u, 0, sizeof(u));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do
		n = sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	/* ETOOMANYREFS: the sender's user has RLIMIT_NOFILE fds in flight
	 * already; like a full socket, it passes as results are taken. */
	if (n < 0)
		return errno == EWOULDBLOCK || errno == ETOOMANYREFS
			   ? -EAGAIN
			   : -errno;
	return n == (ssize_t)sizeof(tag) ? 0 : -EIO;
}

/* Closes every fd a control message carried. */
static void close_all(struct msghdr *m)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t n, i;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			close(fd);
		}
	}
}

int pp_fd_payload_recv(int sock, uint64_t *tag, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(PP_FD_PAYLOAD_MAX_FDS * sizeof(int))];
	} u;
	unsigned char data[sizeof(*tag) + 1];
	struct iovec iov = {data, sizeof(data)};
	struct msghdr m;
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &m, PP_FD_PAYLOAD_RECV_FLAGS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	c = CMSG_FIRSTHDR(&m);
	if (n != (ssize_t)sizeof(*tag) || (m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) ||
	    !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)) || CMSG_NXTHDR(&m, c)) {
		close_all(&m);
		return -EPROTO;
	}
	memcpy(fd, CMSG_DATA(c), sizeof(int));
	memcpy(tag, data, sizeof(*tag));
	return 0;
}

int pp_fd_payload_map_trusted(int fd, size_t len, const void **ptr)
{
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);

	*ptr = NULL;
	if (p == MAP_FAILED)
		return -errno;
	*ptr = p;
	return 0;
}

int pp_fd_payload_map(int fd, uint64_t len, const void **ptr)
{
	struct stat st;
	int seals;
	void *p;

	*ptr = NULL;
	if (len == 0 || len > (uint64_t)SIZE_MAX || fstat(fd, &st) ||
	    !S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
		return -EPROTO;
	/* Only memfds (and shmem) answer F_GET_SEALS. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 ||
	    (seals & PP_FD_PAYLOAD_SEALS) != PP_FD_PAYLOAD_SEALS)
		return -EPROTO;
	p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	/* The caller's output: no fork-mode worker spawned later sees it. */
	if (madvise(p, (size_t)len, MADV_DONTFORK)) {
		int err = -errno;

		munmap(p, (size_t)len);
		return err;
	}
	*ptr = p;
	return 0;
}
