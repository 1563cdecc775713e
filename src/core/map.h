/*
 * pool_map's state, shared by the caller's thread (map.c) and the
 * supervisor (bulk.c, which writes the outcomes).
 *
 * Each results[i] is written once, by the supervisor or, for a task that
 * was never queued, by the thread that started the map; left counts the
 * tasks still without one. The last write sets done and wakes the
 * waiters: results are read only after done is seen (acquire).
 */
#ifndef PP_CORE_MAP_H
#define PP_CORE_MAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "process_pool.h"

struct process_pool;

struct pp_map {
	_Atomic uint32_t refs; /* the handle, and each chunk not done */
	struct process_pool *pool;
	pool_map_result_t *results;
	size_t n;
	_Atomic size_t left;	  /* tasks without an outcome */
	_Atomic uint32_t done;	  /* futex word: 1 once left is 0 */
	_Atomic uint32_t waiters; /* threads asleep on done */
	_Atomic int cancelled;
};

/* pp_map_settled - k more outcomes are written (release). */
void pp_map_settled(struct pp_map *m, size_t k);

/* pp_map_get, pp_map_put - a reference for a chunk; frees at zero. */
void pp_map_get(struct pp_map *m);
void pp_map_put(struct pp_map *m);

#endif /* PP_CORE_MAP_H */
