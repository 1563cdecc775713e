/* Waiting for room in the queue; see queue_room.h. */
#include "src/core/queue_room.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint32_t pp_room_announce(struct pp_room *r)
{
	atomic_fetch_add(&r->waiters, 1);
	return atomic_load(&r->seq);
}

uint32_t pp_room_seq(struct pp_room *r)
{
	return atomic_load(&r->seq);
}

int pp_room_sleep(struct pp_room *r, uint32_t seq, int64_t until_ns)
{
	struct timespec ts, now;

	if (until_ns >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec >= until_ns)
			return -ETIMEDOUT;
		ts.tv_sec = until_ns / 1000000000;
		ts.tv_nsec = until_ns % 1000000000;
	}
	/* An absolute CLOCK_MONOTONIC deadline: a retry after a spurious
	 * wake does not stretch the wait. EAGAIN (the word moved), EINTR
	 * and a wake all mean "look again". */
	if (syscall(SYS_futex, &r->seq, FUTEX_WAIT_BITSET_PRIVATE, seq,
		    until_ns >= 0 ? &ts : NULL, NULL,
		    FUTEX_BITSET_MATCH_ANY) < 0 &&
	    errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

void pp_room_leave(struct pp_room *r)
{
	atomic_fetch_sub(&r->waiters, 1);
}

void pp_room_wake_all(struct pp_room *r)
{
	atomic_fetch_add(&r->seq, 1);
	syscall(SYS_futex, &r->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void pp_room_freed(struct pp_room *r)
{
	if (atomic_load(&r->waiters))
		pp_room_wake_all(r);
}
