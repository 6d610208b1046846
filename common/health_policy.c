/*
 * health_policy: the pure fallback decision (see health_policy.h).
 */
#include "health_policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ipc.h"

void health_counts_add(struct health_counts *to, const struct health_counts *delta)
{
	to->requests += delta->requests;
	to->failures += delta->failures;
	for (int i = 0; i < OUTCOME__COUNT; i++)
		to->by_outcome[i] += delta->by_outcome[i];
}

int health_report_delta(const struct ipc_report *r, size_t n_deployments,
                        struct health_counts *ret_delta)
{
	memset(ret_delta, 0, sizeof(*ret_delta));
	if (r->deployment >= n_deployments || r->probe > IPC_PROBE_FAILURE)
		return -EINVAL;
	for (int i = 0; i < OUTCOME__COUNT; i++) {
		ret_delta->by_outcome[i] = r->counts[i];
		if (i == OUTCOME_SUCCESS || outcome_is_failure((enum outcome)i))
			ret_delta->requests += r->counts[i];
		if (outcome_is_failure((enum outcome)i))
			ret_delta->failures += r->counts[i];
	}
	return r->trailing > ret_delta->failures ? -EINVAL : 0;
}

void health_window_init(struct health_window *w, long window_ms)
{
	memset(w, 0, sizeof(*w));
	w->window_ms = window_ms > 0 ? window_ms : 10000;
	w->bucket_ms = w->window_ms / HEALTH_WINDOW_BUCKETS;
	if (w->bucket_ms <= 0)
		w->bucket_ms = 1;
	health_window_clear(w);
}

void health_window_clear(struct health_window *w)
{
	for (int i = 0; i < HEALTH_WINDOW_BUCKETS; i++) {
		w->bucket_start[i] = -1;
		memset(&w->buckets[i], 0, sizeof(w->buckets[i]));
	}
}

void health_window_add(struct health_window *w, long now_ms, const struct health_counts *delta)
{
	long start = now_ms - now_ms % w->bucket_ms;
	int i = (int)((now_ms / w->bucket_ms) % HEALTH_WINDOW_BUCKETS);

	if (w->bucket_start[i] != start) {
		w->bucket_start[i] = start;
		memset(&w->buckets[i], 0, sizeof(w->buckets[i]));
	}
	health_counts_add(&w->buckets[i], delta);
}

void health_window_total(const struct health_window *w, long now_ms, struct health_counts *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < HEALTH_WINDOW_BUCKETS; i++)
		if (w->bucket_start[i] >= 0 && now_ms - w->bucket_start[i] < w->window_ms)
			health_counts_add(ret, &w->buckets[i]);
}

void health_group_init(struct health_group *g, long now_ms)
{
	memset(g, 0, sizeof(*g));
	g->since_ms = now_ms;
	snprintf(g->reason, sizeof(g->reason), "starting");
}

bool health_trips(const struct health_counts *window, uint64_t consecutive,
                  const struct fallback_policy *policy)
{
	if (policy->consecutive_failures > 0 &&
	    consecutive >= (uint64_t)policy->consecutive_failures)
		return true;
	if (window->requests == 0 || window->requests < (uint64_t)policy->min_requests)
		return false;
	return (double)window->failures >= policy->failure_ratio * (double)window->requests;
}

/* "failed 12 of 14 requests in 10s (auth: 12), 5 in a row" */
static void describe(char *buf, size_t len, const struct health_counts *c, uint64_t consecutive,
                     const struct fallback_policy *policy)
{
	int n = snprintf(buf, len, "failed %" PRIu64 " of %" PRIu64 " requests in %lds",
	                 c->failures, c->requests, policy->window_ms / 1000);
	const char *sep = " (";

	for (int i = OUTCOME_FAILURE_FIRST; i <= OUTCOME_FAILURE_LAST && n > 0 && (size_t)n < len;
	     i++) {
		if (!c->by_outcome[i])
			continue;
		n += snprintf(buf + n, len - (size_t)n, "%s%s: %" PRIu64, sep,
		              outcome_name((enum outcome)i), c->by_outcome[i]);
		sep = ", ";
	}
	if (n > 0 && (size_t)n < len && sep[0] == ',')
		n += snprintf(buf + n, len - (size_t)n, ")");
	if (n > 0 && (size_t)n < len && consecutive > 1)
		snprintf(buf + n, len - (size_t)n, ", %" PRIu64 " in a row", consecutive);
}

static bool transition(struct health_group *g, enum fallback_mode mode, long now_ms)
{
	if (g->mode == mode)
		return false;
	g->mode = mode;
	g->epoch++;
	g->since_ms = now_ms;
	g->probe_outstanding = false;
	g->probe_successes = 0;
	return true;
}

static void enter_fallback(struct health_group *g, const struct fallback_policy *policy,
                           long now_ms)
{
	g->cooldown_until_ms = now_ms + policy->cooldown_ms;
	g->next_probe_ms = g->cooldown_until_ms;
}

bool health_decide(struct health_group *g, const struct health_input *in,
                   const struct fallback_policy *policy, enum fallback_setting override,
                   long now_ms)
{
	char what[200];
	bool primary_trips = health_trips(&in->primary_window, in->primary_consecutive, policy);
	bool azure_trips = in->has_direct_azure &&
	                   health_trips(&in->azure_window, in->azure_consecutive, policy);

	if (override == FALLBACK_SETTING_ON) {
		if (!in->has_direct_azure || !transition(g, MODE_FALLBACK, now_ms))
			return false;
		enter_fallback(g, policy, now_ms);
		snprintf(g->reason, sizeof(g->reason), "forced on by the operator");
		return true;
	}
	if (override == FALLBACK_SETTING_OFF) {
		if (!transition(g, MODE_NORMAL, now_ms))
			return false;
		snprintf(g->reason, sizeof(g->reason), "forced off by the operator");
		return true;
	}
	if (!in->has_direct_azure)
		return false; /* nothing to switch to: per-request fallbacks only */

	switch (g->mode) {
	case MODE_NORMAL:
		if (!primary_trips)
			return false;
		describe(what, sizeof(what), &in->primary_window, in->primary_consecutive, policy);
		if (azure_trips) {
			transition(g, MODE_DEGRADED, now_ms);
			snprintf(g->reason, sizeof(g->reason),
			         "primary '%s' %s, and direct Azure is failing too: degraded, "
			         "trying both per request",
			         in->primary, what);
		} else {
			transition(g, MODE_FALLBACK, now_ms);
			enter_fallback(g, policy, now_ms);
			snprintf(g->reason, sizeof(g->reason),
			         "primary '%s' %s: direct-azure fallback on", in->primary, what);
		}
		return true;
	case MODE_FALLBACK:
		if (!azure_trips)
			return false;
		describe(what, sizeof(what), &in->azure_window, in->azure_consecutive, policy);
		transition(g, MODE_DEGRADED, now_ms);
		snprintf(g->reason, sizeof(g->reason),
		         "direct Azure for '%s' %s too: degraded, trying both per request",
		         in->group, what);
		return true;
	case MODE_DEGRADED:
		/* Both routes get live traffic here, so both windows are current. */
		if (!primary_trips && in->primary_consecutive == 0 &&
		    in->primary_window.requests > in->primary_window.failures) {
			transition(g, MODE_NORMAL, now_ms);
			snprintf(g->reason, sizeof(g->reason),
			         "primary '%s' answers again: direct-azure fallback off",
			         in->primary);
			return true;
		}
		if (!azure_trips && in->azure_consecutive == 0 &&
		    in->azure_window.requests > in->azure_window.failures) {
			transition(g, MODE_FALLBACK, now_ms);
			enter_fallback(g, policy, now_ms);
			snprintf(
			        g->reason, sizeof(g->reason),
			        "direct Azure for '%s' answers again: back to direct-azure fallback",
			        in->group);
			return true;
		}
		return false;
	default:
		return false;
	}
}

bool health_probe_grant(struct health_group *g, const struct fallback_policy *policy, long now_ms)
{
	if (g->mode != MODE_FALLBACK || now_ms < g->cooldown_until_ms || now_ms < g->next_probe_ms)
		return false;
	/* An outstanding probe that never came back (no traffic for the group on
	 * that worker) does not block the next one past the interval. */
	g->probe_outstanding = true;
	g->next_probe_ms = now_ms + policy->probe_interval_ms;
	return true;
}

bool health_probe_result(struct health_group *g, bool success, const struct fallback_policy *policy,
                         enum fallback_setting override, long now_ms)
{
	if (g->mode != MODE_FALLBACK)
		return false;
	g->probe_outstanding = false;
	if (!success) {
		g->probe_successes = 0;
		enter_fallback(g, policy, now_ms);
		return false;
	}
	if (++g->probe_successes < policy->recover_successes || override == FALLBACK_SETTING_ON)
		return false;
	long n = g->probe_successes;
	transition(g, MODE_NORMAL, now_ms);
	snprintf(g->reason, sizeof(g->reason),
	         "%ld probes of the primary succeeded in a row: direct-azure fallback off", n);
	return true;
}
