/*
 * Unit tests of LiteLLM's litellm_params.order in the attempt planner
 * (worker/proxy_plan.c): new requests go only to the lowest order, spread
 * across it; a request's retries try the rest of that order before the
 * next; a deployment without order comes after every ordered one.
 */
#include <string.h>

#include "config.h"
#include "proxy_plan.h"
#include "tap.h"

static const char *id_of(const struct config *c, size_t i)
{
	return c->deployments[i].id;
}

int main(void)
{
	struct diag_list diags = {0};
	struct config *c = NULL;
	struct proxy_balancer *b;
	struct proxy_plan plan;
	int a = 0, other = 0;

	tap_ok(config_load(FIXTURES_DIR "/routing_order.yaml", &c, &diags) == 0 && diags.n == 0,
	       "fixture loads without a diagnostic");
	diag_free(&diags);
	if (!c)
		return tap_done();
	tap_ok(c->deployments[0].order == 1 && c->deployments[1].order == 2 &&
	               c->deployments[2].order == 0,
	       "order read (unset: 0)");
	b = proxy_balancer_new(c);
	for (int i = 0; i < 20; i++) {
		size_t d = proxy_balancer_pick(b, 0);

		a += strcmp(id_of(c, d), "ptu-a") == 0;
		other += strcmp(id_of(c, d), "ptu-a") != 0 && strcmp(id_of(c, d), "ptu-b") != 0;
	}
	tap_ok(other == 0 && a == 10, "new requests: order 1 only, spread 10:10 (a %d, other %d)",
	       a, other);

	proxy_plan_init(&plan, c, 0, MODE_NORMAL, -1, false);
	proxy_plan_first(&plan, b);
	tap_ok(c->deployments[plan.deployment].order == 1, "first attempt: order 1");
	tap_ok(proxy_plan_next(&plan, b, OUTCOME_RETRY_DEPLOYMENT) &&
	               c->deployments[plan.deployment].order == 1,
	       "first retry: the other order-1 deployment");
	tap_ok(proxy_plan_next(&plan, b, OUTCOME_RETRY_DEPLOYMENT) &&
	               strcmp(id_of(c, plan.deployment), "paygo") == 0,
	       "both order-1 tried: order 2");
	tap_ok(proxy_plan_next(&plan, b, OUTCOME_RETRY_DEPLOYMENT) &&
	               strcmp(id_of(c, plan.deployment), "unordered") == 0,
	       "then the one without order");
	tap_ok(!proxy_plan_next(&plan, b, OUTCOME_RETRY_DEPLOYMENT), "num_retries 3 spent");
	proxy_balancer_free(b);
	config_free(c);
	return tap_done();
}
