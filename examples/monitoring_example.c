/*
 * monitoring_example - watching a pool under load, as an operator would.
 *
 * Two producer threads keep the pool busy for --duration seconds (3 by
 * default), each holding up to WINDOW tasks in flight at mixed
 * priorities. Meanwhile the example serves the pool's metrics over HTTP
 * on localhost (--port, 0 for any free port, which it prints):
 * GET /metrics gives Prometheus text, GET /metrics.json the JSON of
 * docs/metrics.schema.json; point curl or a Prometheus at it. A monitor
 * thread redraws a one-screen view every 500 ms: health, rates, queue by
 * priority, latency, and per worker its state, CPU, memory, fds and
 * tasks. --plain prints the frames one after another instead of
 * redrawing (for logs). At the end it scrapes its own endpoint once,
 * both formats, and exits 0 when that worked and every task completed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "process_pool.h"

#define WORKERS	  4
#define PRODUCERS 2
#define WINDOW	  48
#define REPORT_MS 500
#define MAX_VIEW  16 /* workers shown */

static int load_ms = 3000;
static int plain; /* --plain: no screen redraws */

struct producer {
	process_pool_t *pool;
	uint64_t seed;
	uint64_t submitted;
	uint64_t completed;
	uint64_t work_us; /* the work the completed tasks asked for */
	uint64_t refused; /* submit failed, e.g. queue full */
	uint64_t other;	  /* ended in another status */
};

/* One task a producer holds in flight. */
struct slot {
	task_future_t *f;
	uint32_t us; /* how long it keeps its worker busy */
};

static atomic_int stop_producers;
static atomic_int stop_monitor;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Runs in a worker: keeps a CPU busy for the microseconds it is given. */
static int busy_task(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	uint32_t us;
	uint64_t until;

	(void)output;
	(void)output_size;
	(void)user_data;
	if (input_size != sizeof(us))
		return EINVAL;
	memcpy(&us, input, sizeof(us));
	until = now_ns() + (uint64_t)us * 1000;
	while (now_ns() < until)
		;
	return 0;
}

/* ---- producers --------------------------------------------------------- */

static uint32_t next_random(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*seed >> 33);
}

/* 40% LOW, 30% NORMAL, 20% HIGH, 10% CRITICAL. */
static task_priority_t pick_priority(uint32_t r)
{
	r %= 10;
	if (r < 4)
		return TASK_PRIORITY_LOW;
	if (r < 7)
		return TASK_PRIORITY_NORMAL;
	return r < 9 ? TASK_PRIORITY_HIGH : TASK_PRIORITY_CRITICAL;
}

/* Fills an empty slot with a task of 0.5 to 2.5 ms at some priority. */
static void submit_one(struct producer *p, struct slot *sl)
{
	sl->us = 500 + next_random(&p->seed) % 2000;
	sl->f =
	    pool_submit_async(p->pool, busy_task, &sl->us, sizeof(sl->us), NULL,
			      pick_priority(next_random(&p->seed)), 0);
	if (sl->f)
		p->submitted++;
	else
		p->refused++;
}

/* Collects a finished task (timeout_ms < 0 waits for it). */
static void collect(struct producer *p, struct slot *sl, int timeout_ms)
{
	task_result_t r;

	if (pool_future_wait(sl->f, &r, timeout_ms))
		return;
	if (r.status == TASK_STATUS_COMPLETED) {
		p->completed++;
		p->work_us += sl->us;
	} else {
		p->other++;
	}
	pool_result_free(&r);
	pool_future_destroy(sl->f);
	sl->f = NULL;
}

/* Keeps WINDOW tasks in flight until told to stop, then drains them. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	struct slot win[WINDOW];
	int i;

	memset(win, 0, sizeof(win));
	while (!atomic_load(&stop_producers)) {
		for (i = 0; i < WINDOW; i++) {
			if (win[i].f && pool_future_done(win[i].f) == 1)
				collect(p, &win[i], 0);
			if (!win[i].f)
				submit_one(p, &win[i]);
		}
		sleep_ms(1);
	}
	for (i = 0; i < WINDOW; i++)
		if (win[i].f)
			collect(p, &win[i], -1);
	return NULL;
}

/* ---- the metrics endpoint --------------------------------------------- */

struct server {
	process_pool_t *pool;
	int fd;	  /* listening, 127.0.0.1 */
	int port; /* the one it got */
	atomic_int stop;
	pthread_t thread;
};

/* One request: "GET /metrics" or "GET /metrics.json", then close. */
static void serve_one(process_pool_t *pool, int c)
{
	char req[1024];
	size_t got = 0;
	ssize_t n;
	struct pollfd pfd = {.fd = c, .events = POLLIN};
	const char *type = NULL;
	int fmt = 0, json;

	/* The request line and headers, up to a blank line; 1 s at most. */
	while (got < sizeof(req) - 1 && poll(&pfd, 1, 1000) == 1) {
		n = read(c, req + got, sizeof(req) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[got] = '\0';
	json = !strncmp(req, "GET /metrics.json ", 18);
	if (json || !strncmp(req, "GET /metrics ", 13)) {
		fmt = json ? POOL_METRICS_JSON : POOL_METRICS_PROMETHEUS;
		type = json ? "application/json"
			    : "text/plain; version=0.0.4; charset=utf-8";
	}
	if (type) {
		dprintf(c,
			"HTTP/1.0 200 OK\r\nContent-Type: %s\r\n"
			"Connection: close\r\n\r\n",
			type);
		pool_metrics_write(pool, c, fmt);
	} else {
		dprintf(c, "HTTP/1.0 404 Not Found\r\nConnection: close\r\n"
			   "Content-Type: text/plain\r\n\r\n"
			   "try /metrics or /metrics.json\n");
	}
}

static void *serve(void *arg)
{
	struct server *sv = arg;
	struct pollfd pfd = {.fd = sv->fd, .events = POLLIN};

	while (!atomic_load(&sv->stop)) {
		int c;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		c = accept4(sv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		serve_one(sv->pool, c);
		close(c);
	}
	return NULL;
}

static int server_start(struct server *sv, process_pool_t *pool, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int one = 1;

	sv->pool = pool;
	sv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv->fd < 0)
		return -1;
	setsockopt(sv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(sv->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(sv->fd, 16) ||
	    getsockname(sv->fd, (struct sockaddr *)&a, &len) ||
	    pthread_create(&sv->thread, NULL, serve, sv)) {
		close(sv->fd);
		return -1;
	}
	sv->port = ntohs(a.sin_port);
	return 0;
}

static void server_stop(struct server *sv)
{
	atomic_store(&sv->stop, 1);
	pthread_join(sv->thread, NULL);
	close(sv->fd);
}

/* GETs path from our own endpoint into buf; the bytes read, or -1. */
static ssize_t scrape(int port, const char *path, char *buf, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    dprintf(fd, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path) <
		0) {
		close(fd);
		return -1;
	}
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

/* ---- the monitor ------------------------------------------------------- */

struct view_state {
	uint64_t t_ns, done;
	uint64_t cpu_us[MAX_VIEW]; /* per slot, to show CPU % */
	int pid[MAX_VIEW];
};

/* The smallest 2^i us bound under which fraction q of h's samples fall. */
static double quantile_ms(const pool_latency_histogram_t *h, double q)
{
	int i;

	if (!h->count)
		return 0;
	for (i = 0; i < POOL_LATENCY_BUCKETS; i++)
		if ((double)h->le_us[i] >= q * (double)h->count)
			return (double)(1ull << i) / 1e3;
	return (double)h->max_us / 1e3;
}

static const char *health_name(int state)
{
	return state == POOL_HEALTH_READY      ? "READY"
	       : state == POOL_HEALTH_DEGRADED ? "DEGRADED"
					       : "FAILING";
}

static void draw(process_pool_t *pool, struct view_state *vs, double t,
		 int port)
{
	static const char *prio[] = {"LOW", "NORM", "HIGH", "CRIT"};
	pool_worker_info_t w[MAX_VIEW];
	pool_latency_histogram_t qh, rh;
	pool_resource_usage_t host;
	pool_health_t h;
	pool_stats_t s;
	uint64_t now = now_ns();
	double dt = vs->t_ns ? (double)(now - vs->t_ns) / 1e9 : 0;
	int n, i, p;

	if (pool_get_stats(pool, &s) || pool_health(pool, &h))
		return;
	n = pool_get_workers(pool, w, MAX_VIEW);
	if (!plain)
		printf("\033[H\033[2J");
	printf("pool \"monitor\"  %5.1f s  %-8s  metrics: "
	       "http://127.0.0.1:%d/metrics (.json)\n",
	       t, health_name(h.state), port);
	printf("tasks  %" PRIu64 " submitted  %" PRIu64 " completed  %" PRIu64
	       " failed  %" PRIu64 " crashed  %" PRIu64 " timed out  %.0f/s\n",
	       s.tasks_submitted, s.tasks_completed, s.tasks_failed,
	       s.tasks_crashed, s.tasks_timed_out,
	       dt > 0 ? (double)(s.tasks_completed - vs->done) / dt : 0.0);
	printf("queue  %zu waiting:", s.queue_depth);
	for (p = 0; p < TASK_PRIORITY_COUNT; p++)
		printf("  %s %zu", prio[p], s.queue_depth_by_priority[p]);
	printf("   workers %d alive, %d busy, %" PRIu64 " restarts\n",
	       s.active_workers, s.busy_workers, s.worker_restarts);
	printf("latency (ms)  end to end p50 %.2f p99 %.2f max %.2f\n",
	       s.latency_p50_us / 1e3, s.latency_p99_us / 1e3,
	       s.latency_max_us / 1e3);
	for (p = TASK_PRIORITY_COUNT - 1; p >= 0; p--) {
		pool_get_latency(pool, POOL_LATENCY_QUEUE, p, &qh);
		pool_get_latency(pool, POOL_LATENCY_RUN, p, &rh);
		printf("  %-4s  queue wait p50 <%7.3f p99 <%7.3f   run p50 "
		       "<%7.3f p99 <%7.3f  (%" PRIu64 " tasks)\n",
		       prio[p], quantile_ms(&qh, .5), quantile_ms(&qh, .99),
		       quantile_ms(&rh, .5), quantile_ms(&rh, .99), rh.count);
	}
	printf("\nslot    pid  state  tasks   cpu%%   rss MiB  peak MiB  "
	       "fds  ctxsw      age s\n");
	for (i = 0; i < n; i++) {
		const pool_resource_usage_t *u = &w[i].usage;
		uint64_t cpu = u->cpu_user_us + u->cpu_system_us;
		int slot = w[i].slot % MAX_VIEW;
		double pct = dt > 0 && vs->pid[slot] == w[i].pid &&
				     cpu >= vs->cpu_us[slot]
				 ? (double)(cpu - vs->cpu_us[slot]) / 1e4 / dt
				 : 0.0;

		printf("%4d %6d  %-5s %6" PRIu64 " %6.1f %9.1f %9.1f %4" PRId64
		       " %6" PRIu64 " %10.1f\n",
		       w[i].slot, w[i].pid, w[i].busy ? "busy" : "idle",
		       w[i].tasks_done, pct, u->rss_bytes / 1048576.0,
		       u->peak_rss_bytes / 1048576.0, u->open_fds,
		       u->ctx_switches_voluntary + u->ctx_switches_involuntary,
		       u->age_ms / 1e3);
		vs->cpu_us[slot] = cpu;
		vs->pid[slot] = w[i].pid;
	}
	if (!pool_get_host_usage(&host))
		printf("host   rss %.1f MiB  peak %.1f MiB  cpu %.2f s  "
		       "%d threads  %" PRId64 " fds\n",
		       host.rss_bytes / 1048576.0,
		       host.peak_rss_bytes / 1048576.0,
		       (host.cpu_user_us + host.cpu_system_us) / 1e6,
		       host.threads, host.open_fds);
	if (plain)
		printf("\n");
	vs->t_ns = now;
	vs->done = s.tasks_completed;
}

struct monitor_args {
	process_pool_t *pool;
	int port;
};

/* Redraws every REPORT_MS, on a fixed beat, until told to stop. */
static void *monitor(void *arg)
{
	struct monitor_args *m = arg;
	uint64_t t0 = now_ns();
	struct view_state vs;
	struct timespec beat;

	memset(&vs, 0, sizeof(vs));
	clock_gettime(CLOCK_MONOTONIC, &beat);
	while (!atomic_load(&stop_monitor)) {
		beat.tv_nsec += REPORT_MS * 1000000L;
		beat.tv_sec += beat.tv_nsec / 1000000000L;
		beat.tv_nsec %= 1000000000L;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &beat, NULL);
		draw(m->pool, &vs, (double)(now_ns() - t0) / 1e9, m->port);
	}
	return NULL;
}

/* ---- main -------------------------------------------------------------- */

static process_pool_t *start_pool(void)
{
	pool_config_t cfg;
	process_pool_t *pool;
	int err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = WORKERS;
	/*
	 * Tasks handed to a worker wait in that worker's own queue, which
	 * queue_depth does not count. Two per worker (one running, one
	 * ready) keep the backlog in the pool's priority queues, where it
	 * shows in the stats and where waiting tasks age.
	 */
	cfg.max_in_flight = 2;
	snprintf(cfg.pool_name, sizeof(cfg.pool_name), "monitor");
	pool = pool_create(&cfg);
	if (!pool) {
		perror("pool_create");
		return NULL;
	}
	err = pool_start(pool);
	if (err) {
		fprintf(stderr, "pool_start: %s\n", pool_strerror(err));
		pool_destroy(pool);
		return NULL;
	}
	return pool;
}

/* Runs the producers for load_ms and the monitor until they are done;
 * then scrapes the endpoint once in each format. */
static int run_load(process_pool_t *pool, struct producer *p, int port)
{
	struct monitor_args m = {pool, port};
	pthread_t prod[PRODUCERS], mon;
	int i, started;

	if (pthread_create(&mon, NULL, monitor, &m))
		return -1;
	for (started = 0; started < PRODUCERS; started++) {
		p[started].pool = pool;
		p[started].seed = 0x5eed + (uint64_t)started;
		if (pthread_create(&prod[started], NULL, produce, &p[started]))
			break;
	}
	if (started == PRODUCERS)
		sleep_ms(load_ms);
	atomic_store(&stop_producers, 1);
	for (i = 0; i < started; i++)
		pthread_join(prod[i], NULL);
	/* One more beat, to show the pool idle again. */
	sleep_ms(REPORT_MS);
	atomic_store(&stop_monitor, 1);
	pthread_join(mon, NULL);
	return started == PRODUCERS ? 0 : -1;
}

/* What a scraper would see: both formats, from our own endpoint. */
static int check_endpoint(int port)
{
	static char buf[1 << 20];
	ssize_t n = scrape(port, "/metrics", buf, sizeof(buf));
	int ok = n > 0 && !strncmp(buf, "HTTP/1.0 200", 12) &&
		 strstr(buf, "processpool_tasks_total{pool=\"monitor\","
			     "status=\"completed\"}");

	printf("scraped /metrics: %zd bytes%s\n", n, ok ? "" : ", WRONG");
	n = scrape(port, "/metrics.json", buf, sizeof(buf));
	if (n <= 0 || strncmp(buf, "HTTP/1.0 200", 12) ||
	    !strstr(buf, "\"schema\":\"processpool.metrics/1\"")) {
		printf("scraped /metrics.json: %zd bytes, WRONG\n", n);
		return 0;
	}
	printf("scraped /metrics.json: %zd bytes\n", n);
	return ok;
}

static int report(const struct producer *p, const pool_stats_t *s)
{
	uint64_t submitted = 0, completed = 0, work_us = 0, bad = 0;
	int i;

	for (i = 0; i < PRODUCERS; i++) {
		printf("producer %d: submitted %" PRIu64 ", completed %" PRIu64
		       ", refused %" PRIu64 ", other outcomes %" PRIu64 "\n",
		       i, p[i].submitted, p[i].completed, p[i].refused,
		       p[i].other);
		submitted += p[i].submitted;
		completed += p[i].completed;
		work_us += p[i].work_us;
		bad += p[i].refused + p[i].other;
	}
	printf("pool: submitted %" PRIu64 ", completed %" PRIu64
	       ", latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
	       s->tasks_submitted, s->tasks_completed, s->latency_p50_us / 1e3,
	       s->latency_p99_us / 1e3, s->latency_p999_us / 1e3);
	printf("run time per task: %.2f ms by the pool's count, %.2f ms of "
	       "work asked for\n",
	       s->avg_task_time_ms,
	       completed ? (double)work_us / (double)completed / 1e3 : 0.0);
	return bad == 0 && completed == submitted &&
	       s->tasks_completed == completed;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--duration SECONDS] [--port PORT] [--plain]\n",
		argv0);
}

int main(int argc, char **argv)
{
	struct producer p[PRODUCERS];
	struct server sv = {0};
	process_pool_t *pool;
	pool_stats_t s;
	int ok, i, port = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
			load_ms = (int)(atof(argv[++i]) * 1000);
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--plain")) {
			plain = 1;
		} else {
			usage(argv[0]);
			return 2;
		}
	}
	if (load_ms <= 0 || load_ms > 24 * 3600 * 1000 || port < 0 ||
	    port > 65535) {
		usage(argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(p, 0, sizeof(p));
	pool = start_pool();
	if (!pool)
		return 1;
	if (server_start(&sv, pool, port)) {
		perror("metrics endpoint on 127.0.0.1");
		pool_destroy(pool);
		return 1;
	}
	printf("pool \"monitor\": %d workers (2 tasks each at most), %d "
	       "producers keeping %d tasks each in flight for %.1f s; "
	       "metrics on http://127.0.0.1:%d/metrics\n",
	       WORKERS, PRODUCERS, WINDOW, load_ms / 1e3, sv.port);
	if (run_load(pool, p, sv.port)) {
		server_stop(&sv);
		pool_destroy(pool);
		return 1;
	}
	ok = check_endpoint(sv.port);
	server_stop(&sv);
	pool_stop(pool, -1);
	pool_get_stats(pool, &s); /* final: the supervisor has stopped */
	ok = report(p, &s) && ok;
	pool_destroy(pool);
	printf(ok ? "monitoring example done\n"
		  : "monitoring example FAILED\n");
	return !ok;
}
