/* Self-confinement of a fresh worker; see confine.h. */
#include "sandbox/confine.h"

#include <cap-ng.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static int limit_core(void)
{
	struct rlimit none = {0, 0};

	return setrlimit(RLIMIT_CORE, &none);
}

/* Every set empty; the bounding set only where we may change it. */
static int drop_caps(void)
{
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_ALL) == 0)
		return 0;
	capng_clear(CAPNG_SELECT_BOTH);
	return capng_apply(CAPNG_SELECT_CAPS) == 0 ? 0 : -1;
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
	if (limit_core())
		return PP_CONFINE_RLIMIT;
	if (drop_caps())
		return PP_CONFINE_CAPS;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return PP_CONFINE_NO_NEW_PRIVS;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		return PP_CONFINE_DUMPABLE;
	if (!c || !c->seccomp)
		return PP_CONFINE_OK;
	if (c->on_sigsys && install_sigsys(c->on_sigsys))
		return PP_CONFINE_SIGSYS;
	if (pp_seccomp_load(c->seccomp)) {
		errno = EPERM;
		return PP_CONFINE_SECCOMP;
	}
	return PP_CONFINE_OK;
}

const char *pp_confine_step_str(int step)
{
	static const char *const names[] = {
	    "ok",	"rlimits",	  "capabilities", "no_new_privs",
	    "dumpable", "SIGSYS handler", "seccomp",
	};

	if (step < 0 || step > PP_CONFINE_SECCOMP)
		return "unknown";
	return names[step];
}
