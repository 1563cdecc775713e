/* Config defaults and validation. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/core/arena_trim.h"
#include "src/core/health.h"
#include "src/core/log.h"
#include "src/core/pool_internal.h"

#define MAX_WORKERS   4096
#define MAX_QUEUE     ((size_t)1 << 26)
#define MAX_IN_FLIGHT 256
#define MAX_PAYLOAD   ((size_t)1 << 40)

static int bad(char *why, size_t len, const char *msg)
{
	snprintf(why, len, "%s", msg);
	return POOL_EINVAL;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

/* The worker uid range ends below uid -1, defaults applied. */
static int uid_range_fits(const pool_config_t *c)
{
	uint64_t base = c->worker_uid_base, count = c->worker_uid_count;

	if (base == POOL_WORKER_UID_HOST)
		return 1;
	base = base ? base : POOL_WORKER_UID_BASE_DEFAULT;
	count = count ? count : POOL_WORKER_UID_COUNT_DEFAULT;
	return base + count <= POOL_WORKER_UID_HOST;
}

/* Range checks on what the caller gave, before defaults are applied. */
static int check_ranges(const pool_config_t *c, char *why, size_t len)
{
	if (c->worker_count < 0 || c->worker_count > MAX_WORKERS)
		return bad(why, len, "worker_count must be 0..4096");
	if (c->max_workers < 0 || c->max_workers > MAX_WORKERS)
		return bad(why, len, "max_workers must be 0..4096");
	if (c->min_workers < 0 || c->min_workers > MAX_WORKERS)
		return bad(why, len, "min_workers must be 0..4096");
	if (c->max_workers && c->min_workers > c->max_workers)
		return bad(why, len, "min_workers > max_workers");
	if (c->max_workers && c->worker_count > c->max_workers)
		return bad(why, len, "worker_count > max_workers");
	if (c->spare_workers < -1 || c->spare_workers > MAX_WORKERS)
		return bad(why, len, "spare_workers must be -1..4096");
	if (c->queue_size > MAX_QUEUE)
		return bad(why, len, "queue_size larger than 2^26");
	if (c->worker_idle_timeout < 0 || c->task_timeout < 0)
		return bad(why, len, "timeouts must not be negative");
	if (c->log_level < LOG_LEVEL_DEFAULT || c->log_level > LOG_LEVEL_NONE)
		return bad(why, len, "log_level out of range");
	if (c->max_retries < 0 || c->max_retries > 100)
		return bad(why, len, "max_retries must be 0..100");
	if (c->max_in_flight < 0 || c->max_in_flight > MAX_IN_FLIGHT)
		return bad(why, len, "max_in_flight must be 0..256");
	if (c->max_tasks_per_worker < 0)
		return bad(why, len,
			   "max_tasks_per_worker must not be negative");
	if (c->arena_size > PP_CHANNEL_MAX_ARENA)
		return bad(why, len, "arena_size larger than 16 GiB");
	if (c->max_input_size > MAX_PAYLOAD)
		return bad(why, len, "max_input_size larger than 1 TiB");
	if (c->zygote < -1 || c->zygote > 1)
		return bad(why, len, "zygote must be -1, 0 or 1");
	if (c->task_usage != 0 && c->task_usage != 1)
		return bad(why, len, "task_usage must be 0 or 1");
	if (c->isolation != POOL_ISOLATE_WORKER &&
	    c->isolation != POOL_ISOLATE_TASK)
		return bad(why, len, "isolation must be POOL_ISOLATE_WORKER or "
				     "POOL_ISOLATE_TASK");
	if (c->max_output_size > MAX_PAYLOAD)
		return bad(why, len, "max_output_size larger than 1 TiB");
	if (c->cgroup_mode < POOL_CGROUP_BEST_EFFORT ||
	    c->cgroup_mode > POOL_CGROUP_OFF)
		return bad(why, len, "cgroup_mode out of range");
	if (c->cpu_max_percent > 100 * 4096)
		return bad(why, len, "cpu_max_percent too large");
	if (c->cpu_weight > 10000)
		return bad(why, len, "cpu_weight must be 0 (unchanged) or "
				     "1..10000");
	if (c->seccomp_profile < 0 || c->seccomp_profile > 1)
		return bad(why, len, "seccomp_profile must be 0 or 1");
	if (c->seccomp_learn < 0 || c->seccomp_learn > 1)
		return bad(why, len, "seccomp_learn must be 0 or 1");
	if (c->spawn_mode != POOL_SPAWN_FORK &&
	    c->spawn_mode != POOL_SPAWN_CLEANROOM)
		return bad(why, len, "spawn_mode must be FORK or CLEANROOM");
	/* A dlopen'd library: the exec'd worker would run main instead. */
	if (c->spawn_mode == POOL_SPAWN_CLEANROOM &&
	    !pp_modules_self_at_startup())
		return bad(why, len,
			   "spawn_mode CLEANROOM needs the library loaded at "
			   "program start (linked in or LD_PRELOAD), not "
			   "dlopen'd");
	if (memchr(c->pool_name, '\0', sizeof(c->pool_name)) == NULL)
		return bad(why, len, "pool_name is not NUL-terminated");
	if (c->worker_stdio < POOL_STDIO_CAPTURE ||
	    c->worker_stdio > POOL_STDIO_DISCARD)
		return bad(why, len,
			   "worker_stdio must be CAPTURE, INHERIT or DISCARD");
	if (c->worker_output_rate > PP_OUTPUT_RATE_MAX)
		return bad(why, len, "worker_output_rate must be 0..100000");
	if (c->timeout_signal < 0 || c->timeout_signal > SIGRTMAX ||
	    c->timeout_signal == SIGKILL || c->timeout_signal == SIGSTOP)
		return bad(why, len,
			   "timeout_signal must be 0 or a signal a task can "
			   "catch");
	if (c->timeout_grace_ms < 0 || c->timeout_grace_ms > 3600000)
		return bad(why, len, "timeout_grace_ms must be 0..3600000");
	if (c->max_worker_age_ms < 0 || c->min_worker_age_ms < 0)
		return bad(why, len,
			   "max_worker_age_ms and min_worker_age_ms must not "
			   "be negative");
	if (c->health_check_interval_ms > PP_HEALTH_MAX_MS ||
	    c->health_check_timeout_ms < 0 ||
	    c->health_check_timeout_ms > PP_HEALTH_MAX_MS)
		return bad(why, len,
			   "health_check_interval_ms and _timeout_ms must be "
			   "at most 24 h (timeout not negative)");
	if (c->restart_grace_ms > PP_HEALTH_MAX_MS)
		return bad(why, len, "restart_grace_ms must be at most 24 h");
	if (!uid_range_fits(c))
		return bad(why, len,
			   "worker_uid_base + worker_uid_count must stay below "
			   "2^32 - 1");
	return 0;
}

/* Whether [first, first + count) lies in one extent of an id map
 * ("/proc/self/uid_map": inside, outside, count per line). */
static int ids_mapped(const char *map, unsigned first, unsigned count)
{
	unsigned long long in, out, n;
	FILE *f = fopen(map, "re");
	int found = 0;

	if (!f)
		return 0;
	while (!found && fscanf(f, "%llu %llu %llu", &in, &out, &n) == 3)
		found =
		    first >= in && (unsigned long long)first + count <= in + n;
	fclose(f);
	return found;
}

/*
 * Each pool's workers run under uids of their own when root created it
 * (see worker_uid_base in process_pool.h). Resolved, worker_uid_count is
 * the pool's own block (max_workers uids from worker_uid_base), or 0 when
 * workers keep the identity worker_uid and worker_gid give them.
 */
static int resolve_ids(const pool_config_t *in, pool_config_t *out, char *why,
		       size_t len)
{
	static _Atomic unsigned next_block;
	static _Atomic int warned;
	unsigned base = in->worker_uid_base, count = in->worker_uid_count;
	/* Spares have slots, and uids, of their own. */
	unsigned need = (unsigned)(out->max_workers + out->spare_workers);
	int given = base || count;

	out->worker_uid_base = 0;
	out->worker_uid_count = 0;
	if (base == POOL_WORKER_UID_HOST || in->worker_uid || geteuid() != 0)
		return 0;
	base = base ? base : POOL_WORKER_UID_BASE_DEFAULT;
	count = count ? count : POOL_WORKER_UID_COUNT_DEFAULT;
	if (count < need)
		return bad(why, len, "worker_uid_count is below max_workers + "
				   "spare_workers");
	if (!ids_mapped("/proc/self/uid_map", base, count) ||
	    (!in->worker_gid &&
	     !ids_mapped("/proc/self/gid_map", base, count))) {
		if (given)
			return bad(why, len,
				   "worker_uid_base..+worker_uid_count is not "
				   "mapped in this user namespace");
		if (!atomic_exchange(&warned, 1))
			pp_log(LOG_LEVEL_WARN, in->pool_name, "worker_uid_off",
			       "base=%u count=%u reason=\"%s\"", base, count,
			       "not mapped in this user namespace: workers "
			       "keep the host's uid, without capabilities");
		return 0;
	}
	/* Round robin over the blocks: pools alive together get their own
	 * unless this process made count / max_workers pools since. */
	out->worker_uid_base =
	    base + atomic_fetch_add(&next_block, 1) % (count / need) * need;
	out->worker_uid_count = need;
	return 0;
}

int pp_config_resolve(const pool_config_t *in, pool_config_t *out, char *why,
		      size_t why_len)
{
	pool_config_t zero;
	int err;

	if (!in) {
		memset(&zero, 0, sizeof(zero));
		in = &zero;
	}
	err = check_ranges(in, why, why_len);
	if (err)
		return err;
	*out = *in;
	if (!out->worker_count)
		out->worker_count =
		    out->min_workers ? out->min_workers : online_cpus();
	if (out->max_workers && out->worker_count > out->max_workers)
		out->worker_count = out->max_workers;
	if (!out->min_workers)
		out->min_workers =
		    out->enable_dynamic_scaling ? 1 : out->worker_count;
	if (out->min_workers > out->worker_count)
		out->worker_count = out->min_workers;
	if (!out->max_workers)
		out->max_workers = out->worker_count;
	/* A pool that discards a process per task wants one ready for
	 * each worker; one that keeps its workers, none. */
	if (!out->spare_workers)
		out->spare_workers = out->isolation == POOL_ISOLATE_TASK
					 ? out->worker_count
					 : 0;
	if (out->spare_workers < 0)
		out->spare_workers = 0;
	if (!out->queue_size)
		out->queue_size = 65536;
	if (!out->worker_idle_timeout)
		out->worker_idle_timeout = 30000;
	if (!out->max_in_flight)
		out->max_in_flight = 256;
	/* Both parts are mapped in each worker and count toward its
	 * address space: under a small rlimit_as the default gives way.
	 * A per-task worker carries one payload and is gone, so no page of
	 * its arena is ever reused: a large payload is cheaper there as a
	 * memfd (the kernel's copy) than on fresh shared pages. */
	if (!out->arena_size) {
		out->arena_size = out->isolation == POOL_ISOLATE_TASK
				      ? PP_ARENA_PER_TASK
				      : PP_ARENA_DEFAULT;
		if (out->rlimit_as && out->rlimit_as / 8 < out->arena_size)
			out->arena_size = out->rlimit_as / 8 < PP_ARENA_MIN
					      ? PP_ARENA_MIN
					      : out->rlimit_as / 8;
	}
	out->arena_size = (out->arena_size + 4095) & ~(size_t)4095;
	if (!out->max_output_size)
		out->max_output_size = (size_t)1 << 30;
	if (!out->max_input_size)
		out->max_input_size = (size_t)1 << 30;
	if (!out->worker_output_rate)
		out->worker_output_rate = PP_OUTPUT_RATE_DEFAULT;
	if (!out->worker_init_timeout_ms)
		out->worker_init_timeout_ms = 60000;
	if (!out->timeout_grace_ms)
		out->timeout_grace_ms = 1000;
	if (!out->restart_grace_ms)
		out->restart_grace_ms = PP_RESTART_GRACE_MS;
	if (!out->min_worker_age_ms)
		out->min_worker_age_ms = 1000;
	if (!out->health_check_interval_ms)
		out->health_check_interval_ms = PP_HEALTH_INTERVAL_MS;
	if (!out->health_check_timeout_ms)
		out->health_check_timeout_ms = PP_HEALTH_TIMEOUT_MS;
	if (!out->pool_name[0])
		snprintf(out->pool_name, sizeof(out->pool_name), "pool");
	/* By default a fork-mode pool that runs a process per task gets a
	 * zygote: there spawning is the cost that matters, and its workers
	 * are copies of the host's image either way. A clean-room zygote
	 * trades the per-worker ASLR draw away: asked for, never implied.
	 * The environment can turn the zygote on for every pool (to run a
	 * program's tests with it), never off. */
	if (!out->zygote)
		out->zygote = (out->isolation == POOL_ISOLATE_TASK &&
			       out->spawn_mode != POOL_SPAWN_CLEANROOM) ||
			      (getenv("PROCESS_POOL_ZYGOTE") &&
			       !strcmp(getenv("PROCESS_POOL_ZYGOTE"), "1"));
	else if (out->zygote < 0)
		out->zygote = 0;
	return resolve_ids(in, out, why, why_len);
}
