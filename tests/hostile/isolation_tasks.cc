#include "tests/hostile/isolation_tasks.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "src/core/protocol.h"
#include "tests/core/tasks.h"
#include "tests/hostile/impostor.h"

namespace pp_hostile
{

namespace
{

volatile uint64_t g_secret;

void send(Impostor *im, pp_frame *f)
{
	while (impostor_send(im, f) == -EAGAIN)
		sched_yield();
}

int eight_bytes(uint64_t v, void **out, size_t *out_n)
{
	auto *p = static_cast<uint64_t *>(malloc(sizeof(v)));
	if (!p)
		return 1;
	*p = v;
	*out = p;
	*out_n = sizeof(v);
	return 0;
}

} // namespace

int hijack_task(void *, size_t, void **, size_t *, void *)
{
	Impostor im;
	pp_frame in, out;

	if (!impostor_open(&im))
		return 99;
	// Its own result first, as an honest worker would send it: the
	// parent sees a task that ended well on a worker that looks idle.
	memset(&out, 0, sizeof(out));
	out.type = PP_FRAME_RESULT;
	out.task_id = impostor_read_word(&im, PP_WORD_RUNNING) - 1;
	out.u.result.status = 1; /* COMPLETED */
	impostor_word(&im, PP_WORD_RUNNING, 0);
	send(&im, &out);
	for (;;) {
		if (impostor_recv(&im, &in)) {
			sched_yield();
			continue;
		}
		if (in.type == PP_FRAME_PING) {
			memset(&out, 0, sizeof(out));
			out.type = PP_FRAME_PONG;
			out.u.ping.nonce = in.u.ping.nonce;
			send(&im, &out);
			continue;
		}
		if (in.type != PP_FRAME_SUBMIT)
			continue;
		pp_test::board()->attempts++;
		memset(&out, 0, sizeof(out));
		out.type = PP_FRAME_RESULT;
		out.task_id = in.task_id;
		out.u.result.status = 1; /* COMPLETED */
		out.u.result.return_code = PP_HIJACK_RC;
		send(&im, &out);
	}
}

int pid_task(void *, size_t, void **out, size_t *out_n, void *)
{
	return eight_bytes(static_cast<uint64_t>(getpid()), out, out_n);
}

int secret_write_task(void *, size_t, void **, size_t *, void *ud)
{
	g_secret = reinterpret_cast<uintptr_t>(ud);
	return 0;
}

int secret_read_task(void *, size_t, void **out, size_t *out_n, void *)
{
	return eight_bytes(g_secret, out, out_n);
}

} // namespace pp_hostile
