/*
 * The status socket (status_socket.c): a Unix stream socket on which a
 * thread of its own answers metrics requests, in Prometheus text or JSON
 * (pool_status_listen). The thread is the library's only listener and
 * never runs on the supervisor: a scrape reads /proc for every worker,
 * which would stall dispatch.
 */
#ifndef PP_CORE_STATUS_SOCKET_H
#define PP_CORE_STATUS_SOCKET_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

struct process_pool;

struct pp_status_socket {
	pthread_mutex_t mu; /* serialises listen and close */
	bool running;
	pthread_t thread;
	int listen_fd;
	int stop_fd;	 /* eventfd: the thread's stop request */
	char *path;	 /* unlinked at close if still ours */
	dev_t dev;	 /* the socket file's identity, to unlink */
	ino_t ino;	 /* only what this pool bound */
};

int pp_status_socket_init(struct pp_status_socket *s);

/* pp_status_socket_close - stop the thread, close, unlink the path if it
 * is still the socket this pool bound. Idempotent. */
void pp_status_socket_close(struct pp_status_socket *s);

/*
 * pp_status_request - what a request's first line asks for: the format
 * (POOL_METRICS_*) and whether to answer with HTTP headers; returns 0,
 * or -1 for a request this socket does not serve (http says whether to
 * answer 404/400 in HTTP). Exposed for its test.
 */
int pp_status_request(const char *line, int *format, bool *http);

#endif
