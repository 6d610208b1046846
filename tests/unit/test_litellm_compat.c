/*
 * Unit tests of the LiteLLM shapes the loader accepts as LiteLLM does
 * (issue 17): YAML 1.1 integers with underscores (plain only: a quoted one
 * is a string there too), drop_params as a list and additional_drop_params;
 * the diagnoses of shapes seen in published configs, one fixture each
 * (shape_*.yaml); router_settings.model_group_alias.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "fixture_load.h"
#include "tap.h"

static void test_yaml11(void)
{
	struct config *c = NULL;
	struct diag_list d;
	int r = load("litellm_yaml11.yaml", &c, &d);

	tap_ok(r == -EINVAL, "a quoted '30_000' is a string, as in YAML 1.1: an error");
	tap_ok(has_diag(&d, DIAG_ERROR, 15, 12,
	                "model_list[1].litellm_params.tpm must be an integer, not '30_000'"),
	       "quoted tpm: error at 15:12");
	tap_ok(has_diag(&d, DIAG_WARNING, 10, 7,
	                "model_list[0].litellm_params.drop_params is a list: read as "
	                "additional_drop_params"),
	       "drop_params as a list: said at 10:7");
	tap_ok(has_diag(
	               &d, DIAG_WARNING, 16, 38,
	               "model_list[1].litellm_params.additional_drop_params[1]: 'stream' cannot be "
	               "dropped"),
	       "stream cannot be dropped: 16:38");
	tap_ok(!has_diag(&d, DIAG_ERROR, 8, 12, "") && !has_diag(&d, DIAG_ERROR, 9, 12, ""),
	       "tpm: 20_000 and rpm: 1_000 are integers");
	tap_ok(d.n == 3, "nothing else said (%zu)", d.n);
	if (d.n != 3)
		show(&d);
	diag_free(&d);
}

static void test_values(void)
{
	/* The same file without the quoted tpm loads, with the values. */
	char path[] = "/tmp/llmgate-compat-XXXXXX";
	struct config *c = NULL;
	struct diag_list d;
	const char *yaml = "model_list:\n"
	                   "  - model_name: gpt-4o\n"
	                   "    litellm_params:\n"
	                   "      model: openai/gpt-4o\n"
	                   "      api_key: sk-test-0000000000000000\n"
	                   "      tpm: 20_000\n"
	                   "      rpm: +1_000\n"
	                   "      max_retries: 0\n"
	                   "      drop_params: [logit_bias, seed]\n"
	                   "      additional_drop_params: [user, seed]\n";
	int fd = mkstemp(path), r;

	tap_ok(fd >= 0 && write(fd, yaml, strlen(yaml)) == (ssize_t)strlen(yaml), "temp file");
	close(fd);
	memset(&d, 0, sizeof(d));
	r = config_load(path, &c, &d);
	unlink(path);
	tap_ok(r == 0, "loads");
	if (r != 0) {
		show(&d);
		diag_free(&d);
		return;
	}
	tap_ok(c->deployments[0].tpm == 20000 && c->deployments[0].rpm == 1000,
	       "tpm 20000, rpm 1000");
	tap_ok(c->deployments[0].n_drop_keys == 3 &&
	               strcmp(c->deployments[0].drop_keys[0], "logit_bias") == 0 &&
	               strcmp(c->deployments[0].drop_keys[1], "seed") == 0 &&
	               strcmp(c->deployments[0].drop_keys[2], "user") == 0,
	       "drop keys: both lists, each key once");
	tap_ok(c->deployments[0].drop_params == -1, "drop_params as a list is not a boolean");
	config_free(c);
	diag_free(&d);
}

static void test_shapes(void)
{
	static const struct {
		const char *fixture;
		int line, col;
		const char *text;
	} cases[] = {
	        {"shape_environ_inside.yaml", 5, 14,
	         "model_list[0].litellm_params.model 'azure/os.environ/AZURE_DEPLOYMENT' has "
	         "os.environ/ after its start: LiteLLM expands os.environ/NAME only as the whole "
	         "value, and neither does llmgate, so it is sent as written"},
	        {"shape_dollar_model.yaml", 5, 14,
	         "'${CHAT_MODEL}' is expanded by llmgate, but LiteLLM sends it literally"},
	        {"shape_model_prefix_twice.yaml", 5, 14,
	         "model 'openai/openai/gpt-4o-mini' names the provider twice: 'openai/gpt-4o-mini' "
	         "is what goes upstream (LiteLLM strips only the first 'openai/' too)"},
	        {"shape_model_prefix_twice.yaml", 9, 14,
	         "model 'openai//gpt-4o' has an empty part after 'openai/': '/gpt-4o' is what goes "
	         "upstream"},
	        {"shape_model_name_prefix.yaml", 3, 17,
	         "model_name 'openai/gpt-4o' starts with the provider prefix 'openai/': it is only "
	         "a name here, so clients must send all of it as their model"},
	        {"shape_placeholders.yaml", 5, 14,
	         "model_list[0].litellm_params.model looks like a placeholder nobody filled in "
	         "('azure/<your-deployment>')"},
	        {"shape_placeholders.yaml", 6, 17,
	         "model_list[0].litellm_params.api_base looks like a placeholder nobody filled in "
	         "('https://YOUR-RESOURCE.openai.azure.com')"},
	        {"shape_placeholders.yaml", 8, 16,
	         "model_list[0].litellm_params.api_key looks like a placeholder nobody filled in"},
	        {"shape_wrong_section.yaml", 7, 7,
	         "unknown key 'mode' in litellm_params; it belongs in model_info"},
	        {"shape_wrong_section.yaml", 8, 5,
	         "unknown key 'tpm' in model_list[0]; it belongs in litellm_params"},
	        {"shape_wrong_section.yaml", 9, 5,
	         "unknown key 'rpm' in model_list[0]; it belongs in litellm_params"},
	        {"shape_wrong_section.yaml", 11, 3,
	         "unknown key 'set_verbose' in router_settings; it belongs in litellm_settings"},
	        {"shape_wrong_section.yaml", 13, 3,
	         "unknown key 'drop_params' in general_settings; it belongs in litellm_params or "
	         "litellm_settings"},
	        {"shape_wrong_section.yaml", 14, 3,
	         "unknown key 'redis_host' in general_settings; LiteLLM reads it in router_settings, "
	         "and llmgate does not implement it; ignored"},
	        {"shape_null_sections.yaml", 7, 1,
	         "router_settings is empty (null): nothing is set there; its keys must be indented "
	         "under it"},
	        {"shape_null_sections.yaml", 8, 1, "general_settings is empty (null)"},
	        {"shape_null_sections.yaml", 11, 1,
	         "duplicate key 'litellm_settings' at the top level; the later value is used (first "
	         "at 9:1)"},
	        {"shape_alias_string.yaml", 8, 22,
	         "router_settings.model_group_alias is a string ('gpt-4'), not a mapping: LiteLLM "
	         "expects alias: model_name pairs, e.g. {\"gpt-4\": \"gpt-4o\"}; ignored"},
	        {"shape_azure_version_old.yaml", 7, 20,
	         "api_version '2024-08-01-preview' is older than the deployment 'o1-mini' needs: "
	         "Azure serves it from api_version 2024-09-01-preview"},
	};
	static const struct {
		const char *fixture;
		size_t warnings;
	} counts[] = {
	        {"shape_environ_inside.yaml", 1},     {"shape_dollar_model.yaml", 1},
	        {"shape_model_prefix_twice.yaml", 2}, {"shape_model_name_prefix.yaml", 1},
	        {"shape_placeholders.yaml", 3},       {"shape_wrong_section.yaml", 6},
	        {"shape_null_sections.yaml", 3},      {"shape_alias_string.yaml", 1},
	        {"shape_azure_version_old.yaml", 1},
	};

	setenv("CHAT_MODEL", "gpt-4o", 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *c = NULL;
		struct diag_list d;
		int r = load(cases[i].fixture, &c, &d);
		bool found = has_diag(&d, DIAG_WARNING, cases[i].line, cases[i].col, cases[i].text);

		tap_ok(r == 0 && found, "%s: %d:%d: %.60s", cases[i].fixture, cases[i].line,
		       cases[i].col, cases[i].text);
		if (!found)
			show(&d);
		config_free(c);
		diag_free(&d);
	}
	/* and nothing else: a reader gets what they need, no more */
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct config *c = NULL;
		struct diag_list d;

		load(counts[i].fixture, &c, &d);
		tap_ok(d.n == counts[i].warnings, "%s: %zu diagnostics (%zu)", counts[i].fixture,
		       counts[i].warnings, d.n);
		config_free(c);
		diag_free(&d);
	}
	unsetenv("CHAT_MODEL");
}

static void test_alias(void)
{
	struct config *c = NULL;
	struct diag_list d;
	const struct group *g;
	int r = load("alias.yaml", &c, &d);

	tap_ok(r == -EINVAL, "an alias to an unknown model_name is an error");
	tap_ok(has_diag(&d, DIAG_ERROR, 18, 5,
	                "model_group_alias 'claude' names unknown model_name 'claude-3'"),
	       "unknown target at 18:5");
	tap_ok(has_diag(&d, DIAG_WARNING, 17, 5,
	                "model_group_alias 'gpt-4o-mini' is also a model_name; the model_name is "
	                "served and the alias ignored"),
	       "an alias that is a model_name: warned at 17:5");
	config_free(c);
	diag_free(&d);

	{
		char path[] = "/tmp/llmgate-alias-XXXXXX";
		const char *yaml =
		        "model_list:\n"
		        "  - model_name: gpt-4o\n"
		        "    litellm_params: {model: openai/gpt-4o, api_key: sk-0000}\n"
		        "  - model_name: gpt-4o-mini\n"
		        "    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-0000}\n"
		        "router_settings:\n"
		        "  model_group_alias:\n"
		        "    gpt-4: gpt-4o\n"
		        "    gpt-3.5-turbo: {model: gpt-4o-mini, hidden: true}\n";
		int fd = mkstemp(path);

		tap_ok(fd >= 0 && write(fd, yaml, strlen(yaml)) == (ssize_t)strlen(yaml),
		       "temp file");
		close(fd);
		memset(&d, 0, sizeof(d));
		r = config_load(path, &c, &d);
		unlink(path);
	}
	tap_ok(r == 0 && d.n == 0, "aliases load without a diagnostic");
	if (r == 0) {
		g = config_find_group(c, "gpt-4");
		tap_ok(g && strcmp(g->name, "gpt-4o") == 0, "gpt-4 -> gpt-4o");
		g = config_find_group(c, "gpt-3.5-turbo");
		tap_ok(g && strcmp(g->name, "gpt-4o-mini") == 0, "gpt-3.5-turbo -> gpt-4o-mini");
		tap_ok(c->n_aliases == 2 && !c->aliases[0].hidden && c->aliases[1].hidden,
		       "the hidden flag");
		tap_ok(config_find_group(c, "gpt-5") == NULL, "no alias, no group");
	}
	config_free(c);
	diag_free(&d);

	r = load("shape_alias_json_string.yaml", &c, &d);
	tap_ok(r == 0 && has_diag(&d, DIAG_WARNING, 9, 22,
	                          "router_settings.model_group_alias is a string holding JSON; "
	                          "read as the mapping it holds"),
	       "a JSON string: read, with a warning at 9:22");
	g = r == 0 ? config_find_group(c, "gpt-4") : NULL;
	tap_ok(g && strcmp(g->name, "gpt-4o") == 0, "JSON string: gpt-4 -> gpt-4o");
	config_free(c);
	diag_free(&d);
}

static void test_default_fallbacks(void)
{
	struct config *c = NULL;
	struct diag_list d;
	const struct group *g;
	int r = load("default_fallbacks.yaml", &c, &d);

	tap_ok(r == 0, "default_fallbacks loads");
	tap_ok(has_diag(&d, DIAG_WARNING, 13, 28,
	                "the default fallback to 'claude-bedrock' is skipped: llmgate serves none "
	                "of its deployments"),
	       "an unservable default fallback: skipped with a warning at 13:28");
	if (r == 0) {
		g = config_find_group(c, "a");
		tap_ok(g && g->n_fallbacks == 1 && strcmp(g->fallbacks[0], "b") == 0,
		       "a keeps its own fallbacks");
		g = config_find_group(c, "b");
		tap_ok(g && g->n_fallbacks == 1 && strcmp(g->fallbacks[0], "c") == 0,
		       "b falls back to the default");
		g = config_find_group(c, "c");
		tap_ok(g && g->n_fallbacks == 0, "c never falls back to itself");
	}
	config_free(c);
	diag_free(&d);
}

static void test_error_fallbacks(void)
{
	struct config *c = NULL;
	struct diag_list d;
	const struct group *g;
	int r = load("error_fallbacks.yaml", &c, &d);

	tap_ok(r == -EINVAL &&
	               has_diag(&d, DIAG_ERROR, 13, 74, "fallbacks name unknown model_name 'nope'"),
	       "an unknown group in content_policy_fallbacks is an error at 13:74");
	config_free(c);
	diag_free(&d);
	{
		char path[] = "/tmp/llmgate-efb-XXXXXX";
		FILE *in = fopen(FIXTURES_DIR "/error_fallbacks.yaml", "r");
		int fd = mkstemp(path);
		FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
		char line[512];

		while (in && out && fgets(line, sizeof(line), in)) {
			char *nope = strstr(line, ", {\"large\": [\"nope\"]}");

			if (nope)
				strcpy(nope, "]\n");
			fputs(line, out);
		}
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		memset(&d, 0, sizeof(d));
		r = config_load(path, &c, &d);
		unlink(path);
	}
	tap_ok(r == 0 && d.n == 0, "both kinds load");
	if (r == 0) {
		g = config_find_group(c, "small");
		tap_ok(g && g->n_error_fallbacks[ERROR_FALLBACK_CONTEXT_WINDOW] == 1 &&
		               strcmp(g->error_fallbacks[ERROR_FALLBACK_CONTEXT_WINDOW][0],
		                      "large") == 0,
		       "context_window_fallbacks from litellm_settings");
		tap_ok(g && g->n_error_fallbacks[ERROR_FALLBACK_CONTENT_POLICY] == 2 &&
		               strcmp(g->error_fallbacks[ERROR_FALLBACK_CONTENT_POLICY][0],
		                      "lenient") == 0,
		       "content_policy_fallbacks from router_settings, in order");
		tap_ok(g && g->n_fallbacks == 0, "the plain fallbacks stay empty");
	}
	config_free(c);
	diag_free(&d);
}

int main(void)
{
	test_yaml11();
	test_values();
	test_shapes();
	test_alias();
	test_default_fallbacks();
	test_error_fallbacks();
	return tap_done();
}
