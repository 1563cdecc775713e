/* Futex/eventfd wakeups with a syscall-free fast path; see wake.h. */
#include "src/ipc/wake.h"

#include "src/ipc/barrier.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SLEEPER_EPOLL 0x80000000u
/* A futex wake is on its way to every sleeper counted now; set by the
 * notifier that makes it, cleared by the next sleeper to announce itself. */
#define SLEEPER_WOKEN	   0x40000000u
#define SLEEPER_FUTEX_MASK 0x3fffffffu

struct wake_word {
	_Atomic uint32_t events;   /* futex word, bumped by each real wake */
	_Atomic uint32_t sleepers; /* futex sleepers | SLEEPER_* flags */
};

_Static_assert(sizeof(struct wake_word) <= PP_WAKE_WORD_SIZE,
	       "wake word fits its slot");

static struct wake_word *as_word(void *p)
{
	return p;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

void pp_wake_word_init(void *word)
{
	memset(word, 0, PP_WAKE_WORD_SIZE);
}

void pp_waiter_init(struct pp_waiter *w, void *word)
{
	memset(w, 0, sizeof(*w));
	w->word = word;
	w->spin = PP_WAKE_SPIN_MIN * 8;
}

static long futex(_Atomic uint32_t *addr, int op, uint32_t val,
		  const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool spin(struct pp_waiter *w, pp_wake_ready_fn ready, void *arg)
{
	uint32_t i;

	for (i = 0; i < w->spin; i++) {
		if (ready(arg)) {
			if (w->spin < PP_WAKE_SPIN_MAX)
				w->spin *= 2;
			w->spins_won++;
			return true;
		}
		cpu_relax();
	}
	if (w->spin > PP_WAKE_SPIN_MIN)
		w->spin /= 2;
	return false;
}

/* One futex sleep; returns false once the deadline has passed. */
/* One futex sleep: 0 woken (or key stale), 1 slept until the timeout,
 * -1 when the deadline had already passed. */
static int sleep_once(struct wake_word *ww, uint32_t key, int64_t deadline)
{
	struct timespec ts, *tsp = NULL;
	int64_t left;

	if (deadline >= 0) {
		left = deadline - now_ns();
		if (left <= 0)
			return -1;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	if (futex(&ww->events, FUTEX_WAIT, key, tsp) < 0 && errno == ETIMEDOUT)
		return 1;
	return 0;
}

/*
 * Count this thread in sleepers. A wake already on its way (SLEEPER_WOKEN)
 * was meant for the sleepers before us, so clear it: the next notifier
 * must wake us. Clearing after counting leaves no gap; a notifier that
 * skipped its wake because of the flag published before we cleared it, so
 * the ready() re-check that follows sees its message.
 */
static void announce(struct wake_word *ww)
{
	uint32_t old =
	    atomic_fetch_add_explicit(&ww->sleepers, 1, memory_order_seq_cst);

	if (old & SLEEPER_WOKEN)
		atomic_fetch_and_explicit(&ww->sleepers, ~SLEEPER_WOKEN,
					  memory_order_seq_cst);
}

/*
 * A sleep that ended soon after it began would have been cheaper as a
 * spin: grow the budget. Without this a budget that shrank while the peer
 * was slow stays small once it is fast again, and every wait pays for a
 * cross-core wakeup.
 */
static void grow_if_short(struct pp_waiter *w, int64_t start)
{
	if (now_ns() - start < PP_WAKE_SHORT_SLEEP_NS &&
	    w->spin < PP_WAKE_SPIN_MAX)
		w->spin = w->spin * 2 < PP_WAKE_SPIN_MAX ? w->spin * 2
							 : PP_WAKE_SPIN_MAX;
}

int pp_wake_wait(struct pp_waiter *w, pp_wake_ready_fn ready, void *arg,
		 int timeout_ms)
{
	struct wake_word *ww;
	int64_t deadline = -1, start;
	uint32_t key;

	if (!w || !w->word || !ready)
		return -EINVAL;
	if (spin(w, ready, arg))
		return 0;
	ww = as_word(w->word);
	start = now_ns();
	if (timeout_ms >= 0)
		deadline = start + (int64_t)timeout_ms * 1000000;
	w->sleeps++;
	for (;;) {
		key = atomic_load_explicit(&ww->events, memory_order_seq_cst);
		announce(ww);
		/* Re-check after announcing: a notifier that published before
		 * it saw us is caught here, one after it bumps events. */
		if (ready(arg)) {
			atomic_fetch_sub_explicit(&ww->sleepers, 1,
						  memory_order_relaxed);
			return 0;
		}
		int slept = sleep_once(ww, key, deadline);

		atomic_fetch_sub_explicit(&ww->sleepers, 1,
					  memory_order_relaxed);
		if (ready(arg)) {
			/* Ready, yet nobody woke us: a missed wakeup. */
			if (slept == 1)
				w->late++;
			grow_if_short(w, start);
			return 0;
		}
		if (slept < 0)
			return -ETIMEDOUT;
	}
}

/*
 * True when this notifier is the one to wake the futex sleepers. A woken
 * sleeper leaves the count only once it runs, which on a busy machine can
 * take a scheduler tick; without the flag every publish until then would
 * make another FUTEX_WAKE for the same sleeper.
 */
static bool claim_futex_wake(struct wake_word *ww, uint32_t sleepers)
{
	if (!(sleepers & SLEEPER_FUTEX_MASK) || (sleepers & SLEEPER_WOKEN))
		return false;
	return !(atomic_fetch_or_explicit(&ww->sleepers, SLEEPER_WOKEN,
					  memory_order_seq_cst) &
		 SLEEPER_WOKEN);
}

/* True when this notifier is the one to write the eventfd: the first
 * notify after an arm takes the arm away, so a burst costs one write. */
static bool claim_epoll_wake(struct wake_word *ww, uint32_t sleepers,
			     int eventfd)
{
	if (!(sleepers & SLEEPER_EPOLL) || eventfd < 0)
		return false;
	return atomic_fetch_and_explicit(&ww->sleepers, ~SLEEPER_EPOLL,
					 memory_order_seq_cst) &
	       SLEEPER_EPOLL;
}

int pp_wake_notify(void *word, int eventfd)
{
	struct wake_word *ww = as_word(word);
	bool futex_wake, epoll_wake;
	uint32_t sleepers;
	int calls = 0;

	if (!word)
		return -EINVAL;
	/* A full barrier between the caller's publish and this read. */
	sleepers = pp_load_after_publish_u32(&ww->sleepers);
	if (!(sleepers & (SLEEPER_FUTEX_MASK | SLEEPER_EPOLL)))
		return 0;
	futex_wake = claim_futex_wake(ww, sleepers);
	epoll_wake = claim_epoll_wake(ww, sleepers, eventfd);
	if (!futex_wake && !epoll_wake)
		return 0;
	atomic_fetch_add_explicit(&ww->events, 1, memory_order_seq_cst);
	if (futex_wake) {
		futex(&ww->events, FUTEX_WAKE, INT_MAX, NULL);
		calls++;
	}
	if (epoll_wake) {
		uint64_t one = 1;

		_Static_assert(sizeof(one) == PP_WAKE_NOTE_SIZE, "one note");
		if (write(eventfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			return calls;
		calls++;
	}
	return calls;
}

void pp_wake_arm(void *word)
{
	atomic_fetch_or_explicit(&as_word(word)->sleepers, SLEEPER_EPOLL,
				 memory_order_seq_cst);
}

bool pp_wake_disarm(void *word, int eventfd)
{
	uint64_t count;
	bool unclaimed =
	    atomic_fetch_and_explicit(&as_word(word)->sleepers, ~SLEEPER_EPOLL,
				      memory_order_seq_cst) &
	    SLEEPER_EPOLL;

	/* One read returns and resets the whole counter. */
	if (eventfd >= 0 && read(eventfd, &count, sizeof(count)) < 0)
		return unclaimed;
	return unclaimed;
}

uint32_t pp_wake_events(const void *word)
{
	return atomic_load_explicit(&((struct wake_word *)word)->events,
				    memory_order_relaxed);
}
