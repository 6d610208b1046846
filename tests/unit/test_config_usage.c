/*
 * Unit tests of the usage keys of the loader (issue 19): LiteLLM's four
 * price keys in litellm_params and model_info (litellm_params wins key by
 * key; no longer "ignored"), a bad price refused with its place, and
 * llmgate.usage / llmgate.stream_usage with their defaults.
 */
#include <stdlib.h>
#include <unistd.h>

#include "fixture_load.h"
#include "tap.h"

/* config_load() of YAML written to a temporary file. */
static int load_text(const char *yaml, struct config **c, struct diag_list *d)
{
	char path[] = "/tmp/llmgate-usage-XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0 || write(fd, yaml, strlen(yaml)) != (ssize_t)strlen(yaml))
		return -1;
	close(fd);
	memset(d, 0, sizeof(*d));
	r = config_load(path, c, d);
	unlink(path);
	return r;
}

static bool any_diag(const struct diag_list *d, const char *text)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->items[i].message, text))
			return true;
	return false;
}

int main(void)
{
	struct config *c = NULL;
	struct diag_list d;
	const struct usage_price *p;
	int r;

	r = load_text("model_list:\n"
	              "  - model_name: gpt-4o\n"
	              "    litellm_params:\n"
	              "      model: openai/gpt-4o\n"
	              "      api_key: sk-test-0000000000000000\n"
	              "      input_cost_per_token: 0.0000025\n"
	              "      output_cost_per_token: 1e-5\n"
	              "    model_info:\n"
	              "      input_cost_per_token: 0.5\n"
	              "      cache_read_input_token_cost: 1.25e-06\n"
	              "      output_cost_per_reasoning_token: 0\n"
	              "  - model_name: free\n"
	              "    litellm_params:\n"
	              "      model: openai/gpt-4o-mini\n"
	              "      api_key: sk-test-0000000000000000\n"
	              "llmgate:\n"
	              "  stream_usage: inject\n",
	              &c, &d);
	tap_ok(r == 0, "prices load");
	if (r == 0) {
		p = &c->deployments[0].price;
		tap_ok(p->set && p->has_input && p->input == 0.0000025,
		       "input from litellm_params (wins over model_info's)");
		tap_ok(p->has_output && p->output == 1e-5, "output from litellm_params");
		tap_ok(p->has_cache_read && p->cache_read == 1.25e-6, "cache read from model_info");
		tap_ok(p->has_reasoning && p->reasoning == 0, "a reasoning price of 0 is a price");
		tap_ok(!c->deployments[1].price.set, "no price keys: no cost");
		tap_ok(!any_diag(&d, "cost"), "the price keys are not reported as ignored");
		tap_ok(c->usage && c->stream_usage_inject, "usage on by default; inject");
		config_free(c);
	}
	diag_free(&d);

	r = load_text("model_list:\n"
	              "  - model_name: gpt-4o\n"
	              "    litellm_params:\n"
	              "      model: openai/gpt-4o\n"
	              "      api_key: sk-test-0000000000000000\n"
	              "      input_cost_per_token: -1\n"
	              "llmgate:\n"
	              "  usage: false\n",
	              &c, &d);
	tap_ok(r < 0 && any_diag(&d, "input_cost_per_token must be a price per token"),
	       "a negative price is an error naming the key");
	diag_free(&d);

	r = load_text("model_list:\n"
	              "  - model_name: gpt-4o\n"
	              "    litellm_params:\n"
	              "      model: openai/gpt-4o\n"
	              "      api_key: sk-test-0000000000000000\n"
	              "llmgate:\n"
	              "  usage: false\n"
	              "  stream_usage: always\n",
	              &c, &d);
	tap_ok(r < 0 && any_diag(&d, "stream_usage must be off or inject, not 'always'"),
	       "stream_usage: off or inject only");
	diag_free(&d);

	r = load_text("model_list:\n"
	              "  - model_name: gpt-4o\n"
	              "    litellm_params:\n"
	              "      model: openai/gpt-4o\n"
	              "      api_key: sk-test-0000000000000000\n"
	              "llmgate:\n"
	              "  usage: false\n"
	              "  stream_usage: off\n",
	              &c, &d);
	tap_ok(r == 0 && !c->usage && !c->stream_usage_inject, "usage: false, stream_usage: off");
	if (r == 0)
		config_free(c);
	diag_free(&d);
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
