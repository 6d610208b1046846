/*
 * histogram: a latency histogram with fixed bucket bounds, shared by workers
 * (who observe requests), the IPC codec (which carries a histogram as it is)
 * and the supervisor (which merges them and renders Prometheus buckets).
 *
 * The bounds are the same everywhere and never change at run time, so a
 * histogram is plain counts: merging is adding, and a delta is a histogram.
 * Counts are per bucket (not cumulative); the last bucket is +Inf. Times are
 * microseconds; the Prometheus rendering converts to seconds. Pure: no I/O,
 * no clock, no allocation.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Finite upper bounds (inclusive), in microseconds: 100us .. 120s. */
#define HISTOGRAM_BOUNDS 19
/* Buckets: one per bound plus +Inf. */
#define HISTOGRAM_BUCKETS (HISTOGRAM_BOUNDS + 1)

extern const uint64_t histogram_bounds_us[HISTOGRAM_BOUNDS];

/* A worker's delta uses 32-bit counts (the IPC payload); the supervisor's
 * aggregate uses struct histogram_total. */
struct histogram {
	uint64_t sum_us;
	uint32_t buckets[HISTOGRAM_BUCKETS];
};

struct histogram_total {
	uint64_t sum_us;
	uint64_t count;
	uint64_t buckets[HISTOGRAM_BUCKETS];
};

/* The bucket a value of US microseconds falls in (a negative value is 0). */
unsigned histogram_bucket(int64_t us);

void histogram_observe(struct histogram *h, int64_t us);
bool histogram_empty(const struct histogram *h);
uint64_t histogram_count(const struct histogram *h);

/* Adds the delta D to the aggregate T. */
void histogram_merge(struct histogram_total *t, const struct histogram *d);
