/* Monotonic time and CPU pause, shared by the engine. */
#ifndef PP_CORE_CLOCK_H
#define PP_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t pp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The kernel's tick-granular clock (a few ms): enough for what works on
 * the scale of seconds, such as aging, at a fraction of the cost of a
 * precise read. It lags pp_now_ns by up to a tick: compare the two only
 * with that margin.
 */
static inline int64_t pp_coarse_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void pp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif /* PP_CORE_CLOCK_H */
