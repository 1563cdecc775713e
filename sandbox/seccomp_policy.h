/*
 * Seccomp policies for workers, built in the parent and only loaded in
 * the child.
 *
 * A policy is an allow-list built by small calls (a syscall by name, a
 * named group, a removal); an invalid call records the first error, which
 * pp_seccomp_compile then returns, so a caller checks once. The compiled
 * filter (libseccomp) checks the architecture first (a foreign one kills
 * the process), allows the listed syscalls, and ends in SECCOMP_RET_TRAP
 * for everything else, so it cannot fail open. The worker runtime's own
 * syscalls are merged into every policy.
 *
 * Argument conditions: a syscall granted through a group (the default
 * profile's included) that takes a pid, a command or flags is limited to
 * the forms that stay within the worker (arg_rules in seccomp_policy.c,
 * the README's "Default seccomp profile" table): fcntl without SIGIO,
 * leases, locks or seals; prlimit64 and sched_getaffinity of pid 0;
 * futex without priority inheritance; the fixed clocks; private
 * membarrier; prctl to reading the process's own state and thread
 * names; openat for reading only; clone to threads (clone3 fails
 * ENOSYS); socket to AF_UNIX, AF_INET and AF_INET6; tgkill and tkill to
 * the caller's own pid. Another form falls to the default action: a
 * violation naming the syscall. A syscall named on its own is allowed
 * whole, as the caller asked. The pid check cannot be compiled in the
 * parent, before the pid exists: pp_seccomp_load adds a second, tiny
 * filter for it in the worker.
 *
 * Learning: with learn set, the default action is SECCOMP_RET_USER_NOTIF
 * instead of TRAP; a listener (seccomp_learn.h) records each such syscall
 * and lets it continue.
 *
 * Thread-safety: a policy belongs to one thread. A compiled program is
 * read-only and may be shared, also across fork.
 */
#ifndef PP_SANDBOX_SECCOMP_POLICY_H
#define PP_SANDBOX_SECCOMP_POLICY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PP_SECCOMP_MAX_NR 1024

enum pp_seccomp_profile {
	PP_SECCOMP_COMPUTE = 0, /* default: memory, time, signals to itself,
				 * reading and writing fds it holds */
	PP_SECCOMP_STRICT = 1,	/* the worker runtime only */
	PP_SECCOMP_EMPTY = 2,	/* nothing but the runtime, for building */
};

/* allowed[] values */
#define PP_SECCOMP_ALLOW    1 /* whole */
#define PP_SECCOMP_ALLOW_IF 2 /* with the library's argument conditions */

struct pp_seccomp_policy {
	unsigned char allowed[PP_SECCOMP_MAX_NR]; /* 0 or PP_SECCOMP_ALLOW* */
	int error;    /* first error, negative errno */
	char bad[64]; /* the name that caused it */
	int learn;    /* 1: unlisted syscalls notify a listener, not trap */
};

/* A compiled filter: a sock_filter array, malloc'd. */
struct pp_seccomp_program {
	void *insns;
	size_t count;
	int learn; /* load with a listener (pp_seccomp_load) */
	/* pid-bound syscalls granted through a group, checked by a second
	 * filter the worker builds for its own pid */
	int pid_bound_nr[2];
	unsigned pid_bound;
};

/* pp_seccomp_policy_init - start from a profile (the runtime included). */
void pp_seccomp_policy_init(struct pp_seccomp_policy *p,
			    enum pp_seccomp_profile profile);

/*
 * pp_seccomp_allow - allow a syscall ("socket") or a group ("@time") by
 * name; a comma-separated list is accepted too. An unknown name records
 * -EINVAL. Returns the policy's error so far (0 when fine).
 */
int pp_seccomp_allow(struct pp_seccomp_policy *p, const char *names);

/* pp_seccomp_deny - remove a syscall or group again (the runtime's own
 * syscalls cannot be removed). Returns the policy's error so far. */
int pp_seccomp_deny(struct pp_seccomp_policy *p, const char *names);

/*
 * pp_seccomp_compile - the BPF program for the policy. Returns 0, the
 * policy's recorded error, -ENOSYS when learn is set and libseccomp or
 * the kernel lacks user notification, or -ENOMEM / -EIO from libseccomp.
 * Release the program with pp_seccomp_program_free.
 */
int pp_seccomp_compile(const struct pp_seccomp_policy *p,
		       struct pp_seccomp_program *out);

void pp_seccomp_program_free(struct pp_seccomp_program *prog);

/*
 * pp_seccomp_load - install the program on the calling thread (after
 * PR_SET_NO_NEW_PRIVS; threads started later inherit it, threads already
 * running do not), preceded by the pid filter when the program has
 * pid-bound syscalls. Allocates nothing. Returns 0, or for a learning
 * program the listener fd (O_CLOEXEC, > 0), or a negative errno.
 */
int pp_seccomp_load(const struct pp_seccomp_program *prog);

/*
 * pp_seccomp_learn_available - 0 when the kernel has what learning needs;
 * -ENOSYS when it lacks SECCOMP_RET_USER_NOTIF (Linux 5.0), asked of the
 * kernel itself; -EOPNOTSUPP when it is older than 5.5, which brought the
 * CONTINUE flag (no call reports that flag short of using it: a kernel
 * that backported it is refused too, which fails closed). Thread-safe.
 */
int pp_seccomp_learn_available(void);

/*
 * pp_seccomp_syscall_name - the native name of syscall nr into buf
 * ("socket"), or "syscall N" when unknown. Returns buf.
 */
const char *pp_seccomp_syscall_name(int nr, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* PP_SANDBOX_SECCOMP_POLICY_H */
