/*
 * request_stats: what a worker counts and logs about each client request it
 * answers (issue 8): counts by model group, answering deployment, route and
 * status class; latency histograms (whole request, upstream time to first
 * byte, gateway overhead) per model group; the token usage and cost of
 * answers that report usage (issue 19: by group, deployment and route, or
 * "unknown"); and the access log line. The counts are sent to the
 * supervisor as deltas (IPC REQUESTS, LATENCY and USAGE_COUNTS)
 * with the worker's periodic REPORTs and at drain and exit; the supervisor
 * aggregates them for /metrics. A worker killed with SIGKILL loses what it
 * counted since its last report (at most one report interval).
 *
 * The request path calls request_stats_done() once per request: a hash
 * lookup, a few adds and, with an access log, one formatted line appended
 * to a bounded buffer. No allocation, no system call.
 *
 * Times are CLOCK_MONOTONIC microseconds (clock_now_us() of clock.h). Health
 * endpoints are not counted or logged (probes would drown the log).
 *
 * Requests the HTTP layer answers itself before any route runs (malformed,
 * oversized, too slow: struct http_rejected) are counted apart, by their
 * fixed reason, and logged with the fields they have (no model, deployment
 * or route) plus "reason": request_stats_rejected().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "usage.h"

struct config;
struct event_base;
struct http_rejected;

/* One finished request. Strings need to live only during the call. */
struct request_record {
	const char *id;     /* x-request-id */
	const char *peer;   /* "address:port" of the client */
	const char *method; /* NULL: not logged */
	const char *path;   /* without the query; PATH_LEN bytes */
	size_t path_len;
	const char *model; /* as the client named it; NULL: none */
	long group;        /* the configured group it names, or -1 */
	long deployment;   /* the deployment that answered, or -1 */
	int route;         /* enum route of that answer, or -1 */
	int status;        /* as sent to the client; 499: the client left */
	int attempts;
	size_t bytes_in;     /* request body */
	size_t bytes_out;    /* response body */
	int64_t start_us;    /* the complete request was handed to the worker's endpoints */
	int64_t ttfb_us;     /* the answering attempt's time to its response head; -1: none */
	int64_t upstream_us; /* from the first attempt's start to the last one's end */
	int64_t end_us;      /* the response was handed to the connection */
	struct usage usage;  /* what the answer reported (usage.h); known false: none */
	bool usage_expected; /* a 2xx answer that reports usage: counted, known or not */
	const char *key_id;  /* the client key's id (issue 20); NULL: master key or none */
};

struct request_stats;

/* Opens the access log CONFIG names (when it cannot, that is logged once
 * and every line is counted as dropped: never fatal). */
int request_stats_new(const struct config *config, struct event_base *base,
                      struct request_stats **ret);
void request_stats_free(struct request_stats *rs);

/* The gateway's own time for a request: total minus upstream time, never
 * negative. */
int64_t request_stats_overhead_us(int64_t total_us, int64_t upstream_us);

/* The record of a request answered before any upstream attempt (no group,
 * deployment, route, attempt or time to first byte); the caller adds the
 * model and the times it has. */
struct request_record request_record_early(const char *id, const char *peer, const char *method,
                                           const char *path, size_t path_len, int status,
                                           size_t bytes_in, size_t bytes_out);

/* Counts and logs one finished request. RS may be NULL (nothing happens). */
void request_stats_done(struct request_stats *rs, const struct request_record *rec);

/* Counts and logs one request the HTTP layer rejected. RS may be NULL. */
void request_stats_rejected(struct request_stats *rs, const struct http_rejected *r);

/* Sends what was counted since the previous call as REQUESTS and LATENCY
 * messages on FD, then clears it; tries to write the access log buffer
 * first. 0 or a negative errno (counts are kept on failure). */
int request_stats_flush(struct request_stats *rs, int fd, uint32_t generation, uint32_t *seq);
