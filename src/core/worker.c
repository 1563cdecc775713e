/*
 * Worker processes, parent side: fork, track by pidfd, kill.
 *
 * Fork mode: glibc fork() from the supervisor thread, whose atfork
 * handlers keep malloc usable in the child; the child then runs only the
 * worker loop. The death signal is tied to the supervisor thread, so
 * workers die with the pool even if the host is killed.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/core/log.h"
#include "src/core/pool_internal.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static uint32_t slots_for(int in_flight)
{
	uint32_t n = 16;

	/* Room for every in-flight task plus cancels and pings. */
	while (n < (uint32_t)in_flight * 2 + 8)
		n <<= 1;
	return n;
}

static int make_channel(struct process_pool *pool, struct pp_worker *w)
{
	struct pp_channel_config cc;

	memset(&cc, 0, sizeof(cc));
	cc.submit_slots = slots_for(pool->cfg.max_in_flight);
	cc.complete_slots = cc.submit_slots;
	cc.input_arena = pool->cfg.arena_size;
	cc.output_arena = pool->cfg.arena_size;
	return pp_channel_create(&w->ch, &cc);
}

/* xorshift; only the supervisor thread spawns, so no lock is needed. */
static uint64_t jitter(void)
{
	static uint64_t x;

	if (!x)
		x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

int pp_worker_spawn(struct process_pool *pool, struct pp_worker *w)
{
	pid_t parent = getpid(), pid;
	int err;

	if (!w->slots) {
		w->slots =
		    calloc((size_t)pool->cfg.max_in_flight, sizeof(*w->slots));
		if (!w->slots)
			return -ENOMEM;
	}
	err = make_channel(pool, w);
	if (err)
		return err;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		pp_channel_close(&w->ch);
		return err;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		pp_worker_main(pool, w);
	}
	w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (w->pidfd < 0) {
		err = -errno;
		kill(pid, SIGKILL);
		pp_channel_close(&w->ch);
		pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name, "spawn_failed",
		       "reason=pidfd_open errno=%d", -err);
		return err;
	}
	w->pid = pid;
	w->state = PP_WORKER_LIVE;
	w->in_flight = 0;
	w->tasks_done = 0;
	w->kill_reason = 0;
	w->idle_since_ns = 0;
	w->respawn_at_ns = 0;
	w->recycle_after = 0;
	if (pool->cfg.max_tasks_per_worker > 0) {
		uint64_t base = (uint64_t)pool->cfg.max_tasks_per_worker;

		/* Up to 25% jitter so workers do not all recycle at once. */
		w->recycle_after = base + jitter() % (base / 4 + 1);
	}
	pp_log(LOG_LEVEL_DEBUG, pool->cfg.pool_name, "worker_spawned",
	       "worker=%d pid=%d", w->index, (int)pid);
	return 0;
}

void pp_worker_signal(struct pp_worker *w, int sig)
{
	if (w->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0);
}

void pp_worker_kill(struct pp_worker *w)
{
	if (w->pidfd < 0 || w->state == PP_WORKER_EMPTY)
		return;
	pp_worker_signal(w, SIGKILL);
	w->state = PP_WORKER_DYING;
}
