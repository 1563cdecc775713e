/*
 * The plain fork+pipe pool: N forked workers, each with a request pipe
 * and a reply pipe carrying 8-byte task ids. Two ways of running it:
 * - batched: a worker reads whatever ids are queued (up to a page), runs
 *   the no-op task for each, and answers them all with one write; the
 *   parent keeps up to WINDOW ids in flight per worker and writes them
 *   CHUNK at a time. This measures the pipes more than any task API.
 * - per task (the "unbatched" figure): one write per task each way, as
 *   a plain pool with one request record per task does; the worker reads
 *   one record, runs it, writes its reply. Still pipelined: up to WINDOW
 *   ids in flight per worker.
 * The sync run sends one id and waits for it, round-robin over the
 * workers. The contended run has several client threads share the
 * workers: each takes an idle worker (a mutex and a condition variable
 * guard the list), makes its round trip on that worker's pipes and gives
 * the worker back.
 *
 * Writes stay under PIPE_BUF, so each is atomic, and the windows keep both
 * pipes below their capacity, so neither side ever blocks on a write.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/peers/peer.h"

#define MAX_WORKERS  256
#define REC	     ((size_t)sizeof(uint64_t))
#define PAGE_RECS    512u  /* ids per read: one 4 KiB page */
#define CHUNK	     256u  /* ids per request write: 2 KiB < PIPE_BUF */
#define WINDOW	     2048u /* ids in flight per worker: 16 KiB < 64 KiB */
#define POLL_MS	     1000
#define STALL_POLLS  10 /* empty polls in a row: a hang */
#define EXIT_WAIT_NS (2LL * 1000000000)

struct pipe_pool {
	int n;
	int per_task; /* one record per write, both ways */
	pid_t pids[MAX_WORKERS];
	int req[MAX_WORKERS]; /* write ends */
	int rep[MAX_WORKERS]; /* read ends */
};

/* Bytes of replies read from one worker, kept until whole ids are in. */
struct rx_buf {
	unsigned char buf[PAGE_RECS * REC + REC];
	size_t have;
};

/* The task each worker runs per id; volatile so it is really called. */
static int noop_task(uint64_t id)
{
	(void)id;
	return 0;
}

static int (*volatile task_fn)(uint64_t id) = noop_task;

struct worker_fds {
	int req; /* read end */
	int rep; /* write end */
	int per_task;
};

static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Keep only stdio and this worker's two ends: EOF must reach every one. */
static void close_others(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		syscall(SYS_close_range, 3u, (unsigned)lo - 1, 0u);
	if (hi > lo + 1)
		syscall(SYS_close_range, (unsigned)lo + 1, (unsigned)hi - 1,
			0u);
	syscall(SYS_close_range, (unsigned)hi + 1, ~0u, 0u);
}

/* Worker: answer ids until the request pipe reaches EOF. */
static int worker_main(void *arg)
{
	const struct worker_fds *fds = arg;
	struct rx_buf in = {.have = 0};
	size_t whole, i;
	uint64_t id;
	ssize_t n;

	close_others(fds->req, fds->rep);
	for (;;) {
		/* Per task: one record per read (a reply per task). */
		n = read(fds->req, in.buf + in.have,
			 fds->per_task ? REC - in.have : PAGE_RECS * REC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? 1 : 0;
		in.have += (size_t)n;
		whole = in.have / REC * REC;
		for (i = 0; i < whole; i += REC) {
			memcpy(&id, in.buf + i, REC);
			task_fn(id);
		}
		if (write_all(fds->rep, in.buf, whole))
			return 1;
		in.have -= whole;
		memmove(in.buf, in.buf + whole, in.have);
	}
}

static void pool_init(struct pipe_pool *p, int n, int per_task)
{
	int k;

	p->n = n;
	p->per_task = per_task;
	for (k = 0; k < MAX_WORKERS; k++) {
		p->pids[k] = 0;
		p->req[k] = p->rep[k] = -1;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int start_worker(struct pipe_pool *p, int k)
{
	int req[2], rep[2];
	struct worker_fds fds;

	if (pipe2(req, O_CLOEXEC))
		return -errno;
	if (pipe2(rep, O_CLOEXEC)) {
		close(req[0]);
		close(req[1]);
		return -errno;
	}
	fds.req = req[0];
	fds.rep = rep[1];
	fds.per_task = p->per_task;
	p->pids[k] = bu_fork(worker_main, &fds);
	close(req[0]);
	close(rep[1]);
	p->req[k] = req[1];
	p->rep[k] = rep[0];
	return p->pids[k] < 0 ? p->pids[k] : 0;
}

/* Reap child pid, killing it if it has not exited by until. */
static int reap_by(pid_t pid, int64_t until)
{
	int st;

	while (!bu_child_gone(pid, &st)) {
		if (bu_now_ns() >= until) {
			bu_kill_reap(pid);
			return -ETIMEDOUT;
		}
		usleep(1000);
	}
	return st;
}

/*
 * Close the request pipes so the workers exit on EOF, and reap them; one
 * that has not exited after EXIT_WAIT_NS is killed. Returns 0 when every
 * worker exited cleanly.
 */
static int pool_stop(struct pipe_pool *p)
{
	int64_t until = bu_now_ns() + EXIT_WAIT_NS;
	int k, err = 0;

	for (k = 0; k < p->n; k++)
		close_fd(&p->req[k]);
	for (k = 0; k < p->n; k++) {
		if (p->pids[k] > 0 && reap_by(p->pids[k], until))
			err = -ECHILD;
		p->pids[k] = 0;
		close_fd(&p->rep[k]);
	}
	return err;
}

static int pool_start(struct pipe_pool *p, int n, int per_task)
{
	int k, err = 0;

	pool_init(p, n, per_task);
	for (k = 0; k < n && !err; k++)
		err = start_worker(p, k);
	if (err) {
		peer_reap_all(p->pids, n);
		pool_stop(p);
	}
	return err;
}

/* After an empty poll: an error when a worker died or the run stalled. */
static int check_stall(struct pipe_pool *p, int *polls)
{
	int k, st;

	for (k = 0; k < p->n; k++)
		if (bu_child_gone(p->pids[k], &st)) {
			p->pids[k] = 0;
			return -EPIPE;
		}
	return ++*polls >= STALL_POLLS ? -ETIMEDOUT : 0;
}

/* Throughput run state. */
struct stream {
	uint64_t total, sent, done, sum_sent, sum_done;
	unsigned out[MAX_WORKERS]; /* ids in flight per worker */
	struct rx_buf rx[MAX_WORKERS];
};

/* Top up worker k's window with consecutive ids, CHUNK per write (one
 * per write in the per-task pool). */
static int feed(struct pipe_pool *p, struct stream *s, int k)
{
	unsigned chunk = p->per_task ? 1 : CHUNK;
	uint64_t ids[CHUNK];
	unsigned i, n;
	int err;

	while (s->sent < s->total && s->out[k] + chunk <= WINDOW) {
		n = s->total - s->sent < chunk ? (unsigned)(s->total - s->sent)
					       : chunk;
		for (i = 0; i < n; i++) {
			ids[i] = s->sent + i;
			s->sum_sent += ids[i];
		}
		err = write_all(p->req[k], ids, n * REC);
		if (err)
			return err;
		s->sent += n;
		s->out[k] += n;
	}
	return 0;
}

static int collect(struct pipe_pool *p, struct stream *s, int k)
{
	struct rx_buf *rx = &s->rx[k];
	size_t whole, i;
	uint64_t id;
	ssize_t n = read(p->rep[k], rx->buf + rx->have, PAGE_RECS * REC);

	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return n < 0 ? -errno : -EPIPE;
	rx->have += (size_t)n;
	whole = rx->have / REC * REC;
	for (i = 0; i < whole; i += REC) {
		memcpy(&id, rx->buf + i, REC);
		s->sum_done += id;
	}
	s->done += whole / REC;
	s->out[k] -= (unsigned)(whole / REC);
	rx->have -= whole;
	memmove(rx->buf, rx->buf + whole, rx->have);
	return 0;
}

static int collect_ready(struct pipe_pool *p, struct stream *s, int *polls)
{
	struct pollfd pfd[MAX_WORKERS];
	int k, n, err = 0;

	for (k = 0; k < p->n; k++)
		pfd[k] = (struct pollfd){.fd = p->rep[k], .events = POLLIN};
	n = poll(pfd, (nfds_t)p->n, POLL_MS);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return check_stall(p, polls);
	*polls = 0;
	for (k = 0; k < p->n && !err; k++)
		if (pfd[k].revents)
			err = collect(p, s, k);
	return err;
}

static int run_stream(struct pipe_pool *p, uint64_t total)
{
	struct stream *s = calloc(1, sizeof(*s));
	int k, polls = 0, err = 0;

	if (!s)
		return -ENOMEM;
	s->total = total;
	while (!err && s->done < total) {
		for (k = 0; k < p->n && !err; k++)
			err = feed(p, s, k);
		if (!err)
			err = collect_ready(p, s, &polls);
	}
	if (!err && s->sum_done != s->sum_sent)
		err = -EBADMSG;
	free(s);
	return err;
}

static int stream_fn(void *arg, uint64_t n)
{
	return run_stream(arg, n);
}

/*
 * Read one reply id from fd, waiting at most STALL_POLLS polls. mu, when
 * not NULL, guards the stall check (it reaps dead workers) against the
 * other client threads.
 */
static int read_reply(struct pipe_pool *p, pthread_mutex_t *mu, int fd,
		      uint64_t *id)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int polls = 0, n, err;
	ssize_t got;

	for (;;) {
		n = poll(&pfd, 1, POLL_MS);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0) {
			if (mu)
				pthread_mutex_lock(mu);
			err = check_stall(p, &polls);
			if (mu)
				pthread_mutex_unlock(mu);
			if (err)
				return err;
			continue;
		}
		if (n < 0)
			continue;
		/* One id in flight: the reply is one atomic 8-byte write. */
		got = read(fd, id, REC);
		if (got == (ssize_t)REC)
			return 0;
		if (got < 0 && errno == EINTR)
			continue;
		return got < 0 ? -errno : -EPIPE;
	}
}

static int sync_once(void *arg, uint64_t i)
{
	struct pipe_pool *p = arg;
	int k = (int)(i % (uint64_t)p->n);
	uint64_t back = ~i;
	int err = write_all(p->req[k], &i, REC);

	if (!err)
		err = read_reply(p, NULL, p->rep[k], &back);
	if (!err && back != i)
		err = -EBADMSG;
	return err;
}

/* The workers, shared by the client threads of the contended run. */
struct shared_pool {
	struct pipe_pool *p;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int idle[MAX_WORKERS]; /* a stack: the last worker given back first */
	int nidle;
};

static int take_worker(struct shared_pool *sp)
{
	int k;

	pthread_mutex_lock(&sp->mu);
	while (!sp->nidle)
		pthread_cond_wait(&sp->cv, &sp->mu);
	k = sp->idle[--sp->nidle];
	pthread_mutex_unlock(&sp->mu);
	return k;
}

/* Also after a failed round trip: the threads waiting must not hang. */
static void give_back(struct shared_pool *sp, int k)
{
	pthread_mutex_lock(&sp->mu);
	sp->idle[sp->nidle++] = k;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}

static int shared_once(void *arg, uint64_t id)
{
	struct shared_pool *sp = arg;
	int k = take_worker(sp);
	uint64_t back = ~id;
	int err = write_all(sp->p->req[k], &id, REC);

	if (!err)
		err = read_reply(sp->p, &sp->mu, sp->p->rep[k], &back);
	if (!err && back != id)
		err = -EBADMSG;
	give_back(sp, k);
	return err;
}

int peer_pipe_contended(const struct peer_opts *o, int callers,
			struct peer_contended *out)
{
	struct shared_pool sp = {.nidle = 0};
	struct peer_callers s;
	struct pipe_pool p;
	int k, err, stop_err;

	peer_contended_init(out, "");
	if (o->workers < 1 || o->workers > MAX_WORKERS) {
		peer_fail_contended(out, "workers must be 1..%d", MAX_WORKERS);
		return -EINVAL;
	}
	err = pool_start(&p, o->workers, 0);
	if (err) {
		peer_fail_contended(out, "starting workers: %s",
				    strerror(-err));
		return err;
	}
	sp.p = &p;
	pthread_mutex_init(&sp.mu, NULL);
	pthread_cond_init(&sp.cv, NULL);
	for (k = 0; k < p.n; k++)
		sp.idle[sp.nidle++] = k;
	peer_callers_init(&s, o, callers, shared_once, &sp);
	err = peer_callers_start(&s);
	if (!err)
		err = peer_callers_end(&s, out);
	if (err)
		peer_reap_all(p.pids, p.n);
	stop_err = pool_stop(&p);
	pthread_cond_destroy(&sp.cv);
	pthread_mutex_destroy(&sp.mu);
	err = err ? err : stop_err;
	if (err) {
		peer_fail_contended(out, "pipe pool: %s", strerror(-err));
		return err;
	}
	out->ran = true;
	out->workers = p.n;
	snprintf(out->note, sizeof(out->note),
		 "%d client threads take an idle worker from a shared list "
		 "(mutex + condvar), one id each way",
		 callers);
	return 0;
}

/* The per-task pool's stream, into r->unbatched_tps. */
static int run_per_task(const struct peer_opts *o, struct peer_result *r)
{
	struct pipe_pool p;
	double csw, cpu;
	int err, stop_err;

	err = pool_start(&p, o->workers, 1);
	if (err)
		return err;
	err = peer_time_stream(o, stream_fn, &p, p.pids, &p.n,
			       &r->unbatched_tps, &csw, &cpu);
	if (err)
		peer_reap_all(p.pids, p.n);
	stop_err = pool_stop(&p);
	return err ? err : stop_err;
}

int peer_pipe_run(const struct peer_opts *o, struct peer_result *r)
{
	struct pipe_pool p;
	int err, stop_err;

	peer_result_init(r);
	if (o->workers < 1 || o->workers > MAX_WORKERS) {
		peer_fail(r, "workers must be 1..%d", MAX_WORKERS);
		return -EINVAL;
	}
	err = pool_start(&p, o->workers, 0);
	if (err) {
		peer_fail(r, "starting workers: %s", strerror(-err));
		return err;
	}
	err = peer_time_stream(o, stream_fn, &p, p.pids, &p.n, &r->batched_tps,
			       &r->batched_csw, &r->batched_cpu_us);
	if (!err)
		err = peer_run_sync(o, r, sync_once, &p, p.pids, p.n);
	if (err)
		peer_reap_all(p.pids, p.n);
	stop_err = pool_stop(&p);
	if (!err)
		err = stop_err;
	if (!err)
		err = run_per_task(o, r);
	if (err) {
		peer_fail(r, "pipe pool: %s", strerror(-err));
		return err;
	}
	r->ran = true;
	snprintf(r->note, sizeof(r->note),
		 "%d workers; batched: %u ids per write, unbatched: one per "
		 "write each way; %u in flight per worker",
		 p.n, CHUNK, WINDOW);
	return 0;
}
