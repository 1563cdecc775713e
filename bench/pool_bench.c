/*
 * pool_bench - the pool against its peers, on the same no-op task and the
 * same machine, in one run (see bench/README.md).
 *
 * The pool: batched and unbatched throughput, sync round-trip latency,
 * payload round trips beside memcpy, RSS, idle CPU, the time to bring
 * 4 workers up, and sync callers contending for 2 workers (with the
 * peers that have an equivalent). The peers: a fork+pipe pool, a ZeroMQ
 * pool over ipc://, Python's ProcessPoolExecutor, and the futex and
 * busy-poll ping-pong floors. Every pool gets as many workers as there
 * are online CPUs, except in the contended section.
 *
 * Nothing outlives the run: each child is reaped on every path, and dies
 * with this process (PR_SET_PDEATHSIG) if it is killed. A watchdog thread
 * ends the whole run if one step hangs, which takes the children with it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/pool_bench.h"

#define MAX_COUNT (1ull << 32)

struct mode_defaults {
	uint64_t tasks;
	int64_t min_ns;
	uint64_t roundtrips;
	int idle_s;
	uint64_t payload_iters[PB_NPAYLOADS];
	int64_t memcpy_ns;
};

static const struct mode_defaults full_mode = {
    1000000, 2000000000, 50000, 10, {20000, 5000, 1000, 60, 8}, 300000000,
};

static const struct mode_defaults quick_mode = {
    100000, 300000000, 5000, 2, {2000, 500, 100, 10, 3}, 100000000,
};

static const char *const section_names[PB_NSECTIONS] = {
    [PB_BATCHED] = "batched",
    [PB_UNBATCHED] = "unbatched",
    [PB_SYNC] = "sync",
    [PB_RESOURCES] = "resources",
    [PB_PAYLOAD] = "payload",
    [PB_SCALE] = "scale",
    [PB_CONTENDED] = "contended",
    [PB_RESTART] = "restart",
    [PB_PIPE] = "pipe",
    [PB_ZMQ] = "zmq",
    [PB_PYTHON] = "python",
    [PB_FLOOR] = "floor",
    [PB_OBSERVE] = "observe",
    [PB_MAP] = "map",
    [PB_ISOLATION] = "isolation",
};

/* ---- watchdog ------------------------------------------------------ */

static _Atomic int64_t watch_deadline_ns;
static const char *_Atomic watch_what;

void pb_watchdog_arm(const char *what, int seconds)
{
	atomic_store(&watch_what, what);
	atomic_store(&watch_deadline_ns,
		     bu_now_ns() + (int64_t)seconds * 1000000000);
}

/* Exiting kills every child: they all carry PR_SET_PDEATHSIG. */
static void *watchdog_main(void *arg)
{
	const struct timespec second = {1, 0};
	int64_t deadline;

	(void)arg;
	for (;;) {
		nanosleep(&second, NULL);
		deadline = atomic_load(&watch_deadline_ns);
		if (deadline && bu_now_ns() > deadline) {
			fprintf(stderr, "pool_bench: %s hung; giving up\n",
				atomic_load(&watch_what));
			_exit(3);
		}
	}
	return NULL;
}

static int start_watchdog(void)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, watchdog_main, NULL);

	if (!err)
		pthread_detach(t);
	return -err;
}

/* ---- options ------------------------------------------------------- */

static void usage(FILE *f)
{
	int i;

	fprintf(f,
		"usage: pool_bench [--quick] [--json] [--only NAME[,NAME...]]\n"
		"                  [--tasks N] [--roundtrips N] [--idle S] "
		"[--workers N]\n"
		"  --quick         short run (%llu tasks, %llu round trips, "
		"%d s idle)\n"
		"  --json          print the figures as one JSON object\n"
		"  --only NAMES    run only these sections (comma-separated):\n"
		"                  ",
		(unsigned long long)quick_mode.tasks,
		(unsigned long long)quick_mode.roundtrips, quick_mode.idle_s);
	for (i = 0; i < PB_NSECTIONS; i++)
		fprintf(f, "%s%s", section_names[i],
			i + 1 == PB_NSECTIONS ? "\n"
			: i % 6 == 5	      ? ",\n                  "
					      : ", ");
	fprintf(f,
		"                  or pool (all of ours; contended brings its "
		"peer rows)\n"
		"                  or peers (all peers)\n"
		"  --tasks N       tasks per throughput run (default %llu)\n"
		"  --roundtrips N  timed sync round trips (default %llu)\n"
		"  --idle S        seconds of idle CPU measurement "
		"(default %d)\n"
		"  --workers N     workers per pool (default: online CPUs)\n",
		(unsigned long long)full_mode.tasks,
		(unsigned long long)full_mode.roundtrips, full_mode.idle_s);
}

static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static unsigned section_bits(const char *name)
{
	unsigned peers =
	    1u << PB_PIPE | 1u << PB_ZMQ | 1u << PB_PYTHON | 1u << PB_FLOOR;
	int i;

	if (!strcmp(name, "pool"))
		return ((1u << PB_NSECTIONS) - 1) & ~peers;
	if (!strcmp(name, "peers"))
		return peers;
	for (i = 0; i < PB_NSECTIONS; i++)
		if (!strcmp(name, section_names[i]))
			return 1u << i;
	return 0;
}

static int parse_only(const char *arg, unsigned *bits)
{
	char buf[256], *save = NULL, *tok;
	unsigned b;

	if (!arg || strlen(arg) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		b = section_bits(tok);
		if (!b)
			return -EINVAL;
		*bits |= b;
	}
	return *bits ? 0 : -EINVAL;
}

/* Options given explicitly; 0 where the mode's default applies. */
struct explicit_opts {
	uint64_t tasks, roundtrips, idle, workers;
};

/* An option that takes a value v (NULL when it is missing). */
static int parse_valued(struct pb_opts *o, struct explicit_opts *x,
			const char *a, const char *v)
{
	if (!strcmp(a, "--only"))
		return parse_only(v, &o->sections);
	if (!strcmp(a, "--tasks"))
		return parse_count(v, MAX_COUNT, &x->tasks);
	if (!strcmp(a, "--roundtrips"))
		return parse_count(v, 100000000, &x->roundtrips);
	if (!strcmp(a, "--idle"))
		return parse_count(v, 3600, &x->idle);
	if (!strcmp(a, "--workers"))
		return parse_count(v, 256, &x->workers);
	return -EINVAL;
}

/* argv[*i], and its value if it takes one (then *i moves past it). */
static int parse_one(struct pb_opts *o, struct explicit_opts *x, int argc,
		     char **argv, int *i)
{
	const char *a = argv[*i];
	int err;

	if (!strcmp(a, "--quick")) {
		o->quick = true;
		return 0;
	}
	if (!strcmp(a, "--json")) {
		o->json = true;
		return 0;
	}
	err = parse_valued(o, x, a, *i + 1 < argc ? argv[*i + 1] : NULL);
	if (!err)
		++*i;
	return err;
}

/* Warm-up: a tenth of the timed round trips, within [100, 5000]. */
static uint64_t warmup_for(uint64_t roundtrips)
{
	uint64_t w = roundtrips / 10;

	return w < 100 ? 100 : w > 5000 ? 5000 : w;
}

static void apply_defaults(struct pb_opts *o, const struct explicit_opts *x)
{
	const struct mode_defaults *d = o->quick ? &quick_mode : &full_mode;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	o->tasks = x->tasks ? x->tasks : d->tasks;
	/* pool_map of 10 M no-op tasks (1 M quick), or --tasks. */
	o->map_tasks = x->tasks ? x->tasks : o->quick ? 1000000 : 10000000;
	o->min_ns = d->min_ns;
	o->roundtrips = x->roundtrips ? x->roundtrips : d->roundtrips;
	o->idle_s = x->idle ? (int)x->idle : d->idle_s;
	o->workers = x->workers ? (int)x->workers : cpus > 0 ? (int)cpus : 1;
	o->warmup = warmup_for(o->roundtrips);
	o->batch = o->tasks < 10000 ? o->tasks : 10000;
	memcpy(o->payload_iters, d->payload_iters, sizeof(o->payload_iters));
	o->memcpy_ns = d->memcpy_ns;
	if (!o->sections)
		o->sections = (1u << PB_NSECTIONS) - 1;
}

static int parse_args(struct pb_opts *o, int argc, char **argv)
{
	struct explicit_opts x = {0, 0, 0, 0};
	int i, err = 0;

	memset(o, 0, sizeof(*o));
	o->argv0 = argv[0];
	for (i = 1; i < argc && !err; i++) {
		err = parse_one(o, &x, argc, argv, &i);
		if (err)
			fprintf(stderr,
				"pool_bench: bad or incomplete option "
				"%s\n",
				argv[i]);
	}
	if (!err)
		apply_defaults(o, &x);
	return err;
}

/* ---- the run ------------------------------------------------------- */

static void progress(const struct pb_opts *o, const char *what)
{
	if (!o->json)
		fprintf(stderr, "# %s\n", what);
}

static void run_pool(const struct pb_opts *o, struct pb_results *res)
{
	unsigned noop = 1u << PB_BATCHED | 1u << PB_UNBATCHED | 1u << PB_SYNC |
			1u << PB_RESOURCES;
	int i;

	if (o->sections & noop) {
		progress(o, "processpool: no-op throughput, sync, idle");
		if (pb_engine_noop(o, res))
			for (i = PB_BATCHED; i <= PB_RESOURCES; i++)
				res->failed[i] = pb_selected(o, i);
	}
	for (i = 0; i < PB_NPAYLOADS; i++)
		res->payload[i].iters = o->payload_iters[i];
	if (pb_selected(o, PB_PAYLOAD)) {
		progress(o, "processpool: payload round trips");
		res->failed[PB_PAYLOAD] = pb_engine_payload(o, res) != 0;
	}
	if (pb_selected(o, PB_SCALE)) {
		progress(o, "processpool: bringing workers up");
		res->failed[PB_SCALE] = pb_engine_scale(o, res) != 0;
	}
	if (pb_selected(o, PB_OBSERVE)) {
		progress(o, "processpool: tracing and metrics scrapes");
		res->failed[PB_OBSERVE] = pb_engine_observe(o, res) != 0;
	}
	if (pb_selected(o, PB_RESTART)) {
		progress(o, "processpool: rolling restart under load");
		res->failed[PB_RESTART] = pb_engine_restart(o, res) != 0;
	}
	if (pb_selected(o, PB_MAP)) {
		progress(o, "processpool: pool_map of no-op tasks");
		res->failed[PB_MAP] = pb_engine_map(o, res) != 0;
	}
	if (pb_selected(o, PB_ISOLATION)) {
		progress(o, "processpool: a fresh process per task");
		res->failed[PB_ISOLATION] = pb_engine_isolation(o, res) != 0;
	}
}

/* The pool's contended figures, then the peers' that have them. */
static void run_contended(const struct pb_opts *o, struct pb_results *res)
{
	struct peer_opts po;
	bool failed;

	if (!pb_selected(o, PB_CONTENDED))
		return;
	progress(o, "contended: sync callers on 2 workers");
	failed = pb_engine_contended(o, res) != 0;
	pb_peer_opts(o, &po);
	po.workers = PB_CONTENDED_WORKERS;
	progress(o, "contended: fork+pipe pool");
	pb_watchdog_arm("contended: pipe peer", 600);
	failed |= peer_pipe_contended(&po, PB_CONTENDED_CALLERS,
				      &res->pipe_contended) != 0;
	progress(o, "contended: Python ProcessPoolExecutor");
	pb_watchdog_arm("contended: python peer", 600);
	failed |= peer_python_contended(&po, PB_CONTENDED_CALLERS,
					&res->python_contended) != 0;
	res->failed[PB_CONTENDED] = failed;
}

static void floor_row(const struct pb_opts *o, enum bu_pp_mode mode,
		      struct peer_result *r)
{
	struct bu_samples lat;
	int64_t csw = 0;
	int err;

	peer_result_init(r);
	err = bu_samples_init(&lat, o->roundtrips);
	if (!err)
		err = bu_pingpong(mode, o->warmup, o->roundtrips, &lat, &csw);
	if (err) {
		peer_fail(r, "ping-pong: %s", strerror(-err));
	} else {
		r->ran = true;
		r->sync = bu_samples_pct(&lat);
		r->sync_csw = (double)csw / (double)o->roundtrips;
		snprintf(r->note, sizeof(r->note), "%s",
			 mode == BU_PP_FUTEX
			     ? "2 processes, FUTEX_WAIT/FUTEX_WAKE each "
			       "way, no spinning"
			     : "2 processes, busy polling one shared word");
	}
	bu_samples_free(&lat);
}

void pb_peer_opts(const struct pb_opts *o, struct peer_opts *po)
{
	memset(po, 0, sizeof(*po));
	po->workers = o->workers;
	po->tasks = o->tasks;
	po->min_ns = o->min_ns;
	po->roundtrips = o->roundtrips;
	po->warmup = o->warmup;
	po->quick = o->quick;
	po->argv0 = o->argv0;
}

static void run_peers(const struct pb_opts *o, struct pb_results *res)
{
	struct peer_opts po;

	pb_peer_opts(o, &po);
	if (pb_selected(o, PB_PIPE)) {
		progress(o, "peer: fork+pipe pool");
		pb_watchdog_arm("pipe peer", 600);
		res->failed[PB_PIPE] = peer_pipe_run(&po, &res->pipe) != 0;
	}
	if (pb_selected(o, PB_ZMQ)) {
		progress(o, "peer: ZeroMQ pool");
		pb_watchdog_arm("zmq peer", 600);
		res->failed[PB_ZMQ] = peer_zmq_run(&po, &res->zmq) != 0;
	}
	if (pb_selected(o, PB_PYTHON)) {
		progress(o, "peer: Python ProcessPoolExecutor");
		/* py_peer.c has its own, shorter deadline. */
		pb_watchdog_arm("python peer", 600);
		res->failed[PB_PYTHON] =
		    peer_python_run(&po, &res->python) != 0;
	}
	if (pb_selected(o, PB_FLOOR)) {
		progress(o, "floors: futex and spin ping-pong");
		pb_watchdog_arm("floors", 600);
		floor_row(o, BU_PP_FUTEX, &res->futex);
		floor_row(o, BU_PP_SPIN, &res->spin);
		res->failed[PB_FLOOR] = !res->futex.ran || !res->spin.ran;
	}
}

static bool all_ok(const struct pb_results *res)
{
	bool ok = true;
	int i;

	for (i = 0; i < PB_NSECTIONS; i++)
		if (res->failed[i]) {
			fprintf(stderr, "pool_bench: section %s failed\n",
				section_names[i]);
			ok = false;
		}
	return ok;
}

int main(int argc, char **argv)
{
	static struct pb_results res;
	struct bu_machine m;
	struct pb_opts o;
	bool ok;

	if (argc > 1 && !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (parse_args(&o, argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (start_watchdog()) {
		fprintf(stderr, "pool_bench: cannot start the watchdog\n");
		return 2;
	}
	bu_machine_read(&m);
	pb_results_init(&res);
	if (!o.json) {
		bu_machine_print(stdout, &m);
		pb_print_settings(&o);
		fflush(stdout);
	}
	res.parent_base_rss_kib = bu_proc_status_kib(0, "VmRSS");
	run_pool(&o, &res);
	run_contended(&o, &res);
	run_peers(&o, &res);
	ok = all_ok(&res);
	if (o.json)
		pb_print_json(&o, &m, &res, ok);
	else
		pb_print_text(&o, &res);
	return ok ? 0 : 1;
}
