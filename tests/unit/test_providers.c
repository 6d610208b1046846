/*
 * Unit tests of the provider table (common/providers.h) through the loader
 * and provider_request.c: one fixture per served provider
 * (tests/fixtures/provider_*.yaml), each checked for the URL a chat (or its
 * first) request goes to, the credential header and the model sent; the
 * key and base variables LiteLLM reads, each use reported at the model's
 * line; providers llmgate does not serve; did-you-mean for prefixes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "diag.h"
#include "provider_request.h"
#include "providers.h"
#include "fixture_load.h"
#include "tap.h"

struct headers {
	char auth_name[32];
	char auth_value[128];
};

static int collect(void *ctx, const char *name, const char *value)
{
	struct headers *h = ctx;

	if (strcasecmp(name, "Authorization") == 0 || strcasecmp(name, "api-key") == 0) {
		snprintf(h->auth_name, sizeof(h->auth_name), "%s", name);
		snprintf(h->auth_value, sizeof(h->auth_value), "%s", value);
	}
	return 0;
}

static const struct {
	const char *fixture;
	size_t index; /* deployment */
	enum provider provider;
	const char *op;
	const char *upstream_model;
	const char *url;
	const char *auth_name; /* "" = no credential header */
} cases[] = {
        {"provider_openai.yaml", 0, PROVIDER_OPENAI, "chat/completions", "gpt-4o",
         "https://api.openai.com/v1/chat/completions", "Authorization"},
        {"provider_text_completion_openai.yaml", 0, PROVIDER_TEXT_COMPLETION_OPENAI, "completions",
         "gpt-3.5-turbo-instruct", "https://api.openai.com/v1/completions", "Authorization"},
        {"provider_azure_ai.yaml", 0, PROVIDER_AZURE_AI, "chat/completions", "mistral-large-2407",
         "https://my-hub.services.ai.azure.com/models/chat/completions"
         "?api-version=2024-05-01-preview",
         "api-key"},
        {"provider_azure_ai.yaml", 1, PROVIDER_AZURE_AI, "chat/completions",
         "Meta-Llama-3.1-70B-Instruct",
         "https://Meta-Llama-3-1-70B-xyz.eastus2.models.ai.azure.com/chat/completions",
         "Authorization"},
        {"provider_groq.yaml", 0, PROVIDER_GROQ, "chat/completions", "llama-3.1-8b-instant",
         "https://api.groq.com/openai/v1/chat/completions", "Authorization"},
        {"provider_openrouter.yaml", 0, PROVIDER_OPENROUTER, "chat/completions",
         "anthropic/claude-3.5-sonnet", "https://openrouter.ai/api/v1/chat/completions",
         "Authorization"},
        {"provider_ollama.yaml", 0, PROVIDER_OLLAMA, "chat/completions", "llama3.1",
         "http://localhost:11434/v1/chat/completions", ""},
        {"provider_ollama_chat.yaml", 0, PROVIDER_OLLAMA_CHAT, "embeddings", "qwen2.5:7b",
         "http://gpu-box:11434/v1/embeddings", ""},
        {"provider_hosted_vllm.yaml", 0, PROVIDER_HOSTED_VLLM, "chat/completions",
         "meta-llama/Llama-3.1-8B-Instruct", "http://vllm.internal:8000/v1/chat/completions", ""},
        {"provider_lm_studio.yaml", 0, PROVIDER_LM_STUDIO, "chat/completions",
         "qwen2.5-7b-instruct", "http://localhost:1234/v1/chat/completions", ""},
        {"provider_perplexity.yaml", 0, PROVIDER_PERPLEXITY, "chat/completions", "sonar-pro",
         "https://api.perplexity.ai/chat/completions", "Authorization"},
        {"provider_mistral.yaml", 0, PROVIDER_MISTRAL, "chat/completions", "mistral-large-latest",
         "https://api.mistral.ai/v1/chat/completions", "Authorization"},
        {"provider_deepseek.yaml", 0, PROVIDER_DEEPSEEK, "chat/completions", "deepseek-chat",
         "https://api.deepseek.com/beta/chat/completions", "Authorization"},
        {"provider_together_ai.yaml", 0, PROVIDER_TOGETHER_AI, "chat/completions",
         "meta-llama/Llama-3.3-70B-Instruct-Turbo", "https://api.together.xyz/v1/chat/completions",
         "Authorization"},
        {"provider_fireworks_ai.yaml", 0, PROVIDER_FIREWORKS_AI, "chat/completions",
         "accounts/fireworks/models/llama-v3p1-70b-instruct",
         "https://api.fireworks.ai/inference/v1/chat/completions", "Authorization"},
        {"provider_cerebras.yaml", 0, PROVIDER_CEREBRAS, "chat/completions", "llama3.1-8b",
         "https://api.cerebras.ai/v1/chat/completions", "Authorization"},
        {"provider_xai.yaml", 0, PROVIDER_XAI, "chat/completions", "grok-2-latest",
         "https://api.x.ai/v1/chat/completions", "Authorization"},
        {"provider_deepinfra.yaml", 0, PROVIDER_DEEPINFRA, "embeddings",
         "meta-llama/Meta-Llama-3.1-70B-Instruct", "https://api.deepinfra.com/v1/openai/embeddings",
         "Authorization"},
        {"provider_nvidia_nim.yaml", 0, PROVIDER_NVIDIA_NIM, "chat/completions",
         "meta/llama-3.1-70b-instruct", "https://integrate.api.nvidia.com/v1/chat/completions",
         "Authorization"},
        {"provider_github.yaml", 0, PROVIDER_GITHUB, "chat/completions", "gpt-4o-mini",
         "https://models.inference.ai.azure.com/chat/completions", "Authorization"},
        {"provider_gemini.yaml", 0, PROVIDER_GEMINI, "chat/completions", "gemini-2.0-flash",
         "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
         "Authorization"},
        {"provider_anthropic.yaml", 0, PROVIDER_ANTHROPIC, "chat/completions",
         "claude-3-5-sonnet-20241022", "https://api.anthropic.com/v1/chat/completions",
         "Authorization"},
};

/* Every served provider has its fixture, and each fixture loads cleanly. */
static void test_fixtures(void)
{
	bool covered[PROVIDER__COUNT] = {false};

	/* No variable of the environment may stand in for the fixtures' keys. */
	for (size_t p = 0; p < PROVIDER__COUNT; p++) {
		char var[64];

		for (size_t i = 0; provider_key_var((enum provider)p, i, var, sizeof(var)); i++)
			unsetenv(var);
		for (size_t i = 0; provider_base_var((enum provider)p, i, var, sizeof(var)); i++)
			unsetenv(var);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *c = NULL;
		struct diag_list d;
		int r = load(cases[i].fixture, &c, &d);
		const struct deployment *dep = c && cases[i].index < c->n_deployments
		                                       ? &c->deployments[cases[i].index]
		                                       : NULL;
		char url[1024] = "", want_value[128];
		struct headers h;

		tap_ok(r == 0 && d.n == 0, "%s: loads with no diagnostic", cases[i].fixture);
		if (d.n)
			show(&d);
		if (!dep) {
			tap_ok(false, "%s: deployment %zu", cases[i].fixture, cases[i].index);
			diag_free(&d);
			continue;
		}
		covered[dep->provider] = true;
		tap_ok(dep->provider == cases[i].provider, "%s: provider %s", cases[i].fixture,
		       provider_name(dep->provider));
		tap_str(dep->upstream_model, cases[i].upstream_model, "model sent upstream");
		tap_ok(provider_request_url(dep, cases[i].op, url, sizeof(url)) == 0, "url fits");
		tap_str(url, cases[i].url, "url");
		char auth[PROVIDER_REQUEST_AUTH_MAX];

		memset(&h, 0, sizeof(h));
		tap_ok(provider_request_headers(dep, NULL, auth, collect, &h) == 0, "headers");
		tap_str(h.auth_name, cases[i].auth_name, "credential header");
		if (cases[i].auth_name[0]) {
			snprintf(want_value, sizeof(want_value), "%s%s",
			         strcmp(cases[i].auth_name, "Authorization") == 0 ? "Bearer " : "",
			         dep->api_key);
			tap_str(h.auth_value, want_value, "credential value");
		}
		config_free(c);
		diag_free(&d);
	}
	for (size_t p = 0; p < PROVIDER__COUNT; p++)
		if (provider_served((enum provider)p) && p != PROVIDER_AZURE)
			tap_ok(covered[p], "served provider %s has a fixture",
			       provider_name((enum provider)p));
}

/* The variables LiteLLM reads, in its order, each use said at the model. */
static void test_environment(void)
{
	struct config *c = NULL;
	struct diag_list d;
	char url[512];
	int r;

	unsetenv("GROQ_API_KEY");
	setenv("GROQ_API_BASE", "http://groq-proxy.internal/openai/v1/", 1);
	setenv("GROQ_API_KEY", "gsk-env-0123456789abcdef", 1);
	unsetenv("PERPLEXITYAI_API_KEY");
	setenv("PERPLEXITY_API_KEY", "pplx-second-0123456789", 1);
	unsetenv("HOSTED_VLLM_API_BASE");
	unsetenv("TOGETHER_API_KEY");
	unsetenv("TOGETHER_AI_API_KEY");
	unsetenv("TOGETHERAI_API_KEY");
	unsetenv("TOGETHER_AI_TOKEN");
	unsetenv("TOGETHER_AI_API_BASE");
	r = load("provider_key_from_env.yaml", &c, &d);
	tap_ok(r == -EINVAL, "hosted_vllm without api_base or HOSTED_VLLM_API_BASE is an error");
	tap_ok(has_diag(&d, DIAG_WARNING, 6, 14,
	                "groq model 'groq/llama-3.1-8b-instant' has no api_base: it goes to "
	                "GROQ_API_BASE from the environment, as LiteLLM does"),
	       "GROQ_API_BASE used, said at 6:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 6, 14, "it takes GROQ_API_KEY from the environment"),
	       "GROQ_API_KEY used, said at 6:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 9, 14,
	                "it takes PERPLEXITY_API_KEY from the environment"),
	       "the second of perplexity's key variables, said at 9:14");
	tap_ok(has_diag(
	               &d, DIAG_ERROR, 12, 14,
	               "hosted_vllm model 'hosted_vllm/qwen2.5' has no api_base (the server's URL: "
	               "this provider has no default one) and HOSTED_VLLM_API_BASE is not set; "
	               "write api_base"),
	       "hosted_vllm needs an api_base, said at 12:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 15, 14,
	                "has no api_key and TOGETHER_API_KEY TOGETHER_AI_API_KEY "
	                "TOGETHERAI_API_KEY TOGETHER_AI_TOKEN is not set"),
	       "together_ai without a key: every variable named, at 15:14");
	for (size_t i = 0; i < d.n; i++)
		tap_ok(!strstr(d.items[i].message, "gsk-env") &&
		               !strstr(d.items[i].message, "pplx-"),
		       "no key in message %zu", i);
	config_free(c);
	diag_free(&d);

	setenv("HOSTED_VLLM_API_BASE", "http://vllm.internal:8000/v1", 1);
	r = load("provider_key_from_env.yaml", &c, &d);
	tap_ok(r == 0, "with HOSTED_VLLM_API_BASE set it loads");
	if (r == 0) {
		const struct deployment *groq = &c->deployments[0], *vllm = &c->deployments[2];

		tap_str(groq->api_key, "gsk-env-0123456789abcdef", "groq key from GROQ_API_KEY");
		tap_ok(provider_request_url(groq, "chat/completions", url, sizeof(url)) == 0,
		       "fits");
		tap_str(url, "http://groq-proxy.internal/openai/v1/chat/completions",
		        "groq base from GROQ_API_BASE, trailing slash normalized");
		tap_str(c->deployments[1].api_key, "pplx-second-0123456789", "perplexity key");
		tap_ok(provider_request_url(vllm, "completions", url, sizeof(url)) == 0, "fits");
		tap_str(url, "http://vllm.internal:8000/v1/completions", "vllm base from variable");
		tap_ok(vllm->api_key == NULL, "vllm: no key, none sent");
	}
	config_free(c);
	diag_free(&d);
	unsetenv("GROQ_API_BASE");
	unsetenv("GROQ_API_KEY");
	unsetenv("PERPLEXITY_API_KEY");
	unsetenv("HOSTED_VLLM_API_BASE");
}

/* openai/ and azure/ read LiteLLM's variables too, and azure/ without
 * api_version takes AZURE_API_VERSION, else Azure's v1 API. */
static void test_litellm_variables(void)
{
	static const char *const vars[] = {
	        "OPENAI_BASE_URL",      "OPENAI_API_BASE", "OPENAI_API_KEY",   "AZURE_API_BASE",
	        "AZURE_OPENAI_API_KEY", "AZURE_API_KEY",   "AZURE_API_VERSION"};
	struct config *c = NULL;
	struct diag_list d;
	char url[512];
	int r;

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	setenv("OPENAI_API_BASE", "http://second.example/v1", 1);
	setenv("OPENAI_BASE_URL", "http://first.example/v1/", 1);
	setenv("OPENAI_API_KEY", "sk-env-0123456789abcdef", 1);
	setenv("AZURE_API_BASE", "https://res.openai.azure.com", 1);
	setenv("AZURE_API_KEY", "azure-env-0123456789abcdef", 1);
	setenv("AZURE_API_VERSION", "2024-10-21", 1);
	r = load("provider_litellm_env.yaml", &c, &d);
	tap_ok(r == 0, "openai/ and azure/ from LiteLLM's variables load");
	tap_ok(has_diag(&d, DIAG_WARNING, 7, 14,
	                "openai model 'openai/gpt-4o' has no api_base: it goes to OPENAI_BASE_URL "
	                "from the environment, as LiteLLM does"),
	       "OPENAI_BASE_URL before OPENAI_API_BASE, said at 7:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 7, 14, "it takes OPENAI_API_KEY from the environment"),
	       "OPENAI_API_KEY, said at 7:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 10, 14,
	                "azure model 'azure/gpt-4o-prod' has no api_base: it goes to "
	                "AZURE_API_BASE"),
	       "AZURE_API_BASE, said at 10:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 10, 14,
	                "it takes AZURE_API_KEY from the environment, as LiteLLM does"),
	       "AZURE_API_KEY when AZURE_OPENAI_API_KEY is not set");
	tap_ok(has_diag(&d, DIAG_WARNING, 10, 14,
	                "azure model 'azure/gpt-4o-prod' has no api_version: it takes "
	                "AZURE_API_VERSION ('2024-10-21') from the environment, as LiteLLM does"),
	       "AZURE_API_VERSION, said at 10:14");
	if (r == 0) {
		tap_ok(provider_request_url(&c->deployments[0], "chat/completions", url,
		                            sizeof(url)) == 0,
		       "fits");
		tap_str(url, "http://first.example/v1/chat/completions", "openai url");
		tap_ok(provider_request_url(&c->deployments[1], "chat/completions", url,
		                            sizeof(url)) == 0,
		       "fits");
		tap_str(url,
		        "https://res.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions"
		        "?api-version=2024-10-21",
		        "azure url with the version from the environment");
		tap_str(c->deployments[1].api_key, "azure-env-0123456789abcdef", "azure key");
	}
	for (size_t i = 0; i < d.n; i++)
		tap_ok(!strstr(d.items[i].message, "sk-env") &&
		               !strstr(d.items[i].message, "azure-env"),
		       "no key in message %zu", i);
	config_free(c);
	diag_free(&d);

	setenv("AZURE_OPENAI_API_KEY", "azure-first-0123456789", 1);
	unsetenv("AZURE_API_VERSION");
	r = load("provider_litellm_env.yaml", &c, &d);
	tap_ok(r == 0 && has_diag(&d, DIAG_WARNING, 10, 14,
	                          "has no api_version and AZURE_API_VERSION is not set: it uses "
	                          "Azure's v1 API"),
	       "no AZURE_API_VERSION: Azure's v1 API, said at 10:14");
	if (r == 0) {
		tap_str(c->deployments[1].api_key, "azure-first-0123456789",
		        "AZURE_OPENAI_API_KEY before AZURE_API_KEY");
		tap_ok(provider_request_url(&c->deployments[1], "chat/completions", url,
		                            sizeof(url)) == 0,
		       "fits");
		tap_str(url, "https://res.openai.azure.com/openai/v1/chat/completions", "v1 url");
		tap_ok(provider_request_body_names_deployment(&c->deployments[1],
		                                              "chat/completions"),
		       "the v1 API names the deployment in the body");
	}
	config_free(c);
	diag_free(&d);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void test_not_served(void)
{
	struct config *c = NULL;
	struct diag_list d;
	const struct group *g;
	int r = load("provider_not_served.yaml", &c, &d);

	tap_ok(r == 0, "entries llmgate cannot serve do not refuse the config");
	tap_ok(has_diag(&d, DIAG_WARNING, 7, 14,
	                "llmgate does not serve bedrock/ models such as "
	                "'bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0' (needs its cloud's "
	                "request signing and its own API); this deployment is not served"),
	       "bedrock: a warning naming the provider and why, at 7:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 14, 14, "llmgate does not serve vertex_ai/ models"),
	       "vertex_ai: a warning at 14:14");
	tap_ok(has_diag(&d, DIAG_WARNING, 16, 27,
	                "the fallback of 'gpt-4o' to 'claude-bedrock' is skipped: llmgate serves "
	                "none of its deployments (bedrock/: needs its cloud's request signing"),
	       "fallback to the unservable group: skipped with a warning at 16:27");
	if (r != 0 || d.n != 3)
		show(&d);
	if (r == 0) {
		g = config_find_group(c, "claude-bedrock");
		tap_ok(g && g->n_deployments == 0 && g->not_served &&
		               strncmp(g->not_served, "bedrock/: needs", 15) == 0,
		       "claude-bedrock: a group with no deployment served, and why");
		g = config_find_group(c, "gpt-4o");
		tap_ok(g && g->n_deployments == 1 && g->deployments[0] == 1 && !g->not_served &&
		               g->n_fallbacks == 0,
		       "gpt-4o: serves its openai deployment, no fallback left");
		tap_ok(c->n_deployments == 3 && c->deployments[0].not_served &&
		               c->deployments[2].not_served && !c->deployments[1].not_served,
		       "every deployment kept, the unserved ones marked");
		tap_str(c->deployments[2].id, "gpt-4o#2", "ids count unserved entries too");
	}
	config_free(c);
	diag_free(&d);

	r = load("provider_strict.yaml", &c, &d);
	tap_ok(r == -EINVAL, "llmgate.strict: the config is refused");
	tap_ok(has_diag(&d, DIAG_ERROR, 5, 14, "llmgate does not serve bedrock/ models"),
	       "strict: the entry is an error");
	tap_ok(has_diag(&d, DIAG_ERROR, 11, 27, "the fallback of 'gpt-4o' to 'claude-bedrock'"),
	       "strict: the fallback is an error");
	config_free(c);
	diag_free(&d);
}

/*
 * A dozen configs of the kinds teams publish (tests/fixtures/real_*.yaml),
 * every os.environ/ variable set to a plausible value: each loads, serves
 * what it can, and says the rest at its line:col.
 */
static void test_realistic(void)
{
	static const char *const vars[] = {
	        "ANTHROPIC_API_KEY",    "AZURE_AI_API_KEY",   "AZURE_AI_LLAMA_KEY",
	        "AZURE_API_KEY",        "AZURE_API_KEY_EU",   "AZURE_API_KEY_US",
	        "AZURE_OPENAI_API_KEY", "AZURE_PAYGO_KEY",    "AZURE_PTU_KEY",
	        "CEREBRAS_API_KEY",     "COHERE_API_KEY",     "DEEPINFRA_API_KEY",
	        "DEEPSEEK_API_KEY",     "FIREWORKS_API_KEY",  "FT_KEY",
	        "GEMINI_API_KEY",       "GITHUB_API_KEY",     "GROQ_API_KEY",
	        "LITELLM_MASTER_KEY",   "MISTRAL_API_KEY",    "NVIDIA_NIM_API_KEY",
	        "OPENAI_API_KEY",       "OPENROUTER_API_KEY", "PERPLEXITYAI_API_KEY",
	        "TOGETHERAI_API_KEY",   "TOGETHER_API_KEY",   "UPSTREAM_LITELLM_KEY",
	        "XAI_API_KEY"};
	static const struct {
		const char *fixture;
		size_t deployments, not_served, warnings;
	} configs[] = {
	        {"real_personal_five_providers.yaml", 5, 0, 0},
	        {"real_company_azure_fallbacks.yaml", 4, 0, 2},
	        {"real_catalogue.yaml", 22, 3, 4},
	        {"real_local_lab.yaml", 5, 0, 0},
	        {"real_azure_ptu_first.yaml", 2, 0, 0},
	        {"real_azure_ai_foundry.yaml", 4, 0, 2},
	        {"real_bedrock_mixed.yaml", 4, 3, 4},
	        {"real_team_template_placeholders.yaml", 2, 0, 3},
	        {"real_embeddings.yaml", 5, 0, 0},
	        {"real_aliases.yaml", 3, 0, 0},
	        {"real_gateway_chain.yaml", 3, 0, 0},
	        {"real_startup_cost.yaml", 5, 0, 1},
	};
	char value[96];

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		snprintf(value, sizeof(value), "test-%s-0123456789abcdef", vars[i]);
		setenv(vars[i], value, 1);
	}
	setenv("AZURE_API_BASE_EU", "https://acme-eu.openai.azure.com", 1);
	setenv("AZURE_API_BASE_US", "https://acme-us.openai.azure.com", 1);
	unsetenv("AZURE_API_VERSION");
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		struct config *c = NULL;
		struct diag_list d;
		int r = load(configs[i].fixture, &c, &d);
		size_t not_served = 0, served_groups = 0, located = 0;

		tap_ok(r == 0, "%s loads", configs[i].fixture);
		for (size_t k = 0; k < d.n; k++)
			located += d.items[k].line > 0 && d.items[k].col > 0 &&
			           d.items[k].severity == DIAG_WARNING;
		tap_ok(d.n == configs[i].warnings && located == d.n,
		       "%s: %zu warnings, each at its line:col (%zu, %zu)", configs[i].fixture,
		       configs[i].warnings, d.n, located);
		if (d.n != configs[i].warnings)
			show(&d);
		if (r == 0) {
			for (size_t k = 0; k < c->n_deployments; k++)
				not_served += c->deployments[k].not_served != NULL;
			for (size_t k = 0; k < c->n_groups; k++)
				served_groups += c->groups[k].n_deployments > 0;
			tap_ok(c->n_deployments == configs[i].deployments &&
			               not_served == configs[i].not_served && served_groups > 0,
			       "%s: %zu deployments, %zu not served, %zu groups served",
			       configs[i].fixture, c->n_deployments, not_served, served_groups);
		}
		config_free(c);
		diag_free(&d);
	}
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	unsetenv("AZURE_API_BASE_EU");
	unsetenv("AZURE_API_BASE_US");
}

static void test_table(void)
{
	enum provider p;

	tap_ok(provider_find("groq", 4, &p) && p == PROVIDER_GROQ, "find groq");
	tap_ok(!provider_find("gro", 3, &p), "no prefix match in find");
	tap_str(provider_suggest("Together-AI"), "together_ai", "suggest: case and separators");
	tap_str(provider_suggest("fireworks"), "fireworks_ai", "suggest: shortened name");
	tap_str(provider_suggest("lmstudio"), "lm_studio", "suggest: lmstudio");
	tap_ok(provider_suggest("foo") == NULL, "suggest: nothing close");
	tap_ok(!provider_served(PROVIDER_VERTEX_AI) && provider_served(PROVIDER_GEMINI),
	       "vertex_ai not served, gemini served");
	for (size_t i = 0; i < PROVIDER__COUNT; i++) {
		const struct provider_info *info = provider_info((enum provider)i);

		tap_ok(info->prefix && info->note, "%s: prefix and note", info->prefix);
		tap_ok(!info->default_base || strncmp(info->default_base, "http", 4) == 0,
		       "%s: default base is a URL", info->prefix);
		tap_ok(!info->default_base ||
		               info->default_base[strlen(info->default_base) - 1] != '/',
		       "%s: default base without trailing slash", info->prefix);
	}
}

int main(void)
{
	test_table();
	test_fixtures();
	test_environment();
	test_litellm_variables();
	test_not_served();
	test_realistic();
	return tap_done();
}
