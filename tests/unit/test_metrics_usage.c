/*
 * Unit tests of metrics_usage (the supervisor's token usage aggregate): two
 * reports summed, exact sample lines of every family (the LiteLLM ones
 * summed over routes, no cost sample for a deployment without prices), a
 * message naming what the config lacks refused whole, the last-minute
 * window of llmgatectl deployments, and counters that saturate.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics_usage.h"
#include "route.h"
#include "tap.h"

static struct deployment deps[2] = {
        {.id = (char *)"dep-a",
         .model_name = (char *)"gpt-4o",
         .model = (char *)"openai/gpt-4o",
         .price = {.set = true, .input = 1e-6, .has_input = true}},
        {.id = (char *)"dep-b", .model_name = (char *)"gpt-4o", .model = (char *)"azure/gpt-4o"},
};
static size_t g0[] = {0, 1};
static struct group groups[1] = {{.name = (char *)"gpt-4o", .deployments = g0, .n_deployments = 2}};
static struct config cfg = {
        .deployments = deps, .n_deployments = 2, .groups = groups, .n_groups = 1};

static char *render(const struct metrics_usage *u)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	metrics_usage_render(out, u);
	fclose(out);
	return text;
}

static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static struct ipc_usage_count entry(uint32_t dep, uint8_t route, uint64_t prompt,
                                    uint64_t completion, uint32_t unknown, double cost)
{
	return (struct ipc_usage_count){.group = 0,
	                                .deployment = dep,
	                                .route = route,
	                                .prompt = prompt,
	                                .completion = completion,
	                                .cached_prompt = prompt / 2,
	                                .reasoning = 1,
	                                .unknown = unknown,
	                                .cost = cost};
}

int main(void)
{
	struct metrics_usage *u = metrics_usage_new();
	static struct ipc_usage msg;
	char *text;

	msg.n = 3;
	msg.counts[0] = entry(0, ROUTE_PRIMARY, 100, 10, 1, 0.5);
	msg.counts[1] = entry(0, ROUTE_FALLBACK, 20, 2, 0, 0.25);
	msg.counts[2] = entry(1, ROUTE_PRIMARY, 7, 3, 2, 0);
	tap_ok(metrics_usage_add(u, &cfg, &msg, 100) == 0, "a report is added");
	msg.n = 1;
	msg.counts[0] = entry(0, ROUTE_PRIMARY, 100, 10, 0, 0.5);
	tap_ok(metrics_usage_add(u, &cfg, &msg, 125) == 0, "a second one");
	text = render(u);
	tap_ok(has_line(text, "llmgate_tokens_total{model=\"gpt-4o\",deployment=\"dep-a\","
	                      "route=\"primary\",type=\"prompt\"} 200"),
	       "prompt tokens summed over reports");
	tap_ok(has_line(text, "llmgate_tokens_total{model=\"gpt-4o\",deployment=\"dep-a\","
	                      "route=\"primary\",type=\"cached_prompt\"} 100"),
	       "cached prompt tokens");
	tap_ok(has_line(text, "llmgate_tokens_total{model=\"gpt-4o\",deployment=\"dep-a\","
	                      "route=\"fallback\",type=\"completion\"} 2"),
	       "by route");
	tap_ok(has_line(text, "llmgate_cost_total{model=\"gpt-4o\",deployment=\"dep-a\"} 1.25"),
	       "cost summed over routes");
	tap_ok(!strstr(text, "llmgate_cost_total{model=\"gpt-4o\",deployment=\"dep-b\"}"),
	       "no cost sample without prices");
	tap_ok(has_line(text, "llmgate_usage_unknown_total{model=\"gpt-4o\",deployment=\"dep-b\","
	                      "route=\"primary\"} 2"),
	       "unknown answers");
	tap_ok(has_line(text, "litellm_input_tokens_metric_total{requested_model=\"gpt-4o\","
	                      "model=\"openai/gpt-4o\",model_id=\"dep-a\"} 220"),
	       "LiteLLM input tokens, over routes");
	tap_ok(has_line(text, "litellm_total_tokens_metric_total{requested_model=\"gpt-4o\","
	                      "model=\"azure/gpt-4o\",model_id=\"dep-b\"} 10"),
	       "LiteLLM total tokens");
	tap_ok(has_line(text, "litellm_spend_metric_total{model=\"openai/gpt-4o\","
	                      "model_id=\"dep-a\"} 1.25") &&
	               !strstr(text, "litellm_spend_metric_total{model=\"azure/gpt-4o\""),
	       "LiteLLM spend, priced deployments only");
	free(text);

	tap_ok(metrics_usage_last_minute(u, "dep-a", 130) == 242 &&
	               metrics_usage_last_minute(u, "dep-b", 130) == 10,
	       "tokens in the last minute");
	tap_ok(metrics_usage_last_minute(u, "dep-a", 165) == 110,
	       "the first report's bucket has left the minute");
	tap_ok(metrics_usage_last_minute(u, "dep-a", 200) == 0, "none after a quiet minute");

	msg.n = 2;
	msg.counts[0] = entry(0, ROUTE_PRIMARY, 1, 1, 0, 0);
	msg.counts[1] = entry(2, ROUTE_PRIMARY, 1, 1, 0, 0);
	tap_ok(metrics_usage_add(u, &cfg, &msg, 300) < 0, "an unknown deployment: refused");
	msg.counts[1] = entry(1, ROUTE_PRIMARY, 1, 1, 0, -1);
	tap_ok(metrics_usage_add(u, &cfg, &msg, 300) < 0, "a negative cost: refused");
	msg.counts[1] = entry(1, ROUTE__COUNT, 1, 1, 0, 0);
	tap_ok(metrics_usage_add(u, &cfg, &msg, 300) < 0, "an unknown route: refused");
	text = render(u);
	tap_ok(has_line(text, "llmgate_tokens_total{model=\"gpt-4o\",deployment=\"dep-a\","
	                      "route=\"primary\",type=\"prompt\"} 200"),
	       "nothing of a refused message was added");
	free(text);
	msg.n = 1;
	msg.counts[0] = entry(1, ROUTE_PRIMARY, UINT64_MAX, 0, 0, 0);
	metrics_usage_add(u, &cfg, &msg, 300);
	metrics_usage_add(u, &cfg, &msg, 300);
	text = render(u);
	tap_ok(has_line(text, "llmgate_tokens_total{model=\"gpt-4o\",deployment=\"dep-b\","
	                      "route=\"primary\",type=\"prompt\"} 18446744073709551615"),
	       "a counter saturates, never wraps");
	free(text);
	metrics_usage_free(u);
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
