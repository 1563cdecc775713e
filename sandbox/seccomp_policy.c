/* Seccomp policy builder and loader; see seccomp_policy.h. */
#include "sandbox/seccomp_policy.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

struct group {
	const char *name;
	const char *const *calls;
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
    "rseq",   "getcpu",	   NULL,
};

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

static const struct group groups[] = {
    {"@memory", memory_calls},
    {"@time", time_calls},
    {"@signal", signal_calls},
    {"@fd-io", fd_io_calls},
    {"@process-self", process_self_calls},
    {"@file-read", file_read_calls},
    {"@network", network_calls},
    {"@runtime", runtime_calls},
};

static int set_one(struct pp_seccomp_policy *p, const char *name, int on)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR || nr < 0 || nr >= PP_SECCOMP_MAX_NR)
		return -EINVAL;
	p->allowed[nr] = (unsigned char)on;
	return 0;
}

static void set_list(struct pp_seccomp_policy *p, const char *const *calls,
		     int on)
{
	for (; *calls; calls++)
		/* A call this kernel's tables lack (an older libseccomp) is
		 * simply not there to allow. */
		(void)set_one(p, *calls, on);
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
				set_list(p, g->calls, on);
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

int pp_seccomp_compile(const struct pp_seccomp_policy *p,
		       struct pp_seccomp_program *out)
{
	scmp_filter_ctx ctx;
	int nr, err;

	if (!p || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (p->error)
		return p->error;
	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			       SCMP_ACT_KILL_PROCESS);
	if (!err)
		err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	for (nr = 0; !err && nr < PP_SECCOMP_MAX_NR; nr++)
		if (p->allowed[nr])
			err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (!err)
		err = export_program(ctx, out);
	seccomp_release(ctx);
	return err < 0 ? err : 0;
}

void pp_seccomp_program_free(struct pp_seccomp_program *prog)
{
	if (!prog)
		return;
	free(prog->insns);
	prog->insns = NULL;
	prog->count = 0;
}

int pp_seccomp_load(const struct pp_seccomp_program *prog)
{
	struct sock_fprog f;

	if (!prog || !prog->insns || !prog->count || prog->count > 0xffff)
		return -EINVAL;
	f.len = (unsigned short)prog->count;
	f.filter = prog->insns;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &f) < 0)
		return -errno;
	return 0;
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
