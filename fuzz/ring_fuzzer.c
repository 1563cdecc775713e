/*
 * Fuzz target for the SPSC ring (src/ipc/ring.h): operation sequences on a
 * producer and a consumer handle over one region, checked against a model
 * FIFO, with ops that scribble on the shared index words as a hostile peer.
 *
 * Input format:
 *   byte 0   capacity  = 2 << (b % 6)        (2..64)
 *   byte 1   slot size = 8 * (1 + b % 16)    (8..128)
 *   then ops, one byte (b % OP_COUNT) followed by its arguments:
 *   PUSH len8 | PUSH_BATCH k8 | POP | POP_BATCH k8 | READABLE | WRITABLE |
 *   NUDGE_PRODUCER d8 | NUDGE_CONSUMER d8 (word += (int8_t)d) |
 *   SET_PRODUCER u32 | SET_CONSUMER u32 | MISUSE kind8 |
 *   REATTACH side8 (% 3: producer, consumer, both; a restart mid-stream)
 * Batch sizes are k % (2 * capacity + 1).
 *
 * The region is malloc'd at exactly pp_ring_region_size() bytes, so ASan
 * sees any access outside it. The model is "exact" while both sides sit
 * at the indices the model expects and every index a side has accepted is
 * one the other side really published (or lies between two it published);
 * then pops must return the model's messages. A side whose peer word is
 * honest at the call must behave exactly as the model says, and leaves the
 * state exact. Once a side accepts an impossible index the state is no
 * longer exact and only the weaker checks apply: results in range, the
 * handle's own bounds, -EPROTO sticky and explained by pp_ring_violation.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_check.h"
#include "src/ipc/cursor.h"
#include "src/ipc/ring.h"

#define MAX_CAP	  64u
#define MAX_SLOT  128u
#define MAX_BATCH (2 * MAX_CAP)

enum op {
	OP_PUSH,
	OP_PUSH_BATCH,
	OP_POP,
	OP_POP_BATCH,
	OP_READABLE,
	OP_WRITABLE,
	OP_NUDGE_PRODUCER,
	OP_NUDGE_CONSUMER,
	OP_SET_PRODUCER,
	OP_SET_CONSUMER,
	OP_MISUSE,
	OP_REATTACH,
	OP_COUNT,
};

struct msg {
	uint32_t id;
	uint32_t len;
};

/* The model: messages pushed and not yet popped, oldest first. */
struct model {
	struct msg q[MAX_CAP];
	uint32_t head;
	uint32_t count;
	uint32_t first; /* ring index the oldest message was pushed at */
};

struct harness {
	unsigned char *region;
	size_t size;
	uint32_t cap;
	uint32_t slot;
	struct pp_ring prod;
	struct pp_ring cons;
	struct model m;
	uint32_t next_id;
	bool exact;	/* the model still describes the ring */
	bool corrupted; /* an index word has been scribbled on */
	unsigned char buf[MAX_BATCH * MAX_SLOT];
	unsigned char snap[PP_RING_SLOTS_OFFSET + MAX_CAP * MAX_SLOT];
};

static struct harness h;

static _Atomic uint32_t *word(size_t offset)
{
	return (_Atomic uint32_t *)(void *)(h.region + offset);
}

static uint32_t load_word(size_t offset)
{
	return atomic_load_explicit(word(offset), memory_order_relaxed);
}

static void store_word(size_t offset, uint32_t v)
{
	atomic_store_explicit(word(offset), v, memory_order_relaxed);
}

/* Message bytes are a function of its id, so any mix-up shows. */
static uint8_t msg_byte(uint32_t id, uint32_t i)
{
	return (uint8_t)((id >> (8 * (i % 4))) ^ (i * 37u) ^ 0x5a);
}

static void fill_msg(unsigned char *dst, uint32_t id, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		dst[i] = msg_byte(id, i);
}

static void check_msg(const unsigned char *got, const struct msg *want)
{
	uint32_t i;

	for (i = 0; i < want->len; i++)
		FUZZ_CHECK(got[i] == msg_byte(want->id, i));
	for (; i < h.slot; i++)
		FUZZ_CHECK(got[i] == 0); /* push zeroes the slot's tail */
}

static void model_push(uint32_t id, uint32_t len)
{
	struct msg *e;

	if (h.m.count == MAX_CAP) {
		h.exact = false; /* only reachable once a side was fooled */
		return;
	}
	e = &h.m.q[(h.m.head + h.m.count) % MAX_CAP];
	e->id = id;
	e->len = len;
	h.m.count++;
}

static void model_pop_check(const unsigned char *got)
{
	check_msg(got, &h.m.q[h.m.head]);
	h.m.head = (h.m.head + 1) % MAX_CAP;
	h.m.count--;
	h.m.first++;
}

/*
 * Re-derives whether the model still describes the ring: no violation,
 * both sides at the indices the model's messages were pushed and popped at
 * (a relabelled index moves every message to another slot), the consumer's
 * cached producer index within what was really pushed, the producer's
 * cached consumer index within what was really popped.
 */
static void update_exact(void)
{
	if (h.exact &&
	    (h.prod.violation || h.cons.violation || h.cons.own != h.m.first ||
	     h.prod.own != h.m.first + h.m.count ||
	     h.cons.peer - h.cons.own > h.m.count ||
	     h.cons.own - h.prod.peer > h.prod.own - h.prod.peer))
		h.exact = false;
	FUZZ_CHECK(h.exact || h.corrupted);
}

/* Bounds a handle keeps whatever its peer does. */
static void check_handles(void)
{
	FUZZ_CHECK(h.prod.own - h.prod.peer <= h.cap);
	FUZZ_CHECK(h.cons.peer - h.cons.own <= h.cap);
	FUZZ_CHECK(h.prod.capacity == h.cap && h.cons.capacity == h.cap);
	FUZZ_CHECK(h.prod.slot_size == h.slot && h.cons.slot_size == h.slot);
	FUZZ_CHECK(h.prod.region == h.region && h.cons.region == h.region);
}

/* -EPROTO exactly when the handle holds a violation, and then forever. */
static void check_sticky(const struct pp_ring *r, bool was_bad, int ret)
{
	enum pp_ring_violation v = pp_ring_violation(r);

	if (was_bad)
		FUZZ_CHECK(ret == -EPROTO);
	FUZZ_CHECK((ret == -EPROTO) == (v != PP_RING_OK));
	FUZZ_CHECK(v == PP_RING_OK || v == PP_RING_PEER_INDEX_BACKWARDS ||
		   v == PP_RING_PEER_INDEX_JUMP);
	FUZZ_CHECK(pp_ring_violation_str(v) != NULL);
}

static uint32_t model_free(void)
{
	return h.cap - h.m.count;
}

static int min_int(uint32_t a, uint32_t b)
{
	return (int)(a < b ? a : b);
}

/* Runs one producer call with its argument (length or batch size). */
static int producer_call(unsigned op, uint32_t arg, unsigned *pushed)
{
	unsigned i;
	int ret;

	*pushed = 0;
	if (op == OP_WRITABLE) {
		ret = pp_ring_writable(&h.prod);
		FUZZ_CHECK(ret == -EPROTO || (ret >= 0 && ret <= (int)h.cap));
		return ret;
	}
	if (op == OP_PUSH) {
		fill_msg(h.buf, h.next_id, arg);
		ret = pp_ring_push(&h.prod, h.buf, arg);
		FUZZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -EPROTO);
		*pushed = ret == 0;
		return ret;
	}
	for (i = 0; i < arg; i++)
		fill_msg(h.buf + (size_t)i * h.slot, h.next_id + i, h.slot);
	ret = pp_ring_push_batch(&h.prod, h.buf, arg);
	FUZZ_CHECK(ret == -EPROTO || (ret >= 0 && (unsigned)ret <= arg));
	*pushed = ret > 0 ? (unsigned)ret : 0;
	return ret;
}

/* What a producer call must return when its view is honest. */
static int producer_expect(unsigned op, uint32_t arg)
{
	if (op == OP_WRITABLE)
		return (int)model_free();
	if (op == OP_PUSH)
		return model_free() ? 0 : -EAGAIN;
	return min_int(arg, model_free());
}

static uint32_t read_arg(unsigned op, struct pp_cursor *in)
{
	switch (op) {
	case OP_PUSH:
		return 1 + pp_cursor_u8(in) % h.slot;
	case OP_PUSH_BATCH:
	case OP_POP_BATCH:
		return pp_cursor_u8(in) % (2 * h.cap + 1);
	case OP_POP:
		return 1;
	default:
		return 0;
	}
}

static void producer_op(unsigned op, struct pp_cursor *in)
{
	uint32_t cons_word = load_word(PP_RING_CONSUMER_INDEX_OFFSET);
	uint32_t prod_word = load_word(PP_RING_PRODUCER_INDEX_OFFSET);
	bool strict = h.exact && cons_word == h.cons.own;
	bool was_bad = h.prod.violation != 0;
	uint32_t arg = read_arg(op, in);
	uint32_t len = op == OP_PUSH ? arg : h.slot;
	unsigned pushed, i;
	int ret;

	ret = producer_call(op, arg, &pushed);
	check_sticky(&h.prod, was_bad, ret);
	/* The producer writes its own index only, and only to publish. */
	FUZZ_CHECK(load_word(PP_RING_CONSUMER_INDEX_OFFSET) == cons_word);
	FUZZ_CHECK(load_word(PP_RING_PRODUCER_INDEX_OFFSET) ==
		   (pushed ? h.prod.own : prod_word));
	if (strict)
		FUZZ_CHECK(ret == producer_expect(op, arg));
	if (h.exact)
		for (i = 0; i < pushed; i++)
			model_push(h.next_id + i, len);
	h.next_id += op == OP_PUSH_BATCH ? arg : 1;
	update_exact();
	FUZZ_CHECK(h.exact || !strict);
}

static int consumer_call(unsigned op, uint32_t arg, unsigned *popped)
{
	int ret;

	*popped = 0;
	if (op == OP_READABLE) {
		ret = pp_ring_readable(&h.cons);
		FUZZ_CHECK(ret == -EPROTO || (ret >= 0 && ret <= (int)h.cap));
		return ret;
	}
	if (op == OP_POP) {
		ret = pp_ring_pop(&h.cons, h.buf);
		FUZZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -EPROTO);
		*popped = ret == 0;
		return ret;
	}
	ret = pp_ring_pop_batch(&h.cons, h.buf, arg);
	FUZZ_CHECK(ret == -EPROTO || (ret >= 0 && (unsigned)ret <= arg));
	*popped = ret > 0 ? (unsigned)ret : 0;
	return ret;
}

static int consumer_expect(unsigned op, uint32_t arg)
{
	if (op == OP_READABLE)
		return (int)h.m.count;
	if (op == OP_POP)
		return h.m.count ? 0 : -EAGAIN;
	return min_int(arg, h.m.count);
}

/* Popped messages must be the model's, unless the consumer was fooled. */
static void consume_model(unsigned popped, bool strict)
{
	unsigned i;

	if (!h.exact)
		return;
	for (i = 0; i < popped; i++) {
		if (!h.m.count) {
			FUZZ_CHECK(!strict);
			h.exact = false;
			return;
		}
		model_pop_check(h.buf + (size_t)i * h.slot);
	}
}

static void consumer_op(unsigned op, struct pp_cursor *in)
{
	uint32_t cons_word = load_word(PP_RING_CONSUMER_INDEX_OFFSET);
	uint32_t prod_word = load_word(PP_RING_PRODUCER_INDEX_OFFSET);
	size_t slots = (size_t)h.cap * h.slot;
	bool strict = h.exact && prod_word == h.prod.own;
	bool was_bad = h.cons.violation != 0;
	uint32_t arg = read_arg(op, in);
	unsigned popped;
	int ret;

	memcpy(h.snap, h.region + PP_RING_SLOTS_OFFSET, slots);
	ret = consumer_call(op, arg, &popped);
	check_sticky(&h.cons, was_bad, ret);
	/* The consumer writes its own index only: never a slot. */
	FUZZ_CHECK(memcmp(h.snap, h.region + PP_RING_SLOTS_OFFSET, slots) == 0);
	FUZZ_CHECK(load_word(PP_RING_PRODUCER_INDEX_OFFSET) == prod_word);
	FUZZ_CHECK(load_word(PP_RING_CONSUMER_INDEX_OFFSET) ==
		   (popped ? h.cons.own : cons_word));
	if (strict)
		FUZZ_CHECK(ret == consumer_expect(op, arg));
	consume_model(popped, strict);
	update_exact();
	FUZZ_CHECK(h.exact || !strict);
}

static void corrupt_op(unsigned op, struct pp_cursor *in)
{
	size_t off = (op == OP_NUDGE_PRODUCER || op == OP_SET_PRODUCER)
			 ? PP_RING_PRODUCER_INDEX_OFFSET
			 : PP_RING_CONSUMER_INDEX_OFFSET;
	uint32_t v;

	if (op == OP_NUDGE_PRODUCER || op == OP_NUDGE_CONSUMER)
		v = load_word(off) + (uint32_t)(int8_t)pp_cursor_u8(in);
	else
		v = pp_cursor_u32(in);
	store_word(off, v);
	h.corrupted = true;
}

/* One bad call; it must fail without touching either handle or region. */
static int misuse_call(unsigned kind)
{
	switch (kind) {
	case 0:
		return pp_ring_pop(&h.prod, h.buf);
	case 1:
		return pp_ring_push(&h.cons, h.buf, 1);
	case 2:
		return pp_ring_readable(&h.prod);
	case 3:
		return pp_ring_writable(&h.cons);
	case 4:
		return pp_ring_push(&h.prod, h.buf, h.slot + 1);
	case 5:
		return pp_ring_push(&h.prod, h.buf, 0);
	case 6:
		return pp_ring_push_batch(&h.prod, h.buf,
					  PP_RING_MAX_CAPACITY + 1);
	default:
		return pp_ring_pop_batch(&h.cons, h.buf,
					 PP_RING_MAX_CAPACITY + 1);
	}
}

static void misuse_op(struct pp_cursor *in)
{
	struct pp_ring prod = h.prod, cons = h.cons;
	unsigned kind = pp_cursor_u8(in) % 8;
	int ret;

	memcpy(h.snap, h.region, h.size);
	ret = misuse_call(kind);
	if (kind < 4)
		FUZZ_CHECK(ret == -EINVAL); /* wrong role: checked first */
	else
		FUZZ_CHECK(ret == -EINVAL || ret == -EPROTO);
	if (ret == -EPROTO)
		FUZZ_CHECK((kind == 7 ? h.cons.violation : h.prod.violation) !=
			   0);
	FUZZ_CHECK(memcmp(&prod, &h.prod, sizeof(prod)) == 0);
	FUZZ_CHECK(memcmp(&cons, &h.cons, sizeof(cons)) == 0);
	FUZZ_CHECK(memcmp(h.snap, h.region, h.size) == 0);
}

/*
 * One side attaches afresh to the live region, as a restarted worker
 * would: it must accept the published indices when they are at most the
 * capacity apart, and start from them.
 */
static void reattach(bool consumer)
{
	struct pp_ring *r = consumer ? &h.cons : &h.prod;
	struct pp_ring old = *r;
	uint32_t head = load_word(PP_RING_PRODUCER_INDEX_OFFSET);
	uint32_t tail = load_word(PP_RING_CONSUMER_INDEX_OFFSET);
	int ret =
	    pp_ring_attach(r, h.region, h.cap, h.slot,
			   consumer ? PP_RING_CONSUMER : PP_RING_PRODUCER);

	if (head - tail > h.cap) {
		FUZZ_CHECK(ret == -EPROTO);
		FUZZ_CHECK(memcmp(&old, r, sizeof(old)) == 0);
		return;
	}
	FUZZ_CHECK(ret == 0 && r->violation == PP_RING_OK);
	FUZZ_CHECK(r->own == (consumer ? tail : head) && r->peer == tail);
}

/*
 * Side 0: the producer, 1: the consumer, 2: both. Both sides meeting at
 * one index of an empty ring is a fresh start there, wherever it is.
 */
static void reattach_op(struct pp_cursor *in)
{
	unsigned side = pp_cursor_u8(in) % 3;

	if (side != 1)
		reattach(false);
	if (side != 0)
		reattach(true);
	if (h.exact && !h.m.count && h.prod.own == h.cons.own)
		h.m.first = h.cons.own;
	update_exact();
}

static void run_op(struct pp_cursor *in)
{
	unsigned op = pp_cursor_u8(in) % OP_COUNT;

	switch (op) {
	case OP_PUSH:
	case OP_PUSH_BATCH:
	case OP_WRITABLE:
		producer_op(op, in);
		break;
	case OP_POP:
	case OP_POP_BATCH:
	case OP_READABLE:
		consumer_op(op, in);
		break;
	case OP_MISUSE:
		misuse_op(in);
		break;
	case OP_REATTACH:
		reattach_op(in);
		break;
	default:
		corrupt_op(op, in);
		break;
	}
	check_handles();
}

static int setup(struct pp_cursor *in)
{
	h.cap = 2u << (pp_cursor_u8(in) % 6);
	h.slot = 8u * (1 + pp_cursor_u8(in) % 16);
	h.size = pp_ring_region_size(h.cap, h.slot);
	FUZZ_CHECK(h.size == PP_RING_SLOTS_OFFSET + (size_t)h.cap * h.slot);
	h.region = malloc(h.size);
	if (!h.region)
		return -1;
	memset(h.region, 0xee, h.size); /* slots start as garbage */
	FUZZ_CHECK(pp_ring_init_region(h.region, h.cap, h.slot) == 0);
	FUZZ_CHECK(pp_ring_attach(&h.prod, h.region, h.cap, h.slot,
				  PP_RING_PRODUCER) == 0);
	FUZZ_CHECK(pp_ring_attach(&h.cons, h.region, h.cap, h.slot,
				  PP_RING_CONSUMER) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_cursor in;

	memset(&h.m, 0, sizeof(h.m));
	h.next_id = 0;
	h.exact = true;
	h.corrupted = false;
	pp_cursor_init(&in, data, size);
	if (size < 2 || setup(&in))
		return 0;
	while (pp_cursor_remaining(&in))
		run_op(&in);
	free(h.region);
	h.region = NULL;
	return 0;
}
