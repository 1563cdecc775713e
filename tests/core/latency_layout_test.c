/*
 * The exported latency buckets: le_us[i] counts the samples below 2^i us
 * (whole microseconds), cumulative, exact at every power of two.
 */
#include <stdio.h>
#include <string.h>

#include "src/core/latency.h"

static int failures;

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		unsigned long long a_ = (a), b_ = (b);                         \
		if (a_ != b_) {                                                \
			fprintf(stderr, "%s:%d: %s == %llu, want %llu\n",      \
				__FILE__, __LINE__, #a, a_, b_);               \
			failures++;                                            \
		}                                                              \
	} while (0)

static struct pp_latency h1, h2;

static void powers_of_two_are_exact_edges(void)
{
	static const uint64_t v[] = {0, 1,    2,    3,	  7,
				     8, 1023, 1024, 1025, 5000000};
	pool_latency_histogram_t out;
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		pp_latency_record(&h1, v[i]);
		sum += v[i];
	}
	memset(&out, 0, sizeof(out));
	pp_latency_export(&h1, &out);
	CHECK_EQ(out.count, 10);
	CHECK_EQ(out.max_us, 5000000);
	CHECK_EQ(out.sum_us, sum);
	CHECK_EQ(out.le_us[0], 1);   /* 0 */
	CHECK_EQ(out.le_us[1], 2);   /* 0 1 */
	CHECK_EQ(out.le_us[2], 4);   /* 0 1 2 3 */
	CHECK_EQ(out.le_us[3], 5);   /* ... 7 */
	CHECK_EQ(out.le_us[4], 6);   /* ... 8 */
	CHECK_EQ(out.le_us[10], 7);  /* ... 1023 */
	CHECK_EQ(out.le_us[11], 9);  /* ... 1024 1025 */
	CHECK_EQ(out.le_us[22], 9);  /* 2^22 us = 4.19 s */
	CHECK_EQ(out.le_us[23], 10); /* 5 s */
	for (i = 1; i < POOL_LATENCY_BUCKETS; i++)
		if (out.le_us[i - 1] > out.le_us[i])
			CHECK_EQ(out.le_us[i - 1], out.le_us[i]);
	CHECK_EQ(out.le_us[POOL_LATENCY_BUCKETS - 1], 10);
	/* Exporting adds: two calls give twice the counts. */
	pp_latency_export(&h1, &out);
	CHECK_EQ(out.count, 20);
	CHECK_EQ(out.le_us[11], 18);
}

static void beyond_the_last_edge_counts_only_in_count(void)
{
	pool_latency_histogram_t out;

	pp_latency_record(&h2, 1ull << 40);
	memset(&out, 0, sizeof(out));
	pp_latency_export(&h2, &out);
	CHECK_EQ(out.count, 1);
	CHECK_EQ(out.le_us[POOL_LATENCY_BUCKETS - 1], 0);
}

static void split_groups_by_priority(void)
{
	static struct pp_latency_split s;
	struct pp_latency_sample v[100];
	pool_latency_histogram_t q, r;
	unsigned i;

	for (i = 0; i < 100; i++)
		v[i] = (struct pp_latency_sample){i, 1000 + i, (int)(i % 5)};
	pp_latency_split_record(&s, v, 100);
	for (i = 0; i < TASK_PRIORITY_COUNT; i++) {
		memset(&q, 0, sizeof(q));
		memset(&r, 0, sizeof(r));
		pp_latency_export(&s.queue[i], &q);
		pp_latency_export(&s.run[i], &r);
		CHECK_EQ(q.count, 20); /* prio 4 is no priority: dropped */
		CHECK_EQ(r.count, 20);
		CHECK_EQ(q.max_us, 95 + i);
		CHECK_EQ(r.le_us[10], 5); /* 1000 + i below 1024: i < 24 */
		CHECK_EQ(r.le_us[11], 20);
	}
}

int main(void)
{
	powers_of_two_are_exact_edges();
	beyond_the_last_edge_counts_only_in_count();
	split_groups_by_priority();
	if (failures)
		return 1;
	puts("latency_layout_test: all passed");
	return 0;
}
