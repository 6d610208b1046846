/*
 * Unit tests of the SPEC 5 request rules (provider_request.c) over configs
 * as config_load() builds them, so api_base normalization is part of what is
 * checked: the URL for openai with and without api_base, with and without
 * /v1 and trailing slashes; azure with a dated api_version, the v1 API and an
 * api-version= prefix; the headers per provider; extra_headers winning over
 * ours; a credential too long for the auth buffer; the Responses API's URLs,
 * which bodies name the deployment, and the api-versions that serve it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "provider_request.h"
#include "tap.h"

static const char yaml[] =
        "model_list:\n"
        "  - model_name: plain\n"
        "    litellm_params: {model: gpt-4o, api_key: sk-plain}\n"
        "  - model_name: v1-slash\n"
        "    litellm_params: {model: openai/m, api_base: 'http://h:8000/v1//'}\n"
        "  - model_name: no-v1\n"
        "    litellm_params: {model: openai/m, api_base: 'http://h:8000/'}\n"
        "  - model_name: full-path\n"
        "    litellm_params: {model: openai/m, api_base: 'http://h:8000/v1/chat/completions'}\n"
        "  - model_name: org\n"
        "    litellm_params: {model: openai/m, api_key: sk-org, organization: org-1}\n"
        "  - model_name: dated\n"
        "    litellm_params: {model: azure/dep, api_base: 'https://r.openai.azure.com/',\n"
        "                     api_version: '2024-10-21', api_key: azure-key}\n"
        "  - model_name: v1\n"
        "    litellm_params: {model: azure/dep, api_base: 'https://r.openai.azure.com',\n"
        "                     api_version: v1, api_key: azure-key}\n"
        "  - model_name: prefixed\n"
        "    litellm_params: {model: azure/dep, api_base: 'https://r.openai.azure.com',\n"
        "                     api_version: 'api-version=2024-08-01-preview', api_key: k}\n"
        "  - model_name: entra\n"
        "    litellm_params: {model: azure/dep, api_base: 'https://r.openai.azure.com',\n"
        "                     api_version: preview, api_key: azure-key, azure_ad_token: tok}\n"
        "  - model_name: extra\n"
        "    litellm_params:\n"
        "      model: openai/m\n"
        "      api_key: sk-extra\n"
        "      organization: org-2\n"
        "      extra_headers: {authorization: Basic abc, X-Team: blue}\n"
        "  - model_name: none\n"
        "    litellm_params: {model: openai/m, api_base: 'http://h'}\n";

static struct config *config;

static const struct deployment *dep(const char *group)
{
	const struct group *g = config_find_group(config, group);

	return g ? &config->deployments[g->deployments[0]] : NULL;
}

static void url_is(const char *group, const char *op, const char *want)
{
	char buf[2048];
	int r = provider_request_url(dep(group), op, buf, sizeof(buf));

	tap_ok(r == 0 && strcmp(buf, want) == 0, "%s %s: %s", group, op, r == 0 ? buf : "(error)");
}

static void test_urls(void)
{
	char small[32];

	url_is("plain", "chat/completions", "https://api.openai.com/v1/chat/completions");
	url_is("v1-slash", "embeddings", "http://h:8000/v1/embeddings");
	url_is("no-v1", "completions", "http://h:8000/completions");
	url_is("full-path", "chat/completions", "http://h:8000/v1/chat/completions");
	url_is("dated", "chat/completions",
	       "https://r.openai.azure.com/openai/deployments/dep/chat/completions"
	       "?api-version=2024-10-21");
	url_is("prefixed", "embeddings",
	       "https://r.openai.azure.com/openai/deployments/dep/embeddings"
	       "?api-version=2024-08-01-preview");
	url_is("v1", "chat/completions", "https://r.openai.azure.com/openai/v1/chat/completions");
	url_is("entra", "completions", "https://r.openai.azure.com/openai/v1/completions");
	tap_ok(provider_request_url(dep("dated"), "chat/completions", small, sizeof(small)) ==
	               -ENAMETOOLONG,
	       "a URL that does not fit is an error, never cut");
}

static void query_url_is(const char *group, const char *op, const char *query, const char *want)
{
	char buf[2048];
	int r = provider_request_url_query(dep(group), op, query, buf, sizeof(buf));

	tap_ok(r == 0 && strcmp(buf, want) == 0, "%s %s ?%s: %s", group, op, query ? query : "",
	       r == 0 ? buf : "(error)");
}

/* The Responses API: Azure's dated API takes it at /openai/responses (no
 * deployment in the URL: the body names it), v1 and OpenAI at their root. */
static void test_responses(void)
{
	query_url_is("plain", "responses", NULL, "https://api.openai.com/v1/responses");
	query_url_is("plain", "responses/resp_1/input_items", "limit=2",
	             "https://api.openai.com/v1/responses/resp_1/input_items?limit=2");
	query_url_is("dated", "responses", NULL,
	             "https://r.openai.azure.com/openai/responses?api-version=2024-10-21");
	query_url_is("dated", "responses/resp_1", "include[]=x",
	             "https://r.openai.azure.com/openai/responses/resp_1"
	             "?api-version=2024-10-21&include[]=x");
	query_url_is("v1", "responses/resp_1/cancel", "",
	             "https://r.openai.azure.com/openai/v1/responses/resp_1/cancel");
	query_url_is("dated", "responsesx", NULL,
	             "https://r.openai.azure.com/openai/deployments/dep/responsesx"
	             "?api-version=2024-10-21");
	tap_ok(provider_request_body_names_deployment(dep("dated"), "responses"),
	       "dated azure: a Responses body names the deployment");
	tap_ok(!provider_request_body_names_deployment(dep("dated"), "chat/completions"),
	       "dated azure: a chat body does not");
	tap_ok(provider_request_body_names_deployment(dep("v1"), "chat/completions"),
	       "azure v1: every body names the deployment");
	tap_ok(provider_request_body_names_deployment(dep("plain"), "embeddings"),
	       "openai: every body names the model");
	tap_ok(provider_request_azure_v1(dep("entra")) &&
	               !provider_request_azure_v1(dep("dated")) &&
	               !provider_request_azure_v1(dep("plain")),
	       "azure v1: preview yes, dated and openai no");
	tap_ok(!provider_request_responses_version_ok("2025-02-01-preview"),
	       "2025-02-01-preview has no Responses API");
	tap_ok(!provider_request_responses_version_ok("2024-10-21"), "2024-10-21 neither");
	tap_ok(provider_request_responses_version_ok("2025-03-01-preview"),
	       "2025-03-01-preview has");
	tap_ok(provider_request_responses_version_ok("2025-04-01-preview"), "later ones too");
	tap_ok(provider_request_responses_version_ok("v1") &&
	               provider_request_responses_version_ok("latest"),
	       "the v1 API has");
}

/* The headers of one request, as "Name: value" lines joined by '|'. */
struct seen {
	char text[1024];
	int calls, fail_at;
};

static int collect(void *ctx, const char *name, const char *value)
{
	struct seen *s = ctx;
	size_t n = strlen(s->text);

	if (++s->calls == s->fail_at)
		return -EIO;
	snprintf(s->text + n, sizeof(s->text) - n, "%s%s: %s", n ? "|" : "", name, value);
	return 0;
}

static void headers_are(const char *group, const char *want)
{
	char auth[PROVIDER_REQUEST_AUTH_MAX];
	struct seen s = {0};
	int r = provider_request_headers(dep(group), NULL, auth, collect, &s);

	tap_ok(r == 0 && strcmp(s.text, want) == 0 &&
	               (size_t)s.calls <=
	                       PROVIDER_REQUEST_OWN_HEADERS + dep(group)->n_extra_headers,
	       "%s headers: %s", group, s.text);
}

static void test_headers(void)
{
	char auth[PROVIDER_REQUEST_AUTH_MAX];
	struct seen s = {.fail_at = 2};
	struct deployment long_key;
	char *key;

	headers_are("plain", "Content-Type: application/json|Authorization: Bearer sk-plain");
	headers_are("org", "Content-Type: application/json|Authorization: Bearer sk-org|"
	                   "OpenAI-Organization: org-1");
	headers_are("dated", "Content-Type: application/json|api-key: azure-key");
	headers_are("entra", "Content-Type: application/json|Authorization: Bearer tok");
	headers_are("none", "Content-Type: application/json");
	headers_are("extra", "Content-Type: application/json|OpenAI-Organization: org-2|"
	                     "authorization: Basic abc|X-Team: blue");

	tap_ok(provider_request_has_credential(dep("plain")), "openai key: a credential");
	tap_ok(provider_request_has_credential(dep("entra")), "azure token: a credential");
	tap_ok(!provider_request_has_credential(dep("none")), "no key: no credential");

	tap_ok(provider_request_headers(dep("plain"), NULL, auth, collect, &s) == -EIO &&
	               s.calls == 2,
	       "an error from the callback stops the walk");

	key = malloc(PROVIDER_REQUEST_AUTH_MAX);
	if (!key)
		abort();
	memset(key, 'k', PROVIDER_REQUEST_AUTH_MAX - 1);
	key[PROVIDER_REQUEST_AUTH_MAX - 1] = '\0';
	long_key = *dep("plain");
	long_key.api_key = key;
	s = (struct seen){0};
	tap_ok(provider_request_headers(&long_key, NULL, auth, collect, &s) == -ENAMETOOLONG,
	       "a credential too long for the auth buffer is an error, never cut");

	/* a keyless deployment: the token it is given, as big as Entra's get */
	struct deployment keyless = *dep("dated");
	struct seen big = {0};

	keyless.api_key = NULL;
	keyless.entra = true;
	memset(key, 't', 8000);
	key[8000] = '\0';
	tap_ok(provider_request_has_credential(&keyless), "an Entra ID credential is a credential");
	tap_ok(provider_request_headers(&keyless, key, auth, collect, &big) == 0 &&
	               strncmp(auth, "Bearer tttt", 11) == 0 && strlen(auth) == 8007,
	       "an 8000-byte Entra ID token goes as the bearer");
	s = (struct seen){0};
	tap_ok(provider_request_headers(&keyless, NULL, auth, collect, &s) == 0 &&
	               strcmp(s.text, "Content-Type: application/json") == 0,
	       "no token: no credential header (the attempt stops before, as auth_token)");
	free(key);
}

int main(void)
{
	char path[] = "/tmp/test_provider_request.XXXXXX";
	struct diag_list diags = {0};
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, yaml, sizeof(yaml) - 1) != (ssize_t)(sizeof(yaml) - 1))
		abort();
	close(fd);
	tap_ok(config_load(path, &config, &diags) == 0, "the test config loads");
	unlink(path);
	diag_free(&diags);
	if (!config)
		return tap_done();
	test_urls();
	test_responses();
	test_headers();
	config_free(config);
	return tap_done();
}
