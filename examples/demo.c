/*
 * demo - processpool doing its job, step by step, every step checked.
 *
 * 1. Real work: 64 buffers of 256 KiB are hashed with SHA-256 in the
 *    workers; the parent checks every digest against its own.
 * 2. Isolation: a task that dereferences NULL kills only its worker; it
 *    ends CRASHED with SIGSEGV and the pool keeps working.
 * 3. Deadlines: an endless loop with a 200 ms deadline ends TIMEOUT and
 *    its worker is replaced.
 * 4. Cancellation: a long task, cancelled while it runs, ends CANCELLED.
 * 5. Priorities: CRITICAL tasks submitted after a queue of LOW ones, while
 *    every worker is busy, finish ahead of most of them.
 * 6. The pool's statistics, checked against what the steps did.
 *
 * Exits 0 only when every check passed.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process_pool.h"

#define WORKERS		 4
#define BUFFERS		 64
#define BUFFER_SIZE	 (256 * 1024)
#define DIGEST_SIZE	 32
#define LOW_TASKS	 24
#define CRITICAL_TASKS	 4
#define PRIORITY_TASK_MS 20

static int failures;

/* Prints one check's outcome and counts the failures. */
static void check(int ok, const char *what)
{
	printf("  [%s] %s\n", ok ? " ok " : "FAIL", what);
	if (!ok)
		failures++;
}

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

/* ---- SHA-256 (FIPS 180-4), small and portable ------------------------ */

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t fill;
	uint64_t bytes;
};

/* clang-format off */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t sha256_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};
/* clang-format on */

static uint32_t ror32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_init(struct sha256 *c)
{
	memcpy(c->h, sha256_iv, sizeof(sha256_iv));
	c->fill = 0;
	c->bytes = 0;
}

/* The compression function over one 64-byte block. */
static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], v[8], t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		       (ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			(w[i - 15] >> 3)) +
		       (ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			(w[i - 2] >> 10));
	memcpy(v, h, sizeof(v));
	for (i = 0; i < 64; i++) {
		t1 = v[7] +
		     (ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25)) +
		     ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha256_k[i] + w[i];
		t2 = (ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22)) +
		     ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(&v[1], &v[0], 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		h[i] += v[i];
}

static void sha256_update(struct sha256 *c, const void *data, size_t n)
{
	const uint8_t *p = data;

	c->bytes += n;
	while (n) {
		size_t take = 64 - c->fill < n ? 64 - c->fill : n;

		memcpy(c->block + c->fill, p, take);
		c->fill += take;
		p += take;
		n -= take;
		if (c->fill == 64) {
			sha256_block(c->h, c->block);
			c->fill = 0;
		}
	}
}

static void sha256_final(struct sha256 *c, uint8_t out[DIGEST_SIZE])
{
	uint64_t bits = c->bytes * 8;
	uint8_t pad[72] = {0x80};
	size_t padlen = (c->fill < 56 ? 56 : 120) - c->fill;
	int i;

	for (i = 0; i < 8; i++)
		pad[padlen + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(c, pad, padlen + 8);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void sha256(const void *data, size_t n, uint8_t out[DIGEST_SIZE])
{
	struct sha256 c;

	sha256_init(&c);
	sha256_update(&c, data, n);
	sha256_final(&c, out);
}

/* Guards the hash itself: the FIPS 180-2 "abc" test vector. */
static int sha256_self_test(void)
{
	static const char want[] = "ba7816bf8f01cfea414140de5dae2223"
				   "b00361a396177a9cb410ff61f20015ad";
	uint8_t got[DIGEST_SIZE];
	char hex[2 * DIGEST_SIZE + 1];
	int i;

	sha256("abc", 3, got);
	for (i = 0; i < DIGEST_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", got[i]);
	return strcmp(hex, want) == 0;
}

/* ---- tasks (they run in the worker processes) ------------------------ */

/* Hashes its input and returns the 32-byte digest. */
static int hash_task(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	uint8_t *digest = malloc(DIGEST_SIZE);

	(void)user_data;
	if (!digest)
		return ENOMEM;
	sha256(input, input_size, digest);
	*output = digest;
	*output_size = DIGEST_SIZE;
	return 0;
}

/* A bug in task code: writes through a NULL pointer. */
static int crash_task(void *input, size_t input_size, void **output,
		      size_t *output_size, void *user_data)
{
	volatile int *nowhere = user_data; /* NULL: see step_crash */

	(void)input;
	(void)input_size;
	(void)output;
	(void)output_size;
	*nowhere = 42;
	return 0;
}

/* Never returns: only its deadline or a cancel ends it. */
static int spin_task(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	_Atomic int *started = user_data;

	(void)input;
	(void)input_size;
	(void)output;
	(void)output_size;
	if (started)
		atomic_store(started, 1);
	for (;;)
		sched_yield();
	return 0;
}

/*
 * Works for PRIORITY_TASK_MS and returns when it ended, on the
 * machine-wide monotonic clock; counts itself in the shared counter
 * user_data points to, if any, as it starts.
 */
static int timed_task(void *input, size_t input_size, void **output,
		      size_t *output_size, void *user_data)
{
	uint64_t *end = malloc(sizeof(*end));
	_Atomic int *started = user_data;

	(void)input;
	(void)input_size;
	if (!end)
		return ENOMEM;
	if (started)
		atomic_fetch_add(started, 1);
	sleep_ms(PRIORITY_TASK_MS);
	*end = now_ns();
	*output = end;
	*output_size = sizeof(*end);
	return 0;
}

/* ---- the steps ------------------------------------------------------- */

/* Pseudo-random bytes from a 64-bit LCG, different for every seed. */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(x >> 56);
	}
}

/* Counts pid in pids[] (of *n distinct ones so far) if it is new. */
static void note_pid(int *pids, int *n, int pid)
{
	int i;

	for (i = 0; i < *n; i++)
		if (pids[i] == pid)
			return;
	if (*n < BUFFERS)
		pids[(*n)++] = pid;
}

/*
 * Waits for every future and checks each digest against the parent's
 * own; returns how many matched, and in *workers how many distinct
 * worker processes produced them.
 */
static int collect_digests(task_future_t **f, uint8_t **buf, int *workers)
{
	int i, good = 0, pids[BUFFERS];

	*workers = 0;
	for (i = 0; i < BUFFERS; i++) {
		uint8_t want[DIGEST_SIZE];
		task_result_t r;

		if (!f[i] || pool_future_wait(f[i], &r, 10000))
			continue;
		sha256(buf[i], BUFFER_SIZE, want);
		if (r.status == TASK_STATUS_COMPLETED &&
		    r.output_size == DIGEST_SIZE &&
		    memcmp(r.output_data, want, DIGEST_SIZE) == 0) {
			good++;
			note_pid(pids, workers, r.worker_pid);
		} else {
			printf("  buffer %d: %s, %zu-byte output\n", i,
			       pool_task_status_str(r.status), r.output_size);
		}
		pool_result_free(&r);
	}
	return good;
}

static void step_hash(process_pool_t *pool)
{
	uint8_t *buf[BUFFERS];
	task_future_t *f[BUFFERS];
	int i, good, workers;
	char line[160];
	uint64_t t0;

	printf("1. hashing %d buffers of %d KiB with SHA-256 on %d workers\n",
	       BUFFERS, BUFFER_SIZE / 1024, WORKERS);
	for (i = 0; i < BUFFERS; i++) {
		buf[i] = malloc(BUFFER_SIZE);
		if (buf[i])
			fill_random(buf[i], BUFFER_SIZE, (uint64_t)i);
	}
	t0 = now_ns();
	for (i = 0; i < BUFFERS; i++)
		f[i] = buf[i] ? pool_submit_async(pool, hash_task, buf[i],
						  BUFFER_SIZE, NULL,
						  TASK_PRIORITY_NORMAL, 0)
			      : NULL;
	good = collect_digests(f, buf, &workers);
	snprintf(line, sizeof(line),
		 "%d/%d digests match the parent's own SHA-256 "
		 "(%d workers took part, %.1f ms with the checks)",
		 good, BUFFERS, workers, (double)(now_ns() - t0) / 1e6);
	check(good == BUFFERS, line);
	for (i = 0; i < BUFFERS; i++) {
		pool_future_destroy(f[i]);
		free(buf[i]);
	}
}

/* One quick hash, to show the pool still serves work. */
static int pool_still_works(process_pool_t *pool)
{
	static const char msg[] = "still here";
	uint8_t want[DIGEST_SIZE];
	task_result_t r;
	int ok;

	if (pool_submit_sync(pool, hash_task, (void *)msg, sizeof(msg), NULL,
			     TASK_PRIORITY_NORMAL, 5000, &r))
		return 0;
	sha256(msg, sizeof(msg), want);
	ok = r.status == TASK_STATUS_COMPLETED &&
	     r.output_size == DIGEST_SIZE &&
	     memcmp(r.output_data, want, DIGEST_SIZE) == 0;
	pool_result_free(&r);
	return ok;
}

static void step_crash(process_pool_t *pool)
{
	task_result_t r;
	char line[160];
	int err;

	printf("2. a task that writes through a NULL pointer\n");
	err = pool_submit_sync(pool, crash_task, NULL, 0, NULL,
			       TASK_PRIORITY_NORMAL, 5000, &r);
	if (err) {
		check(0, pool_strerror(err));
		return;
	}
	snprintf(line, sizeof(line), "ended %s, signal %d (%s): %s",
		 pool_task_status_str(r.status), r.term_signal,
		 r.term_signal ? strsignal(r.term_signal) : "none", r.detail);
	check(r.status == TASK_STATUS_CRASHED && r.term_signal == SIGSEGV,
	      line);
	pool_result_free(&r);
	check(pool_still_works(pool), "the pool keeps working");
}

/* Waits up to 2 s for pool_stats.worker_restarts to pass old. */
static int restarts_beyond(process_pool_t *pool, uint64_t old)
{
	pool_stats_t s;
	int i;

	for (i = 0; i < 200; i++) {
		if (pool_get_stats(pool, &s) == 0 && s.worker_restarts > old &&
		    s.active_workers == WORKERS)
			return 1;
		sleep_ms(10);
	}
	return 0;
}

static uint64_t restarts_now(process_pool_t *pool)
{
	pool_stats_t s;

	return pool_get_stats(pool, &s) ? 0 : s.worker_restarts;
}

static void step_timeout(process_pool_t *pool)
{
	uint64_t before = restarts_now(pool), t0 = now_ns();
	task_result_t r;
	char line[160];
	int err;

	printf("3. an endless loop with a 200 ms deadline\n");
	err = pool_submit_sync(pool, spin_task, NULL, 0, NULL,
			       TASK_PRIORITY_NORMAL, 200, &r);
	if (err) {
		check(0, pool_strerror(err));
		return;
	}
	snprintf(line, sizeof(line), "ended %s after %.0f ms: %s",
		 pool_task_status_str(r.status), (double)(now_ns() - t0) / 1e6,
		 r.detail);
	check(r.status == TASK_STATUS_TIMEOUT, line);
	check(restarts_beyond(pool, before),
	      "its worker was killed and replaced");
	check(pool_still_works(pool), "the pool keeps working");
}

/* Waits up to 5 s for a task to raise the flag it was given. */
static int wait_flag(_Atomic int *flag)
{
	int i;

	for (i = 0; i < 500 && !atomic_load(flag); i++)
		sleep_ms(10);
	return atomic_load(flag);
}

static void step_cancel(process_pool_t *pool, _Atomic int *started)
{
	uint64_t before = restarts_now(pool);
	task_future_t *f;
	task_result_t r;
	char line[160];

	printf("4. a long task, cancelled while it runs\n");
	atomic_store(started, 0);
	f = pool_submit_async(pool, spin_task, NULL, 0, started,
			      TASK_PRIORITY_NORMAL, 0);
	if (!f) {
		check(0, strerror(errno));
		return;
	}
	check(wait_flag(started), "the task started in a worker");
	check(pool_future_cancel(f) == 0, "pool_future_cancel returned 0");
	if (pool_future_wait(f, &r, 5000) == 0) {
		snprintf(line, sizeof(line), "ended %s: %s",
			 pool_task_status_str(r.status), r.detail);
		check(r.status == TASK_STATUS_CANCELLED, line);
		pool_result_free(&r);
	} else {
		check(0, "the future resolved");
	}
	pool_future_destroy(f);
	check(restarts_beyond(pool, before),
	      "its worker was killed and replaced");
	check(pool_still_works(pool), "the pool keeps working");
}

static task_future_t *submit_timed(process_pool_t *pool, task_priority_t p,
				   _Atomic int *started)
{
	return pool_submit_async(pool, timed_task, NULL, 0, started, p, 0);
}

/* Waits up to 5 s for n tasks to have raised the shared counter. */
static int wait_count(_Atomic int *count, int n)
{
	int i;

	for (i = 0; i < 500 && atomic_load(count) < n; i++)
		sleep_ms(1);
	return atomic_load(count) >= n;
}

/* Collects when each task ended; returns how many completed. */
static int collect_ends(task_future_t **f, int n, uint64_t *end)
{
	int i, done = 0;

	for (i = 0; i < n; i++) {
		task_result_t r;

		end[i] = UINT64_MAX;
		if (!f[i] || pool_future_wait(f[i], &r, 30000))
			continue;
		if (r.status == TASK_STATUS_COMPLETED &&
		    r.output_size == sizeof(end[i])) {
			memcpy(&end[i], r.output_data, sizeof(end[i]));
			done++;
		}
		pool_result_free(&r);
		pool_future_destroy(f[i]);
	}
	return done;
}

static void step_priority(process_pool_t *pool, _Atomic int *started)
{
	task_future_t *low[LOW_TASKS], *crit[CRITICAL_TASKS];
	uint64_t low_end[LOW_TASKS], crit_end[CRITICAL_TASKS], last = 0;
	int i, done, after = 0;
	char line[160];

	printf("5. %d CRITICAL tasks submitted after %d LOW ones "
	       "(%d ms each)\n",
	       CRITICAL_TASKS, LOW_TASKS, PRIORITY_TASK_MS);
	atomic_store(started, 0);
	for (i = 0; i < LOW_TASKS; i++)
		low[i] = submit_timed(pool, TASK_PRIORITY_LOW, started);
	/* Submit the CRITICAL ones only once every worker is busy. */
	check(wait_count(started, WORKERS), "every worker runs a LOW task");
	for (i = 0; i < CRITICAL_TASKS; i++)
		crit[i] = submit_timed(pool, TASK_PRIORITY_CRITICAL, NULL);
	done = collect_ends(low, LOW_TASKS, low_end);
	done += collect_ends(crit, CRITICAL_TASKS, crit_end);
	check(done == LOW_TASKS + CRITICAL_TASKS, "every task completed");
	for (i = 0; i < CRITICAL_TASKS; i++)
		if (crit_end[i] > last)
			last = crit_end[i];
	for (i = 0; i < LOW_TASKS; i++)
		after += low_end[i] > last;
	/*
	 * FIFO order would finish every CRITICAL task last. With
	 * priorities they run as soon as a worker frees up, so at most the
	 * LOW tasks already running (one per worker) and those started in
	 * the moment before the CRITICAL ones were seen finish first.
	 */
	snprintf(line, sizeof(line),
		 "all CRITICAL tasks done while %d of %d LOW ones still "
		 "waited or ran",
		 after, LOW_TASKS);
	check(after >= LOW_TASKS - 2 * WORKERS, line);
}

/* ---- statistics -------------------------------------------------------- */

static void print_stats(const pool_stats_t *s)
{
	printf("  submitted %" PRIu64 ", completed %" PRIu64 ", failed %" PRIu64
	       ", crashed %" PRIu64 ", timed out %" PRIu64
	       ", cancelled %" PRIu64 "\n",
	       s->tasks_submitted, s->tasks_completed, s->tasks_failed,
	       s->tasks_crashed, s->tasks_timed_out, s->tasks_cancelled);
	printf("  worker restarts %" PRIu64 ", latency p50 %" PRIu64
	       " us, p99 %" PRIu64 " us, max %" PRIu64 " us\n",
	       s->worker_restarts, s->latency_p50_us, s->latency_p99_us,
	       s->latency_max_us);
}

/* Every task the steps submitted, and how each must have ended. */
#define EXPECT_COMPLETED (BUFFERS + 3 + LOW_TASKS + CRITICAL_TASKS)
#define EXPECT_SUBMITTED (EXPECT_COMPLETED + 3)

static void step_stats(const pool_stats_t *s)
{
	uint64_t ended = s->tasks_completed + s->tasks_failed +
			 s->tasks_crashed + s->tasks_timed_out +
			 s->tasks_cancelled + s->tasks_rejected +
			 s->tasks_protocol_error + s->tasks_sandbox_violation +
			 s->tasks_resource_limit;

	printf("6. statistics (pool stopped)\n");
	print_stats(s);
	check(s->tasks_submitted == EXPECT_SUBMITTED &&
		  ended == EXPECT_SUBMITTED,
	      "every submitted task counted exactly once");
	check(s->tasks_completed == EXPECT_COMPLETED && s->tasks_crashed == 1 &&
		  s->tasks_timed_out == 1 && s->tasks_cancelled == 1,
	      "1 crashed, 1 timed out, 1 cancelled, the rest completed");
	check(s->worker_restarts >= 3, "3 workers replaced (at least)");
}

/* ---- main -------------------------------------------------------------- */

/* True when this process has no child left, running or unreaped. */
static int no_children_left(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static process_pool_t *start_pool(void)
{
	pool_config_t cfg;
	process_pool_t *pool;
	int err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.worker_count = WORKERS;
	snprintf(cfg.pool_name, sizeof(cfg.pool_name), "demo");
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

int main(void)
{
	_Atomic int *started;
	process_pool_t *pool;
	pool_stats_t stats;

	if (!sha256_self_test()) {
		fprintf(stderr, "demo: SHA-256 self-test failed\n");
		return 1;
	}
	/*
	 * Shared with the workers (mapped before they are forked), so a task
	 * can tell the parent it has started.
	 */
	started = mmap(NULL, sizeof(*started), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (started == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* Keeps our lines in order with the library's log lines on stderr. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("processpool %s demo: %d worker processes\n", pool_version(),
	       WORKERS);
	pool = start_pool();
	if (!pool)
		return 1;
	step_hash(pool);
	step_crash(pool);
	step_timeout(pool);
	step_cancel(pool, started);
	step_priority(pool, started);
	pool_stop(pool, -1);
	pool_get_stats(pool, &stats);
	step_stats(&stats);
	pool_destroy(pool);
	check(no_children_left(), "no worker process outlives pool_destroy");
	munmap(started, sizeof(*started));
	if (failures)
		printf("demo FAILED: %d check(s) failed\n", failures);
	else
		printf("demo ok: every check passed, all workers reaped\n");
	return failures != 0;
}
