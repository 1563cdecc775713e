/*
 * Allocator for one side's share of a channel's payload arena.
 *
 * The arena is shared memory; its bookkeeping is not. Each side allocates
 * only from its own part (the parent for inputs, the worker for outputs),
 * and keeps the used-granule bitmap and run lengths in private memory, so a
 * peer that scribbles over the arena can corrupt payload bytes but never
 * the allocator. First fit over fixed granules from the lowest free one,
 * so the pages in use stay few and low.
 *
 * Thread-safety: none; one thread per side allocates and frees.
 */
#ifndef PP_IPC_ARENA_H
#define PP_IPC_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pp_arena {
	unsigned char *base; /* start of this side's part (not owned) */
	size_t size;	     /* bytes, a multiple of granule */
	size_t granule;	     /* power of two */
	size_t granules;
	size_t hint;	  /* no free granule lies below this one */
	size_t used;	  /* granules in use */
	uint64_t *bitmap; /* owned: one bit per granule */
	uint32_t *run;	  /* run length at an allocation's start (in the
			   * bitmap's mapping) */
	size_t book_size; /* bytes of that mapping */
};

/*
 * pp_arena_init - manage size bytes at base in granule-byte units.
 * The bookkeeping is an anonymous mapping of its own, its pages zero
 * until an allocation near them touches them.
 *
 * granule must be a power of two >= 64; size is rounded down to a multiple
 * of it and must hold at least one granule. Returns 0, -EINVAL or -ENOMEM.
 * The arena does not own base; pp_arena_destroy frees the bookkeeping.
 */
int pp_arena_init(struct pp_arena *a, void *base, size_t size, size_t granule);

/* pp_arena_destroy - free the bookkeeping. Safe on a zeroed struct. */
void pp_arena_destroy(struct pp_arena *a);

/*
 * pp_arena_alloc - reserve len bytes (len > 0).
 *
 * Returns 0 with *offset (from base) set, -ENOSPC when no run of granules
 * is free, -EINVAL for len 0 or a NULL argument.
 */
int pp_arena_alloc(struct pp_arena *a, size_t len, uint64_t *offset);

/*
 * pp_arena_free - release the allocation that starts at offset.
 *
 * Returns 0, or -EINVAL when offset is not the start of a live allocation
 * (a double free is reported, not followed).
 */
int pp_arena_free(struct pp_arena *a, uint64_t offset);

/* pp_arena_used - bytes currently allocated (granule-rounded). */
size_t pp_arena_used(const struct pp_arena *a);

/*
 * pp_range_ok - true when [offset, offset + length) lies within [0, size),
 * without overflow. Use it on every offset and length a peer supplies.
 */
bool pp_range_ok(uint64_t offset, uint64_t length, uint64_t size);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_ARENA_H */
