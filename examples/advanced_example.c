/*
 * advanced_example - batches, an event loop, retries and a log file.
 *
 * Submits one batch of mixed work with pool_submit_batch: prime counts at
 * different priorities, a few flaky tasks that crash on their first
 * attempt only, and one task that always crashes. The pool is configured
 * with max_retries, so the flaky ones succeed on a second run and the
 * doomed one ends CRASHED once its retries are spent. The futures are
 * collected from a poll() loop over pool_future_fd, the way an
 * application with its own event loop would do it, and the library's log
 * goes to a file, summarised at the end.
 *
 * Usage: advanced_example [LOG_FILE]  (default: a temporary file, removed
 * at exit)
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "process_pool.h"

#define WORKERS	    3
#define MAX_RETRIES 2
#define PRIME_TASKS 24
#define FLAKY_TASKS 4
#define TASKS	    (PRIME_TASKS + FLAKY_TASKS + 1)
#define DOOMED	    (TASKS - 1)

/*
 * Attempt counters, in memory shared with the workers: a crash takes the
 * worker's own memory with it, so a task can only learn it is being
 * retried from memory that outlives the worker.
 */
struct attempts {
	_Atomic int count[TASKS];
};

/* ---- tasks (run in the workers) -------------------------------------- */

static uint32_t count_primes(uint32_t limit)
{
	uint32_t n, d, count = 0;

	for (n = 2; n < limit; n++) {
		for (d = 2; d * d <= n && n % d; d++)
			;
		count += d * d > n;
	}
	return count;
}

/* Counts the primes below the uint32_t it is given. */
static int primes_task(void *input, size_t input_size, void **output,
		       size_t *output_size, void *user_data)
{
	uint32_t limit, *count;

	(void)user_data;
	if (input_size != sizeof(limit))
		return EINVAL;
	memcpy(&limit, input, sizeof(limit));
	count = malloc(sizeof(*count));
	if (!count)
		return ENOMEM;
	*count = count_primes(limit);
	*output = count;
	*output_size = sizeof(*count);
	return 0;
}

/* Aborts on its first attempt; later ones report how many there were. */
static int flaky_task(void *input, size_t input_size, void **output,
		      size_t *output_size, void *user_data)
{
	_Atomic int *tries = user_data;
	int n = atomic_fetch_add(tries, 1) + 1, *out;

	(void)input;
	(void)input_size;
	if (n == 1)
		abort();
	out = malloc(sizeof(*out));
	if (!out)
		return ENOMEM;
	*out = n;
	*output = out;
	*output_size = sizeof(*out);
	return 0;
}

/* Aborts every time: retries cannot save it. */
static int doomed_task(void *input, size_t input_size, void **output,
		       size_t *output_size, void *user_data)
{
	_Atomic int *tries = user_data;

	(void)input;
	(void)input_size;
	(void)output;
	(void)output_size;
	atomic_fetch_add(tries, 1);
	abort();
}

/* ---- the batch ------------------------------------------------------- */

/* The inputs need not outlive the submit: pool_submit_batch copies them. */
static void describe_batch(task_desc_t *d, uint32_t *limits,
			   struct attempts *att)
{
	int i;

	memset(d, 0, sizeof(*d) * TASKS);
	for (i = 0; i < PRIME_TASKS; i++) {
		limits[i] = 20000 + 5000 * (uint32_t)i;
		d[i].task_func = primes_task;
		d[i].input_data = &limits[i];
		d[i].input_size = sizeof(limits[i]);
		d[i].priority = (task_priority_t)(i % TASK_PRIORITY_COUNT);
	}
	for (i = PRIME_TASKS; i < TASKS; i++) {
		d[i].task_func = i == DOOMED ? doomed_task : flaky_task;
		d[i].user_data = &att->count[i];
		d[i].priority = TASK_PRIORITY_HIGH;
		d[i].timeout_ms = 10000;
	}
}

/* Checks one finished task against what it should have produced. */
static int judge(int i, const task_result_t *r, const uint32_t *limits,
		 struct attempts *att)
{
	int tries = atomic_load(&att->count[i]);

	if (i < PRIME_TASKS) {
		uint32_t got;

		if (r->status != TASK_STATUS_COMPLETED ||
		    r->output_size != sizeof(got)) {
			printf("  task %2d primes  %-9s %s\n", i,
			       pool_task_status_str(r->status), r->detail);
			return 0;
		}
		memcpy(&got, r->output_data, sizeof(got));
		return got == count_primes(limits[i]);
	}
	printf("  task %2d %-7s %-9s after %d attempt(s)%s%s\n", i,
	       i == DOOMED ? "doomed" : "flaky",
	       pool_task_status_str(r->status), tries, r->detail[0] ? ": " : "",
	       r->detail);
	if (i == DOOMED)
		return r->status == TASK_STATUS_CRASHED &&
		       tries == 1 + MAX_RETRIES;
	return r->status == TASK_STATUS_COMPLETED && tries == 2;
}

/* Fills fds with the futures not yet collected; returns how many. */
static nfds_t gather(task_future_t **f, const int *done, struct pollfd *fds,
		     int *which)
{
	nfds_t n = 0;
	int i;

	for (i = 0; i < TASKS; i++) {
		if (done[i] || !f[i])
			continue;
		fds[n].fd = pool_future_fd(f[i]);
		fds[n].events = POLLIN;
		fds[n].revents = 0;
		which[n++] = i;
	}
	return n;
}

/*
 * The event loop: sleeps in poll() until some futures are readable, then
 * collects exactly those without blocking. Returns the tasks that ended
 * as they should.
 */
static int event_loop(task_future_t **f, const uint32_t *limits,
		      struct attempts *att)
{
	struct pollfd fds[TASKS];
	int which[TASKS], done[TASKS] = {0}, good = 0, wakeups = 0;
	nfds_t n, k;

	while ((n = gather(f, done, fds, which)) > 0) {
		if (poll(fds, n, 30000) <= 0) {
			printf("  poll: nothing finished in 30 s\n");
			break;
		}
		wakeups++;
		for (k = 0; k < n; k++) {
			task_result_t r;
			int i = which[k];

			/* Without an fd (poll skips it), wait the usual way. */
			if (fds[k].fd >= 0 && !(fds[k].revents & POLLIN))
				continue;
			if (pool_future_wait(f[i], &r, fds[k].fd < 0 ? -1 : 0))
				continue;
			done[i] = 1;
			good += judge(i, &r, limits, att);
			pool_result_free(&r);
		}
	}
	printf("  %d of %d tasks ended as expected, collected over %d "
	       "poll() wakeups\n",
	       good, TASKS, wakeups);
	return good;
}

static int run_batch(process_pool_t *pool, struct attempts *att)
{
	task_desc_t desc[TASKS];
	uint32_t limits[PRIME_TASKS];
	task_future_t **f;
	int i, good;

	describe_batch(desc, limits, att);
	f = pool_submit_batch(pool, desc, TASKS);
	if (!f) {
		perror("pool_submit_batch");
		return 0;
	}
	printf("submitted a batch of %d tasks: %d prime counts, %d flaky, "
	       "1 doomed\n",
	       TASKS, PRIME_TASKS, FLAKY_TASKS);
	good = event_loop(f, limits, att);
	for (i = 0; i < TASKS; i++)
		pool_future_destroy(f[i]);
	free(f);
	return good == TASKS;
}

/* ---- setup, stats, the log ------------------------------------------- */

/*
 * Prints the final counters and checks them against the batch: every
 * flaky task retried once, the doomed one MAX_RETRIES times.
 */
static int check_stats(process_pool_t *pool)
{
	pool_stats_t s;

	if (pool_get_stats(pool, &s))
		return 0;
	printf("stats: completed %" PRIu64 ", crashed %" PRIu64
	       ", retried %" PRIu64 ", worker restarts %" PRIu64
	       ", latency p50 %" PRIu64 " us, p99 %" PRIu64 " us\n",
	       s.tasks_completed, s.tasks_crashed, s.tasks_retried,
	       s.worker_restarts, s.latency_p50_us, s.latency_p99_us);
	return s.tasks_completed == TASKS - 1 && s.tasks_crashed == 1 &&
	       s.tasks_retried == FLAKY_TASKS + MAX_RETRIES;
}

/*
 * Prints the log: every line but the repetitive worker_exit ones, of
 * which only the first is shown and the rest counted.
 */
static void summarise_log(const char *path)
{
	char line[1024];
	FILE *fp = fopen(path, "r");
	int exits = 0;

	if (!fp) {
		perror(path);
		return;
	}
	printf("log file %s:\n", path);
	while (fgets(line, sizeof(line), fp)) {
		int exit_line = strstr(line, "event=worker_exit") != NULL;

		if (!exit_line || exits == 0)
			printf("  %s", line);
		exits += exit_line;
	}
	fclose(fp);
	if (exits > 1)
		printf("  (and %d more worker_exit lines)\n", exits - 1);
}

/* The pool, its log lines (INFO and up) going to log_path. */
static process_pool_t *start_pool(const char *log_path)
{
	pool_config_t cfg;
	process_pool_t *pool;
	int err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = WORKERS;
	cfg.max_retries = MAX_RETRIES;
	cfg.log_level = LOG_LEVEL_INFO;
	snprintf(cfg.pool_name, sizeof(cfg.pool_name), "advanced");
	pool = pool_create(&cfg);
	if (!pool) {
		perror("pool_create");
		return NULL;
	}
	/* This pool's own file; pool_destroy closes it. */
	err = pool_set_log_file(pool, log_path);
	if (err) {
		fprintf(stderr, "pool_set_log_file: %s\n", pool_strerror(err));
		pool_destroy(pool);
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

/* The log path: argv[1], or a fresh temporary file (*temp set). */
static int pick_log(int argc, char **argv, char *path, size_t len, int *temp)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	*temp = argc < 2;
	if (!*temp) {
		snprintf(path, len, "%s", argv[1]);
		return 0;
	}
	snprintf(path, len, "%s/processpool-advanced-XXXXXX.log",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemps(path, 4);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct attempts *att;
	process_pool_t *pool;
	char log_path[4096];
	int temp, ok;

	if (pick_log(argc, argv, log_path, sizeof(log_path), &temp)) {
		perror("log file");
		return 1;
	}
	/* Mapped before the workers are forked, so they share it. */
	att = mmap(NULL, sizeof(*att), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (att == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pool = start_pool(log_path);
	if (!pool)
		return 1;
	printf("pool \"advanced\": %d workers, max_retries %d, log in %s\n",
	       WORKERS, MAX_RETRIES, log_path);
	ok = run_batch(pool, att);
	pool_stop(pool, -1);
	ok &= check_stats(pool); /* after the stop: the counters are final */
	pool_destroy(pool);	 /* closes the log file */
	summarise_log(log_path);
	if (temp)
		unlink(log_path);
	munmap(att, sizeof(*att));
	printf(ok ? "advanced example done\n" : "advanced example FAILED\n");
	return !ok;
}
