/*
 * Fuzz target for the parent side of a channel (src/ipc/channel.h) facing
 * a hostile worker that can write anywhere in the shared mapping.
 *
 * Each input creates a small channel, runs a list of operations and closes
 * everything. The harness plays the worker, either through a real
 * worker-side view (pp_channel_open_worker on a dup of the memfd) or, when
 * none is open, by writing frames into the completion ring itself.
 *
 * Input format: five config bytes
 *   submit slots 8 << (b % 4), completion slots 8 << (b % 4),
 *   granule 64 << (b % 3), arena granules: input 1 + (b & 3) and output
 *   1 + (b >> 4 & 3), flags (bit 0: open a worker view before the ops)
 * then ops, one byte (b % OP_COUNT) followed by its arguments:
 *   SCRIBBLE area8 off16 len8 bytes  write into the mapping (area below)
 *   WORKER_SEND kind8 task8 a16 b8 [inline bytes]  a well-formed frame
 *   HOSTILE_PUSH mode8 ...     a malformed or out-of-order frame
 *   RECV | WORKER_RECV | ARM | WAIT | REOPEN_WORKER
 *   SEND kind8 task8 b8 [inline bytes]  SUBMIT (priority (kind >> 3) & 3)
 *                              or PING from the parent
 *   ALLOC len16 | FREE idx8 off16 | PEER_PAYLOAD mode8 off16 len16
 * Scribble areas: 0 header, 1 the rest of the first page (wake and control
 * words), 2 submission ring, 3 completion ring, 4 input arena, 5 output
 * arena, 6 anywhere.
 *
 * Invariants: recv returns 0, -EAGAIN or -EPROTO; an accepted frame has a
 * worker's type, the next sequence and a payload inside the worker's part;
 * -EPROTO is sticky for recv, send, arm and wait. As long as nothing has
 * written into a ring behind the channel's back (scribbles elsewhere are
 * harmless by design: the parent never reads the header back, and wake
 * and control words are advisory), the parent must see exactly what the
 * worker sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz_check.h"
#include "src/ipc/channel.h"
#include "src/ipc/cursor.h"

#define FIFO_SIZE  64u
#define MAX_ALLOCS 8u
#define PAGE	   4096u
#define RECV_LIMIT 256

enum op {
	OP_SCRIBBLE,
	OP_WORKER_SEND,
	OP_HOSTILE_PUSH,
	OP_RECV,
	OP_SEND,
	OP_WORKER_RECV,
	OP_ARM,
	OP_WAIT,
	OP_ALLOC,
	OP_FREE,
	OP_PEER_PAYLOAD,
	OP_REOPEN_WORKER,
	OP_COUNT,
};

/* The layout, computed here independently of channel.c. */
struct geom {
	uint32_t submit_slots;
	uint32_t complete_slots;
	size_t granule;
	size_t in_size;
	size_t out_size;
	size_t submit_off;
	size_t complete_off;
	size_t in_off;
	size_t out_off;
	size_t total;
};

/* What one side sent and the other has not received yet. */
struct sent {
	uint8_t type;
	uint16_t flags;
	uint64_t task_id;
	struct pp_payload_ref payload;
};

struct fifo {
	struct sent e[FIFO_SIZE];
	unsigned head;
	unsigned count;
};

struct harness {
	struct pp_channel ch; /* the parent: the side under test */
	struct pp_channel w;  /* a worker view, when worker_open */
	struct geom g;
	bool worker_open;
	bool hostile;	   /* a ring was written behind its back */
	bool header_dirty; /* the header was scribbled on */
	bool parent_dead;  /* the parent reported -EPROTO */
	bool worker_dead;
	uint32_t raw_idx;   /* completion producer index when playing raw */
	uint32_t worker_tx; /* frames the worker sent, all views and raw */
	uint32_t worker_rx; /* frames the worker received, all views */
	uint32_t view_rx;   /* frames the current view received */
	uint32_t parent_rx; /* frames the parent accepted */
	uint32_t parent_tx; /* frames the parent sent */
	struct fifo to_parent;
	struct fifo to_worker;
	struct pp_payload_ref allocs[MAX_ALLOCS];
	unsigned nallocs;
	volatile unsigned char sink;
};

static struct harness h;

static size_t page_up(size_t n)
{
	return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

static size_t ring_bytes(uint32_t slots)
{
	return PP_RING_SLOTS_OFFSET + (size_t)slots * PP_CHANNEL_SLOT_SIZE;
}

static void setup_geom(struct pp_cursor *in, struct pp_channel_config *cfg)
{
	struct geom *g = &h.g;
	uint8_t arenas;

	g->submit_slots = 8u << (pp_cursor_u8(in) % 4);
	g->complete_slots = 8u << (pp_cursor_u8(in) % 4);
	g->granule = (size_t)64 << (pp_cursor_u8(in) % 3);
	arenas = pp_cursor_u8(in);
	g->in_size = g->granule * (1 + (arenas & 3));
	g->out_size = g->granule * (1 + ((arenas >> 4) & 3));
	g->submit_off = PP_CHANNEL_HEADER_SIZE;
	g->complete_off = g->submit_off + page_up(ring_bytes(g->submit_slots));
	g->in_off = g->complete_off + page_up(ring_bytes(g->complete_slots));
	g->out_off = g->in_off + page_up(g->in_size);
	g->total = g->out_off + page_up(g->out_size);
	memset(cfg, 0, sizeof(*cfg));
	cfg->submit_slots = g->submit_slots;
	cfg->complete_slots = g->complete_slots;
	cfg->input_arena = g->in_size;
	cfg->output_arena = g->out_size;
	cfg->granule = g->granule;
}

static void fifo_push(struct fifo *q, const struct pp_frame *f)
{
	struct sent *e;

	FUZZ_CHECK(q->count < FIFO_SIZE);
	e = &q->e[(q->head + q->count) % FIFO_SIZE];
	e->type = f->type;
	e->flags = f->flags;
	e->task_id = f->task_id;
	e->payload = f->payload;
	q->count++;
}

/* Honest mode: the frame received must be the oldest one sent. */
static void fifo_match(struct fifo *q, const struct pp_frame *f)
{
	const struct sent *e;

	FUZZ_CHECK(q->count > 0);
	e = &q->e[q->head];
	FUZZ_CHECK(f->type == e->type && f->flags == e->flags);
	FUZZ_CHECK(f->task_id == e->task_id);
	FUZZ_CHECK(f->payload.offset == e->payload.offset);
	FUZZ_CHECK(f->payload.length == e->payload.length);
	q->head = (q->head + 1) % FIFO_SIZE;
	q->count--;
}

static _Atomic uint32_t *ring_word(size_t ring_off, size_t word_off)
{
	return (_Atomic uint32_t *)(void *)(h.ch.base + ring_off + word_off);
}

static bool overlaps(size_t a, size_t alen, size_t b, size_t blen)
{
	return a < b + blen && b < a + alen;
}

struct area {
	size_t off;
	size_t len;
};

/* Picks a scribble area of the mapping. */
static struct area scribble_area(unsigned area)
{
	const struct geom *g = &h.g;
	const struct area areas[] = {
	    {0, PP_CHANNEL_WAKE_WORKER_OFFSET},
	    {PP_CHANNEL_WAKE_WORKER_OFFSET,
	     PP_CHANNEL_HEADER_SIZE - PP_CHANNEL_WAKE_WORKER_OFFSET},
	    {g->submit_off, ring_bytes(g->submit_slots)},
	    {g->complete_off, ring_bytes(g->complete_slots)},
	    {g->in_off, g->in_size},
	    {g->out_off, g->out_size},
	    {0, g->total},
	};

	return areas[area % (sizeof(areas) / sizeof(areas[0]))];
}

/* Writes input bytes into the mapping, as a worker could. */
static void op_scribble(struct pp_cursor *in)
{
	const struct geom *g = &h.g;
	struct area a = scribble_area(pp_cursor_u8(in));
	size_t at = a.off + pp_cursor_u16(in) % a.len;
	size_t n = pp_cursor_u8(in) % 65;
	const uint8_t *src;

	if (n > a.off + a.len - at)
		n = a.off + a.len - at;
	if (n > pp_cursor_remaining(in))
		n = pp_cursor_remaining(in);
	src = pp_cursor_bytes(in, n);
	if (!src || !n)
		return;
	memcpy(h.ch.base + at, src, n);
	if (overlaps(at, n, g->submit_off, g->in_off - g->submit_off))
		h.hostile = true;
	if (overlaps(at, n, 0, PP_CHANNEL_WAKE_WORKER_OFFSET))
		h.header_dirty = true;
}

/*
 * Builds a frame a well-behaved worker could send: kind % 3 picks RESULT,
 * PONG or HELLO, and a HELLO kind of 128 or more is a LEARNED instead
 * (chunk a % 4, every bitmap byte b).
 */
static void worker_frame(struct pp_cursor *in, struct pp_frame *f)
{
	static const uint8_t types[] = {PP_FRAME_RESULT, PP_FRAME_PONG,
					PP_FRAME_HELLO};
	uint8_t kind = pp_cursor_u8(in);
	uint16_t a;
	uint8_t b;

	memset(f, 0, sizeof(*f));
	f->type = types[kind % 3];
	f->task_id = pp_cursor_u8(in);
	a = pp_cursor_u16(in);
	b = pp_cursor_u8(in);
	f->u.result.status = (int32_t)a;
	if (f->type == PP_FRAME_HELLO && kind >= 128) {
		memset(&f->u, 0, sizeof(f->u));
		f->type = PP_FRAME_LEARNED;
		f->u.learned.chunk = a % PP_FRAME_LEARNED_CHUNKS;
		memset(f->u.learned.bits, b, sizeof(f->u.learned.bits));
		return;
	}
	if (f->type == PP_FRAME_HELLO)
		f->u.hello.pid = a;
	if (f->type != PP_FRAME_RESULT)
		return;
	switch ((kind >> 2) % 3) {
	case 0: /* inline: RESULT has 16 bytes of room in a slot */
		f->flags = PP_FRAME_F_INLINE;
		f->payload.length = b % 17;
		if (f->payload.length > pp_cursor_remaining(in))
			f->payload.length = pp_cursor_remaining(in);
		f->inline_data = pp_cursor_bytes(in, f->payload.length);
		break;
	case 1: /* a reference inside the worker's part */
		f->payload.offset = a % h.g.out_size;
		f->payload.length = b % (h.g.out_size - f->payload.offset + 1);
		break;
	default:
		break;
	}
}

/* Worker view: allocate the output in its arena part. */
static void worker_alloc(struct pp_frame *f)
{
	struct pp_payload_ref ref;
	void *p;

	if (f->type != PP_FRAME_RESULT || (f->flags & PP_FRAME_F_INLINE) ||
	    !f->payload.length)
		return;
	if (pp_channel_alloc(&h.w, (size_t)f->payload.length, &ref, &p)) {
		f->payload.offset = 0;
		f->payload.length = 0;
		return;
	}
	FUZZ_CHECK((unsigned char *)p == h.w.base + h.g.out_off + ref.offset);
	memset(p, 0x5a, (size_t)ref.length);
	f->payload = ref;
}

/* Writes a whole completion slot at idx and publishes idx + 1. */
static void publish_slot(const unsigned char *slot, uint32_t idx)
{
	size_t at =
	    h.g.complete_off + PP_RING_SLOTS_OFFSET +
	    (size_t)(idx & (h.g.complete_slots - 1)) * PP_CHANNEL_SLOT_SIZE;

	memcpy(h.ch.base + at, slot, PP_CHANNEL_SLOT_SIZE);
	atomic_store_explicit(
	    ring_word(h.g.complete_off, PP_RING_PRODUCER_INDEX_OFFSET), idx + 1,
	    memory_order_release);
}

static void raw_publish(const struct pp_frame *f, uint32_t idx)
{
	unsigned char slot[PP_CHANNEL_SLOT_SIZE] = {0};
	struct pp_frame copy = *f;

	FUZZ_CHECK(pp_frame_encode(&copy, slot, sizeof(slot)) > 0);
	publish_slot(slot, idx);
}

static void worker_send_view(struct pp_frame *f)
{
	bool was_dead = h.worker_dead;
	int ret;

	worker_alloc(f);
	ret = pp_channel_send(&h.w, f);
	FUZZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -EPROTO);
	if (was_dead)
		FUZZ_CHECK(ret == -EPROTO);
	if (ret == -EPROTO) {
		FUZZ_CHECK(pp_channel_violation(&h.w) != PP_CHANNEL_OK);
		h.worker_dead = true;
	}
	if (ret == 0)
		h.worker_tx++;
	if (h.hostile)
		return;
	FUZZ_CHECK(ret != -EPROTO);
	FUZZ_CHECK((ret == -EAGAIN) ==
		   (h.to_parent.count == h.g.complete_slots));
	if (ret == 0)
		fifo_push(&h.to_parent, f);
}

/* Without a worker view the harness writes the slot and index itself. */
static void worker_send_raw(struct pp_frame *f)
{
	uint32_t tail = atomic_load_explicit(
	    ring_word(h.g.complete_off, PP_RING_CONSUMER_INDEX_OFFSET),
	    memory_order_acquire);

	if (h.raw_idx - tail >= h.g.complete_slots)
		return; /* full, as an honest worker sees it */
	f->sequence = h.worker_tx++;
	raw_publish(f, h.raw_idx++);
	if (!h.hostile)
		fifo_push(&h.to_parent, f);
}

static void op_worker_send(struct pp_cursor *in)
{
	struct pp_frame f;

	worker_frame(in, &f);
	if (h.worker_open)
		worker_send_view(&f);
	else
		worker_send_raw(&f);
}

/* A frame no honest worker sends: raw bytes, or fields out of line. */
static void op_hostile_push(struct pp_cursor *in)
{
	uint8_t mode = pp_cursor_u8(in);
	uint32_t idx = atomic_load_explicit(
	    ring_word(h.g.complete_off, PP_RING_PRODUCER_INDEX_OFFSET),
	    memory_order_relaxed);
	unsigned char slot[PP_CHANNEL_SLOT_SIZE] = {0};
	struct pp_frame f;
	size_t n;

	h.hostile = true;
	if (mode % 4 == 0) {
		n = pp_cursor_remaining(in);
		n = n < sizeof(slot) ? n : sizeof(slot);
		if (n)
			memcpy(slot, pp_cursor_bytes(in, n), n);
		publish_slot(slot, idx);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.type = 1 + pp_cursor_u8(in) % PP_FRAME_TYPE_MAX;
	f.sequence = h.parent_rx + (uint32_t)(int8_t)pp_cursor_u8(in);
	f.task_id = pp_cursor_u8(in);
	f.payload.offset = pp_cursor_u16(in);
	f.payload.length = pp_cursor_u16(in);
	if (mode & 0x80)
		f.payload.offset = pp_cursor_u64(in);
	if (mode & 0x40)
		f.payload.length = pp_cursor_u64(in);
	if (mode & 0x20)
		f.flags = PP_FRAME_F_INLINE; /* mostly inconsistent: skipped */
	n = pp_frame_encoded_size(&f);
	if (n == 0 || n > sizeof(slot))
		return;
	raw_publish(&f, idx);
}

static void check_parent_dead(int ret)
{
	if (h.parent_dead)
		FUZZ_CHECK(ret == -EPROTO);
	if (ret != -EPROTO)
		return;
	FUZZ_CHECK(pp_channel_violation(&h.ch) != PP_CHANNEL_OK);
	FUZZ_CHECK(pp_channel_violation_str(&h.ch) != NULL);
	if (!h.hostile)
		fprintf(stderr, "parent saw: %s\n",
			pp_channel_violation_str(&h.ch));
	FUZZ_CHECK(h.hostile);
	h.parent_dead = true;
}

/* Reads every byte of a payload the parent was given a pointer to. */
static void touch(const unsigned char *p, size_t n)
{
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc ^= p[i];
	h.sink = acc;
}

static void check_received(const struct pp_frame *f)
{
	const unsigned char *part = h.ch.base + h.g.out_off;
	const unsigned char *p;
	size_t n = (size_t)f->payload.length;

	FUZZ_CHECK(pp_frame_from_worker(f->type));
	FUZZ_CHECK(f->sequence == h.parent_rx);
	FUZZ_CHECK(f->length <= PP_CHANNEL_SLOT_SIZE);
	if (f->flags & PP_FRAME_F_INLINE) {
		FUZZ_CHECK(n <= PP_CHANNEL_SLOT_SIZE);
		if (n)
			FUZZ_CHECK(f->inline_data >= h.ch.rx_slot &&
				   f->inline_data + n <=
				       h.ch.rx_slot + PP_CHANNEL_SLOT_SIZE);
		return;
	}
	if (f->type != PP_FRAME_RESULT)
		return;
	p = pp_channel_peer_payload(&h.ch, &f->payload);
	FUZZ_CHECK(p != NULL);
	FUZZ_CHECK(p >= part && n <= h.g.out_size &&
		   p - part <= (ptrdiff_t)(h.g.out_size - n));
	touch(p, n);
}

static void op_recv(void)
{
	struct pp_frame f;
	int ret, i;

	for (i = 0; i < RECV_LIMIT; i++) {
		ret = pp_channel_recv(&h.ch, &f);
		FUZZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -EPROTO);
		check_parent_dead(ret);
		if (!h.hostile)
			FUZZ_CHECK((ret == 0) == (h.to_parent.count > 0));
		if (ret)
			return;
		check_received(&f);
		if (!h.hostile)
			fifo_match(&h.to_parent, &f);
		h.parent_rx++;
	}
	FUZZ_CHECK(!"recv returned frames past any ring's capacity");
}

/* The parent sends a SUBMIT (inline, arena or empty payload) or a PING. */
static void parent_frame(struct pp_cursor *in, struct pp_frame *f)
{
	uint8_t kind = pp_cursor_u8(in);
	uint8_t b;

	memset(f, 0, sizeof(*f));
	f->task_id = pp_cursor_u8(in);
	b = pp_cursor_u8(in);
	if (kind % 2) {
		f->type = PP_FRAME_PING;
		f->u.ping.nonce = b;
		return;
	}
	f->type = PP_FRAME_SUBMIT;
	f->u.submit.func = b;
	f->flags = (uint16_t)(((kind >> 3) & 3) << PP_FRAME_F_PRIO_SHIFT);
	switch ((kind >> 1) % 3) {
	case 0: /* SUBMIT has 8 bytes of room for inline bytes in a slot */
		f->flags |= PP_FRAME_F_INLINE;
		f->payload.length = b % 9;
		if (f->payload.length > pp_cursor_remaining(in))
			f->payload.length = pp_cursor_remaining(in);
		f->inline_data = pp_cursor_bytes(in, f->payload.length);
		break;
	case 1:
		if (h.nallocs)
			f->payload = h.allocs[b % h.nallocs];
		break;
	default:
		break;
	}
}

static void op_send(struct pp_cursor *in)
{
	struct pp_frame f;
	int ret;

	parent_frame(in, &f);
	ret = pp_channel_send(&h.ch, &f);
	FUZZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -EPROTO);
	check_parent_dead(ret);
	if (ret == 0)
		h.parent_tx++;
	if (h.hostile)
		return;
	FUZZ_CHECK((ret == -EAGAIN) == (h.to_worker.count == h.g.submit_slots));
	if (ret == 0)
		fifo_push(&h.to_worker, &f);
}

static void check_worker_received(const struct pp_frame *f)
{
	const unsigned char *part = h.w.base + h.g.in_off;
	const unsigned char *p;

	FUZZ_CHECK(!pp_frame_from_worker(f->type));
	FUZZ_CHECK(f->sequence == h.view_rx);
	if ((f->flags & PP_FRAME_F_INLINE) || f->type != PP_FRAME_SUBMIT)
		return;
	p = pp_channel_peer_payload(&h.w, &f->payload);
	FUZZ_CHECK(p != NULL);
	if (!h.header_dirty)
		FUZZ_CHECK(p >= part &&
			   p + f->payload.length <= part + h.g.in_size);
	touch(p, (size_t)f->payload.length);
}

/* The worker view drains the submission ring; it is tested less hard. */
static void op_worker_recv(void)
{
	struct pp_frame f;
	int ret, i;

	if (!h.worker_open)
		return;
	for (i = 0; i < RECV_LIMIT; i++) {
		ret = pp_channel_recv(&h.w, &f);
		FUZZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -EPROTO);
		if (h.worker_dead)
			FUZZ_CHECK(ret == -EPROTO);
		if (ret == -EPROTO)
			h.worker_dead = true;
		if (!h.hostile)
			FUZZ_CHECK((ret == 0) == (h.to_worker.count > 0));
		if (ret)
			return;
		check_worker_received(&f);
		if (!h.hostile)
			fifo_match(&h.to_worker, &f);
		h.view_rx++;
		h.worker_rx++;
	}
	FUZZ_CHECK(!"worker recv returned frames past the ring's capacity");
}

static void op_arm(void)
{
	int ret = pp_channel_arm(&h.ch);

	FUZZ_CHECK(ret == 0 || ret == 1 || ret == -EPROTO);
	check_parent_dead(ret);
	if (!h.hostile)
		FUZZ_CHECK(ret == (h.to_parent.count > 0));
	pp_channel_disarm(&h.ch);
}

static void op_wait(void)
{
	int ret = pp_channel_wait(&h.ch, 0);

	FUZZ_CHECK(ret == 0 || ret == -ETIMEDOUT || ret == -EPROTO);
	check_parent_dead(ret);
	if (!h.hostile)
		FUZZ_CHECK((ret == 0) == (h.to_parent.count > 0));
}

/* Parent allocations: inside its own part, never overlapping. */
static void op_alloc(struct pp_cursor *in)
{
	size_t len = 1 + pp_cursor_u16(in) % (h.g.in_size + h.g.granule);
	struct pp_payload_ref ref;
	unsigned char *part = h.ch.base + h.g.in_off;
	unsigned i;
	void *p;
	int ret;

	ret = pp_channel_alloc(&h.ch, len, &ref, &p);
	FUZZ_CHECK(ret == 0 || ret == -ENOSPC);
	if (!h.nallocs && len <= h.g.in_size)
		FUZZ_CHECK(ret == 0); /* an empty arena fits any fitting size */
	if (ret)
		return;
	FUZZ_CHECK(ref.length == len && ref.offset % h.g.granule == 0);
	FUZZ_CHECK(ref.offset <= h.g.in_size &&
		   len <= h.g.in_size - ref.offset);
	FUZZ_CHECK((unsigned char *)p == part + ref.offset);
	for (i = 0; i < h.nallocs; i++)
		FUZZ_CHECK(!overlaps(ref.offset, len, h.allocs[i].offset,
				     h.allocs[i].length));
	memset(p, 0xa5, len);
	if (h.nallocs < MAX_ALLOCS) {
		h.allocs[h.nallocs++] = ref;
		return;
	}
	FUZZ_CHECK(pp_channel_free(&h.ch, &ref) == 0);
}

static bool is_live(uint64_t offset)
{
	unsigned i;

	for (i = 0; i < h.nallocs; i++)
		if (h.allocs[i].offset == offset)
			return true;
	return false;
}

/* Frees a live allocation (twice: the second must fail), or a bogus one. */
static void op_free(struct pp_cursor *in)
{
	uint8_t idx = pp_cursor_u8(in);
	struct pp_payload_ref ref = {pp_cursor_u16(in), 1};
	unsigned i;

	if (!is_live(ref.offset))
		FUZZ_CHECK(pp_channel_free(&h.ch, &ref) == -EINVAL);
	if (!h.nallocs)
		return;
	i = idx % h.nallocs;
	ref = h.allocs[i];
	h.allocs[i] = h.allocs[--h.nallocs];
	FUZZ_CHECK(pp_channel_free(&h.ch, &ref) == 0);
	FUZZ_CHECK(pp_channel_free(&h.ch, &ref) == -EINVAL);
}

static void check_peer_payload(const struct pp_channel *ch,
			       const struct pp_payload_ref *ref,
			       const unsigned char *part, size_t size)
{
	const unsigned char *p = pp_channel_peer_payload(ch, ref);
	bool ok = ref->offset <= size && ref->length <= size - ref->offset;

	FUZZ_CHECK((p != NULL) == ok);
	if (p)
		FUZZ_CHECK(p == part + ref->offset);
}

static void op_peer_payload(struct pp_cursor *in)
{
	uint8_t mode = pp_cursor_u8(in);
	struct pp_payload_ref ref;

	ref.offset = pp_cursor_u16(in);
	ref.length = pp_cursor_u16(in);
	if (mode & 1)
		ref.offset = ~ref.offset;
	if (mode & 2)
		ref.length = ~ref.length;
	check_peer_payload(&h.ch, &ref, h.ch.base + h.g.out_off, h.g.out_size);
	if (h.worker_open && !h.header_dirty)
		check_peer_payload(&h.w, &ref, h.w.base + h.g.in_off,
				   h.g.in_size);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void close_worker(void)
{
	int fd = h.w.fd;

	if (!h.worker_open)
		return;
	/* The harness goes on as the same worker, writing raw. */
	h.raw_idx = h.w.tx.own;
	pp_channel_close(&h.w);
	FUZZ_CHECK(!fd_open(fd));
	h.worker_open = false;
}

/* A worker view sees only what lies inside the mapping. */
static void check_worker_view(void)
{
	const unsigned char *end = h.w.base + h.w.size;
	const struct pp_channel *w = &h.w;

	FUZZ_CHECK(w->size == h.g.total);
	FUZZ_CHECK(w->tx.region + ring_bytes(w->tx.capacity) <= end);
	FUZZ_CHECK(w->rx.region + ring_bytes(w->rx.capacity) <= end);
	FUZZ_CHECK(w->own.base + w->own.size <= end);
	FUZZ_CHECK(w->peer_part + w->peer_part_size <= end);
	if (h.header_dirty)
		return;
	FUZZ_CHECK(w->tx.capacity == h.g.complete_slots);
	FUZZ_CHECK(w->rx.capacity == h.g.submit_slots);
	FUZZ_CHECK(w->own.size == h.g.out_size);
	FUZZ_CHECK(w->peer_part_size == h.g.in_size);
}

static void open_worker(void)
{
	int fd = dup(h.ch.fd);
	int ret;

	if (fd < 0)
		return;
	ret = pp_channel_open_worker(&h.w, fd, -1);
	if (ret) {
		/* Ownership passes on success only. */
		FUZZ_CHECK(fd_open(fd));
		close(fd);
		return;
	}
	h.worker_open = true;
	h.worker_dead = false;
	h.view_rx = 0;
	check_worker_view();
	/*
	 * A view may attach mid-stream, but it numbers its frames from 0 and
	 * expects the parent's from 0: after an earlier worker sent or
	 * received anything, that is a worker lying about sequences.
	 */
	if (h.header_dirty || h.worker_tx || h.worker_rx)
		h.hostile = true;
}

static void run_op(struct pp_cursor *in)
{
	switch (pp_cursor_u8(in) % OP_COUNT) {
	case OP_SCRIBBLE:
		op_scribble(in);
		break;
	case OP_WORKER_SEND:
		op_worker_send(in);
		break;
	case OP_HOSTILE_PUSH:
		op_hostile_push(in);
		break;
	case OP_RECV:
		op_recv();
		break;
	case OP_SEND:
		op_send(in);
		break;
	case OP_WORKER_RECV:
		op_worker_recv();
		break;
	case OP_ARM:
		op_arm();
		break;
	case OP_WAIT:
		op_wait();
		break;
	case OP_ALLOC:
		op_alloc(in);
		break;
	case OP_FREE:
		op_free(in);
		break;
	case OP_PEER_PAYLOAD:
		op_peer_payload(in);
		break;
	default:
		close_worker();
		open_worker();
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_channel_config cfg;
	struct pp_cursor in;
	int memfd, efd;

	if (size < 5)
		return 0;
	memset(&h, 0, sizeof(h));
	pp_cursor_init(&in, data, size);
	setup_geom(&in, &cfg);
	if (pp_channel_create(&h.ch, &cfg))
		return 0;
	FUZZ_CHECK(h.ch.size == h.g.total);
	FUZZ_CHECK(h.ch.peer_part == h.ch.base + h.g.out_off);
	FUZZ_CHECK(h.ch.peer_part_size == h.g.out_size);
	memfd = h.ch.fd;
	efd = h.ch.parent_eventfd;
	if (pp_cursor_u8(&in) & 1)
		open_worker();
	while (pp_cursor_remaining(&in))
		run_op(&in);
	close_worker();
	pp_channel_close(&h.ch);
	FUZZ_CHECK(!fd_open(memfd) && !fd_open(efd));
	return 0;
}
