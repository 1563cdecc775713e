/*
 * Wakeups between two processes over a shared word, without a syscall on
 * the fast path.
 *
 * A wake word (PP_WAKE_WORD_SIZE bytes of shared memory, one cache line)
 * holds an event counter, which is also the futex word, and a sleepers
 * field: the count of threads blocked in futex_wait, plus a flag for a
 * waiter that sleeps in epoll on an eventfd, plus a flag saying a futex
 * wake is already on its way to every counted sleeper. A notifier that
 * finds no sleeper, or finds that flag, makes no futex syscall: a burst of
 * notifies before the woken side runs costs one wake, not one per notify.
 * A waiter spins first, for a bounded number of iterations that adapts to
 * how often spinning pays off, then announces itself in the sleepers field
 * (clearing that flag, since the wake on its way was not meant for it) and
 * sleeps.
 *
 * The words are advisory: a peer that scribbles on them can cause spurious
 * or missed wakeups, never corruption, and every wait takes a timeout so a
 * peer that never wakes us cannot stall us forever.
 *
 * Thread-safety: any number of notifiers and waiters on one word, in any
 * process that maps it. A struct pp_waiter belongs to one thread.
 */
#ifndef PP_IPC_WAKE_H
#define PP_IPC_WAKE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_WAKE_WORD_SIZE      64u
#define PP_WAKE_SPIN_MIN       16u
#define PP_WAKE_SPIN_MAX       1024u  /* ~25 us, about one cross-core wakeup */
#define PP_WAKE_SHORT_SLEEP_NS 100000 /* a sleep this short: spin longer */
#define PP_WAKE_NOTE_SIZE      8u     /* bytes one notify writes to the fd */

/* Returns true when the waited-for condition holds (e.g. ring not empty). */
typedef bool (*pp_wake_ready_fn)(void *arg);

/* Adaptive spin state of one waiting thread (private memory). */
struct pp_waiter {
	void *word;	    /* shared wake word, not owned */
	uint32_t spin;	    /* current spin budget, iterations */
	uint64_t spins_won; /* waits satisfied while spinning */
	uint64_t sleeps;    /* waits that went to the kernel */
	uint64_t late;	    /* sleeps that ran to their timeout although
			     * the condition then held: missed wakeups */
};

/* pp_wake_word_init - zero a wake word before it is shared. */
void pp_wake_word_init(void *word);

/* pp_waiter_init - a waiter on word, starting at a moderate spin budget. */
void pp_waiter_init(struct pp_waiter *w, void *word);

/*
 * pp_wake_wait - wait until ready(arg) is true or timeout_ms elapses.
 *
 * Spins up to the adaptive budget, then sleeps on the futex. timeout_ms < 0
 * waits without a deadline (use only with a trusted notifier). Returns 0
 * when ready, -ETIMEDOUT, or -EINVAL for NULL arguments.
 */
int pp_wake_wait(struct pp_waiter *w, pp_wake_ready_fn ready, void *arg,
		 int timeout_ms);

/*
 * pp_wake_notify - tell the word's waiters that the condition may now hold.
 *
 * Call after publishing (the ring push is the publish). Makes a futex wake
 * only if a thread sleeps on the futex and no earlier notify has already
 * woken it, and writes 1 to eventfd (if >= 0) only if an epoll waiter is
 * armed; that write disarms it, so a burst of notifies costs one write
 * per arm. Returns the number of syscalls made
 * (0 on the fast path), or -EINVAL for a NULL word.
 */
int pp_wake_notify(void *word, int eventfd);

/*
 * pp_wake_arm - announce that this side is about to sleep in epoll on the
 * eventfd paired with word. The caller must then re-check its condition and
 * skip the sleep if it holds. Pair every arm with pp_wake_disarm.
 */
void pp_wake_arm(void *word);

/*
 * pp_wake_disarm - end an epoll sleep: clear the flag and drain eventfd,
 * which must be EFD_NONBLOCK (pass -1 to skip draining). Returns true
 * when the flag was still set, i.e. no notifier claimed this arm and none
 * will write for it; false when a notifier took it (its write may still
 * be on its way).
 */
bool pp_wake_disarm(void *word, int eventfd);

/* pp_wake_events - the word's event counter (for tests and statistics). */
uint32_t pp_wake_events(const void *word);

#ifdef __cplusplus
}
#endif

#endif /* PP_IPC_WAKE_H */
