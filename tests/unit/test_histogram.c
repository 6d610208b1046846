/*
 * Unit tests of the fixed-bucket latency histogram: bucket edges (bounds are
 * inclusive), sums, counts, and merging deltas into an aggregate.
 */
#include <stdint.h>
#include <string.h>

#include "histogram.h"
#include "tap.h"

static void test_buckets(void)
{
	tap_ok(histogram_bucket(-5) == 0, "a negative time is the first bucket");
	tap_ok(histogram_bucket(0) == 0, "0us is the first bucket");
	tap_ok(histogram_bucket(100) == 0, "a bound is inclusive (100us <= 0.0001s)");
	tap_ok(histogram_bucket(101) == 1, "just above a bound is the next bucket");
	tap_ok(histogram_bucket(1000000) == 12, "1s is the le=1 bucket");
	tap_ok(histogram_bucket(120000000) == HISTOGRAM_BOUNDS - 1, "120s is the last bound");
	tap_ok(histogram_bucket(120000001) == HISTOGRAM_BOUNDS, "beyond 120s is +Inf");
	tap_ok(histogram_bucket(INT64_MAX) == HISTOGRAM_BOUNDS, "huge is +Inf");
	for (unsigned i = 1; i < HISTOGRAM_BOUNDS; i++)
		if (histogram_bounds_us[i] <= histogram_bounds_us[i - 1])
			tap_ok(0, "bounds grow at %u", i);
}

static void test_observe_merge(void)
{
	struct histogram a, b;
	struct histogram_total t;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&t, 0, sizeof(t));
	tap_ok(histogram_empty(&a), "a new histogram is empty");
	histogram_observe(&a, 50);
	histogram_observe(&a, 300);
	histogram_observe(&a, 300);
	histogram_observe(&a, -1);
	tap_ok(histogram_count(&a) == 4, "four observations");
	tap_ok(a.sum_us == 650, "sum ignores negative times");
	tap_ok(a.buckets[0] == 2 && a.buckets[2] == 2, "observations in their buckets");
	histogram_observe(&b, 200000000);
	histogram_merge(&t, &a);
	histogram_merge(&t, &b);
	histogram_merge(&t, &a);
	tap_ok(t.count == 9, "merged count");
	tap_ok(t.sum_us == 650 * 2 + 200000000ULL, "merged sum");
	tap_ok(t.buckets[0] == 4 && t.buckets[2] == 4 && t.buckets[HISTOGRAM_BOUNDS] == 1,
	       "merged buckets");
}

int main(void)
{
	test_buckets();
	test_observe_merge();
	return tap_done();
}
