/*
 * Unit tests of the config loader, fixture by fixture: one fixture per
 * diagnostic, each checked for its severity, its exact LINE:COL and its text;
 * the seed config from the customer, both with its keys set and without;
 * the struct built from a full config; secrets never shown; hostile inputs
 * (size, nesting, aliases, include depth and cycles, random mutations) that
 * must fail cleanly. Run under ASan/LSan in CI.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "tap.h"

#ifndef FIXTURES_DIR
#error "FIXTURES_DIR must point at tests/fixtures"
#endif

#define W DIAG_WARNING
#define E DIAG_ERROR

static char tmpdir[256];

static int load_path(const char *path, struct config **ret, struct diag_list *d)
{
	int r;

	memset(d, 0, sizeof(*d));
	r = config_load(path, ret, d);
	diag_sort(d);
	return r;
}

static int load(const char *name, struct config **ret, struct diag_list *d)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	return load_path(path, ret, d);
}

static void show(const struct diag_list *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char buf[1024];

		diag_format(&d->items[i], buf, sizeof(buf));
		printf("#   %s\n", buf);
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A diagnostic at WHERE ("LINE:COL", or "LINE:COL@file-suffix") with this
 * severity whose message is TEXT (EXACT) or contains it. */
static const struct diag *find(const struct diag_list *d, const char *where, enum diag_severity sev,
                               const char *text, bool exact)
{
	const char *file = strchr(where, '@');
	int line = 0, col = 0;

	sscanf(where, "%d:%d", &line, &col);
	for (size_t i = 0; i < d->n; i++) {
		const struct diag *x = &d->items[i];

		if (x->line != line || x->col != col || x->severity != sev)
			continue;
		if (file && !ends_with(x->file, file + 1))
			continue;
		if (exact ? strcmp(x->message, text) == 0 : strstr(x->message, text) != NULL)
			return x;
	}
	return NULL;
}

static void expect(const struct diag_list *d, const char *where, enum diag_severity sev,
                   const char *text, bool exact, const char *what)
{
	if (!tap_ok(find(d, where, sev, text, exact) != NULL, "%s: %s at %s: %s", what,
	            diag_severity_name(sev), where, text)) {
		printf("#   diagnostics were:\n");
		show(d);
	}
}

#define EXPECT(d, where, sev, text, what)       expect(d, where, sev, text, false, what)
#define EXPECT_EXACT(d, where, sev, text, what) expect(d, where, sev, text, true, what)

static void expect_counts(const struct diag_list *d, size_t errors, size_t warnings,
                          const char *what)
{
	size_t e = diag_count(d, E), w = diag_count(d, W);

	if (!tap_ok(e == errors && w == warnings, "%s: %zu errors, %zu warnings (got %zu, %zu)",
	            what, errors, warnings, e, w))
		show(d);
}

/* Loads NAME expecting return WANT_R; a failed load must leave no config. */
static struct config *load_expect(const char *name, int want_r, struct diag_list *d)
{
	struct config *c = (struct config *)(uintptr_t)1;
	int r = load(name, &c, d);

	if (!tap_ok(r == want_r, "%s: config_load returns %d (got %d)", name, want_r, r))
		show(d);
	if (r < 0)
		tap_ok(c == NULL, "%s: no config on failure", name);
	else
		tap_ok(c != NULL, "%s: a config on success", name);
	return r < 0 ? NULL : c;
}

/* ---- the customer's seed config ---------------------------------------- */

static const char seed_dollar_azure[] =
        "'${AZURE_OPENAI_API_KEY}' is expanded by llmgate, but LiteLLM sends it literally; write "
        "os.environ/AZURE_OPENAI_API_KEY to stay portable";
static const char seed_dollar_openai[] =
        "'${OPENAI_API_KEY}' is expanded by llmgate, but LiteLLM sends it literally; write "
        "os.environ/OPENAI_API_KEY to stay portable";
static const char seed_deployment[] =
        "deployment_id 'gpt-4o-2024-08-06' overrides the deployment 'gpt-4o' named in model: "
        "azure/gpt-4o; requests go to .../deployments/gpt-4o-2024-08-06";

static void test_seed_with_keys(void)
{
	struct diag_list d;
	struct config *c;
	const struct deployment *az, *oa;

	setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789abcdef", 1);
	setenv("OPENAI_API_KEY", "sk-openai-0123456789abcdef", 1);
	c = load_expect("seed.yaml", 0, &d);
	expect_counts(&d, 0, 6, "seed with keys");
	EXPECT_EXACT(&d, "7:16", W, seed_dollar_azure, "seed ${} in api_key");
	EXPECT_EXACT(&d, "11:17", W,
	             "model_name 'openai/gpt-4o' starts with the provider prefix 'openai/': it is "
	             "only a name here, so clients must send all of it as their model",
	             "seed: a provider prefix in model_name");
	EXPECT_EXACT(&d, "14:16", W, seed_dollar_openai, "seed ${} in the openai api_key");
	EXPECT_EXACT(&d, "8:22", W, seed_deployment, "seed deployment_id disagreement");
	EXPECT(&d, "21:25", W,
	       "'${AZURE_OPENAI_API_KEY}' is expanded by llmgate, but LiteLLM sets "
	       "AZURE_OPENAI_API_KEY to this literal text, replacing the real value",
	       "seed environment_variables self-reference");
	EXPECT(&d, "22:19", W, "LiteLLM sets OPENAI_API_KEY to this literal text",
	       "seed environment_variables self-reference (openai)");
	if (!c)
		goto out;

	tap_ok(c->verbose, "seed: set_verbose accepted");
	tap_ok(c->drop_params, "seed: drop_params True");
	tap_ok(c->n_deployments == 2 && c->n_groups == 2, "seed: two deployments, two groups");
	az = &c->deployments[0];
	oa = &c->deployments[1];
	tap_ok(az->provider == PROVIDER_AZURE, "seed: first is azure");
	tap_str(az->upstream_model, "gpt-4o-2024-08-06", "seed: deployment_id wins");
	tap_str(az->api_base, "https://ai-idha-sbx-scus-001.openai.azure.com",
	        "seed: trailing slash removed");
	tap_str(az->api_version, "2024-08-01-preview", "seed: api_version");
	tap_str(az->api_key, "azure-key-0123456789abcdef",
	        "seed: ${} expanded from the environment");
	tap_str(az->id, "gpt-4o#1", "seed: generated id");
	tap_ok(oa->provider == PROVIDER_OPENAI, "seed: second is openai (no prefix)");
	tap_str(oa->model_name, "openai/gpt-4o", "seed: model_name with a slash");
	tap_str(oa->upstream_model, "gpt-4o", "seed: openai upstream model");
	tap_str(oa->api_base, "https://api.openai.com/v1", "seed: openai default api_base");
	tap_str(oa->api_key, "sk-openai-0123456789abcdef", "seed: openai key");
	tap_str(oa->id, "openai/gpt-4o#1", "seed: generated id of the second group");
	tap_str(getenv("AZURE_OPENAI_API_KEY"), "azure-key-0123456789abcdef",
	        "seed: environment_variables self-reference leaves the variable as it was");
out:
	config_free(c);
	diag_free(&d);
}

static void test_seed_without_azure_key(void)
{
	struct diag_list d;
	struct config *c;

	unsetenv("AZURE_OPENAI_API_KEY");
	setenv("OPENAI_API_KEY", "sk-openai-0123456789abcdef", 1);
	c = load_expect("seed.yaml", -EINVAL, &d);
	expect_counts(&d, 1, 6, "seed without AZURE_OPENAI_API_KEY");
	EXPECT_EXACT(&d, "7:16", E,
	             "environment variable 'AZURE_OPENAI_API_KEY' is not set (referenced by "
	             "model_list[0].litellm_params.api_key)",
	             "seed: unset variable named at its first reference");
	tap_ok(getenv("AZURE_OPENAI_API_KEY") == NULL,
	       "seed: an unset variable is never set to an empty or literal value");
	config_free(c);
	diag_free(&d);
}

/* ---- one fixture per diagnostic ---------------------------------------- */

static void test_diagnostics(void)
{
	static const struct {
		const char *fixture;
		int r;
		const char *where;
		enum diag_severity sev;
		bool exact;
		const char *text;
	} cases[] = {
	        {"syntax_error.yaml", -EINVAL, "5:6", E, true,
	         "invalid YAML: did not find expected key (while parsing a block mapping started "
	         "at 2:5)"},
	        {"missing_model_name.yaml", -EINVAL, "2:5", E, true,
	         "model_list[0] has no model_name"},
	        {"missing_model.yaml", -EINVAL, "3:5", E, true,
	         "model_list[0].litellm_params has no model"},
	        {"unknown_provider.yaml", 0, "4:14", W, true,
	         "unknown provider 'togetherai' in model "
	         "'togetherai/meta-llama/Llama-3.3-70B-Instruct-Turbo'; this deployment is not "
	         "served (did you mean 'together_ai/'?)"},
	        {"azure_no_api_base.yaml", -EINVAL, "4:14", E, false,
	         "azure model 'azure/gpt-4o' has no api_base"},
	        {"azure_no_api_version.yaml", 0, "4:14", W, true,
	         "azure model 'azure/gpt-4o' has no api_version and AZURE_API_VERSION is not set: "
	         "it uses Azure's v1 API (.../openai/v1/, no dated version needed); write "
	         "api_version to pin one"},
	        {"api_base_no_scheme.yaml", -EINVAL, "5:17", E, true,
	         "model_list[0].litellm_params.api_base must start with http:// or https://, not "
	         "'localhost:8000/v1'"},
	        {"api_base_deployments.yaml", 0, "5:17", W, true,
	         "model_list[0].litellm_params.api_base contains '/openai/deployments/...', a path "
	         "llmgate builds itself; normalized to 'https://example.openai.azure.com'"},
	        {"api_base_chat_completions.yaml", 0, "5:17", W, true,
	         "model_list[0].litellm_params.api_base ends in '/chat/completions', a path llmgate "
	         "adds itself; normalized to 'http://litellm.internal:4000/v1'"},
	        {"api_base_query.yaml", -EINVAL, "5:17", E, true,
	         "model_list[0].litellm_params.api_base must not contain a query string or fragment "
	         "('?' or '#'): llmgate appends the request path to it and sets the query itself "
	         "(Azure: write api_version)"},
	        {"api_version_prefix.yaml", 0, "6:20", W, true,
	         "model_list[0].litellm_params.api_version is written "
	         "'api-version=2024-08-01-preview'; normalized to '2024-08-01-preview'"},
	        {"deployment_id_mismatch.yaml", 0, "8:22", W, true, seed_deployment},
	        {"fallback_unknown_group.yaml", -EINVAL, "12:27", E, true,
	         "fallbacks name unknown model_name 'gpt-4o-direkt'; did you mean 'gpt-4o-direct'?"},
	        {"unknown_key.yaml", 0, "5:7", W, true,
	         "unknown key 'api_bse' in litellm_params; did you mean 'api_base'?"},
	        {"ignored_keys.yaml", 0, "10:22", W, true,
	         "ignored: litellm_settings.success_callback[0] 'langfuse' is a LiteLLM callback "
	         "llmgate does not implement (only 'otel')"},
	        {"router_advisory.yaml", 0, "7:3", W, false,
	         "ignored: router_settings.allowed_fails is accepted for LiteLLM compatibility; "
	         "llmgate's own failure policy is under llmgate.fallback"},
	        {"wrong_type.yaml", -EINVAL, "6:9", E, true,
	         "model_list[0].litellm_params.api_base must be a URL, not a mapping"},
	        {"workers_not_number.yaml", -EINVAL, "7:12", E, true,
	         "llmgate.workers must be a number of processes from 0 to 1024 (0 or auto: one per "
	         "CPU), not 'many'"},
	        {"duplicate_id.yaml", -EINVAL, "13:11", E, false,
	         "duplicate model_info.id 'primary' (also used by model_list[0] at "},
	        {"id_control.yaml", -EINVAL, "7:11", E, true,
	         "model_list[0].model_info.id contains a line break or control character"},
	        {"env_unset.yaml", -EINVAL, "5:16", E, true,
	         "environment variable 'LLMGATE_TEST_UNSET_KEY' is not set (referenced by "
	         "model_list[0].litellm_params.api_key)"},
	        {"duplicate_key.yaml", 0, "6:7", W, true,
	         "duplicate key 'model' in litellm_params; the later value is used (first at 4:7)"},
	        {"multi_document.yaml", -EINVAL, "6:1", E, true,
	         "a second YAML document; the config must be a single document"},
	        {"not_mapping.yaml", -EINVAL, "1:1", E, false,
	         "the config must be a mapping of sections"},
	        {"alias_bomb.yaml", -EINVAL, "1:8", E, false, "the document has more than"},
	        {"empty.yaml", -EINVAL, "0:0", E, true,
	         "no models: model_list is missing, so llmgate has nothing to route to"},
	        {"include_missing.yaml", -EINVAL, "7:5", E, false,
	         "cannot read include '" FIXTURES_DIR "/does-not-exist.yaml': No such file or "
	         "directory"},
	        {"include_cycle_a.yaml", -EINVAL, "2:5@include_cycle_b.yaml", E, false,
	         "include cycle: '" FIXTURES_DIR "/include_cycle_a.yaml' is already being loaded"},
	};

	unsetenv("LLMGATE_TEST_UNSET_KEY");
	unsetenv("AZURE_API_VERSION");
	unsetenv("AZURE_API_BASE");
	unsetenv("LLMGATE_TEST_UNSET_MASTER");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag_list d;
		struct config *c = load_expect(cases[i].fixture, cases[i].r, &d);

		expect(&d, cases[i].where, cases[i].sev, cases[i].text, cases[i].exact,
		       cases[i].fixture);
		config_free(c);
		diag_free(&d);
	}
}

/* Fixtures with several diagnostics: every one checked. */
static void test_more_diagnostics(void)
{
	struct diag_list d;
	struct config *c;

	c = load_expect("fallback_unknown_group.yaml", -EINVAL, &d);
	expect_counts(&d, 3, 0, "fallbacks");
	EXPECT_EXACT(&d, "12:44", E,
	             "fallbacks name unknown model_name 'gpt-5' (known: gpt-4o, gpt-4o-direct)",
	             "fallbacks: unknown target, no close name");
	EXPECT_EXACT(&d, "12:56", E,
	             "fallbacks name unknown model_name 'gpt-3' (known: gpt-4o, gpt-4o-direct)",
	             "fallbacks: unknown source group");
	config_free(c);
	diag_free(&d);

	c = load_expect("unknown_key.yaml", 0, &d);
	expect_counts(&d, 0, 6, "unknown keys");
	EXPECT_EXACT(&d, "7:7", W,
	             "unknown key 'safe_prompt' in litellm_params; sent upstream as a request "
	             "parameter",
	             "unknown litellm_params key far from any known one is a request default");
	EXPECT_EXACT(&d, "8:5", W,
	             "unknown key 'model_infos' in model_list[0]; did you mean 'model_info'?",
	             "unknown entry key");
	EXPECT_EXACT(&d, "11:3", W,
	             "unknown key 'num_retires' in router_settings; did you mean 'num_retries'?",
	             "transposition typo");
	EXPECT_EXACT(
	        &d, "13:3", W,
	        "unknown key 'num_retries' in general_settings; it belongs in litellm_settings "
	        "or router_settings",
	        "key of another section");
	EXPECT_EXACT(&d, "15:3", W, "unknown key 'wrokers' in llmgate; did you mean 'workers'?",
	             "llmgate section typo");
	if (c) {
		tap_str(c->deployments[0].request_defaults_json, "{\"safe_prompt\":true}",
		        "the typo is not forwarded, the unknown parameter is");
		tap_str(c->deployments[0].api_base, "https://api.openai.com/v1",
		        "a misspelt api_base is not used");
	}
	config_free(c);
	diag_free(&d);

	c = load_expect("ignored_keys.yaml", 0, &d);
	expect_counts(&d, 0, 7, "ignored LiteLLM keys");
	EXPECT_EXACT(
	        &d, "6:7", W,
	        "ignored: litellm_params.weight is a LiteLLM setting llmgate does not implement",
	        "ignored litellm_params key");
	EXPECT_EXACT(
	        &d, "8:7", W,
	        "ignored: model_info.base_model is a LiteLLM setting llmgate does not implement",
	        "ignored model_info key");
	EXPECT(&d, "11:3", W, "ignored: litellm_settings.cache is", "cache ignored");
	EXPECT(&d, "12:3", W, "ignored: litellm_settings.telemetry is", "telemetry ignored");
	EXPECT(&d, "14:3", W, "ignored: general_settings.database_url is",
	       "database_url ignored (and its os.environ/ reference never resolved)");
	EXPECT_EXACT(&d, "15:1", W,
	             "ignored: guardrails is a LiteLLM setting llmgate does not implement",
	             "ignored top-level key");
	config_free(c);
	diag_free(&d);

	c = load_expect("router_advisory.yaml", 0, &d);
	expect_counts(&d, 0, 3, "router advisories");
	EXPECT(&d, "8:3", W, "router_settings.cooldown_time is accepted for LiteLLM compatibility",
	       "cooldown_time");
	EXPECT(&d, "9:3", W, "its own failure policy is under llmgate.fallback",
	       "routing_strategy");
	config_free(c);
	diag_free(&d);

	c = load_expect("wrong_type.yaml", -EINVAL, &d);
	expect_counts(&d, 2, 0, "wrong types");
	EXPECT_EXACT(&d, "8:16", E,
	             "model_list[0].litellm_params.timeout must be a duration, not a list",
	             "a list where a duration is expected");
	config_free(c);
	diag_free(&d);

	c = load_expect("env_unset.yaml", -EINVAL, &d);
	expect_counts(&d, 2, 1, "unset variables: one error each");
	EXPECT_EXACT(&d, "11:15", E,
	             "environment variable 'LLMGATE_TEST_UNSET_MASTER' is not set (referenced by "
	             "general_settings.master_key)",
	             "unset variable inside ${}");
	tap_ok(!find(&d, "9:16", E, "LLMGATE_TEST_UNSET_KEY", false),
	       "a variable is reported once, at its first reference");
	config_free(c);
	diag_free(&d);

	c = load_expect("bad_duration.yaml", -EINVAL, &d);
	expect_counts(&d, 5, 0, "bad durations and policy");
	EXPECT_EXACT(&d, "6:16", E,
	             "model_list[0].litellm_params.timeout must be a duration such as 500ms, 30s, "
	             "5m or 1h (a bare number is seconds), not '5 minutes'",
	             "bad duration");
	EXPECT(&d, "8:18", E, "llmgate.drain_timeout must be a duration", "negative duration");
	EXPECT_EXACT(&d, "10:13", E, "llmgate.fallback.window must be longer than 0",
	             "zero window");
	EXPECT_EXACT(&d, "11:11", E,
	             "llmgate.fallback.mode must be auto, on or off, not 'sometimes'", "bad mode");
	EXPECT_EXACT(&d, "12:20", E,
	             "llmgate.fallback.failure_ratio must be greater than 0 and at most 1, not 1.5",
	             "ratio out of range");
	config_free(c);
	diag_free(&d);

	c = load_expect("bad_values.yaml", -EINVAL, &d);
	expect_counts(&d, 7, 4, "bad values");
	EXPECT_EXACT(&d, "6:7", W,
	             "model_list[0].litellm_params.api_version is only used by azure/ models; "
	             "ignored for 'openai/gpt-4o'",
	             "azure-only key on openai");
	EXPECT(&d, "10:9", E, "'Bad Header' is not a valid header name", "header name");
	EXPECT(&d, "11:18", E, "the value of 'X-Split' contains a line break or control character",
	       "header injection refused");
	EXPECT(&d, "12:9", W, "'Content-Length' is set by llmgate itself; ignored",
	       "framing header refused");
	EXPECT_EXACT(&d, "13:20", E,
	             "model_list[0].litellm_params.max_retries must be an integer, not 'lots'",
	             "not an integer");
	EXPECT_EXACT(&d, "14:20", E,
	             "model_list[0].litellm_params.drop_params must be true or false, not 'maybe'",
	             "not a boolean");
	EXPECT(&d, "16:13", W, "model_info.mode 'rerank' is not served by llmgate", "mode");
	EXPECT(&d, "18:11", E, "llmgate.listen must be HOST:PORT", "listen without a port");
	EXPECT_EXACT(&d, "20:19", E,
	             "llmgate.control_socket must be a socket path of 1 to 107 bytes",
	             "empty control socket");
	EXPECT_EXACT(&d, "21:26", E,
	             "llmgate.cpu_scheduling_policy must be batch or inherit, not 'fifo'",
	             "no real-time scheduling policy");
	config_free(c);
	diag_free(&d);

	c = load_expect("fallbacks_override.yaml", 0, &d);
	expect_counts(&d, 0, 4, "fallbacks override");
	EXPECT_EXACT(
	        &d, "9:16", W,
	        "litellm_settings.num_retries (1) is overridden by router_settings.num_retries "
	        "(4)",
	        "router_settings wins: num_retries");
	EXPECT_EXACT(&d, "10:3", W,
	             "litellm_settings.fallbacks is ignored: router_settings.fallbacks takes "
	             "precedence",
	             "router_settings wins: fallbacks");
	EXPECT_EXACT(&d, "14:20", W, "the fallbacks of 'a' name the group itself; ignored",
	             "self fallback");
	EXPECT_EXACT(&d, "15:7", W, "the fallbacks of 'a' are given twice; the first list is used",
	             "second list for a group");
	if (c) {
		const struct group *a = config_find_group(c, "a");

		tap_ok(c->num_retries == 4, "router num_retries wins");
		tap_ok(a && a->n_fallbacks == 2 && strcmp(a->fallbacks[0], "b") == 0 &&
		               strcmp(a->fallbacks[1], "c") == 0,
		       "fallbacks in order, duplicates and self removed");
		tap_ok(config_find_group(c, "b")->n_fallbacks == 0, "no fallbacks for b");
	}
	config_free(c);
	diag_free(&d);

	c = load_expect("duplicate_key.yaml", 0, &d);
	if (c)
		tap_str(c->deployments[0].upstream_model, "gpt-4o-mini",
		        "the later duplicate wins");
	config_free(c);
	diag_free(&d);
}

static void test_environment(void)
{
	struct diag_list d;
	struct config *c;

	setenv("LLMGATE_TEST_HOST", "10.0.0.7", 1);
	setenv("LLMGATE_TEST_KEY", "sk-dollar-0123456789", 1);
	c = load_expect("env_dollar.yaml", 0, &d);
	expect_counts(&d, 0, 2, "${} references");
	EXPECT_EXACT(&d, "5:17", W,
	             "'${LLMGATE_TEST_HOST}' is expanded by llmgate, but LiteLLM sends it "
	             "literally (LiteLLM only resolves a whole value written os.environ/NAME)",
	             "${} inside a string");
	EXPECT_EXACT(
	        &d, "6:16", W,
	        "'${LLMGATE_TEST_KEY}' is expanded by llmgate, but LiteLLM sends it literally; "
	        "write os.environ/LLMGATE_TEST_KEY to stay portable",
	        "${} as the whole value");
	if (c) {
		tap_str(c->deployments[0].api_base, "http://10.0.0.7:8000/v1", "${} inside a URL");
		tap_str(c->deployments[0].api_key, "sk-dollar-0123456789", "${} as a key");
		tap_str(c->listen, "10.0.0.7:4000", "${} in llmgate: expanded, no warning");
	}
	config_free(c);
	diag_free(&d);
	unsetenv("LLMGATE_TEST_HOST");
	unsetenv("LLMGATE_TEST_KEY");

	unsetenv("LLMGATE_TEST_FROM_SECTION");
	setenv("LLMGATE_TEST_SOURCE", "org-copied", 1);
	c = load_expect("env_section.yaml", 0, &d);
	expect_counts(&d, 0, 0, "environment_variables");
	if (c) {
		tap_str(c->deployments[0].api_key, "sk-from-section-000000000000",
		        "environment_variables are exported before references resolve");
		tap_str(c->deployments[0].organization, "org-copied",
		        "environment_variables values may be references");
	}
	tap_str(getenv("LLMGATE_TEST_COPY"), "org-copied", "environment_variables are setenv()ed");
	config_free(c);
	diag_free(&d);
}

/* ---- secrets ----------------------------------------------------------- */

static void test_no_secret_in_messages(void)
{
	static const char *const needles[] = {"sk-SECRETVALUE-do-not-print-4242", "SECRETVALUE",
	                                      "XYZZY"};
	struct diag_list d;
	struct config *c;
	bool clean = true;

	setenv("LLMGATE_TEST_SECRET_IN_ENV", "envsecret-XYZZY-123456", 1);
	unsetenv("LLMGATE_TEST_UNSET_SUFFIX");
	c = load_expect("secrets.yaml", -EINVAL, &d);
	tap_ok(diag_count(&d, E) >= 5 && diag_count(&d, W) >= 3,
	       "secrets: several errors and warnings (%zu, %zu)", diag_count(&d, E),
	       diag_count(&d, W));
	for (size_t i = 0; i < d.n; i++) {
		for (size_t j = 0; j < sizeof(needles) / sizeof(needles[0]); j++) {
			if (strstr(d.items[i].message, needles[j])) {
				printf("#   leaked '%s': %s\n", needles[j], d.items[i].message);
				clean = false;
			}
		}
	}
	tap_ok(clean, "no diagnostic shows a secret, even one put in the wrong field");
	EXPECT(&d, "12:16", E,
	       "not 'sk-\xe2\x80\xa6"
	       "4242'",
	       "a key-shaped value in a non-secret field is masked");
	EXPECT(&d, "18:20", E, "not 'os.environ/LLMGATE_TEST_SECRET_IN_ENV'",
	       "a referenced value is shown as written, not resolved");
	EXPECT(&d, "19:23", E, "not '${LLMGATE_TEST_SECRET_IN_ENV}'",
	       "a ${} value is shown as written, not resolved");
	config_free(c);
	diag_free(&d);
	unsetenv("LLMGATE_TEST_SECRET_IN_ENV");
}

/* ---- the built struct -------------------------------------------------- */

static void test_full_struct(void)
{
	struct diag_list d;
	struct config *c;
	const struct deployment *x;
	const struct group *g;

	setenv("LLMGATE_TEST_AZURE_KEY", "azure-0123456789abcdef0123456789ab", 1);
	setenv("LLMGATE_TEST_PROXY_KEY", "sk-proxy-0123456789", 1);
	setenv("LLMGATE_TEST_OPENAI_KEY", "sk-openai-0123456789", 1);
	setenv("LLMGATE_TEST_MASTER_KEY", "sk-master-0123456789", 1);
	c = load_expect("full.yaml", 0, &d);
	expect_counts(&d, 0, 1, "full config");
	EXPECT_EXACT(&d, "40:17", W,
	             "model_list[3].litellm_params.api_base contains '/openai/deployments/...', a "
	             "path llmgate builds itself; normalized to 'https://us.openai.azure.com'",
	             "full: a merged-in api_base overridden and normalized");
	if (!c)
		goto out;

	tap_ok(c->n_deployments == 5, "full: five deployments");
	tap_ok(c->n_groups == 3, "full: three groups");
	if (c->n_deployments != 5 || c->n_groups != 3)
		goto out;

	x = &c->deployments[0];
	tap_str(x->id, "gpt-4o#1", "d0: generated id");
	tap_str(x->model_name, "gpt-4o", "d0: group");
	tap_str(x->model, "openai/gpt-4o", "d0: model as written");
	tap_ok(x->provider == PROVIDER_OPENAI, "d0: openai");
	tap_str(x->upstream_model, "gpt-4o", "d0: upstream model without the prefix");
	tap_str(x->api_base, "http://litellm.internal:4000/v1", "d0: trailing slash removed");
	tap_str(x->api_key, "sk-proxy-0123456789", "d0: os.environ/ key");
	tap_ok(x->api_version == NULL && x->azure_ad_token == NULL, "d0: no azure fields");
	tap_ok(x->timeout_ms == 600000, "d0: timeout 600 (bare seconds)");
	tap_ok(x->stream_timeout_ms == 2500, "d0: stream_timeout 2.5");
	tap_ok(x->max_retries == 1 && x->rpm == 600 && x->tpm == 0, "d0: retries, rpm, tpm");
	tap_ok(x->drop_params == -1, "d0: drop_params unset");
	tap_str(x->request_defaults_json,
	        "{\"temperature\":0.2,\"max_tokens\":512,\"stop\":[\"\\n\\n\",\"END\"],"
	        "\"response_format\":{\"type\":\"json_object\"}}",
	        "d0: request defaults as JSON, typed and in order");
	tap_ok(x->n_extra_headers == 1 && strcmp(x->extra_headers[0].name, "X-Team") == 0 &&
	               strcmp(x->extra_headers[0].value, "spreadsheet") == 0,
	       "d0: extra_headers");
	tap_ok(ends_with(x->file, "/full.yaml") && x->line == 8 && x->col == 5,
	       "d0: located at its entry (%d:%d)", x->line, x->col);

	x = &c->deployments[1];
	tap_str(x->id, "gpt-4o#2", "d1: second id in the group");
	tap_str(x->api_base, "https://api.openai.com/v1", "d1: default openai api_base");
	tap_str(x->organization, "org-123", "d1: organization");
	tap_ok(x->drop_params == 1, "d1: drop_params true");
	tap_ok(x->timeout_ms == 0 && x->stream_timeout_ms == 0 && x->max_retries == -1,
	       "d1: unset timeouts and retries");
	tap_ok(x->request_defaults_json == NULL, "d1: no request defaults");

	x = &c->deployments[2];
	tap_str(x->id, "azure-eu", "d2: model_info.id");
	tap_ok(x->provider == PROVIDER_AZURE, "d2: azure");
	tap_str(x->upstream_model, "gpt-4o", "d2: deployment from model");
	tap_str(x->api_base, "https://eu.openai.azure.com", "d2: merged api_base normalized");
	tap_str(x->api_version, "2024-10-21", "d2: merged api_version");
	tap_str(x->api_key, "azure-0123456789abcdef0123456789ab", "d2: merged key");
	tap_str(x->mode, "chat", "d2: mode");

	x = &c->deployments[3];
	tap_str(x->id, "gpt-4o-direct#2", "d3: generated id counts the whole group");
	tap_str(x->api_base, "https://us.openai.azure.com", "d3: own api_base wins over merge");
	tap_str(x->azure_ad_token, "azure-0123456789abcdef0123456789ab", "d3: azure_ad_token");

	x = &c->deployments[4];
	tap_str(x->id, "embed#1", "d4: id");
	tap_str(x->upstream_model, "text-embedding-3-small", "d4: no prefix is openai");
	tap_str(x->mode, "embedding", "d4: mode");

	g = &c->groups[0];
	tap_ok(strcmp(g->name, "gpt-4o") == 0 && g->n_deployments == 2 && g->deployments[0] == 0 &&
	               g->deployments[1] == 1,
	       "group gpt-4o: first appearance, two deployments");
	tap_ok(g->n_fallbacks == 1 && strcmp(g->fallbacks[0], "gpt-4o-direct") == 0,
	       "group gpt-4o falls back to gpt-4o-direct");
	g = &c->groups[1];
	tap_ok(strcmp(g->name, "gpt-4o-direct") == 0 && g->n_deployments == 2 &&
	               g->deployments[0] == 2 && g->deployments[1] == 3 && g->n_fallbacks == 0,
	       "group gpt-4o-direct");
	g = config_find_group(c, "embed");
	tap_ok(g && g->n_deployments == 1 && g->deployments[0] == 4 && g->n_fallbacks == 1,
	       "config_find_group finds embed");
	tap_ok(config_find_group(c, "nope") == NULL, "config_find_group: unknown is NULL");

	tap_ok(c->num_retries == 3, "num_retries from litellm_settings");
	tap_ok(c->request_timeout_ms == 45000, "request_timeout 45s");
	tap_ok(c->router_timeout_ms == 90000, "router timeout 90 (bare seconds)");
	tap_ok(!c->drop_params && !c->verbose, "drop_params, set_verbose false");
	tap_str(c->master_key, "sk-master-0123456789", "master_key from the environment");
	tap_ok(c->max_request_size == 2 * 1024 * 1024, "max_request_size_mb 2");
	tap_str(c->listen, "[::1]:8080", "listen");
	tap_ok(c->workers == 4, "workers");
	tap_ok(!c->sched_batch, "cpu_scheduling_policy inherit");
	tap_str(c->control_socket, "/tmp/llmgate-test.sock", "control_socket");
	tap_str(c->admin_listen, "127.0.0.1:9100", "admin_listen");
	tap_str(c->user, "nobody", "user");
	tap_ok(c->drain_timeout_ms == 60000, "drain_timeout 1m");
	tap_ok(c->header_timeout_ms == 2000 && c->body_timeout_ms == 1500 &&
	               c->idle_timeout_ms == 90000,
	       "header_timeout 2s, body_timeout 1500ms, idle_timeout 90s");
	tap_str(c->access_log, "stderr", "access_log");
	tap_ok(!c->upstream_http2, "upstream_http2 false");
	tap_ok(c->response_affinity_entries == 1000, "response_affinity_entries 1000");
	tap_ok(c->fallback.mode == FALLBACK_SETTING_ON, "fallback mode on");
	tap_ok(c->fallback.window_ms == 20000 && c->fallback.min_requests == 20 &&
	               c->fallback.failure_ratio == 0.25 && c->fallback.consecutive_failures == 3 &&
	               c->fallback.cooldown_ms == 60000 && c->fallback.probe_interval_ms == 500 &&
	               c->fallback.recover_successes == 5 && c->fallback.report_interval_ms == 100,
	       "fallback policy");
out:
	config_free(c);
	diag_free(&d);
}

static void test_defaults(void)
{
	struct diag_list d;
	struct config *c = load_expect("minimal.yaml", 0, &d);

	expect_counts(&d, 0, 0, "minimal config");
	if (!c)
		goto out;
	tap_ok(c->num_retries == 2, "default num_retries 2");
	tap_ok(c->router_timeout_ms == 600000 && c->request_timeout_ms == 600000,
	       "default timeouts 600s");
	tap_ok(!c->drop_params && !c->verbose, "default drop_params, verbose false");
	tap_ok(c->master_key == NULL, "default: no client auth");
	tap_ok(c->max_request_size == 10 * 1024 * 1024, "default max request 10 MiB");
	tap_str(c->listen, "127.0.0.1:4000", "default listen");
	tap_ok(c->workers == 0, "default workers 0 (CPUs)");
	tap_ok(c->sched_batch, "default cpu_scheduling_policy batch");
	tap_str(c->control_socket, "/run/llmgate/control.sock", "default control socket");
	tap_ok(c->admin_listen == NULL && c->access_log == NULL, "default: no metrics, no log");
	tap_str(c->user, "llmgate", "default user");
	tap_ok(c->drain_timeout_ms == 30000, "default drain 30s");
	tap_ok(c->header_timeout_ms == 5000 && c->body_timeout_ms == 30000 &&
	               c->idle_timeout_ms == 60000,
	       "default header 5s, body 30s, idle 60s");
	tap_ok(c->upstream_http2, "default: HTTP/2 offered to TLS upstreams");
	tap_ok(c->response_affinity_entries == 65536, "default: 65536 response ids shared");
	tap_ok(c->fallback.mode == FALLBACK_SETTING_AUTO && c->fallback.window_ms == 10000 &&
	               c->fallback.min_requests == 10 && c->fallback.failure_ratio == 0.5 &&
	               c->fallback.consecutive_failures == 5 && c->fallback.cooldown_ms == 30000 &&
	               c->fallback.probe_interval_ms == 5000 &&
	               c->fallback.recover_successes == 3 && c->fallback.report_interval_ms == 250,
	       "default fallback policy");
	tap_str(c->deployments[0].api_base, "https://api.openai.com/v1", "default api_base");
	tap_ok(ends_with(c->path, "/minimal.yaml"), "path kept");
	tap_str(provider_name(PROVIDER_AZURE), "azure", "provider_name");
	tap_str(fallback_setting_name(FALLBACK_SETTING_OFF), "off", "fallback_setting_name");
out:
	config_free(c);
	diag_free(&d);
}

/* ---- includes ---------------------------------------------------------- */

static void test_includes(void)
{
	struct diag_list d;
	struct config *c;

	c = load_expect("include_main.yaml", -EINVAL, &d);
	expect_counts(&d, 1, 1, "include with a broken file");
	EXPECT(&d, "4:14@/include/bad.yaml", E, "azure model 'azure/gpt-4o' has no api_base",
	       "errors point into the included file");
	EXPECT_EXACT(&d, "10:1@/include/models.yaml", W,
	             "ignored: 'litellm_settings' in an included file; llmgate reads only "
	             "model_list and include from included files",
	             "settings in an included file are ignored");
	config_free(c);
	diag_free(&d);

	c = load_expect("include_ok.yaml", 0, &d);
	expect_counts(&d, 0, 1, "include");
	if (c && c->n_deployments == 3) {
		tap_str(c->deployments[0].model_name, "gpt-4o", "main file entries first");
		tap_str(c->deployments[1].id, "azure-direct#1", "then the included file's");
		tap_ok(ends_with(c->deployments[1].file, "/include/models.yaml") &&
		               c->deployments[1].line == 2,
		       "included deployment keeps its file and line");
		tap_str(c->deployments[2].id, "azure-direct#2", "then the nested include's");
		tap_str(c->deployments[2].api_base, "https://direct2.openai.azure.com",
		        "nested include path is relative to its including file");
		tap_ok(config_find_group(c, "gpt-4o")->n_fallbacks == 1,
		       "fallbacks may name groups of included files");
	} else {
		tap_ok(false, "include: three deployments");
	}
	config_free(c);
	diag_free(&d);
}

static int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

static const char model_yaml[] =
        "model_list:\n"
        "  - model_name: m\n"
        "    litellm_params: {model: openai/m, api_key: sk-test-00000000}\n";

static void test_hostile_inputs(void)
{
	char path[512], next[64], *big;
	struct diag_list d;
	struct config *c;
	size_t n;
	int r;

	/* Include chain deeper than the limit. */
	for (int i = 0; i <= 10; i++) {
		char text[256];

		snprintf(path, sizeof(path), "%s/chain%d.yaml", tmpdir, i);
		snprintf(next, sizeof(next), "chain%d.yaml", i + 1);
		snprintf(text, sizeof(text), "%sinclude: [%s]\n", i == 0 ? model_yaml : "",
		         i < 10 ? next : "");
		write_file(path, text, strlen(text));
	}
	snprintf(path, sizeof(path), "%s/chain0.yaml", tmpdir);
	r = load_path(path, &c, &d);
	tap_ok(r == -EINVAL && !c, "include depth bounded");
	EXPECT(&d, "1:11@/chain8.yaml", E, "includes nest deeper than 8 levels",
	       "include depth error at the include that goes too deep");
	config_free(c);
	diag_free(&d);

	/* Self include. */
	snprintf(path, sizeof(path), "%s/self.yaml", tmpdir);
	{
		char text[256];

		snprintf(text, sizeof(text), "%sinclude: [self.yaml]\n", model_yaml);
		write_file(path, text, strlen(text));
	}
	r = load_path(path, &c, &d);
	tap_ok(r == -EINVAL, "self include refused");
	EXPECT(&d, "4:11", E, "include cycle", "self include is a cycle");
	config_free(c);
	diag_free(&d);

	/* Over 4 MiB. */
	n = 4 * 1024 * 1024 + 1;
	big = malloc(n);
	if (big) {
		memset(big, '#', n);
		for (size_t i = 79; i < n; i += 80)
			big[i] = '\n';
		snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
		write_file(path, big, n);
		free(big);
		r = load_path(path, &c, &d);
		tap_ok(r == -EFBIG && !c, "a file over 4 MiB is refused (%d)", r);
		EXPECT(&d, "0:0", E, "cannot read the config: the file is larger than 4 MiB",
		       "size limit message");
		diag_free(&d);
	}

	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	r = load_path(path, &c, &d);
	tap_ok(r == -ENOENT && !c, "missing file: -ENOENT");
	EXPECT_EXACT(&d, "0:0", E, "cannot read the config: No such file or directory",
	             "missing file message");
	diag_free(&d);

	r = load_path(tmpdir, &c, &d);
	tap_ok(r == -EISDIR && !c, "a directory is refused");
	diag_free(&d);

	/* Deep nesting. */
	{
		char text[512] = "a: ";

		for (int i = 0; i < 100; i++)
			strcat(text, "[");
		strcat(text, "\n");
		snprintf(path, sizeof(path), "%s/deep.yaml", tmpdir);
		write_file(path, text, strlen(text));
	}
	r = load_path(path, &c, &d);
	tap_ok(r == -EINVAL && !c, "deep nesting refused");
	EXPECT(&d, "1:67", E, "nesting deeper than 64 levels", "nesting limit");
	diag_free(&d);

	/* NUL, tags, invalid UTF-8. */
	{
		static const char nul[] = "model_list:\n  - model_name: \"a\\0b\"\n";
		static const char tag[] = "model_list:\n  - model_name: !ENV X\n";
		static const char utf[] = "model_list:\n  - model_name: ab\xff\n";

		snprintf(path, sizeof(path), "%s/nul.yaml", tmpdir);
		write_file(path, nul, strlen(nul));
		r = load_path(path, &c, &d);
		EXPECT(&d, "2:17", E, "a string contains a NUL character", "NUL refused");
		diag_free(&d);
		snprintf(path, sizeof(path), "%s/tag.yaml", tmpdir);
		write_file(path, tag, strlen(tag));
		r = load_path(path, &c, &d);
		EXPECT(&d, "2:17", E, "unsupported YAML tag '!ENV'", "local tags refused");
		diag_free(&d);
		snprintf(path, sizeof(path), "%s/utf.yaml", tmpdir);
		write_file(path, utf, strlen(utf));
		r = load_path(path, &c, &d);
		tap_ok(r == -EINVAL, "invalid UTF-8 refused");
		EXPECT(&d, "2:19", E, "invalid YAML: invalid leading UTF-8 octet",
		       "reader error located");
		diag_free(&d);
	}
}

/* Random mutations of every fixture: none may crash, hang or leak (the CI
 * runs this under ASan/LSan). Deterministic, so failures reproduce. */
static void test_mutations(void)
{
	static const char *const fixtures[] = {
	        "seed.yaml",        "full.yaml",         "secrets.yaml",
	        "bad_values.yaml",  "include_ok.yaml",   "fallbacks_override.yaml",
	        "env_section.yaml", "include_main.yaml",
	};
	static const char pieces[] = ":-[]{}&*!|>'\"#%@`,? \n\t$/\\0";
	uint64_t seed = 0x1234567887654321ull;
	size_t runs = 0, loaded = 0;

	for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); f++) {
		char src[512], dst[512], *text = NULL;
		size_t len = 0;
		FILE *in;

		snprintf(src, sizeof(src), "%s/%s", FIXTURES_DIR, fixtures[f]);
		snprintf(dst, sizeof(dst), "%s/mutant.yaml", tmpdir);
		in = fopen(src, "re");
		if (!in)
			continue;
		text = malloc(1 << 16);
		if (text)
			len = fread(text, 1, (1 << 16) - 64, in);
		fclose(in);
		for (int it = 0; text && it < 150; it++) {
			char *m = malloc(len + 64);
			size_t mlen = len, edits;
			struct diag_list d;
			struct config *c;

			if (!m)
				break;
			memcpy(m, text, len);
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			edits = 1 + (seed >> 60) % 4;
			for (size_t e = 0; e < edits && mlen > 0; e++) {
				size_t pos;

				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				pos = (size_t)(seed >> 33) % mlen;
				switch ((seed >> 20) % 4) {
				case 0: /* replace with a YAML-significant byte */
					m[pos] = pieces[(seed >> 8) % (sizeof(pieces) - 1)];
					break;
				case 1: /* delete a byte */
					memmove(m + pos, m + pos + 1, mlen - pos - 1);
					mlen--;
					break;
				case 2: /* insert a byte */
					memmove(m + pos + 1, m + pos, mlen - pos);
					m[pos] = pieces[(seed >> 8) % (sizeof(pieces) - 1)];
					mlen++;
					break;
				default: /* flip a bit */
					m[pos] = (char)(m[pos] ^ (1 << ((seed >> 4) % 8)));
					break;
				}
			}
			write_file(dst, m, mlen);
			free(m);
			if (load_path(dst, &c, &d) == 0)
				loaded++;
			config_free(c);
			diag_free(&d);
			runs++;
		}
		free(text);
	}
	tap_ok(runs > 0, "%zu mutated configs loaded or refused cleanly (%zu accepted)", runs,
	       loaded);
}

/* ---- the key table ----------------------------------------------------- */

static void test_key_table(void)
{
	size_t n = 0, bad = 0;
	const struct config_key_doc *keys = config_keys(&n);
	bool contiguous = true, found_api_base = false, found_advisory = false;

	tap_ok(keys && n > 100, "config_keys lists the known keys (%zu)", n);
	for (size_t i = 0; i < n; i++) {
		if (!keys[i].section || !keys[i].key || !keys[i].type || !keys[i].description ||
		    !keys[i].description[0])
			bad++;
		/* Each section's rows are contiguous (the loader relies on it). */
		for (size_t j = 0; j + 1 < i; j++)
			if (strcmp(keys[j].section, keys[i].section) == 0 &&
			    strcmp(keys[j + 1].section, keys[i].section) != 0)
				contiguous = false;
		if (strcmp(keys[i].section, "litellm_params") == 0 &&
		    strcmp(keys[i].key, "api_base") == 0)
			found_api_base = keys[i].implemented && strcmp(keys[i].type, "url") == 0;
		if (strcmp(keys[i].section, "router_settings") == 0 &&
		    strcmp(keys[i].key, "cooldown_time") == 0)
			found_advisory = !keys[i].implemented;
	}
	tap_ok(bad == 0, "every key has a section, type and description");
	tap_ok(contiguous, "each section's keys are contiguous");
	tap_ok(found_api_base, "litellm_params.api_base is an implemented url");
	tap_ok(found_advisory, "router_settings.cooldown_time is accepted, not implemented");
}

/* The settings of two configs are the same (deployments aside). */
/* llmgate.tls as applied (where the values were written aside). */
static bool same_tls(const struct config *a, const struct config *b)
{
	const struct config_tls *x = &a->tls, *y = &b->tls;

	for (int i = 0; i < CONFIG_TLS__COUNT; i++)
		if ((x->value[i] == NULL) != (y->value[i] == NULL) ||
		    (x->value[i] && strcmp(x->value[i], y->value[i]) != 0))
			return false;
	return x->on == y->on && x->min_protocol == y->min_protocol;
}

static bool same_settings(const struct config *a, const struct config *b)
{
#define SAME_STR(f) ((a->f == NULL) == (b->f == NULL) && (!a->f || strcmp(a->f, b->f) == 0))
	return a->num_retries == b->num_retries && a->router_timeout_ms == b->router_timeout_ms &&
	       a->request_timeout_ms == b->request_timeout_ms && a->drop_params == b->drop_params &&
	       a->verbose == b->verbose && SAME_STR(master_key) &&
	       a->max_request_size == b->max_request_size && SAME_STR(listen) &&
	       a->workers == b->workers && a->sched_batch == b->sched_batch &&
	       SAME_STR(control_socket) && SAME_STR(admin_listen) && SAME_STR(user) &&
	       a->drain_timeout_ms == b->drain_timeout_ms && SAME_STR(access_log) &&
	       a->core_dumps == b->core_dumps && a->header_timeout_ms == b->header_timeout_ms &&
	       a->body_timeout_ms == b->body_timeout_ms &&
	       a->idle_timeout_ms == b->idle_timeout_ms && SAME_STR(ca_file) &&
	       a->upstream_http2 == b->upstream_http2 &&
	       a->response_affinity_entries == b->response_affinity_entries &&
	       memcmp(&a->fallback, &b->fallback, sizeof(a->fallback)) == 0 && same_tls(a, b);
#undef SAME_STR
}

/* What llmgate.tls needs besides the key under test. */
static const char tls_yaml[] = "    cert_file: /c.pem\n    key_file: /k.pem\n";

/* model_yaml plus KEY: 'VALUE' in SECTION ("a.b" nests). */
static void config_with(const struct config_key_doc *k, const char *value, char *buf, size_t len)
{
	char sec[64], *dot, quoted[256];
	size_t n = 0;

	for (const char *p = value; *p && n + 3 < sizeof(quoted); p++) {
		if (*p == '\'')
			quoted[n++] = '\'';
		quoted[n++] = *p;
	}
	quoted[n] = '\0';
	snprintf(sec, sizeof(sec), "%s", k->section);
	dot = strchr(sec, '.');
	if (dot)
		*dot = '\0';
	if (!sec[0])
		snprintf(buf, len, "%s%s: '%s'\n", model_yaml, k->key, quoted);
	else if (dot)
		snprintf(buf, len, "%s%s:\n  %s:\n    %s: '%s'\n%s", model_yaml, sec, dot + 1,
		         k->key, quoted, strcmp(dot + 1, "tls") == 0 ? tls_yaml : "");
	else
		snprintf(buf, len, "%s%s:\n  %s: '%s'\n", model_yaml, sec, k->key, quoted);
}

/*
 * Every fixed default of the table parses as its key: written out in the
 * file, it loads without a diagnostic and gives the same config as leaving
 * the key unset. Computed defaults are documented (they have a text).
 */
static void test_table_defaults(void)
{
	size_t n = 0, fixed = 0, computed = 0;
	const struct config_key_doc *keys = config_keys(&n);
	struct config *unset = NULL;
	struct diag_list d;
	char path[512], yaml[1024];

	snprintf(path, sizeof(path), "%s/defaults.yaml", tmpdir);
	if (write_file(path, model_yaml, strlen(model_yaml)) < 0 ||
	    load_path(path, &unset, &d) < 0) {
		tap_ok(false, "a config without settings loads");
		return;
	}
	diag_free(&d);
	for (size_t i = 0; i < n; i++) {
		const struct config_key_doc *k = &keys[i];
		struct config *c = NULL;
		int r;

		if (k->computed_by) {
			computed++;
			tap_ok(k->default_value && k->computed_by[0],
			       "%s%s%s: a computed default is described", k->section,
			       k->section[0] ? "." : "", k->key);
			continue;
		}
		if (!k->default_value)
			continue;
		fixed++;
		config_with(k, k->default_value, yaml, sizeof(yaml));
		r = write_file(path, yaml, strlen(yaml));
		if (r == 0)
			r = load_path(path, &c, &d);
		if (r == 0 && strcmp(k->section, "llmgate.tls") == 0) {
			/* against llmgate.tls with only the certificate and key */
			config_free(unset);
			unset = NULL;
			snprintf(yaml, sizeof(yaml), "%sllmgate:\n  tls:\n%s", model_yaml,
			         tls_yaml);
			r = write_file(path, yaml, strlen(yaml));
			if (r == 0 && load_path(path, &unset, &d) == 0)
				diag_free(&d);
		}
		tap_ok(r == 0 && d.n == 0 && unset && same_settings(c, unset),
		       "%s.%s: default '%s' parses as its type (%s) and is what the loader "
		       "applies",
		       k->section, k->key, k->default_value, k->type);
		if (d.n)
			show(&d);
		config_free(c);
		diag_free(&d);
	}
	tap_ok(fixed >= 20 && computed >= 5, "defaults: %zu fixed, %zu computed", fixed, computed);
	config_free(unset);
}

/* llmgate.tls: what the loader checks without reading the files, and
 * LiteLLM's SSL_CERTFILE_PATH/SSL_KEYFILE_PATH when the section is absent. */
static void test_tls(void)
{
	char path[512], yaml[1024];
	struct config *c = NULL;
	struct diag_list d;

	snprintf(path, sizeof(path), "%s/tls.yaml", tmpdir);
	snprintf(yaml, sizeof(yaml),
	         "%sllmgate:\n  tls:\n    cert_file: /c.pem\n    key_file: k.pem\n"
	         "    min_protocol: TLSv1.1\n",
	         model_yaml);
	write_file(path, yaml, strlen(yaml));
	tap_ok(load_path(path, &c, &d) == -EINVAL && !c, "llmgate.tls with errors: not loaded");
	EXPECT_EXACT(&d, "7:15", E, "llmgate.tls.key_file must be an absolute path",
	             "relative key path");
	EXPECT_EXACT(&d, "8:19", E,
	             "llmgate.tls.min_protocol must be TLSv1.2 or TLSv1.3, not 'TLSv1.1'",
	             "unknown protocol");
	diag_free(&d);

	snprintf(yaml, sizeof(yaml), "%sllmgate:\n  tls:\n    key_file: /k.pem\n", model_yaml);
	write_file(path, yaml, strlen(yaml));
	tap_ok(load_path(path, &c, &d) == -EINVAL, "llmgate.tls without a certificate");
	EXPECT(&d, "5:3", E, "needs both cert_file and key_file (cert_file is missing)",
	       "missing certificate, at the section");
	diag_free(&d);

	snprintf(yaml, sizeof(yaml),
	         "%sllmgate:\n  tls:\n    cert_file: /c.pem\n    key_file: /k.pem\n"
	         "    min_protocol: tlsv1.3\n",
	         model_yaml);
	write_file(path, yaml, strlen(yaml));
	if (tap_ok(load_path(path, &c, &d) == 0 && d.n == 0, "a whole llmgate.tls loads"))
		tap_ok(c->tls.on && c->tls.min_protocol == 13 &&
		               strcmp(c->tls.value[CONFIG_TLS_KEY], "/k.pem") == 0 &&
		               strncmp(c->tls.value[CONFIG_TLS_CIPHERS], "ECDHE-", 6) == 0 &&
		               c->tls.where[CONFIG_TLS_KEY].line == 7 &&
		               !c->tls.where[CONFIG_TLS_CIPHERS].file,
		       "its values, positions and defaults");
	config_free(c);
	diag_free(&d);

	/* LiteLLM's variables, only without the section */
	write_file(path, model_yaml, strlen(model_yaml));
	setenv("SSL_CERTFILE_PATH", "/etc/tls/c.pem", 1);
	unsetenv("SSL_KEYFILE_PATH");
	tap_ok(load_path(path, &c, &d) == 0 && !c->tls.on, "SSL_CERTFILE_PATH alone: plain");
	EXPECT(&d, "0:0", W, "SSL_CERTFILE_PATH is set but SSL_KEYFILE_PATH is not", "one of two");
	config_free(c);
	diag_free(&d);
	setenv("SSL_KEYFILE_PATH", "/etc/tls/k.pem", 1);
	tap_ok(load_path(path, &c, &d) == 0 && d.n == 0 && c->tls.on &&
	               strcmp(c->tls.value[CONFIG_TLS_KEY], "/etc/tls/k.pem") == 0 &&
	               strcmp(c->tls.name[CONFIG_TLS_CERT], "SSL_CERTFILE_PATH") == 0 &&
	               c->tls.value[CONFIG_TLS_CIPHERSUITES] && c->tls.min_protocol == 12,
	       "both: TLS on with them and the defaults");
	config_free(c);
	diag_free(&d);
	snprintf(yaml, sizeof(yaml),
	         "%sllmgate:\n  tls:\n    cert_file: /c.pem\n    key_file: /k.pem\n", model_yaml);
	write_file(path, yaml, strlen(yaml));
	tap_ok(load_path(path, &c, &d) == 0 && strcmp(c->tls.value[CONFIG_TLS_CERT], "/c.pem") == 0,
	       "llmgate.tls wins over the variables");
	config_free(c);
	diag_free(&d);
	unsetenv("SSL_CERTFILE_PATH");
	unsetenv("SSL_KEYFILE_PATH");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/llmgate-test-config-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	test_seed_with_keys();
	test_seed_without_azure_key();
	test_diagnostics();
	test_more_diagnostics();
	test_environment();
	test_no_secret_in_messages();
	test_full_struct();
	test_defaults();
	test_includes();
	test_hostile_inputs();
	test_key_table();
	test_table_defaults();
	test_tls();
	test_mutations();

	if (nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) < 0)
		printf("# could not remove %s\n", tmpdir);
	return tap_done();
}
