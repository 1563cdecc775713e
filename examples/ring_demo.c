/*
 * ring_demo - the IPC layer at work, end to end.
 *
 * Forks two workers, each with its own sealed shared-memory channel, and
 * hashes a batch of generated buffers across them: inputs go in through
 * the parent's part of the arena, each worker answers with the hash in a
 * result frame. Then a third, hostile worker scribbles over its channel,
 * and the parent names the violation and carries on. Only the internal
 * IPC layer is used here; the pool API builds on it.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/ipc/channel.h"

#define WORKERS 2
#define TASKS 20000
#define MAX_INPUT 4096
#define IN_FLIGHT 64

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Worker: hash each SUBMIT's input, answer with an inline 8-byte RESULT. */
static int worker_main(struct pp_channel *w)
{
	for (;;) {
		struct pp_frame f, r;
		int err = pp_channel_recv(w, &f);

		if (err == -EAGAIN) {
			if (pp_channel_wait(w, 5000) == -ETIMEDOUT)
				return 0; /* parent went quiet */
			continue;
		}
		if (err)
			return 1;
		if (f.type == PP_FRAME_SHUTDOWN)
			return 0;
		const unsigned char *in =
			pp_channel_peer_payload(w, &f.payload);
		uint64_t h = in ? fnv1a(in, (size_t)f.payload.length) : 0;

		memset(&r, 0, sizeof(r));
		r.type = PP_FRAME_RESULT;
		r.flags = PP_FRAME_F_INLINE;
		r.task_id = f.task_id;
		r.payload.length = sizeof(h);
		r.inline_data = (const uint8_t *)&h;
		while ((err = pp_channel_send(w, &r)) == -EAGAIN)
			pp_channel_wait(w, 1);
		if (err)
			return 1;
	}
}

/* Hostile worker: writes garbage over its completion ring. */
static int hostile_main(struct pp_channel *w)
{
	uint32_t jump = 0x40000000;

	memcpy(w->tx.region + PP_RING_PRODUCER_INDEX_OFFSET, &jump, 4);
	pp_wake_notify(w->wake_peer, -1);
	return 0;
}

static pid_t spawn(struct pp_channel *ch, int (*body)(struct pp_channel *))
{
	pid_t parent = getpid(), pid = fork();
	struct pp_channel w;

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (pp_channel_open_worker(&w, dup(ch->fd), -1))
		_exit(2);
	_exit(body(&w));
}

struct pending {
	struct pp_payload_ref ref;
	uint64_t task;
	uint64_t want;
	int live;
};

struct lane {
	struct pp_channel ch;
	pid_t pid;
	struct pending slot[IN_FLIGHT];
	unsigned in_flight;
	uint64_t done;
};

static void make_input(unsigned char *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (unsigned char)(seed >> 56);
	}
}

static int submit_one(struct lane *l, uint64_t task)
{
	size_t len = 64 + (size_t)(task * 2654435761u % (MAX_INPUT - 64));
	struct pending *p = &l->slot[(task / WORKERS) % IN_FLIGHT];
	struct pp_frame f;
	void *buf;
	int err = pp_channel_alloc(&l->ch, len, &p->ref, &buf);

	if (err)
		return err;
	make_input(buf, len, task);
	p->want = fnv1a(buf, len);
	p->task = task;
	p->live = 1;
	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_SUBMIT;
	f.task_id = task;
	f.payload = p->ref;
	err = pp_channel_send(&l->ch, &f);
	if (!err)
		l->in_flight++;
	return err;
}

static int collect(struct lane *l, uint64_t *bad)
{
	struct pp_frame r;
	uint64_t h;
	int err;

	while ((err = pp_channel_recv(&l->ch, &r)) == 0) {
		/* The task id comes from the worker: bound it, then check it
		 * names a task in flight before trusting anything else. */
		struct pending *p = &l->slot[(r.task_id / WORKERS) % IN_FLIGHT];

		if (!p->live || p->task != r.task_id ||
		    r.payload.length != sizeof(h) || !r.inline_data)
			return -EPROTO;
		p->live = 0;
		memcpy(&h, r.inline_data, sizeof(h));
		if (h != p->want)
			(*bad)++;
		pp_channel_free(&l->ch, &p->ref);
		l->in_flight--;
		l->done++;
	}
	return err == -EAGAIN ? 0 : err;
}

static int run_batch(struct lane *lanes)
{
	uint64_t next[WORKERS] = {0}, bad = 0, total = 0;
	double t0 = now_s(), dt;
	int k, err;

	while (total < TASKS) {
		for (k = 0; k < WORKERS; k++) {
			struct lane *l = &lanes[k];
			uint64_t task = next[k] * WORKERS + (uint64_t)k;

			while (l->in_flight < IN_FLIGHT && task < TASKS) {
				if (submit_one(l, task))
					break;
				next[k]++;
				task = next[k] * WORKERS + (uint64_t)k;
			}
			err = collect(l, &bad);
			if (err) {
				fprintf(stderr, "worker %d: %s\n", k,
					pp_channel_violation(&l->ch)
						? pp_channel_violation_str(&l->ch)
						: "result for no task in flight");
				return 1;
			}
			if (l->in_flight)
				pp_channel_wait(&l->ch, 1);
		}
		total = lanes[0].done + lanes[1].done;
	}
	dt = now_s() - t0;
	printf("hashed %d buffers (64 B .. 4 KiB) on %d workers in %.1f ms: "
	       "%.0f tasks/s, %" PRIu64 " wrong hashes\n",
	       TASKS, WORKERS, dt * 1e3, TASKS / dt, bad);
	for (k = 0; k < WORKERS; k++)
		printf("  worker %d (pid %d): %" PRIu64 " tasks\n", k,
		       (int)lanes[k].pid, lanes[k].done);
	return bad != 0;
}

static void stop_lane(struct lane *l)
{
	struct pp_frame f;
	int status;

	memset(&f, 0, sizeof(f));
	f.type = PP_FRAME_SHUTDOWN;
	pp_channel_send(&l->ch, &f);
	waitpid(l->pid, &status, 0);
	pp_channel_close(&l->ch);
}

static int run_hostile(void)
{
	struct pp_channel ch;
	struct pp_frame f;
	pid_t pid;
	int status, err;

	if (pp_channel_create(&ch, NULL))
		return 1;
	pid = spawn(&ch, hostile_main);
	waitpid(pid, &status, 0);
	err = pp_channel_recv(&ch, &f);
	printf("hostile worker (pid %d): recv -> %s; violation: %s\n",
	       (int)pid, err == -EPROTO ? "-EPROTO" : "accepted!",
	       pp_channel_violation_str(&ch));
	pp_channel_close(&ch);
	return err != -EPROTO;
}

int main(void)
{
	struct lane lanes[WORKERS];
	int k, rc;

	memset(lanes, 0, sizeof(lanes));
	for (k = 0; k < WORKERS; k++) {
		if (pp_channel_create(&lanes[k].ch, NULL)) {
			perror("pp_channel_create");
			return 1;
		}
		lanes[k].pid = spawn(&lanes[k].ch, worker_main);
	}
	rc = run_batch(lanes);
	for (k = 0; k < WORKERS; k++)
		stop_lane(&lanes[k]);
	rc |= run_hostile();
	printf(rc ? "demo FAILED\n" : "demo ok: all workers reaped\n");
	return rc;
}
