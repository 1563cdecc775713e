#include "tests/hostile/hostile_tasks.h"

#include <fcntl.h>
#include <sched.h>
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
			if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) &&
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
