/*
 * Room in the queue: submitters that wait for it (submit_block_ms) sleep
 * on a futex word that the supervisor bumps once it has taken tasks out
 * of the queue, and that pool_stop bumps to send them away. No polling:
 * a waiter sleeps until the word moves or its deadline passes.
 *
 * The handshake: a waiter announces itself (waiters), reads the word,
 * then looks at the queue; the supervisor lowers the queue count, then
 * bumps the word if anyone is announced. All four are sequentially
 * consistent, so either the waiter sees the room or the supervisor sees
 * the waiter, and a bump after the read ends the sleep.
 *
 * Thread-safety: any number of waiters, any number of signallers.
 */
#ifndef PP_CORE_QUEUE_ROOM_H
#define PP_CORE_QUEUE_ROOM_H

#include <stdatomic.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pp_room {
	_Atomic uint32_t seq;	  /* the futex word: bumped when room may
				   * have appeared, or the pool stops */
	_Atomic uint32_t waiters; /* announced submitters */
};

/* pp_room_announce - count the caller as a waiter; returns the word to
 * pass to pp_room_sleep, read after the announcement. */
uint32_t pp_room_announce(struct pp_room *r);

/* pp_room_seq - the word now, for the next pp_room_sleep after a retry. */
uint32_t pp_room_seq(struct pp_room *r);

/*
 * pp_room_sleep - sleep while the word still holds seq, until until_ns
 * (CLOCK_MONOTONIC; < 0: no limit). Returns 0 when woken or the word has
 * moved (look again), -ETIMEDOUT once until_ns has passed.
 */
int pp_room_sleep(struct pp_room *r, uint32_t seq, int64_t until_ns);

/* pp_room_leave - undo pp_room_announce. */
void pp_room_leave(struct pp_room *r);

/* pp_room_freed - after the queue count went down: wakes the waiters, if
 * any (one atomic load when there are none). */
void pp_room_freed(struct pp_room *r);

/* pp_room_wake_all - wakes every waiter, announced or about to sleep. */
void pp_room_wake_all(struct pp_room *r);

#ifdef __cplusplus
}
#endif

#endif /* PP_CORE_QUEUE_ROOM_H */
