/*
 * Unit tests of the attempt planner (worker/proxy_plan.c): weighted
 * round-robin, retries within a group, per-request fallbacks, the global
 * fallback mode with and without a probe, and retry waits.
 */
#include <string.h>

#include "config.h"
#include "proxy_plan.h"
#include "tap.h"

static const char *dep_id(const struct config *c, size_t i)
{
	return c->deployments[i].id;
}

int main(void)
{
	struct diag_list diags = {0};
	struct config *c = NULL;
	struct proxy_balancer *b;
	struct proxy_plan plan;
	int light = 0, heavy = 0;
	bool precise = false;

	tap_ok(config_load(FIXTURES_DIR "/routing.yaml", &c, &diags) == 0, "fixture loads");
	diag_free(&diags);
	if (!c)
		return tap_done();
	b = proxy_balancer_new(c);

	for (int i = 0; i < 40; i++) {
		size_t d = proxy_balancer_pick(b, 0);

		light += strcmp(dep_id(c, d), "light") == 0;
		heavy += strcmp(dep_id(c, d), "heavy") == 0;
	}
	tap_ok(light == 10 && heavy == 30, "rpm 100:300 spreads 10:30 (got %d:%d)", light, heavy);

	/* normal mode: primary, one retry on the other deployment, then Azure */
	proxy_plan_init(&plan, c, 0, MODE_NORMAL, 1, false);
	size_t first = proxy_plan_first(&plan, b);
	tap_ok(proxy_plan_current(&plan)->route == ROUTE_PRIMARY, "starts on the primary");
	tap_ok(proxy_plan_next(&plan, b, OUTCOME_RETRY_DEPLOYMENT), "a retry is planned");
	tap_ok(plan.deployment != first && proxy_plan_current(&plan)->group == 0,
	       "the retry goes to the other deployment of the group");
	tap_ok(proxy_plan_next(&plan, b, OUTCOME_RETRY_DEPLOYMENT),
	       "retries exhausted: next group");
	tap_ok(proxy_plan_current(&plan)->route == ROUTE_FALLBACK &&
	               strcmp(dep_id(c, plan.deployment), "azure") == 0,
	       "the fallback group answers next");
	tap_ok(!proxy_plan_next(&plan, b, OUTCOME_RETRY_NONE), "an answer ends the plan");

	/* 401 on the primary: straight to the fallbacks, no retry in the group */
	proxy_plan_init(&plan, c, 0, MODE_NORMAL, 1, false);
	proxy_plan_first(&plan, b);
	tap_ok(proxy_plan_next(&plan, b, OUTCOME_RETRY_GROUP) &&
	               proxy_plan_current(&plan)->group == 1,
	       "auth failure moves to the fallback group");

	/* global fallback mode: direct Azure first, the primary not at all */
	proxy_plan_init(&plan, c, 0, MODE_FALLBACK, 1, false);
	proxy_plan_first(&plan, b);
	tap_ok(proxy_plan_current(&plan)->route == ROUTE_DIRECT_AZURE &&
	               strcmp(dep_id(c, plan.deployment), "azure") == 0,
	       "fallback mode goes direct to Azure");
	tap_ok(!proxy_plan_next(&plan, b, OUTCOME_RETRY_GROUP), "and never back to the primary");

	/* with a probe: one primary attempt, then Azure within the same request */
	proxy_plan_init(&plan, c, 0, MODE_FALLBACK, 1, true);
	proxy_plan_first(&plan, b);
	tap_ok(proxy_plan_current(&plan)->probe && proxy_plan_current(&plan)->group == 0,
	       "a granted probe tries the primary first");
	tap_ok(proxy_plan_next(&plan, b, OUTCOME_RETRY_DEPLOYMENT) &&
	               proxy_plan_current(&plan)->route == ROUTE_DIRECT_AZURE,
	       "a failed probe is not retried: Azure answers the same request");

	/* degraded: primary first, as normal */
	proxy_plan_init(&plan, c, 0, MODE_DEGRADED, 1, false);
	proxy_plan_first(&plan, b);
	tap_ok(proxy_plan_current(&plan)->route == ROUTE_PRIMARY, "degraded tries primary");

	/* a deployment at its rpm/tpm ceiling is skipped: the group's other one,
	 * no retry used; then the next group; then nothing */
	proxy_plan_init(&plan, c, 0, MODE_NORMAL, 1, false);
	first = proxy_plan_first(&plan, b);
	tap_ok(proxy_plan_skip(&plan, b) && plan.deployment != first &&
	               proxy_plan_current(&plan)->group == 0 && plan.retries == 0,
	       "skip: the group's other deployment, no retry used");
	tap_ok(proxy_plan_skip(&plan, b) && proxy_plan_current(&plan)->route == ROUTE_FALLBACK,
	       "skip with every deployment of the group tried: the fallback group");
	tap_ok(!proxy_plan_skip(&plan, b), "skip with nothing left: false");

	/* waits */
	tap_ok(proxy_plan_wait_ms(700, true, false, 1, 5000) == 700, "retry-after honoured");
	tap_ok(proxy_plan_wait_ms(700, false, false, 1, 5000) == 0, "not across groups");
	tap_ok(proxy_plan_wait_ms(9000, true, true, 1, 5000) == -1,
	       "same deployment, wait past the deadline: give up on it");
	tap_ok(proxy_plan_wait_ms(-1, true, true, 3, 5000) == 400, "own backoff doubles");
	tap_ok(proxy_retry_after_ms("retry-after-ms", 14, "700", 3, &precise) == 700 && precise,
	       "retry-after-ms parsed");
	tap_ok(proxy_retry_after_ms("retry-after", 11, "2", 1, &precise) == 2000,
	       "retry-after seconds parsed");

	proxy_balancer_free(b);
	config_free(c);
	return tap_done();
}
