/*
 * Latency histograms: log-linear buckets (8 per power of two, about 9%
 * resolution) over whole microseconds, with atomic counters so threads
 * can record while others read.
 *
 * Bucket layout: values 0..7 have a bucket each; above, the octave
 * [2^k, 2^(k+1)) is cut into 8 equal buckets. Every power of two starts
 * a bucket, so the count of samples below 2^i us is exact: that is what
 * the exports give (POOL_LATENCY_BUCKETS cumulative buckets, 2^i us for
 * i = 0 .. POOL_LATENCY_BUCKETS - 1), while percentiles use the fine
 * buckets.
 */
#ifndef PP_CORE_LATENCY_H
#define PP_CORE_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#include "process_pool.h"

#define PP_LATENCY_SUB	   8
#define PP_LATENCY_BUCKETS (64 * PP_LATENCY_SUB)

struct pp_latency {
	_Atomic uint64_t buckets[PP_LATENCY_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t max;
	_Atomic uint64_t sum; /* of the samples, us */
};

/* Queue wait (submit until handed to a worker) and run time (handed to a
 * worker until the end) of the tasks that reached a worker, by the
 * priority they were submitted with. */
struct pp_latency_split {
	struct pp_latency queue[TASK_PRIORITY_COUNT];
	struct pp_latency run[TASK_PRIORITY_COUNT];
};

struct pp_latency_sample {
	uint64_t queue_us;
	uint64_t run_us;
	int prio; /* task_priority_t; others are ignored */
};

/* pp_latency_record - count one sample of us microseconds. */
void pp_latency_record(struct pp_latency *h, uint64_t us);

/*
 * pp_latency_record_many - count n samples at once: one add per run of
 * samples that share a bucket (a drain's results mostly do), one for the
 * count, one for the sum, one check of the maximum.
 */
void pp_latency_record_many(struct pp_latency *h, const uint64_t *us,
			    unsigned n);

/* pp_latency_split_record - count n tasks' queue and run times, grouped
 * by priority (record_many per group). */
void pp_latency_split_record(struct pp_latency_split *s,
			     const struct pp_latency_sample *v, unsigned n);

/* pp_latency_percentile - the value below which fraction p (0..1) of the
 * samples fall (bucket upper bound), 0 when empty. */
uint64_t pp_latency_percentile(const struct pp_latency *h, double p);

/*
 * pp_latency_export - add h into out: le_us[i] += samples below 2^i us
 * (cumulative), count += all samples (the sum of the buckets, so the
 * last cumulative bucket never exceeds it), sum_us, and max_us raised.
 * A snapshot taken while others record: each figure is read once.
 */
void pp_latency_export(const struct pp_latency *h,
		       pool_latency_histogram_t *out);

#endif /* PP_CORE_LATENCY_H */
