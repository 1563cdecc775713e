/*
 * Opt-in signal handling. The library installs no handler and changes
 * no mask on its own (DESIGN 5): pool_block_signals blocks the signals
 * in the caller's thread when asked, and pool_handle_signals gives the
 * supervisor a signalfd for them, read in its epoll loop like any other
 * event. A signalfd sees only signals that are pending, i.e. blocked in
 * every thread; one a thread leaves unblocked goes to that thread as
 * usual and never reaches the pool.
 *
 * A stop begun by a signal runs in the supervisor like pool_stop's
 * (drain until the deadline, cancel the rest, stop the workers); the
 * supervisor cannot join itself, so pool_wait_stopped (or pool_stop)
 * completes it from an application thread.
 */
#include "src/core/signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "src/core/clock.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"

int pp_signals_init(struct process_pool *pool)
{
	struct pp_signals *s = &pool->signals;
	pthread_condattr_t a;

	if (pthread_mutex_init(&s->mu, NULL))
		return -ENOMEM;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &a);
	pthread_condattr_destroy(&a);
	atomic_init(&s->fd, -1);
	return 0;
}

void pp_signals_free(struct process_pool *pool)
{
	struct pp_signals *s = &pool->signals;

	if (atomic_load(&s->fd) >= 0)
		close(atomic_load(&s->fd));
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

static void signal_set(unsigned which, sigset_t *set)
{
	sigemptyset(set);
	if (which & POOL_SIGNAL_HUP)
		sigaddset(set, SIGHUP);
	if (which & POOL_SIGNAL_USR1)
		sigaddset(set, SIGUSR1);
	if (which & POOL_SIGNAL_TERM) {
		sigaddset(set, SIGTERM);
		sigaddset(set, SIGINT);
	}
}

int pool_block_signals(unsigned which)
{
	sigset_t set;

	if (which & ~POOL_SIGNALS_ALL)
		return POOL_EINVAL;
	signal_set(which, &set);
	return pthread_sigmask(SIG_BLOCK, &set, NULL) ? POOL_EINVAL : 0;
}

int pool_handle_signals(process_pool_t *pool, unsigned which,
			int stop_timeout_ms)
{
	struct pp_signals *s;
	struct epoll_event ev;
	sigset_t set;
	int err = 0, fd;

	if (!pool || (which & ~POOL_SIGNALS_ALL))
		return POOL_EINVAL;
	s = &pool->signals;
	signal_set(which, &set);
	pthread_mutex_lock(&s->mu);
	if (atomic_load(&pool->state) != PP_POOL_RUNNING || s->stopped) {
		pthread_mutex_unlock(&s->mu);
		return POOL_ESTATE;
	}
	atomic_store(&s->which, which);
	atomic_store(&s->stop_timeout_ms, stop_timeout_ms);
	fd = atomic_load(&s->fd);
	if (fd >= 0) {
		/* The same fd with a new mask: the supervisor keeps it. */
		if (signalfd(fd, &set, 0) < 0)
			err = POOL_ESYS;
	} else {
		fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
		atomic_store(&s->fd, fd);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = (uint64_t)PP_SIGNALS_TAG << 32;
		if (fd < 0 ||
		    epoll_ctl(pool->epoll_fd, EPOLL_CTL_ADD, fd, &ev)) {
			if (fd >= 0)
				close(fd);
			atomic_store(&s->fd, -1);
			err = POOL_ESYS;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (!err)
		pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "signals_handled",
		       "hup=%d usr1=%d term=%d stop_timeout_ms=%d",
		       !!(which & POOL_SIGNAL_HUP),
		       !!(which & POOL_SIGNAL_USR1),
		       !!(which & POOL_SIGNAL_TERM), stop_timeout_ms);
	return err;
}

/* SIGTERM, SIGINT: pool_stop's first half, on the supervisor. */
static void begin_stop(struct process_pool *pool, int sig)
{
	struct pp_signals *s = &pool->signals;
	int timeout = atomic_load(&s->stop_timeout_ms);
	int expect = PP_POOL_RUNNING;

	/* Under mu: whoever sees the pool STOPPING by a signal sees
	 * stop_begun too (pp_signals_stop_begun). */
	pthread_mutex_lock(&s->mu);
	if (!atomic_compare_exchange_strong(&pool->state, &expect,
					    PP_POOL_STOPPING)) {
		pthread_mutex_unlock(&s->mu);
		return; /* pool_stop was first */
	}
	/* Read by this thread only, once this returns. */
	atomic_store(&pool->stop_deadline_ns,
		     timeout < 0 ? -1
				 : pp_now_ns() + (int64_t)timeout * 1000000);
	s->stop_begun = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "signal_stop",
	       "signal=%s drain_ms=%d", sig == SIGINT ? "INT" : "TERM",
	       timeout);
	pp_room_wake_all(&pool->room);
}

void pp_signals_event(struct process_pool *pool)
{
	struct pp_signals *s = &pool->signals;
	struct signalfd_siginfo si;
	unsigned which = atomic_load(&s->which);
	int i, fd = atomic_load(&s->fd);

	/* A bounded number a wakeup: the fd stays readable for the rest. */
	for (i = 0; i < 16; i++) {
		if (fd < 0 || read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			return;
		switch (si.ssi_signo) {
		case SIGHUP:
			if (!(which & POOL_SIGNAL_HUP))
				break;
			pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name,
			       "signal_restart", "signal=HUP request=%llu",
			       (unsigned long long)pp_restart_request(pool));
			break;
		case SIGUSR1:
			if (!(which & POOL_SIGNAL_USR1))
				break;
			if (pp_log_reopen(pool->cfg.pool_name) < 0)
				pp_log(LOG_LEVEL_ERROR, pool->cfg.pool_name,
				       "log_reopen_failed", "%s",
				       "signal=USR1");
			else
				pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name,
				       "log_reopened", "%s", "signal=USR1");
			break;
		case SIGTERM:
		case SIGINT:
			if (which & POOL_SIGNAL_TERM)
				begin_stop(pool, (int)si.ssi_signo);
			break;
		default:
			break;
		}
	}
}

int pp_signals_stop_begun(struct process_pool *pool)
{
	struct pp_signals *s = &pool->signals;
	int begun;

	pthread_mutex_lock(&s->mu);
	begun = s->stop_begun;
	pthread_mutex_unlock(&s->mu);
	return begun;
}

void pp_signals_stopped(struct process_pool *pool)
{
	struct pp_signals *s = &pool->signals;

	pthread_mutex_lock(&s->mu);
	s->stopped = 1;
	if (atomic_load(&s->fd) >= 0)
		close(atomic_load(&s->fd)); /* the supervisor is gone */
	atomic_store(&s->fd, -1);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

int pool_wait_stopped(process_pool_t *pool, int timeout_ms)
{
	struct pp_signals *s;
	struct timespec until;
	int begun, stopped, rc = 0;

	if (!pool)
		return POOL_EINVAL;
	if (atomic_load(&pool->state) == PP_POOL_CREATED)
		return POOL_ESTATE;
	s = &pool->signals;
	clock_gettime(CLOCK_MONOTONIC, &until);
	if (timeout_ms > 0) {
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&s->mu);
	while (!s->stop_begun && !s->stopped && rc == 0 &&
	       atomic_load(&pool->state) != PP_POOL_STOPPED)
		rc = timeout_ms < 0
			 ? pthread_cond_wait(&s->cv, &s->mu)
			 : pthread_cond_timedwait(&s->cv, &s->mu, &until);
	begun = s->stop_begun;
	stopped = s->stopped;
	pthread_mutex_unlock(&s->mu);
	if (!begun && !stopped && atomic_load(&pool->state) != PP_POOL_STOPPED)
		return POOL_ETIMEDOUT;
	/* Completes a signal's stop; 0 at once if already stopped. */
	return pool_stop(pool, -1) == 0 ? 0 : POOL_ESTATE;
}
