/* Log-linear latency histogram; see latency.h. */
#include "src/core/latency.h"

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, sub;

	if (v < PP_LATENCY_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	sub = (unsigned)(v >> (msb - 3)) & (PP_LATENCY_SUB - 1);
	return (msb - 2) * PP_LATENCY_SUB + sub;
}

static uint64_t bucket_top(unsigned b)
{
	unsigned msb, sub;

	if (b < PP_LATENCY_SUB)
		return b;
	msb = b / PP_LATENCY_SUB + 2;
	sub = b % PP_LATENCY_SUB;
	if (msb >= 63)
		return UINT64_MAX;
	return ((uint64_t)(PP_LATENCY_SUB + sub + 1) << (msb - 3)) - 1;
}

void pp_latency_record(struct pp_latency *h, uint64_t us)
{
	pp_latency_record_many(h, &us, 1);
}

/* The bucket of us, the last one for anything beyond the range. */
static unsigned clamped_bucket(uint64_t us)
{
	unsigned b = bucket_of(us);

	return b < PP_LATENCY_BUCKETS ? b : PP_LATENCY_BUCKETS - 1;
}

void pp_latency_record_many(struct pp_latency *h, const uint64_t *us,
			    unsigned n)
{
	uint64_t top = 0, max, sum = 0;
	unsigned i, b, run = 0, run_b = 0;

	for (i = 0; i < n; i++) {
		b = clamped_bucket(us[i]);
		if (run && b != run_b) {
			atomic_fetch_add_explicit(&h->buckets[run_b], run,
						  memory_order_relaxed);
			run = 0;
		}
		run_b = b;
		run++;
		if (us[i] > top)
			top = us[i];
		sum += us[i];
	}
	if (!n)
		return;
	atomic_fetch_add_explicit(&h->buckets[run_b], run,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, sum, memory_order_relaxed);
	max = atomic_load_explicit(&h->max, memory_order_relaxed);
	while (top > max && !atomic_compare_exchange_weak(&h->max, &max, top))
		;
}

uint64_t pp_latency_percentile(const struct pp_latency *h, double p)
{
	struct pp_latency *m = (struct pp_latency *)h;
	uint64_t total = atomic_load(&m->count), seen = 0, want;
	unsigned b;

	if (!total)
		return 0;
	want = (uint64_t)(p * (double)total);
	if (want >= total)
		want = total - 1;
	for (b = 0; b < PP_LATENCY_BUCKETS; b++) {
		seen +=
		    atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
		if (seen > want) {
			uint64_t top = bucket_top(b),
				 max = atomic_load(&m->max);

			return top < max ? top : max;
		}
	}
	return atomic_load(&m->max);
}

void pp_latency_split_record(struct pp_latency_split *s,
			     const struct pp_latency_sample *v, unsigned n)
{
	uint64_t q[TASK_PRIORITY_COUNT][32], r[TASK_PRIORITY_COUNT][32];
	unsigned k[TASK_PRIORITY_COUNT] = {0}, i, p;

	for (i = 0; i < n; i++) {
		p = (unsigned)v[i].prio;
		if (p >= TASK_PRIORITY_COUNT)
			continue;
		q[p][k[p]] = v[i].queue_us;
		r[p][k[p]] = v[i].run_us;
		if (++k[p] < 32)
			continue;
		pp_latency_record_many(&s->queue[p], q[p], k[p]);
		pp_latency_record_many(&s->run[p], r[p], k[p]);
		k[p] = 0;
	}
	for (p = 0; p < TASK_PRIORITY_COUNT; p++) {
		pp_latency_record_many(&s->queue[p], q[p], k[p]);
		pp_latency_record_many(&s->run[p], r[p], k[p]);
	}
}

void pp_latency_export(const struct pp_latency *h,
		       pool_latency_histogram_t *out)
{
	struct pp_latency *m = (struct pp_latency *)h;
	uint64_t seen = 0, max;
	unsigned b, i = 0, edge = bucket_of(1);

	/* Bucket edge i starts at 2^i us: everything before it is below. */
	for (b = 0; b < PP_LATENCY_BUCKETS; b++) {
		while (i < POOL_LATENCY_BUCKETS && b == edge) {
			out->le_us[i++] += seen;
			edge = i < POOL_LATENCY_BUCKETS
				   ? bucket_of((uint64_t)1 << i)
				   : PP_LATENCY_BUCKETS;
		}
		seen +=
		    atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
	}
	while (i < POOL_LATENCY_BUCKETS)
		out->le_us[i++] += seen;
	out->count += seen;
	out->sum_us += atomic_load_explicit(&m->sum, memory_order_relaxed);
	max = atomic_load_explicit(&m->max, memory_order_relaxed);
	if (max > out->max_us)
		out->max_us = max;
}
