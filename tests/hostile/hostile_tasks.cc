#include "tests/hostile/hostile_tasks.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "src/core/protocol.h"
#include "tests/core/tasks.h"
#include "tests/hostile/impostor.h"

namespace pp_hostile {

namespace {

int64_t now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

[[noreturn]] void forever()
{
	for (;;)
		pause();
}

}  // namespace

int block_fds_task(void *, size_t, void **, size_t *, void *)
{
	for (int fd = 0; fd < 1024; fd++) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	return 0;
}

int wake_spam_task(void *, size_t, void **, size_t *, void *ud)
{
	int64_t until = now_ms() + (intptr_t)ud;
	uint64_t one = 1;

	do {
		for (int fd = 3; fd < 64; fd++) {
			struct stat st;
			if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) &&
			    write(fd, &one, sizeof(one)) < 0)
				continue;
		}
	} while (now_ms() < until);
	return 0;
}

int running_liar_task(void *, size_t, void **, size_t *, void *)
{
	Impostor im;

	if (!impostor_open(&im))
		return 99;
	impostor_word(&im, PP_WORD_RUNNING, 0);
	pp_test::board()->started++;
	forever();
}

int forged_blame_task(void *, size_t, void **, size_t *, void *)
{
	Impostor im;

	pp_test::board()->attempts++;
	if (!impostor_open(&im))
		return 99;
	impostor_word(&im, PP_WORD_RUNNING, 0);
	impostor_word(&im, PP_WORD_VIOLATION, 1 + 169 /* reboot */);
	_exit(PP_EXIT_SANDBOX);
}

int forged_result_task(void *, size_t, void **, size_t *, void *ud)
{
	Impostor im;
	pp_frame f;
	uint32_t running;

	if (!impostor_open(&im))
		return 99;
	// The task's own wire id is in the RUNNING word (its low 32 bits
	// plus one); the parent checks the whole id.
	running = impostor_read_word(&im, PP_WORD_RUNNING);
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_RESULT;
	f.task_id = running - 1;
	f.u.result.status = 1; /* COMPLETED */
	switch ((intptr_t)ud) {
	case 1:
		f.task_id ^= 0x5a5a0000u;
		break;
	case 2:
		f.u.result.status = 77;
		break;
	case 3:
		f.payload.offset = 0;
		f.payload.length = 8192;
		break;
	}
	pp_test::board()->started++;
	while (impostor_send(&im, &f) == -EAGAIN)
		sched_yield();
	forever();
}

int usage_liar_task(void *, size_t, void **, size_t *, void *ud)
{
	Impostor im;
	pp_frame f;
	uint64_t wire;

	if (!impostor_open(&im))
		return 99;
	wire = impostor_read_word(&im, PP_WORD_RUNNING) - 1;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_USAGE;
	f.task_id = wire;
	f.u.usage.cpu_user_us = UINT64_MAX;
	f.u.usage.cpu_sys_us = UINT64_MAX;
	f.u.usage.peak_rss_kb = UINT64_MAX;
	pp_test::board()->started++;
	for (int i = (intptr_t)ud == 3 ? 2 : 1; i > 0; i--)
		while (impostor_send(&im, &f) == -EAGAIN)
			sched_yield();
	if ((intptr_t)ud == 1) {
		memset(&f, 0, sizeof(f));
		f.type = PP_FRAME_RESULT;
		f.task_id = wire;
		f.u.result.status = 1; /* COMPLETED */
		while (impostor_send(&im, &f) == -EAGAIN)
			sched_yield();
	}
	forever();
}

namespace {

// The worker's payload socket: the one SOCK_SEQPACKET fd it holds.
int payload_socket()
{
	for (int fd = 3; fd < 64; fd++) {
		struct stat st;
		int type = 0;
		socklen_t len = sizeof(type);
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
		    type == SOCK_SEQPACKET)
			return fd;
	}
	return -1;
}

int send_fds(int sock, uint64_t tag, const int *fds, int n)
{
	char buf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = {&tag, sizeof(tag)};
	struct msghdr m;
	memset(&m, 0, sizeof(m));
	memset(buf, 0, sizeof(buf));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = buf;
	m.msg_controllen = CMSG_SPACE(n * sizeof(int));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int filled_memfd(size_t n)
{
	int fd = memfd_create("evil", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || pwrite(fd, "", 1, (off_t)n - 1) != 1)
		return -1;
	void *p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	memset(p, 0xab, n);
	munmap(p, n);
	return fd;
}

}  // namespace

int bad_fd_output_task(void *, size_t, void **, size_t *, void *ud)
{
	const size_t n = PP_BAD_FD_OUTPUT_SIZE;
	const unsigned all =
	    F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	Impostor im;
	pp_frame f;
	uint32_t running;
	unsigned char *keep = nullptr;
	int sock = payload_socket(), fds[2] = {-1, -1}, nfds = 1;
	intptr_t kind = (intptr_t)ud;

	if (sock < 0 || !impostor_open(&im))
		return 99;
	memcpy(&running,
	       im.base + PP_CHANNEL_CONTROL_OFFSET +
		   PP_CHANNEL_CONTROL_STRIDE * PP_WORD_RUNNING,
	       sizeof(running));
	uint64_t wire = running - 1, tag = wire;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_RESULT;
	f.flags = PP_FRAME_F_FD;
	f.task_id = wire;
	f.u.result.status = 1; /* COMPLETED */
	f.payload.length = n;
	switch (kind) {
	case 0: // honest
	case 6: // another task's
	case 8: // a status that keeps nothing
		fds[0] = filled_memfd(n);
		if (fcntl(fds[0], F_ADD_SEALS, all))
			return 98;
		if (kind == 6)
			tag ^= 1u << 16;
		if (kind == 8)
			f.u.result.status = 4; /* CANCELLED */
		break;
	case 2: // unsealed
		fds[0] = filled_memfd(n);
		break;
	case 3: // changed after sending, through a mapping kept writable
		fds[0] = filled_memfd(n);
		keep = (unsigned char *)mmap(nullptr, n, PROT_READ | PROT_WRITE,
					    MAP_SHARED, fds[0], 0);
		if (keep == MAP_FAILED)
			return 97;
		// F_SEAL_WRITE is refused while the mapping exists.
		if (fcntl(fds[0], F_ADD_SEALS, all) == 0)
			return 96;
		if (fcntl(fds[0], F_ADD_SEALS, all & ~(unsigned)F_SEAL_WRITE))
			return 95;
		break;
	case 4: { // a pipe
		int pv[2];
		if (pipe(pv))
			return 94;
		fds[0] = pv[0];
		break;
	}
	case 5: // larger than announced
		fds[0] = filled_memfd(2 * n);
		if (fcntl(fds[0], F_ADD_SEALS, all))
			return 93;
		break;
	case 7: // two fds
		fds[0] = filled_memfd(n);
		fds[1] = filled_memfd(n);
		fcntl(fds[0], F_ADD_SEALS, all);
		fcntl(fds[1], F_ADD_SEALS, all);
		nfds = 2;
		break;
	}
	if (kind != 1 && send_fds(sock, tag, fds, nfds))
		return 92;
	pp_test::board()->started++;
	while (impostor_send(&im, &f) == -EAGAIN)
		sched_yield();
	if (kind == 0) {
		// Leave once the parent has taken the answer, so that nothing
		// else is read from this worker's rings.
		for (;;) {
			uint32_t acked;
			memcpy(&acked,
			       im.base + PP_CHANNEL_CONTROL_OFFSET +
				   PP_CHANNEL_CONTROL_STRIDE *
				       PP_WORD_RESULTS_ACKED,
			       sizeof(acked));
			if ((int32_t)(acked - im.seq) >= 0)
				_exit(0);
			sched_yield();
		}
	}
	// Keep changing the bytes, as long as the worker lives.
	for (unsigned i = 0;; i++)
		if (keep)
			keep[i % n] = (unsigned char)i;
}

int frame_flood_task(void *, size_t, void **, size_t *, void *ud)
{
	Impostor im;
	pp_frame f;
	uint32_t running;

	if (!impostor_open(&im))
		return 99;
	running = impostor_read_word(&im, PP_WORD_RUNNING);
	pp_test::board()->started++;
	for (uint64_t n = 0;; n++) {
		memset(&f, 0, sizeof(f));
		if ((intptr_t)ud == 2) {
			f.type = PP_FRAME_LEARNED;
			f.task_id = running - 1;
			f.u.learned.chunk = (uint32_t)(n % PP_FRAME_LEARNED_CHUNKS);
		} else {
			f.type = PP_FRAME_PONG;
			f.u.ping.nonce = n;
		}
		while (impostor_send(&im, &f) == -EAGAIN)
			sched_yield();
	}
}

int defer_everything_task(void *, size_t, void **, size_t *, void *)
{
	Impostor im;
	pp_frame in, out;

	if (!impostor_open(&im))
		return 99;
	pp_test::board()->started++;
	for (;;) {
		if (impostor_recv(&im, &in)) {
			sched_yield();
			continue;
		}
		if (in.type != PP_FRAME_SUBMIT)
			continue;
		memset(&out, 0, sizeof(out));
		out.type = PP_FRAME_RESULT;
		out.task_id = in.task_id;
		out.u.result.status = PP_WORKER_DEFERRED;
		while (impostor_send(&im, &out) == -EAGAIN)
			sched_yield();
	}
}

}  // namespace pp_hostile
