// The large-payload path's checks: only a sealed memfd of exactly the
// announced size maps, and a message that is not exactly a tag and one fd
// is refused with every fd it carried closed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "src/ipc/fd_payload.h"

namespace {

int memfd_with(size_t n, unsigned seals)
{
	int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	std::vector<char> b(n, 'x');
	if (fd < 0 || write(fd, b.data(), n) != (ssize_t)n)
		abort();
	if (seals && fcntl(fd, F_ADD_SEALS, seals))
		abort();
	return fd;
}

bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

TEST(FdPayload, SealedMemfdOfTheSizeMapsReadOnlyAndIntact)
{
	std::vector<unsigned char> in(1 << 20);
	for (size_t i = 0; i < in.size(); i++)
		in[i] = (unsigned char)(i * 13);
	int fd = pp_fd_payload_make(in.data(), in.size());
	ASSERT_GE(fd, 0);
	const void *p;
	ASSERT_EQ(0, pp_fd_payload_map(fd, in.size(), &p));
	EXPECT_EQ(0, memcmp(in.data(), p, in.size()));
	// Nobody can write it any more, through a mapping or write().
	EXPECT_EQ(MAP_FAILED, mmap(nullptr, in.size(), PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, 0));
	EXPECT_LT(pwrite(fd, "y", 1, 0), 0);
	EXPECT_LT(ftruncate(fd, 10), 0);
	EXPECT_LT(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
	munmap(const_cast<void *>(p), in.size());
	close(fd);
}

TEST(FdPayload, UnsealedOrPartlySealedIsRefused)
{
	const unsigned all = PP_FD_PAYLOAD_SEALS;
	for (unsigned seals : {0u, all & ~(unsigned)F_SEAL_WRITE,
			       all & ~(unsigned)F_SEAL_SHRINK,
			       all & ~(unsigned)F_SEAL_GROW,
			       all & ~(unsigned)F_SEAL_SEAL}) {
		int fd = memfd_with(4096, seals);
		const void *p = nullptr;
		EXPECT_EQ(-EPROTO, pp_fd_payload_map(fd, 4096, &p)) << seals;
		EXPECT_EQ(nullptr, p);
		close(fd);
	}
}

TEST(FdPayload, WrongSizeIsRefused)
{
	int fd = memfd_with(4096, PP_FD_PAYLOAD_SEALS);
	const void *p;
	EXPECT_EQ(-EPROTO, pp_fd_payload_map(fd, 4095, &p));
	EXPECT_EQ(-EPROTO, pp_fd_payload_map(fd, 4097, &p));
	EXPECT_EQ(-EPROTO, pp_fd_payload_map(fd, 0, &p));
	close(fd);
}

TEST(FdPayload, WrongTypeIsRefused)
{
	int pv[2];
	ASSERT_EQ(0, pipe(pv));
	const void *p;
	EXPECT_EQ(-EPROTO, pp_fd_payload_map(pv[0], 1, &p));
	close(pv[0]);
	close(pv[1]);
	// A regular file that is not a memfd has no seals.
	char name[] = "/tmp/fd_payload_testXXXXXX";
	int fd = mkstemp(name);
	ASSERT_GE(fd, 0);
	unlink(name);
	ASSERT_EQ(1, write(fd, "x", 1));
	EXPECT_EQ(-EPROTO, pp_fd_payload_map(fd, 1, &p));
	close(fd);
}

// F_SEAL_WRITE cannot be added while a writable shared mapping exists:
// a sender cannot keep one to change the bytes after sending.
TEST(FdPayload, WriteSealRefusedWhileWritableMappingExists)
{
	int fd = memfd_with(4096, 0);
	void *w = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       0);
	ASSERT_NE(MAP_FAILED, w);
	EXPECT_LT(fcntl(fd, F_ADD_SEALS, PP_FD_PAYLOAD_SEALS), 0);
	EXPECT_EQ(EBUSY, errno);
	munmap(w, 4096);
	close(fd);
}

TEST(FdPayload, TagAndFdTravel)
{
	int sv[2];
	ASSERT_EQ(0, pp_fd_payload_socketpair(sv));
	int fd = memfd_with(100, PP_FD_PAYLOAD_SEALS);
	ASSERT_EQ(0, pp_fd_payload_send(sv[0], 0x1234567890ull, fd));
	close(fd);
	uint64_t tag = 0;
	int got = -1;
	ASSERT_EQ(0, pp_fd_payload_recv(sv[1], &tag, &got));
	EXPECT_EQ(0x1234567890ull, tag);
	EXPECT_EQ(FD_CLOEXEC, fcntl(got, F_GETFD) & FD_CLOEXEC);
	const void *p;
	ASSERT_EQ(0, pp_fd_payload_map(got, 100, &p));
	munmap(const_cast<void *>(p), 100);
	close(got);
	EXPECT_EQ(-EAGAIN, pp_fd_payload_recv(sv[1], &tag, &got));
	close(sv[0]);
	close(sv[1]);
}

// Sends data with n fds attached (n may be 0).
void send_raw(int sock, const void *data, size_t len, const int *fds, int n)
{
	char buf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = {const_cast<void *>(data), len};
	struct msghdr m;
	memset(&m, 0, sizeof(m));
	memset(buf, 0, sizeof(buf));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (n) {
		m.msg_control = buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	ASSERT_EQ((ssize_t)len, sendmsg(sock, &m, 0));
}

// The fd numbers the next receive would get, to see they were closed.
int next_fd()
{
	int fd = dup(0);
	close(fd);
	return fd;
}

TEST(FdPayload, MalformedMessagesAreRefusedAndTheirFdsClosed)
{
	int sv[2];
	ASSERT_EQ(0, pp_fd_payload_socketpair(sv));
	uint64_t tag = 7;
	int a = memfd_with(10, PP_FD_PAYLOAD_SEALS);
	int b = memfd_with(10, PP_FD_PAYLOAD_SEALS);
	int two[2] = {a, b};
	int six[6] = {a, b, a, b, a, b};
	int got;

	int before = next_fd();
	send_raw(sv[0], &tag, sizeof(tag), nullptr, 0); // no fd
	EXPECT_EQ(-EPROTO, pp_fd_payload_recv(sv[1], &tag, &got));
	send_raw(sv[0], &tag, sizeof(tag), two, 2); // two fds
	EXPECT_EQ(-EPROTO, pp_fd_payload_recv(sv[1], &tag, &got));
	EXPECT_EQ(before, next_fd());
	send_raw(sv[0], &tag, sizeof(tag), six, 6); // more than the cap
	EXPECT_EQ(-EPROTO, pp_fd_payload_recv(sv[1], &tag, &got));
	EXPECT_EQ(before, next_fd());
	send_raw(sv[0], &tag, 4, &a, 1); // short tag
	EXPECT_EQ(-EPROTO, pp_fd_payload_recv(sv[1], &tag, &got));
	EXPECT_EQ(before, next_fd());
	char longer[9] = {0};
	send_raw(sv[0], longer, sizeof(longer), &a, 1); // long tag
	EXPECT_EQ(-EPROTO, pp_fd_payload_recv(sv[1], &tag, &got));
	EXPECT_EQ(before, next_fd());
	EXPECT_TRUE(fd_open(a));
	close(a);
	close(b);
	close(sv[0]);
	close(sv[1]);
}

}  // namespace
