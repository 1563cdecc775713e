/*
 * map_example - one function over many inputs with pool_map.
 *
 * Hashes 200,000 fixed-size records in chunks (each chunk of tasks
 * travels to a worker as one frame and comes back as one), checks every
 * result in order against the same hash computed here, then runs a map
 * in which one task crashes its worker: that task ends CRASHED, every
 * other task of the map still completes, in order. Finally a map in the
 * background is cancelled as a whole.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "process_pool.h"

#define RECORDS	    200000
#define RECORD_SIZE 32
#define CRASH_AT    777

/* FNV-1a over a record: the work each task does. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

/* Runs in a worker: the record's hash, as an 8-byte output. */
static int hash_task(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	uint64_t *out = pool_output_alloc(sizeof(*out));

	(void)user_data;
	if (!out)
		return 1;
	*out = fnv1a(input, input_size);
	*output = out;
	*output_size = sizeof(*out);
	return 0;
}

/* Like hash_task, but the record whose first byte is 0xff crashes. */
static int fragile_task(void *input, size_t input_size, void **output,
			size_t *output_size, void *user_data)
{
	if (input_size && ((unsigned char *)input)[0] == 0xff)
		raise(SIGSEGV); /* a crash: costs this worker, not the pool */
	return hash_task(input, input_size, output, output_size, user_data);
}

/* Runs in a worker for a while, so that the map can be cancelled. */
static int slow_task(void *input, size_t input_size, void **output,
		     size_t *output_size, void *user_data)
{
	struct timespec a, b;

	(void)input, (void)input_size, (void)output, (void)output_size;
	(void)user_data;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000 +
		   (b.tv_nsec - a.tv_nsec) / 1000000 <
	       20);
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Checks results[i] against the hash of record i; returns the mismatches. */
static size_t check(const unsigned char *records,
		    const pool_map_result_t *results, size_t n, size_t skip)
{
	size_t i, bad = 0;
	uint64_t h;

	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		if (results[i].status != TASK_STATUS_COMPLETED ||
		    results[i].output_size != sizeof(h)) {
			bad++;
			continue;
		}
		memcpy(&h, results[i].output, sizeof(h));
		bad += h != fnv1a(records + i * RECORD_SIZE, RECORD_SIZE);
	}
	return bad;
}

int main(void)
{
	pool_config_t cfg = {0};
	process_pool_t *pool;
	pool_map_result_t *results;
	pool_map_options_t opts = {0};
	pool_map_t *map;
	unsigned char *records;
	size_t i, bad;
	double t0, t1;
	int err, rc = 1;

	records = malloc((size_t)RECORDS * RECORD_SIZE);
	results = calloc(RECORDS, sizeof(*results));
	if (!records || !results)
		return 1;
	for (i = 0; i < (size_t)RECORDS * RECORD_SIZE; i++)
		records[i] = (unsigned char)(i * 131 % 251);

	cfg.worker_count = 2;
	cfg.max_retries = 1; /* a crash's bystanders run again, alone */
	pool = pool_create(&cfg);
	if (!pool || pool_start(pool)) {
		fprintf(stderr, "pool_create/pool_start failed\n");
		return 1;
	}

	/* 1. Every record hashed in a worker, results in order. */
	t0 = now_s();
	err = pool_map(pool, hash_task, records, RECORD_SIZE, RECORDS,
		       results, NULL);
	t1 = now_s();
	if (err) {
		fprintf(stderr, "pool_map: %s\n", pool_strerror(err));
		goto out;
	}
	bad = check(records, results, RECORDS, (size_t)-1);
	printf("map: %d records hashed in %.1f ms (%.2f M tasks/s), "
	       "%zu wrong\n",
	       RECORDS, (t1 - t0) * 1e3, RECORDS / (t1 - t0) / 1e6, bad);
	pool_map_results_free(results, RECORDS);
	if (bad)
		goto out;

	/* 2. One task crashes its worker: only it fails. */
	records[CRASH_AT * RECORD_SIZE] = 0xff;
	err = pool_map(pool, fragile_task, records, RECORD_SIZE, 10000,
		       results, NULL);
	if (err) {
		fprintf(stderr, "pool_map: %s\n", pool_strerror(err));
		goto out;
	}
	bad = check(records, results, 10000, CRASH_AT);
	printf("map with a crash: task %d ended %s (%d), %zu of the other "
	       "9999 wrong\n",
	       CRASH_AT, pool_task_status_str(results[CRASH_AT].status),
	       results[CRASH_AT].return_code, bad);
	pool_map_results_free(results, 10000);
	if (bad || results[CRASH_AT].status != TASK_STATUS_CRASHED)
		goto out;

	/* 3. A map in the background, cancelled as a whole. */
	opts.chunk_size = 4;
	map = pool_map_start(pool, slow_task, NULL, 0, 400, results, &opts);
	if (!map) {
		perror("pool_map_start");
		goto out;
	}
	pool_map_cancel(map);
	if (pool_map_wait(map, -1) == 0) {
		size_t done = 0, cancelled = 0;

		for (i = 0; i < 400; i++) {
			done += results[i].status == TASK_STATUS_COMPLETED;
			cancelled += results[i].status ==
				     TASK_STATUS_CANCELLED;
		}
		printf("cancelled map: %zu completed, %zu cancelled, %zu "
		       "other\n",
		       done, cancelled, 400 - done - cancelled);
		rc = done + cancelled != 400;
	}
	pool_map_destroy(map);
	pool_map_results_free(results, 400);
out:
	pool_stop(pool, 5000);
	pool_destroy(pool);
	free(records);
	free(results);
	return rc;
}
