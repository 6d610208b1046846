/*
 * metrics: the supervisor's aggregate of the workers' request statistics
 * (IPC REQUESTS and LATENCY deltas) and the Prometheus text rendering of
 * /metrics (issue 8, SPEC 11). Aggregates are keyed by names (model group,
 * deployment id), not by config indexes, so they survive reloads; a reload
 * never resets a counter. Label values come only from the config (groups,
 * deployments), fixed route and status-class names: a client cannot create
 * a label value (unknown models fold into "(unknown)"). Requests the HTTP
 * layer rejected before routing have their own counter, by a fixed reason
 * (enum http_reject), every reason shown from the start (0).
 *
 * metrics_render() is pure: it writes the aggregate plus a view of the rest
 * of the supervisor's state (struct metrics_view, filled by the caller) to a
 * stdio stream, so it is unit-tested without processes or sockets.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "histogram.h"
#include "ipc.h"
#include "metrics_families.h"
#include "outcome.h"
#include "response_affinity.h"
#include "worker_state.h"

struct client_keys;
struct config;
struct metrics;

#define METRICS_UNKNOWN_MODEL "(unknown)"
#define METRICS_NONE          "(none)"

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Its token usage part (metrics_usage.h). */
struct metrics_usage *metrics_usage(struct metrics *m);

/* Adds a worker's deltas. CONFIG is the sending worker's own config (its
 * indexes). -EINVAL when an entry names no group, deployment, route or
 * status class of it (the worker is then not trusted); nothing is added. */
int metrics_add_requests(struct metrics *m, const struct config *config,
                         const struct ipc_requests *msg);
int metrics_add_latency(struct metrics *m, const struct config *config,
                        const struct ipc_latency *msg);
/* Adds a worker's span counts (OTEL_SPANS). */
void metrics_add_otel_spans(struct metrics *m, const struct ipc_otel_spans *msg);

/* What /metrics shows besides the request statistics. */
struct metrics_group {
	const char *name;
	unsigned mode; /* enum fallback_mode */
	uint64_t transitions;
};

struct metrics_deployment {
	const char *id;
	const char *group;
	uint64_t by_outcome[OUTCOME__COUNT]; /* attempts since the daemon started */
};

/* The Entra ID token of one keyless Azure deployment (deployments sharing a
 * credential show the same token). */
struct metrics_token {
	const char *deployment;
	const char *source; /* entra_source_name() */
	uint64_t fetches, failures;
	double expires_in_seconds; /* 0: no valid token */
};

struct metrics_view {
	const char *version;
	uint32_t generation;       /* the serving one; 0 before the first serves */
	double start_time_seconds; /* Unix time the daemon started */
	uint64_t workers[WORKER_STATE__COUNT];
	uint64_t restarts;                  /* worker respawns after a crash */
	const struct metrics_group *groups; /* primary groups only */
	size_t n_groups;
	const struct metrics_deployment *deployments;
	size_t n_deployments;
	struct response_affinity_stats affinity; /* the shared table's counters */
	const struct metrics_token *tokens;
	size_t n_tokens;
	const struct client_keys *client_keys; /* the serving config's; NULL: none */
};

/* Writes the Prometheus text exposition format (version 0.0.4). */
void metrics_render(FILE *out, const struct metrics *m, const struct metrics_view *view);
