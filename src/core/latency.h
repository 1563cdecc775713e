/*
 * Latency histogram: log-linear buckets (8 per power of two, about 9%
 * resolution) over microseconds, with atomic counters so one thread can
 * record while others read percentiles.
 */
#ifndef PP_CORE_LATENCY_H
#define PP_CORE_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#define PP_LATENCY_SUB	   8
#define PP_LATENCY_BUCKETS (64 * PP_LATENCY_SUB)

struct pp_latency {
	_Atomic uint64_t buckets[PP_LATENCY_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t max;
};

/* pp_latency_record - count one sample of us microseconds. */
void pp_latency_record(struct pp_latency *h, uint64_t us);

/*
 * pp_latency_record_many - count n samples at once: one add per run of
 * samples that share a bucket (a drain's results mostly do), one for the
 * count, one check of the maximum.
 */
void pp_latency_record_many(struct pp_latency *h, const uint64_t *us,
			    unsigned n);

/* pp_latency_percentile - the value below which fraction p (0..1) of the
 * samples fall (bucket upper bound), 0 when empty. */
uint64_t pp_latency_percentile(const struct pp_latency *h, double p);

#endif /* PP_CORE_LATENCY_H */
