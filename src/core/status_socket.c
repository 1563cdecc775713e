/*
 * The status socket: FPM's pm.status_path, on a Unix socket only (the
 * library never opens a TCP port). One thread, serving one client at a
 * time: a client has STATUS_READ_MS to send its request line, is
 * answered with pool_metrics_write, and the connection is closed. A
 * client that never sends, or never reads, costs at most those bounds
 * (pool_metrics_write gives up after 5 s without progress); the thread
 * holds no lock of the pool while it waits.
 */
#include "src/core/status_socket.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "process_pool.h"
#include "src/core/clock.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"

#define STATUS_READ_MS	 1000 /* for the request line */
#define STATUS_DRAIN_MS	 100  /* reading what the client sent after it */
#define STATUS_LINE_MAX	 1024
#define STATUS_BACKLOG	 16

int pp_status_socket_init(struct pp_status_socket *s)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = s->stop_fd = -1;
	return pthread_mutex_init(&s->mu, NULL) ? -1 : 0;
}

static int64_t mono_ms(void)
{
	return pp_now_ns() / 1000000;
}

int pp_status_request(const char *line, int *format, bool *http)
{
	const char *path, *end;
	size_t n;

	*http = false;
	*format = POOL_METRICS_PROMETHEUS;
	if (!strcmp(line, "prometheus") || !strcmp(line, "metrics"))
		return 0;
	if (!strcmp(line, "json")) {
		*format = POOL_METRICS_JSON;
		return 0;
	}
	if (strncmp(line, "GET ", 4) && strncmp(line, "HEAD ", 5)) {
		/* Anything with a space and "HTTP/" in it is answered as
		 * HTTP (400), the rest as a bare request (closed). */
		*http = strstr(line, " HTTP/") != NULL;
		return -1;
	}
	*http = true;
	path = strchr(line, ' ') + 1;
	end = strchr(path, ' ');
	if (!end || strncmp(end, " HTTP/", 6))
		return -1;
	n = (size_t)(end - path);
	if (memchr(path, '?', n))
		n = (size_t)((const char *)memchr(path, '?', n) - path);
	if ((n == 8 && !memcmp(path, "/metrics", 8)) ||
	    (n == 1 && path[0] == '/'))
		return 0;
	if (n == 13 && !memcmp(path, "/metrics.json", 13)) {
		*format = POOL_METRICS_JSON;
		return 0;
	}
	return -1;
}

/* Waits for fd's events or the stop request, up to ms; >0 ready. */
static int wait_fd(struct pp_status_socket *s, int fd, short events,
		   int ms)
{
	struct pollfd p[2] = {{.fd = fd, .events = events},
			      {.fd = s->stop_fd, .events = POLLIN}};
	int n;

	do
		n = poll(p, 2, ms);
	while (n < 0 && errno == EINTR);
	if (n <= 0 || (p[1].revents & POLLIN))
		return 0;
	return 1;
}

/* Reads the request's first line into buf; 0, or -1 (none in time). */
static int read_line(struct pp_status_socket *s, int fd, char *buf,
		     size_t len)
{
	int64_t deadline = mono_ms() + STATUS_READ_MS;
	size_t have = 0;

	while (have < len - 1) {
		int64_t left = deadline - mono_ms();
		char *nl;
		ssize_t n;

		if (left <= 0 || !wait_fd(s, fd, POLLIN, (int)left))
			return -1;
		n = read(fd, buf + have, len - 1 - have);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		nl = memchr(buf, '\n', have);
		if (nl) {
			*nl = '\0';
			if (nl > buf && nl[-1] == '\r')
				nl[-1] = '\0';
			return 0;
		}
	}
	if (!have)
		return -1;
	buf[have] = '\0'; /* an unterminated line at EOF or the limit */
	return have < len - 1 ? 0 : -1;
}

static int write_all(struct pp_status_socket *s, int fd, const char *p,
		     size_t n)
{
	int64_t deadline = mono_ms() + STATUS_READ_MS;

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (deadline <= mono_ms() ||
		    !wait_fd(s, fd, POLLOUT, (int)(deadline - mono_ms())))
			return -1;
	}
	return 0;
}

static void answer(struct pp_status_socket *s, struct process_pool *pool,
		   int fd)
{
	char line[STATUS_LINE_MAX], sink[4096];
	int format, bad;
	bool http;
	int64_t until;

	if (read_line(s, fd, line, sizeof(line)))
		return;
	bad = pp_status_request(line, &format, &http);
	if (http) {
		const char *head =
		    bad ? (strncmp(line, "GET ", 4) && strncmp(line, "HEAD ", 5)
			       ? "HTTP/1.0 400 Bad Request\r\n"
				 "Content-Type: text/plain\r\n"
				 "Connection: close\r\n\r\nbad request\n"
			       : "HTTP/1.0 404 Not Found\r\n"
				 "Content-Type: text/plain\r\n"
				 "Connection: close\r\n\r\n"
				 "try /metrics or /metrics.json\n")
		    : format == POOL_METRICS_JSON
			? "HTTP/1.0 200 OK\r\n"
			  "Content-Type: application/json\r\n"
			  "Connection: close\r\n\r\n"
			: "HTTP/1.0 200 OK\r\n"
			  "Content-Type: text/plain; version=0.0.4; "
			  "charset=utf-8\r\n"
			  "Connection: close\r\n\r\n";

		if (write_all(s, fd, head, strlen(head)))
			return;
		if (!bad && !strncmp(line, "HEAD ", 5))
			bad = 1; /* headers only */
	}
	if (!bad)
		pool_metrics_write(pool, fd, format);
	/* The client's headers may still be unread: closing over them
	 * would reset the connection and could cut the answer short. */
	shutdown(fd, SHUT_WR);
	until = mono_ms() + STATUS_DRAIN_MS;
	while (mono_ms() < until &&
	       wait_fd(s, fd, POLLIN, (int)(until - mono_ms())) &&
	       read(fd, sink, sizeof(sink)) > 0)
		;
}

static void *status_main(void *arg)
{
	struct process_pool *pool = arg;
	struct pp_status_socket *s = &pool->status;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		int fd;

		if (!wait_fd(s, s->listen_fd, POLLIN, -1))
			break;
		fd = accept4(s->listen_fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				poll(NULL, 0, 100); /* not a busy loop */
			continue;
		}
		answer(s, pool, fd);
		close(fd);
	}
	return NULL;
}

/* A socket file at path that nobody accepts on (a crashed process's)
 * may be replaced; anything else is someone's. */
static int clear_stale(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memcpy(a.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	if (!rc) {
		errno = EADDRINUSE;
		return -1;
	}
	if (errno != ECONNREFUSED)
		return -1;
	return unlink(path) && errno != ENOENT ? -1 : 0;
}

static void close_fds(struct pp_status_socket *s)
{
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	s->listen_fd = s->stop_fd = -1;
	free(s->path);
	s->path = NULL;
}

int pool_status_listen(process_pool_t *pool, const char *path, int mode)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct pp_status_socket *s;
	struct stat st;
	sigset_t all, old;
	int err = 0;

	if (!pool || !path || !*path || strlen(path) >= sizeof(a.sun_path) ||
	    mode < 0 || (mode & ~0777))
		return POOL_EINVAL;
	s = &pool->status;
	pthread_mutex_lock(&s->mu);
	if (s->running) {
		pthread_mutex_unlock(&s->mu);
		return POOL_ESTATE;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	s->path = strdup(path);
	s->listen_fd = socket(AF_UNIX,
			      SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!s->path || s->listen_fd < 0 || s->stop_fd < 0 ||
	    clear_stale(path) ||
	    bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a))) {
		goto fail;
	}
	/* Permissions before listen(): until then nobody can connect. */
	if (chmod(path, (mode_t)(mode ? mode : 0600)) || lstat(path, &st) ||
	    listen(s->listen_fd, STATUS_BACKLOG)) {
		err = errno;
		unlink(path);
		errno = err;
		goto fail;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&s->thread, NULL, status_main, pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		unlink(path);
		errno = err;
		goto fail;
	}
	s->running = true;
	pp_log(LOG_LEVEL_INFO, pool->cfg.pool_name, "status_listen",
	       "path=%s mode=%03o", path, mode ? mode : 0600);
	pthread_mutex_unlock(&s->mu);
	return 0;
fail:
	err = errno; /* what the caller reads once this returns */
	pp_log(LOG_LEVEL_WARN, pool->cfg.pool_name, "status_listen_failed",
	       "path=%s errno=%d", path, err);
	close_fds(s);
	pthread_mutex_unlock(&s->mu);
	errno = err;
	return err == ENOMEM ? POOL_ENOMEM : POOL_ESYS;
}

void pp_status_socket_close(struct pp_status_socket *s)
{
	struct stat st;
	uint64_t one = 1;

	pthread_mutex_lock(&s->mu);
	if (s->running) {
		if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
			abort(); /* an eventfd write of 1 cannot fail */
		pthread_join(s->thread, NULL);
		s->running = false;
		/* Unlink only the socket this pool bound, not one that
		 * replaced it since. */
		if (!lstat(s->path, &st) && st.st_dev == s->dev &&
		    st.st_ino == s->ino)
			unlink(s->path);
	}
	close_fds(s);
	pthread_mutex_unlock(&s->mu);
}

int pool_status_close(process_pool_t *pool)
{
	if (!pool)
		return POOL_EINVAL;
	pp_status_socket_close(&pool->status);
	return 0;
}
