/* Self-confinement of a fresh worker; see confine.h. */
#include "sandbox/confine.h"

#include <cap-ng.h>
#include <linux/capability.h>
#include <stdio.h>
#include <strings.h>
#include <sys/syscall.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

static int limit(int resource, unsigned long value)
{
	struct rlimit r = {value, value};

	return value ? setrlimit(resource, &r) : 0;
}

static int set_limits(const struct pp_confine *c)
{
	struct rlimit none = {0, 0};

	if (setrlimit(RLIMIT_CORE, &none))
		return -1;
	if (!c)
		return 0;
	/* The CPU limit's soft value sends SIGXCPU a second before the
	 * hard one kills: the parent reads either as a resource limit. */
	if (c->rlimit_cpu_s) {
		struct rlimit cpu = {c->rlimit_cpu_s, c->rlimit_cpu_s + 1};

		if (setrlimit(RLIMIT_CPU, &cpu))
			return -1;
	}
	return limit(RLIMIT_AS, c->rlimit_as) ||
	       limit(RLIMIT_NOFILE, c->rlimit_nofile) ||
	       limit(RLIMIT_NPROC, c->rlimit_nproc);
}

/* gid first, while we still may; no supplementary groups. */
static int switch_identity(const struct pp_confine *c)
{
	gid_t gid = c->gid;
	uid_t uid = c->uid;

	if (!c->uid && !c->gid)
		return 0;
	if (setgroups(0, NULL))
		return -1;
	if (c->gid && setresgid(gid, gid, gid))
		return -1;
	if (c->uid && setresuid(uid, uid, uid))
		return -1;
	return 0;
}

/* A uid change clears the death signal: set it again, then make sure
 * the parent did not die in between. */
static int rearm_death_signal(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
		return -1;
	return getppid() == parent ? 0 : -1;
}

/* Adds the kept capabilities to libcap-ng's pending sets in which. */
static void add_kept(uint64_t keep, capng_type_t which)
{
	int cap;

	for (cap = 0; cap < 64; cap++)
		if (keep & ((uint64_t)1 << cap))
			capng_update(CAPNG_ADD, which, (unsigned)cap);
}

/*
 * The bounding set first, while CAP_SETPCAP is still in effect (root):
 * elsewhere it cannot change and is left as the kernel has it.
 */
static void drop_bounding(uint64_t keep)
{
	capng_get_caps_process();
	capng_clear(CAPNG_SELECT_BOUNDS);
	add_kept(keep, CAPNG_BOUNDING_SET);
	(void)capng_apply(CAPNG_SELECT_BOUNDS);
}

/*
 * With CAP_SETPCAP, set and lock the securebits. Before the uid switch,
 * which then leaves the capabilities alone (NO_SETUID_FIXUP): drop_caps
 * clears every set right after it.
 */
static int lock_securebits(void)
{
	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP))
		return 0;
	return prctl(PR_SET_SECUREBITS, PP_CONFINE_SECUREBITS_SET, 0, 0, 0);
}

/* Then every other set: effective, permitted, inheritable, ambient; the
 * kept ones stay effective and permitted. */
static int drop_caps(uint64_t keep)
{
	capng_clear(CAPNG_SELECT_ALL);
	add_kept(keep, CAPNG_EFFECTIVE | CAPNG_PERMITTED);
	if (capng_apply(CAPNG_SELECT_CAPS))
		return -1;
	capng_clear(CAPNG_SELECT_AMBIENT);
	(void)capng_apply(CAPNG_SELECT_AMBIENT); /* older kernels lack it */
	return 0;
}

static int install_sigsys(void (*fn)(int, siginfo_t *, void *))
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fn;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		return -1;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	return sigprocmask(SIG_UNBLOCK, &set, NULL);
}

enum pp_confine_step pp_confine_self(const struct pp_confine *c)
{
	pid_t parent = getppid();
	int fd;

	if (set_limits(c))
		return PP_CONFINE_RLIMIT;
	drop_bounding(c ? c->keep_caps : 0);
	if (lock_securebits())
		return PP_CONFINE_SECUREBITS;
	if (c && switch_identity(c))
		return PP_CONFINE_IDENTITY;
	if (drop_caps(c ? c->keep_caps : 0))
		return PP_CONFINE_CAPS;
	if (rearm_death_signal(parent))
		return PP_CONFINE_DEATH_SIGNAL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return PP_CONFINE_NO_NEW_PRIVS;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		return PP_CONFINE_DUMPABLE;
	if (!c || !c->seccomp)
		return PP_CONFINE_OK;
	if (c->seccomp->learn &&
	    (!c->learner || pp_seccomp_learner_start(c->learner)))
		return PP_CONFINE_LEARN;
	if (c->on_sigsys && install_sigsys(c->on_sigsys))
		return PP_CONFINE_SIGSYS;
	fd = pp_seccomp_load(c->seccomp);
	if (c->seccomp->learn)
		pp_seccomp_learner_attach(c->learner, fd);
	if (fd < 0) {
		errno = EPERM;
		return PP_CONFINE_SECCOMP;
	}
	return PP_CONFINE_OK;
}

int pp_caps_parse(const char *list, uint64_t *mask, char *bad,
		  size_t bad_len)
{
	const char *p = list;

	*mask = 0;
	while (p && *p) {
		size_t n = strcspn(p, ",");
		char name[64];
		int cap;

		if (n >= sizeof(name)) {
			snprintf(bad, bad_len, "%.*s", (int)n, p);
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		cap = capng_name_to_capability(
		    strncasecmp(name, "cap_", 4) ? name : name + 4);
		if (n && (cap < 0 || cap > 63)) {
			snprintf(bad, bad_len, "%s", name);
			return -EINVAL;
		}
		if (n)
			*mask |= (uint64_t)1 << cap;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

uint64_t pp_caps_permitted(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return 0;
	return (uint64_t)data[0].permitted |
	       (uint64_t)data[1].permitted << 32;
}

const char *pp_caps_name(int cap)
{
	const char *name = capng_capability_to_name((unsigned)cap);

	return name ? name : "unknown";
}

const char *pp_confine_step_str(int step)
{
	static const char *const names[] = {
	    "ok",
	    "rlimits",
	    "capabilities",
	    "no_new_privs",
	    "dumpable",
	    "SIGSYS handler",
	    "seccomp",
	    "uid/gid switch",
	    "death signal",
	    "securebits",
	    "seccomp learning listener",
	};

	if (step < 0 || step > PP_CONFINE_LEARN)
		return "unknown";
	return names[step];
}
