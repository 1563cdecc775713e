/* SPSC ring in shared memory; see ring.h for the trust model. */
#include "src/ipc/ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

static _Atomic uint32_t *ring_index(unsigned char *region, size_t offset)
{
	return (_Atomic uint32_t *)(void *)(region + offset);
}

static bool geometry_ok(uint32_t capacity, uint32_t slot_size)
{
	if (capacity < 2 || capacity > PP_RING_MAX_CAPACITY)
		return false;
	if (capacity & (capacity - 1))
		return false;
	if (slot_size < 8 || slot_size > PP_RING_MAX_SLOT_SIZE)
		return false;
	return (slot_size % 8) == 0;
}

size_t pp_ring_region_size(uint32_t capacity, uint32_t slot_size)
{
	if (!geometry_ok(capacity, slot_size))
		return 0;
	return PP_RING_SLOTS_OFFSET + (size_t)capacity * slot_size;
}

int pp_ring_init_region(void *region, uint32_t capacity, uint32_t slot_size)
{
	if (!region || !geometry_ok(capacity, slot_size))
		return -EINVAL;
	atomic_store_explicit(ring_index(region, PP_RING_PRODUCER_INDEX_OFFSET),
			      0, memory_order_relaxed);
	atomic_store_explicit(ring_index(region, PP_RING_CONSUMER_INDEX_OFFSET),
			      0, memory_order_release);
	return 0;
}

int pp_ring_attach(struct pp_ring *ring, void *region, uint32_t capacity,
		   uint32_t slot_size, enum pp_ring_role role)
{
	uint32_t head, tail;

	if (!ring || !region || !geometry_ok(capacity, slot_size))
		return -EINVAL;
	if (role != PP_RING_PRODUCER && role != PP_RING_CONSUMER)
		return -EINVAL;
	head = atomic_load_explicit(
	    ring_index(region, PP_RING_PRODUCER_INDEX_OFFSET),
	    memory_order_acquire);
	tail = atomic_load_explicit(
	    ring_index(region, PP_RING_CONSUMER_INDEX_OFFSET),
	    memory_order_acquire);
	if (head - tail > capacity)
		return -EPROTO;
	memset(ring, 0, sizeof(*ring));
	ring->region = region;
	ring->slots = ring->region + PP_RING_SLOTS_OFFSET;
	ring->capacity = capacity;
	ring->mask = capacity - 1;
	ring->slot_size = slot_size;
	ring->role = role;
	/* Either side may attach while messages are queued. */
	ring->own = role == PP_RING_PRODUCER ? head : tail;
	ring->peer = tail;
	return 0;
}

static int record_violation(struct pp_ring *ring, enum pp_ring_violation v)
{
	ring->violation = v;
	return -EPROTO;
}

/*
 * Consumer: read the producer index once and accept it only if it lies in
 * [last seen, own + capacity]. Returns the messages available or -EPROTO.
 */
static int refresh_producer(struct pp_ring *ring)
{
	uint32_t head, ahead, known;

	head = atomic_load_explicit(
	    ring_index(ring->region, PP_RING_PRODUCER_INDEX_OFFSET),
	    memory_order_acquire);
	ahead = head - ring->own;
	known = ring->peer - ring->own;
	if (ahead >= known && ahead <= ring->capacity) {
		ring->peer = head;
		return (int)ahead;
	}
	if (ahead < known || (int32_t)(head - ring->peer) < 0)
		return record_violation(ring, PP_RING_PEER_INDEX_BACKWARDS);
	return record_violation(ring, PP_RING_PEER_INDEX_JUMP);
}

/*
 * Producer: read the consumer index once and accept it only if it lies in
 * [last seen, own]. Returns the free slots or -EPROTO.
 */
static int refresh_consumer(struct pp_ring *ring)
{
	uint32_t tail, moved, limit;

	tail = atomic_load_explicit(
	    ring_index(ring->region, PP_RING_CONSUMER_INDEX_OFFSET),
	    memory_order_acquire);
	moved = tail - ring->peer;
	limit = ring->own - ring->peer;
	if (moved > limit) {
		if ((int32_t)moved < 0)
			return record_violation(ring,
						PP_RING_PEER_INDEX_BACKWARDS);
		return record_violation(ring, PP_RING_PEER_INDEX_JUMP);
	}
	ring->peer = tail;
	return (int)(ring->capacity - (ring->own - tail));
}

static int check_side(const struct pp_ring *ring, enum pp_ring_role role)
{
	if (!ring || ring->role != (uint32_t)role)
		return -EINVAL;
	if (ring->violation)
		return -EPROTO;
	return 0;
}

static unsigned char *slot_at(const struct pp_ring *ring, uint32_t index)
{
	return ring->slots + (size_t)(index & ring->mask) * ring->slot_size;
}

static void publish(struct pp_ring *ring, size_t offset)
{
	atomic_store_explicit(ring_index(ring->region, offset), ring->own,
			      memory_order_release);
}

int pp_ring_writable(struct pp_ring *ring)
{
	int err = check_side(ring, PP_RING_PRODUCER);

	if (err)
		return err;
	return refresh_consumer(ring);
}

int pp_ring_readable(struct pp_ring *ring)
{
	int err = check_side(ring, PP_RING_CONSUMER);

	if (err)
		return err;
	return refresh_producer(ring);
}

/* Free slots by the cached consumer index, refreshed only when it says 0. */
static int producer_space(struct pp_ring *ring)
{
	uint32_t space = ring->capacity - (ring->own - ring->peer);

	if (space)
		return (int)space;
	return refresh_consumer(ring);
}

/* Readable slots by the cached producer index, refreshed when it says 0. */
static int consumer_avail(struct pp_ring *ring)
{
	uint32_t avail = ring->peer - ring->own;

	if (avail)
		return (int)avail;
	return refresh_producer(ring);
}

int pp_ring_push(struct pp_ring *ring, const void *msg, size_t len)
{
	unsigned char *slot;
	int space, err = check_side(ring, PP_RING_PRODUCER);

	if (err)
		return err;
	if (!msg || len == 0 || len > ring->slot_size)
		return -EINVAL;
	space = producer_space(ring);
	if (space <= 0)
		return space < 0 ? space : -EAGAIN;
	slot = slot_at(ring, ring->own);
	memcpy(slot, msg, len);
	if (len < ring->slot_size)
		memset(slot + len, 0, ring->slot_size - len);
	ring->own++;
	publish(ring, PP_RING_PRODUCER_INDEX_OFFSET);
	return 0;
}

int pp_ring_push_batch(struct pp_ring *ring, const void *msgs, unsigned n)
{
	const unsigned char *src = msgs;
	unsigned i, count;
	int space, err = check_side(ring, PP_RING_PRODUCER);

	if (err)
		return err;
	if (!msgs || n > PP_RING_MAX_CAPACITY)
		return -EINVAL;
	if (n == 0)
		return 0;
	space = producer_space(ring);
	if (space < 0)
		return space;
	if ((unsigned)space < n)
		space = refresh_consumer(ring);
	if (space < 0)
		return space;
	count = (unsigned)space < n ? (unsigned)space : n;
	for (i = 0; i < count; i++)
		memcpy(slot_at(ring, ring->own + i),
		       src + (size_t)i * ring->slot_size, ring->slot_size);
	if (count) {
		ring->own += count;
		publish(ring, PP_RING_PRODUCER_INDEX_OFFSET);
	}
	return (int)count;
}

int pp_ring_pop(struct pp_ring *ring, void *out)
{
	int avail, err = check_side(ring, PP_RING_CONSUMER);

	if (err)
		return err;
	if (!out)
		return -EINVAL;
	avail = consumer_avail(ring);
	if (avail <= 0)
		return avail < 0 ? avail : -EAGAIN;
	memcpy(out, slot_at(ring, ring->own), ring->slot_size);
	ring->own++;
	publish(ring, PP_RING_CONSUMER_INDEX_OFFSET);
	return 0;
}

int pp_ring_pop_batch(struct pp_ring *ring, void *out, unsigned max)
{
	unsigned char *dst = out;
	unsigned i, count;
	int avail, err = check_side(ring, PP_RING_CONSUMER);

	if (err)
		return err;
	if (!out || max > PP_RING_MAX_CAPACITY)
		return -EINVAL;
	if (max == 0)
		return 0;
	avail = consumer_avail(ring);
	if (avail < 0)
		return avail;
	if ((unsigned)avail < max)
		avail = refresh_producer(ring);
	if (avail < 0)
		return avail;
	count = (unsigned)avail < max ? (unsigned)avail : max;
	for (i = 0; i < count; i++)
		memcpy(dst + (size_t)i * ring->slot_size,
		       slot_at(ring, ring->own + i), ring->slot_size);
	if (count) {
		ring->own += count;
		publish(ring, PP_RING_CONSUMER_INDEX_OFFSET);
	}
	return (int)count;
}

enum pp_ring_violation pp_ring_violation(const struct pp_ring *ring)
{
	return ring ? (enum pp_ring_violation)ring->violation : PP_RING_OK;
}

const char *pp_ring_violation_str(enum pp_ring_violation v)
{
	switch (v) {
	case PP_RING_OK:
		return "none";
	case PP_RING_PEER_INDEX_BACKWARDS:
		return "peer index moved backwards";
	case PP_RING_PEER_INDEX_JUMP:
		return "peer index jumped past the ring";
	}
	return "unknown";
}
