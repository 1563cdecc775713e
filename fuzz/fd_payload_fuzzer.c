/*
 * The parent's side of the large-payload socket against a worker that
 * sends anything: a message of 0..15 bytes with 0..5 fds, each a memfd
 * of some size with some seals (or a pipe, or a regular file), then an
 * announced length. The model: pp_fd_payload_recv takes the message only
 * when it is exactly an 8-byte tag and one fd; pp_fd_payload_map accepts
 * that fd only when it is a memfd with all four seals of exactly the
 * announced size, and then the bytes mapped are the ones sealed. No fd
 * is ever left open by a refusal.
 *
 * Input: ops, each: u8 data length (% 16), u8 fd count (% 6), per fd u8
 * kind (% 4: memfd, pipe, file, memfd) + u8 seals (4 bits) + u16 size,
 * then u16 announced length.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz/fuzz_check.h"
#include "src/ipc/cursor.h"
#include "src/ipc/fd_payload.h"

#define MAX_FDS 5

static const unsigned seal_bits[4] = {F_SEAL_WRITE, F_SEAL_SHRINK,
				      F_SEAL_GROW, F_SEAL_SEAL};

struct sent {
	int fd;
	int good;	/* a memfd with all four seals */
	uint16_t size;
};

static int make_fd(unsigned kind, unsigned seals, uint16_t size,
		   struct sent *s)
{
	unsigned i, add = 0;
	int fd;

	s->good = 0;
	s->size = size;
	if (kind == 1) {
		int pv[2];

		if (pipe2(pv, O_CLOEXEC))
			return -1;
		close(pv[1]);
		return pv[0];
	}
	if (kind == 2) {
		char name[] = "/tmp/fd_payload_fuzzXXXXXX";

		fd = mkstemp(name);
		if (fd >= 0) {
			unlink(name);
			if (size && pwrite(fd, "f", 1, size - 1) != 1) {
				close(fd);
				return -1;
			}
		}
		return fd;
	}
	fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (size) {
		unsigned char buf[8192];

		for (i = 0; i < size; i++)
			buf[i] = (unsigned char)(i * 7);
		if (pwrite(fd, buf, size, 0) != (ssize_t)size) {
			close(fd);
			return -1;
		}
	}
	for (i = 0; i < 4; i++)
		if (seals & (1u << i))
			add |= seal_bits[i];
	if (add && fcntl(fd, F_ADD_SEALS, add)) {
		close(fd);
		return -1;
	}
	s->good = (add & PP_FD_PAYLOAD_SEALS) == PP_FD_PAYLOAD_SEALS;
	return fd;
}

/* The lowest free fd: after a refusal, no received fd may be left. */
static int lowest_free(void)
{
	int fd = dup(0);

	close(fd);
	return fd;
}

static void one(int sv[2], struct pp_cursor *in)
{
	unsigned char data[16] = {0};
	char cbuf[CMSG_SPACE(MAX_FDS * sizeof(int))];
	struct sent s[MAX_FDS];
	unsigned len = pp_cursor_u8(in) % 16, n = pp_cursor_u8(in) % 6, i;
	struct iovec iov = {data, len ? len : 1};
	struct msghdr m;
	int fds[MAX_FDS], got = -1, before, err;
	uint16_t announced;
	uint64_t tag = 0;
	const void *p;

	for (i = 0; i < len; i++)
		data[i] = (unsigned char)(i + 1);
	for (i = 0; i < n; i++) {
		unsigned kind = pp_cursor_u8(in) % 4;
		unsigned seals = pp_cursor_u8(in);
		uint16_t size = pp_cursor_u16(in) % 8192;

		fds[i] = make_fd(kind, seals, size, &s[i]);
		if (fds[i] < 0) {
			while (i--)
				close(fds[i]);
			return;
		}
	}
	announced = pp_cursor_u16(in) % 8192;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (n) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	FUZZ_CHECK(sendmsg(sv[0], &m, MSG_DONTWAIT) == (ssize_t)iov.iov_len);
	for (i = 0; i < n; i++)
		close(fds[i]);
	before = lowest_free();
	err = pp_fd_payload_recv(sv[1], &tag, &got);
	if (len != 8 || n != 1) {
		FUZZ_CHECK(err == -EPROTO);
		FUZZ_CHECK(lowest_free() == before);
		FUZZ_CHECK(pp_fd_payload_recv(sv[1], &tag, &got) == -EAGAIN);
		return;
	}
	FUZZ_CHECK(err == 0 && got >= 0);
	FUZZ_CHECK(fcntl(got, F_GETFD) & FD_CLOEXEC);
	FUZZ_CHECK(memcmp(&tag, data, 8) == 0);
	err = pp_fd_payload_map(got, announced, &p);
	if (s[0].good && announced && announced == s[0].size) {
		FUZZ_CHECK(err == 0);
		for (i = 0; i < announced; i++)
			FUZZ_CHECK(((const unsigned char *)p)[i] ==
				   (unsigned char)(i * 7));
		munmap((void *)p, announced);
	} else {
		FUZZ_CHECK(err == -EPROTO && p == NULL);
	}
	close(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_cursor in;
	int sv[2];

	if (pp_fd_payload_socketpair(sv))
		return 0;
	pp_cursor_init(&in, data, size);
	while (pp_cursor_remaining(&in) > 0)
		one(sv, &in);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
