/*
 * Seccomp learning: a listener thread that lets every syscall the policy
 * does not allow go through, and records which ones they were.
 *
 * A development tool, never a confinement: the listener thread is started
 * before the filter is loaded and so runs unfiltered, and every syscall
 * the policy would deny is carried out. The worker starts it after every
 * other confinement step (it shares the worker's dropped capabilities,
 * no_new_privs and identity), then loads a learning program
 * (pp_seccomp_policy.learn) on its main thread and hands the listener fd
 * over with pp_seccomp_learner_attach. Each syscall notified there sets
 * its bit before the syscall is let go (SECCOMP_USER_NOTIF_FLAG_CONTINUE),
 * so once a task's code has returned, every syscall it needed beyond the
 * policy is in the bitmap.
 *
 * Thread-safety: start and attach belong to the worker's main thread;
 * take may be called from any thread. Nothing is ever freed: the learner
 * lives as long as the worker process.
 */
#ifndef PP_SANDBOX_SECCOMP_LEARN_H
#define PP_SANDBOX_SECCOMP_LEARN_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sandbox/seccomp_policy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PP_SECCOMP_LEARN_WORDS (PP_SECCOMP_MAX_NR / 64)

struct pp_seccomp_learner {
	_Atomic uint64_t bits[PP_SECCOMP_LEARN_WORDS]; /* syscalls seen */
	int fail_exit; /* _exit status when the kernel refuses to continue
			* a syscall (CONTINUE missing): fail closed */
	/* Private. */
	int fd;
	sem_t ready;
	pthread_t thread;
};

/*
 * pp_seccomp_learner_start - start the listener thread, which waits for
 * the fd. Call before loading the filter. Returns 0 or a negative errno.
 */
int pp_seccomp_learner_start(struct pp_seccomp_learner *l);

/*
 * pp_seccomp_learner_attach - hand the listener fd (from pp_seccomp_load)
 * to the thread; fd < 0 makes it exit. Makes no syscall but a futex wake.
 */
void pp_seccomp_learner_attach(struct pp_seccomp_learner *l, int fd);

/*
 * pp_seccomp_learner_take - move the syscalls recorded so far into out
 * (bit nr % 64 of out[nr / 64]) and clear them. Returns the number of
 * syscalls taken.
 */
unsigned pp_seccomp_learner_take(struct pp_seccomp_learner *l,
				 uint64_t out[PP_SECCOMP_LEARN_WORDS]);

#ifdef __cplusplus
}
#endif

#endif /* PP_SANDBOX_SECCOMP_LEARN_H */
