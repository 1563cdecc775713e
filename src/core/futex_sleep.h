/*
 * The sleep of a thread waiting for a futex word to change (a future's
 * or a map's done word), shared by their waits.
 */
#ifndef PP_CORE_FUTEX_SLEEP_H
#define PP_CORE_FUTEX_SLEEP_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "process_pool.h"
#include "src/core/clock.h"

/*
 * pp_futex_sleep - sleep while *word holds expect, until deadline_ns
 * (< 0: none). The sleeper is counted in *waiters, which the waker reads
 * to skip the wake syscall when nobody sleeps. Returns POOL_ETIMEDOUT
 * once the deadline has passed, else 0 (woken, the word changed, or a
 * spurious wakeup: the caller checks its word again).
 */
static inline int pp_futex_sleep(_Atomic uint32_t *word, uint32_t expect,
				 _Atomic uint32_t *waiters, int64_t deadline_ns)
{
	struct timespec ts;

	if (deadline_ns >= 0) {
		int64_t left = deadline_ns - pp_now_ns();

		if (left <= 0)
			return POOL_ETIMEDOUT;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
	}
	atomic_fetch_add(waiters, 1);
	if (atomic_load(word) == expect)
		syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expect,
			deadline_ns >= 0 ? &ts : NULL, NULL, 0);
	atomic_fetch_sub(waiters, 1);
	return 0;
}

#endif /* PP_CORE_FUTEX_SLEEP_H */
