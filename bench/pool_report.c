/* pool_bench's output: settings, tables, and the JSON object. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/pool_bench.h"
#include "process_pool.h"

static const struct pb_payload payload_defaults[PB_NPAYLOADS] = {
    {.size = 4 * 1024, .label = "4 KiB", .key = "4kib"},
    {.size = 64 * 1024, .label = "64 KiB", .key = "64kib"},
    {.size = 1024 * 1024, .label = "1 MiB", .key = "1mib"},
    {.size = 16 * 1024 * 1024, .label = "16 MiB", .key = "16mib"},
    {.size = 256 * 1024 * 1024, .label = "256 MiB", .key = "256mib"},
};

void pb_results_init(struct pb_results *res)
{
	int i;

	memset(res, 0, sizeof(*res));
	peer_result_init(&res->pool);
	res->pool.ran = true;
	snprintf(res->pool.note, sizeof(res->pool.note), "processpool %s",
		 pool_version());
	res->unbatched_csw = NAN;
	res->unbatched_cpu_us = NAN;
	res->map_tps = res->map_csw = res->map_cpu_us = NAN;
	for (i = 0; i < PB_NPAYLOADS; i++) {
		res->payload[i] = payload_defaults[i];
		res->payload[i].pool_gbps = NAN;
		res->payload[i].memcpy_gbps = NAN;
		res->payload[i].inplace_gbps = NAN;
		res->payload[i].inplace_p50_us = NAN;
		res->payload[i].lat = (struct bu_pct){NAN, NAN, NAN, NAN};
		res->payload[i].parent_peak_kib = -1;
		res->payload[i].worker_peak_kib = -1;
	}
	res->parent_base_rss_kib = -1;
	res->parent_started_rss_kib = -1;
	res->parent_rss_kib = -1;
	res->worker_rss_kib = -1;
	res->idle_cpu_percent = NAN;
	res->idle_wakeups_per_s = NAN;
	res->scale_up_4_ms = NAN;
	res->dyn_scale_up_4_ms = NAN;
	res->scale_up_4_unconfined_ms = NAN;
	res->sync_unconfined.p50 = res->sync_unconfined.p99 = NAN;
	res->spawn_4_fork_ms = res->spawn_4_cleanroom_ms = NAN;
	res->stop_4_ms = NAN;
	peer_contended_init(&res->contended, "not selected");
	peer_contended_init(&res->pipe_contended, "not selected");
	peer_contended_init(&res->python_contended, "not selected");
	peer_contended_init(&res->mixed, "not selected");
	res->async_queue_alone = (struct bu_pct){NAN, NAN, NAN, NAN};
	res->async_queue_mixed = res->async_queue_alone;
	peer_result_init(&res->pipe);
	peer_result_init(&res->zmq);
	peer_result_init(&res->python);
	peer_result_init(&res->futex);
	peer_result_init(&res->spin);
	/* Each peer that runs replaces this. */
	peer_fail(&res->pipe, "not selected");
	peer_fail(&res->zmq, "not selected");
	peer_fail(&res->python, "not selected");
	peer_fail(&res->futex, "not selected");
	peer_fail(&res->spin, "not selected");
}

void pb_print_settings(const struct pb_opts *o)
{
	printf("mode:     %s\n", o->quick ? "--quick" : "full");
	printf("workers:  %d in every pool (online CPUs unless --workers)\n",
	       o->workers);
	printf(
	    "no-op:    streams of %" PRIu64 " tasks, repeated for at "
	    "least %.1f s (after one warm-up\n"
	    "          stream of a tenth); batched: pool_submit_batch of "
	    "%" PRIu64 ", wait all, repeat;\n"
	    "          unbatched: pool_submit_async per task, waited %" PRIu64
	    " at a time\n",
	    o->tasks, (double)o->min_ns / 1e9, o->batch, o->batch);
	printf("sync:     %" PRIu64 " timed round trips after %" PRIu64
	       " warm-up, one client thread\n",
	       o->roundtrips, o->warmup);
	printf("payload:  echo task (pool_output_alloc), sync, %" PRIu64
	       "/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
	       " round trips of\n          4 KiB/64 KiB/1 MiB/16 MiB/256 MiB "
	       "after %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
	       "/%" PRIu64 " warm-up,\n          default config (arena 64 MiB; "
	       "larger than it, a sealed memfd)\n",
	       o->payload_iters[0], o->payload_iters[1], o->payload_iters[2],
	       o->payload_iters[3], o->payload_iters[4],
	       pb_payload_warmup(4 << 10), pb_payload_warmup(64 << 10),
	       pb_payload_warmup(1 << 20), pb_payload_warmup(16 << 20),
	       pb_payload_warmup((size_t)256 << 20));
	printf("idle:     %d s, CPU of parent (getrusage) + workers "
	       "(/proc/PID/stat)\n",
	       o->idle_s);
	printf("contended: %d workers; %d sync callers make %" PRIu64
	       " timed round trips in all, as\n"
	       "           their turns come; %d sync callers beside %" PRIu64
	       " async tasks (one at a\n"
	       "           time, each waited), which also run alone first\n",
	       PB_CONTENDED_WORKERS, PB_CONTENDED_CALLERS, o->roundtrips,
	       PB_MIXED_CALLERS, pb_async_tasks(o));
	printf("engine:   processpool %s, default config otherwise\n",
	       pool_version());
}

/* ---- text ---------------------------------------------------------- */

static const int main_widths[] = {22, 12, 12, 9, 9, 9, 9, 9, 9};

static void print_row(const struct bu_table *t, const char *name,
		      const struct peer_result *r)
{
	char c[8][24];
	const char *cells[9] = {name};

	cells[1] = bu_fmt(c[0], sizeof(c[0]), "%.0f", r->batched_tps);
	cells[2] = bu_fmt(c[1], sizeof(c[1]), "%.0f", r->unbatched_tps);
	cells[3] = bu_fmt(c[2], sizeof(c[2]), "%.1f", r->sync.p50);
	cells[4] = bu_fmt(c[3], sizeof(c[3]), "%.1f", r->sync.p99);
	cells[5] = bu_fmt(c[4], sizeof(c[4]), "%.1f", r->sync.p999);
	cells[6] = bu_fmt(c[5], sizeof(c[5]), "%.3f", r->batched_csw);
	cells[7] = bu_fmt(c[6], sizeof(c[6]), "%.2f", r->sync_csw);
	cells[8] = bu_fmt(c[7], sizeof(c[7]), "%.2f", r->batched_cpu_us);
	bu_table_row(t, cells);
}

/* The rows of the main table: the pool, then its peers. */
struct row {
	const char *name;
	const char *key;
	const struct peer_result *r;
};

static int rows_of(const struct pb_results *res, struct row *rows)
{
	const struct row all[] = {
	    {"processpool", "processpool", &res->pool},
	    {"fork+pipe pool", "pipe", &res->pipe},
	    {"ZeroMQ ipc pool", "zmq", &res->zmq},
	    {"Python ProcessPool", "python", &res->python},
	    {"floor: futex", "futex_floor", &res->futex},
	    {"floor: spin", "spin_floor", &res->spin},
	};

	memcpy(rows, all, sizeof(all));
	return (int)(sizeof(all) / sizeof(all[0]));
}

static void print_main_table(const struct pb_results *res)
{
	static const char *const titles[] = {
	    "pool",   "batched/s", "unbatched/s", "p50 us",
	    "p99 us", "p999 us",   "csw/t bat",	  "csw/t sync",
	    "CPU us/t",
	};
	struct bu_table t = {stdout, 9, main_widths};
	struct row rows[8];
	int i, n = rows_of(res, rows);

	printf("\n");
	bu_table_header(&t, titles);
	for (i = 0; i < n; i++)
		print_row(&t, rows[i].name, rows[i].r);
	printf("\nbatched/s: no-op tasks per second, batched or pipelined "
	       "(Python: map with a\nlarge chunksize); unbatched/s: one "
	       "submit per task, waited later; p50..p999:\nsync round trip "
	       "of one no-op task, one client thread; csw/t: context "
	       "switches\nper task of the client and all workers (every "
	       "thread), batched and sync runs;\nCPU us/t: CPU time per "
	       "task of the client and all workers, batched run.\n");
	for (i = 0; i < n; i++)
		if (rows[i].r->note[0])
			printf("  %-20s %s\n", rows[i].name, rows[i].r->note);
}

static void print_payload_table(const struct pb_results *res)
{
	static const char *const titles[] = {
	    "payload", "round trips", "pool GB/s",     "p50 us",
	    "p99 us",  "memcpy GB/s", "in-place GB/s", "in-place p50",
	};
	static const int widths[] = {8, 11, 9, 9, 9, 11, 13, 12};
	struct bu_table t = {stdout, 8, widths};
	char c[7][24];
	int i;

	printf("\n");
	bu_table_header(&t, titles);
	for (i = 0; i < PB_NPAYLOADS; i++) {
		const struct pb_payload *p = &res->payload[i];
		const char *cells[8] = {p->label};

		snprintf(c[0], sizeof(c[0]), "%" PRIu64, p->iters);
		cells[1] = c[0];
		cells[2] = bu_fmt(c[1], sizeof(c[1]), "%.2f", p->pool_gbps);
		cells[3] = bu_fmt(c[2], sizeof(c[2]), "%.1f", p->lat.p50);
		cells[4] = bu_fmt(c[3], sizeof(c[3]), "%.1f", p->lat.p99);
		cells[5] = bu_fmt(c[4], sizeof(c[4]), "%.2f", p->memcpy_gbps);
		cells[6] = bu_fmt(c[5], sizeof(c[5]), "%.2f", p->inplace_gbps);
		cells[7] =
		    bu_fmt(c[6], sizeof(c[6]), "%.1f", p->inplace_p50_us);
		bu_table_row(&t, cells);
	}
	printf("\npool GB/s: payload bytes / time of the sync call that "
	       "sends them and gets\nthem back (10^9 bytes); memcpy: one "
	       "copy of the same size, same run;\nin-place: the input "
	       "written into a pool_input_alloc buffer (alloc, write,\n"
	       "round trip timed; a tenth of the round trips).\n");
	for (i = 0; i < PB_NPAYLOADS; i++) {
		const struct pb_payload *p = &res->payload[i];

		if (p->parent_peak_kib < 0)
			continue;
		printf("peak RSS over the %s round trips: parent %ld KiB, "
		       "largest worker %ld KiB\n",
		       p->label, p->parent_peak_kib, p->worker_peak_kib);
	}
}

static double kib_or_nan(long kib)
{
	return kib < 0 ? NAN : (double)kib;
}

static void print_resources(const struct pb_results *res)
{
	char b[24], c[24], d[24], e[24], f[24], g[24], h[24], k[24], m[24];
	int i;
	double base = kib_or_nan(res->parent_base_rss_kib);

	printf("\nparent RSS:   %s KiB before the first pool; +%s KiB once it "
	       "ran (no task yet);\n              +%s KiB after the no-op runs "
	       "(their futures and buffers included)\n",
	       bu_fmt(h, sizeof(h), "%.0f", base),
	       bu_fmt(m, sizeof(m), "%.0f",
		      kib_or_nan(res->parent_started_rss_kib) - base),
	       bu_fmt(k, sizeof(k), "%.0f",
		      kib_or_nan(res->parent_rss_kib) - base));
	printf("worker RSS:   %s KiB  (VmRSS, largest worker; each:",
	       bu_fmt(b, sizeof(b), "%.0f", kib_or_nan(res->worker_rss_kib)));
	for (i = 0; i < res->n_worker_rss; i++)
		printf(" %ld", res->worker_rss_each_kib[i]);
	printf(")\n");
	printf("idle CPU:     %s %% of one CPU, %s wakeups/s "
	       "(parent + workers)\n",
	       bu_fmt(c, sizeof(c), "%.3f", res->idle_cpu_percent),
	       bu_fmt(d, sizeof(d), "%.1f", res->idle_wakeups_per_s));
	printf("scale up 4:   %s ms  (cold: pool_create + pool_start of 4 "
	       "workers until 4 tasks\n              ran at once on 4 "
	       "distinct workers; pool_destroy then took %s ms)\n",
	       bu_fmt(e, sizeof(e), "%.2f", res->scale_up_4_ms),
	       bu_fmt(g, sizeof(g), "%.2f", res->stop_4_ms));
	printf("dynamic +4:   %s ms  (enable_dynamic_scaling, 1 -> 5 "
	       "workers under load)\n",
	       bu_fmt(f, sizeof(f), "%.1f", res->dyn_scale_up_4_ms));
	printf("confinement:  scale up 4 %s ms unconfined vs %s ms confined; "
	       "sync p50 %s us\n              unconfined vs %s us confined, "
	       "p99 %s vs %s us (seccomp, caps, cgroup leaf)\n",
	       bu_fmt(e, sizeof(e), "%.2f", res->scale_up_4_unconfined_ms),
	       bu_fmt(g, sizeof(g), "%.2f", res->scale_up_4_ms),
	       bu_fmt(f, sizeof(f), "%.1f", res->sync_unconfined.p50),
	       bu_fmt(b, sizeof(b), "%.1f", res->pool.sync.p50),
	       bu_fmt(c, sizeof(c), "%.1f", res->sync_unconfined.p99),
	       bu_fmt(d, sizeof(d), "%.1f", res->pool.sync.p99));
	printf("spawn modes:  4 workers up and running a task: fork %s ms, "
	       "clean-room (exec) %s ms\n",
	       bu_fmt(e, sizeof(e), "%.2f", res->spawn_4_fork_ms),
	       bu_fmt(g, sizeof(g), "%.2f", res->spawn_4_cleanroom_ms));
}

static void contended_row(const struct bu_table *t, const char *name,
			  const struct peer_contended *c)
{
	char b[7][24];
	const char *cells[8] = {name};
	bool ok = c->ran;

	snprintf(b[0], sizeof(b[0]), "%d", c->callers);
	cells[1] = ok ? b[0] : "-";
	cells[2] = bu_fmt(b[1], sizeof(b[1]), "%.0f", ok ? c->tps : NAN);
	cells[3] = bu_fmt(b[2], sizeof(b[2]), "%.1f", ok ? c->lat.p50 : NAN);
	cells[4] = bu_fmt(b[3], sizeof(b[3]), "%.1f", ok ? c->lat.p99 : NAN);
	cells[5] = bu_fmt(b[4], sizeof(b[4]), "%.1f", ok ? c->lat.p999 : NAN);
	cells[6] = bu_fmt(b[5], sizeof(b[5]), "%.1f", ok ? c->lat.max : NAN);
	snprintf(b[6], sizeof(b[6]), "%llu/%llu", (unsigned long long)c->fewest,
		 (unsigned long long)c->most);
	cells[7] = ok ? b[6] : "-";
	bu_table_row(t, cells);
}

static void print_contended(const struct pb_results *res)
{
	static const char *const titles[] = {
	    "sync callers, 2 workers",
	    "callers",
	    "calls/s",
	    "p50 us",
	    "p99 us",
	    "p999 us",
	    "max us",
	    "fewest/most",
	};
	static const int widths[] = {26, 7, 9, 9, 9, 9, 9, 11};
	struct bu_table t = {stdout, 8, widths};
	const struct pb_results *r = res;
	const struct {
		const char *name;
		const struct peer_contended *c;
	} rows[] = {
	    {"processpool", &r->contended},
	    {"fork+pipe pool", &r->pipe_contended},
	    {"Python ProcessPool", &r->python_contended},
	    {"processpool, beside async", &r->mixed},
	};
	char a[3][24], m[3][24], beside[32];
	size_t i;

	printf("\n");
	bu_table_header(&t, titles);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		contended_row(&t, rows[i].name, rows[i].c);
	printf("\nOne no-op sync round trip per caller thread at a time; "
	       "calls/s: all callers\ntogether; fewest/most: timed round "
	       "trips of one caller. ZeroMQ and the floors\nhave no "
	       "equivalent (bench/README.md says why).\n");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("  %-26s %s\n", rows[i].name, rows[i].c->note);
	snprintf(beside, sizeof(beside),
		 "beside %d sync callers:", PB_MIXED_CALLERS);
	printf("\nasync queue wait (queue_us of %llu no-op tasks, one at a "
	       "time, each waited):\n"
	       "  %-23s p50 %s  p99 %s  max %s us\n"
	       "  %-23s p50 %s  p99 %s  max %s us\n",
	       (unsigned long long)r->async_tasks,
	       "alone:", bu_fmt(a[0], 24, "%.0f", r->async_queue_alone.p50),
	       bu_fmt(a[1], 24, "%.0f", r->async_queue_alone.p99),
	       bu_fmt(a[2], 24, "%.0f", r->async_queue_alone.max), beside,
	       bu_fmt(m[0], 24, "%.0f", r->async_queue_mixed.p50),
	       bu_fmt(m[1], 24, "%.0f", r->async_queue_mixed.p99),
	       bu_fmt(m[2], 24, "%.0f", r->async_queue_mixed.max));
}

static void print_observe(const struct pb_observe *ob)
{
	static const char *const what[3] = {"Prometheus text", "JSON",
					    "pool_get_workers"};
	int i;

	if (!ob->ran)
		return;
	printf("\nObservability (%llu batched tasks, %llu sync round trips "
	       "per round, best of 3):\n",
	       (unsigned long long)ob->tasks, (unsigned long long)ob->trips);
	printf("  batched      %10.0f tasks/s untraced, %10.0f with a no-op "
	       "span hook: %+.0f ns per task\n",
	       ob->batched_tps[0], ob->batched_tps[1],
	       1e9 / ob->batched_tps[1] - 1e9 / ob->batched_tps[0]);
	printf("  sync         %10.1f us untraced, %10.1f us with the hook: "
	       "%+.2f us per round trip\n",
	       ob->sync_us[0], ob->sync_us[1], ob->sync_us[1] - ob->sync_us[0]);
	printf("  scrape of a %d-worker pool (median, p90):\n",
	       ob->scrape_workers);
	for (i = 0; i < 3; i++)
		printf("    %-17s %8.2f ms %8.2f ms  %7d bytes\n", what[i],
		       ob->scrape_ms[i], ob->scrape_p90_ms[i],
		       i < 2 ? ob->scrape_bytes[i] : 0);
}

void pb_print_text(const struct pb_opts *o, const struct pb_results *res)
{
	unsigned main_rows = 1u << PB_BATCHED | 1u << PB_UNBATCHED |
			     1u << PB_SYNC | 1u << PB_PIPE | 1u << PB_ZMQ |
			     1u << PB_PYTHON | 1u << PB_FLOOR;

	if (o->sections & main_rows)
		print_main_table(res);
	if (pb_selected(o, PB_CONTENDED))
		print_contended(res);
	if (pb_selected(o, PB_PAYLOAD))
		print_payload_table(res);
	if (pb_selected(o, PB_RESOURCES) || pb_selected(o, PB_SCALE))
		print_resources(res);
	if (pb_selected(o, PB_OBSERVE))
		print_observe(&res->observe);
	if (pb_selected(o, PB_RESTART))
		pb_print_restart(res);
	if (pb_selected(o, PB_MAP))
		printf("\npool_map: %llu no-op tasks a stream, %.0f tasks/s, "
		       "%.3f CPU us/task, %.4f csw/task\n(CPU and context "
		       "switches: the client, every thread, and all "
		       "workers)\n",
		       (unsigned long long)res->map_tasks, res->map_tps,
		       res->map_cpu_us, res->map_csw);
}

/* ---- JSON ---------------------------------------------------------- */

static void json_settings(struct bu_json *j, const struct pb_opts *o,
			  const struct bu_machine *m)
{
	bu_json_str(j, "date", m->date);
	bu_json_str(j, "cpu_model", m->cpu_model);
	bu_json_int(j, "cpus_online", m->cpus_online);
	bu_json_int(j, "cpus_allowed", m->cpus_allowed);
	bu_json_str(j, "kernel", m->kernel);
	bu_json_str(j, "loadavg", m->loadavg);
	bu_json_str(j, "engine_version", pool_version());
	bu_json_bool(j, "quick", o->quick);
	bu_json_int(j, "workers", o->workers);
	bu_json_int(j, "tasks", (long long)o->tasks);
	bu_json_num(j, "min_stream_seconds", (double)o->min_ns / 1e9);
	bu_json_int(j, "batch", (long long)o->batch);
	bu_json_int(j, "roundtrips", (long long)o->roundtrips);
	bu_json_int(j, "warmup_roundtrips", (long long)o->warmup);
	bu_json_int(j, "idle_seconds", o->idle_s);
}

static void json_pool(struct bu_json *j, const struct pb_results *res)
{
	const struct peer_result *r = &res->pool;

	bu_json_num(j, "batched_tasks_per_s", r->batched_tps);
	bu_json_num(j, "unbatched_tasks_per_s", r->unbatched_tps);
	bu_json_num(j, "sync_p50_us", r->sync.p50);
	bu_json_num(j, "sync_p99_us", r->sync.p99);
	bu_json_num(j, "sync_p999_us", r->sync.p999);
	bu_json_num(j, "sync_max_us", r->sync.max);
	/* Short name: the batched run's figure. */
	bu_json_num(j, "ctx_switches_per_task", r->batched_csw);
	bu_json_num(j, "batched_ctx_switches_per_task", r->batched_csw);
	bu_json_num(j, "unbatched_ctx_switches_per_task", res->unbatched_csw);
	bu_json_num(j, "batched_cpu_us_per_task", r->batched_cpu_us);
	bu_json_num(j, "unbatched_cpu_us_per_task", res->unbatched_cpu_us);
	bu_json_num(j, "sync_ctx_switches_per_task", r->sync_csw);
	bu_json_num(j, "map_tasks", (double)res->map_tasks);
	bu_json_num(j, "map_tasks_per_s", res->map_tps);
	bu_json_num(j, "map_cpu_us_per_task", res->map_cpu_us);
	bu_json_num(j, "map_ctx_switches_per_task", res->map_csw);
}

static void json_payload(struct bu_json *j, const struct pb_results *res)
{
	char k[48];
	int i;

	for (i = 0; i < PB_NPAYLOADS; i++) {
		const struct pb_payload *p = &res->payload[i];

		snprintf(k, sizeof(k), "payload_%s_gbps", p->key);
		bu_json_num(j, k, p->pool_gbps);
		snprintf(k, sizeof(k), "payload_%s_p50_us", p->key);
		bu_json_num(j, k, p->lat.p50);
		snprintf(k, sizeof(k), "memcpy_%s_gbps", p->key);
		bu_json_num(j, k, p->memcpy_gbps);
		snprintf(k, sizeof(k), "payload_%s_inplace_gbps", p->key);
		bu_json_num(j, k, p->inplace_gbps);
		snprintf(k, sizeof(k), "payload_%s_inplace_p50_us", p->key);
		bu_json_num(j, k, p->inplace_p50_us);
		if (p->parent_peak_kib < 0)
			continue;
		snprintf(k, sizeof(k), "payload_%s_parent_peak_kib", p->key);
		bu_json_num(j, k, (double)p->parent_peak_kib);
		snprintf(k, sizeof(k), "payload_%s_worker_peak_kib", p->key);
		bu_json_num(j, k, (double)p->worker_peak_kib);
	}
}

static void json_resources(struct bu_json *j, const struct pb_results *res)
{
	int i;

	bu_json_num(j, "idle_cpu_percent", res->idle_cpu_percent);
	bu_json_num(j, "idle_wakeups_per_s", res->idle_wakeups_per_s);
	bu_json_num(j, "parent_rss_kib", kib_or_nan(res->parent_rss_kib));
	bu_json_num(j, "parent_base_rss_kib",
		    kib_or_nan(res->parent_base_rss_kib));
	bu_json_num(j, "parent_started_rss_kib",
		    kib_or_nan(res->parent_started_rss_kib));
	bu_json_num(j, "worker_rss_kib", kib_or_nan(res->worker_rss_kib));
	bu_json_obj_begin(j, "worker_rss_kib_each");
	for (i = 0; i < res->n_worker_rss; i++) {
		char key[16];

		snprintf(key, sizeof(key), "w%d", i);
		bu_json_num(j, key, kib_or_nan(res->worker_rss_each_kib[i]));
	}
	bu_json_obj_end(j);
	bu_json_num(j, "scale_up_4_ms", res->scale_up_4_ms);
	bu_json_str(j, "scale_up_4_method",
		    "cold: pool_create+pool_start of 4 workers until 4 "
		    "barrier tasks ran at once on 4 distinct workers");
	bu_json_num(j, "stop_4_ms", res->stop_4_ms);
	bu_json_num(j, "dyn_scale_up_4_ms", res->dyn_scale_up_4_ms);
	bu_json_num(j, "scale_up_4_unconfined_ms",
		    res->scale_up_4_unconfined_ms);
	bu_json_num(j, "sync_unconfined_p50_us", res->sync_unconfined.p50);
	bu_json_num(j, "sync_unconfined_p99_us", res->sync_unconfined.p99);
	bu_json_num(j, "spawn_4_fork_ms", res->spawn_4_fork_ms);
	bu_json_num(j, "spawn_4_cleanroom_ms", res->spawn_4_cleanroom_ms);
	bu_json_str(j, "spawn_4_method",
		    "pool_create+pool_start of 4 workers (max_in_flight 1) "
		    "until 4 tasks of 20 ms ran on 4 distinct workers, less "
		    "the 20 ms");
}

/* Which figures a peer has: the rest do not apply to it. */
enum { HAS_BATCHED = 1, HAS_UNBATCHED = 2, HAS_SYNC = 4 };

static void json_peer(struct bu_json *j, const char *key,
		      const struct peer_result *r, unsigned has)
{
	bu_json_obj_begin(j, key);
	bu_json_bool(j, "ran", r->ran);
	bu_json_str(j, "note", r->note);
	if (has & HAS_BATCHED) {
		bu_json_num(j, "batched_tasks_per_s", r->batched_tps);
		bu_json_num(j, "batched_ctx_switches_per_task", r->batched_csw);
		bu_json_num(j, "batched_cpu_us_per_task", r->batched_cpu_us);
	}
	if (has & HAS_UNBATCHED)
		bu_json_num(j, "unbatched_tasks_per_s", r->unbatched_tps);
	if (has & HAS_SYNC) {
		bu_json_num(j, "sync_p50_us", r->sync.p50);
		bu_json_num(j, "sync_p99_us", r->sync.p99);
		bu_json_num(j, "sync_p999_us", r->sync.p999);
		bu_json_num(j, "sync_max_us", r->sync.max);
		bu_json_num(j, "sync_ctx_switches_per_task", r->sync_csw);
	}
	bu_json_obj_end(j);
}

static void json_peers(struct bu_json *j, const struct pb_results *res)
{
	bu_json_obj_begin(j, "peers");
	json_peer(j, "pipe", &res->pipe, HAS_BATCHED | HAS_UNBATCHED | HAS_SYNC);
	json_peer(j, "zmq", &res->zmq, HAS_BATCHED | HAS_SYNC);
	json_peer(j, "python", &res->python,
		  HAS_BATCHED | HAS_UNBATCHED | HAS_SYNC);
	json_peer(j, "futex_floor", &res->futex, HAS_SYNC);
	json_peer(j, "spin_floor", &res->spin, HAS_SYNC);
	bu_json_obj_end(j);
}

static void json_callers(struct bu_json *j, const char *key,
			 const struct peer_contended *c)
{
	bool ok = c->ran;

	bu_json_obj_begin(j, key);
	bu_json_bool(j, "ran", ok);
	bu_json_str(j, "note", c->note);
	bu_json_int(j, "callers", c->callers);
	bu_json_int(j, "workers", c->workers);
	bu_json_num(j, "calls_per_s", ok ? c->tps : NAN);
	bu_json_num(j, "sync_p50_us", ok ? c->lat.p50 : NAN);
	bu_json_num(j, "sync_p99_us", ok ? c->lat.p99 : NAN);
	bu_json_num(j, "sync_p999_us", ok ? c->lat.p999 : NAN);
	bu_json_num(j, "sync_max_us", ok ? c->lat.max : NAN);
	bu_json_num(j, "roundtrips", ok ? (double)c->total : NAN);
	bu_json_num(j, "fewest_per_caller", ok ? (double)c->fewest : NAN);
	bu_json_num(j, "most_per_caller", ok ? (double)c->most : NAN);
	bu_json_obj_end(j);
}

static void json_contended(struct bu_json *j, const struct pb_results *res)
{
	bu_json_obj_begin(j, "contended");
	bu_json_int(j, "workers", PB_CONTENDED_WORKERS);
	json_callers(j, "processpool", &res->contended);
	json_callers(j, "pipe", &res->pipe_contended);
	json_callers(j, "python", &res->python_contended);
	json_callers(j, "mixed_sync", &res->mixed);
	bu_json_int(j, "async_tasks", (long long)res->async_tasks);
	bu_json_num(j, "async_queue_alone_p50_us", res->async_queue_alone.p50);
	bu_json_num(j, "async_queue_alone_p99_us", res->async_queue_alone.p99);
	bu_json_num(j, "async_queue_alone_max_us", res->async_queue_alone.max);
	bu_json_num(j, "async_queue_mixed_p50_us", res->async_queue_mixed.p50);
	bu_json_num(j, "async_queue_mixed_p99_us", res->async_queue_mixed.p99);
	bu_json_num(j, "async_queue_mixed_max_us", res->async_queue_mixed.max);
	bu_json_obj_end(j);
}

static void json_observe(struct bu_json *j, const struct pb_observe *ob)
{
	if (!ob->ran)
		return;
	bu_json_num(j, "observe_batched_tps_untraced", ob->batched_tps[0]);
	bu_json_num(j, "observe_batched_tps_traced", ob->batched_tps[1]);
	bu_json_num(j, "observe_sync_us_untraced", ob->sync_us[0]);
	bu_json_num(j, "observe_sync_us_traced", ob->sync_us[1]);
	bu_json_int(j, "observe_scrape_workers", ob->scrape_workers);
	bu_json_num(j, "observe_scrape_prometheus_ms", ob->scrape_ms[0]);
	bu_json_num(j, "observe_scrape_json_ms", ob->scrape_ms[1]);
	bu_json_num(j, "observe_get_workers_ms", ob->scrape_ms[2]);
	bu_json_int(j, "observe_scrape_prometheus_bytes", ob->scrape_bytes[0]);
	bu_json_int(j, "observe_scrape_json_bytes", ob->scrape_bytes[1]);
}

void pb_print_json(const struct pb_opts *o, const struct bu_machine *m,
		   const struct pb_results *res, bool ok)
{
	struct bu_json j;

	bu_json_begin(&j, stdout);
	json_settings(&j, o, m);
	json_pool(&j, res);
	json_payload(&j, res);
	json_resources(&j, res);
	json_contended(&j, res);
	json_peers(&j, res);
	json_observe(&j, &res->observe);
	if (pb_selected(o, PB_RESTART))
		pb_json_restart(&j, res);
	bu_json_bool(&j, "ok", ok);
	bu_json_end(&j);
}
