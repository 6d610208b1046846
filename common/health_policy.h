/*
 * health_policy: the global direct-Azure fallback decision (SPEC 7) as pure
 * functions of (window counts, policy, override, time). The supervisor feeds
 * it the aggregated counts of every worker and applies what it decides; unit
 * tests drive it with synthetic time. Nothing here reads a clock or logs.
 *
 * Per primary group:
 *   normal   --primary trips--------------------------> fallback (cooldown starts)
 *   normal   --primary trips, direct Azure tripped too-> degraded
 *   fallback --direct Azure trips-----------------------> degraded
 *   fallback --recover_successes probes in a row--------> normal
 *   fallback --a probe fails----------------------------> fallback (cooldown again)
 *   degraded --primary healthy again--------------------> normal
 *   degraded --direct Azure healthy again---------------> fallback
 * "Trips" = over the window, failures/requests >= failure_ratio with at least
 * min_requests requests, or consecutive_failures failures in a row. Probes are
 * granted only after the cooldown, one per probe_interval. The operator's
 * override on/off pins the mode; auto hands it back to these rules.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "outcome.h"
#include "route.h"

/* Counts over a window (or any period). */
struct health_counts {
	uint64_t requests; /* attempts that count: successes and failures */
	uint64_t failures;
	uint64_t by_outcome[OUTCOME__COUNT];
};

void health_counts_add(struct health_counts *to, const struct health_counts *delta);

struct ipc_report;

/*
 * Checks a worker's REPORT against a config of N_DEPLOYMENTS deployments (a
 * worker is never trusted) and converts its counts into *RET_DELTA. Returns
 * 0, or -EINVAL when it names no deployment, an unknown probe result or more
 * trailing failures than failures; *RET_DELTA is then unusable.
 */
int health_report_delta(const struct ipc_report *r, size_t n_deployments,
                        struct health_counts *ret_delta);

/* A sliding window of 1/HEALTH_WINDOW_BUCKETS of window_ms per bucket. */
#define HEALTH_WINDOW_BUCKETS 10

struct health_window {
	long window_ms;
	long bucket_ms;
	long bucket_start[HEALTH_WINDOW_BUCKETS]; /* -1: empty */
	struct health_counts buckets[HEALTH_WINDOW_BUCKETS];
};

void health_window_init(struct health_window *w, long window_ms);
void health_window_clear(struct health_window *w);
void health_window_add(struct health_window *w, long now_ms, const struct health_counts *delta);
/* Sums the buckets still inside the window at NOW_MS. */
void health_window_total(const struct health_window *w, long now_ms, struct health_counts *ret);

/* The decision's state for one primary group. */
struct health_group {
	enum fallback_mode mode;
	uint64_t epoch; /* +1 per transition */
	long since_ms;
	long cooldown_until_ms;
	long next_probe_ms;
	bool probe_outstanding;
	long probe_successes;
	char reason[320];
};

void health_group_init(struct health_group *g, long now_ms);

/* What the decision looks at, assembled by the caller for one group. */
struct health_input {
	const char *group;   /* for the reason text */
	const char *primary; /* the primary deployments, for the reason text */
	struct health_counts primary_window;
	uint64_t primary_consecutive;
	bool has_direct_azure;
	struct health_counts azure_window;
	uint64_t azure_consecutive;
};

/* True when counts with CONSECUTIVE failures in a row trip POLICY. */
bool health_trips(const struct health_counts *window, uint64_t consecutive,
                  const struct fallback_policy *policy);

/* Re-evaluates G. Returns true when the mode changed (G->reason says why,
 * with the numbers). The caller clears the primary window when a group
 * returns to normal, so old failures cannot trip it again at once. */
bool health_decide(struct health_group *g, const struct health_input *in,
                   const struct fallback_policy *policy, enum fallback_setting override,
                   long now_ms);

/* True when a probe may be granted now (fallback, cooldown over, interval
 * passed, none outstanding); marks it granted. */
bool health_probe_grant(struct health_group *g, const struct fallback_policy *policy, long now_ms);

/* Applies a probe's result. Returns true when the mode changed. */
bool health_probe_result(struct health_group *g, bool success, const struct fallback_policy *policy,
                         enum fallback_setting override, long now_ms);
