/*
 * The ZeroMQ pool over ipc://: N forked workers, each connecting a PULL
 * socket (tasks), a PUSH socket (results) and a REP socket (sync) to the
 * parent, which binds PUSH, PULL and REQ. Messages are 8-byte task ids.
 * The throughput run keeps up to WINDOW ids in flight, sending without
 * blocking and draining results between sends; the sync run is one
 * REQ/REP round trip per task, which REQ spreads round-robin.
 *
 * The workers are forked before the parent creates its context (a ZeroMQ
 * context must not cross a fork); each makes its own, so every process
 * has an I/O thread besides its main one, as a ZeroMQ user's would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench/peers/peer.h"

#define MAX_WORKERS 256
#define WINDOW	    1000u /* ids in flight, below the default HWMs */
#define RECV_MS	    1000  /* one receive wait before the peers are checked */
#define STALL_WAITS 10	  /* timed-out receives in a row: a hang */
#define HELLO_SIZE  4	  /* a worker's first message: its pid */

struct endpoints {
	char dir[64];
	char tasks[96];
	char results[96];
	char sync[96];
};

struct zmq_pool {
	int n;
	pid_t pids[MAX_WORKERS];
	struct endpoints ep;
	void *ctx;
	void *push;
	void *pull;
	void *req;
};

static int noop_task(uint64_t id)
{
	(void)id;
	return 0;
}

static int (*volatile task_fn)(uint64_t id) = noop_task;

/*
 * Never linger, time out receives, and retry a connect soon: workers may
 * connect before the parent has bound.
 */
static int socket_setup(void *s, const char *ep, bool bind)
{
	int zero = 0, ms = RECV_MS, retry_ms = 5;

	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &ms, sizeof(ms));
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &retry_ms, sizeof(retry_ms));
	if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) == 0)
		return 0;
	return -errno;
}

/* A socket of the given type, bound or connected, or NULL. */
static void *open_socket(void *ctx, int type, const char *ep, bool bind)
{
	void *s = zmq_socket(ctx, type);

	if (!s || socket_setup(s, ep, bind) == 0)
		return s;
	zmq_close(s);
	return NULL;
}

/* ---- worker ------------------------------------------------------- */

/* Answer every task id waiting on pull; 0, or -1 on a socket error. */
static int drain_tasks(void *pull, void *push)
{
	uint64_t id;
	int n;

	while ((n = zmq_recv(pull, &id, sizeof(id), ZMQ_DONTWAIT)) >= 0) {
		if (n != (int)sizeof(id))
			continue;
		task_fn(id);
		if (zmq_send(push, &id, sizeof(id), 0) < 0)
			return -1;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

static int answer_sync(void *rep)
{
	uint64_t id = 0;
	int n = zmq_recv(rep, &id, sizeof(id), ZMQ_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	task_fn(id);
	return zmq_send(rep, &id, sizeof(id), 0) < 0 ? -1 : 0;
}

static int serve(void *pull, void *push, void *rep)
{
	zmq_pollitem_t items[2] = {
	    {.socket = pull, .events = ZMQ_POLLIN},
	    {.socket = rep, .events = ZMQ_POLLIN},
	};
	int32_t hello = (int32_t)getpid();

	if (zmq_send(push, &hello, HELLO_SIZE, 0) < 0)
		return 1;
	for (;;) {
		if (zmq_poll(items, 2, -1) < 0 && errno != EINTR)
			return 1;
		if ((items[0].revents & ZMQ_POLLIN) && drain_tasks(pull, push))
			return 1;
		if ((items[1].revents & ZMQ_POLLIN) && answer_sync(rep))
			return 1;
	}
}

/* Runs until the parent kills it (or dies: PR_SET_PDEATHSIG). */
static int worker_main(void *arg)
{
	const struct endpoints *ep = arg;
	void *ctx = zmq_ctx_new(), *pull, *push, *rep;

	if (!ctx)
		return 1;
	pull = open_socket(ctx, ZMQ_PULL, ep->tasks, false);
	push = open_socket(ctx, ZMQ_PUSH, ep->results, false);
	rep = open_socket(ctx, ZMQ_REP, ep->sync, false);
	if (!pull || !push || !rep)
		return 1;
	return serve(pull, push, rep);
}

/* ---- parent ------------------------------------------------------- */

static int make_endpoints(struct endpoints *ep)
{
	memset(ep, 0, sizeof(*ep));
	snprintf(ep->dir, sizeof(ep->dir), "/tmp/pool_bench_zmq.XXXXXX");
	if (!mkdtemp(ep->dir))
		return -errno;
	snprintf(ep->tasks, sizeof(ep->tasks), "ipc://%s/tasks", ep->dir);
	snprintf(ep->results, sizeof(ep->results), "ipc://%s/results", ep->dir);
	snprintf(ep->sync, sizeof(ep->sync), "ipc://%s/sync", ep->dir);
	return 0;
}

static void remove_endpoints(const struct endpoints *ep)
{
	const char *const paths[] = {ep->tasks, ep->results, ep->sync};
	size_t i;

	if (!ep->tasks[0])
		return; /* mkdtemp failed: nothing was made */
	/* The socket files; "ipc://" is 6 characters. */
	for (i = 0; i < 3; i++)
		unlink(paths[i] + 6);
	rmdir(ep->dir);
}

static void close_pool(struct zmq_pool *p)
{
	if (p->push)
		zmq_close(p->push);
	if (p->pull)
		zmq_close(p->pull);
	if (p->req)
		zmq_close(p->req);
	if (p->ctx)
		zmq_ctx_term(p->ctx);
	peer_reap_all(p->pids, p->n);
	remove_endpoints(&p->ep);
}

/*
 * Start watching the PUSH socket's accepted connections, before it binds,
 * so that no worker's connection can be missed.
 */
static void *watch_accepts(struct zmq_pool *p)
{
	const char *ep = "inproc://pool_bench_push_monitor";
	void *mon;

	if (zmq_socket_monitor(p->push, ep, ZMQ_EVENT_ACCEPTED))
		return NULL;
	mon = zmq_socket(p->ctx, ZMQ_PAIR);
	if (mon && zmq_connect(mon, ep)) {
		zmq_close(mon);
		return NULL;
	}
	return mon;
}

/*
 * Wait until every worker's PULL has connected to our PUSH, or PUSH would
 * spread the first tasks over fewer workers. Each monitor event is two
 * frames: event number and value, then the endpoint.
 */
static int await_accepts(struct zmq_pool *p, void *mon)
{
	int ms = RECV_MS * STALL_WAITS, k, size;
	unsigned char ev[64];

	zmq_setsockopt(mon, ZMQ_RCVTIMEO, &ms, sizeof(ms));
	for (k = 0; k < p->n; k++) {
		size = zmq_recv(mon, ev, sizeof(ev), 0);
		if (size < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (zmq_recv(mon, ev, sizeof(ev), 0) < 0)
			return -errno;
	}
	return 0;
}

static int open_pool(struct zmq_pool *p, int n)
{
	int k, err = make_endpoints(&p->ep);
	void *mon;

	p->n = n;
	if (err)
		return err;
	for (k = 0; k < n; k++) {
		p->pids[k] = bu_fork(worker_main, &p->ep);
		if (p->pids[k] < 0)
			return p->pids[k];
	}
	p->ctx = zmq_ctx_new();
	if (!p->ctx)
		return -ENOMEM;
	p->push = zmq_socket(p->ctx, ZMQ_PUSH);
	if (!p->push)
		return -errno;
	mon = watch_accepts(p);
	if (!mon)
		return -errno;
	err = socket_setup(p->push, p->ep.tasks, true);
	p->pull = open_socket(p->ctx, ZMQ_PULL, p->ep.results, true);
	p->req = open_socket(p->ctx, ZMQ_REQ, p->ep.sync, true);
	if (!err && (!p->pull || !p->req))
		err = -errno;
	if (!err)
		err = await_accepts(p, mon);
	zmq_close(mon);
	return err;
}

/* After a receive timed out: an error when a worker died or we stalled. */
static int check_stall(struct zmq_pool *p, int *waits)
{
	int k, st;

	for (k = 0; k < p->n; k++)
		if (bu_child_gone(p->pids[k], &st)) {
			p->pids[k] = 0;
			return -EPIPE;
		}
	return ++*waits >= STALL_WAITS ? -ETIMEDOUT : 0;
}

/* Receive one message into buf; waits out timeouts while workers live. */
static int recv_checked(struct zmq_pool *p, void *sock, void *buf, size_t len,
			int *size)
{
	int waits = 0, err;

	for (;;) {
		*size = zmq_recv(sock, buf, len, 0);
		if (*size >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		err = check_stall(p, &waits);
		if (err)
			return err;
	}
}

/* Every worker has connected its result socket: n hellos arrived. */
static int await_hellos(struct zmq_pool *p)
{
	int32_t hello;
	int k, size, err = 0;

	for (k = 0; k < p->n && !err; k++) {
		err = recv_checked(p, p->pull, &hello, sizeof(hello), &size);
		if (!err && size != HELLO_SIZE)
			err = -EBADMSG;
	}
	return err;
}

struct stream {
	uint64_t total, sent, done, sum_sent, sum_done;
};

/* Send ids until the window is full or the socket would block. */
static int send_some(struct zmq_pool *p, struct stream *s)
{
	while (s->sent < s->total && s->sent - s->done < WINDOW) {
		if (zmq_send(p->push, &s->sent, sizeof(s->sent), ZMQ_DONTWAIT) <
		    0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		s->sum_sent += s->sent;
		s->sent++;
	}
	return 0;
}

static int recv_some(struct zmq_pool *p, struct stream *s)
{
	uint64_t id;
	int size, err = recv_checked(p, p->pull, &id, sizeof(id), &size);

	while (!err) {
		if (size != (int)sizeof(id))
			return -EBADMSG;
		s->done++;
		s->sum_done += id;
		size = zmq_recv(p->pull, &id, sizeof(id), ZMQ_DONTWAIT);
		if (size < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	}
	return err;
}

/*
 * Nothing in flight and PUSH would not take a message: no worker's PULL
 * is connected yet (connects are asynchronous). Wait until one is.
 */
static int await_writable(struct zmq_pool *p)
{
	zmq_pollitem_t item = {.socket = p->push, .events = ZMQ_POLLOUT};
	int n, waits = 0, err;

	for (;;) {
		n = zmq_poll(&item, 1, RECV_MS);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		err = check_stall(p, &waits);
		if (err)
			return err;
	}
}

static int run_stream(struct zmq_pool *p, uint64_t total)
{
	struct stream s = {.total = total};
	int err = 0;

	while (!err && s.done < total) {
		err = send_some(p, &s);
		if (!err && s.sent == s.done)
			err = await_writable(p);
		else if (!err)
			err = recv_some(p, &s);
	}
	if (!err && s.sum_done != s.sum_sent)
		err = -EBADMSG;
	return err;
}

static int stream_fn(void *arg, uint64_t n)
{
	return run_stream(arg, n);
}

static int sync_once(void *arg, uint64_t i)
{
	struct zmq_pool *p = arg;
	uint64_t back = ~i;
	int size, err;

	if (zmq_send(p->req, &i, sizeof(i), 0) < 0)
		return -errno;
	err = recv_checked(p, p->req, &back, sizeof(back), &size);
	if (!err && (size != (int)sizeof(back) || back != i))
		err = -EBADMSG;
	return err;
}

int peer_zmq_run(const struct peer_opts *o, struct peer_result *r)
{
	struct zmq_pool p;
	int err, maj, min, pat;

	peer_result_init(r);
	memset(&p, 0, sizeof(p));
	if (o->workers < 1 || o->workers > MAX_WORKERS) {
		peer_fail(r, "workers must be 1..%d", MAX_WORKERS);
		return -EINVAL;
	}
	err = open_pool(&p, o->workers);
	if (!err)
		err = await_hellos(&p);
	if (!err)
		err = peer_time_stream(o, stream_fn, &p, p.pids, &p.n,
				       &r->batched_tps, &r->batched_csw,
				       &r->batched_cpu_us);
	if (!err)
		err = peer_run_sync(o, r, sync_once, &p, p.pids, p.n);
	close_pool(&p);
	if (err) {
		peer_fail(r, "zeromq pool: %s", strerror(-err));
		return err;
	}
	zmq_version(&maj, &min, &pat);
	r->ran = true;
	snprintf(r->note, sizeof(r->note),
		 "libzmq %d.%d.%d, %d workers, ipc://, window %u", maj, min,
		 pat, p.n, WINDOW);
	return 0;
}
