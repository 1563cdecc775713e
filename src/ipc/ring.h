/*
 * Single-producer single-consumer ring of fixed-size slots in shared memory,
 * usable between two processes that do not trust each other.
 *
 * Shared layout (pp_ring_region_size() bytes, 64-byte aligned):
 *   offset   0: producer index (u32, written only by the producer)
 *   offset  64: consumer index (u32, written only by the consumer)
 *   offset 128: capacity slots of slot_size bytes
 * Indices are free-running u32 counters; slot i lives at index & (cap - 1).
 *
 * Each side keeps its own index and a cached copy of the other side's in
 * private memory (struct pp_ring), and never re-reads its own index from the
 * shared region, so the peer cannot rewind or skip it. The other side's
 * index is read once, checked, then used: a producer index that moves
 * backwards or more than the capacity ahead of the consumer, or a consumer
 * index that moves backwards or past the producer, is a violation. A
 * violation is sticky: every later call on that handle returns -EPROTO.
 * Slot contents are copied out by pop, so a peer that rewrites a slot after
 * publishing it cannot make the consumer read a value twice.
 *
 * Thread-safety: one thread (or process) produces and one consumes; a handle
 * is used by its side only.
 */
#ifndef PP_IPC_RING_H
#define PP_IPC_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_RING_PRODUCER_INDEX_OFFSET 0
#define PP_RING_CONSUMER_INDEX_OFFSET 64
#define PP_RING_SLOTS_OFFSET	      128
#define PP_RING_MAX_CAPACITY	      (1u << 24)
#define PP_RING_MAX_SLOT_SIZE	      4096u

enum pp_ring_role {
	PP_RING_PRODUCER = 1,
	PP_RING_CONSUMER = 2,
};

/* Why a ring handle stopped working; 0 while it is healthy. */
enum pp_ring_violation {
	PP_RING_OK = 0,
	PP_RING_PEER_INDEX_BACKWARDS = 1,
	PP_RING_PEER_INDEX_JUMP = 2,
};

/* Private per-side handle; lives in the owner's memory, never shared. */
struct pp_ring {
	unsigned char *region; /* shared region (not owned) */
	unsigned char *slots;  /* region + PP_RING_SLOTS_OFFSET */
	uint32_t capacity;     /* power of two */
	uint32_t mask;
	uint32_t slot_size;
	uint32_t role;
	uint32_t own;	    /* my index: next slot to fill or to read */
	uint32_t peer;	    /* last validated index of the other side */
	uint32_t violation; /* enum pp_ring_violation, sticky */
};

/*
 * pp_ring_region_size - bytes of shared memory a ring needs.
 *
 * capacity must be a power of two in [2, PP_RING_MAX_CAPACITY] and slot_size
 * a multiple of 8 in [8, PP_RING_MAX_SLOT_SIZE]. Returns 0 when they are not.
 */
size_t pp_ring_region_size(uint32_t capacity, uint32_t slot_size);

/*
 * pp_ring_init_region - zero both indices of a fresh region.
 *
 * Called once by whoever creates the shared memory, before either side
 * attaches. Returns 0 or -EINVAL for a NULL region or a bad geometry.
 */
int pp_ring_init_region(void *region, uint32_t capacity, uint32_t slot_size);

/*
 * pp_ring_attach - set up one side's handle on an initialised region.
 *
 * The geometry comes from the caller's own knowledge, never from the shared
 * region. The handle starts at the indices currently published in the
 * region, so a side may attach while messages are queued (a worker that
 * starts after the parent has submitted). Only the side that attaches
 * first, to a region it initialised, gets indices it can fully trust; a
 * later side trusts whoever initialised the region. Returns 0, -EINVAL for
 * bad arguments, or -EPROTO when the published indices are more than the
 * capacity apart. The handle does not own the region.
 */
int pp_ring_attach(struct pp_ring *ring, void *region, uint32_t capacity,
		   uint32_t slot_size, enum pp_ring_role role);

/*
 * pp_ring_push - copy one message of len <= slot_size bytes into the ring.
 *
 * The rest of the slot is zeroed. Returns 0, -EAGAIN when full, -EINVAL for
 * a bad length or role, -EPROTO after a violation. Producer only.
 */
int pp_ring_push(struct pp_ring *ring, const void *msg, size_t len);

/*
 * pp_ring_push_batch - copy up to n slot_size-byte messages from msgs.
 *
 * Publishes the producer index once for the whole batch. Returns the number
 * pushed (0 when full), or -EINVAL / -EPROTO. Producer only.
 */
int pp_ring_push_batch(struct pp_ring *ring, const void *msgs, unsigned n);

/*
 * pp_ring_pop - copy the oldest message (slot_size bytes) into out.
 *
 * Returns 0, -EAGAIN when empty, -EINVAL, or -EPROTO when the producer's
 * index is impossible (the violation is then sticky). Consumer only.
 */
int pp_ring_pop(struct pp_ring *ring, void *out);

/*
 * pp_ring_pop_batch - copy up to max messages into out (slot_size each).
 *
 * Publishes the consumer index once. Returns the number popped (0 when
 * empty), or -EINVAL / -EPROTO. Consumer only.
 */
int pp_ring_pop_batch(struct pp_ring *ring, void *out, unsigned max);

/*
 * pp_ring_readable - messages the consumer may pop now (reads the producer
 * index; a violation found here is recorded). Returns a count or -EPROTO.
 */
int pp_ring_readable(struct pp_ring *ring);

/*
 * pp_ring_writable - free slots the producer may fill now, or -EPROTO.
 */
int pp_ring_writable(struct pp_ring *ring);

/*
 * pp_ring_violation - the sticky violation of this handle, 0 when healthy.
 */
enum pp_ring_violation pp_ring_violation(const struct pp_ring *ring);

/* pp_ring_violation_str - a short static description of a violation. */
const char *pp_ring_violation_str(enum pp_ring_violation v);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_RING_H */
