/*
 * histogram: fixed-bucket latency histograms (see histogram.h). Observing is
 * a short scan of 19 bounds and two adds: cheap enough for every request.
 */
#include "histogram.h"

const uint64_t histogram_bounds_us[HISTOGRAM_BOUNDS] = {
        100,    250,    500,     1000,    2500,    5000,     10000,    25000,    50000,     100000,
        250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 120000000,
};

unsigned histogram_bucket(int64_t us)
{
	unsigned i = 0;

	if (us < 0)
		us = 0;
	while (i < HISTOGRAM_BOUNDS && (uint64_t)us > histogram_bounds_us[i])
		i++;
	return i;
}

void histogram_observe(struct histogram *h, int64_t us)
{
	h->buckets[histogram_bucket(us)]++;
	h->sum_us += us > 0 ? (uint64_t)us : 0;
}

uint64_t histogram_count(const struct histogram *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
		n += h->buckets[i];
	return n;
}

bool histogram_empty(const struct histogram *h)
{
	return histogram_count(h) == 0;
}

void histogram_merge(struct histogram_total *t, const struct histogram *d)
{
	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
		t->buckets[i] += d->buckets[i];
		t->count += d->buckets[i];
	}
	t->sum_us += d->sum_us;
}
