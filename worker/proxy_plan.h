/*
 * proxy_plan: which deployment a client request tries next, and when (SPEC 6,
 * 7). Pure logic over the config, no I/O and no clock: the smooth weighted
 * round-robin of each group, the chain of groups one request may use (its
 * group, the per-request fallbacks, the direct-Azure group of the global
 * fallback mode), the retry budget of each group, and the wait before the
 * next attempt.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "outcome.h"
#include "fallback_state.h"

struct config;

#define PROXY_PLAN_MAX_GROUPS     8    /* a group and its fallbacks, per request */
#define PROXY_PLAN_MAX_ATTEMPTS   16   /* upstream attempts per request, in all */
#define PROXY_PLAN_BACKOFF_MS     100L /* first wait before retrying the same deployment */
#define PROXY_PLAN_BACKOFF_CAP_MS 2000L

/* Smooth weighted round-robin (nginx's) of every group: weights are the
 * deployments' rpm, else their tpm, else equal. */
struct proxy_balancer;

struct proxy_balancer *proxy_balancer_new(const struct config *config);
void proxy_balancer_free(struct proxy_balancer *b);
/* The next deployment (index into config->deployments) of GROUP. */
size_t proxy_balancer_pick(struct proxy_balancer *b, size_t group);

struct proxy_plan_step {
	size_t group;
	enum route route;
	bool probe; /* one attempt only, a probe granted by the supervisor */
};

struct proxy_plan {
	const struct config *config;
	struct proxy_plan_step steps[PROXY_PLAN_MAX_GROUPS];
	size_t n_steps;
	size_t step;                           /* the current one */
	int retries;                           /* used in the current step */
	size_t tried[PROXY_PLAN_MAX_ATTEMPTS]; /* deployments of the current step */
	size_t n_tried;
	int attempts;      /* planned so far, all steps */
	size_t deployment; /* of the current attempt */
};

/*
 * Plans a request for GROUP. MODE and DIRECT_AZURE are the global state of
 * GROUP (fallback_state.h); PROBE: a probe grant was taken for this request.
 * In fallback mode with a direct-Azure group, the request goes there (after
 * one probe attempt on GROUP when PROBE); otherwise GROUP comes first. The
 * rest of GROUP's fallback chain follows in order either way.
 */
void proxy_plan_init(struct proxy_plan *plan, const struct config *config, size_t group,
                     enum fallback_mode mode, long direct_azure, bool probe);

/* The first attempt's deployment. */
size_t proxy_plan_first(struct proxy_plan *plan, struct proxy_balancer *b);

/* After the current attempt ended with an outcome of retry class RETRY
 * (outcome.h): moves to the next attempt (another deployment of the group
 * while its retries last, else the next group) and returns true, or false
 * when the request has none left (or RETRY is OUTCOME_RETRY_NONE). */
bool proxy_plan_next(struct proxy_plan *plan, struct proxy_balancer *b, enum outcome_retry retry);

/* The current deployment may not take the request (at its rpm/tpm ceiling,
 * router_settings.enable_pre_call_checks): the next one of the group not
 * tried yet, without using a retry, else the next group's first. False when
 * none is left. */
bool proxy_plan_skip(struct proxy_plan *plan, struct proxy_balancer *b);

/*
 * An error fallback (context_window_fallbacks, content_policy_fallbacks):
 * the rest of the plan is replaced by the groups named in NAMES (a route of
 * fallback each; unknown, unserved or already planned ones left out) and the
 * next attempt is the first one's. False when none is left.
 */
bool proxy_plan_divert(struct proxy_plan *plan, struct proxy_balancer *b, char *const *names,
                       size_t n);

/* Gives up the rest of the current group: the next attempt is the next
 * group's. False when there is none. */
bool proxy_plan_next_group(struct proxy_plan *plan, struct proxy_balancer *b);

static inline const struct proxy_plan_step *proxy_plan_current(const struct proxy_plan *plan)
{
	return &plan->steps[plan->step];
}

/*
 * The wait before the next attempt, in ms. RETRY_AFTER_MS is what the failed
 * answer asked for (-1: nothing). It holds within the group (its deployments
 * usually share an account and its limits), not for another group, which is
 * tried at once. Without it, a retry of the same deployment backs off
 * exponentially with RETRIES (the group's retries so far); another deployment
 * is tried at once. REMAINING_MS is what is left of the request's deadline
 * (< 0: no deadline). Returns -1 when the upstream's wait does not fit and
 * the next attempt is on the same deployment (skip it); a wait that does not
 * fit before another deployment is dropped (0).
 */
long proxy_plan_wait_ms(long retry_after_ms, bool same_group, bool same_deployment, int retries,
                        long remaining_ms);

/*
 * The wait a response header asks for, in ms, or -1 when NAME is none of
 * retry-after-ms, x-ms-retry-after-ms (milliseconds) or retry-after (seconds;
 * the HTTP-date form is ignored) or VALUE is not a number. *RET_PRECISE tells
 * a millisecond header (which wins over retry-after).
 */
long proxy_retry_after_ms(const char *name, size_t name_len, const char *value, size_t value_len,
                          bool *ret_precise);
