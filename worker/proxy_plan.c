/*
 * proxy_plan: deployment choice, attempt plan and retry timing of one client
 * request (see proxy_plan.h). Runs in a worker, on the request path; pure.
 *
 * Invariants: a plan never has more than PROXY_PLAN_MAX_ATTEMPTS attempts or
 * PROXY_PLAN_MAX_GROUPS groups, never lists a group twice and never lists a
 * group without deployments; its current step and deployment are always
 * valid once proxy_plan_first() has run.
 */
#include "proxy_plan.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_header.h"

struct proxy_balancer {
	const struct config *config;
	long long *weight;  /* per deployment */
	long long *current; /* per deployment: smooth weighted round-robin state */
};

/* Weights of GROUP's deployments from rpm, else tpm, else equal. A deployment
 * without the limit its siblings give gets their mean, so that it is
 * neither starved nor flooded. */
static void group_weights(const struct config *config, const struct group *g, long long *weight)
{
	bool use_rpm = false, use_tpm = false;
	long long sum = 0, n = 0;

	for (size_t i = 0; i < g->n_deployments; i++) {
		const struct deployment *d = &config->deployments[g->deployments[i]];

		use_rpm |= d->rpm > 0;
		use_tpm |= d->tpm > 0;
	}
	for (size_t i = 0; i < g->n_deployments; i++) {
		const struct deployment *d = &config->deployments[g->deployments[i]];
		long v = use_rpm ? d->rpm : use_tpm ? d->tpm : 1;

		if (v > 0) {
			sum += v;
			n++;
		}
	}
	for (size_t i = 0; i < g->n_deployments; i++) {
		const struct deployment *d = &config->deployments[g->deployments[i]];
		long v = use_rpm ? d->rpm : use_tpm ? d->tpm : 1;

		weight[g->deployments[i]] = v > 0 ? v : (n ? (sum / n > 0 ? sum / n : 1) : 1);
	}
}

struct proxy_balancer *proxy_balancer_new(const struct config *config)
{
	struct proxy_balancer *b = calloc(1, sizeof(*b));
	size_t n = config->n_deployments ? config->n_deployments : 1;

	if (!b)
		return NULL;
	b->config = config;
	b->weight = calloc(n, sizeof(*b->weight));
	b->current = calloc(n, sizeof(*b->current));
	if (!b->weight || !b->current) {
		proxy_balancer_free(b);
		return NULL;
	}
	for (size_t i = 0; i < config->n_deployments; i++)
		b->weight[i] = 1;
	for (size_t g = 0; g < config->n_groups; g++)
		group_weights(config, &config->groups[g], b->weight);
	return b;
}

void proxy_balancer_free(struct proxy_balancer *b)
{
	if (!b)
		return;
	free(b->weight);
	free(b->current);
	free(b);
}

/* litellm_params.order as a rank: unset comes after every ordered one. */
static long rank(const struct config *config, size_t deployment)
{
	long order = config->deployments[deployment].order;

	return order > 0 ? order : LONG_MAX;
}

static long lowest_rank(const struct config *config, const struct group *g)
{
	long best = LONG_MAX;

	for (size_t i = 0; i < g->n_deployments; i++) {
		long r = rank(config, g->deployments[i]);

		if (r < best)
			best = r;
	}
	return best;
}

size_t proxy_balancer_pick(struct proxy_balancer *b, size_t group)
{
	const struct group *g = &b->config->groups[group];
	long long total = 0;
	long first = lowest_rank(b->config, g);
	size_t best = SIZE_MAX;

	if (g->n_deployments == 1)
		return g->deployments[0];
	/* LiteLLM's order: only the lowest order takes new requests */
	for (size_t i = 0; i < g->n_deployments; i++) {
		size_t d = g->deployments[i];

		if (rank(b->config, d) != first)
			continue;
		if (best == SIZE_MAX)
			best = d;
		b->current[d] += b->weight[d];
		total += b->weight[d];
		if (b->current[d] > b->current[best])
			best = d;
	}
	b->current[best] -= total;
	return best;
}

static void add_step(struct proxy_plan *plan, size_t group, enum route route, bool probe)
{
	if (plan->n_steps >= PROXY_PLAN_MAX_GROUPS || group >= plan->config->n_groups ||
	    plan->config->groups[group].n_deployments == 0)
		return;
	for (size_t i = 0; i < plan->n_steps; i++)
		if (plan->steps[i].group == group)
			return;
	plan->steps[plan->n_steps++] = (struct proxy_plan_step){group, route, probe};
}

void proxy_plan_init(struct proxy_plan *plan, const struct config *config, size_t group,
                     enum fallback_mode mode, long direct_azure, bool probe)
{
	const struct group *g = &config->groups[group];
	bool direct = mode == MODE_FALLBACK && direct_azure >= 0;

	memset(plan, 0, sizeof(*plan));
	plan->config = config;
	if (direct) {
		if (probe)
			add_step(plan, group, ROUTE_PRIMARY, true);
		add_step(plan, (size_t)direct_azure, ROUTE_DIRECT_AZURE, false);
	}
	if (plan->n_steps == 0)
		add_step(plan, group, ROUTE_PRIMARY, false);
	for (size_t i = 0; i < g->n_fallbacks; i++) {
		const struct group *f = config_find_group(config, g->fallbacks[i]);

		/* in fallback mode the primary stays out: the supervisor found it failing */
		if (f && f != g)
			add_step(plan, (size_t)(f - config->groups), ROUTE_FALLBACK, false);
	}
}

static bool tried(const struct proxy_plan *plan, size_t deployment)
{
	for (size_t i = 0; i < plan->n_tried; i++)
		if (plan->tried[i] == deployment)
			return true;
	return false;
}

static void use(struct proxy_plan *plan, size_t deployment)
{
	plan->deployment = deployment;
	if (plan->n_tried < PROXY_PLAN_MAX_ATTEMPTS)
		plan->tried[plan->n_tried++] = deployment;
	plan->attempts++;
}

size_t proxy_plan_first(struct proxy_plan *plan, struct proxy_balancer *b)
{
	plan->step = 0;
	plan->retries = 0;
	plan->n_tried = 0;
	use(plan, proxy_balancer_pick(b, plan->steps[0].group));
	return plan->deployment;
}

bool proxy_plan_next_group(struct proxy_plan *plan, struct proxy_balancer *b)
{
	if (plan->attempts >= PROXY_PLAN_MAX_ATTEMPTS || plan->step + 1 >= plan->n_steps)
		return false;
	plan->step++;
	plan->retries = 0;
	plan->n_tried = 0;
	use(plan, proxy_balancer_pick(b, plan->steps[plan->step].group));
	return true;
}

bool proxy_plan_divert(struct proxy_plan *plan, struct proxy_balancer *b, char *const *names,
                       size_t n)
{
	plan->n_steps = plan->step + 1;
	for (size_t i = 0; i < n; i++) {
		const struct group *f = config_find_group(plan->config, names[i]);

		if (f)
			add_step(plan, (size_t)(f - plan->config->groups), ROUTE_FALLBACK, false);
	}
	return proxy_plan_next_group(plan, b);
}

/* Another deployment of the group than those tried: of the lowest order
 * (litellm_params.order) with one left, in the group's order after the
 * last one; the next in order when all were tried. */
static size_t retry_deployment(const struct proxy_plan *plan)
{
	const struct group *g = &plan->config->groups[plan->steps[plan->step].group];
	size_t at = 0, best = SIZE_MAX;

	for (size_t i = 0; i < g->n_deployments; i++)
		if (g->deployments[i] == plan->deployment)
			at = i;
	for (size_t k = 1; k <= g->n_deployments; k++) {
		size_t d = g->deployments[(at + k) % g->n_deployments];

		if (!tried(plan, d) &&
		    (best == SIZE_MAX || rank(plan->config, d) < rank(plan->config, best)))
			best = d;
	}
	return best != SIZE_MAX ? best : g->deployments[(at + 1) % g->n_deployments];
}

bool proxy_plan_next(struct proxy_plan *plan, struct proxy_balancer *b, enum outcome_retry retry)
{
	const struct deployment *dep = &plan->config->deployments[plan->deployment];
	long limit = dep->max_retries >= 0 ? dep->max_retries : plan->config->num_retries;

	if (retry == OUTCOME_RETRY_NONE || plan->attempts >= PROXY_PLAN_MAX_ATTEMPTS)
		return false;
	if (retry == OUTCOME_RETRY_DEPLOYMENT && !plan->steps[plan->step].probe &&
	    plan->retries < limit) {
		plan->retries++;
		use(plan, retry_deployment(plan));
		return true;
	}
	return proxy_plan_next_group(plan, b);
}

bool proxy_plan_skip(struct proxy_plan *plan, struct proxy_balancer *b)
{
	size_t d;

	if (plan->attempts >= PROXY_PLAN_MAX_ATTEMPTS)
		return false;
	d = retry_deployment(plan);
	if (!tried(plan, d)) {
		use(plan, d);
		return true;
	}
	return proxy_plan_next_group(plan, b);
}

long proxy_plan_wait_ms(long retry_after_ms, bool same_group, bool same_deployment, int retries,
                        long remaining_ms)
{
	long wait = 0;

	if (!same_group)
		return 0;
	if (retry_after_ms >= 0) {
		wait = retry_after_ms;
	} else if (same_deployment) {
		wait = PROXY_PLAN_BACKOFF_MS;
		for (int i = 1; i < retries && wait < PROXY_PLAN_BACKOFF_CAP_MS; i++)
			wait *= 2;
		if (wait > PROXY_PLAN_BACKOFF_CAP_MS)
			wait = PROXY_PLAN_BACKOFF_CAP_MS;
	}
	if (remaining_ms >= 0 && wait >= remaining_ms) {
		/* our own backoff is a courtesy; the upstream's wait is a request */
		if (retry_after_ms >= 0 && same_deployment)
			return -1;
		return 0;
	}
	return wait;
}

/* A non-negative decimal number (a fraction allowed) times SCALE, capped at
 * a day; -1 when VALUE is not one. */
static long parse_wait(const char *value, size_t len, long scale)
{
	const long cap = 24L * 3600 * 1000;
	long whole = 0, frac = 0, div = 1;
	size_t i = 0;

	if (len == 0)
		return -1;
	for (; i < len && value[i] >= '0' && value[i] <= '9'; i++)
		if (whole < cap)
			whole = whole * 10 + (value[i] - '0');
	if (i == 0)
		return -1;
	if (i < len && value[i] == '.') {
		for (i++; i < len && value[i] >= '0' && value[i] <= '9'; i++)
			if (div < 1000000) {
				frac = frac * 10 + (value[i] - '0');
				div *= 10;
			}
	}
	if (i != len)
		return -1;
	if (whole >= cap / scale)
		return cap;
	return whole * scale + frac * scale / div;
}

long proxy_retry_after_ms(const char *name, size_t name_len, const char *value, size_t value_len,
                          bool *ret_precise)
{
	if (http_header_name_is(name, name_len, "retry-after-ms") ||
	    http_header_name_is(name, name_len, "x-ms-retry-after-ms")) {
		*ret_precise = true;
		return parse_wait(value, value_len, 1);
	}
	if (http_header_name_is(name, name_len, "retry-after")) {
		*ret_precise = false;
		return parse_wait(value, value_len, 1000);
	}
	return -1;
}
