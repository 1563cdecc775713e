/*
 * The clean-room zygote (zygote.h): a fresh exec of the program, entered
 * from its constructor (cleanroom_entry.c) before main, holding nothing
 * of the host's but its socket, the sealed setup memfd and stdio. Each
 * worker it clones reads its slot's setup from that memfd, exactly as an
 * exec'd clean-room worker does, so it is a clean-room worker without
 * the exec: none of the host's memory, its layout the zygote's (not the
 * host's; workers of one zygote share it, see README "Zygote").
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "src/core/cleanroom.h"
#include "src/core/protocol.h"
#include "src/core/worker_output.h"
#include "src/core/zygote_serve.h"

struct cleanroom_zygote {
	int setup_fd;
	int stdio_mode; /* POOL_STDIO_* */
};

static __attribute__((noreturn)) void die(void)
{
	static const char bad[] = "processpool: bad clean-room zygote setup\n";
	ssize_t ignored = write(2, bad, sizeof(bad) - 1);

	(void)ignored;
	_exit(PP_EXIT_CLEANROOM);
}

/* In the clone: what pp_worker_child does for a forked worker, then
 * what an exec'd clean-room worker does. */
static __attribute__((noreturn)) void
become_worker(void *ctx, const struct pp_zygote_request *q,
	      const struct pp_zygote_worker_fds *f, pid_t host)
{
	const struct cleanroom_zygote *z = ctx;
	int mem = f->mem, efd = f->efd, sock = f->sock, setup = z->setup_fd;
	int *const keep[] = {&mem, &efd, &sock, &setup};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != host)
		_exit(1);
	if (f->procs >= 0) {
		if (write(f->procs, "0", 1) != 1)
			_exit(PP_EXIT_CGROUP);
		close(f->procs);
	}
	if (pp_worker_stdio_child(z->stdio_mode, f->out, keep, 4))
		_exit(PP_EXIT_STDIO);
	pp_cleanroom_worker_enter(setup, q->setup.index, mem, efd, sock);
}

void pp_cleanroom_zygote_main(const char *var)
{
	static struct cleanroom_zygote z;
	int sock, keep[2], sandbox_off;
	pid_t host = getppid();

	if (sscanf(var, "%d,%d,%d,%d", &sock, &z.setup_fd, &z.stdio_mode,
		   &sandbox_off) != 4 ||
	    sock < 3 || z.setup_fd < 3 || sock == z.setup_fd)
		die();
	unsetenv(PP_CLEANROOM_ZYGOTE_ENV); /* no worker sees it */
	keep[0] = sock;
	keep[1] = z.setup_fd;
	pp_zygote_confine(sandbox_off, keep, 2);
	pp_zygote_serve(sock, host, become_worker, &z);
}
