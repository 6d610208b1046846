/*
 * Unit tests of the walk of a request naming a stored response
 * (worker/proxy_walk.c): which deployments, in which order, for a group and
 * for an id route (the groups that serve Responses, or every group); what
 * counts as the upstream's "not found"; the id of an answer; valid ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "proxy_walk.h"
#include "tap.h"
#include "response_id_scan.h"

static struct config *load(const char *text)
{
	char path[] = "/tmp/test_proxy_walk_XXXXXX";
	int fd = mkstemp(path);
	struct config *config = NULL;
	struct diag_list diags = {0};

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return NULL;
	close(fd);
	if (config_load(path, &config, &diags) != 0)
		config = NULL;
	diag_free(&diags);
	unlink(path);
	return config;
}

static const char two_groups[] =
        "model_list:\n"
        "  - {model_name: chat, litellm_params: {model: openai/a, api_key: k}, model_info: {id: "
        "c0}}\n"
        "  - {model_name: codex, litellm_params: {model: openai/b, api_key: k},\n"
        "     model_info: {id: x0, mode: responses}}\n"
        "  - {model_name: codex, litellm_params: {model: openai/c, api_key: k}, model_info: {id: "
        "x1}}\n"
        "  - {model_name: chat, litellm_params: {model: openai/d, api_key: k}, model_info: {id: "
        "c1}}\n";

static const char no_mode[] =
        "model_list:\n"
        "  - {model_name: a, litellm_params: {model: openai/a, api_key: k}, model_info: {id: a0}}\n"
        "  - {model_name: b, litellm_params: {model: openai/b, api_key: k}, model_info: {id: b0}}\n";

static void order_is(const struct config *config, long group, const char *want)
{
	struct proxy_walk w;
	char got[256] = "";
	long d;

	proxy_walk_init(&w, config, group, "resp_1", 6);
	while ((d = proxy_walk_next(&w)) >= 0) {
		size_t used = strlen(got);

		snprintf(got + used, sizeof(got) - used, "%s%s", used ? " " : "",
		         config->deployments[d].id);
	}
	tap_str(got, want, "walk order");
}

static void test_order(void)
{
	struct config *config = load(two_groups);
	struct config *plain = load(no_mode);

	if (!tap_ok(config && plain, "the test configs load"))
		return;
	order_is(config, (long)(config_find_group(config, "chat") - config->groups), "c0 c1");
	order_is(config, -1, "x0 x1");
	order_is(plain, -1, "a0 b0");
	config_free(config);
	config_free(plain);
}

static void test_not_found(void)
{
	static const char prev[] = "{\"error\":{\"message\":\"Previous response with id 'r' not "
	                           "found.\",\"code\":\"previous_response_not_found\"}}";
	static const char model[] = "{\"error\":{\"code\":\"model_not_found\"}}";

	tap_ok(proxy_walk_not_found(PROXY_OP_RESPONSE_GET, 404, "{}", 2), "a 404 to an id route");
	tap_ok(!proxy_walk_not_found(PROXY_OP_RESPONSE_GET, 400, "{}", 2), "a 400 is no not-found");
	tap_ok(!proxy_walk_not_found(PROXY_OP_RESPONSE_DELETE, 500, "{}", 2), "nor a 500");
	tap_ok(proxy_walk_not_found(PROXY_OP_RESPONSES, 400, prev, strlen(prev)),
	       "a create's previous_response_not_found");
	tap_ok(!proxy_walk_not_found(PROXY_OP_RESPONSES, 404, model, strlen(model)),
	       "a create's model_not_found is the model's, not the response's");
	tap_ok(!proxy_walk_not_found(PROXY_OP_CHAT, 404, prev, strlen(prev)), "chat never walks");
}

static void test_valid(void)
{
	char longest[PROXY_RESPONSE_ID_MAX + 2];

	memset(longest, 'a', sizeof(longest));
	tap_ok(response_id_valid("resp_67ccd2bed1ec8190-b", 23), "letters, digits, _ and -");
	tap_ok(!response_id_valid("..", 2), "no dot: '..' would climb the upstream's path");
	tap_ok(!response_id_valid("", 0), "empty");
	tap_ok(!response_id_valid("a/b", 3), "a slash");
	tap_ok(!response_id_valid("a%2F", 4), "a percent");
	tap_ok(response_id_valid(longest, PROXY_RESPONSE_ID_MAX), "the longest");
	tap_ok(!response_id_valid(longest, PROXY_RESPONSE_ID_MAX + 1), "one longer");
}

int main(void)
{
	test_order();
	test_not_found();
	test_valid();
	return tap_done();
}
