/*
 * Opt-in signal handling (signals.c): the supervisor reads a signalfd
 * for the signals the application blocked, and maps them as operators
 * expect (SIGHUP restart, SIGUSR1 log reopen, SIGTERM/SIGINT stop).
 */
#ifndef PP_CORE_SIGNALS_H
#define PP_CORE_SIGNALS_H

#include <pthread.h>
#include <stdatomic.h>

/* The signalfd's epoll tag kind (supervisor.c's TAG_* numbering). */
#define PP_SIGNALS_TAG 6u

struct process_pool;

struct pp_signals {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	_Atomic int fd; /* the signalfd, or -1 (set under mu; read by
			 * the supervisor, which it outlives) */
	_Atomic unsigned which;
	_Atomic int stop_timeout_ms;
	int stop_begun; /* a signal began a stop (mu) */
	int stopped;	/* pool_stop finished (mu) */
};

int pp_signals_init(struct process_pool *pool);
void pp_signals_free(struct process_pool *pool);

/* pp_signals_event - supervisor: the signalfd is readable. */
void pp_signals_event(struct process_pool *pool);

/* pp_signals_stop_begun - whether a signal began the stop now under way
 * (pool_stop then completes it rather than refusing). */
int pp_signals_stop_begun(struct process_pool *pool);

/* pp_signals_stopped - pool_stop, once the supervisor is gone: closes
 * the signalfd and wakes pool_wait_stopped. */
void pp_signals_stopped(struct process_pool *pool);

#endif /* PP_CORE_SIGNALS_H */
