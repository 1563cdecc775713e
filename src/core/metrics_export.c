/*
 * Metrics in the formats monitoring speaks; see metrics_export.h and the
 * README's "Metrics". Names follow Prometheus conventions: processpool_
 * prefix, base units in the name (seconds, bytes), counters end _total,
 * every sample carries pool="NAME". The JSON has the same figures in
 * their native units (microseconds, bytes), one schema.
 */
#include "src/core/metrics_export.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/core/pool_internal.h"

/* An append-only text buffer with a sticky error. */
struct mbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void put(struct mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = POOL_EINVAL;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 16384;
			char *q;

			while (cap - b->len <= (size_t)n)
				cap *= 2;
			q = realloc(b->p, cap);
			if (!q) {
				b->err = POOL_ENOMEM;
				return;
			}
			b->p = q;
			b->cap = cap;
		}
	}
}

/* The pool's name as a label value (json 0) or a JSON string (json 1):
 * backslash, quote and newline escaped; other control characters are
 * \u00XX in JSON and '?' in a label, which has no escape for them. */
static void escaped(struct mbuf *b, const char *s, int json)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			put(b, "\\%c", c);
		else if (c == '\n')
			put(b, "\\n");
		else if ((c < 0x20 || c == 0x7f) && json)
			put(b, "\\u%04x", c);
		else if (c < 0x20 || c == 0x7f)
			put(b, "?");
		else
			put(b, "%c", c);
	}
}

/* Everything a rendering needs, read once. */
struct snap {
	const char *name;
	pool_stats_t st;
	pool_health_t health;
	pool_worker_info_t *workers;
	int n_workers;
	pool_resource_usage_t host;
	int host_ok;
	pool_latency_histogram_t total;
	pool_latency_histogram_t queue[TASK_PRIORITY_COUNT];
	pool_latency_histogram_t run[TASK_PRIORITY_COUNT];
	int min_workers, max_workers;
};

static const char *const prio_names[TASK_PRIORITY_COUNT] = {"low", "normal",
							    "high", "critical"};

/* Outcomes as (lower-case) label values, by task_status_t. */
static const char *const status_names[TASK_STATUS_COUNT] = {
    NULL,
    "completed",
    "failed",
    "timeout",
    "cancelled",
    "crashed",
    "sandbox_violation",
    "resource_limit",
    "protocol_error",
    "rejected",
};

static const struct {
	unsigned bit;
	const char *name;
} reasons[] = {
    {POOL_HEALTH_NOT_RUNNING, "not_running"},
    {POOL_HEALTH_NO_WORKERS, "no_workers"},
    {POOL_HEALTH_BELOW_MIN, "below_min"},
    {POOL_HEALTH_CRASH_BACKOFF, "crash_backoff"},
    {POOL_HEALTH_QUEUE_SATURATED, "queue_saturated"},
    {POOL_HEALTH_SPAWN_FAILING, "spawn_failing"},
    {POOL_HEALTH_UNRESPONSIVE, "unresponsive"},
};

static const struct {
	unsigned bit;
	const char *name;
} limits[] = {
    {POOL_LIMIT_MEMORY, "memory"},
    {POOL_LIMIT_PIDS, "pids"},
    {POOL_LIMIT_CPU, "cpu"},
};

static uint64_t outcome(const pool_stats_t *s, int status)
{
	switch (status) {
	case TASK_STATUS_COMPLETED:
		return s->tasks_completed;
	case TASK_STATUS_FAILED:
		return s->tasks_failed;
	case TASK_STATUS_TIMEOUT:
		return s->tasks_timed_out;
	case TASK_STATUS_CANCELLED:
		return s->tasks_cancelled;
	case TASK_STATUS_CRASHED:
		return s->tasks_crashed;
	case TASK_STATUS_SANDBOX_VIOLATION:
		return s->tasks_sandbox_violation;
	case TASK_STATUS_RESOURCE_LIMIT:
		return s->tasks_resource_limit;
	case TASK_STATUS_PROTOCOL_ERROR:
		return s->tasks_protocol_error;
	case TASK_STATUS_REJECTED:
		return s->tasks_rejected;
	}
	return 0;
}

static int gather(process_pool_t *pool, struct snap *s)
{
	int p;

	memset(s, 0, sizeof(*s));
	s->name = pool->cfg.pool_name;
	s->min_workers = pool->cfg.min_workers;
	s->max_workers = pool->cfg.max_workers;
	/* Room for the spares' entries too. */
	s->workers = calloc((size_t)pool->n_slots, sizeof(*s->workers));
	if (!s->workers)
		return POOL_ENOMEM;
	pool_get_stats(pool, &s->st);
	pool_health(pool, &s->health);
	s->n_workers = pool_get_workers(pool, s->workers, (size_t)pool->n_slots);
	if (s->n_workers < 0)
		s->n_workers = 0;
	s->host_ok = !pool_get_host_usage(&s->host);
	pool_get_latency(pool, POOL_LATENCY_TOTAL, POOL_PRIORITY_ALL,
			 &s->total);
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		pool_get_latency(pool, POOL_LATENCY_QUEUE, p, &s->queue[p]);
		pool_get_latency(pool, POOL_LATENCY_RUN, p, &s->run[p]);
	}
	return 0;
}

/* ---- Prometheus text exposition ---------------------------------------- */

static void head(struct mbuf *b, const char *name, const char *type,
		 const char *help)
{
	put(b, "# HELP processpool_%s %s\n# TYPE processpool_%s %s\n", name,
	    help, name, type);
}

/* name{pool="P"[,extra]} */
static void sample_start(struct mbuf *b, const struct snap *s, const char *name,
			 const char *extra)
{
	put(b, "processpool_%s{pool=\"", name);
	escaped(b, s->name, 0);
	put(b, "\"%s%s}", extra ? "," : "", extra ? extra : "");
}

static void gauge_u(struct mbuf *b, const struct snap *s, const char *name,
		    const char *extra, uint64_t v)
{
	sample_start(b, s, name, extra);
	put(b, " %llu\n", (unsigned long long)v);
}

static void gauge_d(struct mbuf *b, const struct snap *s, const char *name,
		    const char *extra, double v)
{
	sample_start(b, s, name, extra);
	put(b, " %.9g\n", v);
}

static void family_u(struct mbuf *b, const struct snap *s, const char *name,
		     const char *type, const char *help, uint64_t v)
{
	head(b, name, type, help);
	gauge_u(b, s, name, NULL, v);
}

static void histogram(struct mbuf *b, const struct snap *s, const char *name,
		      const char *extra, const pool_latency_histogram_t *h)
{
	char lab[96], full[128];
	int i;

	snprintf(full, sizeof(full), "%s_bucket", name);
	for (i = 0; i < POOL_LATENCY_BUCKETS; i++) {
		snprintf(lab, sizeof(lab), "%s%sle=\"%.9g\"",
			 extra ? extra : "", extra ? "," : "",
			 (double)(1ull << i) / 1e6);
		gauge_u(b, s, full, lab, h->le_us[i]);
	}
	snprintf(lab, sizeof(lab), "%s%sle=\"+Inf\"", extra ? extra : "",
		 extra ? "," : "");
	gauge_u(b, s, full, lab, h->count);
	snprintf(full, sizeof(full), "%s_sum", name);
	gauge_d(b, s, full, extra, (double)h->sum_us / 1e6);
	snprintf(full, sizeof(full), "%s_count", name);
	gauge_u(b, s, full, extra, h->count);
}

/* One per-worker gauge or counter family, a sample per worker. */
#define PER_WORKER(b, s, name, type, help, expr)                               \
	do {                                                                   \
		int i_;                                                        \
		head(b, name, type, help);                                     \
		for (i_ = 0; i_ < (s)->n_workers; i_++) {                      \
			const pool_worker_info_t *w = &(s)->workers[i_];       \
			char l_[32];                                           \
			snprintf(l_, sizeof(l_), "slot=\"%d\"", w->slot);      \
			gauge_d(b, s, name, l_, (double)(expr));               \
		}                                                              \
	} while (0)

static void usage_families(struct mbuf *b, const struct snap *s)
{
	int i;

	PER_WORKER(b, s, "worker_pid", "gauge", "Process id of the worker.",
		   w->pid);
	PER_WORKER(b, s, "worker_busy", "gauge",
		   "1 while the worker holds tasks.", w->busy);
	PER_WORKER(b, s, "worker_tasks_total", "counter",
		   "Tasks the worker's current process finished.",
		   w->tasks_done);
	PER_WORKER(b, s, "worker_restarts_total", "counter",
		   "Processes the slot had after its first.", w->restarts);
	PER_WORKER(b, s, "worker_age_seconds", "gauge",
		   "Time since the worker's process started.",
		   w->usage.age_ms / 1e3);
	head(b, "worker_cpu_seconds_total", "counter",
	     "CPU time of the worker's process, by mode.");
	for (i = 0; i < s->n_workers; i++) {
		const pool_worker_info_t *w = &s->workers[i];
		char l[48];

		snprintf(l, sizeof(l), "slot=\"%d\",mode=\"user\"", w->slot);
		gauge_d(b, s, "worker_cpu_seconds_total", l,
			w->usage.cpu_user_us / 1e6);
		snprintf(l, sizeof(l), "slot=\"%d\",mode=\"system\"", w->slot);
		gauge_d(b, s, "worker_cpu_seconds_total", l,
			w->usage.cpu_system_us / 1e6);
	}
	PER_WORKER(b, s, "worker_resident_memory_bytes", "gauge",
		   "Resident memory of the worker (VmRSS).",
		   w->usage.rss_bytes);
	PER_WORKER(b, s, "worker_resident_memory_peak_bytes", "gauge",
		   "Peak resident memory of the worker (VmHWM).",
		   w->usage.peak_rss_bytes);
	PER_WORKER(b, s, "worker_open_fds", "gauge",
		   "Open file descriptors of the worker (-1: unreadable).",
		   w->usage.open_fds);
	PER_WORKER(b, s, "worker_threads", "gauge",
		   "Threads of the worker's process.", w->usage.threads);
	head(b, "worker_context_switches_total", "counter",
	     "Context switches of the worker, voluntary or involuntary.");
	for (i = 0; i < s->n_workers; i++) {
		const pool_worker_info_t *w = &s->workers[i];
		char l[48];

		snprintf(l, sizeof(l), "slot=\"%d\",kind=\"voluntary\"",
			 w->slot);
		gauge_u(b, s, "worker_context_switches_total", l,
			w->usage.ctx_switches_voluntary);
		snprintf(l, sizeof(l), "slot=\"%d\",kind=\"involuntary\"",
			 w->slot);
		gauge_u(b, s, "worker_context_switches_total", l,
			w->usage.ctx_switches_involuntary);
	}
	PER_WORKER(b, s, "worker_cgroup_memory_bytes", "gauge",
		   "memory.current of the worker's cgroup leaf (0: none).",
		   w->usage.cg_memory_current);
	PER_WORKER(b, s, "worker_cgroup_memory_peak_bytes", "gauge",
		   "memory.peak of the worker's cgroup leaf (0: none).",
		   w->usage.cg_memory_peak);
	PER_WORKER(b, s, "worker_cgroup_oom_kills_total", "counter",
		   "OOM kills in the worker's cgroup leaf.",
		   w->usage.cg_oom_kills);
	PER_WORKER(b, s, "worker_cgroup_memory_max_events_total", "counter",
		   "Times the worker's leaf reached memory.max.",
		   w->usage.cg_memory_max_hits);
	PER_WORKER(b, s, "worker_cgroup_pids", "gauge",
		   "pids.current of the worker's cgroup leaf (0: none).",
		   w->usage.cg_pids_current);
}

static void host_families(struct mbuf *b, const struct snap *s)
{
	const pool_resource_usage_t *h = &s->host;

	if (!s->host_ok)
		return;
	head(b, "host_cpu_seconds_total", "counter",
	     "CPU time of the pool's host process, by mode.");
	gauge_d(b, s, "host_cpu_seconds_total", "mode=\"user\"",
		h->cpu_user_us / 1e6);
	gauge_d(b, s, "host_cpu_seconds_total", "mode=\"system\"",
		h->cpu_system_us / 1e6);
	family_u(b, s, "host_resident_memory_bytes", "gauge",
		 "Resident memory of the host process.", h->rss_bytes);
	family_u(b, s, "host_resident_memory_peak_bytes", "gauge",
		 "Peak resident memory of the host process.",
		 h->peak_rss_bytes);
	head(b, "host_open_fds", "gauge",
	     "Open file descriptors of the host process.");
	gauge_d(b, s, "host_open_fds", NULL, (double)h->open_fds);
	family_u(b, s, "host_threads", "gauge", "Threads of the host process.",
		 (uint64_t)h->threads);
}

static void render_prometheus(struct mbuf *b, const struct snap *s)
{
	const pool_stats_t *st = &s->st;
	char l[64];
	size_t i;
	int p;

	family_u(b, s, "tasks_submitted_total", "counter",
		 "Tasks accepted by a submit.", st->tasks_submitted);
	head(b, "tasks_total", "counter", "Tasks ended, by outcome.");
	for (p = 1; p < TASK_STATUS_COUNT; p++) {
		snprintf(l, sizeof(l), "status=\"%s\"", status_names[p]);
		gauge_u(b, s, "tasks_total", l, outcome(st, p));
	}
	family_u(b, s, "tasks_retried_total", "counter",
		 "Re-runs of tasks whose worker crashed.", st->tasks_retried);
	family_u(b, s, "workers_restarted_total", "counter",
		 "Workers replaced, all slots.", st->worker_restarts);
	family_u(b, s, "workers_unresponsive_total", "counter",
		 "Workers replaced for failing a health check.",
		 s->health.unresponsive_total);
	family_u(b, s, "supervisor_loops_total", "counter",
		 "Turns of the supervisor's loop.", st->supervisor_loops);
	family_u(b, s, "workers_alive", "gauge", "Workers alive.",
		 (uint64_t)st->active_workers);
	family_u(b, s, "workers_busy", "gauge", "Workers holding tasks.",
		 (uint64_t)st->busy_workers);
	family_u(b, s, "workers_spare", "gauge",
		 "Spare workers alive (not in workers_alive).",
		 (uint64_t)st->spare_workers);
	family_u(b, s, "spares_used_total", "counter",
		 "Spares that replaced a worker.", st->spares_used);
	family_u(b, s, "workers_min", "gauge", "The configured minimum.",
		 (uint64_t)s->min_workers);
	family_u(b, s, "workers_max", "gauge", "The configured maximum.",
		 (uint64_t)s->max_workers);
	family_u(b, s, "queue_capacity_tasks", "gauge",
		 "Tasks the queue accepts (queue_size).",
		 (uint64_t)s->health.queue_size);
	head(b, "queue_tasks", "gauge",
	     "Accepted tasks not yet on a worker, by priority.");
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		snprintf(l, sizeof(l), "priority=\"%s\"", prio_names[p]);
		gauge_u(b, s, "queue_tasks", l, st->queue_depth_by_priority[p]);
	}
	family_u(b, s, "health_state", "gauge",
		 "0 ready, 1 degraded (serving), 2 failing.",
		 (uint64_t)s->health.state);
	head(b, "health_reason", "gauge",
	     "1 while the reason holds (pool_health).");
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(l, sizeof(l), "reason=\"%s\"", reasons[i].name);
		gauge_u(b, s, "health_reason", l,
			!!(s->health.reasons & reasons[i].bit));
	}
	family_u(b, s, "cgroups_enabled", "gauge",
		 "1 when workers run in cgroup leaves of their own.",
		 (uint64_t)st->cgroups);
	head(b, "limit_in_force", "gauge",
	     "1 when the cgroup limit applies to every worker.");
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		snprintf(l, sizeof(l), "limit=\"%s\"", limits[i].name);
		gauge_u(b, s, "limit_in_force", l,
			!!(st->limits_in_force & limits[i].bit));
	}
	head(b, "task_latency_seconds", "histogram",
	     "Submit until outcome, every task.");
	histogram(b, s, "task_latency_seconds", NULL, &s->total);
	head(b, "task_queue_wait_seconds", "histogram",
	     "Submit until handed to a worker, by submitted priority.");
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		snprintf(l, sizeof(l), "priority=\"%s\"", prio_names[p]);
		histogram(b, s, "task_queue_wait_seconds", l, &s->queue[p]);
	}
	head(b, "task_run_seconds", "histogram",
	     "Handed to a worker until outcome, by submitted priority.");
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		snprintf(l, sizeof(l), "priority=\"%s\"", prio_names[p]);
		histogram(b, s, "task_run_seconds", l, &s->run[p]);
	}
	usage_families(b, s);
	host_families(b, s);
}

/* ---- JSON ------------------------------------------------------------ */

static void json_hist(struct mbuf *b, const pool_latency_histogram_t *h)
{
	int i;

	put(b, "{\"count\":%llu,\"sum_us\":%llu,\"max_us\":%llu,\"le\":[",
	    (unsigned long long)h->count, (unsigned long long)h->sum_us,
	    (unsigned long long)h->max_us);
	for (i = 0; i < POOL_LATENCY_BUCKETS; i++)
		put(b, "%s%llu", i ? "," : "", (unsigned long long)h->le_us[i]);
	put(b, "]}");
}

static void json_usage(struct mbuf *b, const pool_resource_usage_t *u)
{
	put(b,
	    "{\"source\":[%s%s%s],\"cpu_user_us\":%llu,"
	    "\"cpu_system_us\":%llu,\"rss_bytes\":%llu,"
	    "\"peak_rss_bytes\":%llu,\"open_fds\":%lld,"
	    "\"ctx_switches_voluntary\":%llu,"
	    "\"ctx_switches_involuntary\":%llu,\"age_ms\":%llu,"
	    "\"threads\":%d",
	    u->source & POOL_USAGE_PROC ? "\"proc\"" : "",
	    (u->source & POOL_USAGE_PROC) && (u->source & POOL_USAGE_CGROUP)
		? ","
		: "",
	    u->source & POOL_USAGE_CGROUP ? "\"cgroup\"" : "",
	    (unsigned long long)u->cpu_user_us,
	    (unsigned long long)u->cpu_system_us,
	    (unsigned long long)u->rss_bytes,
	    (unsigned long long)u->peak_rss_bytes, (long long)u->open_fds,
	    (unsigned long long)u->ctx_switches_voluntary,
	    (unsigned long long)u->ctx_switches_involuntary,
	    (unsigned long long)u->age_ms, u->threads);
	if (u->source & POOL_USAGE_CGROUP)
		put(b,
		    ",\"cgroup\":{\"memory_current_bytes\":%llu,"
		    "\"memory_peak_bytes\":%llu,\"memory_max_events\":%llu,"
		    "\"oom_kills\":%llu,\"pids_current\":%llu,"
		    "\"cpu_us\":%llu}",
		    (unsigned long long)u->cg_memory_current,
		    (unsigned long long)u->cg_memory_peak,
		    (unsigned long long)u->cg_memory_max_hits,
		    (unsigned long long)u->cg_oom_kills,
		    (unsigned long long)u->cg_pids_current,
		    (unsigned long long)u->cg_cpu_us);
	put(b, "}");
}

static void json_by_prio(struct mbuf *b, const pool_latency_histogram_t *h)
{
	int p;

	put(b, "{");
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		put(b, "%s\"%s\":", p ? "," : "", prio_names[p]);
		json_hist(b, &h[p]);
	}
	put(b, "}");
}

static void render_json(struct mbuf *b, const struct snap *s)
{
	static const char *const states[] = {"ready", "degraded", "failing"};
	const pool_stats_t *st = &s->st;
	struct timespec now;
	size_t i;
	int p, first;

	clock_gettime(CLOCK_REALTIME, &now);
	put(b, "{\"schema\":\"processpool.metrics/1\",\"pool\":\"");
	escaped(b, s->name, 1);
	put(b, "\",\"time_unix_ms\":%lld,",
	    (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	put(b, "\"health\":{\"state\":\"%s\",\"reasons\":[",
	    states[s->health.state <= 2 ? s->health.state : 2]);
	for (i = 0, first = 1; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (s->health.reasons & reasons[i].bit) {
			put(b, "%s\"%s\"", first ? "" : ",", reasons[i].name);
			first = 0;
		}
	put(b, "]},\"tasks\":{\"submitted\":%llu,\"retried\":%llu",
	    (unsigned long long)st->tasks_submitted,
	    (unsigned long long)st->tasks_retried);
	for (p = 1; p < TASK_STATUS_COUNT; p++)
		put(b, ",\"%s\":%llu", status_names[p],
		    (unsigned long long)outcome(st, p));
	put(b,
	    "},\"workers\":{\"alive\":%d,\"busy\":%d,\"min\":%d,\"max\":%d,"
	    "\"wanted\":%d,\"restarts\":%llu,\"unresponsive\":%llu,"
	    "\"spare\":%d,\"spares_used\":%llu},",
	    st->active_workers, st->busy_workers, s->min_workers,
	    s->max_workers, s->health.wanted_workers,
	    (unsigned long long)st->worker_restarts,
	    (unsigned long long)s->health.unresponsive_total,
	    st->spare_workers, (unsigned long long)st->spares_used);
	put(b, "\"queue\":{\"depth\":%zu,\"capacity\":%zu,\"by_priority\":{",
	    st->queue_depth, s->health.queue_size);
	for (p = 0; p < TASK_PRIORITY_COUNT; p++)
		put(b, "%s\"%s\":%zu", p ? "," : "", prio_names[p],
		    st->queue_depth_by_priority[p]);
	put(b, "}},\"supervisor_loops\":%llu,",
	    (unsigned long long)st->supervisor_loops);
	put(b,
	    "\"latency\":{\"p50_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,"
	    "\"max_us\":%llu,\"bucket_le_us\":[",
	    (unsigned long long)st->latency_p50_us,
	    (unsigned long long)st->latency_p99_us,
	    (unsigned long long)st->latency_p999_us,
	    (unsigned long long)st->latency_max_us);
	for (p = 0; p < POOL_LATENCY_BUCKETS; p++)
		put(b, "%s%llu", p ? "," : "", 1ull << p);
	put(b, "],\"total\":");
	json_hist(b, &s->total);
	put(b, ",\"queue_wait\":");
	json_by_prio(b, s->queue);
	put(b, ",\"run\":");
	json_by_prio(b, s->run);
	put(b, "},\"cgroups\":{\"enabled\":%s,\"limits_in_force\":[",
	    st->cgroups ? "true" : "false");
	for (i = 0, first = 1; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (st->limits_in_force & limits[i].bit) {
			put(b, "%s\"%s\"", first ? "" : ",", limits[i].name);
			first = 0;
		}
	put(b, "]},\"worker_list\":[");
	for (p = 0; p < s->n_workers; p++) {
		const pool_worker_info_t *w = &s->workers[p];

		put(b,
		    "%s{\"slot\":%d,\"pid\":%d,\"cpu\":%d,\"numa_node\":%d,"
		    "\"busy\":%s,\"spare\":%s,\"tasks_done\":%llu,"
		    "\"restarts\":%llu,\"usage\":",
		    p ? "," : "", w->slot, w->pid, w->cpu, w->numa_node,
		    w->busy ? "true" : "false", w->spare ? "true" : "false",
		    (unsigned long long)w->tasks_done,
		    (unsigned long long)w->restarts);
		json_usage(b, &w->usage);
		put(b, "}");
	}
	put(b, "],\"host\":");
	if (s->host_ok)
		json_usage(b, &s->host);
	else
		put(b, "null");
	put(b, "}\n");
}

int pp_metrics_render(process_pool_t *pool, int format, char **out, size_t *len)
{
	struct mbuf b = {0};
	struct snap s;
	int err;

	if (format != POOL_METRICS_PROMETHEUS && format != POOL_METRICS_JSON)
		return POOL_EINVAL;
	err = gather(pool, &s);
	if (err)
		return err;
	if (format == POOL_METRICS_PROMETHEUS)
		render_prometheus(&b, &s);
	else
		render_json(&b, &s);
	free(s.workers);
	if (!b.err && !b.p)
		put(&b, "%s", "");
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* All of buf to fd; a non-blocking fd is waited on (poll), up to 5 s
 * without progress. Returns 0 or a POOL_E* code. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int r = poll(&pfd, 1, 5000);

			if (r == 0)
				return POOL_ETIMEDOUT;
			if (r < 0 && errno != EINTR)
				return POOL_ESYS;
			continue;
		}
		if (n <= 0)
			return POOL_ESYS;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int pool_metrics_write(process_pool_t *pool, int fd, int format)
{
	size_t len;
	char *text;
	int err;

	if (!pool || fd < 0)
		return POOL_EINVAL;
	err = pp_metrics_render(pool, format, &text, &len);
	if (err)
		return err;
	err = write_all(fd, text, len);
	free(text);
	if (err)
		return err;
	return len > (size_t)INT32_MAX ? INT32_MAX : (int)len;
}
