/*
 * clock: the monotonic clock in the units the daemon counts in, and the
 * conversion to libevent's timeouts. One copy for every process.
 */
#pragma once

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

static inline int64_t clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t clock_now_ms(void)
{
	return clock_now_us() / 1000;
}

/* Milliseconds from SINCE (a CLOCK_MONOTONIC reading) to now. */
static inline long clock_ms_since(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

/* Milliseconds on the coarse monotonic clock (the last tick's reading: cheap,
 * and a few ms off at most), for idle timeouts. */
static inline int64_t clock_coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline struct timeval clock_tv_ms(long ms)
{
	return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}
