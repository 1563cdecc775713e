/*
 * Fuzz target for the parent's verdict on a worker's frames
 * (src/core/frame_check.h), the one function both the supervisor's drain
 * and the direct lane call: a frame the two paths judge differently, or
 * one accepted that an honest worker could not have sent, is a hole.
 *
 * The harness keeps a worker's slots (tasks in flight), what the parent
 * published, and a model of what an honest worker may say, computed
 * independently: which task each RESULT or LEARNED frame may name, which
 * statuses and output sizes are possible, how many deferrals the parent
 * gave cause for, how many LEARNED frames a task may send, and that a
 * USAGE frame (one per task, in a pool that measures) is clamped to the
 * task's time on the worker and the machine's memory. Every op compares
 * pp_frame_check's verdict and bookkeeping with the model.
 *
 * Input: two config bytes (max_in_flight 1 + a % 8, task_usage bit 6 of
 * a, learning a >> 7;
 * max_output_size 64 << (b % 8), the worker's arena part 256 << (b >> 6)),
 * then ops, one byte (b % OP_COUNT):
 *   PLACE slot8 prio8 bulk8  a task goes on the worker in that slot; a
 *                            chunk of 1 + bulk % 16 tasks when bulk >= 128
 *   UNSLOT slot8             the task in that slot leaves
 *   PUBLISH v8               the parent stores WAITING_PRIO = v % 6
 *   FRAME type8 slot8 lie8 status8 len16 chunk8 first8 count8
 *                            a frame from the worker: naming the task in
 *                            slot (lie: another id), with that status; a
 *                            BULK_RESULT covers first..first+count-1;
 *                            a USAGE claims first << count us of user
 *                            time, count << first of system time and
 *                            len << (first % 48) KiB
 *   OUT status8 off16 len16 fd8
 *                            an outcome a worker wrote in a chunk
 *                            (pp_bulk_out_check), its output a memfd
 *                            when fd is odd
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_check.h"
#include "src/core/bulk.h"
#include "src/core/clock.h"
#include "src/core/frame_check.h"
#include "src/core/pool_internal.h"
#include "src/ipc/cursor.h"

#define SLOTS 8

enum op { OP_PLACE, OP_UNSLOT, OP_PUBLISH, OP_FRAME, OP_OUT, OP_COUNT };

static struct process_pool pool;
static struct pp_worker w;
static struct task_future *slots[SLOTS];
static struct task_future tasks[SLOTS];
static struct pp_bulk chunks[SLOTS];
static unsigned char arena[256 << 3];

/* The model. */
static unsigned credit, learned, usage, published;

#define CPUS   4u
#define RAM_KB ((uint64_t)1 << 24)
static uint64_t next_id = 1;

static unsigned cap(void)
{
	return 2u * (unsigned)pool.cfg.max_in_flight;
}

static void give(unsigned n)
{
	credit = credit + n > cap() ? cap() : credit + n;
}

static void op_place(struct pp_cursor *in)
{
	unsigned s = pp_cursor_u8(in) % (unsigned)pool.cfg.max_in_flight;
	int prio = pp_cursor_u8(in) % TASK_PRIORITY_COUNT;
	unsigned bulk = pp_cursor_u8(in);
	struct task_future *t = &tasks[s];

	if (slots[s])
		return;
	memset(t, 0, sizeof(*t));
	if (bulk >= 128) {
		memset(&chunks[s], 0, sizeof(chunks[s]));
		chunks[s].count = 1 + bulk % 16;
		t->bulk = &chunks[s];
	}
	t->id = next_id++;
	t->slot = s;
	/* Placed a millisecond ago: a claim up to that much is kept. */
	atomic_store(&t->start_ns, pp_now_ns() - 1000000);
	t->placed_prio = prio;
	slots[s] = t;
	w.by_prio[prio]++;
	w.in_flight++;
	pp_frame_note_placed(&pool, &w, prio);
	if ((unsigned)prio + 1 < published)
		give(1);
}

static void op_unslot(struct pp_cursor *in)
{
	unsigned s = pp_cursor_u8(in) % (unsigned)pool.cfg.max_in_flight;

	if (!slots[s])
		return;
	w.by_prio[slots[s]->placed_prio]--;
	w.in_flight--;
	slots[s] = NULL;
}

static void op_publish(struct pp_cursor *in)
{
	unsigned v = pp_cursor_u8(in) % 6, n = 0, p;

	pp_frame_note_waiting(&pool, &w, v);
	published = v;
	for (p = 0; p + 1 < v && p < TASK_PRIORITY_COUNT; p++)
		n += w.by_prio[p];
	if (n)
		give(n);
}

static bool status_ok(int s)
{
	return s == TASK_STATUS_COMPLETED || s == TASK_STATUS_FAILED ||
	       s == TASK_STATUS_SANDBOX_VIOLATION ||
	       s == TASK_STATUS_REJECTED || s == TASK_STATUS_CANCELLED ||
	       s == PP_WORKER_DEFERRED;
}

/* A kept claim: never above the bounds, and whole when within what a
 * millisecond on CPUS CPUs allows. */
static void check_clamped(const struct task_future *t, const struct pp_frame *f)
{
	uint64_t ran_us =
		     (uint64_t)(pp_now_ns() - atomic_load(&t->start_ns)) / 1000,
		 sure = 1000u * CPUS;
	const uint64_t claim[2] = {f->u.usage.cpu_user_us,
				   f->u.usage.cpu_sys_us};
	const uint64_t kept[2] = {t->usage_user_us, t->usage_sys_us};
	int i;

	FUZZ_CHECK(t->usage_set);
	for (i = 0; i < 2; i++) {
		FUZZ_CHECK(kept[i] <= claim[i] && kept[i] <= ran_us * CPUS);
		FUZZ_CHECK(claim[i] > sure || kept[i] == claim[i]);
	}
	FUZZ_CHECK(t->usage_peak_kb == (f->u.usage.peak_rss_kb < RAM_KB
					    ? f->u.usage.peak_rss_kb
					    : RAM_KB));
}

static void op_frame(struct pp_cursor *in)
{
	static const uint8_t types[] = {
	    PP_FRAME_RESULT, PP_FRAME_LEARNED,	   PP_FRAME_PONG,
	    PP_FRAME_SUBMIT, PP_FRAME_HELLO,	   PP_FRAME_CANCEL,
	    PP_FRAME_BULK,   PP_FRAME_BULK_RESULT, PP_FRAME_BULK_RESULT,
	    PP_FRAME_USAGE,  PP_FRAME_USAGE,	   PP_FRAME_TRACE};
	struct task_future *named = NULL, *got;
	unsigned s, lie, first, count;
	struct pp_frame f;
	const char *why;
	int status;
	bool ok;

	memset(&f, 0, sizeof(f));
	f.type = types[pp_cursor_u8(in) % sizeof(types)];
	s = pp_cursor_u8(in) % SLOTS;
	lie = pp_cursor_u8(in);
	status = pp_cursor_u8(in);
	if (status >= 200)
		status = PP_WORKER_DEFERRED; /* often enough to matter */
	f.payload.length = pp_cursor_u16(in);
	/* The top bit of the length: the output comes as a memfd. */
	if (f.payload.length & 0x8000)
		f.flags = PP_FRAME_F_FD;
	f.u.learned.chunk = pp_cursor_u8(in) % PP_FRAME_LEARNED_CHUNKS;
	f.u.result.status = status;
	first = pp_cursor_u8(in) % 20;
	count = pp_cursor_u8(in) % 20;
	if (f.type == PP_FRAME_BULK_RESULT) {
		f.payload.length = 0;
		f.u.bulk.first = first;
		f.u.bulk.count = count;
	}
	if (f.type == PP_FRAME_USAGE) {
		f.u.usage.cpu_user_us = (uint64_t)first << count;
		f.u.usage.cpu_sys_us = (uint64_t)count << first;
		f.u.usage.peak_rss_kb = f.payload.length << (first % 48);
		f.payload.length = 0;
		f.flags = 0;
	}
	f.task_id =
	    slots[s % (unsigned)pool.cfg.max_in_flight]
		? pp_wire_id(slots[s % (unsigned)pool.cfg.max_in_flight]->id,
			     s % (unsigned)pool.cfg.max_in_flight)
		: pp_wire_id(next_id + 7, s);
	if (lie & 1)
		f.task_id ^= (uint64_t)(lie >> 1) << 16;
	if (lie & 0x80)
		f.task_id = (f.task_id & ~0xffffull) | (lie & 0x7f);
	{
		unsigned slot = (unsigned)(f.task_id & 0xffff);

		if (slot < (unsigned)pool.cfg.max_in_flight && slots[slot] &&
		    slots[slot]->id == f.task_id >> 16)
			named = slots[slot];
	}
	why = pp_frame_check(&pool, &w, &f, &got);
	switch (f.type) {
	case PP_FRAME_BULK_RESULT:
		/* The next range of a chunk on the worker, inside it; a
		 * memfd output alone in its frame. */
		ok = named && named->bulk && count >= 1 &&
		     first == named->bulk->next &&
		     first + count <= named->bulk->count &&
		     (!(f.flags & PP_FRAME_F_FD) || count == 1);
		FUZZ_CHECK(ok == (why == NULL));
		FUZZ_CHECK(got == (ok ? named : NULL));
		if (ok) {
			named->bulk->next = first + count; /* as reported */
			learned = usage = 0;
		}
		break;
	case PP_FRAME_USAGE:
		ok = pool.cfg.task_usage && named && !named->bulk && !usage;
		if (pool.cfg.task_usage && named && !named->bulk)
			usage++; /* counted even past the limit */
		FUZZ_CHECK(ok == (why == NULL));
		FUZZ_CHECK(got == NULL);
		if (ok)
			check_clamped(named, &f);
		break;
	case PP_FRAME_RESULT:
		ok = named && status_ok(status) &&
		     f.payload.length <= pool.cfg.max_output_size &&
		     (!(f.flags & PP_FRAME_F_FD) ||
		      status == TASK_STATUS_COMPLETED ||
		      status == TASK_STATUS_FAILED) &&
		     (status != PP_WORKER_DEFERRED || credit > 0) &&
		     /* a chunk only whole and unstarted */
		     (!named->bulk ||
		      ((status == TASK_STATUS_CANCELLED ||
			status == PP_WORKER_DEFERRED) &&
		       !f.payload.length && !(f.flags & PP_FRAME_F_FD) &&
		       !named->bulk->next));
		FUZZ_CHECK(ok == (why == NULL));
		if (ok) {
			FUZZ_CHECK(got == named);
			if (status == PP_WORKER_DEFERRED)
				credit--;
			learned = usage = 0;
		} else {
			FUZZ_CHECK(got == NULL);
		}
		break;
	case PP_FRAME_LEARNED:
		ok = pool.learn && named && learned < PP_FRAME_LEARNED_CHUNKS;
		if (pool.learn && named)
			learned++; /* counted even past the limit */
		FUZZ_CHECK(ok == (why == NULL));
		FUZZ_CHECK(got == NULL);
		break;
	default:
		FUZZ_CHECK(why != NULL);
		FUZZ_CHECK(got == NULL);
	}
	FUZZ_CHECK(w.defer_credit == credit);
}

/* An outcome in a chunk: only what an honest worker could write. */
static void op_out(struct pp_cursor *in)
{
	struct pp_bulk_out e;
	int by_fd;
	bool ok;

	memset(&e, 0, sizeof(e));
	e.status = pp_cursor_u8(in);
	if (e.status >= 200)
		e.status = PP_WORKER_DEFERRED;
	e.offset = pp_cursor_u16(in);
	e.length = pp_cursor_u16(in);
	by_fd = pp_cursor_u8(in) & 1;
	if (e.offset & 0x8000) /* far outside, without overflow games */
		e.offset = UINT64_MAX - (e.offset & 0x7fff);
	ok = status_ok(e.status) && e.status != PP_WORKER_DEFERRED &&
	     (!by_fd || (e.length && !e.offset)) &&
	     (!e.length ||
	      ((e.status == TASK_STATUS_COMPLETED ||
		e.status == TASK_STATUS_FAILED) &&
	       e.length <= pool.cfg.max_output_size &&
	       (by_fd || (e.offset <= w.ch.peer_part_size &&
			  e.length <= w.ch.peer_part_size - e.offset))));
	FUZZ_CHECK(ok == (pp_bulk_out_check(&pool, &w, &e, by_fd) == NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_cursor in;
	uint8_t a, b;

	if (size < 2)
		return 0;
	memset(&pool, 0, sizeof(pool));
	memset(&w, 0, sizeof(w));
	memset(slots, 0, sizeof(slots));
	credit = learned = usage = published = 0;
	pp_cursor_init(&in, data, size);
	a = pp_cursor_u8(&in);
	b = pp_cursor_u8(&in);
	pool.cfg.max_in_flight = 1 + a % SLOTS;
	pool.learn = a >> 7;
	pool.cfg.task_usage = (a >> 6) & 1;
	pool.usage_cpus = CPUS;
	pool.usage_ram_kb = RAM_KB;
	pool.cfg.max_output_size = (size_t)64 << (b % 8);
	w.slots = slots;
	/* The worker's arena part, for outputs' bounds. */
	w.ch.base = arena;
	w.ch.peer_part = arena;
	w.ch.peer_part_size = (size_t)256 << (b >> 6);
	while (pp_cursor_remaining(&in)) {
		switch (pp_cursor_u8(&in) % OP_COUNT) {
		case OP_PLACE:
			op_place(&in);
			break;
		case OP_UNSLOT:
			op_unslot(&in);
			break;
		case OP_PUBLISH:
			op_publish(&in);
			break;
		case OP_OUT:
			op_out(&in);
			break;
		default:
			op_frame(&in);
		}
	}
	return 0;
}
