/* Seccomp policy builder and loader; see seccomp_policy.h. */
#include "sandbox/seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <asm/prctl.h>
#endif

struct group {
	const char *name;
	const char *const *calls;
	const char *const *whole; /* of calls, those granted whole */
};

/* What the worker runtime itself does: the channel, wakeups, exit. */
static const char *const runtime_calls[] = {
    "read",
    "write",
    "futex",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "getpid",
    "gettid",
    "exit",
    "exit_group",
    "rt_sigreturn",
    "rt_sigprocmask",
    "rt_sigaction",
    "sigaltstack",
    "sched_yield",
    "restart_syscall",
    "mmap",
    "munmap",
    "mprotect",
    "brk",
    "madvise",
    "mremap",
    /* Large payloads (src/ipc/fd_payload.h), each form conditioned in
     * arg_rules: an input's sealed memfd comes on the worker's socket
     * (recvmsg), is mapped read-only and closed; an output's memfd is
     * made (memfd_create), filled with write(), sealed (fcntl
     * F_ADD_SEALS) and sent (sendmsg). */
    "recvmsg",
    "sendmsg",
    "close",
    "memfd_create",
    "fcntl",
    /* Task usage (pool_config_t.task_usage): the worker's own CPU times
     * and high-water mark around each task (who conditioned in
     * arg_rules); the high-water reset is a write to an fd opened
     * before confinement. */
    "getrusage",
    NULL,
};

static const char *const memory_calls[] = {
    "mmap",   "munmap", "mprotect", "brk",	  "madvise",
    "mremap", "mlock",	"munlock",  "membarrier", NULL,
};

static const char *const time_calls[] = {
    "clock_gettime", "clock_getres",	"gettimeofday", "time",
    "nanosleep",     "clock_nanosleep", NULL,
};

static const char *const signal_calls[] = {
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "pause",
    "tgkill",
    "tkill",
    NULL,
};

static const char *const fd_io_calls[] = {
    "read",  "write", "readv", "writev",     "pread64", "pwrite64",
    "lseek", "close", "fstat", "newfstatat", "fcntl",	"dup",
    "dup3",  "poll",  "ppoll", NULL,
};

static const char *const process_self_calls[] = {
    "getpid", "gettid",	   "getppid",	"getuid",      "geteuid",
    "getgid", "getegid",   "getrandom", "sched_yield", "sched_getaffinity",
    "uname",  "prlimit64", "getrusage", "arch_prctl",  "set_robust_list",
    "rseq",   "getcpu",	   "prctl",	NULL,
};

/*
 * Threads, not processes: clone only with CLONE_THREAD (see rules).
 * sched_getaffinity whole: glibc's pthread_getattr_np (sanitizers, language
 * runtimes finding a thread's stack) asks it of a thread by tid, and a
 * filter cannot tell the worker's tids from another process's pid. It
 * only reads a CPU mask, which /proc shows any process anyway.
 */
static const char *const thread_calls[] = {
    "clone",	      "clone3",	     "set_robust_list",
    "rseq",	      "futex",	     "mmap",
    "munmap",	      "mprotect",    "madvise",
    "exit",	      "sched_yield", "sched_getaffinity",
    "rt_sigprocmask", "getrandom",   NULL,
};

static const char *const thread_whole[] = {"sched_getaffinity", NULL};

static const char *const file_read_calls[] = {
    "openat", "open",	    "read",	  "pread64",
    "close",  "fstat",	    "newfstatat", "statx",
    "lseek",  "getdents64", "readlink",	  "readlinkat",
    "access", "faccessat",  "faccessat2", NULL,
};

static const char *const network_calls[] = {
    "socket",	  "connect",	 "bind",	"listen",
    "accept",	  "accept4",	 "sendto",	"recvfrom",
    "sendmsg",	  "recvmsg",	 "shutdown",	"getsockopt",
    "setsockopt", "getsockname", "getpeername", NULL,
};

/* What @network grants whole, beyond the runtime's
 * conditioned forms. */
static const char *const network_whole[] = {"recvmsg", "sendmsg", NULL};

static const struct group groups[] = {
    {"@memory", memory_calls},
    {"@time", time_calls},
    {"@signal", signal_calls},
    {"@fd-io", fd_io_calls, NULL},
    {"@process-self", process_self_calls},
    {"@file-read", file_read_calls},
    {"@network", network_calls, network_whole},
    {"@runtime", runtime_calls},
    {"@thread", thread_calls, thread_whole},
};

/*
 * Argument conditions, for syscalls a group grants (a syscall named on its
 * own is the caller's explicit choice and is allowed whole). A syscall
 * listed here is allowed when any one of its rules matches (its
 * conditions all hold); a rule with err set fails the call with that
 * errno instead. A call no rule matches falls to the filter's default
 * action like any unlisted syscall: a violation naming it, never a
 * silent allow.
 */
struct arg_cond {
	unsigned arg;
	enum scmp_compare op;
	uint64_t a, b;
};

struct arg_rule {
	const char *name;
	int err;
	unsigned n;
	struct arg_cond c[2];
};

/* Initializers for the table; clang-format would spread each over lines. */
/* clang-format off */
/*
 * An int argument is what the kernel reads of it: the low 32 bits. Only
 * those are compared, so a sign-extended -1 and a zero-extended one are
 * the same value, as they are to the kernel.
 */
#define INT_IS(arg, v) {(arg), SCMP_CMP_MASKED_EQ, 0xffffffffu, (uint32_t)(v)}
/* The bits in mask are v. */
#define MASKED_IS(arg, mask, v) {(arg), SCMP_CMP_MASKED_EQ, (mask), (v)}
/* None of the bits in mask set. */
#define NONE_OF(arg, mask) {(arg), SCMP_CMP_MASKED_EQ, (mask), 0}
/* Unsigned, all 64 bits: stray high bits fail it (closed). */
#define AT_MOST(arg, v) {(arg), SCMP_CMP_LE, (v), 0}

#define IF1(name, c0) {(name), 0, 1, {c0}}
#define IF2(name, c0, c1) {(name), 0, 2, {c0, c1}}
/* clang-format on */

#define THREAD_FLAGS (CLONE_VM | CLONE_THREAD | CLONE_SIGHAND)

/* F_SETFL flags that reach beyond the worker through a shared open file
 * description: SIGIO delivery to the description's owner, and O_DIRECT
 * (packet mode on a pipe, alignment rules on a file) for every user. */
#define SETFL_REFUSED (O_ASYNC | O_DIRECT)

/* An open for reading only: no write access, nothing created, truncated
 * or made exclusive (O_EXCL on a block device locks others out), no
 * O_TMPFILE (an unnamed file to write), no append, no SIGIO. */
#define OPEN_REFUSED                                                           \
	(O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_ASYNC |         \
	 (O_TMPFILE & ~O_DIRECTORY))

/* futex's operation, whatever its private and clock flags. */
#define FUTEX_OP_IS(op)                                                        \
	IF1("futex", MASKED_IS(1, (uint32_t)FUTEX_CMD_MASK, (op)))

static const struct arg_rule arg_rules[] = {
    /* recvmsg: the runtime's own receive of a large input, with the
     * flags it always passes (PP_FD_PAYLOAD_RECV_FLAGS). */
    IF1("recvmsg", INT_IS(2, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)),
    IF1("sendmsg", INT_IS(2, MSG_DONTWAIT | MSG_NOSIGNAL)),
    /* An output's memfd: sealable, close-on-exec, nothing else (no
     * huge pages, no exec); sealed with exactly the four seals (F_SEAL_SEAL last, so nothing more can
     * be added: the channel's and the setup's memfds carry it already,
     * so no seal reaches a memfd the parent relies on). */
    IF1("memfd_create", INT_IS(1, MFD_CLOEXEC | MFD_ALLOW_SEALING)),
    IF2("fcntl", INT_IS(1, F_ADD_SEALS),
	INT_IS(2, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)),
    /* prctl: reading the worker's own state, and naming its threads. */
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_GET_SECUREBITS, 0}}},
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_GET_NO_NEW_PRIVS, 0}}},
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_GET_DUMPABLE, 0}}},
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_GET_KEEPCAPS, 0}}},
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_CAPBSET_READ, 0}}},
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_GET_SECCOMP, 0}}},
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_GET_NAME, 0}}},
    {"prctl", 0, 1, {{0, SCMP_CMP_EQ, PR_SET_NAME, 0}}},
    /* clone: a thread of this process, never a new process. */
    {"clone", 0, 1, {{0, SCMP_CMP_MASKED_EQ, THREAD_FLAGS, THREAD_FLAGS}}},
    /* clone3 takes its flags in memory, out of a filter's reach: it
     * fails ENOSYS and libc falls back to clone. */
    {"clone3", ENOSYS, 0, {{0, SCMP_CMP_EQ, 0, 0}}},
    /* socket: local and IP families only; no netlink, packet, alg... */
    {"socket", 0, 1, {{0, SCMP_CMP_EQ, AF_UNIX, 0}}},
    {"socket", 0, 1, {{0, SCMP_CMP_EQ, AF_INET, 0}}},
    {"socket", 0, 1, {{0, SCMP_CMP_EQ, AF_INET6, 0}}},
    /*
     * fcntl: the worker's fds share their open file descriptions with
     * the host (stdio, the channel), so only the commands that stay
     * within the worker's own fd table or only read: no SIGIO owner or
     * signal, leases, dnotify, record locks (a lock on a file the host
     * shares can block the host), seals, pipe sizes or write hints.
     */
    IF1("fcntl", INT_IS(1, F_DUPFD)),
    IF1("fcntl", INT_IS(1, F_DUPFD_CLOEXEC)),
    IF1("fcntl", INT_IS(1, F_GETFD)),
    IF1("fcntl", INT_IS(1, F_SETFD)),
    IF1("fcntl", INT_IS(1, F_GETFL)),
    IF2("fcntl", INT_IS(1, F_SETFL), NONE_OF(2, SETFL_REFUSED)),
    IF1("fcntl", INT_IS(1, F_GET_SEALS)),
    IF1("fcntl", INT_IS(1, F_GETPIPE_SZ)),
    /* Another process's limits, affinity: never; the worker's own. */
    IF1("prlimit64", INT_IS(0, 0)),
    IF1("sched_getaffinity", INT_IS(0, 0)),
    /* Only what the kernel accepts anyway: all three are the caller. */
    IF1("getrusage", INT_IS(0, RUSAGE_SELF)),
    IF1("getrusage", INT_IS(0, RUSAGE_THREAD)),
    IF1("getrusage", INT_IS(0, RUSAGE_CHILDREN)),
    /* The fixed clocks; a negative id names a process's or a thread's
     * CPU clock by pid (or a clock device by fd). */
    IF1("clock_gettime", AT_MOST(0, CLOCK_TAI)),
    IF1("clock_getres", AT_MOST(0, CLOCK_TAI)),
    IF1("clock_nanosleep", AT_MOST(0, CLOCK_TAI)),
    /* Waits and wakes; no priority-inheritance ops, which name a thread
     * (any process's) through the futex word and attach it as owner. */
    FUTEX_OP_IS(FUTEX_WAIT),
    FUTEX_OP_IS(FUTEX_WAKE),
    FUTEX_OP_IS(FUTEX_REQUEUE),
    FUTEX_OP_IS(FUTEX_CMP_REQUEUE),
    FUTEX_OP_IS(FUTEX_WAKE_OP),
    FUTEX_OP_IS(FUTEX_WAIT_BITSET),
    FUTEX_OP_IS(FUTEX_WAKE_BITSET),
    /* Barriers on this process's own threads; the global commands
     * interrupt or wait on every CPU and other processes. */
    IF1("membarrier", INT_IS(0, MEMBARRIER_CMD_QUERY)),
    IF1("membarrier", INT_IS(0, MEMBARRIER_CMD_PRIVATE_EXPEDITED)),
    IF1("membarrier", INT_IS(0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)),
    IF1("membarrier", INT_IS(0, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)),
    IF1("membarrier",
	INT_IS(0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)),
    IF1("membarrier", INT_IS(0, MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ)),
    IF1("membarrier",
	INT_IS(0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ)),
#if defined(__x86_64__)
    /* The thread pointer, cpuid and AMX state queries, and asking for
     * AMX state: what C runtimes and math libraries use. Not: cpuid
     * faulting, moving the vDSO, shadow stack or address tagging. */
    IF1("arch_prctl", INT_IS(0, ARCH_SET_GS)),
    IF1("arch_prctl", INT_IS(0, ARCH_SET_FS)),
    IF1("arch_prctl", INT_IS(0, ARCH_GET_FS)),
    IF1("arch_prctl", INT_IS(0, ARCH_GET_GS)),
    IF1("arch_prctl", INT_IS(0, ARCH_GET_CPUID)),
    IF1("arch_prctl", INT_IS(0, ARCH_GET_XCOMP_SUPP)),
    IF1("arch_prctl", INT_IS(0, ARCH_GET_XCOMP_PERM)),
    IF1("arch_prctl", INT_IS(0, ARCH_REQ_XCOMP_PERM)),
#endif
    /* @file-read: opening for reading, nothing else (see OPEN_REFUSED). */
    IF1("openat", NONE_OF(2, OPEN_REFUSED)),
    IF1("open", NONE_OF(1, OPEN_REFUSED)),
};

/*
 * Signals to a thread: the filter is compiled once in the parent, before
 * any worker's pid is known, so the target pid is checked by a second,
 * tiny filter each worker builds for itself (see pp_seccomp_load).
 */
static const char *const pid_bound_calls[] = {"tgkill", "tkill", NULL};

static int resolve(const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR || nr < 0 || nr >= PP_SECCOMP_MAX_NR)
		return -1;
	return nr;
}

static int in_list(const char *const *calls, const char *name)
{
	for (; *calls; calls++)
		if (!strcmp(*calls, name))
			return 1;
	return 0;
}

/* Whether a group grants name with conditions rather than whole. */
static int conditional(const char *name)
{
	size_t i;

	if (in_list(pid_bound_calls, name))
		return 1;
	for (i = 0; i < sizeof(arg_rules) / sizeof(arg_rules[0]); i++)
		if (!strcmp(arg_rules[i].name, name))
			return 1;
	return 0;
}

static int set_one(struct pp_seccomp_policy *p, const char *name, int on)
{
	int nr = resolve(name);

	if (nr < 0)
		return -EINVAL;
	p->allowed[nr] = (unsigned char)(on ? PP_SECCOMP_ALLOW : 0);
	return 0;
}

/* A group's calls: conditional ones never lower a whole allow. */
static void set_list(struct pp_seccomp_policy *p, const char *const *calls,
		     int on)
{
	for (; *calls; calls++) {
		/* A call this kernel's tables lack (an older libseccomp) is
		 * simply not there to allow. */
		int nr = resolve(*calls);

		if (nr < 0)
			continue;
		if (!on)
			p->allowed[nr] = 0;
		else if (!conditional(*calls))
			p->allowed[nr] = PP_SECCOMP_ALLOW;
		else if (!p->allowed[nr])
			p->allowed[nr] = PP_SECCOMP_ALLOW_IF;
	}
}

/* A group's calls, and those it grants whole despite their conditions. */
static void set_group(struct pp_seccomp_policy *p, const struct group *g,
		      int on)
{
	const char *const *w;

	set_list(p, g->calls, on);
	for (w = g->whole; on && w && *w; w++)
		set_one(p, *w, 1);
}

static const struct group *find_group(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(groups[i].name, name))
			return &groups[i];
	return NULL;
}

void pp_seccomp_policy_init(struct pp_seccomp_policy *p,
			    enum pp_seccomp_profile profile)
{
	memset(p, 0, sizeof(*p));
	set_list(p, runtime_calls, 1);
	if (profile != PP_SECCOMP_COMPUTE)
		return;
	set_list(p, memory_calls, 1);
	set_list(p, time_calls, 1);
	set_list(p, signal_calls, 1);
	set_list(p, fd_io_calls, 1);
	set_list(p, process_self_calls, 1);
}

static void record(struct pp_seccomp_policy *p, const char *name, int err)
{
	if (p->error)
		return;
	p->error = err;
	snprintf(p->bad, sizeof(p->bad), "%s", name);
}

/* Applies on to every name in a comma-separated list. */
static int apply(struct pp_seccomp_policy *p, const char *names, int on)
{
	char buf[64];
	const char *s = names, *e;

	if (!p)
		return -EINVAL;
	if (!names) {
		record(p, "(null)", -EINVAL);
		return p->error;
	}
	while (*s) {
		size_t n;

		e = strchr(s, ',');
		n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || n >= sizeof(buf)) {
			record(p, "(empty or too long)", -EINVAL);
		} else {
			const struct group *g;

			memcpy(buf, s, n);
			buf[n] = '\0';
			g = buf[0] == '@' ? find_group(buf) : NULL;
			if (g)
				set_group(p, g, on);
			else if (set_one(p, buf, on))
				record(p, buf, -EINVAL);
		}
		if (!e)
			break;
		s = e + 1;
	}
	if (!on)
		set_list(p, runtime_calls, 1); /* never removable */
	return p->error;
}

int pp_seccomp_allow(struct pp_seccomp_policy *p, const char *names)
{
	return apply(p, names, 1);
}

int pp_seccomp_deny(struct pp_seccomp_policy *p, const char *names)
{
	return apply(p, names, 0);
}

/* libseccomp 2.5 exports to an fd only: a memfd, read back. */
static int export_program(scmp_filter_ctx ctx, struct pp_seccomp_program *out)
{
	int fd = memfd_create("pp-seccomp", MFD_CLOEXEC), err = 0;
	off_t size;

	if (fd < 0)
		return -errno;
	if (seccomp_export_bpf(ctx, fd) < 0) {
		err = -EIO;
		goto out;
	}
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter)) {
		err = -EIO;
		goto out;
	}
	out->insns = malloc((size_t)size);
	if (!out->insns) {
		err = -ENOMEM;
		goto out;
	}
	if (pread(fd, out->insns, (size_t)size, 0) != size) {
		free(out->insns);
		out->insns = NULL;
		err = -EIO;
		goto out;
	}
	out->count = (size_t)size / sizeof(struct sock_filter);
out:
	close(fd);
	return err;
}

/* The conditional rules for nr, or the whole allow when it has none. */
static int add_rules(scmp_filter_ctx ctx, int nr)
{
	struct scmp_arg_cmp cmp[2];
	size_t i;
	int err;

	for (i = 0; i < sizeof(arg_rules) / sizeof(arg_rules[0]); i++) {
		const struct arg_rule *r = &arg_rules[i];
		unsigned k;

		if (resolve(r->name) != nr)
			continue;
		if (r->n > sizeof(cmp) / sizeof(cmp[0]))
			return -EINVAL;
		for (k = 0; k < r->n; k++) {
			cmp[k].arg = r->c[k].arg;
			cmp[k].op = r->c[k].op;
			cmp[k].datum_a = r->c[k].a;
			cmp[k].datum_b = r->c[k].b;
		}
		err = seccomp_rule_add_array(
		    ctx,
		    r->err ? SCMP_ACT_ERRNO((unsigned)r->err) : SCMP_ACT_ALLOW,
		    nr, r->n, cmp);
		if (err)
			return err;
	}
	return 0;
}

static int is_pid_bound(int nr)
{
	unsigned i;

	for (i = 0; pid_bound_calls[i]; i++)
		if (resolve(pid_bound_calls[i]) == nr)
			return 1;
	return 0;
}

/* The pid-bound syscalls this policy grants through a group. */
static void pid_bound(const struct pp_seccomp_policy *p,
		      struct pp_seccomp_program *out)
{
	unsigned i;

	for (i = 0; pid_bound_calls[i]; i++) {
		int nr = resolve(pid_bound_calls[i]);

		if (nr >= 0 && p->allowed[nr] == PP_SECCOMP_ALLOW_IF)
			out->pid_bound_nr[out->pid_bound++] = nr;
	}
}

/* Whole allows, and each conditional syscall's rules. */
static int add_policy(scmp_filter_ctx ctx, const struct pp_seccomp_policy *p)
{
	int nr, err = 0;

	for (nr = 0; !err && nr < PP_SECCOMP_MAX_NR; nr++) {
		if (!p->allowed[nr])
			continue;
		/* A pid-bound call passes here; the pid filter checks it. */
		if (p->allowed[nr] == PP_SECCOMP_ALLOW_IF && !is_pid_bound(nr))
			err = add_rules(ctx, nr);
		else
			err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	return err;
}

int pp_seccomp_compile(const struct pp_seccomp_policy *p,
		       struct pp_seccomp_program *out)
{
	scmp_filter_ctx ctx;
	int err;

	if (!p || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (p->error)
		return p->error;
	/* Learning: what the list does not allow goes to the listener. */
	ctx = seccomp_init(p->learn ? SCMP_ACT_NOTIFY : SCMP_ACT_TRAP);
	if (!ctx)
		return p->learn ? -ENOSYS : -ENOMEM;
	err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			       SCMP_ACT_KILL_PROCESS);
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	/* Off is libseccomp's default; said here because learning needs a
	 * filter on the worker's main thread only, never its listener. The
	 * program is exported and loaded by pp_seccomp_load either way. */
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
	if (!err)
		err = add_policy(ctx, p);
	if (!err)
		err = export_program(ctx, out);
	seccomp_release(ctx);
	if (err < 0)
		return err;
	out->learn = p->learn;
	if (!p->learn) /* a listener's filter cannot be stacked on it */
		pid_bound(p, out);
	return 0;
}

/* Whether the running kernel's release is at least major.minor. */
static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma > major || (ma == major && mi >= minor);
}

int pp_seccomp_learn_available(void)
{
	unsigned action = SECCOMP_RET_USER_NOTIF;

	/* A kernel without user notification: learning mode is refused
	 * at pool_create with this error, named in the log. */
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action))
		return -ENOSYS;
	return kernel_at_least(5, 5) ? 0 : -EOPNOTSUPP;
}

void pp_seccomp_program_free(struct pp_seccomp_program *prog)
{
	if (!prog)
		return;
	free(prog->insns);
	memset(prog, 0, sizeof(*prog));
}

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG0_LOW offsetof(struct seccomp_data, args[0])
#else
#define ARG0_LOW (offsetof(struct seccomp_data, args[0]) + 4)
#endif

#define STMT(code, k)	    ((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, t, f) ((struct sock_filter)BPF_JUMP(code, k, t, f))

/*
 * The second filter: the program's pid-bound syscalls only with the
 * caller's own pid as their first argument (pid_t: the low 32 bits are
 * what the kernel reads); a foreign pid traps like any denied call. Built
 * on the stack in the worker.
 */
static int load_pid_filter(const struct pp_seccomp_program *p)
{
	struct sock_filter f[12];
	struct sock_fprog prog;
	unsigned n = 0, i;
	unsigned self = (unsigned)getpid();

	if (p->pid_bound > 2)
		return -EINVAL;

	f[n++] =
	    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	/* A foreign architecture: the first filter kills it already. */
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] =
	    STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (i = 0; i < p->pid_bound; i++)
		f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			      (unsigned)p->pid_bound_nr[i], 0, 0);
	/* Each syscall's jump, when equal: past the ALLOW below, to the
	 * pid check. */
	for (i = 4; i < n; i++)
		f[i].jt = (unsigned char)(n - i);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW);
	f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, self, 0, 1);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	prog.len = (unsigned short)n;
	prog.filter = f;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

int pp_seccomp_load(const struct pp_seccomp_program *prog)
{
	struct sock_fprog f;
	int err = 0, fd;

	if (!prog || !prog->insns || !prog->count || prog->count > 0xffff)
		return -EINVAL;
	f.len = (unsigned short)prog->count;
	f.filter = prog->insns;
	/* The pid filter first: once the main one is in, prctl is gone. */
	if (prog->pid_bound)
		err = load_pid_filter(prog);
	if (err)
		return err;
	if (!prog->learn) {
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &f) < 0)
			return -errno;
		return 0;
	}
	fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			  SECCOMP_FILTER_FLAG_NEW_LISTENER, &f);
	return fd < 0 ? -errno : fd; /* the kernel makes it O_CLOEXEC */
}

const char *pp_seccomp_syscall_name(int nr, char *buf, size_t len)
{
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

	if (name) {
		snprintf(buf, len, "%s", name);
		free(name);
	} else {
		snprintf(buf, len, "syscall %d", nr);
	}
	return buf;
}
