/*
 * Confining the calling process: what a worker does to itself right
 * after fork, in the order that works: rlimits, the bounding set, the
 * securebits (set and locked while CAP_SETPCAP is still held), the
 * uid/gid switch, capabilities, the death signal again (a uid change
 * clears it) and a parent check, no new privileges, not dumpable, then
 * seccomp last (with its SIGSYS handler installed just before, and in
 * learning mode the listener thread started just before that). Nothing
 * here allocates except libcap-ng's small fixed state and the learning
 * listener; the seccomp program was compiled in the parent.
 *
 * Thread-safety: for a single-threaded process (a fresh worker).
 */
#ifndef PP_SANDBOX_CONFINE_H
#define PP_SANDBOX_CONFINE_H

#include <linux/securebits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/seccomp_learn.h"
#include "sandbox/seccomp_policy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which step failed, for the parent's log. */
enum pp_confine_step {
	PP_CONFINE_OK = 0,
	PP_CONFINE_RLIMIT = 1,
	PP_CONFINE_CAPS = 2,
	PP_CONFINE_NO_NEW_PRIVS = 3,
	PP_CONFINE_DUMPABLE = 4,
	PP_CONFINE_SIGSYS = 5,
	PP_CONFINE_SECCOMP = 6,
	PP_CONFINE_IDENTITY = 7,
	PP_CONFINE_DEATH_SIGNAL = 8,
	PP_CONFINE_SECUREBITS = 9,
	PP_CONFINE_LEARN = 10, /* the learning listener did not start */
};

/*
 * The securebits a process holding CAP_SETPCAP sets and locks: no
 * privilege for uid 0 on exec (NOROOT), no capability changes on uid
 * changes (NO_SETUID_FIXUP: capabilities are dropped explicitly instead),
 * capabilities never kept across a uid change (KEEP_CAPS locked off), and
 * no ambient capabilities (NO_CAP_AMBIENT_RAISE).
 */
#define PP_CONFINE_SECUREBITS_SET                                              \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |       \
	 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |             \
	 SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

struct pp_confine {
	/* setrlimit values, 0: leave as inherited (core dumps are off
	 * always) */
	unsigned long rlimit_as, rlimit_nofile, rlimit_cpu_s, rlimit_nproc;
	/* non-zero: switch to this uid/gid (needs root), before the
	 * capabilities go; supplementary groups are dropped */
	unsigned uid, gid;
	/* capabilities to keep (bit n: capability n) in the effective,
	 * permitted and bounding sets; 0: none */
	uint64_t keep_caps;
	/* seccomp program, or NULL for none (an unconfined pool) */
	const struct pp_seccomp_program *seccomp;
	/* handler for SIGSYS (SECCOMP_RET_TRAP), installed with SA_SIGINFO */
	void (*on_sigsys)(int, siginfo_t *, void *);
	/* a learning program (seccomp->learn) needs this listener; it is
	 * started just before the filter and handed its fd */
	struct pp_seccomp_learner *learner;
};

/*
 * pp_confine_self - apply c to the calling process. Returns
 * PP_CONFINE_OK, or the step that failed (errno says why). Capabilities
 * are dropped from every set, the bounding set included when the process
 * may change it (root); elsewhere the bounding set is left as the kernel
 * allows. With CAP_SETPCAP (root) the securebits in
 * PP_CONFINE_SECUREBITS_SET are set and locked, before the uid switch;
 * without it they are left as inherited (an unprivileged process can
 * gain no capability to guard anyway).
 */
enum pp_confine_step pp_confine_self(const struct pp_confine *c);

/*
 * pp_caps_parse - the mask of a comma-separated list of capability names
 * ("net_bind_service", "cap_sys_nice"). Returns 0, or -EINVAL with the
 * first unknown name copied into bad. list may be NULL (empty mask).
 */
int pp_caps_parse(const char *list, uint64_t *mask, char *bad,
		  size_t bad_len);

/*
 * pp_caps_permitted - the calling thread's permitted capabilities as a
 * mask (capget; no library state, safe in a threaded process), or 0.
 */
uint64_t pp_caps_permitted(void);

/* pp_caps_name - the capability's name ("net_bind_service"). */
const char *pp_caps_name(int cap);

/* pp_confine_step_str - the step's name ("capabilities"). */
const char *pp_confine_step_str(int step);

#ifdef __cplusplus
}
#endif

#endif /* PP_SANDBOX_CONFINE_H */
