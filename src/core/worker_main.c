/*
 * The worker process: takes SUBMIT frames from its channel, runs the task
 * functions, and answers with RESULT frames. Runs in a forked child
 * (set up by worker.c) or in a fresh exec of the program (clean-room, see
 * cleanroom.h); both enter through pp_worker_enter (worker_setup.h) and
 * run one loop. It never returns and never touches the host's other
 * state. This side knows only its setup and its channel, never the pool:
 * it includes the protocol, not the parent's private header.
 *
 * Frames are drained into a small local queue before each task starts, so
 * a CANCEL for a task still queued here removes it, and the task started
 * next is the highest-priority one (FIFO within a level). If the parent
 * says a higher priority is waiting than anything queued here, the lower
 * ones are handed back (DEFERRED) rather than started.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <ucontext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "process_pool.h"
#include "sandbox/confine.h"
#include "src/core/probes.h"
#include "src/core/clock.h"
#include "src/core/modules.h"
#include "src/core/protocol.h"
#include "src/core/worker_init.h"
#include "src/core/worker_setup.h"
#include "src/ipc/channel.h"
#include "src/ipc/fd_payload.h"
#include "src/core/worker_exit_trap.h"

#define LOCAL_MAX   256
#define OUTPUTS_MAX 256

struct local_task {
	struct pp_frame f;
	const void *mapped; /* an fd payload's read-only mapping, or NULL */
	int prio; /* aged priority when it arrived */
	int gone; /* cancelled or handed back: skip it */
	int64_t received_ns;
	uint64_t order;
	int traced; /* a TRACE frame came with it: */
	uint8_t trace_id[16], span_id[8], trace_flags;
};

/*
 * One FIFO per arrival priority. Within one, the oldest task is also the
 * most aged, so the next task to start is one of the four heads.
 */
struct local_fifo {
	struct local_task items[LOCAL_MAX];
	unsigned head, tail; /* free-running; tail - head <= LOCAL_MAX */
};

struct pending_free {
	uint32_t seq; /* sequence of the RESULT that carried it */
	struct pp_payload_ref ref;
};

struct worker_state {
	struct pp_channel ch;
	struct local_fifo q[TASK_PRIORITY_COUNT];
	unsigned nlocal; /* live tasks across the FIFOs */
	uint64_t order;
	struct pending_free outputs[OUTPUTS_MAX];
	unsigned nout;
	size_t max_output;
	int shutdown;
	int64_t now; /* coarse clock, read once per loop turn: it only
		      * ages tasks, on the scale of seconds */
	const struct pp_module_table *modules; /* clean-room; NULL: fork */
	int task_usage; /* measure each task (pool_config_t.task_usage) */
	int clear_refs; /* /proc/self/clear_refs, or -1 */
	struct pp_frame trace; /* the last TRACE frame, for the SUBMIT
				* that follows it; type 0 once taken */
};

/* The learning listener, when the pool learns (seccomp_learn.h). */
static struct pp_seccomp_learner learner;
static int learning;

/* What pool_output_alloc hands out, for the task running now: arena
 * space, or (larger than the arena) anonymous memory of the worker's,
 * mapped at scratch (scratch_len bytes). */
static struct worker_state *current_worker;
static void *current_output;
static struct pp_payload_ref current_output_ref;
static int bulk_running; /* the task running now is in a bulk chunk */
/* pool_task_traceparent's answer for the task running now, or "". */
static char current_traceparent[56];
static void *scratch;
static size_t scratch_len;

/* Outputs larger than the arena go as sealed memfds (see worker.c,
 * pp_worker_input_by_fd, for why not smaller ones). */
static int output_by_fd(const struct worker_state *ws, size_t size)
{
	return size > ws->ch.own.size;
}

/*
 * Memory for an output larger than the arena: private anonymous pages,
 * in transparent huge pages where the system allows them (aligned, and
 * MADV_HUGEPAGE for THP's "madvise" mode), written into a sealed memfd
 * by the kernel when the task returns. Not a writable mapping of the
 * memfd itself: on a virtual machine each fresh 4 KiB page of a shared
 * mapping costs a trap on its first write, far more than the kernel's
 * copy through its own huge mappings (README, "Payloads").
 */
#define SCRATCH_ALIGN ((size_t)2 << 20)

static void *output_scratch(size_t size)
{
	size_t len = size + SCRATCH_ALIGN;
	unsigned char *base, *p;

	if (len < size)
		return NULL;
	base = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	p = (unsigned char *)(((uintptr_t)base + SCRATCH_ALIGN - 1) &
			      ~(uintptr_t)(SCRATCH_ALIGN - 1));
	madvise(p, size, MADV_HUGEPAGE); /* a hint: 4 KiB pages work too */
	scratch = base;
	scratch_len = len;
	return p;
}

static void drop_scratch(void)
{
	if (scratch)
		munmap(scratch, scratch_len);
	scratch = NULL;
}

/* Writes size bytes of src into a new memfd; -1 when it cannot. */
static int output_memfd_copy(const void *src, size_t size)
{
	const unsigned char *p = src;
	size_t done = 0;
	int fd = memfd_create("processpool-output",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);

	while (fd >= 0 && done < size) {
		ssize_t n = write(fd, p + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	return fd;
}

static void release_acked(struct worker_state *ws);
static void *bulk_output_alloc(size_t size);

/*
 * Output space for size bytes. Earlier results' outputs hold space until
 * the parent has consumed them (RESULTS_ACKED), which it does at its next
 * drain: a busy arena is waited out, never a reason to fail a task whose
 * output fits. -ENOSPC only when it cannot fit with nothing else held.
 */
static int alloc_output(struct worker_state *ws, size_t size,
			struct pp_payload_ref *ref, void **ptr)
{
	struct timespec nap = {0, 20000};
	int err;

	for (;;) {
		err = pp_channel_alloc(&ws->ch, size, ref, ptr);
		if (err != -ENOSPC)
			return err;
		if (ws->nout == 0)
			return -ENOSPC;
		release_acked(ws);
		if (ws->nout == 0)
			continue;
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 1000000)
			nap.tv_nsec *= 2;
	}
}

void *pool_output_alloc(size_t size)
{
	struct pp_payload_ref ref;
	void *p;

	if (!current_worker || current_output || size == 0 ||
	    size > current_worker->max_output)
		return NULL;
	if (bulk_running && !output_by_fd(current_worker, size))
		return bulk_output_alloc(size);
	if (output_by_fd(current_worker, size)) {
		p = output_scratch(size);
		if (!p)
			return NULL;
		current_output = p;
		current_output_ref.offset = 0;
		current_output_ref.length = size;
		return p;
	}
	if (alloc_output(current_worker, size, &ref, &p))
		return NULL;
	current_output = p;
	current_output_ref = ref;
	return p;
}

/* Frees output space of results the parent has consumed. */
static void release_acked(struct worker_state *ws)
{
	uint32_t acked = pp_channel_word_load(&ws->ch, PP_WORD_RESULTS_ACKED);
	unsigned i = 0, j = 0;

	for (i = 0; i < ws->nout; i++) {
		if ((int32_t)(acked - ws->outputs[i].seq) > 0)
			pp_channel_free(&ws->ch, &ws->outputs[i].ref);
		else
			ws->outputs[j++] = ws->outputs[i];
	}
	ws->nout = j;
}

static void send_frame(struct worker_state *ws, struct pp_frame *r)
{
	int err;

	while ((err = pp_channel_send(&ws->ch, r)) == -EAGAIN) {
		release_acked(ws);
		sched_yield();
	}
	if (err)
		_exit(3); /* the channel is unusable: let the parent respawn */
}

/*
 * Seals an output memfd and sends it ahead of its RESULT. The writable
 * mapping is gone by now: F_SEAL_WRITE cannot be added while one exists,
 * and once added nobody can write the bytes the parent maps.
 */
static void send_output_fd(struct worker_state *ws, uint64_t wire, int fd)
{
	int err;

	if (fcntl(fd, F_ADD_SEALS, PP_FD_PAYLOAD_SEALS))
		_exit(9);
	while ((err = pp_fd_payload_send(ws->ch.sock, wire, fd)) == -EAGAIN)
		sched_yield(); /* the parent reads one per result it takes */
	if (err)
		_exit(9);
	close(fd);
}

static void send_result_fd(struct worker_state *ws, uint64_t wire,
			   int status, int rc, struct pp_payload_ref ref,
			   int fd)
{
	struct pp_frame r;

	memset(&r, 0, sizeof(r));
	r.type = PP_FRAME_RESULT;
	r.task_id = wire;
	r.u.result.status = status;
	r.u.result.return_code = rc;
	r.payload = ref;
	if (fd >= 0) {
		send_output_fd(ws, wire, fd);
		r.flags = PP_FRAME_F_FD;
	} else if (ref.length) {
		while (ws->nout == OUTPUTS_MAX) {
			release_acked(ws);
			sched_yield();
		}
		ws->outputs[ws->nout].seq = ws->ch.tx_seq;
		ws->outputs[ws->nout].ref = ref;
		ws->nout++;
	}
	send_frame(ws, &r);
}

static void send_result(struct worker_state *ws, uint64_t wire, int status,
			int rc, struct pp_payload_ref ref)
{
	send_result_fd(ws, wire, status, rc, ref, -1);
}

/* A task leaves the worker: its fd payload's mapping goes with it. */
static void drop_input(struct local_task *t)
{
	if (t->mapped)
		munmap((void *)t->mapped, (size_t)t->f.payload.length);
	t->mapped = NULL;
}

/*
 * The sealed memfd a SUBMIT with PP_FRAME_F_FD announces: the parent sent
 * it on the socket before the frame. The parent is trusted, but a
 * mismatch means the two sides disagree: stop and be replaced.
 */
static const void *take_fd_input(struct worker_state *ws,
				 const struct pp_frame *f)
{
	const void *p;
	uint64_t tag;
	int fd;

	if (pp_fd_payload_recv(ws->ch.sock, &tag, &fd))
		_exit(8);
	if (tag != f->task_id || f->payload.length > SIZE_MAX ||
	    pp_fd_payload_map_trusted(fd, (size_t)f->payload.length, &p))
		_exit(8);
	close(fd);
	return p;
}

static struct local_task *at(struct local_fifo *q, unsigned i)
{
	return &q->items[i % LOCAL_MAX];
}

/* Squeezes out cancelled and handed-back entries; O(n), only when full. */
static void compact(struct local_fifo *q)
{
	unsigned i, out = q->head;

	for (i = q->head; i != q->tail; i++)
		if (!at(q, i)->gone)
			*at(q, out++) = *at(q, i);
	q->tail = out;
}

static void cancel_local(struct worker_state *ws, uint64_t wire)
{
	struct pp_payload_ref none = {0, 0};
	unsigned p, i;

	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		struct local_fifo *q = &ws->q[p];

		for (i = q->head; i != q->tail; i++) {
			struct local_task *t = at(q, i);

			if (t->gone || t->f.task_id != wire)
				continue;
			t->gone = 1;
			drop_input(t);
			ws->nlocal--;
			send_result(ws, wire, TASK_STATUS_CANCELLED, 0, none);
			return;
		}
	}
}

static void handle_frame(struct worker_state *ws, const struct pp_frame *f)
{
	struct local_fifo *q;
	struct local_task *t;
	struct pp_frame r;
	unsigned prio;

	switch (f->type) {
	case PP_FRAME_SUBMIT:
	case PP_FRAME_BULK:
		prio =
		    (f->flags & PP_FRAME_F_PRIO_MASK) >> PP_FRAME_F_PRIO_SHIFT;
		q = &ws->q[prio];
		if (q->tail - q->head == LOCAL_MAX)
			compact(q);
		if (q->tail - q->head == LOCAL_MAX)
			_exit(4); /* the parent broke its own limit */
		t = at(q, q->tail++);
		t->f = *f;
		t->mapped = (f->flags & PP_FRAME_F_FD) ? take_fd_input(ws, f)
						       : NULL;
		t->prio = prio;
		t->gone = 0;
		t->order = ws->order++;
		t->received_ns = ws->now;
		/* The parent sends a task's TRACE just ahead of it. */
		t->traced = ws->trace.type == PP_FRAME_TRACE &&
			    ws->trace.task_id == f->task_id &&
			    f->type == PP_FRAME_SUBMIT;
		if (t->traced) {
			memcpy(t->trace_id, ws->trace.u.trace.trace_id, 16);
			memcpy(t->span_id, ws->trace.u.trace.span_id, 8);
			t->trace_flags = ws->trace.u.trace.flags;
		}
		ws->trace.type = 0;
		ws->nlocal++;
		break;
	case PP_FRAME_TRACE:
		ws->trace = *f;
		break;
	case PP_FRAME_CANCEL:
		cancel_local(ws, f->task_id);
		break;
	case PP_FRAME_PING:
		memset(&r, 0, sizeof(r));
		r.type = PP_FRAME_PONG;
		r.u.ping.nonce = f->u.ping.nonce;
		send_frame(ws, &r);
		break;
	case PP_FRAME_SHUTDOWN:
		ws->shutdown = 1;
		break;
	default:
		break;
	}
}

static void drain(struct worker_state *ws)
{
	struct pp_frame f;
	int err;

	while ((err = pp_channel_recv(&ws->ch, &f)) == 0)
		handle_frame(ws, &f);
	if (pp_channel_violation(&ws->ch))
		_exit(5);
}

/* A queued task keeps aging here, as it would in the parent's queue. */
static int aged(const struct local_task *t, int64_t now)
{
	int64_t p = t->prio + (now - t->received_ns) / PP_AGING_NS;

	return p > TASK_PRIORITY_CRITICAL ? TASK_PRIORITY_CRITICAL : (int)p;
}

/* Drops cancelled and handed-back tasks from the front of a FIFO. */
static struct local_task *live_head(struct local_fifo *q)
{
	while (q->head != q->tail && at(q, q->head)->gone)
		q->head++;
	return q->head != q->tail ? at(q, q->head) : NULL;
}

/* The task to start: highest aged priority, then oldest. */
static struct local_task *best_local(struct worker_state *ws, int *prio)
{
	struct local_task *best = NULL;
	unsigned p;

	*prio = -1;
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		struct local_task *t = live_head(&ws->q[p]);
		int tp;

		if (!t)
			continue;
		tp = aged(t, ws->now);
		if (tp > *prio || (tp == *prio && t->order < best->order)) {
			best = t;
			*prio = tp;
		}
	}
	return best;
}

/* Hands back every queued task below the priority the parent has waiting. */
static int defer_lower(struct worker_state *ws, int prio)
{
	uint32_t waiting = pp_channel_word_load(&ws->ch, PP_WORD_WAITING_PRIO);
	struct pp_payload_ref none = {0, 0};
	int deferred = 0;
	unsigned p, i;

	if (waiting == 0 || (int)waiting - 1 <= prio)
		return 0;
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		struct local_fifo *q = &ws->q[p];

		for (i = q->head; i != q->tail; i++) {
			struct local_task *t = at(q, i);

			if (t->gone || aged(t, ws->now) >= (int)waiting - 1)
				continue;
			send_result(ws, t->f.task_id, PP_WORKER_DEFERRED, 0,
				    none);
			t->gone = 1;
			drop_input(t);
			ws->nlocal--;
			deferred++;
		}
	}
	return deferred;
}

/*
 * Places the task's output in the arena, or in a memfd (*fd, unsealed
 * yet, with no writable mapping left); returns the status to report.
 */
static int place_output(struct worker_state *ws, void *out, size_t size,
			struct pp_payload_ref *ref, int *fd)
{
	void *dst;

	memset(ref, 0, sizeof(*ref));
	*fd = -1;
	if (scratch) {
		size_t len = (size_t)current_output_ref.length;
		int mine = out == current_output && size <= len, copy = -1;

		/* Exactly the bytes used: the parent maps what is
		 * announced. */
		if (mine && size)
			copy = output_memfd_copy(current_output, size);
		drop_scratch();
		if (mine) {
			if (!size)
				return 0;
			if (copy < 0)
				return TASK_STATUS_REJECTED;
			*fd = copy;
			ref->length = size;
			return 0;
		}
		current_output = NULL; /* and out is the task's own */
	}
	if (out && out == current_output && size <= current_output_ref.length) {
		*ref = current_output_ref;
		ref->length = size;
		if (size == 0) {
			pp_channel_free(&ws->ch, &current_output_ref);
			*ref = (struct pp_payload_ref){0, 0};
		}
		return 0;
	}
	if (current_output)
		pp_channel_free(&ws->ch, &current_output_ref);
	if (!out || size == 0) {
		if (out)
			free(out);
		return 0;
	}
	if (size <= ws->max_output && output_by_fd(ws, size)) {
		*fd = output_memfd_copy(out, size);
		free(out);
		if (*fd < 0)
			return TASK_STATUS_REJECTED;
		ref->offset = 0;
		ref->length = size;
		return 0;
	}
	if (size > ws->max_output || alloc_output(ws, size, ref, &dst)) {
		free(out);
		memset(ref, 0, sizeof(*ref));
		return TASK_STATUS_REJECTED;
	}
	memcpy(dst, out, size);
	free(out);
	return 0;
}

/*
 * Learning: the syscalls the task just needed beyond the policy, as
 * LEARNED frames ahead of its RESULT. Every one of them was recorded
 * before the listener let it go, so none is missing here.
 */
static void send_learned(struct worker_state *ws, uint64_t wire)
{
	uint64_t bits[PP_SECCOMP_LEARN_WORDS];
	struct pp_frame r;
	unsigned chunk, i, j;

	if (!pp_seccomp_learner_take(&learner, bits))
		return;
	for (chunk = 0; chunk < PP_FRAME_LEARNED_CHUNKS; chunk++) {
		const uint64_t *w = &bits[chunk * PP_FRAME_LEARNED_BYTES / 8];
		int any = 0;

		memset(&r, 0, sizeof(r));
		r.type = PP_FRAME_LEARNED;
		r.task_id = wire;
		r.u.learned.chunk = chunk;
		for (i = 0; i < PP_FRAME_LEARNED_BYTES / 8; i++) {
			any |= w[i] != 0;
			for (j = 0; j < 8; j++)
				r.u.learned.bits[i * 8 + j] =
				    (uint8_t)(w[i] >> (8 * j));
		}
		if (any)
			send_frame(ws, &r);
	}
}

/* The task function a SUBMIT names: the pointer itself in a forked
 * worker, (module, offset) resolved here in a clean-room one. */
static task_func_t task_function(const struct worker_state *ws, uint64_t ref)
{
	if (!ws->modules)
		return (task_func_t)(uintptr_t)ref;
	return (task_func_t)pp_modules_resolve(ws->modules, ref);
}

/*
 * Task usage (pool_config_t.task_usage): the worker process's CPU times
 * around the task, and its resident high-water mark, reset before the
 * task when clear_refs could be opened. Sent as a USAGE frame just
 * before the task's RESULT; the parent clamps it and trusts it for
 * nothing but reporting.
 */
static void usage_begin(struct worker_state *ws, struct rusage *before)
{
	/* "5": reset the mm's hiwater_rss to the current RSS (Linux 4.0). */
	if (ws->clear_refs >= 0 && write(ws->clear_refs, "5", 1) != 1)
		ws->clear_refs = -1; /* then the process's peak so far */
	getrusage(RUSAGE_SELF, before);
}

static uint64_t usec_since(const struct timeval *a, const struct timeval *b)
{
	int64_t d = ((int64_t)b->tv_sec - a->tv_sec) * 1000000 +
		    (b->tv_usec - a->tv_usec);

	return d > 0 ? (uint64_t)d : 0;
}

static void send_usage(struct worker_state *ws, uint64_t wire,
		       const struct rusage *before)
{
	struct rusage after;
	struct pp_frame r;

	getrusage(RUSAGE_SELF, &after);
	memset(&r, 0, sizeof(r));
	r.type = PP_FRAME_USAGE;
	r.task_id = wire;
	r.u.usage.cpu_user_us = usec_since(&before->ru_utime, &after.ru_utime);
	r.u.usage.cpu_sys_us = usec_since(&before->ru_stime, &after.ru_stime);
	r.u.usage.peak_rss_kb =
	    after.ru_maxrss > 0 ? (uint64_t)after.ru_maxrss : 0;
	send_frame(ws, &r);
}

/* "00-TRACEID-SPANID-FLAGS" into current_traceparent. */
static void set_traceparent(const struct local_task *t)
{
	static const char hex[] = "0123456789abcdef";
	char *p = current_traceparent;
	int i;

	*p++ = '0';
	*p++ = '0';
	*p++ = '-';
	for (i = 0; i < 16; i++) {
		*p++ = hex[t->trace_id[i] >> 4];
		*p++ = hex[t->trace_id[i] & 15];
	}
	*p++ = '-';
	for (i = 0; i < 8; i++) {
		*p++ = hex[t->span_id[i] >> 4];
		*p++ = hex[t->span_id[i] & 15];
	}
	*p++ = '-';
	*p++ = hex[t->trace_flags >> 4];
	*p++ = hex[t->trace_flags & 15];
	*p = '\0';
}

const char *pool_task_traceparent(void)
{
	return current_traceparent[0] ? current_traceparent : NULL;
}

static void run_bulk(struct worker_state *ws, struct local_task *t);

static void run_one(struct worker_state *ws, struct local_task *t)
{
	const struct pp_frame *f = &t->f;
	task_func_t func = task_function(ws, f->u.submit.func);
	void *input = t->mapped ? (void *)t->mapped
				: (void *)pp_channel_peer_payload(&ws->ch,
								  &f->payload);
	struct pp_payload_ref ref;
	struct rusage before;
	void *out = NULL;
	size_t out_size = 0;
	int rc, status, out_fd;

	if (f->type == PP_FRAME_BULK) {
		run_bulk(ws, t);
		return;
	}
	if (!func) {
		drop_input(t);
		memset(&ref, 0, sizeof(ref));
		pp_channel_word_store(&ws->ch, PP_WORD_RUNNING, 0);
		send_result(ws, f->task_id, TASK_STATUS_REJECTED,
			    PP_REJECT_NO_FUNC, ref);
		return;
	}
	current_worker = ws;
	current_output = NULL;
	PP_PROBE1(start, f->task_id >> 16);
	if (t->traced)
		set_traceparent(t);
	if (ws->task_usage)
		usage_begin(ws, &before);
	rc = func(f->payload.length ? input : NULL, (size_t)f->payload.length,
		  &out, &out_size, (void *)(uintptr_t)f->u.submit.user_data);
	if (ws->task_usage)
		send_usage(ws, f->task_id, &before);
	if (t->traced)
		current_traceparent[0] = '\0';
	current_worker = NULL;
	PP_PROBE2(end, f->task_id >> 16, rc);
	drop_input(t);
	if (learning)
		send_learned(ws, f->task_id);
	status = place_output(ws, out, out_size, &ref, &out_fd);
	current_output = NULL;
	if (!status)
		status = rc == 0 ? TASK_STATUS_COMPLETED : TASK_STATUS_FAILED;
	/* Errno mode: the task went on after a denied syscall, but its
	 * outcome says so; the parent names the syscall from the word. */
	if (pp_channel_word_load(&ws->ch, PP_WORD_VIOLATION)) {
		if (out_fd >= 0)
			close(out_fd);
		else if (ref.length)
			pp_channel_free(&ws->ch, &ref);
		out_fd = -1;
		memset(&ref, 0, sizeof(ref));
		status = TASK_STATUS_SANDBOX_VIOLATION;
		rc = (int)pp_channel_word_load(&ws->ch, PP_WORD_VIOLATION) - 1;
		pp_channel_word_store(&ws->ch, PP_WORD_VIOLATION, 0);
	}
	pp_channel_word_store(&ws->ch, PP_WORD_RUNNING, 0);
	/* What it printed without a newline is its output, not the
	 * next task's. */
	if (__fpending(stdout))
		fflush(stdout);
	send_result_fd(ws, f->task_id, status, rc, ref, out_fd);
}


/* ---- bulk chunks (protocol.h: struct pp_bulk_head) ------------------- */

/* Outputs of a chunk's tasks are packed into blocks of this size (or one
 * output's size when larger): one arena allocation, freed by one ack,
 * for many results. */
#define BULK_BLOCK ((size_t)64 << 10)

struct bulk_run {
	struct worker_state *ws;
	uint64_t wire;
	struct pp_bulk_head *head;
	struct pp_bulk_out *out;
	uint32_t first; /* first task not yet reported */
	struct pp_payload_ref block; /* output space of unreported tasks */
	unsigned char *block_ptr;
	size_t used;
	size_t reserved; /* pool_output_alloc's, at block_ptr + used */
};

static struct bulk_run *bulk_now;

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* Reports tasks first..upto-1 with one frame; their output block goes
 * with them and is freed when the parent has consumed it. */
static void bulk_report(struct bulk_run *br, uint32_t upto)
{
	struct worker_state *ws = br->ws;
	struct pp_frame r;

	if (upto == br->first)
		return;
	if (learning)
		send_learned(ws, br->wire);
	memset(&r, 0, sizeof(r));
	r.type = PP_FRAME_BULK_RESULT;
	r.task_id = br->wire;
	r.u.bulk.first = br->first;
	r.u.bulk.count = upto - br->first;
	if (br->block.length) {
		while (ws->nout == OUTPUTS_MAX) {
			release_acked(ws);
			sched_yield();
		}
		ws->outputs[ws->nout].seq = ws->ch.tx_seq;
		ws->outputs[ws->nout].ref = br->block;
		ws->nout++;
	}
	memset(&br->block, 0, sizeof(br->block));
	br->block_ptr = NULL;
	br->used = 0;
	send_frame(ws, &r);
	br->first = upto;
}

/*
 * Task i's output is the sealed memfd fd: the tasks before it are
 * reported, then the fd goes on the socket and a frame of its own names
 * it. Only then is done stored past i, so the parent never takes an
 * outcome whose fd is not on its way.
 */
static void bulk_send_fd(struct bulk_run *br, uint32_t i, int fd)
{
	struct pp_frame r;

	bulk_report(br, i);
	send_output_fd(br->ws, br->wire, fd);
	memset(&r, 0, sizeof(r));
	r.type = PP_FRAME_BULK_RESULT;
	r.flags = PP_FRAME_F_FD;
	r.task_id = br->wire;
	r.u.bulk.first = i;
	r.u.bulk.count = 1;
	send_frame(br->ws, &r);
	br->first = i + 1;
}

/* Room for size bytes at block_ptr + used, for the task now running
 * (index i): a full block is reported with the tasks before i. */
static void *bulk_space(struct bulk_run *br, uint32_t i, size_t size)
{
	struct worker_state *ws = br->ws;
	size_t want = size > BULK_BLOCK ? size : BULK_BLOCK;
	void *p;

	if (br->block_ptr && br->used + size <= br->block.length)
		return br->block_ptr + br->used;
	if (size > ws->ch.own.size)
		return NULL; /* never fits: no memfd path in a chunk */
	if (want > ws->ch.own.size / 2 && size <= ws->ch.own.size / 2)
		want = ws->ch.own.size / 2;
	if (br->block_ptr && br->used == 0) {
		pp_channel_free(&ws->ch, &br->block);
		memset(&br->block, 0, sizeof(br->block));
		br->block_ptr = NULL;
	}
	bulk_report(br, i);
	if (alloc_output(ws, want, &br->block, &p) &&
	    (want == size || alloc_output(ws, size, &br->block, &p))) {
		memset(&br->block, 0, sizeof(br->block));
		return NULL;
	}
	br->block_ptr = p;
	br->used = 0;
	return p;
}

static void *bulk_output_alloc(size_t size)
{
	struct bulk_run *br = bulk_now;
	uint32_t i = __atomic_load_n(&br->head->started, __ATOMIC_RELAXED) - 1;
	void *p = bulk_space(br, i, size);

	if (!p)
		return NULL;
	current_output = p;
	br->reserved = size;
	return p;
}

/* Places task i's output in the current block, or (larger than the
 * arena's part) in a memfd, *fd, sent on its own; the status to report
 * (0: as the function said, REJECTED: no room). */
static int bulk_place(struct bulk_run *br, uint32_t i, void *o, size_t size,
		      struct pp_bulk_out *e, int *fd)
{
	int own = o && o == current_output;
	void *dst;

	e->offset = e->length = 0;
	*fd = -1;
	if (scratch) { /* pool_output_alloc's, larger than the arena */
		struct pp_payload_ref ref;
		int status;

		if (own) {
			status = place_output(br->ws, o, size, &ref, fd);
			e->length = ref.length;
			return status;
		}
		drop_scratch();
		current_output = NULL;
		own = 0;
	}
	if (o && size && size <= br->ws->max_output &&
	    output_by_fd(br->ws, size)) {
		*fd = output_memfd_copy(o, size);
		free(o);
		if (*fd < 0)
			return TASK_STATUS_REJECTED;
		e->length = size;
		return 0;
	}
	if (own && size > br->reserved)
		return TASK_STATUS_REJECTED;
	if (!o || size == 0) {
		if (!own)
			free(o);
		return 0;
	}
	if (size > br->ws->max_output) {
		if (!own)
			free(o);
		return TASK_STATUS_REJECTED;
	}
	if (!own) {
		dst = bulk_space(br, i, size);
		if (!dst) {
			free(o);
			return TASK_STATUS_REJECTED;
		}
		memcpy(dst, o, size);
		free(o);
	}
	e->offset = br->block.offset + br->used;
	e->length = size;
	br->used += align16(size);
	if (br->used > br->block.length)
		br->used = br->block.length;
	return 0;
}

/*
 * Runs a chunk's tasks in order. The region is the parent's: a region
 * that does not check out means the two sides disagree, so stop and be
 * replaced.
 */
static void run_bulk(struct worker_state *ws, struct local_task *t)
{
	const struct pp_frame *f = &t->f;
	unsigned char *region = (unsigned char *)pp_channel_peer_payload(
	    &ws->ch, &f->payload);
	task_func_t func = task_function(ws, f->u.submit.func);
	size_t len = (size_t)f->payload.length;
	void *ud = (void *)(uintptr_t)f->u.submit.user_data;
	struct bulk_run br;
	const struct pp_bulk_in *in;
	const uint8_t *skip;
	uint32_t count, i;

	if (!region || len < sizeof(struct pp_bulk_head))
		_exit(10);
	memset(&br, 0, sizeof(br));
	br.ws = ws;
	br.wire = f->task_id;
	br.head = (struct pp_bulk_head *)(void *)region;
	count = br.head->count;
	if (count == 0 || count > PP_BULK_MAX ||
	    pp_bulk_layout_size(count) > len ||
	    br.head->out_offset < pp_bulk_layout_size(count) ||
	    br.head->out_offset % 8 ||
	    br.head->out_offset +
		    (uint64_t)count * sizeof(struct pp_bulk_out) >
		len)
		_exit(10);
	in = (const struct pp_bulk_in *)(void *)(br.head + 1);
	skip = (const uint8_t *)(in + count);
	br.out = (struct pp_bulk_out *)(void *)(region + br.head->out_offset);
	for (i = 0; i < count; i++) {
		struct pp_bulk_out e = {0, 0, 0, 0};
		uint32_t off = in[i].offset, n = in[i].length;
		void *o = NULL;
		size_t o_size = 0;
		int status, fd = -1;

		/* Announced before the look at cancel and skip: the parent
		 * stores those, then reads this (see bulk.c). */
		__atomic_store_n(&br.head->started, i + 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&br.head->cancel, __ATOMIC_SEQ_CST) ||
		    __atomic_load_n(&skip[i], __ATOMIC_SEQ_CST)) {
			e.status = TASK_STATUS_CANCELLED;
			goto next;
		}
		if (!func) {
			e.status = TASK_STATUS_REJECTED;
			e.return_code = PP_REJECT_NO_FUNC;
			goto next;
		}
		if ((uint64_t)off + n > len)
			_exit(10);
		current_worker = ws;
		current_output = NULL;
		bulk_running = 1;
		bulk_now = &br;
		e.return_code = func(n ? region + off : NULL, n, &o, &o_size,
				     ud);
		current_worker = NULL;
		bulk_running = 0;
		status = bulk_place(&br, i, o, o_size, &e, &fd);
		current_output = NULL;
		br.reserved = 0;
		e.status = status ? status
			   : e.return_code == 0 ? TASK_STATUS_COMPLETED
						: TASK_STATUS_FAILED;
		if (pp_channel_word_load(&ws->ch, PP_WORD_VIOLATION)) {
			if (fd >= 0)
				close(fd);
			fd = -1;
			e.offset = e.length = 0; /* its block space stays */
			e.status = TASK_STATUS_SANDBOX_VIOLATION;
			e.return_code = (int)pp_channel_word_load(
					    &ws->ch, PP_WORD_VIOLATION) -
					1;
			pp_channel_word_store(&ws->ch, PP_WORD_VIOLATION, 0);
		}
		if (__fpending(stdout))
			fflush(stdout);
	next:
		br.out[i] = e;
		if (fd >= 0)
			bulk_send_fd(&br, i, fd);
		__atomic_store_n(&br.head->done, i + 1, __ATOMIC_RELEASE);
	}
	pp_channel_word_store(&ws->ch, PP_WORD_RUNNING, 0);
	bulk_report(&br, count);
	if (br.block_ptr) /* reserved, never used */
		pp_channel_free(&ws->ch, &br.block);
	bulk_now = NULL;
}

/*
 * Announces the task in PP_WORD_RUNNING, then looks for a CANCEL once
 * more. The parent sends CANCEL and then reads the word, so either this
 * side sees the CANCEL and does not start, or the parent sees the word and
 * kills the worker: a cancelled task never runs unnoticed.
 */
static int claim_start(struct worker_state *ws, struct local_task *t)
{
	/* A sequentially consistent store: ordered before the drain. */
	pp_channel_word_store(&ws->ch, PP_WORD_RUNNING,
			      pp_running_word(t->f.task_id));
	drain(ws);
	if (!t->gone)
		return 1;
	pp_channel_word_store(&ws->ch, PP_WORD_RUNNING, 0);
	return 0;
}

/* Where this worker waits, for a synchronous caller choosing a worker
 * (rseq makes sched_getcpu a memory read). */
static void note_cpu(struct worker_state *ws)
{
	int cpu = sched_getcpu();
	uint32_t v = cpu >= 0 ? (uint32_t)cpu + 1 : 0;

	if (pp_channel_word_load(&ws->ch, PP_WORD_CPU) != v)
		pp_channel_word_store(&ws->ch, PP_WORD_CPU, v);
}

static void worker_loop(struct worker_state *ws)
{
	for (;;) {
		struct local_task *best, t;
		int prio;

		ws->now = pp_coarse_now_ns();
		drain(ws);
		release_acked(ws);
		if (ws->nlocal == 0) {
			if (ws->shutdown)
				_exit(0);
			note_cpu(ws);
			pp_channel_wait(&ws->ch, 1000);
			continue;
		}
		best = best_local(ws, &prio);
		if (defer_lower(ws, prio))
			continue;
		if (!claim_start(ws, best))
			continue;
		t = *best;
		best->gone = 1;
		ws->nlocal--;
		live_head(&ws->q[t.prio]); /* best was a head: pop it now */
		run_one(ws, &t);
	}
}

/* Closes every fd but stdio and the three it keeps (all above 2). */
static void close_other_fds(int a, int b, int c)
{
	int keep[3] = {a, b, c}, i, j, from = 3;

	for (i = 0; i < 3; i++)
		for (j = i + 1; j < 3; j++)
			if (keep[j] < keep[i]) {
				int x = keep[i];

				keep[i] = keep[j];
				keep[j] = x;
			}
	for (i = 0; i < 3; i++) {
		if (keep[i] > from)
			syscall(SYS_close_range, (unsigned)from,
				(unsigned)keep[i] - 1, 0u);
		if (keep[i] + 1 > from)
			from = keep[i] + 1;
	}
	syscall(SYS_close_range, (unsigned)from, ~0u, 0u);
}

/* The worker's channel and seccomp mode, for the SIGSYS handler. */
static struct pp_channel *sigsys_channel;
static int sigsys_errno;

/*
 * SECCOMP_RET_TRAP lands here. The syscall number goes to the parent in
 * a control word; then either the worker stops at once, or (errno mode)
 * the syscall returns -EPERM and the task goes on. A task that installs
 * its own SIGSYS handler can hide a denial from this report, never get
 * past the filter.
 */
static void on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
	(void)sig;
	pp_channel_word_store(sigsys_channel, PP_WORD_VIOLATION,
			      (uint32_t)si->si_syscall + 1);
#if defined(__x86_64__)
	if (sigsys_errno) {
		((ucontext_t *)ucontext)->uc_mcontext.gregs[REG_RAX] = -EPERM;
		return;
	}
#elif defined(__aarch64__)
	if (sigsys_errno) {
		((ucontext_t *)ucontext)->uc_mcontext.regs[0] =
		    (uint64_t)-EPERM;
		return;
	}
#else
	(void)ucontext;
#endif
	_exit(PP_EXIT_SANDBOX);
}

static void confine(const struct pp_worker_setup *s, struct worker_state *ws)
{
	enum pp_confine_step step;
	struct pp_confine c;

	if (s->sandbox_off)
		return;
	memset(&c, 0, sizeof(c));
	sigsys_channel = &ws->ch;
	sigsys_errno = s->seccomp_errno;
	c.rlimit_as = s->rlimit_as;
	c.rlimit_nofile = s->rlimit_nofile;
	c.rlimit_cpu_s = s->rlimit_cpu_s;
	c.rlimit_nproc = s->rlimit_nproc;
	c.uid = s->uid;
	c.gid = s->gid;
	c.keep_caps = s->keep_caps;
	c.seccomp = &s->seccomp;
	c.on_sigsys = on_sigsys;
	if (s->seccomp.learn) {
		learner.fail_exit = PP_EXIT_CONFINE + PP_CONFINE_LEARN;
		c.learner = &learner;
		learning = 1;
	}
	step = pp_confine_self(&c);
	if (step != PP_CONFINE_OK)
		_exit(PP_EXIT_CONFINE + (int)step); /* the parent names it */
}

/* CPU and NUMA placement: the CPU and node the setup names, if any. */
static void place(const struct pp_worker_setup *s)
{
	cpu_set_t set;

	if (s->cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(s->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	if (s->node >= 0)
		numa_set_preferred(s->node);
}

/*
 * A fork's stdio buffers hold what the host had read from stdin and not
 * yet used, and what it had printed and not yet flushed: neither is the
 * task's to read or to print again. Fresh buffers, set now, also spare
 * stdio its first-use isatty() (an ioctl the policy denies) on a
 * /dev/null stdin or stdout. Output goes out a line at a time, so a
 * crash loses at most an unfinished line.
 */
static void own_stdio(void)
{
	static char in_buf[BUFSIZ], out_buf[BUFSIZ];

	__fpurge(stdin);
	__fpurge(stdout);
	__fpurge(stderr);
	setvbuf(stdin, in_buf, _IOFBF, sizeof(in_buf));
	setvbuf(stdout, out_buf, _IOLBF, sizeof(out_buf));
}

void pp_worker_enter(const struct pp_worker_setup *s, int memfd, int efd,
		     int sock)
{
	static struct worker_state ws;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_UNBLOCK, &all, NULL);
	memset(&ws, 0, sizeof(ws));
	ws.max_output = s->max_output;
	ws.modules = s->modules;
	if (pp_channel_open_worker(&ws.ch, memfd, efd))
		_exit(7);
	ws.ch.sock = sock;
	pp_exit_trap_arm(&ws.ch); /* the host's stdio and atexit stay its */
	close_other_fds(memfd, efd, sock);
	own_stdio();
	place(s);
	/* The host's initializer, unconfined: what it opens, tasks use. */
	pp_worker_init_run(s, &ws.ch);
	/* Before confinement: once the process is not dumpable and has
	 * switched its uid, its /proc files are root's. */
	ws.task_usage = s->task_usage;
	ws.clear_refs = s->task_usage ? open("/proc/self/clear_refs",
					     O_WRONLY | O_CLOEXEC)
				      : -1;
	confine(s, &ws);
	pp_worker_init_ready(s, &ws.ch);
	worker_loop(&ws);
	_exit(0);
}
